//! The screened read (on two threads, in batches of three lines) against reading one line at a
//! time, on every fixture: real logs written by Zeek, Suricata and AWS, and the hand-written
//! ones with bad rows. Each screen here takes none, all or half of the events whole.

use std::fs::File;
use std::io::BufReader;
use std::ops::ControlFlow;
use std::path::PathBuf;

use picket_ingest::{Batching, EventHead, EventReader, Input, Screened};

use crate::fixed_clock;

const FIXTURES: [&str; 13] = [
    "aws_network_firewall.log",
    "aws_vpc_flowlogs_v2_examples_extracted.log",
    "conntrack.log",
    "conntrack_manual_list.log",
    "events.ndjson",
    "suricata_eve.json",
    "vpc_custom.log",
    "zeek_conn.json",
    "zeek_conn_brimdata_zed.log",
    "zeek_conn_errors.log",
    "zeek_conn_root_sample.log",
    "zeek_conn_ssh_basic_baseline.log",
    "zeek_conn_tsv_mode.log",
];

/// Whether a screen turns down the event of this head.
type TurnsDown = fn(&EventHead) -> bool;

fn reader(name: &str) -> EventReader<BufReader<File>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    EventReader::new(BufReader::new(File::open(path).unwrap()), name, None).with_clock(fixed_clock)
}

#[test]
fn every_fixture_reads_screened_as_one_line_at_a_time() {
    let screens: [(&str, TurnsDown); 3] = [
        ("none turned down", |_| false),
        ("all turned down", |_| true),
        ("odd ports turned down", |h| {
            h.dst_port.unwrap_or(0) % 2 == 1
        }),
    ];
    let mut exceptions = 0;
    for name in FIXTURES {
        for (what, down) in screens {
            let mut one = reader(name);
            let want: Vec<_> = one.by_ref().collect();
            let tsv = one.input() == Some(Input::ZeekTsv);
            let mut want_stats = one.stats();

            let mut batched = reader(name);
            let mut got = Vec::new();
            let screen = |h: &EventHead| down(h).then_some(*h);
            let how = Batching {
                threads: 2,
                lines: 3,
            };
            batched.read_screened(how, &screen, &mut |item| {
                got.push(item);
                ControlFlow::Continue(())
            });
            assert_eq!(got.len(), want.len(), "{name}, {what}");
            for (got, want) in got.iter().zip(&want) {
                match (got, want) {
                    (Screened::Event(ev), Ok(w)) => assert_eq!(&**ev, w, "{name}, {what}"),
                    (Screened::Head { verdict, .. }, Ok(w)) => {
                        assert_eq!(*verdict, EventHead::of(w), "{name}, {what}")
                    }
                    (Screened::Error(e), Err(w)) => {
                        assert_eq!(e.to_string(), w.to_string(), "{name}, {what}")
                    }
                    // The one deliberate difference: a row turned down on its head.
                    (Screened::Head { .. }, Err(w)) if tsv && w.is_outside_zeek_tsv_head() => {
                        exceptions += 1;
                        want_stats.errors -= 1;
                        want_stats.events += 1;
                    }
                    _ => panic!("{name}, {what}: {got:?} where one at a time read {want:?}"),
                }
            }
            assert_eq!(batched.stats(), want_stats, "{name}, {what}");
        }
    }
    // zeek_conn_errors.log's row with a negative duration, under the screen that turns down all.
    assert_eq!(exceptions, 1);
}
