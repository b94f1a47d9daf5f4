//! Every fixture parsed, detected and snapshotted; the snapshots were checked by hand against
//! the fixture lines.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use picket_ingest::{ConnEvent, ConnOutcome, EventReader, Input, Stats};
use picket_model::{Direction, HomeNet};
use serde::Serialize;

use crate::fixed_clock;

#[derive(Debug, Serialize)]
struct Parsed {
    input: Option<Input>,
    stats: Stats,
    events: Vec<ConnEvent>,
    errors: Vec<String>,
}

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read(name: &str, input: Option<Input>) -> Parsed {
    let f = BufReader::new(File::open(path(name)).unwrap());
    let mut r = EventReader::new(f, name, input).with_clock(fixed_clock);
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for item in r.by_ref() {
        match item {
            Ok(ev) => events.push(ev),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Parsed {
        input: r.input(),
        stats: r.stats(),
        events,
        errors,
    }
}

/// Reads a fixture with detection, checks the format found and that choosing it explicitly
/// gives the same result, and returns what was parsed.
fn detected(name: &str, want: Input) -> Parsed {
    let auto = read(name, None);
    assert_eq!(auto.input, Some(want), "{name}: detected format");
    let explicit = read(name, Some(want));
    assert_eq!(auto.events, explicit.events, "{name}: auto vs explicit");
    assert_eq!(auto.errors, explicit.errors, "{name}: auto vs explicit");
    assert_eq!(
        auto.stats.lines,
        auto.stats.events + auto.stats.skipped + auto.stats.errors,
        "{name}: every line is counted once"
    );
    auto
}

fn outcomes(p: &Parsed) -> [usize; 4] {
    let n = |o| p.events.iter().filter(|e| e.outcome == o).count();
    [
        n(ConnOutcome::Established),
        n(ConnOutcome::Attempted),
        n(ConnOutcome::Rejected),
        n(ConnOutcome::Unknown),
    ]
}

#[test]
fn zeek_tsv_root_sample() {
    let p = detected("zeek_conn_root_sample.log", Input::ZeekTsv);
    assert_eq!(p.events.len(), 1);
    insta::assert_json_snapshot!(p);
}

#[test]
fn zeek_tsv_brimdata() {
    let p = detected("zeek_conn_brimdata_zed.log", Input::ZeekTsv);
    assert_eq!(p.errors, Vec::<String>::new());
    assert_eq!(p.events.len(), 92);
    // The sample is mostly scans: S0 and REJ rows outnumber the established ones.
    let [established, attempted, rejected, _] = outcomes(&p);
    assert!(attempted + rejected > established, "{:?}", outcomes(&p));
    insta::assert_json_snapshot!(p);
}

#[test]
fn zeek_tsv_written_with_logascii_tsv_mode() {
    // The same rows as the brimdata sample, as `LogAscii::tsv=T` writes them: one header row.
    let plain = detected("zeek_conn_tsv_mode.log", Input::ZeekTsv);
    assert_eq!(plain.errors, Vec::<String>::new());
    assert_eq!((plain.stats.events, plain.stats.skipped), (10, 1));
    let full = read("zeek_conn_brimdata_zed.log", None);
    let without_source = |events: &[ConnEvent]| -> Vec<ConnEvent> {
        events
            .iter()
            .map(|e| ConnEvent {
                source: full.events[0].source.clone(),
                ..e.clone()
            })
            .collect()
    };
    assert_eq!(
        without_source(&plain.events),
        without_source(&full.events[..10])
    );
}

#[test]
fn zeek_tsv_btest_baseline_masks_its_times() {
    let p = detected("zeek_conn_ssh_basic_baseline.log", Input::ZeekTsv);
    assert_eq!(p.events.len(), 0);
    assert_eq!(p.errors.len(), 25);
    assert!(
        p.errors
            .iter()
            .all(|e| e.contains(": field ts: 'XXXXXXXXXX.XXXXXX' is not a time"))
    );
    insta::assert_json_snapshot!(p.errors);
}

#[test]
fn zeek_tsv_bad_rows_are_reported_and_skipped() {
    let p = detected("zeek_conn_errors.log", Input::ZeekTsv);
    assert_eq!(
        p.errors,
        [
            "zeek_conn_errors.log:10: field id.resp_p: 'abc' is not a port",
            "zeek_conn_errors.log:11: field id.orig_h: '198.51.100.999' is not an IP address",
            "zeek_conn_errors.log:12: 5 columns, but #fields names 21",
            "zeek_conn_errors.log:13: field ts: 'yesterday' is not a time",
            "zeek_conn_errors.log:14: field duration: '-0.5' is not a duration",
        ]
    );
    assert_eq!(p.events.len(), 2);
    assert_eq!(p.events[1].bytes_out, None, "(empty) is unset");
    assert_eq!(p.events[1].bytes_in, Some(9000));
    insta::assert_json_snapshot!(p);
}

#[test]
fn zeek_json() {
    let p = detected("zeek_conn.json", Input::ZeekJson);
    assert_eq!(p.errors.len(), 2);
    insta::assert_json_snapshot!(p);
}

#[test]
fn suricata_eve() {
    let p = detected("suricata_eve.json", Input::Suricata);
    assert_eq!(p.stats.skipped, 2, "dns and stats records");
    assert_eq!(p.stats.skipped_types_text(), "1 dns, 1 stats");
    assert_eq!(outcomes(&p), [3, 1, 1, 2]);
    // The Suricata 7 alert is reported from the flow's originator, not the matching packet's.
    assert_eq!(p.events[5].src.to_string(), "192.168.100.237");
    insta::assert_json_snapshot!(p);
}

#[test]
fn aws_network_firewall_wraps_eve_records() {
    let p = detected("aws_network_firewall.log", Input::Suricata);
    assert_eq!(p.errors, Vec::<String>::new());
    assert_eq!(p.events.len(), 3, "two alerts and a netflow record");
    let netflow = &p.events[1];
    assert_eq!(netflow.src.to_string(), "216.160.83.61");
    assert_eq!(
        (netflow.dst_port, netflow.bytes_out),
        (Some(5060), Some(40))
    );
    assert_eq!(netflow.outcome, ConnOutcome::Attempted, "no reply record");
    insta::assert_json_snapshot!(p);
}

#[test]
fn vpc_default_v2() {
    let p = detected("aws_vpc_flowlogs_v2_examples_extracted.log", Input::VpcFlow);
    assert_eq!(p.events.len(), 5, "NODATA and SKIPDATA skipped");
    assert_eq!(p.stats.skipped, 3, "header, NODATA, SKIPDATA");
    insta::assert_json_snapshot!(p);
}

#[test]
fn vpc_custom_header() {
    let p = detected("vpc_custom.log", Input::VpcFlow);
    assert_eq!(p.events.len(), 4);
    insta::assert_json_snapshot!(p);
}

#[test]
fn conntrack() {
    let p = detected("conntrack.log", Input::Conntrack);
    assert_eq!(p.events.len(), 7);
    insta::assert_json_snapshot!(p);
}

#[test]
fn conntrack_listing_with_its_closing_summary() {
    let p = detected("conntrack_manual_list.log", Input::Conntrack);
    assert_eq!(p.errors, Vec::<String>::new(), "the summary is no bad line");
    assert_eq!((p.stats.events, p.stats.skipped), (2, 1));
    assert_eq!(
        (p.events[1].bytes_out, p.events[1].bytes_in),
        (Some(18_723), Some(144_731))
    );
    assert_eq!(outcomes(&p), [2, 0, 0, 0]);
}

#[test]
fn ndjson() {
    let p = detected("events.ndjson", Input::Ndjson);
    assert_eq!(p.events.len(), 3);
    insta::assert_json_snapshot!(p);
}

#[test]
fn home_net_directions_on_real_rows() {
    let home = HomeNet::default();
    let p = read("zeek_conn_brimdata_zed.log", None);
    let internal = p
        .events
        .iter()
        .filter(|e| home.direction(e) == Direction::Internal)
        .count();
    assert_eq!(
        internal,
        p.events.len(),
        "the brimdata sample is all RFC 1918"
    );
    let s = read("suricata_eve.json", None);
    let dirs: Vec<Direction> = s.events.iter().map(|e| home.direction(e)).collect();
    assert_eq!(dirs[0], Direction::Inbound);
    assert_eq!(dirs[3], Direction::Outbound);
}
