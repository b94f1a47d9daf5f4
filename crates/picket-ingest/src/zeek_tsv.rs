//! Zeek `conn.log` in Zeek's TSV ("ASCII") form.
//!
//! The file describes itself: `#separator` (escaped, `\x09`), `#unset_field` (`-`),
//! `#empty_field` (`(empty)`), `#fields` (column names) and `#types` (column types). Columns are
//! found by name, so logs with extra or reordered columns read the same. A new `#fields` line
//! (concatenated or rotated logs) replaces the old layout.
//!
//! With `LogAscii::tsv=T` Zeek writes plain TSV instead: one header row of column names
//! (`ts<TAB>uid<TAB>id.orig_h...`), no `#` lines, the default unset (`-`) and empty
//! (`(empty)`) markers. That row is read as the `#fields` line would be.

use std::net::IpAddr;
use std::time::Duration;

use picket_model::{ConnEvent, ConnOutcome, Timestamp, Transport};

use crate::EventHead;
use crate::error::LineProblem;
use crate::fields::{self, Res};
use crate::input::{Line, LineCtx, LineResult};

/// The columns this reader uses, with the Zeek type each must have, in slot order.
const COLUMNS: [(&str, &str); 13] = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("orig_pkts", "count"),
    ("resp_pkts", "count"),
];
const TS: usize = 0;
const UID: usize = 1;
const ORIG_H: usize = 2;
const ORIG_P: usize = 3;
const RESP_H: usize = 4;
const RESP_P: usize = 5;
const PROTO: usize = 6;
const DURATION: usize = 7;
const ORIG_BYTES: usize = 8;
const RESP_BYTES: usize = 9;
const CONN_STATE: usize = 10;
const ORIG_PKTS: usize = 11;
const RESP_PKTS: usize = 12;
/// Without these an event means nothing.
const REQUIRED: [usize; 4] = [TS, ORIG_H, RESP_H, PROTO];
/// What a screen reads of an event ([`ZeekTsv::head`]).
const HEAD: [usize; 5] = [TS, ORIG_H, RESP_H, RESP_P, PROTO];

/// Whether `column` is one [`ZeekTsv::head`] reads.
pub(crate) fn is_head_column(column: &str) -> bool {
    HEAD.iter().any(|&slot| COLUMNS[slot].0 == column)
}

#[derive(Debug, Clone)]
pub(crate) struct ZeekTsv {
    separator: String,
    unset: String,
    empty: String,
    /// For each column of the file, the slot it fills (if this reader uses it).
    layout: Result<Layout, String>,
    /// The `#path` header: which Zeek log this is.
    path: Option<String>,
    fields_line: Option<String>,
    types_line: Option<String>,
    /// The raw meta lines seen, kept to rebuild this state on resume.
    meta: Vec<String>,
}

#[derive(Debug, Clone)]
struct Layout {
    slots: Vec<Option<usize>>,
    /// The last column that holds a field of [`HEAD`].
    head_last: usize,
}

impl Default for ZeekTsv {
    fn default() -> Self {
        Self {
            separator: "\t".into(),
            unset: "-".into(),
            empty: "(empty)".into(),
            layout: Err("no #fields header before this line".into()),
            path: None,
            fields_line: None,
            types_line: None,
            meta: Vec::new(),
        }
    }
}

impl ZeekTsv {
    pub fn parse(&mut self, line: &str, ctx: &LineCtx<'_>) -> LineResult {
        if line.is_empty() {
            return Ok(Line::Nothing);
        }
        if line.starts_with('#') {
            return self.meta_line(line).map(|()| Line::Nothing);
        }
        if is_header_row(line) {
            // A plain TSV header row is this file's #fields.
            return self
                .meta_line(&format!("#fields\t{line}"))
                .map(|()| Line::Nothing);
        }
        self.row(line).map(|row| Line::Event(row.event(ctx)))
    }

    /// Whether a line changes how the lines after it are read (a header line, or the header
    /// row of `LogAscii::tsv=T`): [`ZeekTsv::row`] must not be given it.
    pub fn changes_layout(line: &[u8]) -> bool {
        line.first() == Some(&b'#')
            || (line.starts_with(b"ts\t") && std::str::from_utf8(line).is_ok_and(is_header_row))
    }

