//! One conformance suite, run against every backend: SQLite always (a file in a temporary
//! directory), PostgreSQL when `PICKET_TEST_POSTGRES_URL` is set (each test in a schema of its
//! own, dropped afterwards, so that tests run in parallel). `.ci/setup-postgres` prepares a local
//! server; the URL is then `postgres://picket:picket@127.0.0.1:5432/picket_test`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use picket_model::{
    Evidence, ExtraPorts, Finding, FindingKind, HostReason, HostResult, HostState, HostStats,
    Interference, InterferenceDetail, InterferenceKind, InterruptCause, Interruption,
    NewOpenPortEvidence, Observation, PortState, ProbeRecord, Protocol, Reason, Recheck,
    RecheckEvidence, Remediation, RunId, RunStatus, ScanProfile, ScanRun, Summary, Targets,
    Timestamp, Verdict, Verify,
};
use picket_store::prelude::*;
use picket_store::{FindingFilter, StoreError};

const PG_URL_VAR: &str = "PICKET_TEST_POSTGRES_URL";

/// The schema version this build creates.
const LATEST: i64 = 11;

/// A database of the test's own.
struct TestDb {
    location: String,
    kind: Kind,
}

enum Kind {
    Sqlite {
        path: std::path::PathBuf,
        _dir: tempfile::TempDir,
    },
    Postgres {
        admin: Box<::postgres::Client>,
        schema: String,
    },
}

impl TestDb {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("picket.db");
        Self {
            location: path.display().to_string(),
            kind: Kind::Sqlite { path, _dir: dir },
        }
    }

    /// `None` (after saying so) when no server is configured.
    fn postgres(test: &str) -> Option<Self> {
        let Ok(url) = std::env::var(PG_URL_VAR) else {
            eprintln!("skipped: {PG_URL_VAR} not set");
            return None;
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let schema = format!(
            "picket_t{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            test
        );
        let mut admin = Box::new(::postgres::Client::connect(&url, ::postgres::NoTls).unwrap());
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        Some(Self {
            location: format!("{url}{sep}options=-c%20search_path%3D{schema}"),
            kind: Kind::Postgres { admin, schema },
        })
    }

    fn open(&self) -> Store {
        picket_store::open(&self.location).unwrap()
    }

    /// Runs SQL directly against the test's database, behind the store's back.
    fn raw(&mut self, sql: &str) {
        match &mut self.kind {
            Kind::Sqlite { path, .. } => rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(sql)
                .unwrap(),
            Kind::Postgres { admin, schema } => admin
                .batch_execute(&format!("SET search_path TO {schema}; {sql}"))
                .unwrap(),
        }
    }

    /// Takes the database back to before migration 11: PostgreSQL's alert bodies become text
    /// again (SQLite's column never changed).
    fn undo_11(&mut self) {
        if let Kind::Postgres { .. } = self.kind {
            self.raw(
                "ALTER TABLE alerts ALTER COLUMN body TYPE TEXT USING convert_from(body, 'UTF8')",
            );
        }
        self.raw("DELETE FROM schema_migrations WHERE version = 11");
    }

    fn raw_count(&mut self, sql: &str) -> i64 {
        match &mut self.kind {
            Kind::Sqlite { path, .. } => rusqlite::Connection::open(path)
                .unwrap()
                .query_row(sql, [], |r| r.get(0))
                .unwrap(),
            Kind::Postgres { admin, schema } => {
                admin
                    .batch_execute(&format!("SET search_path TO {schema}"))
                    .unwrap();
                admin.query_one(sql, &[]).unwrap().get(0)
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Kind::Postgres { admin, schema } = &mut self.kind {
            // Best effort: a failed drop must not hide the test's own outcome.
            let _ = admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
        }
    }
}

/// Generates one test per backend for every case.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $case() { super::$case(&mut super::TestDb::sqlite()); })*
        }
        mod postgres {
            $(#[test] fn $case() {
                if let Some(mut db) = super::TestDb::postgres(stringify!($case)) {
                    super::$case(&mut db);
                }
            })*
        }
    };
}

#[path = "conformance/threat.rs"]
mod threat;

#[path = "conformance/proof.rs"]
mod proof;

#[path = "conformance/intel.rs"]
mod intel;

#[path = "conformance/asynchronous.rs"]
mod asynchronous;

conformance!(
    round_trips_a_realistic_run,
    a_run_is_read_with_only_the_hosts_asked,
    finishing_again_replaces_the_contents,
    hosts_stream_into_a_running_run,
    finishing_with_every_host_after_streaming_stores_them_once,
    a_failed_finish_leaves_the_previous_state,
    findings_round_trip_with_every_field,
    findings_stored_in_words_by_an_older_build_still_load,
    a_failed_save_stores_no_finding,
    a_run_and_its_findings_are_stored_together,
    runs_are_listed_newest_first,
    previous_run_and_runs_for_targets,
    reopening_keeps_data_and_migrates_once,
    hosts_stored_before_reverse_names_read_without_one,
    a_newer_schema_is_refused,
    corrupt_values_are_reported_by_field,
    concurrent_first_opens_both_succeed,
    stores_a_large_run,
);

fn ts(micros: i64) -> Timestamp {
    Timestamp::from_microsecond(micros).unwrap()
}

const T0: i64 = 1_763_900_000_123_456;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn targets(spec: &str) -> Targets {
    Targets::parse(spec.split(' '), ["192.0.2.7"]).unwrap()
}

fn profile() -> ScanProfile {
    let mut p = ScanProfile::new("22,80,443,3389,8000-8100".parse().unwrap());
    p.read_timeout = Some(Duration::from_millis(750));
    p.max_rate = Some(312.5);
    p.retries = Some(2);
    p
}

fn obs(port: u16, reason: Reason, rtt_us: Option<u64>, attempts: u8) -> Observation {
    Observation::new(port, reason, rtt_us.map(Duration::from_micros), attempts)
}

