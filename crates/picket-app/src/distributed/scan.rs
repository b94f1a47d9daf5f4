//! The coordinator of a distributed scan: plans the shards, publishes them on the work queue,
//! reads its run's results as workers publish them, and assembles each block of hosts once
//! every port block of it is in, saving the hosts to the store as the local scan does. The
//! run then goes on exactly as a local one (re-check, services, findings, one transaction).
//!
//! Assembly is idempotent: a result is filed by its shard number, and a shard already filed
//! is ignored (a worker killed after publishing, before its ack, scans the shard again; JetStream
//! drops the second result by message id within its window, and this map drops it after).
//! Because shards never overlap, no port is counted twice and none is lost: the run completes
//! only when every shard is in. It must never scan a port itself, or wait for a shard the server
//! has given up on (an advisory says so, and the run fails naming it).
//!
//! The coordinator owns its run through a heartbeat: a checkpoint `queue-run:<id>` in the store
//! with the run's queue token and shard size, renewed every few seconds. A run still "running"
//! whose heartbeat is older than [`STALE_AFTER`] lost its coordinator (a crash, a kill): the
//! next `scan`, scheduled scan or `picket runs` marks it aborted ([`abort_stale_runs`]), keeping
//! the hosts it saved. Results stay on the stream for a day unless the run completed, so
//! `scan --queue --resume RUN` plans the same shards under the same token, files every result
//! already on the stream, and publishes only the shards that have none (into a new run).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use picket_model::{
    HostResult, PortSet, RunId, RunStatus, ScanProfile, ScanRun, Targets, Timestamp,
};
use picket_queue::{Plan, Queue, ShardHost, ShardMsg, ShardResultMsg};
use picket_scan::{ScanEvent, ScanTargets};
use picket_store::Store;
use picket_store::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use super::QueueScan;
use super::assemble::{self, Part};
use crate::error::AppError;
use crate::exposure::{Progress, ProgressSink, SAVE_BATCH, Scanned};
use crate::options::ScanOptions;
use crate::shutdown::Shutdown;

/// The results filed so far, by host block and port block.
struct Assembly<'p> {
    plan: &'p Plan,
    blocks: Vec<Vec<Option<ShardResultMsg>>>,
    /// Port blocks still missing per host block.
    missing: Vec<usize>,
    filed: u32,
}

impl<'p> Assembly<'p> {
    fn new(plan: &'p Plan) -> Self {
        Self {
            plan,
            blocks: (0..plan.host_blocks())
                .map(|_| vec![None; plan.port_blocks()])
                .collect(),
            missing: vec![plan.port_blocks(); plan.host_blocks()],
            filed: 0,
        }
    }

    fn done(&self) -> bool {
        self.filed == self.plan.len()
    }

    /// Whether shard `shard` has a result filed.
    fn is_filed(&self, shard: u32) -> bool {
        self.plan.cell_of(shard).is_some_and(|(hb, pb)| {
            self.blocks
                .get(hb as usize)
                .and_then(|b| b.get(pb))
                .is_some_and(Option::is_some)
        })
    }

    /// Files a result; the host block it completes, if it completes one. A shard already
    /// filed (a redelivery's second result) changes nothing.
    fn file(&mut self, result: ShardResultMsg) -> Option<usize> {
        let (hb, pb) = self.plan.cell_of(result.shard)?;
        let hb = hb as usize;
        let slot = &mut self.blocks[hb][pb];
        if slot.is_some() {
            return None;
        }
        *slot = Some(result);
        self.filed += 1;
        self.missing[hb] -= 1;
        (self.missing[hb] == 0).then_some(hb)
    }