    /// The typed values of a data row (neither empty nor a header line), every field checked
    /// as [`ZeekTsv::parse`] checks it, without allocating.
    pub fn row<'a>(&self, line: &'a str) -> Res<Row<'a>> {
        let layout = match &self.layout {
            Ok(l) => l,
            Err(why) => return Err(LineProblem::malformed(why.clone())),
        };
        let mut vals: [Option<&str>; COLUMNS.len()] = [None; COLUMNS.len()];
        // A one-character separator (always, in practice) splits on that byte instead of a
        // substring search: this loop is the hot path of the whole crate.
        let sep = self.separator.as_bytes();
        let n = match sep {
            [c] if c.is_ascii() => self.fill(layout, &mut vals, Split::new(line, *c)),
            _ => self.fill(layout, &mut vals, line.split(self.separator.as_str())),
        };
        if n != layout.slots.len() {
            return Err(LineProblem::malformed(format!(
                "{n} columns, but #fields names {}",
                layout.slots.len()
            )));
        }
        for slot in REQUIRED {
            if vals[slot].is_none() {
                return Err(LineProblem::missing(COLUMNS[slot].0));
            }
        }
        Row::of(&vals)
    }

    /// What a screen reads of a data row (time, addresses, destination port, transport), read
    /// from the columns up to the last of them: the columns after it are counted, not split
    /// or checked. `None` whenever [`ZeekTsv::row`] could refuse the row for these columns or
    /// for its column count; then `row` decides. Where both answer, they answer alike.
    ///
    /// So a row a screen turns down is checked for what the screen reads of it; a bad value
    /// in another column (a count, the duration) is seen only in rows read whole.
    pub fn head(&self, line: &str) -> Option<EventHead> {
        let layout = self.layout.as_ref().ok()?;
        let [sep] = self.separator.as_bytes() else {
            return None;
        };
        if !sep.is_ascii() {
            return None;
        }
        let mut vals: [Option<&str>; COLUMNS.len()] = [None; COLUMNS.len()];
        let mut columns = Split::new(line, *sep);
        for slot in layout.slots.iter().take(layout.head_last + 1) {
            let v = columns.next()?;
            if let Some(slot) = slot
                && !same(v, &self.unset)
                && !same(v, &self.empty)
            {
                vals[*slot] = Some(v);
            }
        }
        let after = columns.columns_left();
        if layout.head_last + 1 + after != layout.slots.len() {
            return None;
        }
        let proto = transport(vals[PROTO]?).ok()?;
        let dst_port = match vals[RESP_P] {
            Some(v) if fields::has_ports(proto) => Some(fields::port("", v).ok()?),
            _ => None,
        };
        Some(EventHead {
            ts: fields::epoch("", vals[TS]?).ok()?,
            src: fields::ip("", vals[ORIG_H]?).ok()?,
            dst: fields::ip("", vals[RESP_H]?).ok()?,
            dst_port,
            proto,
        })
    }

    /// Puts each set column among `columns` into its slot of `vals`; how many columns there
    /// were. Generic over the split, so that the one-byte split inlines here.
    fn fill<'a>(
        &self,
        layout: &Layout,
        vals: &mut [Option<&'a str>; COLUMNS.len()],
        columns: impl Iterator<Item = &'a str>,
    ) -> usize {
        let mut n = 0usize;
        for (i, v) in columns.enumerate() {
            n = i + 1;
            if same(v, &self.unset) || same(v, &self.empty) {
                continue;
            }
            if let Some(Some(slot)) = layout.slots.get(i) {
                vals[*slot] = Some(v);
            }
        }
        n
    }

    fn meta_line(&mut self, line: &str) -> Res<()> {
        if let Some(rest) = line.strip_prefix("#separator ") {
            let sep = unescape(rest);
            if sep.is_empty() {
                return Err(LineProblem::bad("#separator", rest, "a separator"));
            }
            // A new separator starts a new log: its own #fields follows.
            *self = Self {
                separator: sep,
                ..Self::default()
            };
            self.meta.push(line.to_owned());
            return Ok(());
        }
        let body = &line[1..];
        let (key, value) = match body.split_once(self.separator.as_str()) {
            Some(kv) => kv,
            None => (body, ""),
        };
        match key {
            "unset_field" => self.unset = value.to_owned(),
            "empty_field" => self.empty = value.to_owned(),
            "set_separator" => {}
            "path" => {
                self.path = Some(value.to_owned());
                self.meta.push(line.to_owned());
                if let Some(why) = self.wrong_path() {
                    self.layout = Err(why.clone());
                    return Err(LineProblem::malformed(why));
                }
                return Ok(());
            }
            "fields" => {
                self.fields_line = Some(value.to_owned());
                self.types_line = None;
                self.meta
                    .retain(|m| !m.starts_with("#fields") && !m.starts_with("#types"));
            }
            "types" => self.types_line = Some(value.to_owned()),
            // #open, #close and anything else carry nothing for us.
            _ => return Ok(()),
        }
        self.meta.push(line.to_owned());
        if matches!(key, "fields" | "types") {
            if let Some(why) = self.wrong_path() {
                // Reported once, on the #path line.
                self.layout = Err(why);
                return Ok(());
            }
            self.layout = self.build_layout();
            if let Err(why) = &self.layout {
                return Err(LineProblem::malformed(why.clone()));
            }
        }
        Ok(())
    }

    /// Other Zeek logs (dns, http) have `id.orig_h` too: reading them as connections would
    /// invent events.
    fn wrong_path(&self) -> Option<String> {
        self.path
            .as_deref()
            .filter(|p| !p.starts_with("conn"))
            .map(|p| format!("#path is {p:?}: this reader takes Zeek conn logs only"))
    }

    fn build_layout(&self) -> Result<Layout, String> {
        let Some(fields) = &self.fields_line else {
            return Err("#types without #fields".into());
        };
        let names: Vec<&str> = fields.split(self.separator.as_str()).collect();
        let slots: Vec<Option<usize>> = names
            .iter()
            .map(|n| COLUMNS.iter().position(|(c, _)| c == n))
            .collect();
        for slot in REQUIRED {
            if !slots.contains(&Some(slot)) {
                return Err(format!("#fields has no {} column", COLUMNS[slot].0));
            }
        }
        if let Some(types) = &self.types_line {
            let types: Vec<&str> = types.split(self.separator.as_str()).collect();
            if types.len() != names.len() {
                return Err(format!(
                    "#types has {} columns, #fields {}",
                    types.len(),
                    names.len()
                ));
            }
            for (i, slot) in slots.iter().enumerate() {
                if let Some(slot) = slot {
                    let (name, want) = COLUMNS[*slot];
                    if types[i] != want {
                        return Err(format!(
                            "#types says column {name} is {:?}, expected {want:?}",
                            types[i]
                        ));
                    }
                }
            }
        }
        let head_last = slots
            .iter()
            .rposition(|slot| slot.is_some_and(|s| HEAD.contains(&s)))
            .unwrap_or(0);
        Ok(Layout { slots, head_last })
    }

    pub fn header(&self) -> Vec<String> {
        self.meta.clone()
    }
}