/// An open port with what service detection found on it.
fn ssh_with_service() -> Observation {
    let mut o = obs(22, Reason::SynAck, Some(250), 1);
    let mut s = picket_model::ServiceInfo::new("ssh", picket_model::DetectionMethod::Banner, 10);
    s.product = Some("OpenSSH".into());
    s.version = Some("9.2p1".into());
    s.extrainfo = Some("Debian 2+deb12u3".into());
    s.cpe = Some(
        "cpe:2.3:a:openbsd:openssh:9.2p1:*:*:*:*:*:*:*"
            .parse()
            .unwrap(),
    );
    s.package = Some(picket_model::Package::new("openssh", "1:9.2p1-2+deb12u3"));
    s.raw = Some("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\\r\\n".into());
    o.service = Some(s);
    o
}

/// Three hosts, deliberately out of order (numerically 192.0.2.2 < 192.0.2.10 < 2001:db8::5,
/// while as text "192.0.2.10" < "192.0.2.2"), with open, closed and filtered ports, a summary,
/// an interruption with unprobed ports, a host down, and two re-checks.
fn realistic_run(id: RunId, targets: &Targets) -> ScanRun {
    let mut filtered = obs(8080, Reason::AdminProhibited, Some(1_900), 1);
    filtered.icmp_from = Some(ip("192.0.2.1"));
    let evidence = RecheckEvidence {
        previous_run: RunId(id.0 - 1),
        previous_reason: Reason::SynAck,
        scan_reason: Some(Reason::NoResponse),
        probes: vec![
            ProbeRecord {
                port: 443,
                at_ms: 0,
                outcome: Reason::NoResponse,
                rtt: None,
            },
            ProbeRecord {
                port: 443,
                at_ms: 1_500,
                outcome: Reason::NoResponse,
                rtt: None,
            },
        ],
        liveness: vec![ProbeRecord {
            port: 22,
            at_ms: 3_000,
            outcome: Reason::NoResponse,
            rtt: None,
        }],
        interference: vec![Interference {
            kind: InterferenceKind::HostWentSilent,
            detail: InterferenceDetail::LostProbes {
                loss: 0.31,
                port: 443,
                attempts: Some(3),
            },
        }],
        // A computed rate: its JSON form has all 17 significant digits.
        recheck_rate: 10.0 / 3.0,
        recheck_timeout_ms: 2_000,
    };
    ScanRun {
        id,
        target_key: targets.key(),
        targets: targets.clone(),
        profile: profile(),
        started_at: ts(T0),
        finished_at: Some(ts(T0 + 42_000_007)),
        status: RunStatus::Completed,
        hosts: vec![
            HostResult {
                address: ip("192.0.2.10"),
                hostname: None,
                reverse_name: Some("www.example.org".into()),
                state: HostState::Up,
                reason: HostReason::PortAnswered,
                ports: vec![
                    ssh_with_service(),
                    obs(80, Reason::SynAck, Some(310), 2),
                    obs(443, Reason::Reset, Some(240), 1),
                    filtered,
                ],
                extra_ports: vec![ExtraPorts {
                    state: PortState::Closed,
                    reason: Reason::Reset,
                    count: 101,
                }],
                unprobed: vec![],
                interruptions: vec![],
                stats: HostStats {
                    probes_sent: 112,
                    answers: 108,
                    srtt: Some(Duration::from_micros(265)),
                    loss: 3.0 / 97.0,
                    retries: 2,
                    read_timeout: Duration::from_millis(40),
                },
            },
            HostResult {
                address: ip("2001:db8::5"),
                hostname: None,
                reverse_name: None,
                state: HostState::Down,
                reason: HostReason::NoResponse,
                ports: vec![],
                extra_ports: vec![],
                unprobed: vec![],
                interruptions: vec![],
                stats: HostStats::default(),
            },
            HostResult {
                address: ip("192.0.2.2"),
                hostname: Some("scanme.example.org".into()),
                reverse_name: None,
                state: HostState::Up,
                reason: HostReason::PortAnswered,
                ports: vec![
                    obs(22, Reason::SynAck, Some(1_020), 1),
                    obs(3389, Reason::NoResponse, None, 3),
                ],
                extra_ports: vec![ExtraPorts {
                    state: PortState::Filtered,
                    reason: Reason::NoResponse,
                    count: 97,
                }],
                unprobed: vec![8090, 8091],
                interruptions: vec![Interruption {
                    at: ts(T0 + 12_345_678),
                    answered_before: 1_204,
                    silent_probes: 64,
                    canary_port: Some(22),
                    rate: 850.25,
                    resumed: false,
                    paused: Duration::from_millis(1_500),
                }],
                stats: HostStats {
                    probes_sent: 1_300,
                    answers: 1_204,
                    srtt: Some(Duration::from_micros(1_100)),
                    loss: 0.0,
                    retries: 3,
                    read_timeout: Duration::from_millis(250),
                },
            },
        ],
        rechecks: vec![
            Recheck {
                host: ip("192.0.2.2"),
                port: 443,
                protocol: Protocol::Tcp,
                verdict: Verdict::ScanInterrupted,
                evidence: evidence.clone(),
            },
            Recheck {
                host: ip("192.0.2.10"),
                port: 80,
                protocol: Protocol::Tcp,
                verdict: Verdict::StillOpen,
                evidence: RecheckEvidence {
                    scan_reason: None,
                    probes: vec![ProbeRecord {
                        port: 80,
                        at_ms: 0,
                        outcome: Reason::SynAck,
                        rtt: Some(Duration::from_micros(330)),
                    }],
                    liveness: vec![],
                    interference: vec![],
                    ..evidence
                },
            },
        ],
        unlisted_down: 0,
    }
}

