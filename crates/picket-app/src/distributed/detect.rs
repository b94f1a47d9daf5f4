//! `picket worker --detect`: a detector among many over one event stream. The stream is cut
//! into [`picket_queue::PARTITIONS`] partitions by address pair, so every connection of one
//! alert key lands in one partition, in publishing order; each partition has one durable
//! consumer, pulled by the detector that holds its lease (a compare-and-set in JetStream,
//! renewed every few seconds, shared out evenly among the live detectors). So however many
//! detectors run, each alert is aggregated by one of them from all its connections, in order:
//! the alerts are exactly those one detector would raise.
//!
//! Every flush stores a partition's alerts with its checkpoint (the stream sequence counted up
//! to) in one transaction, then acknowledges the events; a detector that dies before the ack
//! leaves events that come back to the next holder, who skips those at or below the
//! checkpoint. Alerts are upserted by dedup key and window, so the store keeps one row per key
//! and window whatever happens.
//!
//! A lease alone cannot stop a detector that stalls past it (a pause, a slow commit) from
//! writing what the next holder counts again. So taking a partition is, in this order: win the
//! lease; claim the partition's checkpoint in the store, which raises its fencing epoch (the
//! lease then carries it); load the checkpoint and the open alert windows from the store;
//! replace the partition's consumer with one of this epoch (delivery starts again from the
//! oldest unacknowledged event, in order, and the old holder can no longer pull). Every save is
//! a compare-and-set on that epoch in the alerts' transaction: a superseded holder writes
//! nothing, acknowledges nothing and drops the partition. Either its save committed before the
//! claim (and the new holder loaded it) or it is refused.
//!
//! With a block policy, clients whose alerts reach the blocking severity are published on the
//! blocks subject for every node's `picket enforce` (each applies its own allow-list).
//! This must never print, and never call the store from the async runtime.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use picket_detect::threat::ThreatDetector;
use picket_model::{Alert, HomeNet, Timestamp, WorkerRole};
use picket_queue::{BlockMsg, Delivery, EventMsg, Puller, Queue, Redelivery};
use picket_report::AlertChangeKind;
use picket_store::prelude::*;
use picket_store::{AlertWrite, Store, StoreError};
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use super::NodeOptions;
use super::worker::{heartbeats, status};
use crate::error::AppError;
use crate::knowledge::Knowledge;
use crate::options::BlockPolicy;
use crate::shutdown::Shutdown;
use crate::threat::{Notice, StoredAlert, ThreatSink};

/// How long a lease lasts unless renewed, and how often leases are renewed and shared out.
const LEASE_TTL: Duration = Duration::from_secs(10);
const REBALANCE_EVERY: Duration = Duration::from_secs(2);
/// Events pulled from a partition at once, and how long a pull waits for the first.
const PULL_BATCH: usize = 2000;
const PULL_WAIT: Duration = Duration::from_millis(50);

/// `picket worker --detect`.
#[derive(Debug, Clone)]
pub struct DetectOptions {
    pub node: NodeOptions,
    pub home: HomeNet,
    pub settings: picket_detect::threat::ThreatSettings,
    pub redelivery: Redelivery,
    /// How often alerts are stored (and acknowledged events with them).
    pub flush_every: Duration,
    /// Publish blocks for the clients of alerts this severe (the enforcers apply them).
    pub block: Option<BlockPolicy>,
}

/// What a detector did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectSummary {
    pub events: u64,
    pub new_alerts: u64,
    pub updated_alerts: u64,
    /// Redelivered events already counted before (at or below a checkpoint), acknowledged only.
    pub skipped: u64,
    /// Saves refused because another detector had taken the partition over meanwhile (its
    /// events were left to the new holder).
    pub fenced: u64,
    pub blocks: u64,
}

/// A partition's checkpoint as stored.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Checkpoint {
    /// The last stream sequence counted.
    sequence: u64,
    /// The newest event counted, to resume the open alerts from.
    last_event: Option<Timestamp>,
}

struct Held {
    /// The fencing epoch claimed in the store when the partition was taken.
    epoch: i64,
    puller: Puller<EventMsg>,
    detector: ThreatDetector,
    checkpoint: Checkpoint,
    /// Events pulled since the last flush, acknowledged after it.
    unacked: Vec<Delivery<EventMsg>>,
    /// Alerts changed since the last flush, by (dedup key, window start).
    pending: HashMap<(String, Timestamp), Alert>,
}

