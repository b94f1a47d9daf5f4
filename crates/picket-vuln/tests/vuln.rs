//! Integration tests over real NVD records and KEV entries, plus format fixtures.

use std::fs::File;
use std::path::PathBuf;

use picket_model::{Application, Confidence, Cpe, Package, VulnMatch};
use picket_vuln::{ReportFormat, VulnDb, read_epss, read_kev, read_nvd, read_osv, read_report};
use proptest::prelude::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn open(name: &str) -> File {
    File::open(fixture(name)).unwrap()
}

const NVD: &[&str] = &[
    "CVE-2011-2523",
    "CVE-2016-6210",
    "CVE-2021-23017",
    "CVE-2021-41617",
    "CVE-2021-41773",
    "CVE-2023-38408",
    "CVE-2024-6387",
];

fn db() -> VulnDb {
    let mut db = VulnDb::new();
    for id in NVD {
        let name = format!("nvd/{id}.json");
        let import = read_nvd(open(&name), &name).unwrap();
        assert!(import.skipped.is_empty(), "{:?}", import.skipped);
        assert_eq!(import.records.len(), 1);
        db.add_nvd(import.records.into_iter().next().unwrap());
    }
    let kev = read_kev(open("kev_subset.json"), "kev_subset.json").unwrap();
    assert!(kev.skipped.is_empty());
    db.add_kev(&kev);
    let epss = read_epss(open("epss_sample.csv"), "epss_sample.csv").unwrap();
    assert!(epss.skipped.is_empty());
    db.add_epss(&epss);
    db
}

fn ids(matches: &[VulnMatch]) -> Vec<&str> {
    let mut v: Vec<&str> = matches.iter().map(|m| m.vuln_id.as_str()).collect();
    v.sort();
    v
}

fn find<'a>(matches: &'a [VulnMatch], id: &str) -> Option<&'a VulnMatch> {
    matches.iter().find(|m| m.vuln_id == id)
}

fn openssh(version: &str) -> Application {
    Application::new("openssh")
        .with_vendor("openbsd")
        .with_version(version)
}

#[test]
fn nvd_record_fields() {
    let import = read_nvd(open("nvd/CVE-2024-6387.json"), "CVE-2024-6387.json").unwrap();
    let cve = &import.records[0];
    let v = &cve.vulnerability;
    assert_eq!(v.id, "CVE-2024-6387");
    assert!(
        v.summary
            .starts_with("A security regression (CVE-2006-5051)")
    );
    let cvss = v.cvss.as_ref().unwrap();
    assert_eq!(
        (cvss.base_score, cvss.vector.as_str()),
        (8.1, "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H")
    );
    assert_eq!(v.published.unwrap().to_string(), "2024-07-01T13:15:06.467Z");
    assert!(!v.references.is_empty());
    // CVE-2011-2523 has v3.1 and v2: v3.1 wins.
    let vsftpd = read_nvd(open("nvd/CVE-2011-2523.json"), "x").unwrap();
    assert_eq!(
        vsftpd.records[0]
            .vulnerability
            .cvss
            .as_ref()
            .unwrap()
            .base_score,
        9.8
    );
}

#[test]
fn openssh_regresshion_ranges() {
    let db = db();
    // 8.5p1 is the lower bound (listed explicitly as 8.5 update p1), 9.2p1 inside [8.6, 9.8).
    for (version, want) in [
        ("9.2p1", Some(Confidence::VersionRange)),
        ("8.5p1", Some(Confidence::Exact)),
        ("9.7p1", Some(Confidence::VersionRange)),
        ("4.3p2", Some(Confidence::VersionRange)),
        ("9.8p1", None),
        ("8.4p1", None),
        ("7.4p1", None),
    ] {
        let matches = db.matches(&openssh(version));
        let got = find(&matches, "CVE-2024-6387").map(|m| m.confidence);
        assert_eq!(got, want, "OpenSSH {version}: {:?}", ids(&matches));
    }
    // The split form of the same version, as a CPE.
    let cpe = Cpe::parse("cpe:2.3:a:openbsd:openssh:8.5:p1:*:*:*:*:*:*").unwrap();
    let app = Application::new("openssh").with_cpe(cpe);
    assert!(find(&db.matches(&app), "CVE-2024-6387").is_some());
}

#[test]
fn openssh_other_records() {
    let db = db();
    let m = db.matches(&openssh("9.2p1"));
    assert_eq!(ids(&m), ["CVE-2023-38408", "CVE-2024-6387"]);
    let m = db.matches(&openssh("8.7p1"));
    assert_eq!(
        ids(&m),
        ["CVE-2021-41617", "CVE-2023-38408", "CVE-2024-6387"]
    );
    let m = db.matches(&openssh("8.8p1"));
    assert_eq!(ids(&m), ["CVE-2023-38408", "CVE-2024-6387"]);
    // CVE-2016-6210 names update p2 up to 7.2.
    assert!(find(&db.matches(&openssh("7.2p2")), "CVE-2016-6210").is_some());
    assert!(find(&db.matches(&openssh("7.2p1")), "CVE-2016-6210").is_none());
    assert!(db.matches(&openssh("9.8p1")).is_empty());
}