/// A run as the store returns it: hosts ordered by address.
fn sorted(mut run: ScanRun) -> ScanRun {
    run.hosts.sort_by_key(|h| h.address);
    run
}

/// Begins and finishes a run of `spec` with `status`, with one open port, returning its id.
fn add_run(store: &Store, spec: &str, status: RunStatus, at: i64) -> RunId {
    let t = targets(spec);
    let id = store.begin_run(&t, &profile(), ts(at)).unwrap();
    let mut run = realistic_run(id, &t);
    run.status = status;
    run.started_at = ts(at);
    run.finished_at = Some(ts(at + 1_000_000));
    store.finish_run(&run).unwrap();
    id
}

/// A comparison with a huge run reads only the hosts it needs, each as the whole run has it.
fn a_run_is_read_with_only_the_hosts_asked(db: &mut TestDb) {
    let store = db.open();
    let t = targets("192.0.2.0/29 scanme.example.org 2001:db8::5");
    let id = store.begin_run(&t, &profile(), ts(T0)).unwrap();
    store.finish_run(&realistic_run(id, &t)).unwrap();
    let whole = store.run(id).unwrap().unwrap();
    let asked = [ip("2001:db8::5"), ip("192.0.2.10"), ip("198.51.100.1")];
    let part = store.run_with_hosts(id, &asked).unwrap().unwrap();
    let expected: Vec<_> = whole
        .hosts
        .iter()
        .filter(|h| asked.contains(&h.address))
        .cloned()
        .collect();
    assert_eq!(expected.len(), 2, "198.51.100.1 is not in the run");
    assert_eq!(part.hosts, expected);
    assert_eq!(part.rechecks, whole.rechecks);
    assert_eq!(store.run_with_hosts(RunId(id.0 + 1), &asked).unwrap(), None);
}

fn round_trips_a_realistic_run(db: &mut TestDb) {
    let store = db.open();
    let t = targets("192.0.2.0/29 scanme.example.org 2001:db8::5");
    let id = store.begin_run(&t, &profile(), ts(T0)).unwrap();

    let begun = store.run(id).unwrap().unwrap();
    assert_eq!(begun.status, RunStatus::Running);
    assert_eq!(begun.target_key, t.key());
    assert_eq!(begun.targets, t);
    assert_eq!(begun.profile, profile());
    assert_eq!(begun.started_at, ts(T0));
    assert_eq!(begun.finished_at, None);
    assert!(begun.hosts.is_empty() && begun.rechecks.is_empty());

    let run = realistic_run(id, &t);
    store.finish_run(&run).unwrap();
    let back = store.run(id).unwrap().unwrap();
    assert_eq!(back, sorted(run.clone()));
    assert_eq!(
        back.hosts
            .iter()
            .map(|h| h.address.to_string())
            .collect::<Vec<_>>(),
        ["192.0.2.2", "192.0.2.10", "2001:db8::5"]
    );

    let summary = &store.runs(10).unwrap()[0];
    assert_eq!(summary.id, id);
    assert_eq!(summary.target_key, t.key());
    assert_eq!(summary.ports, profile().ports);
    assert_eq!(summary.started_at, run.started_at);
    assert_eq!(summary.finished_at, run.finished_at);
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!((summary.hosts_up, summary.hosts_total), (2, 3));
    assert_eq!(summary.open_ports, 3);

    assert_eq!(store.run(RunId(id.0 + 1000)).unwrap(), None);
}

/// Finishing again replaces the status, the re-checks and the hosts given; hosts stored before
/// and not given stay.
fn finishing_again_replaces_the_contents(db: &mut TestDb) {
    let store = db.open();
    let t = targets("192.0.2.0/29");
    let id = store.begin_run(&t, &profile(), ts(T0)).unwrap();
    let mut run = realistic_run(id, &t);
    run.status = RunStatus::Running;
    run.finished_at = None;
    store.finish_run(&run).unwrap();

    let mut again = run.clone();
    again.hosts.truncate(1);
    again.hosts[0].ports.retain(|o| o.port != 80);
    again.rechecks.truncate(1);
    again.status = RunStatus::Aborted;
    again.finished_at = Some(ts(T0 + 5));
    store.finish_run(&again).unwrap();

    let mut expected = again.clone();
    expected.hosts = run.hosts.clone();
    expected.hosts[0] = again.hosts[0].clone();
    assert_eq!(store.run(id).unwrap().unwrap(), sorted(expected));
    let summary = &store.runs(1).unwrap()[0];
    assert_eq!(
        (summary.hosts_up, summary.hosts_total, summary.open_ports),
        (2, 3, 2)
    );
}

/// Hosts saved while the run goes on are part of it; a host saved again replaces its rows; the
/// finish adds what it gives and keeps the rest.
fn hosts_stream_into_a_running_run(db: &mut TestDb) {
    let store = db.open();
    let t = targets("192.0.2.0/29");
    let id = store.begin_run(&t, &profile(), ts(T0)).unwrap();
    let full = realistic_run(id, &t);
    let (h10, h6, h2) = (&full.hosts[0], &full.hosts[1], &full.hosts[2]);

    let mut early = h10.clone();
    early.ports.truncate(1);
    store.save_hosts(id, &[early.clone(), h6.clone()]).unwrap();
    let running = store.run(id).unwrap().unwrap();
    assert_eq!(running.status, RunStatus::Running);
    assert_eq!(running.hosts, [early, h6.clone()]);
    assert_eq!(store.open_ports(id).unwrap(), [(h10.address, vec![22])]);

    // Saved again: its rows are replaced, not added to.
    store.save_hosts(id, std::slice::from_ref(h10)).unwrap();
    assert_eq!(store.open_ports(id).unwrap(), [(h10.address, vec![22, 80])]);

    // The finish gives only the host not streamed yet.
    let mut finish = full.clone();
    finish.hosts = vec![h2.clone()];
    store.finish_run(&finish).unwrap();
    assert_eq!(store.run(id).unwrap().unwrap(), sorted(full.clone()));
    assert_eq!(
        store.open_ports(id).unwrap(),
        [(h2.address, vec![22]), (h10.address, vec![22, 80])]
    );

    // A finished run takes no more streamed hosts; an unknown one none at all.
    let err = store.save_hosts(id, std::slice::from_ref(h2)).unwrap_err();
    assert!(
        matches!(err, StoreError::RunNotRunning { run, status: "completed", .. } if run == id),
        "{err:?}"
    );
    assert_eq!(err.kind(), picket_store::ErrorKind::Refused);
    let stray = RunId(id.0 + 77);
    let err = store
        .save_hosts(stray, std::slice::from_ref(h2))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownRun { run, .. } if run == stray),
        "{err:?}"
    );
    assert_eq!(store.run(id).unwrap().unwrap(), sorted(full));
    assert_eq!(store.open_ports(stray).unwrap(), []);
}

