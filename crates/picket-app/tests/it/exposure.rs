//! Exposure runs through picket-app alone: on loopback listeners and in a network-namespace lab
//! (a port that stops listening is re-checked and reported closed; one that a firewall starts
//! dropping is reported filtered), a schedule of runs, and a run stopped by the shutdown signal,
//! stored as aborted.

use std::net::{IpAddr, TcpListener};
use std::time::Duration;

use picket_app::exposure::{self, ExposureOutcome};
use picket_app::options::{ScanOptions, Schedule};
use picket_app::{AppError, Shutdown};
use picket_lab::{Firewall, Lab};
use picket_model::{FindingKind, PortSet, RunStatus, ScanProfile, Targets, Verdict};
use picket_store::FindingFilter;

use crate::support::Db;
use picket_store::prelude::*;

fn options(target: IpAddr, ports: &[u16]) -> ScanOptions {
    let mut profile = ScanProfile::new(PortSet::from_ports(ports.iter().copied()));
    profile.assume_up = true;
    profile.seed = 7;
    ScanOptions {
        targets: Targets::parse([target.to_string()], Vec::<String>::new()).unwrap(),
        profile,
        services: None,
        db_hint: None,
        reverse_dns: false,
        keep_every_host_up_to: ScanOptions::KEEP_EVERY_HOST_UP_TO,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One run into the store at `location`.
fn run_once(location: &str, opts: &ScanOptions, shutdown: &Shutdown) -> ExposureOutcome {
    let store = picket_store::open(location).unwrap();
    let rt = runtime();
    exposure::run_once(&store, rt.handle(), opts, &mut |_| {}, shutdown).unwrap()
}

fn open_ports(outcome: &ExposureOutcome) -> Vec<u16> {
    outcome.run.hosts[0].open_ports().map(|o| o.port).collect()
}

/// The re-check finding of `port`, as stored with its run.
fn stored_verdict(db: &Db, outcome: &ExposureOutcome, port: u16) -> Option<Verdict> {
    let stored = db
        .open()
        .findings(&FindingFilter {
            run: Some(outcome.run.id),
            kind: Some(FindingKind::OpenPortRecheck),
            host: None,
        })
        .unwrap();
    assert_eq!(
        stored.len(),
        outcome
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::OpenPortRecheck)
            .count(),
        "the outcome's findings are the stored ones"
    );
    stored
        .iter()
        .find(|f| f.port == port)
        .and_then(|f| f.verdict)
}

#[test]
fn a_loopback_port_that_stops_listening_is_rechecked_and_found_closed() {
    let db = Db::new();
    let stays = TcpListener::bind("127.0.0.1:0").unwrap();
    let goes = TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, b) = (
        stays.local_addr().unwrap().port(),
        goes.local_addr().unwrap().port(),
    );
    let opts = options("127.0.0.1".parse().unwrap(), &[a, b]);
    let shutdown = Shutdown::new();

    let first = run_once(&db.location(), &opts, &shutdown);
    assert_eq!(first.run.status, RunStatus::Completed);
    let mut expected = vec![a, b];
    expected.sort_unstable();
    assert_eq!(open_ports(&first), expected);

    drop(goes);
    let second = run_once(&db.location(), &opts, &shutdown);
    assert_eq!(second.run.status, RunStatus::Completed);
    assert_eq!(open_ports(&second), vec![a]);
    assert_eq!(second.run.rechecks.len(), 1, "{:?}", second.run.rechecks);
    assert_eq!(stored_verdict(&db, &second, b), Some(Verdict::Closed));
    let stored = db.open().run(second.run.id).unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Completed);
    assert_eq!(stored.rechecks.len(), 1);
    // Stored times keep whole microseconds: compare what each host and port was found.
    let found = |run: &picket_model::ScanRun| -> Vec<_> {
        run.hosts
            .iter()
            .flat_map(|h| {
                h.ports
                    .iter()
                    .map(move |o| (h.address, h.state, o.port, o.state, o.reason))
            })
            .collect()
    };
    assert_eq!(
        found(&stored),
        found(&second.run),
        "the hosts saved while scanning and those re-checked make the run that was reported"
    );
}

/// `-R`: the name /etc/hosts gives 127.0.0.1 (no DNS server is asked), stored with the run;
/// without it no lookup is made.
#[test]
fn reverse_names_are_looked_up_only_when_asked_and_stored_with_the_run() {
    let db = Db::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut opts = options("127.0.0.1".parse().unwrap(), &[port]);
    let shutdown = Shutdown::new();

    let plain = run_once(&db.location(), &opts, &shutdown);
    assert_eq!(plain.run.hosts[0].reverse_name, None);

    opts.reverse_dns = true;
    let named = run_once(&db.location(), &opts, &shutdown);
    let name = named.run.hosts[0].reverse_name.clone();
    assert!(name.is_some(), "127.0.0.1 has a name in /etc/hosts");
    let stored = db.open().run(named.run.id).unwrap().unwrap();
    assert_eq!(stored.hosts[0].reverse_name, name);
}

