//! Nmap's own tools reading Picket's XML: `xmllint` validates it against Nmap's DTD (Debian's
//! nmap package installs it at /usr/share/nmap/nmap.dtd) and `ndiff` compares two runs. A test
//! whose tool is missing says so and passes, so that machines without Nmap can run the suite.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use picket_model::{
    ExtraPorts, HostReason, HostResult, HostState, HostStats, Observation, PortState, Reason,
    RunId, RunStatus, ScanProfile, ScanRun, Targets,
};
use picket_report::{Format, scan};

use crate::fixture::{self, ip, ts};

const NMAP_DTD: &str = "/usr/share/nmap/nmap.dtd";

/// Whether `tool` can be started at all (its exit status does not matter here).
fn installed(tool: &str) -> bool {
    Command::new(tool).arg("--help").output().is_ok()
}

fn write_xml(dir: &Path, name: &str, run: &ScanRun) -> PathBuf {
    let path = dir.join(name);
    let mut out = Vec::new();
    scan(&mut out, Format::Xml, run, &fixture::findings()).unwrap();
    std::fs::write(&path, out).unwrap();
    path
}

/// Validates `run`'s XML against nmap.dtd, or returns false when the tools are missing.
fn assert_valid(run: &ScanRun) -> bool {
    if !installed("xmllint") {
        println!("skipped: xmllint not installed (Debian package libxml2-utils)");
        return false;
    }
    if !Path::new(NMAP_DTD).exists() {
        println!("skipped: {NMAP_DTD} not installed (Debian package nmap-common)");
        return false;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write_xml(dir.path(), "run.xml", run);
    let result = Command::new("xmllint")
        .args(["--noout", "--dtdvalid", NMAP_DTD])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "xmllint rejected the XML:\n{}\n{}",
        String::from_utf8_lossy(&result.stderr),
        std::fs::read_to_string(&file).unwrap()
    );
    true
}

#[test]
fn fixture_xml_is_valid_against_nmap_dtd() {
    assert_valid(&fixture::scan_run());
}

#[test]
fn hostile_text_and_unfinished_runs_stay_valid() {
    let mut run = fixture::scan_run();
    run.status = RunStatus::Running;
    run.finished_at = None;
    run.target_key = "a--b <x> & \"q\" 'y' -".to_owned();
    run.hosts[2].hostname = Some("db\u{1}\n\"<&>".to_owned());
    if assert_valid(&run) {
        run.status = RunStatus::Aborted;
        run.hosts.clear();
        assert_valid(&run);
    }
}

/// One run of 192.0.2.10 over ports 1-100: `open` listed, every other port closed (reset).
fn one_host_run(id: i64, open: &[u16], started: &str) -> ScanRun {
    let ports = "1-100".parse().unwrap();
    let targets = Targets::parse(["192.0.2.10"], [""; 0]).unwrap();
    let listed: Vec<Observation> = open
        .iter()
        .map(|&p| Observation::new(p, Reason::SynAck, Some(Duration::from_micros(300)), 1))
        .collect();
    let host = HostResult {
        address: ip("192.0.2.10"),
        hostname: None,
        reverse_name: None,
        state: HostState::Up,
        reason: HostReason::PortAnswered,
        extra_ports: vec![ExtraPorts {
            state: PortState::Closed,
            reason: Reason::Reset,
            count: 100 - listed.len() as u32,
        }],
        ports: listed,
        unprobed: vec![],
        interruptions: vec![],
        stats: HostStats {
            probes_sent: 100,
            answers: 100,
            srtt: Some(Duration::from_micros(300)),
            loss: 0.0,
            retries: 1,
            read_timeout: Duration::from_millis(100),
        },
    };
    ScanRun {
        id: RunId(id),
        target_key: targets.key(),
        targets,
        profile: ScanProfile::new(ports),
        started_at: ts(started),
        finished_at: Some(ts(started) + jiff::SignedDuration::from_secs(3)),
        status: RunStatus::Completed,
        hosts: vec![host],
        rechecks: vec![],
        unlisted_down: 0,
    }
}

#[test]
fn ndiff_reports_what_changed_between_two_runs() {
    if !installed("ndiff") {
        println!("skipped: ndiff not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = write_xml(
        dir.path(),
        "a.xml",
        &one_host_run(1, &[22, 80], "2026-03-01T12:00:00Z"),
    );
    // Port 80 closed, port 25 opened. Like Nmap, the run lists closed ports only in the summary
    // ("Not shown: 98 closed ports"), so ndiff shows port 80 leaving the open list.
    let b = write_xml(
        dir.path(),
        "b.xml",
        &one_host_run(2, &[22, 25], "2026-03-02T12:00:00Z"),
    );
    let result = Command::new("ndiff").arg(&a).arg(&b).output().unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    // ndiff exits 1 when the scans differ, 2 on an error.
    assert_eq!(
        result.status.code(),
        Some(1),
        "ndiff failed:\n{stdout}\n{stderr}"
    );
    assert!(stderr.is_empty(), "ndiff warned:\n{stderr}");
    let lines: Vec<&str> = stdout.lines().map(str::trim_end).collect();
    let has = |prefix: &str, port: &str, state: &str| {
        lines.iter().any(|l| {
            let mut words = l.split_whitespace();
            l.starts_with(prefix)
                && words.next() == Some(&format!("{prefix}{port}")[..])
                && words.next() == Some(state)
        })
    };
    assert!(
        has("-", "80/tcp", "open"),
        "port 80 not reported:\n{stdout}"
    );
    assert!(
        has("+", "25/tcp", "open"),
        "port 25 not reported:\n{stdout}"
    );
    assert!(!stdout.contains("22/tcp"), "22 did not change:\n{stdout}");
}

#[test]
fn ndiff_reads_the_full_fixture_and_claims_no_nmap_version() {
    if !installed("ndiff") {
        println!("skipped: ndiff not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = write_xml(dir.path(), "a.xml", &fixture::scan_run());
    let mut later = fixture::scan_run();
    later.started_at += jiff::SignedDuration::from_hours(24);
    let b = write_xml(dir.path(), "b.xml", &later);
    let result = Command::new("ndiff").arg(&a).arg(&b).output().unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    // Two script results on one host made Debian's ndiff fail (it sorts them): exit 2.
    assert_eq!(result.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        !stdout.contains(&format!("Nmap {version}")),
        "Picket's version shown as Nmap's:\n{stdout}"
    );
    assert!(stdout.contains("as: picket scan -p "), "{stdout}");
}

#[test]
fn nmap_stylesheet_shows_picket_and_the_table_services() {
    let xsl = Path::new("/usr/share/nmap/nmap.xsl");
    if !installed("xsltproc") || !xsl.exists() {
        println!("skipped: xsltproc or {} not installed", xsl.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write_xml(dir.path(), "run.xml", &fixture::scan_run());
    let result = Command::new("xsltproc")
        .arg(xsl)
        .arg(&file)
        .output()
        .unwrap();
    assert!(result.status.success(), "{result:?}");
    let html = String::from_utf8_lossy(&result.stdout);
    let version = env!("CARGO_PKG_VERSION");
    assert!(!html.contains(&format!("Nmap {version}")), "{html}");
    assert!(html.contains("picket scan -p "));
    assert!(html.contains("ms-wbt-server"), "3389's table name");
    assert!(html.contains("www.example.org"), "the reverse DNS name");
    assert!(
        html.contains("db-1.example.org"),
        "the reverse DNS name beside the given one"
    );
}
