//! The exposure run end to end: resolve the targets, begin the run, scan (progress handed to the
//! caller's sink), load the previous run of the same targets, re-check the ports that were open
//! then and are not now, correct the run where the re-check proved the scan wrong, identify
//! services (they join the inventory and are matched with the vulnerabilities), build findings,
//! and store the run with its findings in one transaction. [`run`] repeats it on a schedule.
//!
//! A stopped run (the [`Shutdown`] triggered during the scan, the re-check or service detection)
//! is stored as aborted with what had been decided. This module must never print or render: the
//! caller gets progress events and a typed outcome.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use picket_detect::exposure::{self, FindingContext, RecheckInput, Suspect};
use picket_model::{Finding, HostResult, HostState, Recheck, RunId, RunStatus, ScanRun, Timestamp};
use picket_scan::{RecheckPlan, RecheckResult, RecheckSettings, ScanEvent, ScanTargets};
use picket_store::Store;
use picket_store::prelude::*;
use tokio::runtime::Handle;

use crate::distributed::QueueScan;
use crate::error::AppError;
use crate::names;
use crate::options::{ScanOptions, Schedule};
use crate::shutdown::Shutdown;

/// Liveness ports asked during a re-check, per host.
const LIVENESS_PORTS: usize = 3;
/// Hosts saved to the store at once while the scan runs, and batches waiting to be saved.
pub(crate) const SAVE_BATCH: usize = 256;
const SAVE_QUEUE: usize = 4;

/// What a run reports while it goes, for a progress bar or a server's event stream.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The run is stored as begun (before a probe is sent): its id, for a caller that hands it
    /// out while the run goes on (a server's `POST /scans`).
    Begun(RunId),
    /// An event of the scan engine.
    Scan(&'a ScanEvent),
    /// The scan is done (completed or stopped); what follows is the run's own work.
    ScanFinished,
    /// The re-check of changed ports begins.
    Rechecking {
        ports: usize,
        hosts: usize,
        rate: f64,
    },
    /// Service detection on the open ports begins.
    IdentifyingServices,
}

/// The caller's progress sink. `Send`: the scan engine calls it from its tasks.
pub type ProgressSink<'a> = dyn FnMut(Progress<'_>) + Send + 'a;

/// One stored run and its findings.
#[derive(Debug, Clone)]
pub struct ExposureOutcome {
    pub run: ScanRun,
    pub findings: Vec<Finding>,
}

impl ExposureOutcome {
    pub fn aborted(&self) -> bool {
        self.run.status == RunStatus::Aborted
    }
}

/// Runs once, or on `schedule` until its count is reached or `shutdown` is triggered (between
/// runs: a run under way is stopped as aborted). Each outcome goes to `deliver` as soon as it is
/// stored; a run stopped part-way ends the loop with [`AppError::Interrupted`] after delivery.
pub fn run(
    store: &Store,
    rt: &Handle,
    opts: &ScanOptions,
    schedule: Option<Schedule>,
    progress: &mut ProgressSink<'_>,
    shutdown: &Shutdown,
    deliver: &mut dyn FnMut(&ExposureOutcome) -> Result<(), AppError>,
) -> Result<(), AppError> {
    run_via(
        store,
        rt,
        opts,
        Via::Local,
        schedule,
        progress,
        shutdown,
        deliver,
    )
}

/// Who scans: this process, or the workers of a queue (see [`crate::distributed`]).
#[derive(Debug, Clone, Copy)]
pub enum Via<'a> {
    Local,
    Queue(&'a QueueScan),
}

