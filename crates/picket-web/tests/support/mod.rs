//! Test support for picket-web's tests and its load benchmark: a stand-in for the service
//! ([`Stub`]), a seeded store (runs, findings, alerts, feeds, blocks, with hostile third-party
//! text), and many generated alerts. Test support only: never used by the service.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use picket_detect::exposure::testing;
use picket_model::{
    Alert, AlertKind, AlertTriage, AlertVuln, Application, CloseReason, Confidence, Cvss,
    CvssSeverity, CvssVersion, DetectionMethod, FeedFormat, FeedMeta, HostReason, HostResult,
    HostState, Indicator, IntelHit, Observation, Reason, RunId, RunStatus, ScanProfile, ScanRun,
    ServiceInfo, Severity, SeverityReason, SourceRef, Targets, Timestamp, Transport, Verdict,
};
use picket_store::BlockRecord;
use picket_store::prelude::*;
use picket_web::{Control, ControlError, JobStatus, ScanRequest, WebState};

pub const TOKEN: &str = "test-token-8f14e45fceea167a5a36dedd4bea2543";

/// Third-party text that must never reach a page unescaped.
pub const HOSTILE_HOSTNAME: &str = "<script>alert('host')</script>.example";
pub const HOSTILE_PRODUCT: &str = "<img src=x onerror=alert(1)>";
pub const HOSTILE_FEED: &str = "<script>feed</script>";

/// The service stand-in: records scans asked for, knows one job.
#[derive(Default)]
pub struct Stub {
    pub started: Mutex<Vec<ScanRequest>>,
}

impl Control for Stub {
    fn start_scan(&self, request: ScanRequest) -> Result<RunId, ControlError> {
        match request.job.as_deref() {
            Some("nightly") => Err(ControlError::AlreadyRunning {
                name: "nightly".into(),
                run: RunId(6),
            }),
            Some(other) if other != "adhoc" => Err(ControlError::UnknownJob(other.into())),
            _ => {
                if request.job.is_none() && request.targets.is_empty() {
                    return Err(ControlError::Invalid(
                        "targets: give a job or targets".into(),
                    ));
                }
                if let Ok(mut started) = self.started.lock() {
                    started.push(request);
                }
                Ok(RunId(99))
            }
        }
    }

    fn jobs(&self) -> Vec<JobStatus> {
        vec![
            JobStatus {
                name: "nightly".into(),
                schedule: "30 3 * * *".into(),
                next: Some(ts("2026-05-08T03:30:00Z")),
                running: None,
                last_run: Some(RunId(6)),
            },
            JobStatus {
                name: "<b>web-tier</b>".into(),
                schedule: "*/15 * * * *".into(),
                next: Some(ts("2026-05-07T12:15:00Z")),
                running: Some(RunId(7)),
                last_run: Some(RunId(5)),
            },
        ]
    }

    fn workers(&self) -> Result<Vec<picket_model::WorkerStatus>, ControlError> {
        Ok(vec![picket_model::WorkerStatus {
            v: 1,
            pool: "default".into(),
            id: "scanner-eu-1".into(),
            hostname: "<b>eu-1</b>".into(),
            role: picket_model::WorkerRole::Scan,
            started_at: ts("2026-05-07T11:00:00Z"),
            heartbeat: ts("2026-05-07T12:00:00Z"),
            in_flight: vec![picket_model::InFlight {
                run: "7".into(),
                shard: 3,
                since: ts("2026-05-07T11:59:50Z"),
            }],
            done: 12,
        }])
    }

    fn metrics(&self) -> String {
        "# HELP picket_scans_running Scans running now.\n# TYPE picket_scans_running gauge\npicket_scans_running 1\n".into()
    }
}

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The web state over `store` with the stub service.
pub fn state(store: &Store) -> (WebState, Arc<Stub>) {
    let stub = Arc::new(Stub::default());
    (
        WebState {
            store: store.clone(),
            token: TOKEN.into(),
            control: stub.clone(),
        },
        stub,
    )
}

fn observation(port: u16, service: Option<ServiceInfo>) -> Observation {
    let mut o = Observation::new(port, Reason::SynAck, Some(Duration::from_micros(350)), 1);
    o.service = service;
    o
}

fn service(name: &str, product: &str, version: &str) -> ServiceInfo {
    let mut s = ServiceInfo::new(name, DetectionMethod::Banner, 9);
    s.product = Some(product.into());
    s.version = Some(version.into());
    s
}