fn checkpoint_key(pool: &str, partition: u32) -> String {
    format!("nats:{pool}:events:{partition}")
}

/// Runs a detector until `shutdown`; alerts go to `sink` as the store takes them.
pub fn run(
    store: &Store,
    rt: &Handle,
    opts: &DetectOptions,
    sink: &mut dyn ThreatSink,
    shutdown: &Shutdown,
) -> Result<DetectSummary, AppError> {
    let knowledge = Knowledge::load(store, Timestamp::now())?;
    if knowledge.intel.is_empty() {
        sink.notice(Notice::NoFeeds);
    }
    // Refused settings fail here, before anything is pulled.
    ThreatDetector::new(
        std::sync::Arc::clone(&knowledge.intel),
        Default::default(),
        opts.home.clone(),
        opts.settings,
        Vec::new(),
    )?;
    let queue = rt.block_on(super::connect(&opts.node))?;
    let status = status(&opts.node, WorkerRole::Detect);
    let first = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
    rt.block_on(queue.heartbeat(&first))?;
    let beats = heartbeats(rt, &queue, &status, opts.node.heartbeat_every);
    let mut d = Detector {
        store,
        rt,
        opts,
        queue: &queue,
        knowledge,
        held: BTreeMap::new(),
        summary: DetectSummary::default(),
        numbers: HashMap::new(),
        blocked: std::collections::HashSet::new(),
    };
    let outcome = d.run(sink, shutdown);
    let released = d.release_all(sink);
    beats.abort();
    let _ = rt.block_on(queue.leave(&opts.node.id));
    outcome.and(released).map(|()| d.summary)
}

struct Detector<'a> {
    store: &'a Store,
    rt: &'a Handle,
    opts: &'a DetectOptions,
    queue: &'a Queue,
    knowledge: Knowledge,
    held: BTreeMap<u32, Held>,
    summary: DetectSummary,
    numbers: HashMap<(String, Timestamp), u64>,
    blocked: std::collections::HashSet<std::net::IpAddr>,
}