/// [`run`], with the scan done `via` this process or a queue's workers.
#[allow(clippy::too_many_arguments)]
pub fn run_via(
    store: &Store,
    rt: &Handle,
    opts: &ScanOptions,
    via: Via<'_>,
    schedule: Option<Schedule>,
    progress: &mut ProgressSink<'_>,
    shutdown: &Shutdown,
    deliver: &mut dyn FnMut(&ExposureOutcome) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let mut runs = 0u32;
    loop {
        let started = tokio::time::Instant::now();
        let outcome = run_once_via(store, rt, opts, via, progress, shutdown)?;
        deliver(&outcome)?;
        if outcome.aborted() {
            return Err(AppError::Interrupted(outcome.run.id));
        }
        runs += 1;
        let Some(schedule) = schedule else {
            return Ok(());
        };
        if schedule.count.is_some_and(|n| runs >= n) {
            return Ok(());
        }
        let next = started + schedule.every;
        let stopped = rt.block_on(async {
            tokio::select! {
                () = tokio::time::sleep_until(next) => false,
                () = shutdown.wait() => true,
            }
        });
        if stopped {
            return Ok(());
        }
    }
}

/// One run: resolve, scan, re-check against the previous run, identify services, store.
pub fn run_once(
    store: &Store,
    rt: &Handle,
    opts: &ScanOptions,
    progress: &mut ProgressSink<'_>,
    shutdown: &Shutdown,
) -> Result<ExposureOutcome, AppError> {
    run_once_via(store, rt, opts, Via::Local, progress, shutdown)
}

/// [`run_once`], with the scan done `via` this process or a queue's workers; everything after
/// the scan (re-check, services, findings, the store) is the same either way.
pub fn run_once_via(
    store: &Store,
    rt: &Handle,
    opts: &ScanOptions,
    via: Via<'_>,
    progress: &mut ProgressSink<'_>,
    shutdown: &Shutdown,
) -> Result<ExposureOutcome, AppError> {
    let targets = rt.block_on(ScanTargets::resolve(&opts.targets))?;
    // Distributed runs whose coordinator died are marked aborted before a new run begins.
    crate::distributed::abort_stale_runs(store)?;
    let started_at = Timestamp::now();
    let run_id = store.begin_run(&opts.targets, &opts.profile, started_at)?;
    progress(Progress::Begun(run_id));
    let target_key = opts.targets.key();
    let prev_id = store.previous_run(&target_key, run_id)?;
    // Hosts that had open ports before: a comparison needs them even when they are down now.
    let had_open: HashSet<IpAddr> = match prev_id {
        Some(id) => store.open_ports(id)?.into_iter().map(|(a, _)| a).collect(),
        None => HashSet::new(),
    };
    let list_every_host = targets.len() <= opts.keep_every_host_up_to;

    let keep = |host: &HostResult| {
        list_every_host || host.state == HostState::Up || had_open.contains(&host.address)
    };
    let (mut scanned, aborted) = match via {
        Via::Local => scan_streaming(store, rt, run_id, &targets, opts, progress, shutdown, keep)?,
        Via::Queue(queue) => crate::distributed::scan::scan_streaming(
            store, rt, run_id, &targets, opts, queue, progress, shutdown, &keep,
        )?,
    };
    progress(Progress::ScanFinished);
    if opts.reverse_dns && !aborted {
        // Hosts up are always held: their names reach the store when the run is finished.
        names::add_reverse_names(rt, &mut scanned.listed, shutdown);
    }
    let mut cur = ScanRun {
        id: run_id,
        target_key,
        targets: opts.targets.clone(),
        profile: opts.profile.clone(),
        started_at,
        finished_at: Some(Timestamp::now()),
        status: if aborted {
            RunStatus::Aborted
        } else {
            RunStatus::Completed
        },
        hosts: scanned.listed,
        rechecks: Vec::new(),
        unlisted_down: scanned.unlisted_down,
    };

    let prev = match prev_id {
        // A run of few targets is read whole; of very many, only the hosts the comparison
        // reads: those open then, and those with open ports now (new-open-port findings say
        // what the port was before).
        Some(id) if list_every_host => store.run(id)?,
        Some(id) => {
            let mut wanted: Vec<IpAddr> = had_open.iter().copied().collect();
            wanted.extend(
                cur.hosts
                    .iter()
                    .filter(|h| h.open_ports().next().is_some())
                    .map(|h| h.address),
            );
            wanted.sort_unstable();
            wanted.dedup();
            store.run_with_hosts(id, &wanted)?
        }
        None => None,
    };
    if let Some(prev) = &prev
        && cur.profile.recheck
        && cur.status == RunStatus::Completed
    {
        match recheck(rt, prev, &cur, progress, shutdown) {
            Some(rechecks) => {
                exposure::apply_corrections(&mut cur, &rechecks);
                cur.rechecks = rechecks;
            }
            None => cur.status = RunStatus::Aborted,
        }
    }
    if let Some(signatures) = &opts.services
        && cur.status == RunStatus::Completed
    {
        progress(Progress::IdentifyingServices);
        if !detect_services(rt, &mut cur, signatures, shutdown) {
            cur.status = RunStatus::Aborted;
        }
    }
    cur.finished_at = Some(Timestamp::now());

    let ctx = FindingContext {
        now: Timestamp::now(),
        db: opts.db_hint.as_deref(),
    };
    let mut findings = exposure::findings(prev.as_ref(), &cur, &cur.rechecks, &ctx);
    if opts.services.is_some() {
        findings.extend(service_findings(store, &cur, &ctx)?);
    }
    store.finish_run_with_findings(&changed_since_scan(&cur, opts), &mut findings)?;
    Ok(ExposureOutcome { run: cur, findings })
}