    /// The hosts of a host block, assembled from what is filed (missing blocks undecided);
    /// the block's results are dropped.
    fn take(&mut self, hb: usize) -> Vec<HostResult> {
        let results = std::mem::take(&mut self.blocks[hb]);
        let sets = self.plan.port_sets();
        let mut parts: HashMap<std::net::IpAddr, Vec<Part<'_>>> = HashMap::new();
        let mut missing = Vec::new();
        for (pb, result) in results.iter().enumerate() {
            match result {
                Some(r) => {
                    for host in &r.hosts {
                        parts.entry(host.address).or_default().push(Part {
                            ports: &sets[pb],
                            host,
                        });
                    }
                }
                None => missing.push(&sets[pb]),
            }
        }
        // In the plan's order; a streamed plan holds no hosts, and every result of a block
        // lists the block's hosts in the targets' order.
        let listed = self.plan.hosts_of(hb as u32);
        let order: Vec<std::net::IpAddr> = if listed.is_empty() {
            results
                .iter()
                .flatten()
                .next()
                .map(|r| r.hosts.iter().map(|h| h.address).collect())
                .unwrap_or_default()
        } else {
            listed.iter().map(|h| h.address).collect()
        };
        order
            .iter()
            .filter_map(|a| assemble::merge(parts.get(a)?, &missing))
            .collect()
    }

    /// Host blocks with some results but not all (what a stopped run still hands over).
    fn partial(&self) -> Vec<usize> {
        (0..self.blocks.len())
            .filter(|&hb| self.missing[hb] > 0 && self.missing[hb] < self.plan.port_blocks())
            .collect()
    }
}

/// Scan workers of the pool whose heartbeat is recent.
async fn live_workers(queue: &QueueScan) -> Result<usize, AppError> {
    let nats = Queue::connect(&queue.url, &queue.pool).await?;
    let now = picket_model::Timestamp::now();
    Ok(nats
        .workers()
        .await?
        .iter()
        .filter(|w| w.pool == queue.pool && w.role == picket_model::WorkerRole::Scan)
        .filter(|w| {
            std::time::Duration::try_from(now.duration_since(w.heartbeat))
                .is_ok_and(|d| d <= super::LIVE_FOR)
        })
        .count())
}

/// How often a coordinator renews its run's heartbeat, and how old a heartbeat makes a run
/// abandoned.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// What the store keeps of a distributed run's coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Coordinator {
    /// The run's token on the queue (subjects of its shards and results).
    token: String,
    pool: String,
    shard_probes: usize,
    /// Host name and process id.
    owner: String,
    heartbeat: Timestamp,
}

fn coordinator_key(run: RunId) -> String {
    format!("queue-run:{}", run.0)
}

fn coordinator(store: &Store, run: RunId) -> Result<Option<Coordinator>, AppError> {
    match store.checkpoint(&coordinator_key(run))? {
        Some(value) => Ok(Some(serde_json::from_value(value)?)),
        None => Ok(None),
    }
}

fn age(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or_default()
}

/// Marks aborted every run still "running" whose coordinator's heartbeat is older than
/// [`STALE_AFTER`] (its saved hosts stay); the runs it marked. Local runs, which have no
/// heartbeat, are never touched.
pub fn abort_stale_runs(store: &Store) -> Result<Vec<RunId>, AppError> {
    let stale_after = STALE_AFTER;
    let now = Timestamp::now();
    let mut aborted = Vec::new();
    for id in store.running_runs()? {
        let Some(owner) = coordinator(store, id)? else {
            continue;
        };
        if age(now, owner.heartbeat) <= stale_after {
            continue;
        }
        let Some(mut run) = store.run_with_hosts(id, &[])? else {
            continue;
        };
        run.status = RunStatus::Aborted;
        run.finished_at = Some(owner.heartbeat);
        store.finish_run(&run)?;
        aborted.push(id);
    }
    Ok(aborted)
}

