//! Builders shared by the threat rule's unit tests.

use std::net::IpAddr;

use picket_model::{
    Alert, AlertKind, AlertVuln, Application, Confidence, ConnEvent, ConnOutcome, Cvss,
    CvssSeverity, CvssVersion, IntelHit, Severity, SourceRef, Timestamp, Transport,
};

pub(crate) fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(1_719_835_200 + secs).unwrap()
}

pub(crate) fn vuln(id: &str, score: Option<f64>, kev: bool) -> AlertVuln {
    AlertVuln {
        id: id.into(),
        cvss: score.map(|s| Cvss {
            version: CvssVersion::V3_1,
            base_score: s,
            severity: CvssSeverity::from_score(s),
            vector: String::new(),
        }),
        kev,
        kev_date_added: kev.then(|| "2024-07-10".parse().unwrap()),
        epss: None,
        confidence: Confidence::VersionRange,
    }
}

pub(crate) fn intel(feed: &str) -> IntelHit {
    IntelHit {
        feed: feed.into(),
        network: "203.0.113.7/32".parse().unwrap(),
        score: None,
        category: None,
        first_seen: None,
        last_seen: None,
    }
}

/// An alert with one connection, attempted, carrying nothing: scoring tests change what they test.
pub(crate) fn alert_with(feeds: &[&str], vulns: Vec<AlertVuln>) -> Alert {
    let app = Application::new("openssh").with_version("9.2p1");
    let client: IpAddr = "203.0.113.7".parse().unwrap();
    let host: IpAddr = "10.0.0.5".parse().unwrap();
    Alert {
        id: None,
        kind: AlertKind::BadClientToVulnerableApp,
        dedup_key: Alert::dedup_key_for(
            AlertKind::BadClientToVulnerableApp,
            client,
            host,
            22,
            Transport::Tcp,
            &app,
            ts(0),
        ),
        window_start: ts(0),
        client,
        host,
        port: 22,
        transport: Transport::Tcp,
        application: app,
        intel: feeds.iter().map(|f| intel(f)).collect(),
        vulns,
        first_seen: ts(0),
        last_seen: ts(0),
        connections: 1,
        established: 0,
        attempted: 1,
        bytes_to_server: 0,
        bytes_to_client: 0,
        packets_to_server: 0,
        packets_to_client: 0,
        max_bytes_per_connection: 0,
        severity: Severity::Info,
        reasons: Vec::new(),
        sources: Vec::new(),
    }
}

/// A TCP event `secs` after the test epoch from `src` to `dst:port`.
pub(crate) fn event(src: &str, dst: &str, port: u16, secs: i64, outcome: ConnOutcome) -> ConnEvent {
    ConnEvent {
        ts: ts(secs),
        src: src.parse().unwrap(),
        src_port: Some(40_000),
        dst: dst.parse().unwrap(),
        dst_port: Some(port),
        proto: Transport::Tcp,
        outcome,
        duration: None,
        bytes_out: Some(100),
        bytes_in: Some(50),
        packets_out: Some(2),
        packets_in: Some(1),
        uid: None,
        flow: None,
        source: SourceRef {
            file: "conn.log".into(),
            line: secs.unsigned_abs() + 1,
        },
    }
}
