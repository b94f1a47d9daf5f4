//! Snapshots of every renderer over the fixture run. Review changes with `cargo insta review`.

use picket_model::{RunDiff, RunId};
use picket_report::{Format, diff, findings, runs, scan};

use crate::fixture;

fn render(f: impl FnOnce(&mut Vec<u8>) -> Result<(), picket_report::ReportError>) -> String {
    let mut out = Vec::new();
    f(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn scan_as(format: Format) -> String {
    render(|out| scan(out, format, &fixture::scan_run(), &fixture::findings()))
}

#[test]
fn scan_table() {
    insta::assert_snapshot!(scan_as(Format::Table));
}

#[test]
fn scan_json() {
    let text = scan_as(Format::Json);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    for key in [
        "run_id",
        "target_key",
        "started_at",
        "finished_at",
        "status",
        "profile",
        "hosts",
        "rechecks",
        "findings",
    ] {
        assert!(doc.get(key).is_some(), "scan JSON lacks {key}");
    }
    let host = &doc["hosts"][0];
    for key in [
        "address",
        "state",
        "reason",
        "ports",
        "extra_ports",
        "unprobed",
        "interruptions",
        "stats",
    ] {
        assert!(host.get(key).is_some(), "host lacks {key}");
    }
    let port = &host["ports"][0];
    for key in ["port", "protocol", "state", "reason", "rtt_us", "attempts"] {
        assert!(port.get(key).is_some(), "port lacks {key}");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn scan_ndjson() {
    let text = scan_as(Format::Ndjson);
    let types: Vec<String> = text
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["type"].as_str().unwrap().to_owned()
        })
        .collect();
    let count = |t: &str| types.iter().filter(|x| *x == t).count();
    assert_eq!(types[0], "run");
    assert_eq!(count("run"), 1);
    assert_eq!(count("host"), 3);
    assert_eq!(count("port"), 7);
    assert_eq!(count("recheck"), 3);
    assert_eq!(count("finding"), 4);
    let first_port: serde_json::Value = serde_json::from_str(
        text.lines()
            .find(|l| l.contains(r#""type":"port""#))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first_port["host"], "192.0.2.10");
    assert_eq!(first_port["run_id"], 42);
    insta::assert_snapshot!(text);
}

#[test]
fn scan_xml() {
    insta::assert_snapshot!(scan_as(Format::Xml));
}

#[test]
fn findings_every_format() {
    let all = fixture::findings();
    insta::assert_snapshot!(
        "findings_table",
        render(|out| findings(out, Format::Table, &all))
    );
    let json = render(|out| findings(out, Format::Json, &all));
    let array: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(array[0]["kind"], "open-port-recheck");
    assert_eq!(array[0]["verdict"], "closed");
    assert_eq!(array[0]["evidence"]["probes"][0]["outcome"], "reset");
    assert_eq!(array[2]["kind"], "new-open-port");
    assert!(array[2].get("verdict").is_none());
    insta::assert_snapshot!("findings_json", json);
    insta::assert_snapshot!(
        "findings_ndjson",
        render(|out| findings(out, Format::Ndjson, &all))
    );
}

#[test]
fn runs_every_format() {
    let all = fixture::run_summaries();
    insta::assert_snapshot!("runs_table", render(|out| runs(out, Format::Table, &all)));
    insta::assert_snapshot!("runs_json", render(|out| runs(out, Format::Json, &all)));
    insta::assert_snapshot!("runs_ndjson", render(|out| runs(out, Format::Ndjson, &all)));
}

#[test]
fn diff_every_format() {
    let d = fixture::run_diff();
    insta::assert_snapshot!("diff_table", render(|out| diff(out, Format::Table, &d)));
    insta::assert_snapshot!("diff_json", render(|out| diff(out, Format::Json, &d)));
    insta::assert_snapshot!("diff_ndjson", render(|out| diff(out, Format::Ndjson, &d)));
}

#[test]
fn empty_lists_say_so() {
    assert_eq!(
        render(|out| findings(out, Format::Table, &[])),
        "No findings.\n"
    );
    assert_eq!(render(|out| runs(out, Format::Table, &[])), "No runs.\n");
    assert_eq!(render(|out| findings(out, Format::Json, &[])), "[]\n");
    assert_eq!(render(|out| findings(out, Format::Ndjson, &[])), "");
    let nothing = RunDiff {
        from: RunId(1),
        to: RunId(2),
        hosts_up: vec![],
        hosts_down: vec![],
        changes: vec![],
        compared_ports: None,
    };
    assert_eq!(
        render(|out| diff(out, Format::Table, &nothing)),
        "Changes from run 1 to run 2\nNo changes.\n"
    );
}

/// A writer that fails, to show that I/O errors come back as errors and not as panics.
struct Broken;

impl std::io::Write for Broken {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_failures_are_errors() {
    let run = fixture::scan_run();
    for format in Format::ALL {
        let err = scan(&mut Broken, format, &run, &fixture::findings()).unwrap_err();
        assert!(!err.to_string().is_empty(), "{format}: {err}");
    }
}