#[test]
fn a_lab_host_whose_firewall_starts_dropping_a_port_is_reported_filtered() {
    let Some(mut lab) = Lab::try_new("app-exposure").unwrap() else {
        return;
    };
    let target = lab.add_target().unwrap();
    let _listening = target.listen(&[22, 80, 8080]).unwrap();
    let db = Db::new();
    let opts = options(IpAddr::V4(target.address_v4()), &[22, 80, 443, 8080]);

    let (location, o) = (db.location(), opts.clone());
    let first = lab
        .in_scanner(move || run_once(&location, &o, &Shutdown::new()))
        .unwrap();
    assert_eq!(open_ports(&first), vec![22, 80, 8080]);

    target
        .firewall(&Firewall::new().drop_ports([8080]))
        .unwrap();
    let (location, o) = (db.location(), opts.clone());
    let second = lab
        .in_scanner(move || run_once(&location, &o, &Shutdown::new()))
        .unwrap();
    assert_eq!(open_ports(&second), vec![22, 80]);
    assert_eq!(stored_verdict(&db, &second, 8080), Some(Verdict::Filtered));
}

#[test]
fn a_schedule_runs_its_count_and_delivers_each_run() {
    let db = Db::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let opts = options("127.0.0.1".parse().unwrap(), &[port]);
    let store = db.open();
    let rt = runtime();
    let mut delivered = Vec::new();
    exposure::run(
        &store,
        rt.handle(),
        &opts,
        Some(Schedule::new(Duration::from_secs(1), Some(2)).unwrap()),
        &mut |_| {},
        &Shutdown::new(),
        &mut |outcome| {
            delivered.push(outcome.run.id);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(delivered.len(), 2);
    assert_eq!(store.runs(10).unwrap().len(), 2);
}

#[test]
fn a_stopped_scan_is_stored_as_aborted() {
    let db = Db::new();
    // Every port of loopback: far more than can be decided before the stop is seen.
    let ports: Vec<u16> = (1..=u16::MAX).collect();
    let opts = options("127.0.0.1".parse().unwrap(), &ports);
    let shutdown = Shutdown::new();
    shutdown.trigger();
    let store = db.open();
    let rt = runtime();
    let mut delivered = None;
    let result = exposure::run(
        &store,
        rt.handle(),
        &opts,
        None,
        &mut |_| {},
        &shutdown,
        &mut |outcome| {
            delivered = Some(outcome.run.status);
            Ok(())
        },
    );
    let Err(AppError::Interrupted(id)) = result else {
        panic!("not interrupted: {result:?}");
    };
    assert_eq!(delivered, Some(RunStatus::Aborted));
    assert_eq!(store.run(id).unwrap().unwrap().status, RunStatus::Aborted);
}

/// Above `keep_every_host_up_to` targets a run holds only the hosts up and those the
/// comparison needs: a host that had open ports and is now down is kept (its re-check says
/// host-down), the other dead addresses are only counted, and the store has every host.
#[test]
fn a_run_of_many_targets_keeps_only_the_hosts_it_needs_and_stores_them_all() {
    let Some(mut lab) = Lab::try_new("app-bounded").unwrap() else {
        return;
    };
    let segment = lab.add_segment().unwrap();
    let stays = lab.add_host(&segment, 5).unwrap();
    let goes = lab.add_host(&segment, 9).unwrap();
    let _a = stays.listen(&[22]).unwrap();
    let _b = goes.listen(&[22]).unwrap();
    let db = Db::new();
    let mut opts = options(IpAddr::V4(stays.address_v4()), &[22]);
    opts.targets = Targets::parse([segment.cidr_v4()], Vec::<String>::new()).unwrap();
    opts.profile.assume_up = false;
    opts.keep_every_host_up_to = 4;
    let scanner = IpAddr::V4(segment.scanner_address_v4());

    let (location, o) = (db.location(), opts.clone());
    let first = lab
        .in_scanner(move || run_once(&location, &o, &Shutdown::new()))
        .unwrap();
    let listed: Vec<IpAddr> = first.run.hosts.iter().map(|h| h.address).collect();
    let mut up = vec![
        IpAddr::V4(stays.address_v4()),
        IpAddr::V4(goes.address_v4()),
        scanner,
    ];
    up.sort_unstable();
    assert_eq!(listed, up, "only the hosts up are held");
    assert_eq!(first.run.unlisted_down, 64 - 3);
    assert_eq!(first.run.hosts_total(), 64);
    let stored = db.open().run(first.run.id).unwrap().unwrap();
    assert_eq!(stored.hosts.len(), 64, "the store has every host");

    goes.set_link(false).unwrap();
    let (location, o) = (db.location(), opts.clone());
    let second = lab
        .in_scanner(move || run_once(&location, &o, &Shutdown::new()))
        .unwrap();
    let gone = second
        .run
        .host(IpAddr::V4(goes.address_v4()))
        .expect("a host that had open ports is kept when it goes down");
    assert_eq!(gone.state, picket_model::HostState::Down);
    assert_eq!(second.run.unlisted_down, 64 - 3);
    assert_eq!(stored_verdict(&db, &second, 22), Some(Verdict::HostDown));
}