/// The header row of a conn log written with `LogAscii::tsv=T`: the column names, tab
/// separated, starting with the time column.
/// `a == b` for a column and a marker: most columns differ from both markers in length or in
/// their first byte, and the unset marker is one byte, so the byte-string comparison (a call)
/// is left for the rest.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && (a.len() == 1 || a == b)
}

pub(crate) fn is_header_row(line: &str) -> bool {
    line.starts_with("ts\t") && line.split('\t').any(|c| c == "id.orig_h")
}

/// The columns of a line split at a one-byte ASCII separator. The line is compared with the
/// separator [`CHUNK`] bytes at a time into a word whose bits mark where it is, and the columns
/// are cut at those bits: one pass over a row finds all its separators, and the columns left
/// are counted from the bits (a search per column went over the bytes one by one).
struct Split<'a> {
    line: &'a str,
    sep: u8,
    /// Where the next column starts; `None` once the last one was handed out.
    start: Option<usize>,
    /// The separators not handed out yet of the chunk at `base`.
    bits: u64,
    base: usize,
    /// Where the next chunk starts.
    next: usize,
}

/// Bytes a [`Split`] compares at once: one bit each in a `u64`.
const CHUNK: usize = 64;

impl<'a> Split<'a> {
    /// `sep` is ASCII (its callers check): so it never splits a character, and the padding of
    /// a line's last chunk never matches it.
    fn new(line: &'a str, sep: u8) -> Self {
        Self {
            line,
            sep,
            start: Some(0),
            bits: 0,
            base: 0,
            next: 0,
        }
    }