impl Detector<'_> {
    fn run(&mut self, sink: &mut dyn ThreatSink, shutdown: &Shutdown) -> Result<(), AppError> {
        let mut last_rebalance: Option<Instant> = None;
        let mut last_flush = Instant::now();
        while !shutdown.is_triggered() {
            if last_rebalance.is_none_or(|t| t.elapsed() >= REBALANCE_EVERY) {
                self.rebalance(sink)?;
                last_rebalance = Some(Instant::now());
            }
            let mut pulled = 0usize;
            let partitions: Vec<u32> = self.held.keys().copied().collect();
            for p in partitions {
                pulled += self.pull(p)?;
            }
            if last_flush.elapsed() >= self.opts.flush_every {
                self.flush_all(sink)?;
                last_flush = Instant::now();
            }
            if pulled == 0 && self.held.is_empty() {
                shutdown.sleep(REBALANCE_EVERY);
            }
        }
        self.flush_all(sink)
    }

    /// Renews the leases held, gives up those above this detector's share, and takes free
    /// ones up to it.
    fn rebalance(&mut self, sink: &mut dyn ThreatSink) -> Result<(), AppError> {
        let opts = self.opts;
        let live = self
            .rt
            .block_on(self.queue.workers())?
            .into_iter()
            .filter(|w| w.pool == opts.node.pool && w.role == WorkerRole::Detect)
            .filter(|w| {
                Timestamp::now()
                    .duration_since(w.heartbeat)
                    .try_into()
                    .is_ok_and(|d: Duration| d <= super::LIVE_FOR)
            })
            .count()
            .max(1) as u32;
        let share = picket_queue::PARTITIONS.div_ceil(live) as usize;
        let until = crate::threat::sinks::expiry(Timestamp::now(), LEASE_TTL)
            .unwrap_or_else(Timestamp::now);
        let id = opts.node.id.as_str();
        // Renew (a lease lost meanwhile is dropped unflushed: the new holder counts its events).
        for (p, epoch) in self
            .held
            .iter()
            .map(|(&p, h)| (p, h.epoch))
            .collect::<Vec<_>>()
        {
            if !self.rt.block_on(self.queue.lease(p, id, epoch, until))? {
                self.give_up(p, sink, false)?;
            }
        }
        while self.held.len() > share {
            let Some(&p) = self.held.keys().next_back() else {
                break;
            };
            self.give_up(p, sink, true)?;
        }
        for p in 0..picket_queue::PARTITIONS {
            if self.held.len() >= share {
                break;
            }
            if self.held.contains_key(&p) || !self.rt.block_on(self.queue.lease(p, id, 0, until))? {
                continue;
            }
            self.take(p, until)?;
        }
        Ok(())
    }

    /// Starts pulling partition `p`, whose lease was just won: claims its checkpoint (a new
    /// epoch), then loads it and its open alerts from the store, then pulls from a consumer of
    /// this epoch.
    fn take(&mut self, p: u32, until: Timestamp) -> Result<(), AppError> {
        let pool = &self.opts.node.pool;
        let claimed = self.store.claim_checkpoint(&checkpoint_key(pool, p))?;
        let checkpoint: Checkpoint = match claimed.checkpoint {
            Some(value) => serde_json::from_value(value)?,
            None => Checkpoint::default(),
        };
        let mut detector = ThreatDetector::new(
            std::sync::Arc::clone(&self.knowledge.intel),
            self.knowledge.inventory.clone(),
            self.opts.home.clone(),
            self.opts.settings,
            self.knowledge.suppressions.clone(),
        )?;
        if let Some(t) = checkpoint.last_event {
            let back = jiff::SignedDuration::try_from(self.opts.settings.window)
                .unwrap_or(jiff::SignedDuration::ZERO);
            let open = self.store.open_alerts(t.checked_sub(back).unwrap_or(t))?;
            detector.load_open(
                open.into_iter()
                    .filter(|a| picket_queue::partition_of_pair(a.client, a.host) == p),
            );
        }
        let id = &self.opts.node.id;
        let puller = self.rt.block_on(async {
            // The lease carries the epoch; lost meanwhile (a stall), the partition is not taken.
            if !self.queue.lease(p, id, claimed.epoch, until).await? {
                return Ok::<_, picket_queue::QueueError>(None);
            }
            let puller = self
                .queue
                .event_puller(p, claimed.epoch, self.opts.redelivery)
                .await?;
            Ok(Some(puller))
        });
        // Not taken this time (a consumer that could not be replaced: a server slow to answer,
        // another taker): the lease lapses or is taken again at the next share-out, under a
        // new epoch. A server that is gone fails the next lease renewal.
        let Ok(Some(puller)) = puller else {
            return Ok(());
        };
        self.held.insert(
            p,
            Held {
                epoch: claimed.epoch,
                puller,
                detector,
                checkpoint,
                unacked: Vec::new(),
                pending: HashMap::new(),
            },
        );
        Ok(())
    }

    /// Stops pulling partition `p`: flushed and released when still held; dropped unflushed
    /// when the lease was lost (its events were not acknowledged: they come back to the new
    /// holder, who counts them from its checkpoint).
    fn give_up(&mut self, p: u32, sink: &mut dyn ThreatSink, held: bool) -> Result<(), AppError> {
        if held {
            self.flush(p, sink)?;
            self.rt
                .block_on(self.queue.release(p, &self.opts.node.id))?;
        }
        self.held.remove(&p);
        Ok(())
    }

    fn release_all(&mut self, sink: &mut dyn ThreatSink) -> Result<(), AppError> {
        for p in self.held.keys().copied().collect::<Vec<_>>() {
            self.give_up(p, sink, true)?;
        }
        Ok(())
    }

    /// Pulls what partition `p` has and observes it; how many events came.
    fn pull(&mut self, p: u32) -> Result<usize, AppError> {
        let Some(held) = self.held.get_mut(&p) else {
            return Ok(0);
        };
        let (deliveries, bad) = match self.rt.block_on(held.puller.pull(PULL_BATCH, PULL_WAIT)) {
            Ok(pulled) => pulled,
            Err(_) => {
                // Most often its consumer was replaced by a new holder's (a lasting NATS failure
                // fails the next lease renewal). Dropped unflushed: what it held comes back to
                // whoever holds the partition, counted from that holder's checkpoint.
                self.held.remove(&p);
                return Ok(0);
            }
        };
        // Unreadable events were terminated by the puller: they would fail on every node.
        self.summary.skipped += bad.len() as u64;
        let n = deliveries.len();
        for d in deliveries {
            if d.sequence <= held.checkpoint.sequence {
                self.summary.skipped += 1;
            } else {
                self.summary.events += 1;
                let ev = &d.msg.event;
                held.checkpoint.sequence = d.sequence;
                held.checkpoint.last_event =
                    Some(held.checkpoint.last_event.map_or(ev.ts, |t| t.max(ev.ts)));
                held.detector.observe_each(ev, |change| {
                    let alert = change.into_alert();
                    held.pending
                        .insert((alert.dedup_key.clone(), alert.window_start), alert);
                });
            }
            held.unacked.push(d);
        }
        Ok(n)
    }

    fn flush_all(&mut self, sink: &mut dyn ThreatSink) -> Result<(), AppError> {
        for p in self.held.keys().copied().collect::<Vec<_>>() {
            self.flush(p, sink)?;
        }
        Ok(())
    }

    /// Stores partition `p`'s alerts with its checkpoint in one transaction, hands them to the
    /// sink by what the store says they were, publishes blocks, then acknowledges its events.
    fn flush(&mut self, p: u32, sink: &mut dyn ThreatSink) -> Result<(), AppError> {
        let Some(held) = self.held.get(&p) else {
            return Ok(());
        };
        if held.unacked.is_empty() && held.pending.is_empty() {
            return Ok(());
        }
        let mut alerts: Vec<Alert> = held.pending.values().cloned().collect();
        alerts.sort_by_key(|a| (a.window_start, a.dedup_key.clone()));
        let value = serde_json::to_value(held.checkpoint)?;
        let key = checkpoint_key(&self.opts.node.pool, p);
        // Stored only while this detector's epoch is the partition's current one: one that
        // stalled past its lease writes nothing, and the new holder counts these events again
        // from its own checkpoint.
        let writes = match self.store.save_fenced_checkpoint_with_alerts(
            &key,
            held.epoch,
            &value,
            &mut alerts,
        ) {
            Ok(writes) => writes,
            Err(StoreError::Fenced { .. }) => {
                self.summary.fenced += 1;
                self.held.remove(&p);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let Some(held) = self.held.get_mut(&p) else {
            return Ok(());
        };
        held.pending.clear();
        for (alert, write) in alerts.iter().zip(writes) {
            let kind = match write {
                AlertWrite::New => {
                    self.summary.new_alerts += 1;
                    AlertChangeKind::New
                }
                AlertWrite::Updated => {
                    self.summary.updated_alerts += 1;
                    AlertChangeKind::Update
                }
            };
            let next = self.numbers.len() as u64 + 1;
            let number = *self
                .numbers
                .entry((alert.dedup_key.clone(), alert.window_start))
                .or_insert(next);
            sink.alert(StoredAlert {
                number,
                kind,
                alert,
            })?;
        }
        if let Some(policy) = &self.opts.block {
            for alert in &alerts {
                if alert.severity < policy.min_severity || !self.blocked.insert(alert.client) {
                    continue;
                }
                let now = Timestamp::now();
                let block = BlockMsg {
                    v: picket_queue::VERSION,
                    net: IpNet::from(alert.client),
                    until: crate::threat::sinks::expiry(now, policy.ttl).unwrap_or(now),
                    reason: format!(
                        "{} alert {} ({})",
                        alert.severity,
                        alert.id.unwrap_or_default(),
                        alert.kind
                    ),
                };
                self.rt.block_on(self.queue.publish_block(&block))?;
                self.summary.blocks += 1;
            }
        }
        // Unconfirmed: an event whose ack is lost comes back at or below the checkpoint, and
        // is skipped.
        let acked = std::mem::take(&mut held.unacked);
        self.rt.block_on(async {
            for d in &acked {
                d.ack_unconfirmed().await?;
            }
            Ok::<_, AppError>(())
        })
    }
}