/// Streaming every host and then finishing with all of them gives what a finish alone gives.
fn finishing_with_every_host_after_streaming_stores_them_once(db: &mut TestDb) {
    let store = db.open();
    let t = targets("192.0.2.0/29");
    let id = store.begin_run(&t, &profile(), ts(T0)).unwrap();
    let full = realistic_run(id, &t);
    for host in &full.hosts {
        store.save_hosts(id, std::slice::from_ref(host)).unwrap();
    }
    let mut findings = vec![];
    store
        .finish_run_with_findings(&full, &mut findings)
        .unwrap();
    assert_eq!(store.run(id).unwrap().unwrap(), sorted(full));
    let summary = &store.runs(1).unwrap()[0];
    assert_eq!(
        (summary.hosts_up, summary.hosts_total, summary.open_ports),
        (2, 3, 3)
    );
}

fn a_failed_finish_leaves_the_previous_state(db: &mut TestDb) {
    let store = db.open();
    let t = targets("192.0.2.0/29");
    let id = store.begin_run(&t, &profile(), ts(T0)).unwrap();
    let good = realistic_run(id, &t);
    store.finish_run(&good).unwrap();

    // The same host twice: the second insert fails after the deletes and the first insert ran.
    let mut dup = good.clone();
    dup.status = RunStatus::Aborted;
    dup.hosts.push(dup.hosts[0].clone());
    let err = store.finish_run(&dup).unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
    assert!(err.to_string().contains("192.0.2.10"), "{err}");
    assert_eq!(store.run(id).unwrap().unwrap(), sorted(good.clone()));

    // A number JSON cannot hold, in the last host written.
    let mut nan = good.clone();
    nan.hosts[2].stats.loss = f64::NAN;
    let err = store.finish_run(&nan).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Unstorable {
                field: "stats.loss",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.run(id).unwrap().unwrap(), sorted(good.clone()));

    // A run that was never begun: refused, and nothing of it appears.
    let mut stray = good.clone();
    stray.id = RunId(id.0 + 77);
    let err = store.finish_run(&stray).unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownRun { run, .. } if run == stray.id),
        "{err:?}"
    );
    assert_eq!(store.run(stray.id).unwrap(), None);
    assert_eq!(store.runs(10).unwrap().len(), 1);
    assert_eq!(store.run(id).unwrap().unwrap(), sorted(good));
}

fn finding(run: RunId, kind: FindingKind, host: &str, port: u16, at: i64) -> Finding {
    let recheck = kind == FindingKind::OpenPortRecheck;
    Finding {
        id: None,
        run_id: run,
        kind,
        host: ip(host),
        hostname: recheck.then(|| "scanme.example.org".to_owned()),
        port,
        protocol: Protocol::Tcp,
        previous_state: recheck.then_some(PortState::Open),
        current_state: Some(if recheck {
            PortState::Filtered
        } else {
            PortState::Open
        }),
        verdict: recheck.then_some(Verdict::ScanInterrupted),
        summary: if recheck {
            Summary::ScanInterrupted {
                previous_run: RunId(run.0 - 1),
                open_now: false,
                scan_reason: None,
                cause: InterruptCause::LostProbes { loss: 0.31 },
            }
        } else {
            Summary::Written(format!(
                "{host}:{port} looked {kind} — \"quoted\" and 'single' ✓"
            ))
        },
        evidence: if recheck {
            Evidence::OpenPortRecheck(RecheckEvidence {
                previous_run: RunId(run.0 - 1),
                previous_reason: Reason::SynAck,
                scan_reason: None,
                probes: vec![ProbeRecord {
                    port,
                    at_ms: 0,
                    outcome: Reason::NoResponse,
                    rtt: None,
                }],
                liveness: vec![],
                interference: vec![],
                recheck_rate: 10.0 / 3.0,
                recheck_timeout_ms: 2_000,
            })
        } else {
            Evidence::NewOpenPort(NewOpenPortEvidence {
                attempts: 2,
                previous_reason: None,
                previous_run: RunId(run.0 - 1),
                previous_state: None,
                reason: Reason::SynAck,
                rtt: Some(Duration::from_micros(1_210)),
            })
        },
        remediation: vec![
            Remediation::RaiseReadTimeout {
                waited: Some(Duration::from_millis(750)),
                loss: None,
                to: Duration::from_secs(5),
            },
            Remediation::Written("Lower max_checks to 64".into()),
        ],
        verify: Verify::Scan {
            host: ip(host),
            port,
            max_rate: recheck.then_some(10.0 / 3.0),
            read_timeout: None,
            db: Some("/var/lib/picket/my scans.db".into()),
            service_detect: false,
        },
        created_at: ts(at),
    }
}

