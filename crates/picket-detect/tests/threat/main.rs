//! The threat rule end to end over real data shapes: IPsum parsed by picket-intel, the NVD
//! record of CVE-2024-6387 matched by picket-vuln, connection events read by picket-ingest.
//! See tests/fixtures/threat/README.md for where each file comes from.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;

use picket_detect::threat::{AlertChange, Inventory, ThreatDetector, ThreatSettings};
use picket_ingest::{EventReader, Input};
use picket_intel::{IntelTable, LoadOptions, load_file};
use picket_model::{
    Application, ConnEvent, HomeNet, Indicator, Severity, SeverityReason, Timestamp, Transport,
};
use picket_vuln::{VulnDb, read_nvd};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/threat")
        .join(name)
}

/// OpenSSH 9.2p1 with its NVD matches (CVE-2024-6387).
fn vulnerable_openssh() -> (Application, Vec<picket_model::VulnMatch>) {
    let mut db = VulnDb::new();
    let nvd = read_nvd(
        File::open(fixture("CVE-2024-6387.json")).unwrap(),
        "CVE-2024-6387.json",
    )
    .unwrap();
    for record in nvd.records {
        db.add_nvd(record);
    }
    let openssh = Application::new("openssh")
        .with_vendor("openbsd")
        .with_version("9.2p1");
    let matches = db.matches(&openssh);
    assert!(matches.iter().any(|m| m.vuln_id == "CVE-2024-6387"));
    (openssh, matches)
}

fn detector() -> ThreatDetector {
    let feed = load_file("ipsum", &fixture("ipsum_head.txt"), &LoadOptions::default()).unwrap();
    assert_eq!(feed.indicators.len(), 7);
    let intel = Arc::new(IntelTable::from_feeds([feed]).unwrap());
    let (openssh, matches) = vulnerable_openssh();
    let mut inventory = Inventory::new();
    let host = "192.168.1.10".parse().unwrap();
    inventory.insert(host, 22, Transport::Tcp, openssh, &matches);
    inventory.insert(host, 80, Transport::Tcp, Application::new("nginx"), &[]);

    ThreatDetector::new(
        intel,
        inventory,
        HomeNet::default(),
        ThreatSettings::default(),
        Vec::new(),
    )
    .unwrap()
}

