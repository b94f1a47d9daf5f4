//! A built table as bytes, so that a store can keep it and the next run load it in one read
//! instead of building it again from every indicator (a million indicators take half a second
//! to read from SQLite and index; their encoded table, 30 MB, is read back and checked in under
//! a tenth of a second).
//!
//! Layout, little-endian throughout: the 8-byte magic, the format version (`u32`), the xxh3
//! checksum of the body (`u64`), then the body: the indicator columns and the two interval
//! indexes as length-prefixed arrays (lengths are `u64`). The top-16-bit index of each half is
//! not stored: it is rebuilt from the interval starts.
//!
//! The bytes come from storage, which anyone with access to the database can change, so
//! decoding trusts nothing: a wrong checksum, a length running past the end, a bad UTF-8 label,
//! an id out of range or intervals out of order is an [`IntelError::Undecodable`], never a
//! panic, and a decoded table answers every call as safely as a built one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use picket_model::Timestamp;
use xxhash_rust::xxh3::xxh3_64;

use super::{Entries, IntelTable, Key, Segments};
use crate::IntelError;

const MAGIC: [u8; 8] = *b"PKTINTEL";
/// Bump when the layout, or what building a table makes of its indicators, changes: a stored
/// table of another version is not read (the caller builds a new one).
const VERSION: u32 = 1;
const HEADER: usize = MAGIC.len() + 4 + 8;

impl IntelTable {
    /// The table as bytes that [`IntelTable::decode`] turns back into the same table.
    pub fn encode(&self) -> Vec<u8> {
        // One buffer, the checksum filled in last. The table's heap bytes are more than its
        // encoding (an address is 18 bytes in memory, 6 or 18 encoded; the top-16-bit index is
        // not encoded), so the buffer never grows: a million indicators encode to 30 MB, which
        // growing would copy, or a second buffer for the body double.
        let heap = self.entries.heap_bytes() + self.v4.heap_bytes() + self.v6.heap_bytes();
        let mut out = Vec::with_capacity(HEADER + heap);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        put_entries(&mut out, &self.entries);
        put_segments(&mut out, &self.v4);
        put_segments(&mut out, &self.v6);
        let checksum = xxh3_64(out.get(HEADER..).unwrap_or_default());
        out[HEADER - 8..HEADER].copy_from_slice(&checksum.to_le_bytes());
        out
    }

    /// The table [`IntelTable::encode`] wrote, checked whole: anything else is
    /// [`IntelError::Undecodable`].
    pub fn decode(bytes: &[u8]) -> Result<Self, IntelError> {
        let undecodable = |why: String| IntelError::Undecodable(why);
        let mut header = Cursor::new(bytes);
        if header.take(MAGIC.len()).ok() != Some(&MAGIC[..]) {
            return Err(undecodable("not an encoded intel table".into()));
        }
        let version = header.u32().map_err(undecodable)?;
        if version != VERSION {
            return Err(undecodable(format!(
                "format version {version}, this build reads {VERSION}"
            )));
        }
        let checksum = header.u64().map_err(undecodable)?;
        let body = header.rest();
        if xxh3_64(body) != checksum {
            return Err(undecodable(
                "checksum mismatch: the bytes were changed".into(),
            ));
        }
        decode_body(body).map_err(undecodable)
    }
}

/// The table in `body` (an encoding without its header), checked whole. Fuzzing calls this
/// directly: through [`IntelTable::decode`], random bytes never get past the checksum.
#[cfg(fuzzing)]
pub fn decode_unchecked_body(body: &[u8]) -> Result<IntelTable, IntelError> {
    decode_body(body).map_err(IntelError::Undecodable)
}

