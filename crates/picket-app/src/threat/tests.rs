//! The batched pipeline against reading one event at a time: on generated logs (Zeek TSV with
//! header changes mid-file, Suricata EVE with netflow pairs, Zeek JSON) with feed hits, bad lines
//! and duplicates, parsing in batches on any number of threads must hand the sink exactly the
//! alerts, notices, reader stats and detector counts of the sequential read.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use picket_detect::threat::{Inventory, ThreatDetector, ThreatSettings};
use picket_intel::IntelTable;
use picket_model::{
    Application, Confidence, Cvss, CvssSeverity, CvssVersion, HomeNet, Indicator, Transport,
    VulnMatch,
};
use proptest::prelude::*;

use super::*;
use crate::options::SourceSpec;

/// Listed by one feed.
const BAD: &str = "77.90.185.20";
/// Listed by two feeds.
const WORSE: &str = "45.9.20.7";
const CLEAN: &str = "8.8.4.4";
/// Inside the home network.
const HOME: &str = "10.0.9.9";
/// Runs a vulnerable OpenSSH on 22 and an nginx without known flaws on 80.
const HOST: &str = "10.0.0.5";
const CLIENTS: [&str; 4] = [BAD, WORSE, CLEAN, HOME];
const T0: i64 = 1_714_564_800;

/// Everything the sink was handed, in order.
#[derive(Default)]
struct Record(Vec<String>);

impl ThreatSink for Record {
    fn alert(&mut self, stored: StoredAlert<'_>) -> Result<(), AppError> {
        let json = serde_json::to_string(stored.alert)?;
        self.0
            .push(format!("alert {} {:?} {json}", stored.number, stored.kind));
        Ok(())
    }

    fn notice(&mut self, notice: Notice<'_>) {
        self.0.push(format!("{notice:?}"));
    }
}

fn detector() -> ThreatDetector {
    let intel = IntelTable::build(vec![
        Indicator::new(format!("{BAD}/32").parse().unwrap(), "ipsum"),
        Indicator::new("45.9.20.0/24".parse().unwrap(), "firehol_level1"),
        Indicator::new(format!("{WORSE}/32").parse().unwrap(), "ipsum"),
    ])
    .unwrap();
    let host: IpAddr = HOST.parse().unwrap();
    let ssh = Application::new("openssh")
        .with_vendor("openbsd")
        .with_version("9.2p1");
    let matched = VulnMatch {
        vuln_id: "CVE-2024-6387".into(),
        application: ssh.clone(),
        confidence: Confidence::VersionRange,
        why: String::new(),
        cvss: Some(Cvss {
            version: CvssVersion::V3_1,
            base_score: 8.1,
            severity: CvssSeverity::from_score(8.1),
            vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H".into(),
        }),
        kev: None,
        epss: None,
    };
    let mut inventory = Inventory::new();
    inventory.insert(host, 22, Transport::Tcp, ssh, &[matched]);
    inventory.insert(host, 80, Transport::Tcp, Application::new("nginx"), &[]);
    let settings = ThreatSettings {
        window: Duration::from_secs(600),
        min_feeds: 1,
    };
    ThreatDetector::new(
        Arc::new(intel),
        inventory,
        HomeNet::default(),
        settings,
        Vec::new(),
    )
    .unwrap()
}

/// Reads the file at `path` once, in batches as `how` says, or one event at a time (`None`);
/// returns what the sink saw.
fn run(path: &std::path::Path, how: Option<Batching>) -> Vec<String> {
    let store = picket_store::open("sqlite::memory:").unwrap();
    let mut sink = Record::default();
    let mut pipeline = Pipeline {
        store: &store,
        detector: detector(),
        sink: &mut sink,
        blocker: None,
        numbers: HashMap::default(),
        numbered: 0,
        new_alerts: 0,
        updated_alerts: 0,
        last_flush: Instant::now(),
        // One flush at the end: a flush in between would depend on the wall clock.
        flush_every: Duration::from_secs(3600),
    };
    let shutdown = Shutdown::new();
    let mut source = OnceSource::open(&SourceSpec::File(path.to_owned()), None).unwrap();
    let read = match how {
        Some(how) => pipeline.read_source(&mut source, how, &shutdown),
        None => one_at_a_time(&mut pipeline, &mut source),
    };
    if let Err(e) = read {
        pipeline.sink.notice(Notice::KnowledgeFailed(&e));
    }
    let stats = source.stats();
    pipeline.sink.notice(Notice::SourceRead {
        source: "events.log",
        stats: &stats,
    });
    pipeline.flush(None).unwrap();
    pipeline.summary();
    sink.0
}