/// Rows written before summaries, remediation, verify commands and interference details became
/// typed data hold words: they load as the `Written` variants, shown as they were.
fn findings_stored_in_words_by_an_older_build_still_load(db: &mut TestDb) {
    let store = db.open();
    let run = add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0);
    let finding = r#"'new-open-port', '192.0.2.10', NULL, 8080, 'tcp', 'closed', 'open', NULL,
        'Port 8080/tcp on 192.0.2.10 is open and was not open in run 6: it was closed (reset).',
        '{"attempts":1,"previous_reason":"reset","previous_run":6,"previous_state":"closed","reason":"syn-ack","rtt_us":1210}',
        '["Confirm this service should be exposed; if not, stop it or filter the port."]',
        'picket scan 192.0.2.10 -p 8080 --db ''my scans.db'''"#;
    let recheck = r#"'192.0.2.11', 25, 'tcp', 'scan-interrupted',
        '{"previous_run":6,"previous_reason":"syn-ack","scan_reason":null,"probes":[],"liveness":[],"interference":[{"kind":"rate-limited","detail":"the scan lost 31% of its probes"}],"recheck_rate":2.5,"recheck_timeout_ms":2000}'"#;
    db.raw(&format!(
        "INSERT INTO findings (run_id, kind, host, hostname, port, protocol, previous_state, \
         current_state, verdict, summary, evidence, remediation, verify, created_at) \
         VALUES ({run}, {finding}, {T0}); \
         INSERT INTO rechecks (run_id, host, port, protocol, verdict, evidence) \
         VALUES ({run}, {recheck});"
    ));
    let found = store.findings(&FindingFilter::default()).unwrap();
    assert_eq!(found.len(), 1);
    let f = &found[0];
    assert_eq!(
        f.summary,
        Summary::Written(
            "Port 8080/tcp on 192.0.2.10 is open and was not open in run 6: it was closed (reset)."
                .into()
        )
    );
    assert_eq!(
        f.evidence,
        Evidence::NewOpenPort(NewOpenPortEvidence {
            attempts: 1,
            previous_reason: Some(Reason::Reset),
            previous_run: RunId(6),
            previous_state: Some(PortState::Closed),
            reason: Reason::SynAck,
            rtt: Some(Duration::from_micros(1_210)),
        })
    );
    assert_eq!(
        f.remediation,
        [Remediation::Written(
            "Confirm this service should be exposed; if not, stop it or filter the port.".into()
        )]
    );
    assert_eq!(
        f.verify,
        Verify::Written("picket scan 192.0.2.10 -p 8080 --db 'my scans.db'".into())
    );
    let stored = store.run(run).unwrap().unwrap();
    let old = stored.rechecks.iter().find(|r| r.port == 25).unwrap();
    assert_eq!(
        old.evidence.interference[0].detail,
        InterferenceDetail::Written("the scan lost 31% of its probes".into())
    );
}

fn findings_round_trip_with_every_field(db: &mut TestDb) {
    let store = db.open();
    let r1 = add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0);
    let r2 = add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0 + 10);

    // Saved out of time order: findings() must return them oldest first.
    let mut batch = vec![
        finding(r2, FindingKind::OpenPortRecheck, "192.0.2.2", 443, T0 + 300),
        finding(r2, FindingKind::NewOpenPort, "192.0.2.10", 8080, T0 + 100),
        finding(r1, FindingKind::NewOpenPort, "2001:db8::5", 22, T0 + 200),
    ];
    store.save_findings(&mut batch).unwrap();
    let ids: Vec<i64> = batch.iter().map(|f| f.id.unwrap()).collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);

    let all = store.findings(&FindingFilter::default()).unwrap();
    assert_eq!(
        all,
        vec![batch[1].clone(), batch[2].clone(), batch[0].clone()]
    );

    let by_run = store
        .findings(&FindingFilter {
            run: Some(r2),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_run, vec![batch[1].clone(), batch[0].clone()]);
    let by_kind = store
        .findings(&FindingFilter {
            kind: Some(FindingKind::OpenPortRecheck),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_kind, vec![batch[0].clone()]);
    let by_host = store
        .findings(&FindingFilter {
            host: Some(ip("2001:db8::5")),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_host, vec![batch[2].clone()]);
    let all_three = FindingFilter {
        run: Some(r2),
        kind: Some(FindingKind::NewOpenPort),
        host: Some(ip("192.0.2.10")),
    };
    assert_eq!(store.findings(&all_three).unwrap(), vec![batch[1].clone()]);
    let none = FindingFilter {
        run: Some(r1),
        kind: Some(FindingKind::OpenPortRecheck),
        host: None,
    };
    assert!(store.findings(&none).unwrap().is_empty());

    // Same timestamp: ties go by id, i.e. by the order they were saved.
    let mut twins = vec![
        finding(r1, FindingKind::NewOpenPort, "192.0.2.3", 1, T0 + 50),
        finding(r1, FindingKind::NewOpenPort, "192.0.2.3", 2, T0 + 50),
    ];
    store.save_findings(&mut twins).unwrap();
    let ports: Vec<u16> = store
        .findings(&FindingFilter {
            run: Some(r1),
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|f| f.port)
        .collect();
    assert_eq!(ports, [1, 2, 22]);

    // An empty batch is a no-op.
    store.save_findings(&mut []).unwrap();
}

fn a_failed_save_stores_no_finding(db: &mut TestDb) {
    let store = db.open();
    let run = add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0);

    // The second finding names a run that does not exist: the foreign key refuses it, and the
    // first, already inserted, is rolled back with it.
    let mut batch = vec![
        finding(run, FindingKind::NewOpenPort, "192.0.2.10", 22, T0),
        finding(
            RunId(run.0 + 500),
            FindingKind::NewOpenPort,
            "192.0.2.10",
            23,
            T0,
        ),
    ];
    let err = store.save_findings(&mut batch).unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
    assert!(batch.iter().all(|f| f.id.is_none()));
    assert!(
        store
            .findings(&FindingFilter::default())
            .unwrap()
            .is_empty()
    );

    // Saving a saved finding again is refused before anything is written.
    let mut one = vec![finding(run, FindingKind::NewOpenPort, "192.0.2.10", 22, T0)];
    store.save_findings(&mut one).unwrap();
    let mut again = vec![
        finding(run, FindingKind::NewOpenPort, "192.0.2.10", 80, T0),
        one[0].clone(),
    ];
    let err = store.save_findings(&mut again).unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadySaved { id, .. } if Some(id) == one[0].id),
        "{err:?}"
    );
    assert_eq!(store.findings(&FindingFilter::default()).unwrap(), one);
}

