//! Alerts in every format, over two realistic alerts. Review changes with `cargo insta review`.
//!
//! Data shapes come from shared/data: the clients and their counts from IPsum (2026-08-22:
//! `77.90.185.20<TAB>10`, `2.57.122.53<TAB>9`), CVSS scores and vectors from the NVD records of
//! CVE-2024-6387, CVE-2023-38408, CVE-2021-41773 and CVE-2021-42013, KEV dates from CISA's
//! catalog 2025.08.25. The EPSS scores, the second feed and the traffic are made up for the
//! test. The addresses are only rendered, never contacted. Severity and reasons come from
//! `picket_detect::threat::assess`, the scorer the detector uses.

use picket_model::{
    Alert, AlertKind, AlertVuln, Application, Confidence, Cvss, CvssSeverity, CvssVersion, Epss,
    IntelHit, Package, Severity, SeverityReason, SourceRef, Transport,
};
use picket_report::{
    AlertChangeKind, Format, OCSF_VERSION, OcsfActivity, alert_block, alert_change_ocsf,
    alert_record, alerts, alerts_ocsf, words,
};

use crate::fixture::{ip, ts};

fn cvss(score: f64, vector: &str) -> Option<Cvss> {
    Some(Cvss {
        version: CvssVersion::V3_1,
        base_score: score,
        severity: CvssSeverity::from_score(score),
        vector: vector.into(),
    })
}

fn epss(score: f64, percentile: f64) -> Option<Epss> {
    Some(Epss {
        score,
        percentile,
        date: Some("2026-08-21".parse().unwrap()),
    })
}

fn sources(file: &str, lines: &[u64]) -> Vec<SourceRef> {
    lines
        .iter()
        .map(|&line| SourceRef {
            file: file.into(),
            line,
        })
        .collect()
}

fn scored(mut a: Alert) -> Alert {
    let (severity, reasons) = picket_detect::threat::assess(&a);
    a.severity = severity;
    a.reasons = reasons;
    a
}