/// The run with only the hosts changed since they were saved while scanning: those the
/// re-check corrected, and those up when services or names were added to them. The store
/// keeps the other hosts as saved, so a /16 of down hosts is not written twice.
fn changed_since_scan(cur: &ScanRun, opts: &ScanOptions) -> ScanRun {
    let enriched = opts.services.is_some() || opts.reverse_dns;
    let rechecked: HashSet<IpAddr> = cur.rechecks.iter().map(|r| r.host).collect();
    ScanRun {
        hosts: cur
            .hosts
            .iter()
            .filter(|h| rechecked.contains(&h.address) || (enriched && h.state == HostState::Up))
            .cloned()
            .collect(),
        rechecks: cur.rechecks.clone(),
        targets: cur.targets.clone(),
        target_key: cur.target_key.clone(),
        profile: cur.profile.clone(),
        ..*cur
    }
}

/// The hosts of a scan that stay in memory: the others are only in the store.
pub(crate) struct Scanned {
    /// Hosts kept, by address.
    pub(crate) listed: Vec<HostResult>,
    /// Hosts found down and not kept.
    pub(crate) unlisted_down: u64,
}

/// Scans the targets, saving each host's result to the store as the host finishes (in
/// batches, on a thread of its own: the PostgreSQL client must not run on the runtime), and
/// keeps in memory only the hosts `keep` asks for; whether the scan was stopped.
#[allow(clippy::too_many_arguments)]
fn scan_streaming(
    store: &Store,
    rt: &Handle,
    run_id: RunId,
    targets: &ScanTargets,
    opts: &ScanOptions,
    progress: &mut ProgressSink<'_>,
    shutdown: &Shutdown,
    keep: impl Fn(&HostResult) -> bool + Sync,
) -> Result<(Scanned, bool), AppError> {
    let mut scanned = Scanned {
        listed: Vec::new(),
        unlisted_down: 0,
    };
    let (batches, received) = std::sync::mpsc::sync_channel::<Vec<HostResult>>(SAVE_QUEUE);
    let (saved, summary) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<(), AppError> {
            for batch in received {
                store.save_hosts(run_id, &batch)?;
            }
            Ok(())
        });
        let mut batch = Vec::with_capacity(SAVE_BATCH);
        let summary = rt.block_on(picket_scan::scan_each(
            targets.iter(),
            targets.len(),
            &opts.profile,
            &mut |event| progress(Progress::Scan(&event)),
            &mut |host| {
                if keep(&host) {
                    scanned.listed.push(host.clone());
                } else {
                    scanned.unlisted_down += 1;
                }
                batch.push(host);
                if batch.len() >= SAVE_BATCH {
                    // A writer that failed has said why; it is reported when it is joined.
                    let _ = batches.send(std::mem::take(&mut batch));
                }
            },
            shutdown.wait(),
        ));
        if !batch.is_empty() {
            let _ = batches.send(batch);
        }
        drop(batches);
        let saved = writer
            .join()
            .unwrap_or_else(|_| Err(AppError::Refused("the host writer panicked".into())));
        (saved, summary)
    });
    saved?;
    scanned.listed.sort_by_key(|h| h.address);
    Ok((scanned, summary.aborted))
}