/// The pipeline's loop before batching: each event whole, through `observe`.
fn one_at_a_time(pipeline: &mut Pipeline<'_>, source: &mut OnceSource) -> Result<(), AppError> {
    let mut bad = 0u64;
    while let Some(item) = source.next_event() {
        match item {
            Ok(ev) => pipeline.detector.record(&ev),
            Err(e) if e.is_line_error() => {
                bad += 1;
                if bad <= SHOWN_BAD_LINES {
                    pipeline.sink.notice(Notice::SkippedLine(&e));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// One generated line: a connection, or something a reader must refuse or skip.
#[derive(Debug, Clone)]
enum Row {
    Conn {
        dt: i64,
        client: usize,
        port: u16,
        bytes: u32,
    },
    /// The line before, again.
    Duplicate,
    Bad(usize),
    Blank,
}

fn row() -> impl Strategy<Value = Row> {
    prop_oneof![
        12 => (-30i64..400, 0..CLIENTS.len(), prop_oneof![Just(22u16), Just(80), Just(443)], 0u32..5000)
            .prop_map(|(dt, client, port, bytes)| Row::Conn { dt, client, port, bytes }),
        2 => Just(Row::Duplicate),
        2 => (0usize..4).prop_map(Row::Bad),
        1 => Just(Row::Blank),
    ]
}

const ZEEK_HEADER: &str = "#separator \\x09\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_bytes\tconn_state\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tstring\n";
/// The same columns in another order, as a rotated log's header would declare them.
const ZEEK_REORDERED: &str =
    "#fields\tid.orig_h\tts\tid.resp_h\tid.resp_p\tproto\tuid\tid.orig_p\tconn_state\torig_bytes\n";

/// Rows as Zeek TSV; `switch_at` re-declares the columns in another order from that row on;
/// with `crlf` the rows (not the header) end in CR LF.
fn zeek_tsv(rows: &[Row], switch_at: usize, crlf: bool) -> Vec<u8> {
    let mut out = ZEEK_HEADER.as_bytes().to_vec();
    let mut t = T0;
    let mut last = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let reordered = i >= switch_at;
        if i == switch_at {
            out.extend_from_slice(ZEEK_REORDERED.as_bytes());
        }
        let line: Vec<u8> = match r {
            Row::Conn {
                dt,
                client,
                port,
                bytes,
            } => {
                t += dt;
                let (c, state) = (CLIENTS[*client], if bytes % 3 == 0 { "S0" } else { "SF" });
                let text = if reordered {
                    format!("{c}\t{t}.5\t{HOST}\t{port}\ttcp\tC{i}\t40000\t{state}\t{bytes}")
                } else {
                    format!("{t}.5\tC{i}\t{c}\t40000\t{HOST}\t{port}\ttcp\t{bytes}\t{state}")
                };
                text.into_bytes()
            }
            Row::Duplicate => last.clone(),
            Row::Bad(0) => {
                format!("{t}.5\tC{i}\t{BAD}\t40000\t{HOST}\tabc\ttcp\t1\tSF").into_bytes()
            }
            Row::Bad(1) => format!("{t}.5\tC{i}\t-\t40000\t{HOST}\t22\ttcp\t1\tSF").into_bytes(),
            Row::Bad(2) => format!("{t}.5\tC{i}").into_bytes(),
            Row::Bad(_) => b"\xff\xfe\tbroken".to_vec(),
            Row::Blank => Vec::new(),
        };
        out.extend_from_slice(&line);
        if crlf {
            out.push(b'\r');
        }
        out.push(b'\n');
        last = line;
    }
    out
}

/// Rows as Suricata EVE: flow, alert and netflow pairs (which depend on the record before
/// them), a record of a type that is skipped, and bad lines.
fn suricata(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut t = T0;
    let mut last = String::new();
    for (i, r) in rows.iter().enumerate() {
        let line = match r {
            Row::Conn {
                dt,
                client,
                port,
                bytes,
            } => {
                t += dt;
                let c = CLIENTS[*client];
                let common = format!(
                    r#""timestamp":"{t}.5","flow_id":{i},"src_ip":"{c}","src_port":40000,"dest_ip":"{HOST}","dest_port":{port},"proto":"TCP""#
                );
                match bytes % 5 {
                    0 => {
                        format!(
                            r#"{{{common},"event_type":"netflow","netflow":{{"bytes":{bytes},"pkts":3}}}}"#
                        ) + "\n"
                            + &format!(
                                r#"{{"timestamp":"{t}.6","flow_id":{i},"src_ip":"{HOST}","src_port":{port},"dest_ip":"{c}","dest_port":40000,"proto":"TCP","event_type":"netflow","netflow":{{"bytes":9,"pkts":1}},"tcp":{{"tcp_flags":"12"}}}}"#
                            )
                    }
                    1 => {
                        format!(r#"{{{common},"event_type":"alert","alert":{{"signature":"x"}}}}"#)
                    }
                    2 => format!(r#"{{{common},"event_type":"dns"}}"#),
                    _ => format!(
                        r#"{{{common},"event_type":"flow","flow":{{"bytes_toserver":{bytes},"pkts_toserver":2,"bytes_toclient":0,"pkts_toclient":0,"state":"new"}}}}"#
                    ),
                }
            }
            Row::Duplicate => last.clone(),
            Row::Bad(0) => format!(r#"{{"timestamp":"{t}","event_type":"flow","src_ip":"x"}}"#),
            Row::Bad(1) => r#"{"event_type":"flow","#.to_owned(),
            Row::Bad(2) => r#"{"timestamp":"x"}"#.to_owned(),
            Row::Bad(_) => "not json".to_owned(),
            Row::Blank => String::new(),
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        last = line;
    }
    out
}

/// Rows as Zeek JSON lines.
fn zeek_json(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut t = T0;
    let mut last = String::new();
    for (i, r) in rows.iter().enumerate() {
        let line = match r {
            Row::Conn {
                dt,
                client,
                port,
                bytes,
            } => {
                t += dt;
                let c = CLIENTS[*client];
                format!(
                    r#"{{"ts":{t}.5,"uid":"C{i}","id.orig_h":"{c}","id.orig_p":40000,"id.resp_h":"{HOST}","id.resp_p":{port},"proto":"tcp","orig_bytes":{bytes},"conn_state":"SF"}}"#
                )
            }
            Row::Duplicate => last.clone(),
            Row::Bad(0) => format!(r#"{{"ts":{t},"id.orig_h":"{BAD}","proto":"tcp"}}"#),
            Row::Bad(1) => r#"{"ts":1,"#.to_owned(),
            Row::Bad(2) => {
                format!(r#"{{"ts":"x","id.orig_h":"{BAD}","id.resp_h":"{HOST}","proto":"tcp"}}"#)
            }
            Row::Bad(_) => "[1]".to_owned(),
            Row::Blank => String::new(),
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        last = line;
    }
    out
}

/// `log` written to a file of its own (its path is in every event's source).
fn written(log: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.log");
    std::fs::write(&path, log).unwrap();
    (dir, path)
}

fn check(log: &[u8], threads: usize, lines: usize) -> Result<(), TestCaseError> {
    let (_dir, log) = written(log);
    let one = run(&log, None);
    prop_assert!(
        one.iter().any(|l| l.starts_with("Summary")),
        "no summary: {one:?}"
    );
    for threads in [1, threads] {
        let batched = run(&log, Some(Batching { threads, lines }));
        prop_assert_eq!(
            &batched,
            &one,
            "{} threads, batches of {} lines",
            threads,
            lines
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn zeek_tsv_batched_is_one_at_a_time(
        rows in prop::collection::vec(row(), 1..160),
        switch in 0usize..200,
        crlf in any::<bool>(),
        threads in 2usize..5,
        lines in 1usize..9,
    ) {
        check(&zeek_tsv(&rows, switch, crlf), threads, lines)?;
    }

    #[test]
    fn suricata_batched_is_one_at_a_time(
        rows in prop::collection::vec(row(), 1..120),
        threads in 2usize..5,
        lines in 1usize..9,
    ) {
        check(&suricata(&rows), threads, lines)?;
    }

    #[test]
    fn zeek_json_batched_is_one_at_a_time(
        rows in prop::collection::vec(row(), 1..120),
        threads in 2usize..5,
        lines in 1usize..9,
    ) {
        check(&zeek_json(&rows), threads, lines)?;
    }
}

#[test]
fn the_generated_logs_raise_alerts_and_refuse_lines() {
    let rows: Vec<Row> = (0..40)
        .map(|i| match i % 8 {
            6 => Row::Bad(i % 4),
            7 => Row::Duplicate,
            _ => Row::Conn {
                dt: 7,
                client: i % 3,
                port: 22,
                bytes: i as u32 * 7,
            },
        })
        .collect();
    for log in [zeek_tsv(&rows, 20, true), suricata(&rows), zeek_json(&rows)] {
        let (_dir, log) = written(&log);
        let seen = run(
            &log,
            Some(Batching {
                threads: 2,
                lines: 3,
            }),
        );
        assert!(
            seen.iter().any(|l| l.starts_with("alert 1 New")),
            "{seen:?}"
        );
        assert!(
            seen.iter().any(|l| l.starts_with("SkippedLine")),
            "{seen:?}"
        );
        assert_eq!(seen, run(&log, None));
    }
}