/// An IPsum-listed client getting through to OpenSSH 9.2p1 (regreSSHion, CVE-2024-6387).
pub fn openssh_alert() -> Alert {
    let app = Application::new("openssh")
        .with_vendor("openbsd")
        .with_version("9.2p1")
        .with_package(
            "Debian:12",
            Package::new("openssh-server", "1:9.2p1-2+deb12u2"),
        );
    let client = ip("77.90.185.20");
    let host = ip("192.168.1.10");
    let start = ts("2026-08-22T09:14:03Z");
    let kind = AlertKind::BadClientToVulnerableApp;
    scored(Alert {
        id: Some(17),
        kind,
        dedup_key: Alert::dedup_key_for(kind, client, host, 22, Transport::Tcp, &app, start),
        window_start: start,
        client,
        host,
        port: 22,
        transport: Transport::Tcp,
        application: app,
        intel: vec![
            IntelHit {
                feed: "ipsum".into(),
                network: "77.90.185.20/32".parse().unwrap(),
                score: Some(10.0),
                category: None,
                first_seen: None,
                last_seen: None,
            },
            IntelHit {
                feed: "threatfox-stix".into(),
                network: "77.90.185.0/24".parse().unwrap(),
                score: Some(75.0),
                category: Some("malicious-activity".into()),
                first_seen: Some(ts("2026-08-01T00:00:00Z")),
                last_seen: Some(ts("2026-08-21T18:30:00Z")),
            },
        ],
        vulns: vec![
            AlertVuln {
                id: "CVE-2023-38408".into(),
                cvss: cvss(9.8, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
                kev: false,
                kev_date_added: None,
                epss: epss(0.6741, 0.9843),
                confidence: Confidence::VersionRange,
            },
            AlertVuln {
                id: "CVE-2024-6387".into(),
                cvss: cvss(8.1, "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"),
                kev: false,
                kev_date_added: None,
                epss: epss(0.3872, 0.9712),
                confidence: Confidence::VersionRange,
            },
        ],
        first_seen: start,
        last_seen: ts("2026-08-22T09:41:37Z"),
        connections: 14,
        established: 3,
        attempted: 11,
        bytes_to_server: 48_213,
        bytes_to_client: 9_120,
        packets_to_server: 212,
        packets_to_client: 97,
        max_bytes_per_connection: 41_002,
        severity: Severity::Info,
        reasons: Vec::new(),
        sources: sources("conn.log", &[1207, 1212, 1219, 1304, 1311]),
    })
}

/// A KEV-listed path traversal in Apache httpd 2.4.49, only knocked on.
pub fn httpd_alert() -> Alert {
    let app = Application::new("http_server")
        .with_vendor("apache")
        .with_version("2.4.49");
    let client = ip("2.57.122.53");
    let host = ip("192.168.1.20");
    let start = ts("2026-08-22T10:02:11Z");
    let kind = AlertKind::BadClientToVulnerableApp;
    let kev = |id: &str, score: f64, vector: &str| AlertVuln {
        id: id.into(),
        cvss: cvss(score, vector),
        kev: true,
        kev_date_added: Some("2021-11-03".parse().unwrap()),
        epss: None,
        confidence: Confidence::Exact,
    };
    scored(Alert {
        id: None,
        kind,
        dedup_key: Alert::dedup_key_for(kind, client, host, 80, Transport::Tcp, &app, start),
        window_start: start,
        client,
        host,
        port: 80,
        transport: Transport::Tcp,
        application: app,
        intel: vec![IntelHit {
            feed: "ipsum".into(),
            network: "2.57.122.53/32".parse().unwrap(),
            score: Some(9.0),
            category: None,
            first_seen: None,
            last_seen: None,
        }],
        vulns: vec![
            kev(
                "CVE-2021-42013",
                9.8,
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            ),
            kev(
                "CVE-2021-41773",
                7.5,
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
            ),
        ],
        first_seen: start,
        last_seen: start,
        connections: 1,
        established: 0,
        attempted: 1,
        bytes_to_server: 60,
        bytes_to_client: 0,
        packets_to_server: 1,
        packets_to_client: 0,
        max_bytes_per_connection: 60,
        severity: Severity::Info,
        reasons: Vec::new(),
        sources: sources("eve.json", &[88]),
    })
}

fn render(f: impl FnOnce(&mut Vec<u8>) -> Result<(), picket_report::ReportError>) -> String {
    let mut out = Vec::new();
    f(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn fixture_severities_follow_the_scoring() {
    assert_eq!(
        openssh_alert().severity,
        Severity::Critical,
        "2 + 3 + 2 + 2"
    );
    assert_eq!(httpd_alert().severity, Severity::High, "1 + 3 + 2");
}

#[test]
fn alerts_table() {
    let all = [openssh_alert(), httpd_alert()];
    let text = render(|out| alerts(out, Format::Table, &all));
    for needle in [
        "Who:   77.90.185.20, listed by 2 feeds",
        "ipsum",
        "CVE-2024-6387",
        "Where: 192.168.1.10:22/tcp",
        "14 connections",
        "KEV since 2021-11-03",
    ] {
        assert!(text.contains(needle), "table lacks {needle:?}:\n{text}");
    }
    insta::assert_snapshot!(text);
    assert_eq!(
        render(|out| alerts(out, Format::Table, &[])),
        "No alerts.\n"
    );
}

#[test]
fn third_party_text_in_an_alert_cannot_forge_lines_or_send_escapes() {
    let mut a = openssh_alert();
    a.application.product = "ssh\x1b]0;pwned\x07\n2. CRITICAL  forged".into();
    a.reasons.push(SeverityReason::Written(
        "from a report:\nforged reason".into(),
    ));
    let text = render(|out| alerts(out, Format::Table, &[a]));
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    assert!(
        !text.lines().any(|l| l.starts_with("2. ")),
        "a forged alert line:\n{text}"
    );
    assert!(
        text.contains("ssh\\u{1b}]0;pwned\\u{7}\\u{a}2. CRITICAL"),
        "{text}"
    );
}

#[test]
fn alerts_json_round_trips() {
    let all = [openssh_alert(), httpd_alert()];
    // The JSON carries the reasons as sentences: read back, they are the written words.
    let printed: Vec<Alert> = all
        .iter()
        .cloned()
        .map(|mut a| {
            a.reasons = a
                .reasons
                .iter()
                .map(|r| SeverityReason::Written(words::severity_reason(r)))
                .collect();
            a
        })
        .collect();
    let text = render(|out| alerts(out, Format::Json, &all));
    let back: Vec<Alert> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, printed);
    insta::assert_snapshot!(text);
    let lines = render(|out| alerts(out, Format::Ndjson, &all));
    let back: Vec<Alert> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(back, printed);
}

#[test]
fn alerts_ocsf_detection_findings() {
    let all = [openssh_alert(), httpd_alert()];
    let text = render(|out| alerts_ocsf(out, &all, false));
    let doc: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(doc.len(), 2);
    let f = &doc[0];
    assert_eq!(f["class_uid"], 2004);
    assert_eq!(f["category_uid"], 2);
    assert_eq!(f["activity_id"], 1);
    assert_eq!(f["type_uid"], 200401);
    assert_eq!(f["severity_id"], 5);
    assert_eq!(f["metadata"]["version"], OCSF_VERSION);
    assert_eq!(f["metadata"]["product"]["name"], "Picket");
    assert_eq!(
        f["time"], 1_787_391_697_000_i64,
        "last connection, in milliseconds"
    );
    assert_eq!(f["finding_info"]["uid"], all[0].dedup_key);
    assert_eq!(f["evidences"][0]["src_endpoint"]["ip"], "77.90.185.20");
    assert_eq!(f["evidences"][0]["dst_endpoint"]["port"], 22);
    assert_eq!(f["vulnerabilities"][1]["cve"]["uid"], "CVE-2024-6387");
    assert_eq!(f["vulnerabilities"][1]["cve"]["cvss"][0]["base_score"], 8.1);
    assert!(
        f["vulnerabilities"][0]
            .get("is_exploit_available")
            .is_none()
    );
    assert_eq!(doc[1]["vulnerabilities"][0]["is_exploit_available"], true);
    assert_eq!(doc[1]["severity_id"], 4);
    insta::assert_snapshot!(text);

    let lines = render(|out| alerts_ocsf(out, &all, true));
    let parsed: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed, doc, "NDJSON carries the same findings, one a line");
}

#[test]
fn alert_changes_stream_as_create_then_update() {
    let alert = openssh_alert();
    let text = render(|out| {
        alert_change_ocsf(out, OcsfActivity::Create, &alert)?;
        alert_change_ocsf(out, OcsfActivity::Update, &alert)
    });
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(
        (
            events[0]["activity_id"].clone(),
            events[0]["type_uid"].clone()
        ),
        (1.into(), 200401.into())
    );
    assert_eq!(
        (
            events[1]["activity_id"].clone(),
            events[1]["type_name"].clone()
        ),
        (2.into(), "Detection Finding: Update".into())
    );
    assert_eq!(
        events[0]["finding_info"]["uid"],
        events[1]["finding_info"]["uid"]
    );
}

#[test]
fn streamed_updates_are_records_of_their_own() {
    let mut alert = openssh_alert();
    alert.id = Some(7);
    let lines = render(|out| {
        alert_record(out, AlertChangeKind::New, &alert)?;
        alert_record(out, AlertChangeKind::Update, &alert)
    });
    let records: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<(&str, i64)> = records
        .iter()
        .map(|r| (r["type"].as_str().unwrap(), r["id"].as_i64().unwrap()))
        .collect();
    assert_eq!(kinds, [("alert", 7), ("alert-update", 7)]);
    assert_eq!(records[1]["connections"], alert.connections);

    let block = render(|out| alert_block(out, 3, AlertChangeKind::Update, &alert));
    let first = block.lines().next().unwrap();
    assert!(
        first.starts_with("3. ") && first.ends_with("(alert 7, updated)"),
        "{first}"
    );
}

/// A streamed record is the alert as an NDJSON listing prints it, with its `type` put first:
/// byte for byte, so that a consumer reads both with one schema.
#[test]
fn a_streamed_record_is_the_listed_alert_with_its_type_first() {
    let mut listed = [openssh_alert(), httpd_alert()];
    listed[1].id = Some(12);
    let lines = render(|out| alerts(out, Format::Ndjson, &listed));
    for (alert, line) in listed.iter().zip(lines.lines()) {
        for (kind, name) in [
            (AlertChangeKind::New, "alert"),
            (AlertChangeKind::Update, "alert-update"),
        ] {
            let record = render(|out| alert_record(out, kind, alert));
            let body = line.strip_prefix('{').unwrap();
            assert_eq!(record, format!("{{\"type\":\"{name}\",{body}\n"));
        }
    }
}

proptest::proptest! {
    /// OCSF findings are serialized from typed documents: every object's keys must come in the
    /// order a `serde_json::Value` prints them (by name), and every optional field must be
    /// left out, not null, whichever of them an alert has. Each line, read as a `Value` and
    /// printed again, is the same bytes.
    #[test]
    fn ocsf_lines_print_as_their_value_would(toggles in proptest::collection::vec(proptest::bool::ANY, 12)) {
        let mut alert = openssh_alert();
        let t = |i: usize| toggles[i];
        if t(0) {
            alert.vulns[0].cvss = None;
        }
        if t(1) {
            if let Some(c) = alert.vulns[1].cvss.as_mut() {
                c.vector.clear();
            }
        }
        if t(2) {
            alert.vulns[0].epss = None;
        }
        if t(3) {
            if let Some(e) = alert.vulns[1].epss.as_mut() {
                e.date = None;
            }
        }
        if t(4) {
            alert.vulns[1].kev = true;
            alert.vulns[1].kev_date_added = (!t(5)).then(|| "2024-07-01".parse().unwrap());
        }
        if t(6) {
            alert.application.package = None;
            if t(7) {
                alert.application.version = None;
            }
        }
        if t(8) {
            alert.intel.truncate(1);
        }
        if t(9) {
            alert.vulns.clear();
        }
        if t(10) {
            alert.transport = Transport::Icmp;
            alert.host = ip("2001:db8::10");
        }
        let activity = if t(11) { OcsfActivity::Update } else { OcsfActivity::Create };
        let line = render(|out| alert_change_ocsf(out, activity, &alert));
        let line = line.trim_end();
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        proptest::prop_assert_eq!(serde_json::to_string(&value).unwrap(), line);
        proptest::prop_assert_eq!(picket_report::ocsf_finding(&alert, activity), value);
    }
}