/// What `scan --queue --resume RUN` scans again: the run's targets and profile, once it is
/// known to have lost its coordinator (marked aborted now if its heartbeat is stale). Refused
/// for a run that was not distributed, that completed, or whose coordinator is alive.
pub fn resumable(store: &Store, run: RunId) -> Result<(Targets, ScanProfile), AppError> {
    abort_stale_runs(store)?;
    let refuse = |why: String| AppError::Refused(format!("cannot resume run {run}: {why}"));
    let Some(stored) = store.run_with_hosts(run, &[])? else {
        return Err(refuse("no such run".into()));
    };
    let Some(owner) = coordinator(store, run)? else {
        return Err(refuse("it was not scanned through a queue".into()));
    };
    match stored.status {
        RunStatus::Aborted => Ok((stored.targets, stored.profile)),
        RunStatus::Running => Err(refuse(format!(
            "its coordinator ({}) is alive: last heartbeat {} s ago",
            owner.owner,
            age(Timestamp::now(), owner.heartbeat).as_secs()
        ))),
        status => Err(refuse(format!("it is {}", status.as_str()))),
    }
}

/// A token naming one distributed run on the queue, unique across coordinators.
fn run_token(run_id: RunId) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}-{:x}{:x}",
        run_id.0,
        std::process::id(),
        nanos & 0xffff_ffff_ffff
    )
}

/// Scans `targets` through the queue's workers, saving each host to the store as its block is
/// assembled and keeping in memory those `keep` asks for; whether the scan was stopped.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_streaming(
    store: &Store,
    rt: &Handle,
    run_id: RunId,
    targets: &ScanTargets,
    opts: &ScanOptions,
    queue: &QueueScan,
    progress: &mut ProgressSink<'_>,
    shutdown: &Shutdown,
    keep: &(dyn Fn(&HostResult) -> bool + Sync),
) -> Result<(Scanned, bool), AppError> {
    let total_hosts = targets.len() as usize;
    let pairs = total_hosts * opts.profile.ports.len();
    // Resuming: the same token and shard size, so the same shards and their results.
    let resumed = match queue.resume {
        Some(old) => Some(coordinator(store, old)?.ok_or_else(|| {
            AppError::Refused(format!("run {old} was not scanned through a queue"))
        })?),
        None => None,
    };
    let shard_probes = match (&resumed, queue.shard_probes) {
        (Some(old), _) => old.shard_probes,
        (None, Some(n)) => n,
        (None, None) => {
            let workers = rt.block_on(live_workers(queue))?.max(1);
            pairs.div_ceil(workers).max(super::MIN_SHARD_PROBES)
        }
    };
    let (ports, seed) = (&opts.profile.ports, opts.profile.seed);
    let plan = if targets.len() > queue.stream_hosts_above {
        Plan::streamed(targets.len(), ports, shard_probes, seed)
    } else {
        let hosts = targets.iter().map(|h| ShardHost {
            address: h.address,
            hostname: h.hostname,
        });
        Plan::new(hosts.collect(), ports, shard_probes, seed)
    };
    let token = resumed.map_or_else(|| run_token(run_id), |old| old.token);
    let mut owner = Coordinator {
        token: token.clone(),
        pool: queue.pool.clone(),
        shard_probes,
        owner: format!("{}-{}", super::hostname(), std::process::id()),
        heartbeat: Timestamp::now(),
    };
    let key = coordinator_key(run_id);
    store.save_checkpoint_with_alerts(&key, &serde_json::to_value(&owner)?, &mut [])?;
    let mut scanned = Scanned {
        listed: Vec::new(),
        unlisted_down: 0,
    };
    let (batches, received) = std::sync::mpsc::channel::<Vec<HostResult>>();
    let (saved, outcome) = std::thread::scope(|scope| {
        // Saves hosts, and renews the run's heartbeat while the coordinator lives.
        let writer = scope.spawn(move || -> Result<(), AppError> {
            let mut beat = Instant::now();
            loop {
                match received.recv_timeout(HEARTBEAT_EVERY) {
                    Ok(batch) => store.save_hosts(run_id, &batch)?,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                }
                if beat.elapsed() >= HEARTBEAT_EVERY {
                    owner.heartbeat = Timestamp::now();
                    let value = serde_json::to_value(&owner)?;
                    store.save_checkpoint_with_alerts(&key, &value, &mut [])?;
                    beat = Instant::now();
                }
            }
        });
        let mut hand_over = |hosts: Vec<HostResult>| {
            for host in &hosts {
                if keep(host) {
                    scanned.listed.push(host.clone());
                } else {
                    scanned.unlisted_down += 1;
                }
            }
            for chunk in hosts.chunks(SAVE_BATCH) {
                // A writer that failed has said why; it is reported when it is joined.
                let _ = batches.send(chunk.to_vec());
            }
        };
        let outcome = rt.block_on(coordinate(
            run_id,
            &plan,
            targets,
            &token,
            opts,
            queue,
            total_hosts,
            progress,
            shutdown,
            &mut hand_over,
        ));
        drop(batches);
        let saved = writer
            .join()
            .unwrap_or_else(|_| Err(AppError::Refused("the host writer panicked".into())));
        (saved, outcome)
    });
    saved?;
    let aborted = outcome?;
    scanned.listed.sort_by_key(|h| h.address);
    Ok((scanned, aborted))
}