fn a_run_and_its_findings_are_stored_together(db: &mut TestDb) {
    let store = db.open();
    let t = targets("192.0.2.0/29");
    let id = store.begin_run(&t, &profile(), ts(T0)).unwrap();
    let good = realistic_run(id, &t);

    // The second finding names a run that does not exist: the foreign key refuses it after the
    // run's contents and the first finding were written, and all of it is rolled back.
    let mut batch = vec![
        finding(id, FindingKind::NewOpenPort, "192.0.2.10", 22, T0),
        finding(
            RunId(id.0 + 500),
            FindingKind::NewOpenPort,
            "192.0.2.10",
            23,
            T0,
        ),
    ];
    let err = store
        .finish_run_with_findings(&good, &mut batch)
        .unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
    assert!(batch.iter().all(|f| f.id.is_none()));
    let stored = store.run(id).unwrap().unwrap();
    assert_eq!(
        stored.status,
        RunStatus::Running,
        "the run must not look finished"
    );
    assert!(stored.hosts.is_empty());
    assert_eq!(store.previous_run(&t.key(), RunId(id.0 + 1)).unwrap(), None);
    assert!(
        store
            .findings(&FindingFilter::default())
            .unwrap()
            .is_empty()
    );

    let mut findings = vec![finding(id, FindingKind::NewOpenPort, "192.0.2.10", 22, T0)];
    store
        .finish_run_with_findings(&good, &mut findings)
        .unwrap();
    assert!(findings[0].id.is_some());
    assert_eq!(store.run(id).unwrap().unwrap(), sorted(good));
    assert_eq!(store.findings(&FindingFilter::default()).unwrap(), findings);
}

fn runs_are_listed_newest_first(db: &mut TestDb) {
    let store = db.open();
    assert!(store.runs(10).unwrap().is_empty());
    let a = add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0);
    let b = add_run(&store, "198.51.100.0/30", RunStatus::Aborted, T0 + 10);
    // Begun and never finished.
    let c = store
        .begin_run(&targets("203.0.113.9"), &profile(), ts(T0 + 20))
        .unwrap();
    assert!(a < b && b < c);

    let all = store.runs(10).unwrap();
    assert_eq!(all.iter().map(|s| s.id).collect::<Vec<_>>(), [c, b, a]);
    assert_eq!(all[0].status, RunStatus::Running);
    assert_eq!(all[0].finished_at, None);
    assert_eq!(
        (all[0].hosts_up, all[0].hosts_total, all[0].open_ports),
        (0, 0, 0)
    );
    assert_eq!(all[1].status, RunStatus::Aborted);
    assert_eq!(all[1].target_key, targets("198.51.100.0/30").key());
    assert_eq!(
        store
            .runs(2)
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        [c, b]
    );
    assert!(store.runs(0).unwrap().is_empty());
    assert_eq!(store.runs(usize::MAX).unwrap().len(), 3);
    assert_eq!(store.running_runs().unwrap(), [c]);
}

fn previous_run_and_runs_for_targets(db: &mut TestDb) {
    let store = db.open();
    let key = targets("192.0.2.0/29").key();
    let a1 = add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0);
    let other = add_run(&store, "198.51.100.0/30", RunStatus::Completed, T0 + 1);
    let a2 = add_run(&store, "192.0.2.0/29", RunStatus::Aborted, T0 + 2);
    let a3 = store
        .begin_run(&targets("192.0.2.0/29"), &profile(), ts(T0 + 3))
        .unwrap();
    let a4 = add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0 + 4);
    // Started "earlier" by the clock, but begun last: ids, not clocks, decide what is newer.
    let a5 = add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0 - 1_000);

    assert_eq!(store.runs_for_targets(&key, 10).unwrap(), [a5, a4, a1]);
    assert_eq!(store.runs_for_targets(&key, 2).unwrap(), [a5, a4]);
    assert!(store.runs_for_targets(&key, 0).unwrap().is_empty());
    assert!(
        store
            .runs_for_targets("203.0.113.0/24", 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .runs_for_targets(&targets("198.51.100.0/30").key(), 10)
            .unwrap(),
        [other]
    );

    assert_eq!(store.previous_run(&key, a5).unwrap(), Some(a4));
    assert_eq!(store.previous_run(&key, a4).unwrap(), Some(a1));
    // Neither the aborted nor the running run counts.
    assert_eq!(store.previous_run(&key, a3).unwrap(), Some(a1));
    assert_eq!(store.previous_run(&key, a2).unwrap(), Some(a1));
    assert_eq!(store.previous_run(&key, a1).unwrap(), None);
    assert_eq!(store.previous_run(&key, RunId(i64::MAX)).unwrap(), Some(a5));
    assert_eq!(store.previous_run("203.0.113.0/24", a5).unwrap(), None);
}

fn reopening_keeps_data_and_migrates_once(db: &mut TestDb) {
    let id = {
        let store = db.open();
        add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0)
    };
    let store = db.open();
    drop(db.open());
    let t = targets("192.0.2.0/29");
    assert_eq!(
        store.run(id).unwrap().unwrap().hosts.len(),
        realistic_run(id, &t).hosts.len()
    );
    drop(store);
    assert_eq!(
        db.raw_count("SELECT COUNT(*) FROM schema_migrations"),
        LATEST
    );
    assert_eq!(
        db.raw_count("SELECT MAX(version) FROM schema_migrations"),
        LATEST
    );
}

