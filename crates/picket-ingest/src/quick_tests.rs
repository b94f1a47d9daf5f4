//! The quick heads of JSON lines (`zeek_json::head`, `suricata::flow_head`) against the full
//! parse: on lines built from valid, missing, null, mistyped and out-of-range fields, unknown
//! fields with escapes, exponents and nesting, and duplicate keys, a quick head is only ever
//! given for a line the full parse makes an event of, and it is that event's head.

use proptest::prelude::*;

use crate::input::{Line, LineCtx};
use crate::suricata::{self, Suricata};
use crate::{EventHead, zeek_json};

/// One `"key":value` member, or nothing. The first of `values` is a right one, and it comes
/// most often: so that a good share of the lines are records a quick head is given for.
fn member(key: &'static str, values: &'static [&'static str]) -> impl Strategy<Value = String> {
    let first = values.first().copied().unwrap_or("null");
    prop_oneof![
        20 => Just(format!("\"{key}\":{first}")),
        4 => prop::sample::select(values).prop_map(move |v| format!("\"{key}\":{v}")),
        1 => Just(String::new()),
    ]
}

const NUMBERS: &[&str] = &[
    "22", "0", "65535", "65536", "-1", "2.5", "\"22\"", "null", "1e2",
];
const TIMES: &[&str] = &[
    "1714564800.5",
    "1714564800",
    "\"2024-05-01T12:00:00.5+0000\"",
    "\"2024-05-01T12:00:00Z\"",
    "\"x\"",
    "null",
    "true",
    "1e400",
];
const ADDRS: &[&str] = &[
    "\"77.90.185.20\"",
    "\"10.0.0.5\"",
    "\"::ffff:10.0.0.5\"",
    "\"10.0.0\"",
    "\"\\u0031\\u0030.0.0.5\"",
    "null",
    "5",
];
const PROTOS: &[&str] = &[
    "\"tcp\"", "\"TCP\"", "\"udp\"", "\"icmp\"", "6", "\"x\"", "null", "300",
];
const TEXTS: &[&str] = &[
    "\"SF\"",
    "\"REJ\"",
    "null",
    "7",
    "\"a\\\"b\"",
    "\"\\ud800\"",
];
const EXTRA: &[&str] = &[
    "\"x\":1",
    "\"x\":1e999",
    "\"x\":\"\\ud800\"",
    "\"x\":{\"y\":[1,2,{\"z\":null}]}",
    "\"x\":-0.5E-3",
    "\"x\":true",
    "\"x\":01",
    "\"x\":1.",
    "\"x\":-",
    "\"x\":nul",
    "\"x\":\"a\tb\"",
    "\"x\":\"\\/\\n\\q\"",
    "\"x\":\"\\/\\n\\\"\"",
    "\"x\":[1,]",
    "\"x\":[[[]],{}]",
    "\"x\":{\"y\" 1}",
    "\"x\\n\":1",
];

/// One of [`EXTRA`] (whole members: key and value), most often the first, or nothing.
fn extra() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => Just(EXTRA[0].to_owned()),
        8 => prop::sample::select(EXTRA).prop_map(str::to_owned),
        1 => Just(String::new()),
    ]
}

/// What may follow the object on its line.
const AFTER: &[&str] = &["", " ", "\r", " x", "}", ",", "{}"];

fn object(members: Vec<String>) -> String {
    let parts: Vec<String> = members.into_iter().filter(|m| !m.is_empty()).collect();
    format!("{{{}}}", parts.join(","))
}

fn zeek_line() -> impl Strategy<Value = String> {
    (
        (
            member("ts", TIMES),
            member("uid", TEXTS),
            member("id.orig_h", ADDRS),
            member("id.orig_p", NUMBERS),
            member("id.resp_h", ADDRS),
            member("id.resp_p", NUMBERS),
            member("proto", PROTOS),
        ),
        (
            member("duration", &["0.5", "1", "-1", "null", "\"1\""]),
            member("orig_bytes", NUMBERS),
            member("conn_state", TEXTS),
            extra(),
            prop_oneof![4 => Just(String::new()), 1 => Just("\"id\":{\"orig_h\":\"1.2.3.4\"}".to_owned()), 1 => Just("\"proto\":\"udp\"".to_owned())],
        ),
    )
        .prop_map(|((a, b, c, d, e, f, g), (h, i, j, k, l))| {
            object(vec![a, b, c, d, e, f, g, h, i, j, k, l])
        })
        .prop_flat_map(|line| {
            prop_oneof![
                4 => Just(line.clone()),
                1 => prop::sample::select(AFTER).prop_map(move |after| format!("{line}{after}")),
            ]
        })
}

