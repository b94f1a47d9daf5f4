//! `picket worker`: a scan worker. It pulls one shard at a time from the shared durable
//! consumer (explicit ack), scans it with picket-scan's engine on the shard's hosts and port
//! block (discovery, per-host timing, retries and ban handling exactly as a local scan; the
//! timing counts this worker's own probes, which is what an IPS limiting per source address
//! sees), publishes the result, and only then acknowledges the shard. While a shard runs it
//! sends an in-progress ack every third of the ack wait, so a long shard is not redelivered;
//! a worker killed mid-shard sends nothing, and the server redelivers the shard after the ack
//! wait. Stopped, it hands its shard back (nak) for another worker at once.
//!
//! A shard carries the run's profile, `--max-rate` included: each worker's engine applies it
//! as its own ceiling (so N workers may send N times it in all). A worker's own `--max-rate`
//! lowers that ceiling for the shards it scans (the lower of the two wins).
//!
//! A heartbeat with the shard in flight goes to the workers bucket every few seconds. The
//! worker needs no store: results travel on the stream and the coordinator stores them. It
//! must never print, and never acknowledge a shard whose result the server has not stored.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use picket_model::{HostResult, Timestamp};
use picket_queue::{
    InFlight, Queue, QueueError, Redelivery, ShardMsg, ShardResultMsg, WorkerRole, WorkerStatus,
};
use picket_scan::ScanHost;
use tokio::runtime::Handle;

use super::NodeOptions;
use crate::error::{AppError, OptionError};
use crate::shutdown::Shutdown;

/// How long one pull waits for a shard before the worker looks at its shutdown again.
const PULL_WAIT: Duration = Duration::from_secs(2);

/// What a worker reports as it goes, for the CLI to print.
#[derive(Debug)]
pub enum WorkerEvent<'a> {
    /// Connected and pulling.
    Ready { id: &'a str },
    /// A shard began (`delivered` > 1: a redelivery).
    ShardStarted {
        run: &'a str,
        shard: u32,
        of: u32,
        delivered: i64,
    },
    /// A shard's result is stored on the stream and the shard acknowledged.
    ShardDone {
        run: &'a str,
        shard: u32,
        hosts: usize,
        open: usize,
        elapsed: Duration,
    },
    /// A message that was not a shard this build reads: terminated, never retried.
    BadMessage(&'a QueueError),
}

/// `picket worker` (scanning).
#[derive(Debug, Clone, PartialEq)]
pub struct ScanWorkerOptions {
    pub node: NodeOptions,
    pub redelivery: Redelivery,
    /// This worker's ceiling on probes per second, over the shard's own (`None`: the shard's).
    pub max_rate: Option<f64>,
}

impl ScanWorkerOptions {
    pub fn new(node: NodeOptions, redelivery: Redelivery) -> Self {
        Self {
            node,
            redelivery,
            max_rate: None,
        }
    }

    /// With `--max-rate`, checked: a positive number of probes per second.
    pub fn with_max_rate(mut self, rate: Option<f64>) -> Result<Self, OptionError> {
        if let Some(rate) = rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(OptionError::new(
                "--max-rate",
                format!("{rate}: must be a positive number of probes per second"),
            ));
        }
        self.max_rate = rate;
        Ok(self)
    }

    /// The ceiling a shard is scanned under: the lower of the shard's and this worker's.
    fn ceiling(&self, shard: Option<f64>) -> Option<f64> {
        match (shard, self.max_rate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// What a worker did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    pub shards: u64,
    /// Shards handed back unfinished when stopped.
    pub handed_back: u64,
}

/// Heartbeats every `every` with whatever `status` holds, until dropped.
pub(crate) fn heartbeats(
    rt: &Handle,
    queue: &Queue,
    status: &Arc<Mutex<WorkerStatus>>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    let (queue, status) = (queue.clone(), Arc::clone(status));
    rt.spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let now = {
                let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
                s.heartbeat = Timestamp::now();
                s.clone()
            };
            // A missed heartbeat is only a stale line in `picket workers`; the next one may pass.
            let _ = queue.heartbeat(&now).await;
        }
    })
}

pub(crate) fn status(node: &NodeOptions, role: WorkerRole) -> Arc<Mutex<WorkerStatus>> {
    let now = Timestamp::now();
    Arc::new(Mutex::new(WorkerStatus {
        v: picket_queue::VERSION,
        pool: node.pool.clone(),
        id: node.id.clone(),
        hostname: super::hostname(),
        role,
        started_at: now,
        heartbeat: now,
        in_flight: Vec::new(),
        done: 0,
    }))
}

fn update(status: &Arc<Mutex<WorkerStatus>>, f: impl FnOnce(&mut WorkerStatus)) {
    f(&mut status.lock().unwrap_or_else(|e| e.into_inner()));
}

