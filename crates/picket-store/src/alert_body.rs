//! An alert's `body` as stored: its JSON, compressed.
//!
//! A body is 1-2 KB of JSON, most of it the same keys, reason names and CVSS vectors from one
//! alert to the next, and it is most of an alert's row: stored as text, 8,452 alerts added
//! 21 MB to a database, written twice (the WAL, then the checkpoint). zstd against a dictionary
//! of typical alert JSON ([`DICTIONARY_V1`]) makes a body about a fifth of its size, and one
//! body still decompresses on its own.
//!
//! Stored forms, told apart by their first byte:
//! - [`PACKED_V1`], then a zstd frame (with its content size and checksum) compressed against
//!   [`DICTIONARY_V1`];
//! - `{`: the JSON itself, as bodies were stored before schema version 11 (and as PostgreSQL's
//!   migration turned its text into bytes). Those are read as they are and packed when the
//!   alert is next updated.
//!
//! The dictionary is part of the format: a body packed against it can only be read with it, so
//! it never changes. A better one would be `v2.dict` with a tag of its own, beside this one.

use std::borrow::Cow;
use std::io::Cursor;
use std::sync::LazyLock;

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

/// The first byte of a body packed against [`DICTIONARY_V1`].
const PACKED_V1: u8 = 1;

/// Three alert bodies with made-up addresses and real CVEs outside any benchmark's inventory,
/// used as a raw-content dictionary: zstd copies what a body shares with them.
const DICTIONARY_V1: &[u8] = include_bytes!("alert_body/v1.dict");

/// A fast level (its literals are not Huffman-coded, a table each small body would pay for):
/// the benchmark's 8,452 bodies took 43 ms to pack against 69 ms at zstd's default level 3,
/// for 301 bytes a body on average instead of 267.
const LEVEL: i32 = -1;

/// The largest body [`unpack`] makes: far beyond any alert (one with a thousand
/// vulnerabilities is about 200 KB), small enough that a damaged frame header cannot make it
/// allocate much.
const MAX_BODY: usize = 16 << 20;

/// [`DICTIONARY_V1`] made ready once: preparing it takes longer than packing a body.
static ENCODER: LazyLock<Result<EncoderDictionary<'static>, String>> =
    LazyLock::new(|| EncoderDictionary::try_copy(DICTIONARY_V1, LEVEL).map_err(zstd_error));
static DECODER: LazyLock<Result<DecoderDictionary<'static>, String>> =
    LazyLock::new(|| DecoderDictionary::try_copy(DICTIONARY_V1).map_err(zstd_error));

/// Packs alert JSON, one body after another, each in a frame of its own (one zstd context
/// serves them all).
pub(crate) struct Packer {
    zstd: Compressor<'static>,
}

impl Packer {
    pub(crate) fn new() -> Result<Self, String> {
        let dictionary = ENCODER.as_ref().map_err(Clone::clone)?;
        let mut zstd = Compressor::with_prepared_dictionary(dictionary).map_err(zstd_error)?;
        zstd.include_checksum(true).map_err(zstd_error)?;
        zstd.include_contentsize(true).map_err(zstd_error)?;
        Ok(Self { zstd })
    }

    /// `json` packed: [`PACKED_V1`] and its zstd frame.
    pub(crate) fn pack(&mut self, json: &str) -> Result<Vec<u8>, String> {
        let mut packed = Vec::with_capacity(1 + zstd::zstd_safe::compress_bound(json.len()));
        packed.push(PACKED_V1);
        // The frame goes after the tag: zstd writes from the cursor's position.
        let mut frame = Cursor::new(packed);
        frame.set_position(1);
        self.zstd
            .compress_to_buffer(json.as_bytes(), &mut frame)
            .map_err(zstd_error)?;
        Ok(frame.into_inner())
    }
}

/// The JSON of a stored body, in either form; what is wrong with it otherwise. Never panics,
/// whatever the bytes.
pub(crate) fn unpack(stored: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    match stored.split_first() {
        Some((&PACKED_V1, frame)) => {
            let size = match zstd::zstd_safe::get_frame_content_size(frame) {
                Ok(Some(size)) => size,
                Ok(None) => return Err("the packed body does not say its size".into()),
                Err(_) => return Err("the packed body is not a zstd frame".into()),
            };
            let size = usize::try_from(size)
                .ok()
                .filter(|&size| size <= MAX_BODY)
                .ok_or_else(|| format!("the packed body claims {size} bytes"))?;
            let dictionary = DECODER.as_ref().map_err(Clone::clone)?;
            let mut zstd =
                Decompressor::with_prepared_dictionary(dictionary).map_err(zstd_error)?;
            let json = zstd.decompress(frame, size).map_err(zstd_error)?;
            if json.len() == size {
                Ok(Cow::Owned(json))
            } else {
                Err(format!(
                    "the packed body holds {} bytes, not the {size} it claims",
                    json.len()
                ))
            }
        }
        Some((b'{', _)) => Ok(Cow::Borrowed(stored)),
        Some((tag, _)) => Err(format!("unknown body format {tag}")),
        None => Err("the body is empty".into()),
    }
}

