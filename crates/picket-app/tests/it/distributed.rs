//! Distributed scans through a NATS JetStream server (`PICKET_TEST_NATS_URL`; without it each
//! test prints `skipped:` and passes): a scan by queue workers stores the run a local scan
//! stores, port for port, also when a shard is taken by a worker that dies without a word
//! (it comes back after the ack wait, and nothing is lost or counted twice). Each test has a
//! pool of its own, so tests sharing the server never take each other's shards.

use std::net::TcpListener;
use std::time::Duration;

use picket_app::Shutdown;
use picket_app::distributed::worker::{self, ScanWorkerOptions, WorkerEvent};
use picket_app::distributed::{self, NodeOptions, QueueScan, Redelivery};
use picket_app::exposure::{self, ExposureOutcome, Via};
use picket_app::options::ScanOptions;
use picket_model::{PortSet, RunStatus, ScanProfile, Targets};

use crate::support::Db;

/// The test server's URL, or `None` after saying the test is skipped.
pub fn nats_url() -> Option<String> {
    match std::env::var("PICKET_TEST_NATS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: PICKET_TEST_NATS_URL not set");
            None
        }
    }
}

/// A pool no other test (or earlier run) uses.
pub fn pool(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        std::time::UNIX_EPOCH.elapsed().unwrap().as_millis()
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn options(ports: PortSet) -> ScanOptions {
    let mut profile = ScanProfile::new(ports);
    profile.assume_up = true;
    profile.seed = 11;
    profile.recheck = false;
    ScanOptions {
        targets: Targets::parse(["127.0.0.1".to_string()], Vec::<String>::new()).unwrap(),
        profile,
        services: None,
        db_hint: None,
        reverse_dns: false,
        keep_every_host_up_to: ScanOptions::KEEP_EVERY_HOST_UP_TO,
    }
}

/// A worker on a thread of its own; it stops when `shutdown` is triggered and says how many
/// shards it did and the highest delivery count it saw.
fn spawn_worker(
    url: &str,
    pool: &str,
    redelivery: Redelivery,
    shutdown: &Shutdown,
) -> std::thread::JoinHandle<(u64, i64)> {
    spawn_worker_capped(url, pool, redelivery, None, shutdown)
}

/// [`spawn_worker`] with the worker's own `--max-rate`.
fn spawn_worker_capped(
    url: &str,
    pool: &str,
    redelivery: Redelivery,
    max_rate: Option<f64>,
    shutdown: &Shutdown,
) -> std::thread::JoinHandle<(u64, i64)> {
    let node = NodeOptions::new(url, Some(pool.into()), None);
    let opts = ScanWorkerOptions::new(node, redelivery)
        .with_max_rate(max_rate)
        .unwrap();
    let shutdown = shutdown.clone();
    std::thread::spawn(move || {
        let rt = runtime();
        let mut most = 0;
        let summary = worker::run(
            rt.handle(),
            &opts,
            &mut |e| {
                if let WorkerEvent::ShardStarted { delivered, .. } = e {
                    most = most.max(delivered);
                }
            },
            &shutdown,
        )
        .unwrap();
        (summary.shards, most)
    })
}

fn scan(db: &Db, opts: &ScanOptions, via: Via<'_>) -> ExposureOutcome {
    let store = db.open();
    let rt = runtime();
    exposure::run_once_via(
        &store,
        rt.handle(),
        opts,
        via,
        &mut |_| {},
        &Shutdown::new(),
    )
    .unwrap()
}

fn listeners(n: usize) -> (Vec<TcpListener>, Vec<u16>) {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports = ls.iter().map(|l| l.local_addr().unwrap().port()).collect();
    (ls, ports)
}

#[test]
fn two_workers_store_the_run_a_local_scan_stores() {
    let Some(url) = nats_url() else { return };
    let pool = pool("two-workers");
    let (_held, open) = listeners(3);
    let ports = PortSet::from_ports((1..=3000).chain(open.iter().copied()));
    let opts = options(ports);
    let db = Db::new();
    let local = scan(&db, &opts, Via::Local);

    let stop = Shutdown::new();
    let workers: Vec<_> = (0..2)
        .map(|_| spawn_worker(&url, &pool, Redelivery::default(), &stop))
        .collect();
    let mut queue = QueueScan::new(&url, Some(pool));
    queue.shard_probes = Some(500);
    let remote = scan(&db, &opts, Via::Queue(&queue));
    stop.trigger();
    let done: Vec<(u64, i64)> = workers.into_iter().map(|w| w.join().unwrap()).collect();

    assert_eq!(remote.run.status, RunStatus::Completed);
    let differences = distributed::port_differences(&local.run, &remote.run);
    assert!(differences.is_empty(), "{differences:#?}");
    let remote_open: Vec<u16> = remote.run.hosts[0].open_ports().map(|o| o.port).collect();
    for port in &open {
        assert!(
            remote_open.contains(port),
            "{port} not open in {remote_open:?}"
        );
    }
    assert_eq!(
        done.iter().map(|d| d.0).sum::<u64>(),
        7,
        "3003 ports in shards of 500"
    );
    // What the store holds is what the coordinator reported.
    let stored = db.open();
    let stored = picket_store::prelude::RunStore::run(&stored, remote.run.id)
        .unwrap()
        .unwrap();
    assert!(distributed::port_differences(&stored, &remote.run).is_empty());
}

/// A worker's own `--max-rate` is its engine's ceiling: 300 loopback ports (a few hundred
/// milliseconds uncapped) take a worker capped at 60 probes a second at least 5 s, and the
/// result is still the local scan's.
#[test]
fn a_worker_s_max_rate_caps_the_shards_it_scans() {
    let Some(url) = nats_url() else { return };
    let pool = pool("capped-worker");
    let (_held, open) = listeners(2);
    let ports = PortSet::from_ports((1..=298).chain(open.iter().copied()));
    let opts = options(ports);
    let db = Db::new();
    let local = scan(&db, &opts, Via::Local);

    let stop = Shutdown::new();
    let worker = spawn_worker_capped(&url, &pool, Redelivery::default(), Some(60.0), &stop);
    let mut queue = QueueScan::new(&url, Some(pool));
    queue.shard_probes = Some(1000);
    let started = std::time::Instant::now();
    let remote = scan(&db, &opts, Via::Queue(&queue));
    let took = started.elapsed();
    stop.trigger();
    assert_eq!(worker.join().unwrap().0, 1, "one shard");

    assert_eq!(remote.run.status, RunStatus::Completed);
    let differences = distributed::port_differences(&local.run, &remote.run);
    assert!(differences.is_empty(), "{differences:#?}");
    assert!(
        took >= Duration::from_millis(4_900),
        "300 probes at 60/s took {took:?}"
    );
}

/// A plan that holds no hosts (cut from the targets as the shards are published, as for a
/// target set above [`QueueScan::stream_hosts_above`]) stores what a local scan stores.
#[test]
fn a_streamed_plan_stores_the_run_a_local_scan_stores() {
    let Some(url) = nats_url() else { return };
    let pool = pool("streamed");
    let (_held, open) = listeners(2);
    let ports = PortSet::from_ports((1000..=1499).chain(open.iter().copied()));
    let mut opts = options(ports);
    opts.targets = Targets::parse(["127.0.0.1-4".to_string()], Vec::<String>::new()).unwrap();
    let db = Db::new();
    let local = scan(&db, &opts, Via::Local);

    let stop = Shutdown::new();
    let workers: Vec<_> = (0..2)
        .map(|_| spawn_worker(&url, &pool, Redelivery::default(), &stop))
        .collect();
    let mut queue = QueueScan::new(&url, Some(pool));
    queue.shard_probes = Some(300);
    queue.stream_hosts_above = 0;
    let remote = scan(&db, &opts, Via::Queue(&queue));
    stop.trigger();
    let done: u64 = workers.into_iter().map(|w| w.join().unwrap().0).sum();

    assert_eq!(remote.run.status, RunStatus::Completed);
    assert_eq!(remote.run.hosts.len(), 4);
    let differences = distributed::port_differences(&local.run, &remote.run);
    assert!(differences.is_empty(), "{differences:#?}");
    assert_eq!(done, 8, "4 hosts, one a block, in 2 port blocks");
}

/// A coordinator stopped after a few shards leaves an aborted run whose results stay on the
/// stream; `--resume` files them into a new run and publishes only the shards without one:
/// the worker scans every shard exactly once over both runs, and the resumed run equals a
/// local scan port for port.
#[test]
fn a_resumed_run_publishes_only_the_shards_without_results() {
    let Some(url) = nats_url() else { return };
    let pool = pool("resumed");
    let (_held, open) = listeners(2);
    let ports = PortSet::from_ports((1000..=2999).chain(open.iter().copied()));
    let opts = options(ports);
    let db = Db::new();
    let local = scan(&db, &opts, Via::Local);

    let stop_worker = Shutdown::new();
    // 200 probes a second: a shard of 200 ports takes about a second.
    let worker = spawn_worker_capped(
        &url,
        &pool,
        Redelivery::default(),
        Some(200.0),
        &stop_worker,
    );
    let mut queue = QueueScan::new(&url, Some(pool.clone()));
    queue.shard_probes = Some(200);
    let store = db.open();
    let rt = runtime();
    let stop = Shutdown::new();
    let first = {
        let stop2 = stop.clone();
        exposure::run_once_via(
            &store,
            rt.handle(),
            &opts,
            Via::Queue(&queue),
            &mut |p| {
                if let exposure::Progress::Scan(picket_scan::ScanEvent::Progress {
                    decided, ..
                }) = p
                    && *decided >= 600
                {
                    stop2.trigger();
                }
            },
            &stop,
        )
        .unwrap()
    };
    assert_eq!(first.run.status, RunStatus::Aborted);
    // The shard in flight when it stopped finishes and publishes its result.
    std::thread::sleep(Duration::from_secs(3));

    let (targets, profile) = distributed::resumable(&store, first.run.id).unwrap();
    assert_eq!((&targets, &profile), (&opts.targets, &opts.profile));
    let mut again = opts.clone();
    (again.targets, again.profile) = (targets, profile);
    queue.resume = Some(first.run.id);
    let resumed = exposure::run_once_via(
        &store,
        rt.handle(),
        &again,
        Via::Queue(&queue),
        &mut |_| {},
        &Shutdown::new(),
    )
    .unwrap();
    stop_worker.trigger();
    let (shards, most_delivered) = worker.join().unwrap();

    assert_eq!(resumed.run.status, RunStatus::Completed);
    let differences = distributed::port_differences(&local.run, &resumed.run);
    assert!(differences.is_empty(), "{differences:#?}");
    assert_eq!(shards, 11, "2002 ports in shards of 200, each scanned once");
    assert_eq!(most_delivered, 1);
    let err = distributed::resumable(&store, resumed.run.id).unwrap_err();
    assert!(err.to_string().contains("completed"), "{err}");
    let err = distributed::resumable(&store, local.run.id).unwrap_err();
    assert!(
        err.to_string().contains("not scanned through a queue"),
        "{err}"
    );
}

/// A run left "running" by a coordinator that died (its heartbeat is old) is marked aborted
/// by the next look; one whose heartbeat is fresh, and a local run (no heartbeat), are not.
#[test]
fn a_run_whose_coordinator_died_is_marked_aborted() {
    use picket_store::prelude::*;
    let db = Db::new();
    let store = db.open();
    let opts = options(PortSet::from_ports([22]));
    // Whole seconds: the store keeps microseconds.
    let now =
        picket_model::Timestamp::from_second(picket_model::Timestamp::now().as_second()).unwrap();
    let begin = || store.begin_run(&opts.targets, &opts.profile, now).unwrap();
    let (dead, alive, local) = (begin(), begin(), begin());
    let owner = |run: picket_model::RunId, heartbeat: picket_model::Timestamp| {
        let body = serde_json::json!({
            "token": format!("t{}", run.0), "pool": "default", "shard_probes": 4096,
            "owner": "elsewhere-1", "heartbeat": heartbeat,
        });
        store
            .save_checkpoint_with_alerts(&format!("queue-run:{}", run.0), &body, &mut [])
            .unwrap();
    };
    let old = now
        .checked_sub(distributed::STALE_AFTER + Duration::from_secs(1))
        .unwrap();
    owner(dead, old);
    owner(alive, now);

    assert_eq!(distributed::abort_stale_runs(&store).unwrap(), [dead]);
    let err = distributed::resumable(&store, alive).unwrap_err();
    assert!(err.to_string().contains("is alive"), "{err}");
    let status = |id| store.run(id).unwrap().unwrap().status;
    assert_eq!(status(dead), RunStatus::Aborted);
    assert_eq!(store.run(dead).unwrap().unwrap().finished_at, Some(old));
    assert_eq!(
        (status(alive), status(local)),
        (RunStatus::Running, RunStatus::Running)
    );
    assert!(distributed::abort_stale_runs(&store).unwrap().is_empty());
    assert!(distributed::resumable(&store, dead).is_ok());
}

#[test]
fn a_shard_taken_by_a_worker_that_dies_comes_back_and_changes_nothing() {
    let Some(url) = nats_url() else { return };
    let pool = pool("dead-worker");
    let (_held, open) = listeners(2);
    let ports = PortSet::from_ports((1000..=2999).chain(open.iter().copied()));
    let opts = options(ports);
    let db = Db::new();
    let local = scan(&db, &opts, Via::Local);
    let redelivery = Redelivery {
        ack_wait: Duration::from_secs(2),
        max_deliver: 5,
    };

    let mut queue = QueueScan::new(&url, Some(pool.clone()));
    queue.shard_probes = Some(400);
    let coordinator = {
        let (db, opts) = (db.location(), opts.clone());
        std::thread::spawn(move || {
            let store = picket_store::open(&db).unwrap();
            let rt = runtime();
            exposure::run_once_via(
                &store,
                rt.handle(),
                &opts,
                Via::Queue(&queue),
                &mut |_| {},
                &Shutdown::new(),
            )
            .unwrap()
        })
    };
    // The dying worker: takes a shard and never answers.
    let rt = runtime();
    let taken = rt.block_on(async {
        let q = picket_queue::Queue::connect(&url, &pool).await.unwrap();
        let puller = q.shard_puller(redelivery).await.unwrap();
        loop {
            let (got, _) = puller.pull(1, Duration::from_secs(1)).await.unwrap();
            if let Some(d) = got.into_iter().next() {
                return d.msg.shard;
            }
        }
    });
    let stop = Shutdown::new();
    let worker = spawn_worker(&url, &pool, redelivery, &stop);
    let remote = coordinator.join().unwrap();
    stop.trigger();
    let (shards, most_delivered) = worker.join().unwrap();

    assert_eq!(remote.run.status, RunStatus::Completed);
    let differences = distributed::port_differences(&local.run, &remote.run);
    assert!(
        differences.is_empty(),
        "shard {taken} was taken: {differences:#?}"
    );
    assert_eq!(
        shards, 6,
        "2002 ports in shards of 400, the taken one done once"
    );
    assert_eq!(most_delivered, 2, "shard {taken} came back once");
}

/// A store the detectors share: a schema of its own in the test PostgreSQL (dropped after),
/// or, without `PICKET_TEST_POSTGRES_URL`, an SQLite file (saying the PostgreSQL part is
/// skipped).
struct SharedStore {
    location: String,
    admin: Option<(postgres::Client, String)>,
    _db: Db,
}

impl SharedStore {
    fn new(test: &str) -> Self {
        let db = Db::new();
        match std::env::var("PICKET_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => {
                let schema = format!("{test}_{}", std::process::id());
                let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                admin
                    .batch_execute(&format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
                    ))
                    .unwrap();
                let sep = if url.contains('?') { '&' } else { '?' };
                Self {
                    location: format!("{url}{sep}options=-c%20search_path%3D{schema}"),
                    admin: Some((admin, schema)),
                    _db: db,
                }
            }
            _ => {
                eprintln!(
                    "skipped: PICKET_TEST_POSTGRES_URL not set (detectors share an SQLite file)"
                );
                Self {
                    location: db.location(),
                    admin: None,
                    _db: db,
                }
            }
        }
    }
}