fn host(addr: &str, ports: Vec<Observation>, hostname: Option<&str>) -> HostResult {
    let mut h = testing::host(HostState::Up, HostReason::PortAnswered, 0.0);
    h.address = ip(addr);
    h.hostname = hostname.map(str::to_owned);
    h.ports = ports;
    h
}

/// Six daily runs of 192.0.2.0/28: 192.0.2.10 opens 8080 from run 4 on; 192.0.2.20 (a hostile
/// hostname and banner) loses 8443 in run 6. Three re-check findings, alerts of every severity
/// (one acknowledged, one closed), two feeds (one stale, one with a hostile name), a block.
pub fn seed(store: &Store) {
    let targets = Targets::parse(["192.0.2.0/28"], [] as [&str; 0]).unwrap();
    let profile = ScanProfile::new("1-10000".parse().unwrap());
    let start = ts("2026-05-01T02:00:00Z");
    let mut runs = Vec::new();
    for day in 0..6i64 {
        let at = start + jiff::SignedDuration::from_hours(24 * day);
        let id = store.begin_run(&targets, &profile, at).unwrap();
        let mut web = vec![
            observation(22, Some(service("ssh", "OpenSSH", "9.2p1"))),
            observation(80, Some(service("http", "nginx", "1.22.1"))),
            observation(443, None),
        ];
        if day >= 3 {
            web.push(observation(8080, Some(service("http", "Jetty", "9.4"))));
        }
        let mut app = vec![observation(
            22,
            Some(service("ssh", HOSTILE_PRODUCT, "1.0")),
        )];
        if day < 5 {
            app.push(observation(8443, None));
        }
        let run = ScanRun {
            id,
            target_key: targets.key(),
            targets: targets.clone(),
            profile: profile.clone(),
            started_at: at,
            finished_at: Some(at + jiff::SignedDuration::from_secs(95)),
            status: RunStatus::Completed,
            hosts: vec![
                host("192.0.2.10", web, Some("web-1.example")),
                host("192.0.2.20", app, Some(HOSTILE_HOSTNAME)),
            ],
            rechecks: vec![],
            unlisted_down: 0,
        };
        store.finish_run(&run).unwrap();
        runs.push(run);
    }
    let (reset, answer) = (Reason::Reset, Reason::SynAck);
    let silent = Reason::NoResponse;
    let mut findings = vec![
        testing::one(
            &runs[3],
            testing::recheck(
                Verdict::Flapping,
                &[answer, silent, answer, silent],
                &[answer; 3],
                vec![],
            ),
        ),
        testing::one(
            &runs[4],
            testing::recheck(Verdict::Filtered, &[silent; 4], &[answer; 3], vec![]),
        ),
        testing::one(
            &runs[5],
            testing::recheck(Verdict::Closed, &[reset; 6], &[answer; 3], vec![]),
        ),
    ];
    for f in &mut findings {
        f.hostname = Some(HOSTILE_HOSTNAME.into());
    }
    store.save_findings(&mut findings).unwrap();

    let now = Timestamp::now();
    let ipsum: Vec<Indicator> = ["203.0.113.7", "198.51.100.23", "203.0.113.50"]
        .iter()
        .map(|a| Indicator::new(IpNet::from(ip(a)), "ipsum"))
        .collect();
    store
        .replace_feed(
            "ipsum",
            &FeedMeta::new("ipsum", FeedFormat::Ipsum),
            &ipsum,
            now - jiff::SignedDuration::from_hours(3),
        )
        .unwrap();
    let hostile = vec![Indicator::new(
        "203.0.113.0/24".parse().unwrap(),
        HOSTILE_FEED,
    )];
    store
        .replace_feed(
            HOSTILE_FEED,
            &FeedMeta::new(HOSTILE_FEED, FeedFormat::Plain),
            &hostile,
            now - jiff::SignedDuration::from_hours(24 * 4),
        )
        .unwrap();

    let window = ts("2026-05-06T10:00:00Z");
    let mut alerts: Vec<Alert> = [
        ("203.0.113.7", "192.0.2.20", Severity::Critical),
        ("198.51.100.23", "192.0.2.10", Severity::High),
        ("203.0.113.50", "192.0.2.10", Severity::High),
        ("203.0.113.51", "192.0.2.20", Severity::Medium),
        ("203.0.113.52", "192.0.2.10", Severity::Medium),
        ("203.0.113.53", "192.0.2.10", Severity::Low),
        ("203.0.113.54", "192.0.2.20", Severity::Info),
    ]
    .iter()
    .enumerate()
    .map(|(i, (client, host, severity))| alert(ip(client), ip(host), *severity, window, i as i64))
    .collect();
    store.upsert_alerts(&mut alerts).unwrap();
    let at = ts("2026-05-06T11:00:00Z");
    store
        .set_alert_triage(
            alerts[2].id.unwrap(),
            &AlertTriage::acknowledged(
                Some("checking with the web team".into()),
                Some("ana".into()),
                at,
            ),
        )
        .unwrap();
    store
        .set_alert_triage(
            alerts[5].id.unwrap(),
            &AlertTriage::closed(
                CloseReason::ExpectedTesting,
                Some("<i>our</i> pentest".into()),
                Some("ben".into()),
                at,
            ),
        )
        .unwrap();
    store
        .record_block(&BlockRecord {
            id: None,
            net: "203.0.113.0/24".parse().unwrap(),
            reason: "scanner sweep from alert 1".into(),
            alert_id: alerts[0].id,
            created_at: now - jiff::SignedDuration::from_hours(2),
            expires_at: Some(now + jiff::SignedDuration::from_hours(22)),
            removed_at: None,
        })
        .unwrap();
}