fn decode_body(body: &[u8]) -> Result<IntelTable, String> {
    let mut c = Cursor::new(body);
    let entries = entries(&mut c)?;
    let v4 = segments::<u32>(&mut c, &entries, "IPv4")?;
    let v6 = segments::<u128>(&mut c, &entries, "IPv6")?;
    if !c.rest().is_empty() {
        return Err(format!("{} bytes after the table", c.rest().len()));
    }
    Ok(IntelTable { entries, v4, v6 })
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&(len as u64).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_u32s(out: &mut Vec<u8>, values: &[u32]) {
    put_len(out, values.len());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn put_time(out: &mut Vec<u8>, t: Timestamp) {
    out.extend_from_slice(&t.as_second().to_le_bytes());
    out.extend_from_slice(&t.subsec_nanosecond().to_le_bytes());
}

/// Each of a sparse column's (id, value) pairs: the id, then `put` writes the value.
fn put_sparse<T: Copy>(out: &mut Vec<u8>, column: &[(u32, T)], put: impl Fn(&mut Vec<u8>, T)) {
    put_len(out, column.len());
    for (id, v) in column {
        out.extend_from_slice(&id.to_le_bytes());
        put(out, *v);
    }
}

fn put_entries(out: &mut Vec<u8>, e: &Entries) {
    put_len(out, e.nets.len());
    for net in &e.nets {
        match net {
            IpNet::V4(n) => {
                out.extend_from_slice(&[4, n.prefix_len()]);
                out.extend_from_slice(&n.addr().octets());
            }
            IpNet::V6(n) => {
                out.extend_from_slice(&[6, n.prefix_len()]);
                out.extend_from_slice(&n.addr().octets());
            }
        }
    }
    put_u32s(out, &e.label);
    put_len(out, e.labels.len());
    for (feed, category) in &e.labels {
        put_str(out, feed);
        match category {
            Some(c) => {
                out.push(1);
                put_str(out, c);
            }
            None => out.push(0),
        }
    }
    put_sparse(out, &e.scores, |o, v: f64| {
        o.extend_from_slice(&v.to_bits().to_le_bytes())
    });
    put_sparse(out, &e.first_seen, put_time);
    put_sparse(out, &e.last_seen, put_time);
    put_sparse(out, &e.comments, |o, at: u32| {
        o.extend_from_slice(&at.to_le_bytes())
    });
    put_str(out, &e.text);
}

fn put_segments<K: Key>(out: &mut Vec<u8>, s: &Segments<K>) {
    put_len(out, s.starts.len());
    for start in &s.starts {
        out.extend_from_slice(&start.to_u128().to_le_bytes()[..K::BYTES]);
    }
    put_u32s(out, &s.sets);
    put_u32s(out, &s.ids);
}

/// Reads `bytes` front to back; every read past the end is an error.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.bytes.len() {
            return Err(format!(
                "cut short: {n} bytes wanted, {} left",
                self.bytes.len()
            ));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }

    /// A length of items that take at least `min_item` bytes each: one that the bytes left
    /// cannot hold is an error before anything is allocated for it.
    fn len(&mut self, min_item: usize, what: &str) -> Result<usize, String> {
        let len = self.u64()?;
        match usize::try_from(len) {
            Ok(n) if n.saturating_mul(min_item.max(1)) <= self.bytes.len() => Ok(n),
            _ => Err(format!(
                "{what}: {len} items cannot fit in the {} bytes left",
                self.bytes.len()
            )),
        }
    }

    fn str(&mut self, what: &str) -> Result<&'a str, String> {
        let n = self.len(1, what)?;
        std::str::from_utf8(self.take(n)?).map_err(|e| format!("{what}: {e}"))
    }

    fn u32s(&mut self, what: &str) -> Result<Vec<u32>, String> {
        let n = self.len(4, what)?;
        Ok(self
            .take(n * 4)?
            .chunks_exact(4)
            .map(|c| {
                let mut a = [0u8; 4];
                a.copy_from_slice(c);
                u32::from_le_bytes(a)
            })
            .collect())
    }

    fn time(&mut self, what: &str) -> Result<Timestamp, String> {
        let secs = i64::from_le_bytes(self.array()?);
        let nanos = i32::from_le_bytes(self.array()?);
        Timestamp::new(secs, nanos).map_err(|e| format!("{what}: {e}"))
    }

    /// A sparse column: (id, value) pairs with ids rising and below `count`.
    fn sparse<T>(
        &mut self,
        count: usize,
        value_bytes: usize,
        what: &str,
        mut value: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> Result<Vec<(u32, T)>, String> {
        let n = self.len(4 + value_bytes, what)?;
        let mut out: Vec<(u32, T)> = Vec::with_capacity(n);
        for _ in 0..n {
            let id = self.u32()?;
            if (id as usize) >= count || out.last().is_some_and(|(last, _)| *last >= id) {
                return Err(format!("{what}: id {id} out of order or range"));
            }
            out.push((id, value(self)?));
        }
        Ok(out)
    }
}