#[test]
fn nginx_vsftpd_httpd() {
    let db = db();
    let nginx = |v: &str| Application::new("nginx").with_vendor("f5").with_version(v);
    assert!(find(&db.matches(&nginx("1.20.0")), "CVE-2021-23017").is_some());
    assert!(find(&db.matches(&nginx("1.21.0")), "CVE-2021-23017").is_none());
    assert!(find(&db.matches(&nginx("0.6.17")), "CVE-2021-23017").is_none());
    // A banner gives "nginx" without a vendor: still matched through the product.
    let bare = Application::new("nginx").with_version("1.20.0");
    assert!(find(&db.matches(&bare), "CVE-2021-23017").is_some());

    let vsftpd = Application::new("vsftpd")
        .with_vendor("vsftpd_project")
        .with_version("2.3.4");
    let m = db.matches(&vsftpd);
    assert_eq!(
        find(&m, "CVE-2011-2523").unwrap().confidence,
        Confidence::Exact
    );
    let fixed = Application::new("vsftpd")
        .with_vendor("vsftpd_project")
        .with_version("2.3.5");
    assert!(db.matches(&fixed).is_empty());

    let httpd = Application::new("http_server")
        .with_vendor("apache")
        .with_version("2.4.49");
    let m = db.matches(&httpd);
    let hit = find(&m, "CVE-2021-41773").unwrap();
    assert!(hit.kev.is_some(), "CVE-2021-41773 is in CISA KEV");
    assert!(hit.epss.is_some());
    let unknown = Application::new("http_server").with_vendor("apache");
    assert_eq!(
        find(&db.matches(&unknown), "CVE-2021-41773")
            .unwrap()
            .confidence,
        Confidence::ProductOnly
    );
}

#[test]
fn kev_catalog_of_real_entries_parses_whole_and_states_its_count() {
    // Every 35th entry of the real catalog (fixtures/README.md): all parse, and `count` is read.
    let kev = read_kev(open("kev_every_35th.json"), "kev_every_35th.json").unwrap();
    assert_eq!(kev.catalog_version.as_deref(), Some("2025.08.25"));
    assert_eq!(kev.records.len(), 42);
    assert_eq!(kev.count, Some(42));
    assert!(kev.skipped.is_empty(), "{:?}", kev.skipped.first());
    assert!(kev.records.iter().any(|r| r.cve_id == "CVE-2021-41773"));
    assert_eq!(
        kev.records.iter().filter(|r| r.entry.ransomware).count(),
        14
    );
}

#[test]
fn fully_joined_match_snapshot() {
    let db = db();
    let httpd = Application::new("http_server")
        .with_vendor("apache")
        .with_version("2.4.49");
    let m = db.matches(&httpd);
    insta::assert_json_snapshot!(
        "httpd_2_4_49_cve_2021_41773",
        find(&m, "CVE-2021-41773").unwrap()
    );
    let ssh = db.matches(&openssh("9.2p1"));
    insta::assert_json_snapshot!(
        "openssh_9_2p1_regresshion",
        find(&ssh, "CVE-2024-6387").unwrap()
    );
}

#[test]
fn osv_package_matching() {
    let mut db = db();
    let import = read_osv(open("osv_debian_openssh.json"), "osv_debian_openssh.json").unwrap();
    assert!(import.skipped.is_empty(), "{:?}", import.skipped);
    db.add_osv(import.records.into_iter().next().unwrap());
    // The upstream version alone (9.2p1) is inside NVD's range; the package version decides.
    let pkg = |v: &str| openssh("9.2p1").with_package("Debian:12", Package::new("openssh", v));
    let m = db.matches(&pkg("1:9.2p1-2+deb12u2"));
    let hit = find(&m, "CVE-2024-6387").unwrap();
    assert_eq!(hit.confidence, Confidence::Exact);
    assert!(hit.cvss.is_some(), "joined with the NVD record");
    let m = db.matches(&pkg("1:9.2p1-2+deb12u1~bpo"));
    assert_eq!(
        find(&m, "CVE-2024-6387").unwrap().confidence,
        Confidence::VersionRange
    );
    assert!(find(&db.matches(&pkg("1:9.2p1-2+deb12u3")), "CVE-2024-6387").is_none());
    assert!(find(&db.matches(&pkg("1:9.6p1-1")), "CVE-2024-6387").is_none());
    // Without package evidence the CPE range still reports it.
    assert!(find(&db.matches(&openssh("9.2p1")), "CVE-2024-6387").is_some());

    let npm = read_osv(open("osv_npm_semver.json"), "osv_npm_semver.json").unwrap();
    assert!(npm.skipped.is_empty(), "{:?}", npm.skipped);
    let record = npm.records.into_iter().next().unwrap();
    assert_eq!(record.vulnerability.aliases, ["CVE-2021-41773"]);
    db.add_osv(record);
    let app = |v: &str| {
        Application::new("example-static-server")
            .with_package("npm", Package::new("example-static-server", v))
    };
    let m = db.matches(&app("1.3.0"));
    let hit = find(&m, "GHSA-aaaa-bbbb-cccc").unwrap();
    assert_eq!(hit.confidence, Confidence::VersionRange);
    assert!(hit.kev.is_some(), "KEV joined through the CVE alias");
    assert!(db.matches(&app("1.4.2")).is_empty());
    assert!(!db.matches(&app("2.1.0")).is_empty());
    assert!(db.matches(&app("2.1.1")).is_empty());
}

