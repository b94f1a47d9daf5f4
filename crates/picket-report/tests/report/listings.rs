//! Snapshots of the threat side's small listings (feeds, intel lookups, inventory, suppressions,
//! blocks, vulnerability imports), as a table and as JSON, and their empty tables.

use picket_model::{
    ActiveBlock, Application, Confidence, Cvss, CvssSeverity, CvssVersion, FeedFormat, FeedMeta,
    FeedSummary, Imported, Indicator, InventoryEntry, KevEntry, ReportFormat, Suppression,
    Timestamp, VulnMatch,
};
use picket_report::{Format, ReportError, listings};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn render(f: impl FnOnce(&mut Vec<u8>) -> Result<(), ReportError>) -> String {
    let mut out = Vec::new();
    f(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn feeds() -> Vec<FeedSummary> {
    let mut meta = FeedMeta::new("firehol", FeedFormat::Firehol);
    meta.file_date = Some(at("2026-12-01T06:00:00Z"));
    meta.category = Some("attacks".into());
    vec![
        FeedSummary {
            name: "firehol".into(),
            format: FeedFormat::Firehol,
            meta,
            indicators: 4521,
            loaded_at: at("2026-12-06T11:58:30Z"),
        },
        FeedSummary {
            name: "tor".into(),
            format: FeedFormat::TorExits,
            meta: FeedMeta::new("tor", FeedFormat::TorExits),
            indicators: 1,
            loaded_at: at("2026-12-06T12:00:00Z"),
        },
    ]
}

fn indicators() -> Vec<Indicator> {
    let mut scored = Indicator::new("203.0.113.0/24".parse().unwrap(), "ipsum");
    scored.score = Some(3.0);
    scored.category = Some("attacks".into());
    scored.first_seen = Some(at("2026-11-30T00:00:00Z"));
    scored.last_seen = Some(at("2026-12-05T23:59:59Z"));
    // Third-party text reaches the table as text.
    scored.comment = Some("listed\x1b[2J".into());
    vec![
        scored,
        Indicator::new("203.0.113.7/32".parse().unwrap(), "plain"),
    ]
}

fn openssh() -> Application {
    let mut app = Application::new("openssh");
    app.vendor = Some("openbsd".into());
    app.version = Some("9.2p1".into());
    app.cpe = Some(
        "cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*"
            .parse()
            .unwrap(),
    );
    app
}

fn inventory() -> Vec<(InventoryEntry, Vec<VulnMatch>)> {
    let vuln = |id: &str, score: Option<f64>, kev: bool| VulnMatch {
        vuln_id: id.into(),
        application: openssh(),
        confidence: Confidence::Exact,
        why: "9.2p1 is in [8.5p1, 9.8p1)".into(),
        cvss: score.map(|base_score| Cvss {
            version: CvssVersion::V3_1,
            base_score,
            severity: CvssSeverity::High,
            vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H".into(),
        }),
        kev: kev.then(|| KevEntry {
            date_added: "2024-07-01".parse().unwrap(),
            due_date: "2024-07-22".parse().unwrap(),
            ransomware: false,
            action: "Apply updates per vendor instructions.".into(),
        }),
        epss: None,
    };
    vec![
        (
            InventoryEntry {
                host: "192.0.2.10".parse().unwrap(),
                port: 22,
                application: openssh(),
                source: "manual".into(),
                updated_at: at("2026-12-06T10:00:00Z"),
            },
            vec![
                vuln("CVE-2024-6387", Some(8.1), true),
                // The same id from another source is listed once.
                vuln("CVE-2024-6387", Some(8.1), true),
                vuln("CVE-2023-51385", None, false),
            ],
        ),
        (
            InventoryEntry {
                host: "2001:db8::5".parse().unwrap(),
                port: 8080,
                application: Application::new("tomcat"),
                source: "report:trivy.json".into(),
                updated_at: at("2026-12-06T10:05:00Z"),
            },
            Vec::new(),
        ),
    ]
}

fn suppressions() -> Vec<Suppression> {
    let mut scanner = Suppression::new("our scanner", at("2026-12-01T00:00:00Z"));
    scanner.id = Some(1);
    scanner.client = Some("198.51.100.0/24".parse().unwrap());
    scanner.port = Some(22);
    let mut noisy = Suppression::new("noisy while patching", at("2026-12-02T00:00:00Z"));
    noisy.id = Some(2);
    noisy.application = Some("openssh".into());
    noisy.expires_at = Some(at("2026-12-09T00:00:00Z"));
    vec![scanner, noisy]
}

fn blocks() -> Vec<ActiveBlock> {
    vec![
        ActiveBlock {
            net: "203.0.113.7".into(),
            expires_in_s: Some(86_398),
            reason: Some("alert 4: critical".into()),
            alert_id: Some(4),
            since: Some(at("2026-12-06T12:00:01Z")),
        },
        ActiveBlock {
            net: "198.51.100.0/24".into(),
            expires_in_s: None,
            reason: None,
            alert_id: None,
            since: None,
        },
    ]
}

/// Every listing in one format, each under a heading of its own.
fn all(format: Format) -> String {
    let hits = indicators();
    let hits: Vec<&Indicator> = hits.iter().collect();
    let ip = "203.0.113.7".parse().unwrap();
    [
        ("feeds", render(|o| listings::feeds(o, format, &feeds()))),
        (
            "lookup",
            render(|o| listings::indicators(o, format, ip, &hits)),
        ),
        (
            "inventory",
            render(|o| listings::inventory(o, format, &inventory())),
        ),
        (
            "suppressions",
            render(|o| listings::suppressions(o, format, &suppressions())),
        ),
        ("blocks", render(|o| listings::blocks(o, format, &blocks()))),
    ]
    .map(|(name, text)| format!("== {name}\n{text}"))
    .concat()
}

#[test]
fn listings_table() {
    insta::assert_snapshot!(all(Format::Table));
}

#[test]
fn listings_json() {
    insta::assert_snapshot!(all(Format::Json));
}

#[test]
fn listings_ndjson() {
    insta::assert_snapshot!(all(Format::Ndjson));
}

#[test]
fn empty_listings_say_so() {
    let ip = "192.0.2.1".parse().unwrap();
    let text = [
        render(|o| listings::feeds(o, Format::Table, &[])),
        render(|o| listings::indicators(o, Format::Table, ip, &[])),
        render(|o| listings::inventory(o, Format::Table, &[])),
        render(|o| listings::suppressions(o, Format::Table, &[])),
        render(|o| listings::blocks(o, Format::Table, &[])),
        render(|o| listings::feeds(o, Format::Json, &[])),
        render(|o| listings::blocks(o, Format::Ndjson, &[])),
    ]
    .concat();
    insta::assert_snapshot!(text);
}

#[test]
fn listings_have_no_xml() {
    let mut out = Vec::new();
    assert!(matches!(
        listings::feeds(&mut out, Format::Xml, &feeds()),
        Err(ReportError::Unsupported { .. })
    ));
    assert!(out.is_empty());
}

#[test]
fn vuln_import_summary() {
    let files = vec![
        (
            "nvd.json".to_owned(),
            Imported::Nvd {
                records: 1204,
                skipped: 2,
            },
        ),
        (
            "osv.json".to_owned(),
            Imported::Osv {
                records: 1,
                skipped: 0,
            },
        ),
        (
            "kev.json".to_owned(),
            Imported::Kev {
                version: Some("2026.12.05".into()),
                entries: 1,
                skipped: 0,
            },
        ),
        (
            "kev-old.json".to_owned(),
            Imported::Kev {
                version: None,
                entries: 3,
                skipped: 1,
            },
        ),
        (
            "epss.csv".to_owned(),
            Imported::Epss {
                scores: 2,
                skipped: 0,
            },
        ),
        (
            "trivy.json".to_owned(),
            Imported::Report {
                format: ReportFormat::Trivy,
                vulnerabilities: 1,
                matches: 3,
            },
        ),
    ];
    let skipped: Vec<String> = (1..=12)
        .map(|line| format!("nvd.json: record {line}: no id \x1b[31m"))
        .collect();
    insta::assert_snapshot!(render(|o| listings::vuln_import(o, &files, &skipped, 3)));
    let quiet = render(|o| listings::vuln_import(o, &files[1..2], &[] as &[String], 0));
    assert_eq!(quiet, "osv.json: OSV, 1 record\n");
}
