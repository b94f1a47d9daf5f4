//! Files written by other projects (see `tests/fixtures/README.md`), read end to end.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Db, fixture, interrupt, json, picket, spawn_follow};
use crate::threat::prepared;

/// (host:port, package, vulnerability ids) of every inventory entry.
fn inventory(db: &Db) -> Vec<(String, String, Vec<String>)> {
    let listed = json(&picket(&[
        "--db",
        db.arg(),
        "inventory",
        "--format",
        "json",
    ]));
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut ids: Vec<String> = e["vulnerabilities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["vuln_id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            (
                format!("{}:{}", e["host"].as_str().unwrap(), e["port"]),
                e["application"]["product"]
                    .as_str()
                    .unwrap_or("-")
                    .to_owned(),
                ids,
            )
        })
        .collect()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `picket vuln import FILE --at 10.0.0.5:443`, what it printed.
fn import_at_web_server(db: &Db, file: &str) -> String {
    stdout(&picket(&[
        "--db",
        db.arg(),
        "vuln",
        "import",
        file,
        "--at",
        "10.0.0.5:443",
    ]))
}

/// An inventory entry at 10.0.0.5:443.
fn at_web_server(product: &str, ids: &[&str]) -> (String, String, Vec<String>) {
    (
        "10.0.0.5:443".to_owned(),
        product.to_owned(),
        ids.iter().map(|id| (*id).to_owned()).collect(),
    )
}

#[test]
fn every_package_of_a_scanner_report_is_its_own_application() {
    let db = Db::new();
    let trivy = fixture("trivy-alpine-310.json");
    let said = import_at_web_server(&db, &trivy);
    assert!(said.contains("2 applications added"), "{said}");
    let both = ["CVE-2019-1549", "CVE-2019-1551"];
    let mut expected = vec![
        at_web_server("libcrypto1.1", &both),
        at_web_server("libssl1.1", &both),
    ];
    assert_eq!(inventory(&db), expected);

    // A second report at the same port adds its own packages; importing the first again
    // replaces its packages instead of doubling them.
    import_at_web_server(&db, &fixture("cyclonedx-trivy-pom.json"));
    let said = import_at_web_server(&db, &fixture("grype-images-presenter.json"));
    assert!(said.contains("2 applications added"), "{said}");
    import_at_web_server(&db, &trivy);
    expected.splice(
        0..0,
        [
            at_web_server("jackson-databind", &["CVE-2020-9548", "CVE-2021-20190"]),
            at_web_server("package-1", &["CVE-1999-0001"]),
            at_web_server("package-2", &["CVE-1999-0002"]),
        ],
    );
    assert_eq!(inventory(&db), expected);

    // Removing a report's source removes all of its packages.
    stdout(&picket(&[
        "--db",
        db.arg(),
        "inventory",
        "remove",
        "10.0.0.5:443",
        "--source",
        &format!("report:{trivy}"),
    ]));
    let left: Vec<String> = inventory(&db).into_iter().map(|(_, p, _)| p).collect();
    assert_eq!(left, ["jackson-databind", "package-1", "package-2"]);
}

#[test]
fn detect_says_which_record_types_it_skipped() {
    let db = Db::new();
    let eve = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../picket-detect/tests/fixtures/threat/suricata_docs_one_flow.json");
    let out = picket(&["--db", db.arg(), "detect", eve.to_str().unwrap()]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(
            "2 events from 5 lines, 0 bad lines skipped; \
             records of other types skipped: 1 anomaly, 1 fileinfo, 1 http"
        ),
        "{said}"
    );
}

#[test]
fn skipped_record_types_reach_the_terminal_as_text() {
    let db = Db::new();
    let dir = tempfile::tempdir().unwrap();
    let eve = dir.path().join("eve.json");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../picket-detect/tests/fixtures/threat/suricata_docs_one_flow.json");
    let mut text = std::fs::read_to_string(fixture).unwrap();
    text.push_str(
        r#"{"timestamp":"2023-09-18T06:14:02.104517+0000","event_type":"evil\u001b]0;pwned\u0007"}"#,
    );
    text.push('\n');
    std::fs::write(&eve, text).unwrap();
    let out = picket(&["--db", db.arg(), "detect", eve.to_str().unwrap()]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("1 evil\\u{1b}]0;pwned\\u{7}"), "{said}");
    assert!(!said.contains('\u{1b}'), "{said}");
}

#[test]
fn pretty_printed_json_is_refused_once_with_a_failing_exit() {
    let db = Db::new();
    let dir = tempfile::tempdir().unwrap();
    let pretty = dir.path().join("eve-pretty.json");
    // `jq .` of a one-line EVE record.
    std::fs::write(
        &pretty,
        "{\n  \"timestamp\": \"2023-09-18T06:14:02.104517+0000\",\n  \"event_type\": \"flow\"\n}\n",
    )
    .unwrap();
    let out = picket(&["--db", db.arg(), "detect", pretty.to_str().unwrap()]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        said.matches("JSON spread over many lines").count(),
        1,
        "{said}"
    );
    assert!(said.contains("jq -c ."), "{said}");
}