#[test]
fn scanner_reports() {
    let trivy = read_report(open("trivy_debian12.json"), "trivy_debian12.json").unwrap();
    let grype = read_report(open("grype_debian12.json"), "grype_debian12.json").unwrap();
    let cdx = read_report(open("cyclonedx_vex.json"), "cyclonedx_vex.json").unwrap();
    assert_eq!(trivy.format, ReportFormat::Trivy);
    assert_eq!(grype.format, ReportFormat::Grype);
    assert_eq!(cdx.format, ReportFormat::CycloneDx);
    for report in [&trivy, &grype, &cdx] {
        assert_eq!(report.matches.len(), 1, "{:?}", report.format);
        let m = &report.matches[0];
        assert_eq!(m.vuln_id, "CVE-2024-6387");
        assert_eq!(
            m.application.package,
            Some(Package::new("openssh-server", "1:9.2p1-2+deb12u2"))
        );
        assert_eq!(m.application.ecosystem.as_deref(), Some("Debian"));
        assert_eq!(m.cvss.as_ref().unwrap().base_score, 8.1);
    }
    assert!(trivy.matches[0].why.contains("fixed in 1:9.2p1-2+deb12u3"));
    assert!(grype.matches[0].why.contains("dpkg-matcher"));
    // The VEX-excluded nginx finding is a known vulnerability but not a match.
    assert_eq!(cdx.vulnerabilities.len(), 2);

    let mut db = db();
    db.add_report(trivy);
    let app = Application::new("openssh-server").with_package(
        "Debian:12",
        Package::new("openssh-server", "1:9.2p1-2+deb12u2"),
    );
    let m = db.matches(&app);
    assert_eq!(ids(&m), ["CVE-2024-6387"]);
    assert_eq!(m[0].confidence, Confidence::Exact);
}

#[test]
fn epss_fixture() {
    let f = read_epss(open("epss_sample.csv"), "epss_sample.csv").unwrap();
    assert_eq!(f.scores.len(), 4);
    assert_eq!(f.score_date.unwrap().to_string(), "2025-08-25");
}

proptest! {
    #[test]
    fn nvd_parser_never_panics(s in "\\PC{0,200}") {
        let _ = read_nvd(s.as_bytes(), "fuzz");
    }

    #[test]
    fn nvd_parser_never_panics_on_json_shapes(
        id in "\\PC{0,12}",
        criteria in "\\PC{0,40}",
        score in proptest::num::f64::ANY,
        op in "\\PC{0,4}",
    ) {
        let doc = serde_json::json!({"vulnerabilities": [{"cve": {
            "id": id, "metrics": {"cvssMetricV31": [{"cvssData": {"version": "3.1", "vectorString": "", "baseScore": if score.is_finite() { serde_json::json!(score) } else { serde_json::json!(null) }}}]},
            "configurations": [{"nodes": [{"operator": op, "cpeMatch": [{"vulnerable": true, "criteria": criteria, "versionEndExcluding": "1"}]}]}]
        }}]});
        let _ = read_nvd(doc.to_string().as_bytes(), "fuzz");
    }

    #[test]
    fn osv_parser_never_panics(s in "\\PC{0,200}", event in "\\PC{0,10}", v in "\\PC{0,10}") {
        let _ = read_osv(s.as_bytes(), "fuzz");
        let doc = serde_json::json!({"id": "X", "affected": [{"package": {"ecosystem": "Debian", "name": "p"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{event.clone(): v.clone()}]}]}]});
        if let Ok(import) = read_osv(doc.to_string().as_bytes(), "fuzz") {
            for r in import.records {
                for a in r.affected {
                    let _ = a.affects(&v);
                }
            }
        }
    }

    #[test]
    fn epss_parser_never_panics(s in "\\PC{0,200}") {
        let _ = read_epss(s.as_bytes(), "fuzz");
    }

    #[test]
    fn report_parser_never_panics(s in "\\PC{0,200}") {
        let _ = read_report(s.as_bytes(), "fuzz");
    }

    #[test]
    fn matching_never_panics(product in "[a-z]{1,8}", version in "\\PC{0,12}") {
        let db = VulnDb::new();
        let _ = db.matches(&Application::new(product).with_version(version));
    }
}