    /// The separators among the [`CHUNK`] bytes from `from` (fewer at the line's end), bit `i`
    /// for byte `from + i`.
    fn chunk_bits(&self, from: usize) -> u64 {
        let bytes = self.line.as_bytes().get(from..).unwrap_or_default();
        match bytes.first_chunk::<CHUNK>() {
            Some(chunk) => separators(chunk, self.sep),
            None => {
                // A non-ASCII byte never equals the (ASCII) separator.
                let mut padded = [0x80; CHUNK];
                padded[..bytes.len()].copy_from_slice(bytes);
                separators(&padded, self.sep)
            }
        }
    }

    /// How many columns are left: one more than the separators after those handed out, none
    /// once the last one was.
    fn columns_left(&self) -> usize {
        if self.start.is_none() {
            return 0;
        }
        let mut left = 1 + self.bits.count_ones() as usize;
        let mut at = self.next;
        while at < self.line.len() {
            left += self.chunk_bits(at).count_ones() as usize;
            at += CHUNK;
        }
        left
    }
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let start = self.start?;
        while self.bits == 0 {
            if self.next >= self.line.len() {
                self.start = None;
                return self.line.get(start..);
            }
            self.bits = self.chunk_bits(self.next);
            self.base = self.next;
            self.next += CHUNK;
        }
        let at = self.base + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        self.start = Some(at + 1);
        // The separator is ASCII, so both sides of it are on character boundaries.
        self.line.get(start..at)
    }
}

/// The bytes of `chunk` equal to `sep`, as bits: sixteen at a time with SSE2 (part of every
/// x86-64 processor), one at a time elsewhere.
fn separators(chunk: &[u8; CHUNK], sep: u8) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        let mut bits = 0u64;
        for (i, part) in chunk.chunks_exact(16).enumerate() {
            // SAFETY: SSE2 is in x86-64's baseline, so these instructions always exist; the
            // load reads the 16 bytes of `part` (an unaligned load is allowed).
            let mask = unsafe {
                let bytes = _mm_loadu_si128(part.as_ptr().cast::<__m128i>());
                _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(sep as i8)))
            };
            // One bit a byte, in the mask's low 16 bits.
            bits |= u64::from(mask as u16) << (16 * i);
        }
        bits
    }
    #[cfg(not(target_arch = "x86_64"))]
    separators_one_by_one(chunk, sep)
}

/// [`separators`] a byte at a time: what other processors run, and what the SSE2 version is
/// held to.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn separators_one_by_one(chunk: &[u8; CHUNK], sep: u8) -> u64 {
    chunk
        .iter()
        .enumerate()
        .fold(0, |bits, (i, &b)| bits | (u64::from(b == sep) << i))
}

/// One data row's values, typed and checked; the event is made from it without reading the
/// line again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row<'a> {
    pub ts: Timestamp,
    pub src: IpAddr,
    pub src_port: Option<u16>,
    pub dst: IpAddr,
    pub dst_port: Option<u16>,
    pub proto: Transport,
    outcome: ConnOutcome,
    duration: Option<Duration>,
    bytes_out: Option<u64>,
    bytes_in: Option<u64>,
    packets_out: Option<u64>,
    packets_in: Option<u64>,
    uid: Option<&'a str>,
}

