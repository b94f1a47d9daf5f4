//! No input makes a parser panic: arbitrary bytes, feed-like token soup and mutated real samples,
//! through every parser and through format detection. Line formats always return their feed
//! (bad lines are counted), whatever the bytes.

use picket_intel::{FeedFormat, LoadOptions, Origin, load_bytes, parse};
use proptest::prelude::*;

const ORIGIN: Origin<'static> = Origin {
    feed: "fuzz",
    file: "fuzz.txt",
};

const LINE_FORMATS: [FeedFormat; 6] = [
    FeedFormat::Firehol,
    FeedFormat::SpamhausDrop,
    FeedFormat::SpamhausJson,
    FeedFormat::Ipsum,
    FeedFormat::Plain,
    FeedFormat::TorExits,
];

fn run_all(bytes: &[u8]) -> Result<(), TestCaseError> {
    for format in FeedFormat::ALL {
        let result = parse(format, ORIGIN, bytes);
        if LINE_FORMATS.contains(&format) || format == FeedFormat::ZeekIntel {
            prop_assert!(result.is_ok(), "{format}: {:?}", result.err());
        }
    }
    for name in ["x", "a.netset", "stix.json", "exit-addresses", "misp.csv"] {
        let _ = load_bytes("fuzz", name, bytes, &LoadOptions::default());
        let _ = FeedFormat::detect(bytes, name);
    }
    Ok(())
}

/// Pieces of every format, so that random lines reach deep into the parsers.
const TOKENS: &[&str] = &[
    "1.2.3.4",
    "10.0.0.0/8",
    "2001:db8::1",
    "::ffff:1.2.3.4",
    "/",
    "33",
    "0",
    "\t",
    " ",
    "\n",
    "\r\n",
    "#",
    ";",
    "# Entries : ",
    "6273 subnets, 5 unique IPs",
    "# This File Date : ",
    "Mon Jun  1 04:30:09 UTC 2015",
    "# Last update: ",
    "Sat, 22 Aug 2026 03:00:29 +0200",
    "; SBL123",
    "ExitNode AB",
    "ExitAddress ",
    "Published ",
    "2016-10-30 09:05:30",
    "#fields\tindicator\tindicator_type",
    "Intel::ADDR",
    "Intel::SUBNET",
    "-",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "'",
    ":",
    ",",
    "\"cidr\"",
    "\"type\":\"metadata\"",
    "\"timestamp\"",
    "\"objects\"",
    "\"bundle\"",
    "\"indicator\"",
    "\"pattern\"",
    "ipv4-addr:value",
    "ipv6-addr:value",
    "=",
    "OR",
    "AND",
    "IN",
    "ISSUBSET",
    "\\",
    "\"response\"",
    "\"Attribute\"",
    "\"value\"",
    "\"ip-dst|port\"",
    "|",
    "uuid,event_id,category,type,value,comment,to_ids,date\n",
    "ip-src",
    "\u{feff}",
    "\u{e9}",
    "\u{1F600}",
    "\u{0}",
];

fn token_soup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..200)
        .prop_map(|t| t.concat().into_bytes())
}

fn fixtures() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    out.sort();
    out
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), prop::sample::select(TOKENS))
            .prop_map(|(i, t)| Edit::Insert(i, t.as_bytes().to_vec())),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Edit::Delete(i, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        run_all(&bytes)?;
    }

    #[test]
    fn feed_like_token_soup(bytes in token_soup()) {
        run_all(&bytes)?;
    }

    #[test]
    fn mutated_real_samples(which in any::<prop::sample::Index>(), edits in prop::collection::vec(edit(), 1..12)) {
        let samples = fixtures();
        let mut bytes = which.get(&samples).clone();
        for e in edits {
            let len = bytes.len().max(1);
            match e {
                Edit::Flip(i, b) => if !bytes.is_empty() { bytes[i % len] ^= b },
                Edit::Insert(i, t) => { let at = i % (bytes.len() + 1); bytes.splice(at..at, t); }
                Edit::Delete(i, n) => { let at = i % len; let end = (at + n).min(bytes.len()); if at < end { bytes.drain(at..end); } }
            }
        }
        run_all(&bytes)?;
    }
}