fn events() -> Vec<ConnEvent> {
    let file = File::open(fixture("events.ndjson")).unwrap();
    EventReader::new(BufReader::new(file), "events.ndjson", Some(Input::Ndjson))
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn ipsum_client_logging_in_to_vulnerable_openssh() {
    let mut d = detector();
    let changes: Vec<AlertChange> = events().iter().flat_map(|ev| d.observe(ev)).collect();
    let kinds: Vec<bool> = changes.iter().map(AlertChange::is_new).collect();
    assert_eq!(kinds, [true, false, false, false, true], "{changes:#?}");

    let severities: Vec<Severity> = changes.iter().map(|c| c.alert().severity).collect();
    // Attempted only: 1 feed + CVSS 8.1; established: +2; 41,002 bytes in one connection: +2.
    assert_eq!(
        severities,
        [
            Severity::Medium,
            Severity::Medium,
            Severity::High,
            Severity::High,
            Severity::Medium
        ]
    );

    let a = changes[3].alert();
    assert_eq!(a.client.to_string(), "77.90.185.20");
    assert_eq!(a.intel[0].feed, "ipsum");
    assert_eq!(a.intel[0].score, Some(10.0));
    assert_eq!(a.vulns[0].id, "CVE-2024-6387");
    assert_eq!(a.vulns[0].cvss.as_ref().unwrap().base_score, 8.1);
    assert_eq!((a.connections, a.established, a.attempted), (4, 2, 2));
    assert_eq!((a.bytes_to_server, a.bytes_to_client), (41_080, 5_178));
    assert_eq!(a.max_bytes_per_connection, 41_002);
    let lines: Vec<u64> = a.sources.iter().map(|s| s.line).collect();
    assert_eq!(lines, [1, 2, 6, 7]);
    assert!(a.sources.iter().all(|s| s.file == "events.ndjson"));
    assert!(
        a.reasons.iter().any(|r| matches!(
            r,
            SeverityReason::Transfer {
                largest: 41_002,
                points: 2,
                ..
            }
        )),
        "{:?}",
        a.reasons
    );

    let later = changes[4].alert();
    assert_ne!(
        later.dedup_key, a.dedup_key,
        "more than an hour later: a new window"
    );
    assert_eq!(later.connections, 1);

    let s = d.stats();
    assert_eq!(s.events, 8);
    assert_eq!(s.inbound, 7, "all but the outbound connection");
    assert_eq!(s.to_vulnerable, 6, "not the connection to nginx on port 80");
    assert_eq!(s.listed, 5, "not the unlisted 198.51.100.23");
}

/// A detector for which `client` is listed, `servers` are the home network, and each of them
/// runs a vulnerable application on its port.
fn detector_for(client: &str, servers: &[(&str, u16, Transport)]) -> ThreatDetector {
    let listed = Indicator::new(format!("{client}/32").parse().unwrap(), "test");
    let intel = Arc::new(IntelTable::build(vec![listed]).unwrap());
    let (openssh, matches) = vulnerable_openssh();
    let mut inventory = Inventory::new();
    let mut home = Vec::new();
    for (host, port, transport) in servers {
        inventory.insert(
            host.parse().unwrap(),
            *port,
            *transport,
            openssh.clone(),
            &matches,
        );
        home.push(format!("{host}/32"));
    }
    ThreatDetector::new(
        intel,
        inventory,
        HomeNet::parse(&home.join(",")).unwrap(),
        ThreatSettings::default(),
        Vec::new(),
    )
    .unwrap()
}

/// Every record of a fixture, through the detector; the changes it made.
fn detect(d: &mut ThreatDetector, name: &str) -> Vec<AlertChange> {
    let file = File::open(fixture(name)).unwrap();
    let clock = || Timestamp::from_second(1_700_000_000).unwrap();
    EventReader::new(BufReader::new(file), name, None)
        .with_clock(clock)
        .map(Result::unwrap)
        .flat_map(|ev| d.observe(&ev))
        .collect()
}

#[test]
fn suricata_records_of_one_flow_are_one_connection_with_the_final_counters() {
    // Suricata's documentation: an alert, fileinfo, http, anomaly and the flow record of flow
    // 1676750115612680. The client is private there, so the server is made the home network.
    let mut d = detector_for(
        "192.168.100.237",
        &[("142.11.240.191", 35361, Transport::Tcp)],
    );
    let changes = detect(&mut d, "suricata_docs_one_flow.json");
    let kinds: Vec<bool> = changes.iter().map(AlertChange::is_new).collect();
    assert_eq!(
        kinds,
        [true, false],
        "the alert record, then the flow record"
    );
    let first = changes[0].alert();
    assert_eq!(
        (first.bytes_to_server, first.bytes_to_client),
        (1_616, 8_044),
        "the counters when the alert fired"
    );
    let a = changes[1].alert();
    assert_eq!((a.connections, a.established, a.attempted), (1, 1, 0));
    assert_eq!((a.bytes_to_server, a.bytes_to_client), (3_536_402, 94_102));
    assert_eq!((a.packets_to_server, a.packets_to_client), (3_869, 1_523));
    assert_eq!(a.max_bytes_per_connection, 3_536_402 + 94_102);
    let lines: Vec<u64> = a.sources.iter().map(|s| s.line).collect();
    assert_eq!(lines, [1, 5]);
}

#[test]
fn conntrack_messages_of_one_connection_are_one_connection() {
    // The conntrack-tools manual's `conntrack -E` example: NEW and UPDATE of a DNS query, NEW
    // and two UPDATEs of an HTTP connection.
    let mut d = detector_for(
        "192.168.2.100",
        &[
            ("192.168.2.1", 53, Transport::Udp),
            ("66.102.9.104", 80, Transport::Tcp),
        ],
    );
    let changes = detect(&mut d, "conntrack_manual_events.log");
    let kinds: Vec<bool> = changes.iter().map(AlertChange::is_new).collect();
    assert_eq!(kinds, [true, false, true, false, false]);
    let dns = changes[1].alert();
    assert_eq!(
        (dns.port, dns.connections, dns.established, dns.attempted),
        (53, 1, 1, 0)
    );
    let http = changes[4].alert();
    assert_eq!(
        (
            http.port,
            http.connections,
            http.established,
            http.attempted
        ),
        (80, 1, 1, 0)
    );
    assert_eq!(d.stats().events, 5);
}