fn entries(c: &mut Cursor<'_>) -> Result<Entries, String> {
    let n = c.len(6, "networks")?;
    let mut nets = Vec::with_capacity(n);
    for _ in 0..n {
        let family = c.u8()?;
        let prefix = c.u8()?;
        let addr = match family {
            4 => IpAddr::V4(Ipv4Addr::from(c.array::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(c.array::<16>()?)),
            other => return Err(format!("networks: address family {other}")),
        };
        nets.push(IpNet::new(addr, prefix).map_err(|e| format!("networks: {addr}/{prefix}: {e}"))?);
    }
    let label = c.u32s("labels of networks")?;
    if label.len() != n {
        return Err(format!("{} labels for {n} networks", label.len()));
    }
    let count = c.len(9, "labels")?;
    let mut labels = Vec::with_capacity(count);
    for _ in 0..count {
        let feed = Box::<str>::from(c.str("feed name")?);
        let category = match c.u8()? {
            0 => None,
            1 => Some(Box::<str>::from(c.str("category")?)),
            other => return Err(format!("labels: category flag {other}")),
        };
        labels.push((feed, category));
    }
    if let Some(bad) = label.iter().find(|l| **l as usize >= labels.len()) {
        return Err(format!("label {bad} of {} labels", labels.len()));
    }
    let scores = c.sparse(n, 8, "scores", |c| c.u64().map(f64::from_bits))?;
    let first_seen = c.sparse(n, 12, "first seen", |c| c.time("first seen"))?;
    let last_seen = c.sparse(n, 12, "last seen", |c| c.time("last seen"))?;
    let comments = c.sparse(n, 4, "comments", Cursor::u32)?;
    let text = c.str("comment text")?.to_owned();
    let starts_fit = comments.windows(2).all(|w| w[0].1 <= w[1].1)
        && comments
            .iter()
            .all(|(_, at)| text.is_char_boundary(*at as usize));
    if !starts_fit {
        return Err("comments: starts out of order or not at a character".into());
    }
    Ok(Entries {
        nets,
        label,
        labels,
        scores,
        first_seen,
        last_seen,
        comments,
        text,
    })
}

/// One half's intervals, checked as [`Segments::find`] needs them: the first starts at 0, the
/// starts rise, each has a range of ids ending where the next begins, and every id is an
/// indicator of this family.
fn segments<K: Key>(c: &mut Cursor<'_>, e: &Entries, family: &str) -> Result<Segments<K>, String> {
    let n = c.len(K::BYTES, family)?;
    let mut starts = Vec::with_capacity(n);
    for _ in 0..n {
        let mut wide = [0u8; 16];
        wide[..K::BYTES].copy_from_slice(c.take(K::BYTES)?);
        starts.push(K::from_u128(u128::from_le_bytes(wide)));
    }
    let sets = c.u32s("interval sets")?;
    let ids = c.u32s("interval ids")?;
    let bad = |why: &str| Err(format!("{family} intervals: {why}"));
    if starts.first().map(|s| s.to_u128()) != Some(0) {
        return bad("the first does not start at the family's first address");
    }
    if !starts.windows(2).all(|w| w[0] < w[1]) {
        return bad("starts out of order");
    }
    if sets.len() != starts.len() + 1
        || sets.first() != Some(&0)
        || sets.last().map(|s| *s as usize) != Some(ids.len())
        || !sets.windows(2).all(|w| w[0] <= w[1])
    {
        return bad("id ranges do not fit the intervals");
    }
    let v4 = K::BYTES == 4;
    let of_family = |id: &u32| {
        e.nets
            .get(*id as usize)
            .is_some_and(|net| matches!(net, IpNet::V4(_)) == v4)
    };
    if !ids.iter().all(of_family) {
        return bad("an id out of range or of the other family");
    }
    Segments::from_parts(starts, sets, ids).ok_or_else(|| format!("{family}: too many intervals"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_model::Indicator;

    fn sample() -> IntelTable {
        let mut inds: Vec<Indicator> = [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "192.0.2.7/32",
            "2001:db8::/32",
            "0.0.0.0/0",
            "::/0",
        ]
        .iter()
        .enumerate()
        .map(|(i, n)| Indicator::new(n.parse().unwrap(), format!("feed{}", i % 2)))
        .collect();
        inds[1].score = Some(0.5);
        inds[2].category = Some("attacks".into());
        inds[2].comment = Some("héllo".into());
        inds[3].comment = Some("two".into());
        inds[4].first_seen = Some(Timestamp::from_second(1_700_000_000).unwrap());
        inds[5].last_seen = Some(Timestamp::new(1_700_000_100, 123_456_789).unwrap());
        IntelTable::build(inds).unwrap()
    }

    fn seal(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&xxh3_64(body).to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn a_table_decodes_to_itself() {
        let table = sample();
        let bytes = table.encode();
        let heap = table.entries.heap_bytes() + table.v4.heap_bytes() + table.v6.heap_bytes();
        assert!(bytes.len() <= HEADER + heap, "the buffer never grows");
        let back = IntelTable::decode(&bytes).unwrap();
        assert_eq!(back.entries, table.entries);
        assert_eq!(back.v4, table.v4);
        assert_eq!(back.v6, table.v6);
        let empty = IntelTable::build(vec![]).unwrap();
        let back = IntelTable::decode(&empty.encode()).unwrap();
        assert!(back.is_empty());
        assert!(!back.contains("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn changed_bytes_are_refused_by_the_checksum() {
        let mut bytes = sample().encode();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let err = IntelTable::decode(&bytes).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
    }

    #[test]
    fn another_version_or_no_table_is_refused() {
        let mut bytes = sample().encode();
        bytes[MAGIC.len()] = 9;
        let err = IntelTable::decode(&bytes).unwrap_err().to_string();
        assert!(err.contains("format version 9"), "{err}");
        assert!(IntelTable::decode(b"PKTINT").is_err());
        assert!(IntelTable::decode(b"").is_err());
    }

    #[test]
    fn every_cut_of_a_body_is_an_error() {
        let bytes = sample().encode();
        let body = &bytes[HEADER..];
        for end in 0..body.len() {
            assert!(
                IntelTable::decode(&seal(&body[..end])).is_err(),
                "cut at {end}"
            );
        }
    }

    #[test]
    fn an_id_past_the_indicators_is_refused() {
        let table = sample();
        let mut bad = table.clone();
        if let Some(id) = bad.v4.ids.last_mut() {
            *id = 99;
        }
        let mut body = Vec::new();
        put_entries(&mut body, &bad.entries);
        put_segments(&mut body, &bad.v4);
        put_segments(&mut body, &bad.v6);
        let err = IntelTable::decode(&seal(&body)).unwrap_err().to_string();
        assert!(err.contains("IPv4 intervals"), "{err}");
    }

    proptest::proptest! {
        /// Any bytes in a valid envelope: an error or a table, never a panic, and a table that
        /// decoded answers lookups without one.
        #[test]
        fn mangled_bodies_never_panic(
            flips in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()), 1..8),
            probe in proptest::prelude::any::<u32>(),
        ) {
            let bytes = sample().encode();
            let mut body = bytes[HEADER..].to_vec();
            for (at, value) in flips {
                let i = at.index(body.len());
                body[i] = value;
            }
            if let Ok(table) = IntelTable::decode(&seal(&body)) {
                let _ = table.lookup(IpAddr::V4(Ipv4Addr::from(probe))).count();
                let _ = table.feed_count(IpAddr::V6(Ipv6Addr::from(u128::from(probe) << 96)));
                let _ = table.iter().count();
                let _ = table.stats();
            }
        }
    }
}