/// Pulls and scans shards until `shutdown`.
pub fn run(
    rt: &Handle,
    opts: &ScanWorkerOptions,
    events: &mut (dyn FnMut(WorkerEvent<'_>) + Send),
    shutdown: &Shutdown,
) -> Result<WorkerSummary, AppError> {
    let (node, redelivery) = (&opts.node, opts.redelivery);
    rt.block_on(async {
        let queue = super::connect(node).await?;
        let puller = queue.shard_puller(redelivery).await?;
        let status = status(node, WorkerRole::Scan);
        let first = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
        queue.heartbeat(&first).await?;
        let beats = heartbeats(rt, &queue, &status, node.heartbeat_every);
        events(WorkerEvent::Ready { id: &node.id });
        let mut summary = WorkerSummary::default();
        let outcome = async {
            while !shutdown.is_triggered() {
                let (deliveries, bad) = tokio::select! {
                    pulled = puller.pull(1, PULL_WAIT) => pulled?,
                    () = shutdown.wait() => break,
                };
                for e in &bad {
                    events(WorkerEvent::BadMessage(e));
                }
                for delivery in deliveries {
                    let shard = &delivery.msg;
                    events(WorkerEvent::ShardStarted {
                        run: &shard.run,
                        shard: shard.shard,
                        of: shard.of,
                        delivered: delivery.delivered,
                    });
                    update(&status, |s| {
                        s.in_flight = vec![InFlight {
                            run: shard.run.clone(),
                            shard: shard.shard,
                            since: Timestamp::now(),
                        }];
                    });
                    let started = tokio::time::Instant::now();
                    let keepalive = (redelivery.ack_wait / 3).max(Duration::from_millis(100));
                    let scanned = {
                        let scan =
                            scan_shard(shard, opts.ceiling(shard.profile.max_rate), shutdown);
                        tokio::pin!(scan);
                        let mut tick = tokio::time::interval_at(
                            tokio::time::Instant::now() + keepalive,
                            keepalive,
                        );
                        loop {
                            tokio::select! {
                                hosts = &mut scan => break hosts,
                                _ = tick.tick() => delivery.progress().await?,
                            }
                        }
                    };
                    update(&status, |s| s.in_flight.clear());
                    let Some(hosts) = scanned else {
                        delivery.nak().await?;
                        summary.handed_back += 1;
                        break;
                    };
                    let open = hosts.iter().map(|h| h.open_ports().count()).sum();
                    let count = hosts.len();
                    queue
                        .publish_result(&ShardResultMsg {
                            v: picket_queue::VERSION,
                            run: shard.run.clone(),
                            shard: shard.shard,
                            worker: node.id.clone(),
                            delivered: delivery.delivered,
                            hosts,
                        })
                        .await?;
                    delivery.ack().await?;
                    summary.shards += 1;
                    update(&status, |s| s.done += 1);
                    events(WorkerEvent::ShardDone {
                        run: &shard.run,
                        shard: shard.shard,
                        hosts: count,
                        open,
                        elapsed: started.elapsed(),
                    });
                }
            }
            Ok::<_, AppError>(())
        }
        .await;
        beats.abort();
        let _ = queue.leave(&node.id).await;
        outcome.map(|()| summary)
    })
}

/// Scans one shard; `None` when stopped before it was done (its partial result is worthless:
/// the shard goes back to the queue whole).
async fn scan_shard(
    shard: &ShardMsg,
    max_rate: Option<f64>,
    shutdown: &Shutdown,
) -> Option<Vec<HostResult>> {
    let hosts: Vec<ScanHost> = shard
        .hosts
        .iter()
        .map(|h| ScanHost {
            address: h.address,
            hostname: h.hostname.clone(),
        })
        .collect();
    let total = hosts.len() as u64;
    let mut results = Vec::with_capacity(hosts.len());
    let mut profile = shard.profile.clone();
    profile.max_rate = max_rate;
    let summary = picket_scan::scan_each(
        hosts.into_iter(),
        total,
        &profile,
        &mut |_| {},
        &mut |host| results.push(host),
        shutdown.wait(),
    )
    .await;
    (!summary.aborted).then_some(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lower_of_the_shard_and_worker_ceilings_wins() {
        let node = NodeOptions::new("nats://127.0.0.1:4222", None, Some("w".into()));
        let plain = ScanWorkerOptions::new(node, Redelivery::default());
        assert_eq!(plain.ceiling(None), None);
        assert_eq!(plain.ceiling(Some(300.0)), Some(300.0));
        let capped = plain.clone().with_max_rate(Some(100.0)).unwrap();
        assert_eq!(capped.ceiling(None), Some(100.0));
        assert_eq!(capped.ceiling(Some(300.0)), Some(100.0));
        assert_eq!(capped.ceiling(Some(50.0)), Some(50.0));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = plain.clone().with_max_rate(Some(bad)).unwrap_err();
            assert!(err.to_string().contains("--max-rate"), "{err}");
        }
    }
}