/// A client on the fixture's IPsum head.
const LISTED: &str = "77.90.185.20";

/// An NDJSON connection from the listed client to OpenSSH, `secs` after 2025-11-20 12:00 UTC;
/// established when it carried more than a SYN.
fn ssh_connection(secs: u32, bytes_out: u64) -> String {
    let outcome = if bytes_out > 60 {
        "established"
    } else {
        "attempted"
    };
    format!(
        r#"{{"ts":"2025-11-20T12:{:02}:{:02}Z","src":"{LISTED}","src_port":40000,"dst":"10.1.2.3","dst_port":22,"proto":"tcp","outcome":"{outcome}","bytes_out":{bytes_out},"bytes_in":100}}"#,
        secs / 60,
        secs % 60
    )
}

/// The JSON records `picket detect --format ndjson` printed.
fn records(out: &std::process::Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_rerun_reports_stored_alerts_as_updates_not_new() {
    let db = prepared();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("conn.ndjson");
    std::fs::write(
        &log,
        format!("{}\n{}\n", ssh_connection(0, 500), ssh_connection(30, 900)),
    )
    .unwrap();
    let detect = || {
        picket(&[
            "--db",
            db.arg(),
            "detect",
            log.to_str().unwrap(),
            "--format",
            "ndjson",
        ])
    };
    let first = detect();
    let printed = records(&first);
    assert_eq!(printed.len(), 1, "{printed:?}");
    assert_eq!(printed[0]["type"], "alert");
    assert_eq!(printed[0]["connections"], 2);
    let id = printed[0]["id"].clone();
    assert!(id.is_i64(), "the stored alert's id: {id}");

    let again = detect();
    let printed = records(&again);
    assert_eq!(printed.len(), 1, "{printed:?}");
    assert_eq!(printed[0]["type"], "alert-update");
    assert_eq!(
        (&printed[0]["id"], &printed[0]["connections"]),
        (&id, &Value::from(2))
    );
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("0 new alerts, 1 updated"), "{said}");
}

#[test]
fn follow_streams_each_new_state_of_an_alert() {
    let db = prepared();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("conn.ndjson");
    std::fs::write(&log, format!("{}\n", ssh_connection(0, 60))).unwrap();
    let mut child = spawn_follow(&db, &log, Stdio::piped());
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next = || -> Value {
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap();
        serde_json::from_str(&line).unwrap()
    };
    let first = next();
    assert_eq!(
        (&first["type"], &first["connections"], &first["severity"]),
        (&"alert".into(), &1.into(), &"medium".into())
    );
    // The same client comes back and moves 23 MB: the stored alert grows, and the stream says so.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    writeln!(f, "{}", ssh_connection(60, 23_000_000)).unwrap();
    writeln!(f, "{}", ssh_connection(90, 500)).unwrap();
    drop(f);
    let update = next();
    interrupt(child);
    assert_eq!(update["type"], "alert-update");
    assert_eq!(update["id"], first["id"]);
    assert_eq!(
        (&update["connections"], &update["severity"]),
        (&3.into(), &"high".into()),
        "{update}"
    );
}

#[test]
fn output_files_take_the_report_and_nmap_spellings() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let db = Db::new();
    let dir = tempfile::tempdir().unwrap();
    let scan_to = |file: &Path, more: &[&str]| {
        let mut args = vec!["--db", db.arg(), "scan", "127.0.0.1", "-p", &port];
        args.extend(more);
        args.extend(["-oX", file.to_str().unwrap()]);
        picket(&args)
    };
    let xml = dir.path().join("scan.xml");
    let out = scan_to(&xml, &[]);
    assert_eq!(stdout(&out), "", "the report went to the file");
    let written = std::fs::read_to_string(&xml).unwrap();
    assert!(written.starts_with("<?xml"), "{written}");
    assert!(written.contains(&format!("portid=\"{port}\"")), "{written}");
    assert_eq!(written.matches("<nmaprun ").count(), 1);

    // With --every, one file would hold several documents: refused, and no file is left.
    let every = dir.path().join("every.xml");
    let out = scan_to(&every, &["--every", "1s"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--every"));
    assert!(!every.exists());

    // A command that fails before writing leaves no empty report behind.
    let empty = dir.path().join("diff.txt");
    let out = picket(&["--db", db.arg(), "diff", "-o", empty.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(!empty.exists());
}

#[test]
fn completions_and_manual_page_come_from_the_flags() {
    let bash = stdout(&picket(&["completions", "bash"]));
    assert!(
        bash.contains("_picket()") && bash.contains("--service-detect"),
        "{bash}"
    );
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("picket.bash");
    std::fs::write(&script, &bash).unwrap();
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{syntax:?}");
    let man = stdout(&picket(&["man"]));
    assert!(man.contains(".TH picket 1"), "{man}");
    assert!(man.contains("detect"), "subcommands are listed");
}
