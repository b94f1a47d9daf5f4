//! No input makes a parser panic: arbitrary bytes, and lines assembled from each format's own
//! pieces (which reach far deeper into the parsers than random bytes do).

use picket_ingest::{EventReader, Input, Stats};
use proptest::prelude::*;

use crate::fixed_clock;

/// Reads everything and checks the counters add up.
fn read_all(bytes: &[u8], input: Option<Input>) -> Stats {
    let mut r = EventReader::new(bytes, "fuzz", input).with_clock(fixed_clock);
    let mut items = 0u64;
    for item in r.by_ref() {
        if let Ok(ev) = item {
            // Every event points back at a line that exists.
            assert!(ev.source.line >= 1);
        }
        items += 1;
    }
    let s = r.stats();
    if r.input().is_some() {
        assert_eq!(s.lines, s.events + s.skipped + s.errors);
        assert_eq!(items, s.events + s.errors);
    }
    s
}

/// Lines made of `pieces` joined by `seps`.
fn lines_of(
    pieces: &'static [&'static str],
    seps: &'static [&'static str],
) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => proptest::sample::select(pieces).prop_map(str::to_owned),
        1 => "[ -~\\t\\\\]{0,12}",
    ];
    let line = (
        proptest::collection::vec(piece, 0..24),
        proptest::sample::select(seps),
    )
        .prop_map(|(p, sep)| p.join(sep));
    proptest::collection::vec(line, 0..12).prop_map(|ls| ls.join("\n"))
}

const ZEEK_TSV: &[&str] = &[
    "#separator \\x09",
    "#separator \\x2c",
    "#separator \\x",
    "#fields",
    "#types",
    "#unset_field",
    "#empty_field",
    "#path",
    "conn",
    "dns",
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "orig_pkts",
    "resp_pkts",
    "time",
    "addr",
    "port",
    "count",
    "interval",
    "enum",
    "string",
    "1632928690.500620",
    "-1.5",
    "99999999999999999999.9",
    "10.0.0.1",
    "::1",
    "65535",
    "65536",
    "tcp",
    "icmp",
    "unknown_transport",
    "S0",
    "SF",
    "REJ",
    "-",
    "(empty)",
];

const JSON_KEYS: &[&str] = &[
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "id",
    "orig_h",
    "proto",
    "duration",
    "orig_bytes",
    "resp_pkts",
    "conn_state",
    "timestamp",
    "event_type",
    "src_ip",
    "dest_ip",
    "src_port",
    "dest_port",
    "flow",
    "start",
    "end",
    "state",
    "tcp",
    "tcp_flags_tc",
    "tcp_flags_ts",
    "direction",
    "flow_id",
    "pkts_toclient",
    "bytes_toserver",
    "src",
    "dst",
    "outcome",
    "bytes_out",
];

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        proptest::sample::select(
            &[
                "flow",
                "alert",
                "dns",
                "tcp",
                "TCP",
                "IPv6-ICMP",
                "10.0.0.1",
                "2001:db8::1",
                "2023-09-18T06:13:41.532140+0000",
                "1b",
                "14",
                "zz",
                "new",
                "closed",
                "to_client",
                "SF",
                "REJ",
                "established",
                "1632928690.5",
            ][..]
        )
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 48, 8, |inner| {
        proptest::collection::vec((proptest::sample::select(JSON_KEYS), inner), 0..10)
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
    })
}

const VPC: &[&str] = &[
    "version",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "interface-id",
    "${srcaddr}",
    "${",
    "2",
    "6",
    "58",
    "300",
    "10.0.0.1",
    "fd00::1",
    "1418530010",
    "ACCEPT",
    "REJECT",
    "OK",
    "NODATA",
    "SKIPDATA",
    "-",
];

const CONNTRACK: &[&str] = &[
    "[NEW]",
    "[UPDATE]",
    "[DESTROY]",
    "[1700000000.5     ]",
    "[1.2.3]",
    "[",
    "]",
    "ipv4",
    "ipv6",
    "2",
    "tcp",
    "udp",
    "icmp",
    "6",
    "17",
    "1",
    "120",
    "SYN_SENT",
    "CLOSE",
    "src=10.0.0.1",
    "dst=10.0.0.2",
    "src=fd00::1",
    "sport=1",
    "dport=99999",
    "packets=3",
    "bytes=",
    "id=5",
    "type=8",
    "delta-time=1.5",
    "[UNREPLIED]",
    "[ASSURED]",
    "=",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        read_all(&bytes, None);
        for input in Input::ALL {
            read_all(&bytes, Some(input));
        }
    }

    #[test]
    fn zeek_tsv_lines(text in lines_of(ZEEK_TSV, &["\t", ",", " "])) {
        read_all(text.as_bytes(), Some(Input::ZeekTsv));
        read_all(text.as_bytes(), None);
    }

    #[test]
    fn json_lines(values in proptest::collection::vec(json_value(), 0..8)) {
        let text: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let text = text.join("\n");
        for input in [Input::ZeekJson, Input::Suricata, Input::Ndjson] {
            read_all(text.as_bytes(), Some(input));
        }
        read_all(text.as_bytes(), None);
    }

    #[test]
    fn vpc_lines(text in lines_of(VPC, &[" ", "  ", "\t"])) {
        read_all(text.as_bytes(), Some(Input::VpcFlow));
        read_all(text.as_bytes(), None);
    }

    #[test]
    fn conntrack_lines(text in lines_of(CONNTRACK, &[" ", "\t"])) {
        read_all(text.as_bytes(), Some(Input::Conntrack));
        read_all(text.as_bytes(), None);
    }
}