impl<'a> Row<'a> {
    /// Checks the values in the order the first bad one is reported in.
    fn of(vals: &[Option<&'a str>; COLUMNS.len()]) -> Res<Self> {
        let get = |slot: usize| vals[slot];
        let name = |slot: usize| COLUMNS[slot].0;
        let need = |slot: usize| get(slot).ok_or_else(|| LineProblem::missing(name(slot)));
        let opt_count = |slot: usize| get(slot).map(|v| fields::count(name(slot), v)).transpose();
        let opt_port = |slot: usize| get(slot).map(|v| fields::port(name(slot), v)).transpose();

        let proto = transport(need(PROTO)?)?;
        let (src_port, dst_port) = if fields::has_ports(proto) {
            (opt_port(ORIG_P)?, opt_port(RESP_P)?)
        } else {
            (None, None)
        };
        Ok(Self {
            ts: fields::epoch(name(TS), need(TS)?)?,
            src: fields::ip(name(ORIG_H), need(ORIG_H)?)?,
            src_port,
            dst: fields::ip(name(RESP_H), need(RESP_H)?)?,
            dst_port,
            proto,
            outcome: get(CONN_STATE).map_or(ConnOutcome::Unknown, outcome),
            duration: get(DURATION)
                .map(|v| fields::seconds(name(DURATION), v))
                .transpose()?,
            bytes_out: opt_count(ORIG_BYTES)?,
            bytes_in: opt_count(RESP_BYTES)?,
            packets_out: opt_count(ORIG_PKTS)?,
            packets_in: opt_count(RESP_PKTS)?,
            uid: get(UID),
        })
    }

    pub fn event(&self, ctx: &LineCtx<'_>) -> ConnEvent {
        ConnEvent {
            ts: self.ts,
            src: self.src,
            src_port: self.src_port,
            dst: self.dst,
            dst_port: self.dst_port,
            proto: self.proto,
            outcome: self.outcome,
            duration: self.duration,
            bytes_out: self.bytes_out,
            bytes_in: self.bytes_in,
            packets_out: self.packets_out,
            packets_in: self.packets_in,
            uid: self.uid.map(str::to_owned),
            flow: None,
            source: ctx.source(),
        }
    }
}

/// Zeek's `proto` enum: `tcp`, `udp`, `icmp`, `unknown_transport`.
pub(crate) fn transport(s: &str) -> Res<Transport> {
    match s {
        // Zeek does not log the protocol number of what it could not classify; 255 is IANA's
        // reserved value and stands for "unknown" here.
        "unknown_transport" => Ok(Transport::Other(255)),
        s => fields::transport("proto", s),
    }
}

/// Zeek's `conn_state` (see Zeek's `base/protocols/conn/main.zeek`).
pub(crate) fn outcome(conn_state: &str) -> ConnOutcome {
    match conn_state {
        // A handshake completed (or data flowed both ways), whatever happened afterwards.
        "SF" | "S1" | "S2" | "S3" | "RSTO" | "RSTR" => ConnOutcome::Established,
        // The responder answered the SYN with a reset.
        "REJ" => ConnOutcome::Rejected,
        // No answer, or only half a handshake was seen: the originator tried.
        "S0" | "RSTOS0" | "RSTRH" | "SH" | "SHR" => ConnOutcome::Attempted,
        // OTH is midstream traffic with no SYN seen (and every ICMP exchange): Zeek cannot say
        // how the connection began, so neither can we.
        _ => ConnOutcome::Unknown,
    }
}

/// Zeek escapes the separator's own definition as `\xHH`.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 2..i + 4);
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) if b.is_ascii() => {
                out.push(char::from(b));
                rest = &rest[i + 4..];
            }
            _ => {
                out.push_str("\\x");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: &mut ZeekTsv, line: &str) -> Result<Option<ConnEvent>, LineProblem> {
        let now = || picket_model::Timestamp::UNIX_EPOCH;
        p.parse(
            line,
            &LineCtx {
                file: "conn.log",
                line: 1,
                now: &now,
            },
        )
        .map(Line::into_event)
    }

    const HEAD: [&str; 4] = [
        "#separator \\x09",
        "#unset_field\t-",
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state",
        "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring",
    ];

    proptest::proptest! {
        /// The columns are those `str::split` cuts, on lines across several chunks, with
        /// multi-byte characters and empty columns; after any number taken, the columns left
        /// are those still to come.
        #[test]
        fn split_cuts_as_str_split(
            line in "([a\t,]|é|日|\\x09){0,200}",
            sep in proptest::sample::select(vec![b'\t', b',']),
            taken in 0usize..40,
        ) {
            let want: Vec<&str> = line.split(char::from(sep)).collect();
            let got: Vec<&str> = Split::new(&line, sep).collect();
            proptest::prop_assert_eq!(&got, &want);
            let mut split = Split::new(&line, sep);
            let taken = split.by_ref().take(taken).count();
            proptest::prop_assert_eq!(split.columns_left(), want.len() - taken);
        }

        /// SSE2's comparison marks the bytes that one at a time does.
        #[test]
        fn separators_marks_each_separator(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![proptest::strategy::Just(b'\t'), proptest::prelude::any::<u8>()],
                CHUNK,
            ),
            sep in proptest::sample::select(vec![b'\t', b',', 0]),
        ) {
            let chunk: [u8; CHUNK] = bytes.try_into().unwrap();
            proptest::prop_assert_eq!(separators(&chunk, sep), separators_one_by_one(&chunk, sep));
        }
    }

    proptest::proptest! {
        /// The marker test is string equality, on markers and columns alike.
        #[test]
        fn same_is_equality(
            a in "[-(empty)0a]{0,8}",
            b in proptest::prop_oneof![
                proptest::strategy::Just("-".to_owned()),
                proptest::strategy::Just("(empty)".to_owned()),
                "[-(empty)0a]{0,8}",
            ],
        ) {
            proptest::prop_assert_eq!(same(&a, &b), a == b);
        }
    }

    /// The header of a conn log as Zeek writes it (every column of `conn.log`).
    const FULL_HEAD: [&str; 3] = [
        "#separator \\x09",
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents",
        "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]",
    ];

    /// A column of a `FULL_HEAD` row: good values, the unset and empty markers, bad values.
    fn column(i: usize) -> proptest::strategy::BoxedStrategy<String> {
        use proptest::prelude::*;
        let good: &[&str] = match i {
            0 => &["1714564800.273533", "0", "-1.5"],
            2 | 4 => &["173.64.118.19", "10.0.0.5", "2001:db8::1"],
            3 | 5 => &["443", "0", "65535"],
            6 => &["tcp", "udp", "icmp", "unknown_transport"],
            8 => &["24.154119", "0.5"],
            9 | 10 | 16 | 18 => &["0", "34112"],
            11 => &["SF", "REJ", "S0"],
            _ => &["x", "C55cfe33ce360783d"],
        };
        let good: Vec<String> = good.iter().map(|v| (*v).to_owned()).collect();
        let other = ["-", "(empty)", "bad", "65536", "1e9", ""]
            .map(str::to_owned)
            .to_vec();
        prop_oneof![
            2 => proptest::sample::select(good),
            1 => proptest::sample::select(other),
        ]
        .boxed()
    }

    fn full_parser() -> ZeekTsv {
        let mut p = ZeekTsv::default();
        for h in FULL_HEAD {
            run(&mut p, h).unwrap();
        }
        p
    }

    fn head_of(row: &Row<'_>) -> EventHead {
        EventHead {
            ts: row.ts,
            src: row.src,
            dst: row.dst,
            dst_port: row.dst_port,
            proto: row.proto,
        }
    }

    proptest::proptest! {
        /// Where the whole row reads, its head is the row's; where the head reads and the row
        /// does not, only a column the head does not read is wrong.
        #[test]
        fn a_rows_head_is_the_head_of_the_row(
            columns in (0..21usize).map(column).collect::<Vec<_>>(),
            cut in proptest::prop_oneof![3 => proptest::strategy::Just(21usize), 1 => 0..25usize],
        ) {
            let p = full_parser();
            let mut columns = columns;
            columns.truncate(cut.max(1));
            let line = columns.join("\t");
            let head = p.head(&line);
            match p.row(&line) {
                Ok(row) => proptest::prop_assert_eq!(head, Some(head_of(&row))),
                Err(_) => {
                    if let Some(head) = head {
                        // The head's own columns are right: with every other column set to a
                        // good value the row reads, to the same head.
                        proptest::prop_assert_eq!(columns.len(), 21);
                        let mended: Vec<&str> = columns
                            .iter()
                            .enumerate()
                            .map(|(i, v)| if [0, 2, 4, 5, 6].contains(&i) { v.as_str() } else if i == 3 { "1" } else { "-" })
                            .collect();
                        let mended = mended.join("\t");
                        let row = p.row(&mended);
                        proptest::prop_assert!(row.is_ok(), "{mended:?}: {row:?}");
                        proptest::prop_assert_eq!(Some(head), row.ok().map(|r| head_of(&r)));
                    }
                }
            }
        }
    }

    #[test]
    fn the_head_reads_only_what_a_screen_needs() {
        let p = full_parser();
        let row = "1714564800.273533\tC1\t173.64.118.19\t4995\t10.0.227.60\t443\ttcp\tssl\t24.154119\t34112\t0\tREJ\tF\tT\t0\tSr\t26\t35152\t0\t0\t-";
        let head = p.head(row).unwrap();
        assert_eq!(head, head_of(&p.row(row).unwrap()));
        // A bad count is no business of a screen: the head reads, the row does not.
        let bad_count = row.replace("\t34112\t", "\tlots\t");
        assert_eq!(p.head(&bad_count), Some(head));
        assert_eq!(
            p.row(&bad_count).unwrap_err().to_string(),
            "field orig_bytes: 'lots' is not a count"
        );
        // A column too many or too few, or a bad port: the row decides.
        assert_eq!(p.head(&format!("{row}\t-")), None);
        assert_eq!(p.head(row.trim_end_matches("\t-")), None);
        assert_eq!(p.head(&row.replace("\t443\t", "\t443443\t")), None);
        // No layout yet: the row decides.
        assert_eq!(ZeekTsv::default().head(row), None);
    }

    #[test]
    fn unescapes_separator() {
        assert_eq!(unescape("\\x09"), "\t");
        assert_eq!(unescape("\\x2c"), ",");
        assert_eq!(unescape("\\xZZ"), "\\xZZ");
        assert_eq!(unescape("\\x"), "\\x");
        assert_eq!(unescape("\\xé"), "\\xé");
    }

    #[test]
    fn reads_by_column_name() {
        let mut p = ZeekTsv::default();
        for h in HEAD {
            assert_eq!(run(&mut p, h).unwrap(), None);
        }
        let ev = run(&mut p, "1.5\tC1\t10.0.0.1\t555\t10.0.0.2\t22\ttcp\tREJ")
            .unwrap()
            .unwrap();
        assert_eq!(ev.dst_port, Some(22));
        assert_eq!(ev.outcome, ConnOutcome::Rejected);
        assert_eq!(ev.bytes_out, None, "no orig_bytes column");
        let err = run(&mut p, "1.5\tC1\t10.0.0.1\t555\t10.0.0.2\tabc\ttcp\tREJ").unwrap_err();
        assert_eq!(err.to_string(), "field id.resp_p: 'abc' is not a port");
        let err = run(&mut p, "1.5\tC1\t-\t555\t10.0.0.2\t22\ttcp\tREJ").unwrap_err();
        assert_eq!(err.to_string(), "field id.orig_h: missing");
        let err = run(&mut p, "1.5\tC1").unwrap_err();
        assert_eq!(err.to_string(), "2 columns, but #fields names 8");
    }

    #[test]
    fn icmp_has_no_ports() {
        let mut p = ZeekTsv::default();
        for h in HEAD {
            run(&mut p, h).unwrap();
        }
        let ev = run(&mut p, "1.5\tC1\t10.0.0.1\t8\t10.0.0.2\t0\ticmp\tOTH")
            .unwrap()
            .unwrap();
        assert_eq!((ev.src_port, ev.dst_port), (None, None));
        assert_eq!(ev.outcome, ConnOutcome::Unknown);
    }

    #[test]
    fn header_problems_are_reported() {
        let mut p = ZeekTsv::default();
        let err = run(&mut p, "1.5\tC1").unwrap_err();
        assert_eq!(err.to_string(), "no #fields header before this line");
        assert!(run(&mut p, "#fields\tts\tuid").is_err());
        let mut p = ZeekTsv::default();
        run(&mut p, HEAD[2]).unwrap();
        let err = run(
            &mut p,
            "#types\tstring\tstring\taddr\tport\taddr\tport\tenum\tstring",
        )
        .unwrap_err();
        assert!(err.to_string().contains("column ts is \"string\""), "{err}");
        let mut p = ZeekTsv::default();
        assert!(run(&mut p, "#path\tdns").is_err());
        assert_eq!(
            run(&mut p, HEAD[2]).unwrap(),
            None,
            "reported once, on #path"
        );
        assert!(
            run(&mut p, "1.5\tC1")
                .unwrap_err()
                .to_string()
                .contains("dns")
        );
    }

    #[test]
    fn state_rebuilds_from_header() {
        let mut p = ZeekTsv::default();
        for h in HEAD {
            run(&mut p, h).unwrap();
        }
        run(&mut p, "#open\t2021").unwrap();
        let header = p.header();
        assert_eq!(header, HEAD);
        let mut q = ZeekTsv::default();
        for h in &header {
            run(&mut q, h).unwrap();
        }
        assert!(
            run(&mut q, "1.5\tC1\t10.0.0.1\t555\t10.0.0.2\t22\ttcp\tSF")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn conn_states() {
        for s in ["SF", "S1", "S2", "S3", "RSTO", "RSTR"] {
            assert_eq!(outcome(s), ConnOutcome::Established, "{s}");
        }
        for s in ["S0", "RSTOS0", "RSTRH", "SH", "SHR"] {
            assert_eq!(outcome(s), ConnOutcome::Attempted, "{s}");
        }
        assert_eq!(outcome("REJ"), ConnOutcome::Rejected);
        assert_eq!(outcome("OTH"), ConnOutcome::Unknown);
    }
}
