//! The command line on loopback: the machine-readable contract, history, and bad input.

use std::net::TcpListener;

use crate::support::{Db, file_bytes, json, open_ports, picket};

fn listeners(n: usize) -> (Vec<TcpListener>, Vec<u16>) {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut ports: Vec<u16> = ls.iter().map(|l| l.local_addr().unwrap().port()).collect();
    ports.sort_unstable();
    (ls, ports)
}

fn spec(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn scan_json_follows_the_contract() {
    let db = Db::new();
    let (_ls, ports) = listeners(3);
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let all = [ports.clone(), vec![closed]].concat();
    let doc = json(&picket(&[
        "scan",
        "127.0.0.1",
        "-p",
        &spec(&all),
        "--db",
        db.arg(),
        "--format",
        "json",
    ]));
    assert!(doc["run_id"].as_i64().unwrap() >= 1);
    assert_eq!(open_ports(&doc, "127.0.0.1"), ports);
    let host = &doc["hosts"][0];
    let closed_port = host["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == closed)
        .unwrap();
    assert_eq!(closed_port["state"], "closed");
    assert_eq!(closed_port["reason"], "reset");
    assert_eq!(closed_port["protocol"], "tcp");
    assert!(
        doc["findings"].as_array().unwrap().is_empty(),
        "the first run is the baseline"
    );
}

#[test]
fn second_run_reports_a_closed_port_with_a_verdict_and_history_commands_work() {
    let db = Db::new();
    let (mut ls, ports) = listeners(3);
    let p = spec(&ports);
    json(&picket(&[
        "scan",
        "127.0.0.1",
        "-p",
        &p,
        "--db",
        db.arg(),
        "--format",
        "json",
    ]));
    let gone = ls
        .iter()
        .position(|l| l.local_addr().unwrap().port() == ports[0])
        .unwrap();
    drop(ls.remove(gone));
    let doc = json(&picket(&[
        "scan",
        "127.0.0.1",
        "-p",
        &p,
        "--db",
        db.arg(),
        "--format",
        "json",
    ]));
    assert_eq!(
        crate::support::findings(&doc),
        vec![(
            "open-port-recheck".to_owned(),
            ports[0],
            "closed".to_owned()
        )]
    );

    let all = json(&picket(&["findings", "--db", db.arg(), "--format", "json"]));
    let f = &all.as_array().unwrap()[0];
    assert_eq!(f["kind"], "open-port-recheck");
    assert_eq!(f["host"], "127.0.0.1");
    assert_eq!(f["port"], ports[0]);
    assert_eq!(f["verdict"], "closed");
    assert!(f["evidence"]["probes"].as_array().unwrap().len() >= 3);
    assert!(!f["remediation"].as_array().unwrap().is_empty());

    let runs = json(&picket(&["runs", "--db", db.arg(), "--format", "json"]));
    assert_eq!(runs.as_array().unwrap().len(), 2);
    let diff = json(&picket(&["diff", "--db", db.arg(), "--format", "json"]));
    assert_eq!(diff["changes"][0]["port"], ports[0]);
    assert_eq!(diff["changes"][0]["before"], "open");
    assert_eq!(diff["changes"][0]["after"], "closed");
    let table = picket(&["findings", "--db", db.arg()]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("verdict: closed"));
}

#[test]
fn bad_input_fails_with_one_line_and_stored_data_survives() {
    let db = Db::new();
    let (_ls, ports) = listeners(1);
    json(&picket(&[
        "scan",
        "127.0.0.1",
        "-p",
        &spec(&ports),
        "--db",
        db.arg(),
        "--format",
        "json",
    ]));
    let before = file_bytes(&db.path);
    for args in [
        vec!["scan", "300.1.2.3", "--db", db.arg()],
        vec!["scan", "127.0.0.1", "-p", "80-22", "--db", db.arg()],
        vec!["scan", "127.0.0.1", "-p", "0", "--db", db.arg()],
        vec!["scan", "127.0.0.1", "--max-checks", "0", "--db", db.arg()],
        vec!["findings", "--kind", "nonsense", "--db", db.arg()],
        vec!["diff", "1", "--db", db.arg()],
    ] {
        let out = picket(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim().lines().count(),
            1,
            "{args:?}: not one line: {err}"
        );
        assert!(err.starts_with("picket: "), "{err}");
    }
    assert_eq!(
        file_bytes(&db.path),
        before,
        "a bad argument changed the database"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let not_db = dir.path().join("notes.txt");
    std::fs::write(&not_db, "my notes, not a database\n").unwrap();
    let out = picket(&[
        "scan",
        "127.0.0.1",
        "-p",
        "1",
        "--db",
        not_db.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("notes.txt"));
    assert_eq!(
        std::fs::read_to_string(&not_db).unwrap(),
        "my notes, not a database\n"
    );
}

#[test]
fn nmap_xml_is_read_by_ndiff() {
    if std::process::Command::new("ndiff")
        .arg("--help")
        .output()
        .is_err()
    {
        eprintln!("skipped: ndiff not installed");
        return;
    }
    let db = Db::new();
    let (mut ls, ports) = listeners(2);
    let p = spec(&ports);
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.xml");
    let b = dir.path().join("b.xml");
    let out = picket(&[
        "scan",
        "127.0.0.1",
        "-p",
        &p,
        "--db",
        db.arg(),
        "--format",
        "xml",
    ]);
    std::fs::write(&a, &out.stdout).unwrap();
    let gone = ls
        .iter()
        .position(|l| l.local_addr().unwrap().port() == ports[0])
        .unwrap();
    drop(ls.remove(gone));
    let out = picket(&[
        "scan",
        "127.0.0.1",
        "-p",
        &p,
        "--db",
        db.arg(),
        "--format",
        "xml",
        "--no-recheck",
    ]);
    std::fs::write(&b, &out.stdout).unwrap();
    let diff = std::process::Command::new("ndiff")
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        text.contains(&format!("-{}/tcp open", ports[0])),
        "ndiff said:\n{text}"
    );
}

#[test]
fn scheduled_scans_store_every_run() {
    let db = Db::new();
    let (_ls, ports) = listeners(1);
    let out = picket(&[
        "scan",
        "127.0.0.1",
        "-p",
        &spec(&ports),
        "--db",
        db.arg(),
        "--format",
        "ndjson",
        "--every",
        "1s",
        "--count",
        "2",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let run_lines = text
        .lines()
        .filter(|l| l.contains(r#""type":"run""#))
        .count();
    assert_eq!(run_lines, 2, "{text}");
    let runs = json(&picket(&["runs", "--db", db.arg(), "--format", "json"]));
    assert_eq!(runs.as_array().unwrap().len(), 2);
}

#[test]
fn scheduled_scans_write_one_valid_report_per_run_and_exit_code_flags_findings() {
    let db = Db::new();
    let (listeners, ports) = listeners(2);
    let dir = db.path.parent().unwrap().to_owned();
    let pattern = dir.join("scan-{run}.xml");
    let pattern = pattern.to_str().unwrap();
    let port_spec = spec(&ports);
    let args = |every: bool| {
        let mut args = vec!["scan", "127.0.0.1", "-p", &port_spec, "--db", db.arg()];
        args.extend(["-f", "xml", "-o", pattern, "--exit-code", "3"]);
        if every {
            args.extend(["--every", "1s", "--count", "2"]);
        }
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| picket(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // Without {run}, --every and -o cannot share one file.
    let refused = picket(&[
        "scan",
        "127.0.0.1",
        "-p",
        &spec(&ports),
        "--db",
        db.arg(),
        "-o",
        dir.join("one.xml").to_str().unwrap(),
        "--every",
        "1s",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("{run}"));

    // Two runs, nothing changed between them: no findings, status 0, one document per run.
    let first = run(args(true));
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let stderr = String::from_utf8_lossy(&first.stderr);
    for id in [1, 2] {
        let path = dir.join(format!("scan-{id}.xml"));
        assert!(
            stderr.contains(&format!("run {id} stored in {}", db.arg())),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("report in {}", path.display())),
            "{stderr}"
        );
        let xml = std::fs::read_to_string(&path).unwrap();
        assert_eq!(xml.matches("<nmaprun").count(), 1, "{xml}");
        assert!(xml.trim_end().ends_with("</nmaprun>"));
    }
    assert!(first.stdout.is_empty(), "the reports went to their files");

    // A port closes: the re-check raises a finding, and --exit-code makes it the status.
    drop(listeners);
    let second = run(args(false));
    assert_eq!(second.status.code(), Some(3), "{second:?}");
    assert!(String::from_utf8_lossy(&second.stderr).contains("run 3 stored in"));
    assert!(dir.join("scan-3.xml").exists());
}

#[test]
fn block_guard_refuses_non_client_addresses_ttl_zero_and_keeps_private_ranges() {
    let db = Db::new();
    for (args, why) in [
        (&["block", "0.0.0.0"][..], "allowed network 0.0.0.0/8"),
        (
            &["block", "255.255.255.255"],
            "allowed network 255.255.255.255/32",
        ),
        (&["block", "224.0.0.1"], "allowed network 224.0.0.0/4"),
        (&["block", "::"], "allowed network ::/128"),
        (&["block", "203.0.113.7", "--ttl", "0s"], "ttl 0ns"),
        (
            &["block", "10.0.0.0/8", "--home-net", "198.51.100.0/24"],
            "allowed network 10.0.0.0/8",
        ),
        (
            &["block", "198.51.100.7", "--home-net", "198.51.100.0/24"],
            "allowed network 198.51.100.0/24",
        ),
    ] {
        let out = picket(&[&["--db", db.arg()][..], args, &["--dry-run"]].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
}

#[test]
fn a_database_password_is_never_shown_nor_taken_for_a_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let help = std::process::Command::new(crate::support::PICKET)
        .args(["scan", "--help"])
        .env("PICKET_DB", "postgres://picket:s3cret@127.0.0.1:1/p")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("PICKET_DB"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    // A libpq connection string is PostgreSQL (here: nothing listens), never an SQLite file.
    let out = std::process::Command::new(crate::support::PICKET)
        .args([
            "--db",
            "host=127.0.0.1 port=1 user=picket password=s3cret connect_timeout=2",
            "runs",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{err}");
}

#[test]
fn third_party_text_reaches_the_terminal_escaped() {
    let db = Db::new();
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("evil.netset");
    std::fs::write(
        &feed,
        "# evil\n# Category: evil\x1b]0;pwned\x07\x1b[2J\n# Entries : 1 unique IPs\n77.90.185.20\n",
    )
    .unwrap();
    let d = db.arg();
    let feed = feed.to_str().unwrap();
    let product = "ssh\x1b[2J\nforged row";
    for args in [
        &["--db", d, "intel", "add", "evil", feed][..],
        &[
            "--db",
            d,
            "inventory",
            "add",
            "192.0.2.1:22",
            "--product",
            product,
            "--version",
            "1",
        ],
    ] {
        let out = picket(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    for args in [
        &["--db", d, "intel", "list"][..],
        &["--db", d, "intel", "lookup", "77.90.185.20"],
        &["--db", d, "inventory"],
    ] {
        let out = picket(args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert!(
            !text.contains('\x1b') && !text.contains('\x07'),
            "{args:?}: {text:?}"
        );
        assert!(!text.contains("\nforged row"), "{args:?}: {text}");
    }
    let list = picket(&["--db", d, "intel", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("evil\\u{1b}]0;pwned"));
}

#[test]
fn a_huge_bad_line_is_elided_and_an_input_without_valid_events_fails() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.ndjson");
    std::fs::write(
        &log,
        format!("{{\"src\": \"{}\"}}\n", "x".repeat(2_000_000)),
    )
    .unwrap();
    let db = Db::new();
    let out = picket(&[
        "--db",
        db.arg(),
        "detect",
        "--input",
        "ndjson",
        log.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        &err[..err.len().min(2000)]
    );
    assert!(err.len() < 4000, "{} bytes of errors", err.len());
    assert!(err.contains("no valid event in"), "{err}");
}

#[test]
fn errors_say_each_cause_once_and_usage_errors_exit_2() {
    let db = Db::new();
    let missing = picket(&["--db", db.arg(), "intel", "add", "x", "/nonexistent/feed"]);
    let err = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    for (args, flag) in [
        (&["scan"][..], "no target"),
        (&["alerts", "--since", "99999999999d"], "--since"),
        (&["intel", "list", "--format", "yaml"], "--format"),
    ] {
        let out = picket(&[&["--db", db.arg()][..], args].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
    }
}