impl Drop for SharedStore {
    fn drop(&mut self) {
        if let Some((admin, schema)) = &mut self.admin {
            let _ = admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
        }
    }
}

mod detectors {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use picket_app::distributed::detect::{self, DetectOptions};
    use picket_app::distributed::publish::{self, IngestOptions};
    use picket_app::import;
    use picket_app::options::{IntelAddOptions, SourceSpec, VulnImportOptions};
    use picket_detect::threat::ThreatSettings;
    use picket_model::{Alert, Application, HomeNet, Timestamp};
    use picket_store::AlertFilter;
    use picket_store::prelude::*;

    use super::*;
    use crate::support::{Collect, fixture, zeek_rows};

    const SSH: &str = "10.1.2.3";
    const T0: f64 = 1_763_640_000.0;
    /// Listed by the IPsum fixture.
    const LISTED: [&str; 8] = [
        "77.90.185.20",
        "77.239.124.102",
        "77.239.124.108",
        "2.57.122.53",
        "45.154.244.193",
        "62.60.130.201",
        "80.82.77.33",
        "193.47.62.69",
    ];
    const PER_CLIENT: usize = 150;

    fn prepare(location: &str) {
        let store = picket_store::open(location).unwrap();
        let opts = IntelAddOptions {
            name: "ipsum".into(),
            file: fixture("ipsum-head.txt"),
            load: picket_intel::LoadOptions::default(),
            allow_shrink: false,
        };
        let feed = import::load_feed(&opts).unwrap();
        import::store_feed(&store, &opts, &feed).unwrap();
        let vulns = VulnImportOptions::new(
            vec![fixture("CVE-2024-6387.json"), fixture("kev-slice.json")],
            None,
            false,
        )
        .unwrap();
        import::read_vuln(&vulns).unwrap().store(&store).unwrap();
        let mut app = Application::new("openssh".to_owned());
        app.version = Some("9.2p1".into());
        store
            .upsert_application(SSH.parse().unwrap(), 22, &app, "manual", Timestamp::now())
            .unwrap();
    }

