//! The threat job end to end: feeds, vulnerability knowledge, inventory, detection from Zeek and
//! NDJSON logs (once and following a growing file), alert formats, suppression, and blocking in
//! the network-namespace lab.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    Db, PICKET, file_bytes, fixture, interrupt, json, picket, picket_in, spawn_follow,
};
use picket_store::prelude::*;

/// A client listed by IPsum (first entry of the fixture), and another listed one.
const BAD: &str = "77.90.185.20";
const BAD2: &str = "77.239.124.102";
/// A client on no feed.
const CLEAN: &str = "192.0.2.77";

fn ok(args: &[&str]) -> String {
    let out = picket(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A store with IPsum's head loaded, NVD + KEV imported, and two vulnerable applications.
pub(crate) fn prepared() -> Db {
    let db = Db::new();
    let d = db.arg();
    let loaded = ok(&[
        "--db",
        d,
        "intel",
        "add",
        "ipsum",
        &fixture("ipsum-head.txt"),
    ]);
    assert!(loaded.contains("accepted"), "{loaded}");
    ok(&[
        "--db",
        d,
        "vuln",
        "import",
        &fixture("CVE-2024-6387.json"),
        &fixture("CVE-2021-41773.json"),
        &fixture("CVE-2021-42013.json"),
        &fixture("kev-slice.json"),
    ]);
    ok(&[
        "--db",
        d,
        "inventory",
        "add",
        "10.1.2.3:22",
        "--product",
        "openssh",
        "--version",
        "9.2p1",
    ]);
    ok(&[
        "--db",
        d,
        "inventory",
        "add",
        "10.1.2.4:80",
        "--cpe",
        "cpe:2.3:a:apache:http_server:2.4.49:*:*:*:*:*:*:*",
    ]);
    db
}

/// A Zeek conn.log (TSV with its header) with these rows: (ts, client, host, port, state, bytes).
fn zeek_log(path: &Path, rows: &[(f64, &str, &str, u16, &str, u64)]) {
    let mut f = std::fs::File::create(path).unwrap();
    writeln!(f, "#separator \\x09").unwrap();
    writeln!(f, "#set_separator\t,").unwrap();
    writeln!(f, "#empty_field\t(empty)").unwrap();
    writeln!(f, "#unset_field\t-").unwrap();
    writeln!(f, "#path\tconn").unwrap();
    writeln!(f, "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents").unwrap();
    writeln!(f, "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]").unwrap();
    for (i, (ts, client, host, port, state, bytes)) in rows.iter().enumerate() {
        writeln!(
            f,
            "{ts:.6}\tC{i}\t{client}\t{}\t{host}\t{port}\ttcp\t-\t1.5\t{bytes}\t300\t{state}\tF\tT\t0\tShADadFf\t20\t{}\t15\t900\t(empty)",
            40000 + i,
            bytes + 800
        )
        .unwrap();
    }
}

const T0: f64 = 1_763_640_000.0; // 2025-11-20 12:00:00 UTC

fn alerts(db: &Db) -> Vec<Value> {
    json(&picket(&["--db", db.arg(), "alerts", "--format", "json"]))
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn listed_clients_reaching_vulnerable_apps_raise_one_alert_each_with_context() {
    let db = prepared();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("conn.log");
    zeek_log(
        &log,
        &[
            (T0, BAD, "10.1.2.3", 22, "SF", 52_000),
            (T0 + 60.0, BAD, "10.1.2.3", 22, "S0", 0),
            (T0 + 90.0, CLEAN, "10.1.2.3", 22, "SF", 1000),
            (T0 + 120.0, BAD2, "10.1.2.4", 80, "SF", 700),
            (T0 + 130.0, BAD, "10.1.2.9", 443, "SF", 700),
        ],
    );
    let out = picket(&[
        "--db",
        db.arg(),
        "detect",
        log.to_str().unwrap(),
        "--format",
        "ndjson",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        printed.len(),
        2,
        "one alert per (client, host:port, application)"
    );

    let stored = alerts(&db);
    assert_eq!(stored.len(), 2);
    let ssh = stored.iter().find(|a| a["port"] == 22).unwrap();
    assert_eq!(ssh["kind"], "bad-client-to-vulnerable-app");
    assert_eq!(ssh["client"], BAD);
    assert_eq!(ssh["host"], "10.1.2.3");
    assert_eq!(ssh["connections"], 2);
    assert_eq!(ssh["established"], 1);
    assert_eq!(ssh["attempted"], 1);
    assert_eq!(ssh["intel"][0]["feed"], "ipsum");
    assert!(
        ssh["vulns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["id"] == "CVE-2024-6387")
    );
    let web = stored.iter().find(|a| a["port"] == 80).unwrap();
    let kev: Vec<&Value> = web["vulns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["kev"] == true)
        .collect();
    assert!(!kev.is_empty(), "KEV joined: {web}");

    // Reading the same file again gives the same alerts, not doubled counts.
    // --exit-code: the same file again updates the stored alerts, which a CI step sees.
    let flagged = picket(&[
        "--db",
        db.arg(),
        "detect",
        log.to_str().unwrap(),
        "--format",
        "json",
        "--exit-code",
        "4",
    ]);
    assert_eq!(flagged.status.code(), Some(4), "{flagged:?}");
    let again = alerts(&db);
    assert_eq!(again.len(), 2);
    assert_eq!(
        again.iter().find(|a| a["port"] == 22).unwrap()["connections"],
        2
    );

    // One finding a line, the shape `detect --format ocsf` streams.
    let ocsf: Vec<Value> = ok(&["--db", db.arg(), "alerts", "--format", "ocsf"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ocsf.len(), 2);
    assert_eq!(ocsf[0]["class_uid"], 2004);
    assert!(
        ocsf.iter()
            .any(|f| f["evidences"][0]["src_endpoint"]["ip"] == BAD && f["class_uid"] == 2004)
    );
    let table = ok(&["--db", db.arg(), "alerts"]);
    assert!(
        table.contains("CVE-2024-6387") && table.contains("ipsum"),
        "{table}"
    );
}

#[test]
fn suppressed_clients_raise_nothing() {
    let db = prepared();
    ok(&[
        "--db",
        db.arg(),
        "alerts",
        "suppress",
        "--client",
        BAD,
        "--port",
        "22",
        "--reason",
        "our pentest",
    ]);
    let rules = json(&picket(&[
        "--db",
        db.arg(),
        "alerts",
        "suppressions",
        "--format",
        "json",
    ]));
    assert_eq!(rules.as_array().unwrap().len(), 1);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("conn.log");
    zeek_log(
        &log,
        &[
            (T0, BAD, "10.1.2.3", 22, "SF", 100),
            (T0, BAD2, "10.1.2.3", 22, "SF", 100),
        ],
    );
    ok(&[
        "--db",
        db.arg(),
        "detect",
        log.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let stored = alerts(&db);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["client"], BAD2);
}

#[test]
fn a_bad_feed_changes_nothing_and_names_the_problem() {
    let db = prepared();
    let before = ok(&["--db", db.arg(), "intel", "list", "--format", "json"]);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("feed.json");
    std::fs::write(
        &bad,
        "{\"type\": \"bundle\", \"objects\": [ {\"type\": \"indicator\", ",
    )
    .unwrap();
    let out = picket(&[
        "--db",
        db.arg(),
        "intel",
        "add",
        "ipsum",
        bad.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("feed.json"), "{err}");
    assert_eq!(
        ok(&["--db", db.arg(), "intel", "list", "--format", "json"]),
        before
    );
    let lookup = ok(&["--db", db.arg(), "intel", "lookup", BAD, "--format", "json"]);
    assert!(lookup.contains("ipsum"), "{lookup}");
    let bytes = file_bytes(&db.path);
    assert!(
        !picket(&["--db", db.arg(), "vuln", "import", bad.to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(file_bytes(&db.path), bytes);
}

fn refused(db: &Db, args: &[&str], why: &str) {
    let bytes = file_bytes(&db.path);
    let out = picket(&[&["--db", db.arg()], args].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.contains(why), "{args:?}: {err}");
    assert!(err.contains("the stored data is kept"), "{args:?}: {err}");
    assert_eq!(file_bytes(&db.path), bytes, "{args:?} changed the store");
}

#[test]
fn empty_bad_cut_or_shrunk_feeds_never_replace_the_stored_one() {
    let db = prepared();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let kev = fixture("kev-slice.json");
    let head = std::fs::read_to_string(fixture("ipsum-head.txt")).unwrap();
    let ten: String = head
        .lines()
        .filter(|l| !l.starts_with('#'))
        .take(10)
        .map(|l| format!("{l}\n"))
        .collect();
    let ten = write("ten.txt", ten.as_bytes());
    let cut = write("cut.txt", &head.as_bytes()[..head.len() - 3]);
    let firehol = write(
        "half.netset",
        b"# half\n# Entries : 4 unique IPs\n77.90.185.20\n77.239.124.102\n",
    );
    for (args, why) in [
        (
            vec!["intel", "add", "ipsum", "/dev/null", "--format", "firehol"],
            "no entry to load",
        ),
        (
            vec![
                "intel",
                "add",
                "ipsum",
                &write("random.bin", &random),
                "--format",
                "plain",
            ],
            "no entry to load",
        ),
        (
            vec!["intel", "add", "ipsum", &kev, "--format", "ipsum"],
            "no entry to load",
        ),
        (
            vec!["intel", "add", "ipsum", &firehol],
            "says it holds 4 entries but holds 2",
        ),
        (
            vec!["intel", "add", "ipsum", &cut],
            "the last line is cut off",
        ),
        (vec!["intel", "add", "ipsum", &ten], "--allow-shrink"),
    ] {
        refused(&db, &args, why);
    }
    let lookup = ok(&["--db", db.arg(), "intel", "lookup", BAD, "--format", "json"]);
    assert!(lookup.contains("ipsum"), "{lookup}");
    let shrunk = ok(&[
        "--db",
        db.arg(),
        "intel",
        "add",
        "ipsum",
        &ten,
        "--allow-shrink",
    ]);
    assert!(shrunk.contains("10 indicators"), "{shrunk}");
}

#[test]
fn vuln_import_never_replaces_kev_or_epss_with_an_empty_or_cut_file() {
    let db = prepared();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let kev: Value =
        serde_json::from_slice(&file_bytes(Path::new(&fixture("kev-slice.json")))).unwrap();
    let kev_with = |count: u64, entries: usize| {
        let mut doc = kev.clone();
        doc["count"] = count.into();
        let kept: Vec<Value> = doc["vulnerabilities"].as_array().unwrap()[..entries].to_vec();
        doc["vulnerabilities"] = Value::Array(kept);
        doc.to_string()
    };
    let epss_head =
        "#model_version:v2025.03.14,score_date:2025-08-25T00:00:00Z\ncve,epss,percentile\n";
    let rows: String = (1..=10)
        .map(|i| format!("CVE-2024-{i:04},0.5,0.9\n"))
        .collect();
    ok(&[
        "--db",
        db.arg(),
        "vuln",
        "import",
        &write("epss.csv", &format!("{epss_head}{rows}")),
    ]);
    let empty_kev = write("kev0.json", &kev_with(0, 0));
    let short_kev = write("kev-short.json", &kev_with(3, 1));
    let small_kev = write("kev1.json", &kev_with(1, 1));
    let header_only = write("epss0.csv", epss_head);
    let cut = write(
        "epss-cut.csv",
        &format!("{epss_head}{}", &rows[..rows.len() - 5]),
    );
    for (file, why) in [
        (&empty_kev, "no entry to load"),
        (&short_kev, "says it holds 3 entries but holds 1"),
        (&small_kev, "--allow-shrink"),
        (&header_only, "no entry to load"),
        (&cut, "the last line is cut off"),
    ] {
        refused(&db, &["vuln", "import", file], why);
    }
    let web = ok(&["--db", db.arg(), "inventory", "--format", "json"]);
    assert!(
        web.contains("\"date_added\": \"2021-11-03\""),
        "KEV kept: {web}"
    );
    ok(&[
        "--db",
        db.arg(),
        "vuln",
        "import",
        &small_kev,
        "--allow-shrink",
    ]);
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(30), "never {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `picket detect --follow`, waits until `done` holds, then stops it with SIGINT; returns
/// what it printed.
fn follow_until(db: &Db, log: &Path, done: impl Fn() -> bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let child = spawn_follow(db, log, std::fs::File::create(&out).unwrap().into());
    wait_for("got there", done);
    // One more flush period, then a clean stop.
    std::thread::sleep(Duration::from_millis(1500));
    interrupt(child);
    std::fs::read_to_string(out).unwrap()
}

/// The (dedup key, window start) of every alert printed as new (`alert-update` records are the
/// new states of alerts printed before).
fn printed_new_keys(ndjson: &str) -> Vec<(String, String)> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "alert")
        .map(|v| (v["dedup_key"].to_string(), v["window_start"].to_string()))
        .collect()
}

#[test]
fn follow_prints_each_stored_alert_once_across_a_kill() {
    let db = prepared();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("conn.ndjson");
    // Two listed clients, an alert each per hour, over twelve hours: twenty-four alerts.
    let lines: String = (0..12)
        .flat_map(|hour| [(hour, BAD), (hour, BAD2)])
        .map(|(hour, client)| {
            format!(
                "{{\"ts\":\"2025-11-20T{hour:02}:30:00Z\",\"src\":\"{client}\",\"src_port\":40000,\"dst\":\"10.1.2.3\",\"dst_port\":22,\"proto\":\"tcp\",\"outcome\":\"established\"}}\n"
            )
        })
        .collect::<String>()
        // Then a long catch-up of a client on no feed, so that the kill lands inside it.
        + &format!(
            "{{\"ts\":\"2025-11-20T12:00:00Z\",\"src\":\"{CLEAN}\",\"dst\":\"10.1.2.3\",\"dst_port\":22,\"proto\":\"tcp\"}}\n"
        )
        .repeat(200_000);
    std::fs::write(&log, lines).unwrap();
    // Killed as soon as it has printed an alert: whatever it printed must be stored already,
    // or the restart announces it as new a second time.
    let first = dir.path().join("first.ndjson");
    let mut child = spawn_follow(&db, &log, std::fs::File::create(&first).unwrap().into());
    wait_for("printed an alert", || {
        std::fs::metadata(&first).is_ok_and(|m| m.len() > 0)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let second = follow_until(&db, &log, || alerts(&db).len() == 24);

    let mut printed = printed_new_keys(&std::fs::read_to_string(&first).unwrap());
    printed.extend(printed_new_keys(&second));
    let mut unique = printed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        printed.len(),
        "an alert was printed twice as new"
    );
    assert!(
        printed.len() <= 24 && printed.len() >= 23,
        "{}",
        printed.len()
    );
}

#[test]
fn follow_resumes_after_a_restart_without_losing_or_doubling() {
    let db = prepared();
    let dir = tempfile::tempdir().unwrap();
    let log: PathBuf = dir.path().join("conn.ndjson");
    let line = |ts: &str, client: &str, port: u16| {
        format!(
            r#"{{"ts":"{ts}","src":"{client}","src_port":40000,"dst":"10.1.2.3","dst_port":{port},"proto":"tcp","outcome":"established","bytes_out":100,"bytes_in":100}}"#
        )
    };
    std::fs::write(
        &log,
        format!(
            "{}\n{}\n",
            line("2025-11-20T12:00:00Z", BAD, 22),
            line("2025-11-20T12:01:00Z", BAD, 22)
        ),
    )
    .unwrap();
    let count = |db: &Db| -> u64 {
        alerts(db)
            .iter()
            .map(|a| a["connections"].as_u64().unwrap())
            .sum()
    };
    follow_until(&db, &log, || count(&db) == 2);

    // While it is stopped the log grows: one more connection of the same alert, and a new client.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    writeln!(f, "{}", line("2025-11-20T12:02:00Z", BAD, 22)).unwrap();
    writeln!(f, "{}", line("2025-11-20T12:03:00Z", BAD2, 22)).unwrap();
    drop(f);
    follow_until(&db, &log, || count(&db) == 4);

    let stored = alerts(&db);
    assert_eq!(stored.len(), 2, "no alert doubled: {stored:?}");
    let first = stored.iter().find(|a| a["client"] == BAD).unwrap();
    assert_eq!(first["connections"], 3, "no event lost or counted twice");
}

/// A lab whose scanner namespace serves `port` (accept and close); `None` when the lab or nft is
/// not available (the test then passes with a "skipped:" line).
fn lab_server(name: &str, port: u16) -> Option<picket_lab::Lab> {
    let lab = picket_lab::Lab::try_new(name).unwrap()?;
    if Command::new("nft").arg("--version").output().is_err() {
        eprintln!("skipped: nft not installed");
        return None;
    }
    let listener = lab
        .in_scanner(move || std::net::TcpListener::bind(("0.0.0.0", port)).unwrap())
        .unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn)
        }
    });
    Some(lab)
}

/// Whether `client` can connect to the lab server's `port`: Picket itself, run in the client's
/// namespace, is the connecting program.
fn reaches(client: &picket_lab::Target, port: u16) -> bool {
    let tmp = tempfile::tempdir().unwrap();
    let cdb = tmp.path().join("c.db");
    let out = client
        .command(PICKET)
        .args([
            "--db",
            cdb.to_str().unwrap(),
            "scan",
            &client.scanner_address_v4().to_string(),
            "-p",
            &port.to_string(),
            "--format",
            "json",
            "--read-timeout",
            "700ms",
            "--retries",
            "1",
            "--no-ping",
        ])
        .output()
        .unwrap();
    json(&out)["hosts"][0]["ports"][0]["state"] == "open"
}

#[test]
fn block_cuts_a_client_off_and_the_allow_list_protects_home() {
    let Some(mut lab) = lab_server("e2e_block", 8443) else {
        return;
    };
    // The scanner namespace plays the server; A and B are clients on their own links.
    let a = lab.add_target().unwrap();
    let b = lab.add_target().unwrap();
    let db = Db::new();
    assert!(reaches(&a, 8443) && reaches(&b, 8443));

    let home_b = format!("{}/24", b.address_v4());
    let a_addr = a.address_v4().to_string();
    let block = picket_in(
        &lab,
        &[
            "--db",
            db.arg(),
            "block",
            &a_addr,
            "--ttl",
            "1h",
            "--home-net",
            &home_b,
            "--reason",
            "test",
        ],
    );
    assert!(
        block.status.success(),
        "{}",
        String::from_utf8_lossy(&block.stderr)
    );
    assert!(!reaches(&a, 8443), "A still connects after the block");
    assert!(reaches(&b, 8443), "B was cut off too");

    let refused = picket_in(
        &lab,
        &[
            "--db",
            db.arg(),
            "block",
            &b.address_v4().to_string(),
            "--home-net",
            &home_b,
        ],
    );
    assert!(
        !refused.status.success(),
        "the allow-list let a home address be blocked"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("allowed network"));
    let dry = picket_in(
        &lab,
        &[
            "--db",
            db.arg(),
            "block",
            "203.0.113.0/24",
            "--dry-run",
            "--home-net",
            &home_b,
        ],
    );
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("flags interval"),
        "dry run shows the set"
    );

    let blocks = json(&picket_in(
        &lab,
        &["--db", db.arg(), "blocks", "--format", "json"],
    ));
    assert!(
        blocks
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["net"] == format!("{a_addr}/32") && b["reason"] == "test")
    );

    let unblock = picket_in(&lab, &["--db", db.arg(), "unblock", &a_addr]);
    assert!(unblock.status.success());
    assert!(reaches(&a, 8443), "unblock did not restore A");
}

#[test]
fn detect_block_cuts_off_the_alerted_client() {
    let Some(mut lab) = lab_server("e2e_detect_block", 2222) else {
        return;
    };
    let a = lab.add_target().unwrap();
    let server = a.scanner_address_v4().to_string();
    let client = a.address_v4().to_string();

    let db = Db::new();
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("lab.txt");
    std::fs::write(&feed, format!("# lab feed\n{client}\n")).unwrap();
    ok(&[
        "--db",
        db.arg(),
        "intel",
        "add",
        "lab",
        feed.to_str().unwrap(),
        "--keep-bogons",
    ]);
    ok(&[
        "--db",
        db.arg(),
        "vuln",
        "import",
        &fixture("CVE-2024-6387.json"),
    ]);
    ok(&[
        "--db",
        db.arg(),
        "inventory",
        "add",
        &format!("{server}:2222"),
        "--product",
        "openssh",
        "--version",
        "9.2p1",
    ]);
    let events = dir.path().join("events.ndjson");
    std::fs::write(
        &events,
        format!(
            r#"{{"ts":"2025-11-20T12:00:00Z","src":"{client}","src_port":40000,"dst":"{server}","dst_port":2222,"proto":"tcp","outcome":"established","bytes_out":20000,"bytes_in":100}}"#
        ) + "\n",
    )
    .unwrap();
    let out = picket_in(
        &lab,
        &[
            "--db",
            db.arg(),
            "detect",
            events.to_str().unwrap(),
            "--home-net",
            &format!("{server}/32"),
            "--block",
            "--min-severity",
            "medium",
            "--ttl",
            "10m",
            "--format",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("blocked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blocks = json(&picket_in(
        &lab,
        &["--db", db.arg(), "blocks", "--format", "json"],
    ));
    let entry = &blocks.as_array().unwrap()[0];
    assert_eq!(entry["net"], format!("{client}/32"));
    assert!(
        entry["alert_id"].as_i64().is_some(),
        "the block names its alert: {entry}"
    );
    assert!(!reaches(&a, 2222), "the client still connects");
}

/// A database written before knowledge was stored by key holds the imported records raw: the
/// first command that loads knowledge converts them once, and matches as a fresh import does.
#[test]
fn a_database_of_raw_records_is_converted_once_and_matches_as_before() {
    let legacy = Db::new();
    {
        let store = picket_store::open(legacy.arg()).unwrap();
        let mut records = Vec::new();
        for name in [
            "CVE-2024-6387.json",
            "CVE-2021-41773.json",
            "CVE-2021-42013.json",
        ] {
            let path = fixture(name);
            let import = picket_vuln::read_nvd(std::fs::File::open(&path).unwrap(), &path).unwrap();
            for cve in import.records {
                records.push(picket_store::VulnRecord {
                    kind: "nvd".into(),
                    id: cve.vulnerability.id.clone(),
                    body: serde_json::to_value(&cve).unwrap(),
                });
            }
        }
        let kev = std::fs::read_to_string(fixture("kev-slice.json")).unwrap();
        records.push(picket_store::VulnRecord {
            kind: "kev".into(),
            id: "catalog".into(),
            body: Value::String(kev),
        });
        store.put_vuln_records(&records).unwrap();
    }
    let d = legacy.arg();
    let added = ok(&[
        "--db",
        d,
        "inventory",
        "add",
        "10.1.2.3:22",
        "--product",
        "openssh",
        "--version",
        "9.2p1",
    ]);
    assert!(added.contains("CVE-2024-6387"), "{added}");
    ok(&[
        "--db",
        d,
        "inventory",
        "add",
        "10.1.2.4:80",
        "--cpe",
        "cpe:2.3:a:apache:http_server:2.4.49:*:*:*:*:*:*:*",
    ]);
    let mut raw = 0;
    picket_store::open(d)
        .unwrap()
        .vuln_records(None, &mut |_| raw += 1)
        .unwrap();
    assert_eq!(raw, 0, "converted once");

    let vulns = |db: &str| -> Vec<Value> {
        let listed: Value =
            serde_json::from_str(&ok(&["--db", db, "inventory", "--format", "json"])).unwrap();
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["vulnerabilities"].clone())
            .collect()
    };
    let fresh = prepared();
    let converted = vulns(d);
    assert!(converted.iter().all(|v| !v.as_array().unwrap().is_empty()));
    assert_eq!(converted, vulns(fresh.arg()));
    // A later import goes on from the converted knowledge: the KEV catalogue is still there
    // for the shrink check.
    let mut kev: Value =
        serde_json::from_slice(&file_bytes(Path::new(&fixture("kev-slice.json")))).unwrap();
    kev["count"] = 1.into();
    kev["vulnerabilities"] = Value::Array(kev["vulnerabilities"].as_array().unwrap()[..1].to_vec());
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("kev1.json");
    std::fs::write(&small, kev.to_string()).unwrap();
    refused(
        &legacy,
        &["vuln", "import", small.to_str().unwrap()],
        "--allow-shrink",
    );
}