/// Patiently re-checks every port that was open in `prev` and is not open in `cur`; `None` when
/// stopped.
fn recheck(
    rt: &Handle,
    prev: &ScanRun,
    cur: &ScanRun,
    progress: &mut ProgressSink<'_>,
    shutdown: &Shutdown,
) -> Option<Vec<Recheck>> {
    let suspects = exposure::suspects(prev, cur);
    if suspects.is_empty() {
        return Some(Vec::new());
    }
    let mut by_host: BTreeMap<IpAddr, Vec<&Suspect>> = BTreeMap::new();
    for s in &suspects {
        by_host.entry(s.host).or_default().push(s);
    }
    let plans: Vec<RecheckPlan> = by_host
        .iter()
        .map(|(host, list)| {
            let ports: Vec<u16> = list.iter().map(|s| s.port).collect();
            let liveness =
                exposure::liveness_ports(cur.host(*host), prev.host(*host), &ports, LIVENESS_PORTS);
            RecheckPlan {
                host: *host,
                ports,
                liveness,
            }
        })
        .collect();
    let hosts: Vec<&HostResult> = by_host.keys().filter_map(|h| cur.host(*h)).collect();
    let most = plans.iter().map(|p| p.ports.len()).max().unwrap_or(0);
    let mut settings = RecheckSettings::patient(scan_timeout(&hosts), silenced_rate(&hosts), most);
    // A new order and new gaps for every run, reproducible from the run's seed and id.
    settings.seed ^= cur.profile.seed ^ (cur.id.0 as u64);
    progress(Progress::Rechecking {
        ports: suspects.len(),
        hosts: plans.len(),
        rate: settings.rate,
    });
    let results: BTreeMap<IpAddr, RecheckResult> = rt
        .block_on(async {
            tokio::select! {
                results = picket_scan::recheck(plans, settings) => Some(results),
                () = shutdown.wait() => None,
            }
        })?
        .into_iter()
        .map(|r| (r.host, r))
        .collect();
    Some(
        suspects
            .iter()
            .filter_map(|s| {
                let result = results.get(&s.host)?;
                let probes = result
                    .probes
                    .get(&s.port)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let input = RecheckInput {
                    suspect: s,
                    host: cur.host(s.host),
                    probes,
                    liveness: &result.liveness,
                };
                Some(exposure::recheck(
                    &input,
                    prev.id,
                    result.rate,
                    result.timeout,
                ))
            })
            .collect(),
    )
}

/// Service detection on every open port of the run, within the scan's limits: as many at once
/// as `--max-checks` allows (at most 64: each port may take several connections), no faster
/// than `--max-rate` connections per second (or a tenth of the rate at which a host went
/// silent, if one did), with the scan's read timeout when the user fixed one. `false` when
/// stopped (the run keeps no service).
fn detect_services(
    rt: &Handle,
    run: &mut ScanRun,
    signatures: &Arc<picket_service::Signatures>,
    shutdown: &Shutdown,
) -> bool {
    let mut settings = picket_service::DetectSettings::new(Arc::clone(signatures));
    if let Some(t) = run.profile.read_timeout {
        settings.connect_timeout = t;
        settings.banner_timeout = t.max(Duration::from_millis(500));
        settings.probe_timeout = t.max(Duration::from_millis(500));
    }
    let hosts: Vec<&HostResult> = run.hosts.iter().collect();
    let rate = run
        .profile
        .max_rate
        .or(silenced_rate(&hosts).map(|r| r / 10.0));
    settings.pacer = rate.map(|r| Arc::new(picket_service::ConnectPacer::new(r)));
    let addrs: Vec<SocketAddr> = run
        .hosts
        .iter()
        .flat_map(|h| h.open_ports().map(|o| SocketAddr::new(h.address, o.port)))
        .collect();
    let concurrency = run.profile.max_checks.clamp(1, 64);
    let found = rt.block_on(async {
        tokio::select! {
            found = picket_service::detect_many(addrs, &settings, concurrency) => Some(found),
            () = shutdown.wait() => None,
        }
    });
    let Some(found) = found else {
        return false;
    };
    for (addr, service) in found {
        let Some(service) = service else { continue };
        if let Some(host) = run.hosts.iter_mut().find(|h| h.address == addr.ip())
            && let Some(o) = host.ports.iter_mut().find(|o| o.port == addr.port())
        {
            o.service = Some(service);
        }
    }
    true
}