fn eve_line() -> impl Strategy<Value = String> {
    (
        (
            member("timestamp", TIMES),
            member("flow_id", &["123", "\"123\"", "null", "1.5"]),
            member("event_type", &["\"flow\"", "\"alert\"", "\"dns\"", "null", "1"]),
            member("src_ip", ADDRS),
            member("src_port", NUMBERS),
            member("dest_ip", ADDRS),
            member("dest_port", NUMBERS),
        ),
        (
            member("proto", PROTOS),
            member(
                "flow",
                &[
                    "{\"start\":\"2024-05-01T12:00:00.5+0000\",\"end\":\"2024-05-01T12:00:01+0000\",\"bytes_toserver\":5,\"pkts_toclient\":0,\"state\":\"closed\",\"age\":1}",
                    "{\"start\":\"bad\"}",
                    "{\"bytes_toclient\":-5}",
                    "{\"state\":3}",
                    "{\"pkts_toserver\":1e3}",
                    "null",
                    "[]",
                    "{\"start\":null,\"end\":1714564800,\"pkts_toserver\":null}",
                    "{\"state\":\"a\\nb\",\"state\":\"c\"}",
                    "{\"start\":\"2024-05-01T12:00:00Z\",\"x\":[{\"y\":01}]}",
                ],
            ),
            member(
                "tcp",
                &["{\"tcp_flags_tc\":\"1b\",\"syn\":true}", "{\"tcp_flags_tc\":\"zz\"}", "{\"tcp_flags_ts\":5}", "{}", "3", "null", "{\"tcp_flags_tc\":\"1\\u0062\"}", "{\"tcp_flags_tc\":null,\"tcp_flags_ts\":\"\\t\"}"],
            ),
            extra(),
            prop_oneof![4 => Just(String::new()), 1 => Just("\"src_ip\":\"1.2.3.4\"".to_owned()), 1 => Just("\"event\":{\"event_type\":\"flow\"}".to_owned())],
        ),
    )
        .prop_map(|((a, b, c, d, e, f, g), (h, i, j, k, l))| object(vec![a, b, c, d, e, f, g, h, i, j, k, l]))
        .prop_flat_map(|line| {
            prop_oneof![
                4 => Just(line.clone()),
                1 => prop::sample::select(AFTER).prop_map(move |after| format!("{line}{after}")),
            ]
        })
}

fn full(line: &str, zeek: bool) -> Option<EventHead> {
    let now = || picket_model::Timestamp::UNIX_EPOCH;
    let ctx = LineCtx {
        file: "x",
        line: 1,
        now: &now,
    };
    let parsed = if zeek {
        zeek_json::parse(line, &ctx)
    } else {
        Suricata::default().parse(line, &ctx)
    };
    match parsed {
        Ok(Line::Event(ev)) => Some(EventHead::of(&ev)),
        _ => None,
    }
}

proptest! {
    #[test]
    fn a_zeek_json_quick_head_is_the_parsed_events(line in zeek_line()) {
        if let Some(head) = zeek_json::head(&line) {
            prop_assert_eq!(Some(head), full(&line, true), "{}", line);
        }
    }

    #[test]
    fn a_suricata_quick_head_is_the_parsed_events(line in eve_line()) {
        if let Some(head) = suricata::flow_head(&line) {
            prop_assert_eq!(Some(head), full(&line, false), "{}", line);
        }
    }
}

#[test]
fn plain_records_get_a_quick_head_and_odd_ones_do_not() {
    let zeek = r#"{"ts":1714564800.5,"uid":"C1e5","id.orig_h":"77.90.185.20","id.orig_p":4000,"id.resp_h":"10.0.0.5","id.resp_p":22,"proto":"tcp","local_orig":false,"conn_state":"SF"}"#;
    assert_eq!(zeek_json::head(zeek), full(zeek, true));
    assert!(zeek_json::head(zeek).is_some());
    for odd in [
        zeek.replace("\"local_orig\":false", "\"x\":1e999"),
        zeek.replace("\"local_orig\":false", "\"x\":\"\\ud800\""),
        zeek.replace("\"proto\":\"tcp\"", "\"proto\":\"tcp\",\"proto\":\"udp\""),
    ] {
        assert_eq!(zeek_json::head(&odd), None, "{odd}");
    }
    let eve = r#"{"timestamp":"2024-05-01T12:00:00.5+0000","flow_id":7,"event_type":"flow","src_ip":"77.90.185.20","src_port":4000,"dest_ip":"10.0.0.5","dest_port":22,"proto":"TCP","flow":{"bytes_toserver":5,"start":"2024-05-01T12:00:00.5+0000"},"tcp":{"tcp_flags_tc":"1b"}}"#;
    assert_eq!(suricata::flow_head(eve), full(eve, false));
    assert!(suricata::flow_head(eve).is_some());
    assert_eq!(
        suricata::flow_head(&eve.replace("\"flow\",", "\"alert\",")),
        None
    );
}