    /// Connections of every listed client (and a clean one) to the vulnerable SSH, `per_client`
    /// each, `gap` seconds apart.
    fn events(dir: &std::path::Path) -> std::path::PathBuf {
        events_of(dir, PER_CLIENT, 84.0)
    }

    fn events_of(dir: &std::path::Path, per_client: usize, gap: f64) -> std::path::PathBuf {
        events_in(&dir.join("conn.log"), 0..per_client, gap)
    }

    /// The rounds `rounds` of [`events_of`]'s connections, in a log of their own.
    fn events_in(
        log: &std::path::Path,
        rounds: std::ops::Range<usize>,
        gap: f64,
    ) -> std::path::PathBuf {
        let log = log.to_path_buf();
        let mut rows = Vec::new();
        for i in rounds {
            for (c, client) in LISTED.iter().enumerate() {
                rows.push((T0 + i as f64 * gap + c as f64 * 0.01, *client, SSH, 22));
            }
            rows.push((T0 + i as f64 * gap + 0.005, "192.0.2.77", SSH, 22));
        }
        // Source ports count up per call: chunks keep them below 65,536.
        for chunk in rows.chunks(20_000) {
            zeek_rows(&log, chunk);
        }
        log
    }

    fn publish_log(url: &str, pool: &str, log: &std::path::Path) -> u64 {
        let rt = runtime();
        publish::run(
            None,
            rt.handle(),
            &IngestOptions {
                sources: vec![SourceSpec::File(log.to_path_buf())],
                input: None,
                follow: false,
                url: url.into(),
                pool: pool.into(),
            },
            &mut |e| panic!("{e}"),
            &Shutdown::new(),
        )
        .unwrap()
        .events
    }