/// What takes a database of this build back to schema version 7 (migrations 10, 9 and 8
/// undone).
const UNDO_8: &str = "DROP TABLE intel_tables; DELETE FROM schema_migrations WHERE version = 10; \
    ALTER TABLE checkpoints DROP COLUMN epoch; \
    DELETE FROM schema_migrations WHERE version = 9; \
    DROP INDEX alerts_by_status; DROP INDEX alerts_by_host; DROP INDEX alerts_by_first_seen; \
    ALTER TABLE alerts DROP COLUMN status; ALTER TABLE alerts DROP COLUMN close_reason; \
    ALTER TABLE alerts DROP COLUMN triage_note; ALTER TABLE alerts DROP COLUMN triaged_by; \
    ALTER TABLE alerts DROP COLUMN triaged_at; DELETE FROM schema_migrations WHERE version = 8; ";

/// A database at schema version 6 (no `reverse_name` column) with a host stored by that build:
/// opening it adds the column, and the host reads back without a reverse name.
fn hosts_stored_before_reverse_names_read_without_one(db: &mut TestDb) {
    let t = targets("192.0.2.0/29");
    let id = {
        let store = db.open();
        store.begin_run(&t, &profile(), ts(T0)).unwrap()
    };
    db.undo_11();
    db.raw(&format!(
        "{UNDO_8}ALTER TABLE hosts DROP COLUMN reverse_name; \
         DELETE FROM schema_migrations WHERE version >= 7; \
         INSERT INTO hosts (run_id, address, hostname, state, reason, extra_ports, unprobed, \
         interruptions, stats) VALUES ({id}, '192.0.2.3', NULL, 'up', 'port-answered', '[]', \
         '[]', '[]', '{{\"probes_sent\":1,\"answers\":1,\"srtt_us\":null,\"loss\":0.0,\
         \"retries\":0,\"read_timeout_ms\":1000}}');"
    ));
    let store = db.open();
    let run = store.run(id).unwrap().unwrap();
    assert_eq!(run.hosts.len(), 1);
    assert_eq!(run.hosts[0].address, ip("192.0.2.3"));
    assert_eq!(run.hosts[0].reverse_name, None);
    drop(store);
    assert_eq!(
        db.raw_count("SELECT MAX(version) FROM schema_migrations"),
        LATEST
    );
}

fn a_newer_schema_is_refused(db: &mut TestDb) {
    drop(db.open());
    db.raw("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)");
    let err = picket_store::open(&db.location).err().unwrap();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99,
                known: LATEST,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("99") && text.contains("newer"), "{text}");
    // Refusing wrote nothing.
    assert_eq!(
        db.raw_count("SELECT COUNT(*) FROM schema_migrations"),
        LATEST + 1
    );
}

fn corrupt_values_are_reported_by_field(db: &mut TestDb) {
    let store = db.open();
    let id = add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0);
    db.raw("UPDATE observations SET state = 'ajar' WHERE port = 443");
    let err = store.run(id).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { field: "state", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("ajar"), "{err}");
    db.raw("UPDATE observations SET state = 'closed' WHERE port = 443");
    db.raw("UPDATE hosts SET stats = '{\"probes_sent\": -1}'");
    let err = store.run(id).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { field: "stats", .. }),
        "{err:?}"
    );
}