/// Counts of a run's progress, from the results filed.
struct Tally {
    started: tokio::time::Instant,
    total_probes: u64,
    decided: u64,
    /// Probes the workers sent and got answered, from the shards' results.
    sent: u64,
    answered: u64,
}

impl Tally {
    /// Files one result, hands over the host block it completes, and reports progress.
    fn file(
        &mut self,
        plan: &Plan,
        assembly: &mut Assembly<'_>,
        result: ShardResultMsg,
        progress: &mut ProgressSink<'_>,
        hand_over: &mut dyn FnMut(Vec<HostResult>),
    ) {
        let covered = plan.probes_of(result.shard);
        for host in &result.hosts {
            for o in host.open_ports() {
                progress(Progress::Scan(&ScanEvent::PortOpen {
                    host: host.address,
                    port: o.port,
                }));
            }
        }
        let (shard_sent, shard_answered) = result.hosts.iter().fold((0, 0), |(s, a), h| {
            (s + h.stats.probes_sent, a + h.stats.answers)
        });
        let fresh = assembly.filed;
        if let Some(hb) = assembly.file(result) {
            hand_over(assembly.take(hb));
        }
        if assembly.filed > fresh {
            self.decided += covered;
            self.sent += shard_sent;
            self.answered += shard_answered;
        }
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        progress(Progress::Scan(&ScanEvent::Progress {
            decided: self.decided.min(self.total_probes),
            total: self.total_probes,
            rate: self.decided as f64 / secs,
            sent: self.sent,
            answered: self.answered,
        }));
    }
}