    /// Set in the environment of [`child_detector`]'s process: `URL|POOL|STORE`.
    const CHILD: &str = "PICKET_TEST_CHILD_DETECTOR";

    /// Not a test: the detector that [`a_detector_stopped_past_its_lease_changes_no_count`]
    /// runs in a process of its own (so that it can be stopped whole, heartbeats included). It
    /// stores every 30 s only, so that it is stopped holding events it has not stored.
    #[test]
    #[ignore = "run by a_detector_stopped_past_its_lease_changes_no_count"]
    fn child_detector() {
        let Ok(spec) = std::env::var(CHILD) else {
            return;
        };
        let mut parts = spec.split('|');
        let (Some(url), Some(pool), Some(location)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("{CHILD}={spec}");
        };
        let mut opts = options(url, pool, "stopped");
        opts.flush_every = Duration::from_secs(30);
        let store = picket_store::open(location).unwrap();
        let rt = runtime();
        detect::run(
            &store,
            rt.handle(),
            &opts,
            &mut Collect::default(),
            &Shutdown::new(),
        )
        .unwrap();
    }

    fn signal(child: &std::process::Child, signal: &str) {
        let ok = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {signal} {}", child.id());
    }

    /// Issue #12's double-count windows. A detector holding every partition, with the first
    /// half of the events pulled and not yet stored, is stopped whole (SIGSTOP) past its lease
    /// and its heartbeat's life; a second detector takes every partition over while the second
    /// half arrives, then the first resumes (SIGCONT) and tries to store what it held. The
    /// stored alerts must be exactly those of one detector: the second counted the first half
    /// from the first's unacknowledged events, in order, and the first stored nothing.
    #[test]
    fn a_detector_stopped_past_its_lease_changes_no_count() {
        let Some(url) = nats_url() else { return };
        let dir = tempfile::tempdir().unwrap();
        let log = events(dir.path());
        let one = Db::new();
        prepare(&one.location());
        let (alone, _) = detect(&url, &pool("unstopped"), &one.location(), &log, 1);
        // The halves are published from two files: the alerts' source lines differ.
        let unsourced = |mut alerts: Vec<Alert>| {
            for a in &mut alerts {
                a.sources.clear();
            }
            alerts
        };
        let alone = unsourced(alone);

        let half = PER_CLIENT / 2;
        let first = events_in(&dir.path().join("first.log"), 0..half, 84.0);
        let second = events_in(&dir.path().join("second.log"), half..PER_CLIENT, 84.0);
        let shared = SharedStore::new("stopped_detector");
        prepare(&shared.location);
        let pool = pool("stopped");
        let rt = runtime();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "distributed::detectors::child_detector",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD, format!("{url}|{pool}|{}", shared.location))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        struct Reap<'a>(&'a mut std::process::Child);
        impl Drop for Reap<'_> {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let child = Reap(&mut child);
        crate::support::eventually(60, "the first detector live", || {
            distributed::workers(rt.handle(), &url)
                .unwrap()
                .iter()
                .any(|w| w.pool == pool)
        });
        // Alone, it takes every partition at its first share-out.
        std::thread::sleep(Duration::from_secs(3));
        let n = publish_log(&url, &pool, &first);
        assert_eq!(n as usize, half * (LISTED.len() + 1));
        // Pulled (it pulls every 50 ms), stored only after 30 s.
        std::thread::sleep(Duration::from_secs(3));
        signal(child.0, "-STOP");
        publish_log(&url, &pool, &second);

        let stop = Shutdown::new();
        let taker = {
            let (stop, opts, location) = (
                stop.clone(),
                options(&url, &pool, "taker"),
                shared.location.clone(),
            );
            std::thread::spawn(move || {
                let store = picket_store::open(&location).unwrap();
                let rt = runtime();
                detect::run(&store, rt.handle(), &opts, &mut Collect::default(), &stop)
            })
        };
        let want = (PER_CLIENT * LISTED.len()) as u64;
        let counted = || {
            stored(&shared.location)
                .iter()
                .map(|a| a.connections)
                .sum::<u64>()
        };
        // The stopped detector's leases lapse after 10 s and its heartbeat after 15 s; its
        // events' ack wait (30 s) has not run out when the taker counts the second half.
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        while counted() < want && std::time::Instant::now() < deadline && !taker.is_finished() {
            std::thread::sleep(Duration::from_millis(200));
        }
        if taker.is_finished() {
            panic!("the taker stopped: {:?}", taker.join());
        }
        assert_eq!(unsourced(stored(&shared.location)), alone, "taken over");

        signal(child.0, "-CONT");
        // Its 30 s are up: it stores at once, and is refused.
        std::thread::sleep(Duration::from_secs(5));
        assert_eq!(
            unsourced(stored(&shared.location)),
            alone,
            "after the stopped one resumed"
        );
        stop.trigger();
        let summary = taker.join().unwrap().unwrap();
        assert_eq!(
            summary.events as usize,
            PER_CLIENT * (LISTED.len() + 1),
            "the taker counted every event once: {summary:?}"
        );
        drop(child);
    }

    /// `picket ingest --follow FILE --to nats://...` crashed where it hurts most: after the
    /// server stored a batch and before the batch's checkpoint was saved (the store refuses
    /// the save, behind its back). Restarted, it resumes from the checkpoint before that batch
    /// and sends the batch again; the server drops every event it already has (by message id),
    /// so each line of the file is on the stream exactly once.
    #[test]
    fn a_follower_restarted_after_a_lost_checkpoint_publishes_every_line_once() {
        let Some(url) = nats_url() else { return };
        let mut shared = SharedStore::new("follow_publisher");
        let Some((admin, schema)) = shared.admin.as_mut() else {
            eprintln!("skipped: the lost checkpoint is made by a PostgreSQL trigger");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let log = events_in(&dir.path().join("conn.log"), 0..278, 84.0);
        let lines = 278 * (LISTED.len() + 1);
        let pool = pool("follower");
        let rt = runtime();
        let opts = IngestOptions {
            sources: vec![SourceSpec::File(log.clone())],
            input: None,
            follow: true,
            url: url.clone(),
            pool: pool.clone(),
        };
        let store = picket_store::open(&shared.location).unwrap();
        // The first checkpoint is stored; the second (an update) is refused, after its batch
        // was published.
        admin
            .batch_execute(&format!(
                "CREATE FUNCTION {schema}.crash() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN RAISE EXCEPTION 'crashed by the test'; END $$;
                 CREATE TRIGGER crash BEFORE UPDATE ON {schema}.checkpoints FOR EACH ROW
                 WHEN (NEW.source LIKE 'follow:%') EXECUTE FUNCTION {schema}.crash();"
            ))
            .unwrap();
        let err = publish::run(
            Some(&store),
            rt.handle(),
            &opts,
            &mut |e| panic!("{e}"),
            &Shutdown::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("checkpoint"), "{err}");
        admin
            .batch_execute(&format!("DROP TRIGGER crash ON {schema}.checkpoints"))
            .unwrap();

        let stop = Shutdown::new();
        let restarted = {
            let (stop, opts, location) = (stop.clone(), opts.clone(), shared.location.clone());
            std::thread::spawn(move || {
                let store = picket_store::open(&location).unwrap();
                let rt = runtime();
                publish::run(
                    Some(&store),
                    rt.handle(),
                    &opts,
                    &mut |e| panic!("{e}"),
                    &stop,
                )
            })
        };
        let key = format!("follow:{}", std::fs::canonicalize(&log).unwrap().display());
        let size = std::fs::metadata(&log).unwrap().len();
        crate::support::eventually(60, "the follower at the end of the file", || {
            store
                .checkpoint(&key)
                .unwrap()
                .is_some_and(|c| c["reader"]["offset"].as_u64() == Some(size))
        });
        stop.trigger();
        let again = restarted.join().unwrap().unwrap();
        assert_eq!(
            again.events as usize,
            lines - 1000,
            "resumed after the first batch"
        );

        // Every line on the stream, once.
        let mut seen = std::collections::BTreeMap::<u64, usize>::new();
        rt.block_on(async {
            let q = picket_queue::Queue::connect(&url, &pool).await.unwrap();
            for p in 0..picket_queue::PARTITIONS {
                let puller = q.event_puller(p, 1, Redelivery::default()).await.unwrap();
                loop {
                    let (got, bad) = puller.pull(1000, Duration::from_millis(300)).await.unwrap();
                    assert!(bad.is_empty());
                    if got.is_empty() {
                        break;
                    }
                    for d in got {
                        *seen.entry(d.msg.event.source.line).or_default() += 1;
                        d.ack().await.unwrap();
                    }
                }
            }
        });
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "published more than once: {twice:?}");
        assert_eq!(seen.len(), lines);
    }

    fn options(url: &str, pool: &str, id: &str) -> DetectOptions {
        DetectOptions {
            node: NodeOptions::new(url, Some(pool.into()), Some(id.into())),
            home: HomeNet::default(),
            settings: ThreatSettings {
                window: Duration::from_secs(3600),
                min_feeds: 1,
            },
            redelivery: Redelivery::default(),
            flush_every: Duration::from_millis(300),
            block: None,
        }
    }

    fn stored(location: &str) -> Vec<Alert> {
        let mut alerts = picket_store::open(location)
            .unwrap()
            .alerts(&AlertFilter::default())
            .unwrap();
        for a in &mut alerts {
            a.id = None;
        }
        alerts.sort_by(|a, b| a.dedup_key.cmp(&b.dedup_key));
        alerts
    }

    /// Publishes the log on `pool`, runs `n` detectors until the store holds every listed
    /// connection, and returns the stored alerts and how many events each detector counted.
    fn detect(
        url: &str,
        pool: &str,
        location: &str,
        log: &std::path::Path,
        n: usize,
    ) -> (Vec<Alert>, Vec<u64>) {
        let (alerts, summaries, _) = detect_timed(url, pool, location, log, n, PER_CLIENT);
        (alerts, summaries.iter().map(|s| s.events).collect())
    }

    /// [`detect`], with the time from publishing's end until every connection was stored.
    fn detect_timed(
        url: &str,
        pool: &str,
        location: &str,
        log: &std::path::Path,
        n: usize,
        per_client: usize,
    ) -> (Vec<Alert>, Vec<detect::DetectSummary>, Duration) {
        let rt = runtime();
        let stop = Shutdown::new();
        let failed = Arc::new(AtomicBool::new(false));
        let detectors: Vec<_> = (0..n)
            .map(|i| {
                let (stop, opts, location, failed) = (
                    stop.clone(),
                    options(url, pool, &format!("d{i}")),
                    location.to_owned(),
                    Arc::clone(&failed),
                );
                std::thread::spawn(move || {
                    let store = picket_store::open(&location).unwrap();
                    let rt = runtime();
                    let result =
                        detect::run(&store, rt.handle(), &opts, &mut Collect::default(), &stop);
                    if result.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    result.unwrap()
                })
            })
            .collect();
        // Events go out once every detector is live and has shared out the partitions (a
        // rebalance every 2 s): a detector that started first would otherwise take them all
        // and could read every event before the others join, on a slow machine.
        crate::support::eventually(60, "every detector live", || {
            failed.load(Ordering::SeqCst)
                || distributed::workers(rt.handle(), url)
                    .unwrap()
                    .iter()
                    .filter(|w| w.pool == pool)
                    .count()
                    == n
        });
        if n > 1 {
            std::thread::sleep(Duration::from_secs(5));
        }
        let published = publish::run(
            None,
            rt.handle(),
            &IngestOptions {
                sources: vec![SourceSpec::File(log.to_path_buf())],
                input: None,
                follow: false,
                url: url.into(),
                pool: pool.into(),
            },
            &mut |e| panic!("{e}"),
            &Shutdown::new(),
        )
        .unwrap();
        assert_eq!(published.events as usize, per_client * (LISTED.len() + 1));
        let started = std::time::Instant::now();
        let want = (per_client * LISTED.len()) as u64;
        crate::support::eventually(600, "every listed connection counted", || {
            failed.load(Ordering::SeqCst)
                || stored(location).iter().map(|a| a.connections).sum::<u64>() == want
        });
        let took = started.elapsed();
        stop.trigger();
        let summaries = detectors.into_iter().map(|d| d.join().unwrap()).collect();
        (stored(location), summaries, took)
    }

    /// Detector throughput (bench/queue/): 270,000 events on one stream, consumed by one
    /// detector and then by two (each run on a pool and a store of its own); the alerts must
    /// be the same. Run with `bench/queue/run.sh`.
    #[test]
    #[ignore = "a benchmark: bench/queue/run.sh"]
    fn bench_detectors() {
        let Some(url) = nats_url() else { return };
        let per_client = 30_000;
        let dir = tempfile::tempdir().unwrap();
        let log = events_of(dir.path(), per_client, 0.5);
        let events = per_client * (LISTED.len() + 1);
        let mut reference = None;
        println!("| detectors | events | time | events/s | each: events, skipped, fenced |");
        println!("|---|---|---|---|---|");
        for n in [1, 2] {
            let db = SharedStore::new(&format!("bench_detectors_{n}"));
            prepare(&db.location);
            let (alerts, summaries, took) = detect_timed(
                &url,
                &pool(&format!("bench{n}")),
                &db.location,
                &log,
                n,
                per_client,
            );
            let reference = reference.get_or_insert_with(|| alerts.clone());
            assert_eq!(alerts.len(), reference.len());
            if let Some((a, b)) = alerts.iter().zip(reference.iter()).find(|(a, b)| a != b) {
                panic!("{n} detectors stored\n{a:?}\none stored\n{b:?}");
            }
            let each: Vec<String> = summaries
                .iter()
                .map(|s| format!("{}, {}, {}", s.events, s.skipped, s.fenced))
                .collect();
            println!(
                "| {n} | {events} | {:.1} s | {:.0} | {} |",
                took.as_secs_f64(),
                events as f64 / took.as_secs_f64(),
                each.join("; ")
            );
        }
    }

    #[test]
    fn two_detectors_over_one_stream_store_exactly_the_alerts_of_one() {
        let Some(url) = nats_url() else { return };
        let dir = tempfile::tempdir().unwrap();
        let log = events(dir.path());
        let one = Db::new();
        prepare(&one.location());
        let (alone, _) = detect(&url, &pool("one-detector"), &one.location(), &log, 1);
        let shared = SharedStore::new("two_detectors");
        prepare(&shared.location);
        let (together, counted) = detect(&url, &pool("two-detectors"), &shared.location, &log, 2);

        assert!(alone.len() >= LISTED.len() * 3, "{} alerts", alone.len());
        assert_eq!(together, alone);
        assert_eq!(
            counted.iter().sum::<u64>() as usize,
            PER_CLIENT * (LISTED.len() + 1)
        );
        assert!(
            counted.iter().all(|&c| c > 0),
            "both detectors worked: {counted:?}"
        );
    }
}