fn concurrent_first_opens_both_succeed(db: &mut TestDb) {
    let location = db.location.clone();
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let location = location.clone();
            std::thread::spawn(move || {
                let store = picket_store::open(&location).unwrap();
                for j in 0..5 {
                    add_run(
                        &store,
                        "192.0.2.0/29",
                        RunStatus::Completed,
                        T0 + i * 10 + j,
                    );
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(db.open().runs(100).unwrap().len(), 20);
    assert_eq!(
        db.raw_count("SELECT COUNT(*) FROM schema_migrations"),
        LATEST
    );
}

/// 64 hosts x 1,000 listed ports: how long one finish_run and one run() take.
fn stores_a_large_run(db: &mut TestDb) {
    let store = db.open();
    let t = targets("10.0.0.0/26");
    let id = store.begin_run(&t, &profile(), ts(T0)).unwrap();
    let hosts: Vec<HostResult> = (0..64u8)
        .map(|h| HostResult {
            address: IpAddr::from([10, 0, 0, h]),
            hostname: None,
            reverse_name: None,
            state: HostState::Up,
            reason: HostReason::PortAnswered,
            ports: (1..=1000u16)
                .map(|p| {
                    let reason = match p % 10 {
                        0 => Reason::SynAck,
                        1..=5 => Reason::Reset,
                        _ => Reason::NoResponse,
                    };
                    obs(p, reason, Some(u64::from(p) * 3), 1)
                })
                .collect(),
            extra_ports: vec![],
            unprobed: vec![],
            interruptions: vec![],
            stats: HostStats::default(),
        })
        .collect();
    let run = ScanRun {
        hosts,
        rechecks: vec![],
        ..realistic_run(id, &t)
    };
    let start = Instant::now();
    store.finish_run(&run).unwrap();
    let stored = start.elapsed();
    let start = Instant::now();
    let back = store.run(id).unwrap().unwrap();
    let loaded = start.elapsed();
    assert_eq!(back, run);
    assert_eq!(store.runs(1).unwrap()[0].open_ports, 6_400);
    eprintln!("64,000 observations: finish_run {stored:?}, run {loaded:?}");
}

/// What only one backend can show: file handling for SQLite, connection errors for PostgreSQL.
mod backend_specific {
    use std::fs;

    use super::*;

    fn open_err(location: &str) -> StoreError {
        picket_store::open(location).err().unwrap()
    }

    #[test]
    fn a_text_file_is_refused_and_left_byte_for_byte_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        let content = b"these are my notes\nnot a database\n".repeat(300);
        fs::write(&path, &content).unwrap();
        let modified = fs::metadata(&path).unwrap().modified().unwrap();

        for location in [
            path.display().to_string(),
            format!("sqlite:{}", path.display()),
            format!("sqlite://{}", path.display()),
        ] {
            let err = open_err(&location);
            assert!(matches!(err, StoreError::NotSqlite { .. }), "{err:?}");
            let text = err.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains("not an SQLite database"), "{text}");
        }
        assert_eq!(fs::read(&path).unwrap(), content);
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), modified);
        // No journal or WAL file was left next to it.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn short_and_damaged_files_are_refused_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        // Too short for a header; and a valid header followed by garbage, which only SQLite's
        // own first read can tell apart.
        let mut damaged = b"SQLite format 3\0".to_vec();
        damaged.extend(std::iter::repeat_n(0xA5u8, 8192));
        for (name, content) in [("short.db", b"SQLite".to_vec()), ("damaged.db", damaged)] {
            let path = dir.path().join(name);
            fs::write(&path, &content).unwrap();
            let err = open_err(&path.display().to_string());
            assert!(
                matches!(err, StoreError::NotSqlite { .. }),
                "{name}: {err:?}"
            );
            assert!(err.to_string().contains(name), "{err}");
            assert_eq!(fs::read(&path).unwrap(), content, "{name} was modified");
        }
    }

    #[test]
    fn another_programs_database_is_refused_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');")
            .unwrap();
        let before = fs::read(&path).unwrap();
        let err = open_err(&path.display().to_string());
        assert!(matches!(err, StoreError::ForeignDatabase { .. }), "{err:?}");
        assert!(err.to_string().contains("app.db"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn unusable_paths_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing_parent = dir.path().join("no/such/dir/picket.db");
        let err = open_err(&missing_parent.display().to_string());
        // Picket creates a new file itself (owner-only), so the failure is its own open.
        assert!(matches!(err, StoreError::OpenSqlite { .. }), "{err:?}");
        assert!(err.to_string().contains("no/such/dir/picket.db"), "{err}");
        assert!(!missing_parent.parent().unwrap().exists());

        let err = open_err(&dir.path().display().to_string());
        assert!(matches!(err, StoreError::OpenSqlite { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&dir.path().display().to_string()),
            "{err}"
        );

        assert!(matches!(open_err(""), StoreError::EmptyLocation));
        assert!(matches!(
            open_err("mysql://db/picket"),
            StoreError::UnknownScheme { .. }
        ));
    }

    #[test]
    fn a_new_file_is_created_in_wal_mode_and_an_empty_one_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let created = dir.path().join("new.db");
        let store = picket_store::open(&format!("sqlite:{}", created.display())).unwrap();
        add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0);
        let raw = rusqlite::Connection::open(&created).unwrap();
        let mode: String = raw
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");

        let empty = dir.path().join("empty.db");
        fs::write(&empty, b"").unwrap();
        let store = picket_store::open(&empty.display().to_string()).unwrap();
        assert!(store.runs(1).unwrap().is_empty());
    }

    #[test]
    fn a_new_database_and_its_wal_and_shm_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let created = dir.path().join("private.db");
        let store = picket_store::open(&created.display().to_string()).unwrap();
        add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0);
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{}{suffix}", created.display());
            let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{file} is {mode:o}");
        }
    }

    #[test]
    fn an_in_memory_database_works() {
        let store = picket_store::open("sqlite::memory:").unwrap();
        let id = add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0);
        // Reads go through the one connection: they see what it wrote, from any clone.
        let clone = store.clone();
        let listed = std::thread::spawn(move || clone.runs(5).unwrap()[0].id)
            .join()
            .unwrap();
        assert_eq!(listed, id);
        // Another handle is another database.
        let other = picket_store::open("sqlite::memory:").unwrap();
        assert_eq!(other.runs(5).unwrap(), []);
    }

    /// The readers close before the writer, so the writer folds the log into the file when the
    /// store closes: a later open that only reads leaves the file as it was.
    #[test]
    fn a_closed_store_leaves_no_log_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("picket.db");
        let location = path.display().to_string();
        let store = picket_store::open(&location).unwrap();
        let id = add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0);
        assert!(store.run(id).unwrap().is_some());
        drop(store);
        let wal = dir.path().join("picket.db-wal");
        assert!(!wal.exists(), "the log outlived the store");
        let before = fs::read(&path).unwrap();

        let store = picket_store::open(&location).unwrap();
        assert_eq!(store.runs(5).unwrap()[0].id, id);
        drop(store);
        assert_eq!(fs::read(&path).unwrap(), before, "reading changed the file");
    }

    #[test]
    fn a_postgres_connection_error_hides_the_password() {
        let Ok(url) = std::env::var(PG_URL_VAR) else {
            eprintln!("skipped: {PG_URL_VAR} not set");
            return;
        };
        let config: ::postgres::Config = url.parse().unwrap();
        let host = match &config.get_hosts()[0] {
            ::postgres::config::Host::Tcp(h) => h.clone(),
            other => panic!("expected a TCP host, got {other:?}"),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap();
        let bad = format!("postgres://{user}:Wr0ngPassw0rd@{host}:{port}/picket_test");
        let err = open_err(&bad);
        assert!(matches!(err, StoreError::ConnectPostgres { .. }), "{err:?}");
        let text = format!("{err} / {:?}", std::error::Error::source(&err));
        assert!(!text.contains("Wr0ngPassw0rd"), "{text}");
        assert!(text.contains(&host), "{text}");

        let err = open_err("postgres://picket@127.0.0.1:5432/db?sslmode=nonsense");
        assert!(matches!(err, StoreError::BadPostgresUrl { .. }), "{err:?}");
    }
}