/// An alert from `client` to `host`:22 (OpenSSH 9.2p1), `minute` minutes into `window`.
pub fn alert(
    client: IpAddr,
    host: IpAddr,
    severity: Severity,
    window: Timestamp,
    minute: i64,
) -> Alert {
    let app = Application::new("openssh")
        .with_vendor("openbsd")
        .with_version("9.2p1");
    let kind = AlertKind::BadClientToVulnerableApp;
    let first = window + jiff::SignedDuration::from_mins(minute);
    let feeds = if client.to_string().starts_with("203.0.113.") {
        vec!["ipsum", HOSTILE_FEED]
    } else {
        vec!["ipsum"]
    };
    Alert {
        id: None,
        kind,
        dedup_key: Alert::dedup_key_for(kind, client, host, 22, Transport::Tcp, &app, window),
        window_start: window,
        client,
        host,
        port: 22,
        transport: Transport::Tcp,
        application: app,
        intel: feeds
            .iter()
            .map(|feed| IntelHit {
                feed: (*feed).into(),
                network: IpNet::from(client),
                score: Some(4.0),
                category: Some("attacks".into()),
                first_seen: None,
                last_seen: None,
            })
            .collect(),
        vulns: vec![AlertVuln {
            id: "CVE-2024-6387".into(),
            cvss: Some(Cvss {
                version: CvssVersion::V3_1,
                base_score: 8.1,
                severity: CvssSeverity::High,
                vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H".into(),
            }),
            kev: false,
            kev_date_added: None,
            epss: None,
            confidence: Confidence::VersionRange,
        }],
        first_seen: first,
        last_seen: first + jiff::SignedDuration::from_secs(40),
        connections: 3,
        established: 2,
        attempted: 1,
        bytes_to_server: 52_000,
        bytes_to_client: 3_100,
        packets_to_server: 60,
        packets_to_client: 41,
        max_bytes_per_connection: 48_000,
        severity,
        reasons: vec![
            SeverityReason::Feeds {
                client,
                feeds: feeds.iter().map(|f| (*f).to_owned()).collect(),
                points: feeds.len() as i32,
                cap: 3,
            },
            SeverityReason::Connections {
                connections: 3,
                established: 2,
                points: 2,
            },
        ],
        sources: vec![SourceRef {
            file: "conn.log".into(),
            line: 9 + minute as u64,
        }],
    }
}

/// `n` alerts from distinct clients in 198.18.0.0/15, one minute apart, stored in batches.
pub fn many_alerts(store: &Store, n: u32) {
    let window = ts("2026-04-01T00:00:00Z");
    let severities = Severity::ALL;
    let mut batch = Vec::with_capacity(1000);
    for i in 0..n {
        let client = IpAddr::from([198, 18 + ((i >> 16) & 1) as u8, (i >> 8) as u8, i as u8]);
        let severity = severities[(i % 5) as usize];
        batch.push(alert(
            client,
            ip("192.0.2.10"),
            severity,
            window,
            i64::from(i),
        ));
        if batch.len() == 1000 {
            store.upsert_alerts(&mut batch).unwrap();
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.upsert_alerts(&mut batch).unwrap();
    }
}