fn zstd_error(e: std::io::Error) -> String {
    format!("zstd: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An alert body from a run over generated logs, its client in a documentation network:
    /// of it, the dictionary holds only the keys and common values (feed names, CVSS vectors).
    const BODY: &str = r#"{"kind":"bad-client-to-vulnerable-app","dedup_key":"bad-client-to-vulnerable-app|192.0.2.201|10.0.1.30:80|tcp|apache:http_server 2.4.49|2024-05-01T12:00:31.381337Z","window_start":"2024-05-01T12:00:31.381337Z","client":"192.0.2.201","host":"10.0.1.30","port":80,"transport":"tcp","application":{"product":"http_server","vendor":"apache","version":"2.4.49"},"intel":[{"feed":"firehol_level1","network":"192.0.2.0/24","category":"attacks"},{"feed":"spamhaus_edrop","network":"192.0.2.0/24","category":"reputation"}],"vulns":[{"id":"CVE-2021-42013","cvss":{"version":"3.1","base_score":9.8,"severity":"critical","vector":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},"kev":true,"kev_date_added":"2021-11-03","confidence":"exact"},{"id":"CVE-2021-41773","cvss":{"version":"3.1","base_score":7.5,"severity":"high","vector":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"},"kev":true,"kev_date_added":"2021-11-03","confidence":"exact"}],"first_seen":"2024-05-01T12:00:31.381337Z","last_seen":"2024-05-01T12:00:31.381337Z","connections":1,"established":1,"attempted":0,"bytes_to_server":27022,"bytes_to_client":1767,"packets_to_server":59,"packets_to_client":31,"max_bytes_per_connection":28789,"severity":"critical","reasons":[{"feeds":{"client":"192.0.2.201","feeds":["firehol_level1","spamhaus_edrop"],"points":2,"cap":3}},{"worst-cvss":{"id":"CVE-2021-42013","version":"3.1","score":9.8,"band":"critical","points":3}},{"kev":{"ids":["CVE-2021-42013","CVE-2021-41773"],"points":2}},{"connections":{"connections":1,"established":1,"points":2}},{"transfer":{"largest":28789,"threshold":10000,"points":2}},{"score":{"points":11,"severity":"critical","bands":{"low":2,"medium":3,"high":5,"critical":8}}}],"sources":[{"file":"conn.log","line":3165}]}"#;

    /// [`BODY`] as this build packed it when the format was made: a body packed against
    /// [`DICTIONARY_V1`] must read back as long as the store keeps it.
    const BODY_PACKED_V1: &[u8] = include_bytes!("alert_body/body.v1.packed");

    #[test]
    fn a_body_packs_to_a_fifth_of_its_json_and_back() {
        let packed = Packer::new().unwrap().pack(BODY).unwrap();
        assert_eq!(packed[0], PACKED_V1);
        assert!(
            packed.len() * 5 < BODY.len(),
            "{} bytes packed from {}",
            packed.len(),
            BODY.len()
        );
        assert_eq!(unpack(&packed).unwrap(), BODY.as_bytes());
    }

    #[test]
    fn the_packer_packs_body_after_body_alike() {
        let mut packer = Packer::new().unwrap();
        let first = packer.pack(BODY).unwrap();
        assert_eq!(unpack(&packer.pack("{}").unwrap()).unwrap(), &b"{}"[..]);
        assert_eq!(packer.pack(BODY).unwrap(), first);
    }

    #[test]
    fn a_body_packed_by_the_first_format_still_reads() {
        assert_eq!(unpack(BODY_PACKED_V1).unwrap(), BODY.as_bytes());
    }

    #[test]
    fn json_stored_as_it_is_reads_as_it_is() {
        assert!(matches!(unpack(BODY.as_bytes()), Ok(Cow::Borrowed(b)) if b == BODY.as_bytes()));
    }

    #[test]
    fn damaged_bodies_are_errors() {
        let packed = Packer::new().unwrap().pack(BODY).unwrap();
        for len in 0..packed.len() {
            assert!(unpack(&packed[..len]).is_err(), "cut to {len} bytes");
        }
        let mut flipped = packed.clone();
        let last = flipped.len() - 6;
        flipped[last] ^= 0x40;
        assert!(unpack(&flipped).is_err(), "a flipped bit past the checksum");
        let err = unpack(&[9, 1, 2]).unwrap_err();
        assert!(err.contains("unknown body format 9"), "{err}");
    }

    #[test]
    fn a_frame_claiming_a_huge_body_is_refused_before_allocating() {
        // A frame header (magic; single segment, 8-byte content size) claiming a terabyte.
        let mut frame = vec![PACKED_V1, 0x28, 0xb5, 0x2f, 0xfd, 0xe0];
        frame.extend_from_slice(&(1u64 << 40).to_le_bytes());
        let err = unpack(&frame).unwrap_err();
        assert!(err.contains("claims"), "{err}");
    }

    proptest! {
        #[test]
        fn unpack_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = unpack(&bytes);
        }

        #[test]
        fn unpack_never_panics_on_a_mangled_body(at in 0usize..400, byte in any::<u8>()) {
            let mut packed = Packer::new().unwrap().pack(BODY).unwrap();
            let at = at % packed.len();
            packed[at] = byte;
            if let (Ok(json), PACKED_V1) = (unpack(&packed), packed[0]) {
                // The checksum lets nothing else through.
                prop_assert_eq!(&*json, BODY.as_bytes());
            }
        }
    }
}