/// Detected services join the inventory (source `scan`) and are matched against the imported
/// vulnerabilities: one `vulnerable-service` finding per service with matches.
fn service_findings(
    store: &Store,
    run: &ScanRun,
    ctx: &FindingContext,
) -> Result<Vec<Finding>, AppError> {
    let now = Timestamp::now();
    let apps: Vec<_> = run
        .hosts
        .iter()
        .flat_map(|host| host.open_ports())
        .filter_map(|o| o.service.as_ref()?.application())
        .collect();
    let db = crate::knowledge::vuln_db(store, &apps)?;
    let mut detected = Vec::new();
    for host in &run.hosts {
        for o in host.open_ports() {
            let Some(service) = &o.service else { continue };
            let Some(app) = service.application() else {
                continue;
            };
            store.upsert_application(host.address, o.port, &app, "scan", now)?;
            detected.push(exposure::DetectedService {
                host: host.address,
                hostname: host.hostname.clone(),
                port: o.port,
                service,
                matches: db.matches(&app),
            });
        }
    }
    Ok(exposure::vulnerable_service_findings(
        run.id, &detected, ctx,
    ))
}

fn scan_timeout(hosts: &[&HostResult]) -> Duration {
    hosts
        .iter()
        .map(|h| h.stats.read_timeout)
        .max()
        .unwrap_or(Duration::from_secs(1))
}

/// The lowest rate at which one of these hosts went silent during the scan, if any did.
fn silenced_rate(hosts: &[&HostResult]) -> Option<f64> {
    hosts
        .iter()
        .flat_map(|h| &h.interruptions)
        .map(|i| i.rate)
        .min_by(f64::total_cmp)
}

/// The newest two completed runs of these targets, older first, to compare by default.
pub fn last_two(store: &Store, target_key: &str) -> Result<Option<(RunId, RunId)>, AppError> {
    let ids = store.runs_for_targets(target_key, 2)?;
    Ok(match ids.as_slice() {
        [newer, older] => Some((*older, *newer)),
        _ => None,
    })
}

/// The runs `picket diff` compares: the two given, or the newest two completed runs of the
/// newest run's targets. Both loaded.
pub fn diff(
    store: &Store,
    from: Option<RunId>,
    to: Option<RunId>,
) -> Result<picket_model::RunDiff, AppError> {
    let refused = |why: String| AppError::Refused(why);
    let (from, to) = match (from, to) {
        (Some(a), Some(b)) => (a, b),
        (Some(_), None) | (None, Some(_)) => {
            return Err(refused(
                "diff takes two run ids, or none for the last two runs".into(),
            ));
        }
        (None, None) => {
            let newest = store
                .runs(1)?
                .into_iter()
                .next()
                .ok_or_else(|| refused("no runs stored yet: run `picket scan` first".into()))?;
            last_two(store, &newest.target_key)?.ok_or_else(|| {
                refused(format!(
                    "only one completed run of {:?}: nothing to compare yet",
                    newest.target_key
                ))
            })?
        }
    };
    let a = store
        .run(from)?
        .ok_or_else(|| refused(format!("no run {from}")))?;
    let b = store
        .run(to)?
        .ok_or_else(|| refused(format!("no run {to}")))?;
    Ok(exposure::diff(&a, &b))
}
