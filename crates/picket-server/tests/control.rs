//! The service's side of the web layer without HTTP: `Control::start_scan` returns the run's id
//! once the run is stored as begun, refuses bad requests naming the field, never starts a job
//! twice, and a shutdown stores a running scan as aborted.

use std::time::{Duration, Instant};

use picket_app::Shutdown;
use picket_model::RunStatus;
use picket_server::{Service, ServiceConfig};
use picket_store::prelude::*;
use picket_web::{Control, ControlError, ScanRequest};

struct Fixture {
    rt: tokio::runtime::Runtime,
    store: picket_store::Store,
    service: Service,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

fn fixture(jobs: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("picket.db");
    let store = picket_store::open(db.to_str().unwrap()).unwrap();
    fixture_on(store, dir, jobs)
}

fn fixture_on(store: picket_store::Store, dir: tempfile::TempDir, jobs: &str) -> Fixture {
    let config =
        ServiceConfig::parse(&dir.path().join("picket.toml"), jobs).expect("a valid config");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let shutdown = Shutdown::new();
    let service =
        Service::new(store.clone(), config, rt.handle().clone(), shutdown.clone()).unwrap();
    Fixture {
        rt,
        store,
        service,
        shutdown,
        _dir: dir,
    }
}

const SLOW: &str =
    "[[scan]]\nname = \"slow\"\ntargets = [\"127.0.0.1\"]\nports = \"1-4000\"\nmax_rate = 200.0\n";

fn request(job: Option<&str>, targets: &[&str], ports: Option<&str>) -> ScanRequest {
    ScanRequest {
        job: job.map(str::to_owned),
        targets: targets.iter().map(|t| t.to_string()).collect(),
        ports: ports.map(str::to_owned),
    }
}

#[test]
fn bad_requests_are_refused_naming_the_field() {
    let f = fixture(SLOW);
    let refused = |r: ScanRequest| f.service.start_scan(r).unwrap_err();
    assert!(
        matches!(refused(request(Some("nightly"), &[], None)), ControlError::UnknownJob(j) if j == "nightly")
    );
    for (r, field) in [
        (request(None, &[], None), "targets"),
        (request(Some("slow"), &["127.0.0.1"], None), "targets"),
        (request(None, &["300.1.1.1/99"], None), "targets:"),
        (request(None, &["127.0.0.1"], Some("0-99999")), "ports:"),
        (request(None, &["127.0.0.1"], Some("top:many")), "ports:"),
    ] {
        match refused(r) {
            ControlError::Invalid(why) => assert!(why.contains(field), "{field}: {why}"),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(
        f.store.runs(10).unwrap().is_empty(),
        "a refusal stored nothing"
    );
}

#[test]
fn a_job_is_never_started_twice_and_a_shutdown_stores_it_aborted() {
    let f = fixture(SLOW);
    let run = f
        .service
        .start_scan(request(Some("slow"), &[], None))
        .unwrap();
    let stored = f.store.run(run).unwrap().expect("stored as begun");
    assert_eq!(stored.status, RunStatus::Running);
    match f.service.start_scan(request(Some("slow"), &[], None)) {
        Err(ControlError::AlreadyRunning { name, run: r }) => {
            assert_eq!((name.as_str(), r), ("slow", run));
        }
        other => panic!("{other:?}"),
    }
    let jobs = f.service.jobs();
    assert_eq!(jobs[0].running, Some(run));
    assert_eq!(jobs[0].schedule, "");
    f.shutdown.trigger();
    f.service.finish();
    let stored = f.store.run(run).unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Aborted);
    assert_eq!(f.store.runs(10).unwrap().len(), 1);
    drop(f.rt);
}

#[test]
fn a_scan_of_given_targets_is_stored_and_counted() {
    let f = fixture("");
    let run = f
        .service
        .start_scan(request(None, &["127.0.0.1"], Some("22,80")))
        .unwrap();
    let start = Instant::now();
    while f.store.run(run).unwrap().unwrap().status == RunStatus::Running {
        assert!(start.elapsed() < Duration::from_secs(20), "never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Stored, then counted: give the thread its moment.
    let start = Instant::now();
    while !f
        .service
        .metrics()
        .contains("picket_scans_finished_total{job=\"(request)\",status=\"completed\"} 1")
    {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{}",
            f.service.metrics()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stored = f.store.run(run).unwrap().unwrap();
    assert_eq!(stored.profile.ports.len(), 2);
    assert_eq!(stored.target_key, "127.0.0.1");
    f.shutdown.trigger();
    f.service.finish();
}

/// PostgreSQL must never be called on a thread of the runtime: a scan started through Control
/// and the metrics, on a schema of the test's own.
#[test]
fn the_service_runs_on_postgresql() {
    let Ok(url) = std::env::var("PICKET_TEST_POSTGRES_URL") else {
        eprintln!("skipped: PICKET_TEST_POSTGRES_URL not set");
        return;
    };
    let schema = format!("picket_server_{}", std::process::id());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let location = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    let store = picket_store::open(&location).unwrap();
    let f = fixture_on(store, tempfile::tempdir().unwrap(), "");
    let run = f
        .service
        .start_scan(request(None, &["127.0.0.1"], Some("22")))
        .unwrap();
    let start = Instant::now();
    while f.store.run(run).unwrap().unwrap().status == RunStatus::Running {
        assert!(start.elapsed() < Duration::from_secs(20), "never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(f.service.metrics().contains("picket_blocks_active 0"));
    f.shutdown.trigger();
    f.service.finish();
    drop(f.rt);
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
}
