//! Service detection end to end: real daemons from Debian's packages (OpenSSH, nginx, Redis,
//! Memcached, vsftpd, Exim; started by `picket_lab::daemons` in one lab target) scanned by the
//! binary with `--service-detect`. Each product is named with the upstream part of the version
//! dpkg has installed; with the real NVD records of these products imported, only OpenSSH 9.2p1
//! gets a `vulnerable-service` finding, and one that says Debian may have backported the fixes.
//! The XML is Nmap's, and a plain scan sends no service probes at all.
//!
//! Run as root; otherwise, and per daemon when it is not installed, prints "skipped: ...".

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use picket_lab::daemons::{self, Daemon, Installed, Kind};
use picket_lab::{Lab, Target};
use picket_service::debian_upstream;
use serde_json::Value;

use crate::support::{Db, assert_valid_nmap_xml, fixture, json, picket, picket_in};

/// NVD records (tests/fixtures) of the daemons' products: for each, records whose affected
/// ranges end just below the installed Debian 12 version, and for OpenSSH two that include it.
const NVD_RECORDS: [&str; 12] = [
    "CVE-2024-6387.json",  // OpenSSH 8.6 to 9.8: includes 9.2p1
    "CVE-2023-38408.json", // OpenSSH before 9.3: includes 9.2p1
    "CVE-2021-41617.json", // OpenSSH 6.2 to 8.8
    "CVE-2021-23017.json", // nginx 0.6.18 to 1.20.1
    "CVE-2019-20372.json", // nginx before 1.17.7
    "CVE-2023-28856.json", // Redis 7.0.0 to 7.0.11 (and older branches)
    "CVE-2021-32761.json", // Redis 2.2.0 to 6.2.5
    "CVE-2022-0543.json",  // Debian's Redis packaging (`redis:redis:-`, Debian 9-11): not 7.0.15
    "CVE-2016-8704.json",  // Memcached up to 1.4.31
    "CVE-2011-2523.json",  // vsftpd 2.3.4
    "CVE-2020-28017.json", // Exim before 4.94.1
    "CVE-2019-10149.json", // Exim 4.87 to 4.91
];

/// The CVEs that OpenSSH 9.2p1 must be reported with.
const OPENSSH_CVES: [&str; 2] = ["CVE-2023-38408", "CVE-2024-6387"];

/// A lab target running every installed daemon on its usual port.
struct Running {
    lab: Lab,
    target: Target,
    daemons: Vec<(Daemon, Installed)>,
}

impl Running {
    /// `None` (after saying "skipped: ...") when not root or none of `kinds` is installed.
    fn start(name: &str, kinds: &[Kind]) -> Option<Self> {
        let mut lab = Lab::try_new(name).unwrap()?;
        let target = lab.add_target().unwrap();
        let mut daemons = Vec::new();
        for &kind in kinds {
            let Some(installed) = daemons::installed(kind) else {
                eprintln!(
                    "skipped: {kind} (apt-get install {})",
                    kind.debian_package()
                );
                continue;
            };
            let daemon = Daemon::start(&target, kind, kind.default_port()).unwrap();
            daemons.push((daemon, installed));
        }
        if daemons.is_empty() {
            eprintln!("skipped: none of the daemons is installed");
            return None;
        }
        Some(Self {
            lab,
            target,
            daemons,
        })
    }

    fn addr(&self) -> String {
        self.target.address_v4().to_string()
    }

    fn ports(&self) -> String {
        let ports: Vec<String> = self
            .daemons
            .iter()
            .map(|(d, _)| d.addr().port().to_string())
            .collect();
        ports.join(",")
    }

    fn daemon(&self, kind: Kind) -> Option<&(Daemon, Installed)> {
        self.daemons.iter().find(|(d, _)| d.kind() == kind)
    }

