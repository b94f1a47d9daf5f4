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

use std::collections::HashMap;

use picket_model::{HostResult, RunId, ScanRun};
use picket_queue::{Plan, Queue, ShardHost, ShardMsg, ShardResultMsg};
use picket_scan::{ScanEvent, ScanTargets};
use picket_store::Store;
use picket_store::prelude::*;
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

    /// Files a result; the host block it completes, if it completes one. A shard already
    /// filed (a redelivery's second result) changes nothing.
    fn file(&mut self, result: ShardResultMsg) -> Option<usize> {
        let shard = self.plan.shard(result.shard)?;
        let pb = self.plan.port_block_of(result.shard)?;
        let hb = shard.host_block as usize;
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
        self.plan
            .hosts_of(hb as u32)
            .iter()
            .filter_map(|h| assemble::merge(parts.get(&h.address)?, &missing))
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
    let hosts: Vec<ShardHost> = targets
        .iter()
        .map(|h| ShardHost {
            address: h.address,
            hostname: h.hostname,
        })
        .collect();
    let total_hosts = hosts.len();
    let pairs = total_hosts * opts.profile.ports.len();
    let shard_probes = match queue.shard_probes {
        Some(n) => n,
        None => {
            let workers = rt.block_on(live_workers(queue))?.max(1);
            pairs.div_ceil(workers).max(super::MIN_SHARD_PROBES)
        }
    };
    let plan = Plan::new(hosts, &opts.profile.ports, shard_probes, opts.profile.seed);
    let token = run_token(run_id);
    let mut scanned = Scanned {
        listed: Vec::new(),
        unlisted_down: 0,
    };
    let (batches, received) = std::sync::mpsc::channel::<Vec<HostResult>>();
    let (saved, outcome) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<(), AppError> {
            for batch in received {
                store.save_hosts(run_id, &batch)?;
            }
            Ok(())
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
            &plan,
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

/// Publishes the shards and files results until all are in (`false`) or `shutdown` (`true`).
#[allow(clippy::too_many_arguments)]
async fn coordinate(
    plan: &Plan,
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
    let shards = (0..plan.len()).filter_map(|s| plan.shard(s)).map(|s| {
        let mut profile = opts.profile.clone();
        profile.ports = s.ports;
        ShardMsg {
            v: picket_queue::VERSION,
            run: token.to_owned(),
            shard: s.shard,
            of: plan.len(),
            hosts: s.hosts,
            profile,
        }
    });
    let published = nats.publish_shards(shards).await?;
    progress(Progress::Scan(&ScanEvent::Started {
        hosts: total_hosts,
        ports: opts.profile.ports.len(),
    }));
    let started = tokio::time::Instant::now();
    let total_probes = (total_hosts * opts.profile.ports.len()) as u64;
    let mut assembly = Assembly::new(plan);
    let mut decided = 0u64;
    // Probes the workers sent and got answered, from the shards' results.
    let (mut sent, mut answered) = (0u64, 0u64);
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
                let covered = plan
                    .shard(result.shard)
                    .map_or(0, |s| (s.hosts.len() * s.ports.len()) as u64);
                for host in &result.hosts {
                    for o in host.open_ports() {
                        progress(Progress::Scan(&ScanEvent::PortOpen { host: host.address, port: o.port }));
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
                    decided += covered;
                    sent += shard_sent;
                    answered += shard_answered;
                }
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                progress(Progress::Scan(&ScanEvent::Progress {
                    decided: decided.min(total_probes),
                    total: total_probes,
                    rate: decided as f64 / secs,
                    sent,
                    answered,
                }));
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
    }
    nats.purge_run(token).await?;
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
