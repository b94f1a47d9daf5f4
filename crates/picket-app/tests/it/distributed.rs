//! Distributed scans through a NATS JetStream server (`PICKET_TEST_NATS_URL`; without it each
//! test prints `skipped:` and passes): a scan by queue workers stores the run a local scan
//! stores, port for port, also when a shard is taken by a worker that dies without a word
//! (it comes back after the ack wait, and nothing is lost or counted twice). Each test has a
//! pool of its own, so tests sharing the server never take each other's shards.

use std::net::TcpListener;
use std::time::Duration;

use picket_app::Shutdown;
use picket_app::distributed::worker::{self, WorkerEvent};
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
    let node = NodeOptions::new(url, Some(pool.into()), None);
    let shutdown = shutdown.clone();
    std::thread::spawn(move || {
        let rt = runtime();
        let mut most = 0;
        let summary = worker::run(
            rt.handle(),
            &node,
            redelivery,
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
    queue.shard_probes = 500;
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
    queue.shard_probes = 400;
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