    /// `picket scan ADDR -p PORTS --db DB EXTRA...` in the scanner namespace; its stdout.
    fn scan(&self, db: &Db, extra: &[&str]) -> std::process::Output {
        let (addr, ports) = (self.addr(), self.ports());
        let mut args = vec!["scan", &addr, "-p", &ports, "--db", db.arg()];
        args.extend_from_slice(extra);
        let out = picket_in(&self.lab, &args);
        assert!(
            out.status.success(),
            "picket {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// The scan document's port entry for `port` on its only host.
fn port_entry(doc: &Value, port: u16) -> &Value {
    doc["hosts"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == port)
        .unwrap_or_else(|| panic!("no port {port} in {doc}"))
}

fn vulnerable_service_findings(findings: &Value) -> Vec<&Value> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "vulnerable-service")
        .collect()
}

#[test]
fn real_daemons_are_named_matched_against_nvd_and_written_as_nmap_xml() {
    let Some(lab) = Running::start("e2e_services", &Kind::ALL) else {
        return;
    };
    let db = Db::new();
    let mut import = vec!["--db", db.arg(), "vuln", "import"];
    let records: Vec<String> = NVD_RECORDS.iter().map(|r| fixture(r)).collect();
    import.extend(records.iter().map(String::as_str));
    let out = picket(&import);
    assert!(out.status.success(), "{import:?} failed");

    let doc = json(&lab.scan(&db, &["--service-detect", "--format", "json"]));

    // Every daemon is named, with the upstream part of the version dpkg installed.
    for (daemon, installed) in &lab.daemons {
        let kind = daemon.kind();
        let service = &port_entry(&doc, daemon.addr().port())["service"];
        eprintln!(
            "{kind} [{} {}]: {service}",
            installed.package, installed.version
        );
        assert_eq!(service["product"], kind.product(), "{kind}: {service}");
        assert_eq!(
            service["version"],
            debian_upstream(&installed.version),
            "{kind}: dpkg says {} {}",
            installed.package,
            installed.version
        );
        let cpe = service["cpe"].as_str().unwrap_or_default();
        assert!(cpe.starts_with("cpe:2.3:a:"), "{kind}: {service}");
        assert!(
            !service["name"].as_str().unwrap_or_default().is_empty(),
            "{service}"
        );
    }

    // Only OpenSSH falls in an imported range, and Debian patches it without changing the
    // upstream number: the finding must say that it rests on the version alone.
    let findings = vulnerable_service_findings(&doc["findings"]);
    let ports: Vec<&Value> = findings.iter().map(|f| &f["port"]).collect();
    if let Some((sshd, installed)) = lab.daemon(Kind::OpenSsh) {
        assert_eq!(ports, [sshd.addr().port()], "{findings:#?}");
        let finding = findings[0];
        let service = &finding["evidence"]["service"];
        assert_eq!(service["package"], format!("openssh {}", installed.version));
        let vulns = finding["evidence"]["vulns"].as_array().unwrap();
        let mut ids: Vec<&str> = vulns.iter().map(|v| v["id"].as_str().unwrap()).collect();
        ids.sort_unstable();
        assert_eq!(ids, OPENSSH_CVES, "{finding:#}");
        let regression = vulns.iter().find(|v| v["id"] == "CVE-2024-6387").unwrap();
        assert_eq!(regression["backport_possible"], true, "{regression:#}");
        assert_eq!(regression["confidence"], "version-range", "{regression:#}");
        assert_eq!(regression["cvss"]["base_score"], 8.1, "{regression:#}");
        assert!(regression["fixed_in"].is_string(), "{regression:#}");
        assert!(regression.get("kev").is_none_or(Value::is_null));
        let summary = finding["summary"].as_str().unwrap();
        assert!(summary.contains("backported"), "{summary}");
    } else {
        assert!(findings.is_empty(), "{findings:#?}");
    }

    // The store has the same finding, and the inventory every detected service.
    let stored = json(&picket(&["--db", db.arg(), "findings", "--format", "json"]));
    let stored = vulnerable_service_findings(&stored);
    assert_eq!(stored.len(), findings.len(), "{stored:#?}");
    for (s, f) in stored.iter().zip(&findings) {
        assert_eq!((&s["port"], &s["evidence"]), (&f["port"], &f["evidence"]));
    }
    let inventory = json(&picket(&[
        "--db",
        db.arg(),
        "inventory",
        "--format",
        "json",
    ]));
    let inventory = inventory.as_array().unwrap();
    assert_eq!(inventory.len(), lab.daemons.len(), "{inventory:#?}");
    for (daemon, installed) in &lab.daemons {
        let entry = inventory
            .iter()
            .find(|e| e["port"] == daemon.addr().port())
            .unwrap_or_else(|| panic!("{} not in the inventory", daemon.kind()));
        assert_eq!(entry["host"], lab.addr());
        assert_eq!(entry["source"], "scan");
        assert_eq!(
            entry["application"]["version"],
            debian_upstream(&installed.version),
            "{entry}"
        );
        let vulnerable = !entry["vulnerabilities"].as_array().unwrap().is_empty();
        assert_eq!(vulnerable, daemon.kind() == Kind::OpenSsh, "{entry:#}");
    }

    // Nmap's XML: a <service> element per port, valid against Nmap's own DTD.
    let out = lab.scan(&db, &["--service-detect", "--format", "xml"]);
    let xml = String::from_utf8(out.stdout).unwrap();
    for (daemon, installed) in &lab.daemons {
        let port = daemon.addr().port();
        let start = xml
            .find(&format!("portid=\"{port}\""))
            .unwrap_or_else(|| panic!("no port {port} in {xml}"));
        let element = &xml[start..start + xml[start..].find("</port>").unwrap()];
        let service = &element[element.find("<service ").expect(element)..];
        let service = &service[..service.find('>').unwrap()];
        let version = debian_upstream(&installed.version);
        for attr in [
            format!("product=\"{}\"", daemon.kind().product()),
            format!("version=\"{version}\""),
        ] {
            assert!(service.contains(&attr), "{attr} not in {service}");
        }
        assert!(service.contains(" name=\""), "{service}");
    }
    assert_valid_nmap_xml(&xml);
}

/// Redis's own counters (`INFO stats`): connections accepted and commands run so far. The
/// query itself is one more connection and one more command for the next call.
fn redis_counters(lab: &Lab, addr: SocketAddr) -> (u64, u64) {
    lab.in_scanner(move || {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(b"INFO stats\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        reader.read_line(&mut head).unwrap();
        let len: usize = head.trim().strip_prefix('$').unwrap().parse().unwrap();
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let text = String::from_utf8(body).unwrap();
        let counter = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .unwrap_or_else(|| panic!("no {name} in {text}"))
                .trim()
                .parse()
                .unwrap()
        };
        (
            counter("total_connections_received"),
            counter("total_commands_processed"),
        )
    })
    .unwrap()
}

#[test]
fn a_plain_scan_sends_no_service_probes() {
    let Some(lab) = Running::start("e2e_no_probes", &[Kind::Redis, Kind::OpenSsh]) else {
        return;
    };
    let Some((redis, _)) = lab.daemon(Kind::Redis) else {
        eprintln!("skipped: needs Redis to count commands");
        return;
    };
    let db = Db::new();
    let before = redis_counters(&lab.lab, redis.addr());

    let doc = json(&lab.scan(&db, &["--format", "json"]));
    for (daemon, _) in &lab.daemons {
        let entry = port_entry(&doc, daemon.addr().port());
        assert_eq!(entry["state"], "open");
        assert!(entry.get("service").is_none_or(Value::is_null), "{entry}");
    }
    assert!(vulnerable_service_findings(&doc["findings"]).is_empty());
    // The scan reached Redis (at least one connection besides the first query) and made it
    // run nothing: the one command since is that query.
    let plain = redis_counters(&lab.lab, redis.addr());
    assert!(plain.0 >= before.0 + 2, "{before:?} -> {plain:?}");
    assert_eq!(plain.1, before.1 + 1, "{before:?} -> {plain:?}");

    // The same counters see the probes of a scan with --service-detect.
    let doc = json(&lab.scan(&db, &["--service-detect", "--format", "json"]));
    assert_eq!(
        port_entry(&doc, redis.addr().port())["service"]["product"],
        "Redis"
    );
    let detected = redis_counters(&lab.lab, redis.addr());
    assert!(detected.1 >= plain.1 + 2, "{plain:?} -> {detected:?}");
}