/// Publishes the shards and files results until all are in (`false`) or `shutdown` (`true`).
/// Resuming (`queue.resume`), the results already on the stream are filed first and only the
/// shards without one are published.
#[allow(clippy::too_many_arguments)]
async fn coordinate(
    run_id: RunId,
    plan: &Plan,
    targets: &ScanTargets,
    token: &str,
    opts: &ScanOptions,
    queue: &QueueScan,
    total_hosts: usize,
    progress: &mut ProgressSink<'_>,
    shutdown: &Shutdown,
    hand_over: &mut dyn FnMut(Vec<HostResult>),
) -> Result<bool, AppError> {
    use futures_util::StreamExt;

    let nats = Queue::connect(&queue.url, &queue.pool).await?;
    // Listening before publishing: no result or advisory can be missed.
    let results = nats.results(token).await?;
    let exhausted = nats.exhausted_shards().await?;
    tokio::pin!(results, exhausted);
    progress(Progress::Scan(&ScanEvent::Started {
        hosts: total_hosts,
        ports: opts.profile.ports.len(),
    }));
    let mut tally = Tally {
        started: tokio::time::Instant::now(),
        total_probes: (total_hosts * opts.profile.ports.len()) as u64,
        decided: 0,
        sent: 0,
        answered: 0,
    };
    let mut assembly = Assembly::new(plan);
    if queue.resume.is_some() {
        // What the stopped (or crashed) coordinator left queued goes; what is on the results
        // stream stays and is filed before anything is published.
        nats.purge_shards(token).await?;
        let already = nats.result_count(token).await?;
        for _ in 0..already {
            let result = match results.next().await {
                Some(r) => r?,
                None => return Err(AppError::Refused("NATS: the results stream ended".into())),
            };
            tally.file(plan, &mut assembly, result, progress, hand_over);
        }
    }
    let message = |shard: u32, hosts: Vec<ShardHost>, ports: PortSet| {
        let mut profile = opts.profile.clone();
        profile.ports = ports;
        ShardMsg {
            v: picket_queue::VERSION,
            run: token.to_owned(),
            shard,
            of: plan.len(),
            hosts,
            profile,
        }
    };
    let filed = &assembly;
    let shards: Box<dyn Iterator<Item = ShardMsg> + '_> = if plan.is_streamed() {
        // Host block after host block, read from the targets as they are published.
        let mut hosts = targets.iter().map(|h| ShardHost {
            address: h.address,
            hostname: h.hostname,
        });
        Box::new((0..plan.host_blocks() as u32).flat_map(move |hb| {
            let block: Vec<ShardHost> = hosts
                .by_ref()
                .take(plan.block_span(hb).1 as usize)
                .collect();
            (0..plan.port_blocks())
                .map(move |pb| (plan.streamed_shard(hb, pb), pb))
                .filter(move |&(shard, _)| !filed.is_filed(shard))
                .map(move |(shard, pb)| message(shard, block.clone(), plan.port_sets()[pb].clone()))
                .collect::<Vec<_>>()
        }))
    } else {
        Box::new(
            (0..plan.len())
                .filter(move |&s| !filed.is_filed(s))
                .filter_map(|s| plan.shard(s))
                .map(move |s| message(s.shard, s.hosts, s.ports)),
        )
    };
    let published = nats.publish_shards(shards, run_id.0).await?;
    let mut aborted = false;
    while !assembly.done() {
        tokio::select! {
            result = results.next() => {
                let result = match result {
                    Some(r) => r?,
                    None => return Err(AppError::Refused("NATS: the results stream ended".into())),
                };
                if result.run != token {
                    continue;
                }
                tally.file(plan, &mut assembly, result, progress, hand_over);
            }
            Some(seq) = exhausted.next() => {
                if let Some(shard) = published.get(&seq) {
                    let _ = nats.purge_run(token).await;
                    return Err(AppError::Refused(format!(
                        "shard {shard} of {} reached the workers' --max-deliver without a result \
                         (workers crashing on it, or an ack wait shorter than a shard takes)",
                        plan.len(),
                    )));
                }
            }
            () = shutdown.wait() => {
                aborted = true;
                break;
            }
        }
    }
    if aborted {
        for hb in assembly.partial() {
            hand_over(assembly.take(hb));
        }
        // The results stay (a day): `--resume` files them instead of scanning them again.
        nats.purge_shards(token).await?;
    } else {
        nats.purge_run(token).await?;
    }
    Ok(aborted)
}

/// Where two runs differ, host by host and port by port (empty: the same state for every
/// host and every port either scanned), to hold a distributed run against a local one.
pub fn port_differences(a: &ScanRun, b: &ScanRun) -> Vec<String> {
    let mut differences = Vec::new();
    let ports = a.profile.ports.union(&b.profile.ports);
    for host in &a.hosts {
        let Some(other) = b.host(host.address) else {
            differences.push(format!("{}: only in run {}", host.address, a.id));
            continue;
        };
        if host.state != other.state {
            differences.push(format!(
                "{}: {} in run {}, {} in run {}",
                host.address, host.state, a.id, other.state, b.id
            ));
        }
        for port in ports.iter() {
            let (x, y) = (
                host.state_of(port, &a.profile.ports),
                other.state_of(port, &b.profile.ports),
            );
            if x != y {
                differences.push(format!(
                    "{}:{port}: {x:?} in run {}, {y:?} in run {}",
                    host.address, a.id, b.id
                ));
            }
        }
    }
    for host in &b.hosts {
        if a.host(host.address).is_none() {
            differences.push(format!("{}: only in run {}", host.address, b.id));
        }
    }
    differences
}
