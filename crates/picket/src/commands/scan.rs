//! `picket scan`: resolve, scan, store, re-check what changed, report.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use picket_detect::exposure::{self, FindingContext, RecheckInput, Suspect};
use picket_model::{HostResult, Recheck, RunId, RunStatus, ScanRun, Timestamp};
use picket_scan::{RecheckPlan, RecheckResult, RecheckSettings};
use picket_store::Store;
use picket_store::prelude::*;

use crate::options::ScanOptions;
use crate::progress::Progress;

/// Liveness ports asked during a re-check, per host.
const LIVENESS_PORTS: usize = 3;

pub fn run(db: &str, db_given: bool, opts: ScanOptions, out: &mut dyn Write) -> Result<()> {
    // Open the store first: a bad --db must fail before a single probe is sent.
    let store = picket_store::open(db)?;
    // Multi-threaded: the engine spawns each probe as a task, so socket work uses every core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let Some(schedule) = opts.schedule else {
        return scan_once(&store, &rt, db, db_given, &opts, out);
    };
    let mut runs = 0u32;
    loop {
        let started = std::time::Instant::now();
        scan_once(&store, &rt, db, db_given, &opts, out)?;
        out.flush()?;
        runs += 1;
        if schedule.count.is_some_and(|n| runs >= n) {
            return Ok(());
        }
        let next = started + schedule.every;
        let stopped = rt.block_on(async {
            tokio::select! {
                () = tokio::time::sleep_until(next.into()) => false,
                r = tokio::signal::ctrl_c() => r.is_ok(),
            }
        });
        if stopped {
            return Ok(());
        }
    }
}

/// One run: resolve, scan, re-check against the previous run, store, render.
fn scan_once(
    store: &Store,
    rt: &tokio::runtime::Runtime,
    db: &str,
    db_given: bool,
    opts: &ScanOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let hosts = rt.block_on(picket_scan::resolve(&opts.targets))?;
    let started_at = Timestamp::now();
    let run_id = store.begin_run(&opts.targets, &opts.profile, started_at)?;

    let mut progress = Progress::new();
    let outcome = rt.block_on(picket_scan::scan(
        hosts,
        &opts.profile,
        &mut |event| progress.on_event(&event),
        async {
            // A failure to install the handler only means Ctrl-C is not caught gracefully.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        },
    ));
    progress.finish();

    let mut cur = ScanRun {
        id: run_id,
        target_key: opts.targets.key(),
        targets: opts.targets.clone(),
        profile: opts.profile.clone(),
        started_at,
        finished_at: Some(Timestamp::now()),
        status: if outcome.aborted {
            RunStatus::Aborted
        } else {
            RunStatus::Completed
        },
        hosts: outcome.hosts,
        rechecks: Vec::new(),
    };

    let prev = match store.previous_run(&cur.target_key, run_id)? {
        Some(id) => store.run(id)?,
        None => None,
    };
    if let Some(prev) = &prev
        && cur.profile.recheck
        && !outcome.aborted
    {
        let rechecks = recheck(rt, prev, &cur, &mut progress);
        exposure::apply_corrections(&mut cur, &rechecks);
        cur.rechecks = rechecks;
    }
    if let Some(signatures) = &opts.services
        && !outcome.aborted
    {
        progress.message("identifying services on open ports");
        detect_services(rt, &mut cur, signatures);
    }
    cur.finished_at = Some(Timestamp::now());

    let ctx = FindingContext {
        now: Timestamp::now(),
        db: db_given.then_some(db),
    };
    let mut findings = exposure::findings(prev.as_ref(), &cur, &cur.rechecks, &ctx);
    if opts.services.is_some() {
        findings.extend(service_findings(store, &cur, &ctx)?);
    }
    store.finish_run_with_findings(&cur, &mut findings)?;
    picket_report::scan(out, opts.format, &cur, &findings)?;
    if outcome.aborted {
        anyhow::bail!("interrupted: run {run_id} was stored as aborted with what had been decided");
    }
    Ok(())
}

/// Patiently re-checks every port that was open in `prev` and is not open in `cur`.
fn recheck(
    rt: &tokio::runtime::Runtime,
    prev: &ScanRun,
    cur: &ScanRun,
    progress: &mut Progress,
) -> Vec<Recheck> {
    let suspects = exposure::suspects(prev, cur);
    if suspects.is_empty() {
        return Vec::new();
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
    progress.message(&format!(
        "re-checking {} port(s) on {} host(s) at {:.0} probes/s",
        suspects.len(),
        plans.len(),
        settings.rate
    ));
    let results: BTreeMap<IpAddr, RecheckResult> = rt
        .block_on(picket_scan::recheck(plans, settings))
        .into_iter()
        .map(|r| (r.host, r))
        .collect();
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
        .collect()
}

/// Service detection on every open port of the run, within the scan's limits: as many at once
/// as `--max-checks` allows (at most 64: each port may take several connections), no faster
/// than `--max-rate` connections per second (or a tenth of the rate at which a host went
/// silent, if one did), with the scan's read timeout when the user fixed one.
fn detect_services(
    rt: &tokio::runtime::Runtime,
    run: &mut ScanRun,
    signatures: &Arc<picket_service::Signatures>,
) {
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
    let found = rt.block_on(picket_service::detect_many(addrs, &settings, concurrency));
    for (addr, service) in found {
        let Some(service) = service else { continue };
        if let Some(host) = run.hosts.iter_mut().find(|h| h.address == addr.ip())
            && let Some(o) = host.ports.iter_mut().find(|o| o.port == addr.port())
        {
            o.service = Some(service);
        }
    }
}

/// Detected services join the inventory (source `scan`) and are matched against the imported
/// vulnerabilities: one `vulnerable-service` finding per service with matches.
fn service_findings(
    store: &Store,
    run: &ScanRun,
    ctx: &FindingContext,
) -> Result<Vec<picket_model::Finding>> {
    let now = Timestamp::now();
    let db = crate::commands::knowledge::vuln_db(store)?;
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

/// Runs of these targets, to compare the newest two by default.
pub fn last_two(store: &Store, target_key: &str) -> Result<Option<(RunId, RunId)>> {
    let ids = store.runs_for_targets(target_key, 2)?;
    Ok(match ids.as_slice() {
        [newer, older] => Some((*older, *newer)),
        _ => None,
    })
}
