//! Picket's scale-out adapter over NATS JetStream: the streams, consumers and key-value bucket
//! that scan coordinators and workers, event publishers, detectors and enforcers share, and the
//! versioned messages they exchange ([`msg`]). Shard planning ([`plan`]) cuts a scan into
//! reproducible host x port blocks.
//!
//! Every subject is under a pool (`default` unless named), so that separate groups of nodes
//! (sites, vantage points, tests) share one server without taking each other's work:
//!
//! | stream / bucket   | subjects                      | retention  | used by |
//! |---|---|---|---|
//! | `PICKET_SHARDS`   | `picket.shards.<pool>.<run>`  | work queue | coordinator publishes, scan workers pull (durable `picket-scan-<pool>`, explicit ack) |
//! | `PICKET_RESULTS`  | `picket.results.<pool>.<run>` | limits, 1 day, dedup by `<run>.<shard>` | workers publish, the coordinator reads its run's |
//! | `PICKET_EVENTS`   | `picket.events.<pool>.<partition>` | work queue | `picket ingest --to` publishes, the detector holding a partition's lease pulls it (durable `picket-detect-<pool>-<partition>`) |
//! | `PICKET_LEASES`   | `picket.leases.<pool>.<partition>` | last per subject | which detector holds a partition (compare-and-set on the subject's sequence) |
//! | `PICKET_BLOCKS`   | `picket.blocks.<pool>`        | limits, 30 days | detectors publish, every enforcer reads all |
//! | `PICKET_WORKERS`  | `picket.workers.<pool>.<worker>` | last per subject, 1 day | heartbeats (`picket workers`) |
//!
//! This crate must never scan, detect, touch the store or decide anything: it moves typed
//! messages and acknowledgements, and the workflows in picket-app decide what they mean.

mod error;
pub mod msg;
pub mod plan;

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind, stream};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use error::QueueError;
pub use msg::{
    BlockMsg, EventMsg, InFlight, LeaseMsg, ShardHost, ShardMsg, ShardResultMsg, VERSION,
    WorkerRole, WorkerStatus,
};
use picket_model::{ConnEvent, Timestamp};
pub use plan::{DEFAULT_SHARD_PROBES, Plan, PlannedShard};

pub const SHARDS_STREAM: &str = "PICKET_SHARDS";
pub const RESULTS_STREAM: &str = "PICKET_RESULTS";
pub const EVENTS_STREAM: &str = "PICKET_EVENTS";
pub const BLOCKS_STREAM: &str = "PICKET_BLOCKS";
/// Heartbeats: a stream keeping the last message per worker (what a KV bucket is, written as a
/// plain stream because Debian's nats-server 2.9 and async-nats 0.46 disagree on creating one).
pub const WORKERS_STREAM: &str = "PICKET_WORKERS";
/// Event partitions per pool: an event goes to the partition of its address pair, so every
/// connection of one alert key reaches the same detector, in stream order.
pub const PARTITIONS: u32 = 16;
pub const LEASES_STREAM: &str = "PICKET_LEASES";

/// The pool of nodes that name none.
pub const DEFAULT_POOL: &str = "default";

/// How a work-queue consumer redelivers: after `ack_wait` without an ack or an in-progress
/// ack, up to `max_deliver` times in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redelivery {
    pub ack_wait: Duration,
    pub max_deliver: i64,
}

impl Default for Redelivery {
    fn default() -> Self {
        Self {
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
        }
    }
}

/// One connection to NATS with JetStream, the streams this build uses created if missing.
#[derive(Debug, Clone)]
pub struct Queue {
    client: async_nats::Client,
    js: jetstream::Context,
    pool: String,
}

/// A message pulled from a work queue, with what its acknowledgement needs.
pub struct Delivery<T> {
    pub msg: T,
    /// How many times it was delivered, this time included.
    pub delivered: i64,
    /// Its sequence in the stream (increasing in publishing order).
    pub sequence: u64,
    raw: jetstream::Message,
}

impl<T> Delivery<T> {
    /// Done: the server removes it from the work queue (and confirms that it did).
    pub async fn ack(&self) -> Result<(), QueueError> {
        self.raw
            .double_ack()
            .await
            .map_err(|e| QueueError::nats("acknowledging a message", e))
    }

    /// Done, without waiting for the server to confirm (for high-volume messages whose
    /// redelivery is harmless: a lost ack only brings the message back).
    pub async fn ack_unconfirmed(&self) -> Result<(), QueueError> {
        self.raw
            .ack()
            .await
            .map_err(|e| QueueError::nats("acknowledging a message", e))
    }

    /// Still working: the ack wait starts again.
    pub async fn progress(&self) -> Result<(), QueueError> {
        self.raw
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| QueueError::nats("sending an in-progress ack", e))
    }

    /// Not done (stopping): deliver it again at once, to another worker.
    pub async fn nak(&self) -> Result<(), QueueError> {
        self.raw
            .ack_with(AckKind::Nak(None))
            .await
            .map_err(|e| QueueError::nats("handing a message back", e))
    }
}

/// A pull consumer of one message type.
pub struct Puller<T> {
    consumer: PullConsumer,
    kind: &'static str,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Puller<T> {
    /// Up to `max` messages, waiting at most `wait` for the first. A message that cannot be
    /// read is terminated (it would fail on every node) and reported in the second list.
    pub async fn pull(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<(Vec<Delivery<T>>, Vec<QueueError>), QueueError> {
        let mut batch = self
            .consumer
            .fetch()
            .max_messages(max)
            .expires(wait)
            .messages()
            .await
            .map_err(|e| QueueError::nats(format!("pulling {} messages", self.kind), e))?;
        let mut out = Vec::new();
        let mut bad = Vec::new();
        while let Some(raw) = batch.next().await {
            let raw = raw.map_err(|e| QueueError::nats(format!("pulling {}", self.kind), e))?;
            let (delivered, sequence) = raw
                .info()
                .map(|i| (i.delivered, i.stream_sequence))
                .unwrap_or((1, 0));
            match msg::decode::<T>(self.kind, raw.subject.as_str(), &raw.payload) {
                Ok(msg) => out.push(Delivery {
                    msg,
                    delivered,
                    sequence,
                    raw,
                }),
                Err(e) => {
                    let _ = raw.ack_with(AckKind::Term).await;
                    bad.push(e);
                }
            }
        }
        Ok((out, bad))
    }
}

/// Sequence numbers of published messages, to match advisories against.
pub type Published = HashMap<u64, u32>;

impl Queue {
    /// Connects as a node of `pool` and creates the streams and the workers bucket if they are
    /// missing.
    pub async fn connect(url: &str, pool: &str) -> Result<Self, QueueError> {
        if !(url.starts_with("nats://") || url.starts_with("tls://")) {
            return Err(QueueError::BadUrl { url: url.into() });
        }
        check_pool(pool)?;
        let client = async_nats::ConnectOptions::new()
            .name("picket")
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| QueueError::nats(format!("connecting to {url}"), e))?;
        let js = jetstream::new(client.clone());
        let queue = Self {
            client,
            js,
            pool: pool.to_owned(),
        };
        queue.ensure_streams().await?;
        Ok(queue)
    }

    async fn ensure_streams(&self) -> Result<(), QueueError> {
        let day = Duration::from_secs(86_400);
        let streams = [
            (
                SHARDS_STREAM,
                "picket.shards.>",
                stream::RetentionPolicy::WorkQueue,
                day,
            ),
            (
                RESULTS_STREAM,
                "picket.results.>",
                stream::RetentionPolicy::Limits,
                day,
            ),
            (
                EVENTS_STREAM,
                "picket.events.>",
                stream::RetentionPolicy::WorkQueue,
                7 * day,
            ),
            (
                BLOCKS_STREAM,
                "picket.blocks.>",
                stream::RetentionPolicy::Limits,
                30 * day,
            ),
            (
                WORKERS_STREAM,
                "picket.workers.>",
                stream::RetentionPolicy::Limits,
                day,
            ),
            (
                LEASES_STREAM,
                "picket.leases.>",
                stream::RetentionPolicy::Limits,
                day,
            ),
        ];
        for (name, subject, retention, max_age) in streams {
            self.js
                .get_or_create_stream(stream::Config {
                    name: name.into(),
                    subjects: vec![subject.into()],
                    retention,
                    max_age,
                    max_messages_per_subject: if name == WORKERS_STREAM || name == LEASES_STREAM {
                        1
                    } else {
                        -1
                    },
                    ..Default::default()
                })
                .await
                .map_err(|e| QueueError::nats(format!("creating stream {name}"), e))?;
        }
        Ok(())
    }

    async fn publish<T: Serialize>(
        &self,
        subject: String,
        id: Option<String>,
        body: &T,
    ) -> Result<jetstream::context::PublishAckFuture, QueueError> {
        self.publish_raw(subject, id, msg::encode(body)).await
    }

    async fn publish_raw(
        &self,
        subject: String,
        id: Option<String>,
        body: Vec<u8>,
    ) -> Result<jetstream::context::PublishAckFuture, QueueError> {
        let mut publish = jetstream::message::PublishMessage::build().payload(body.into());
        if let Some(id) = id {
            publish = publish.message_id(id);
        }
        self.js
            .send_publish(subject.clone(), publish)
            .await
            .map_err(|e| QueueError::nats(format!("publishing on {subject}"), e))
    }

    /// Publishes a run's shards on the work queue; the stream sequence of each, by shard.
    /// `coordinator` names the coordinating run: the server drops a shard published twice by
    /// one coordinator (within its duplicate window), not one a resuming coordinator publishes
    /// again after the first's were purged.
    pub async fn publish_shards(
        &self,
        shards: impl IntoIterator<Item = ShardMsg>,
        coordinator: i64,
    ) -> Result<Published, QueueError> {
        let mut acks = Vec::new();
        for shard in shards {
            let subject = format!("picket.shards.{}.{}", self.pool, shard.run);
            let id = Some(format!("{}.{}.{coordinator}", shard.run, shard.shard));
            acks.push((shard.shard, self.publish(subject, id, &shard).await?));
        }
        let mut published = Published::new();
        for (shard, ack) in acks {
            let ack = ack
                .await
                .map_err(|e| QueueError::nats(format!("publishing shard {shard}"), e))?;
            published.insert(ack.sequence, shard);
        }
        Ok(published)
    }

    /// Removes what is left of a run from the work queue and its results (when it ends).
    pub async fn purge_run(&self, run: &str) -> Result<(), QueueError> {
        self.purge(SHARDS_STREAM, format!("picket.shards.{}.{run}", self.pool))
            .await?;
        self.purge(
            RESULTS_STREAM,
            format!("picket.results.{}.{run}", self.pool),
        )
        .await
    }

    /// Removes a run's shards still waiting on the work queue, keeping its results (a stopped
    /// or crashed run can be resumed from them for a day).
    pub async fn purge_shards(&self, run: &str) -> Result<(), QueueError> {
        self.purge(SHARDS_STREAM, format!("picket.shards.{}.{run}", self.pool))
            .await
    }

    /// Removes the messages of `subject` from the stream `name`.
    async fn purge(&self, name: &str, subject: String) -> Result<(), QueueError> {
        let stream = self
            .js
            .get_stream(name)
            .await
            .map_err(|e| QueueError::nats(format!("opening stream {name}"), e))?;
        stream
            .purge()
            .filter(subject.clone())
            .await
            .map_err(|e| QueueError::nats(format!("purging {subject}"), e))?;
        Ok(())
    }

    /// How many results of a run the stream holds now.
    pub async fn result_count(&self, run: &str) -> Result<u64, QueueError> {
        let subject = format!("picket.results.{}.{run}", self.pool);
        let stream = self
            .js
            .get_stream(RESULTS_STREAM)
            .await
            .map_err(|e| QueueError::nats(format!("opening stream {RESULTS_STREAM}"), e))?;
        let mut subjects = stream
            .info_with_subjects(subject.clone())
            .await
            .map_err(|e| QueueError::nats(format!("counting {subject}"), e))?;
        let mut count = 0;
        while let Some(entry) = subjects.next().await {
            count += entry
                .map_err(|e| QueueError::nats(format!("counting {subject}"), e))?
                .1 as u64;
        }
        Ok(count)
    }

    /// The scan workers' shared consumer (created with `redelivery` by the first worker).
    pub async fn shard_puller(
        &self,
        redelivery: Redelivery,
    ) -> Result<Puller<ShardMsg>, QueueError> {
        let (durable, subject) = self.scan_consumer();
        self.work_puller(SHARDS_STREAM, &durable, subject, "shard", redelivery)
            .await
    }

    /// A new durable consumer of one event partition for the holder of `epoch`, after deleting
    /// the partition's consumers of earlier holders. Delivery starts again from the oldest event
    /// not yet acknowledged, in stream order (a redelivery after the ack wait would come after
    /// newer events), and a holder that lost the partition can no longer pull from it.
    pub async fn event_puller(
        &self,
        partition: u32,
        epoch: i64,
        redelivery: Redelivery,
    ) -> Result<Puller<EventMsg>, QueueError> {
        let durable = format!("picket-detect-{}-{partition}-{epoch}", self.pool);
        let subject = self.events_subject(partition);
        let stream = self
            .js
            .get_stream(EVENTS_STREAM)
            .await
            .map_err(|e| QueueError::nats(format!("opening stream {EVENTS_STREAM}"), e))?;
        let mut consumers = stream.consumers();
        let mut earlier = Vec::new();
        while let Some(info) = consumers.next().await {
            let info = info.map_err(|e| QueueError::nats("listing event consumers", e))?;
            if info.config.filter_subject == subject && info.name != durable {
                earlier.push(info.name);
            }
        }
        for name in earlier {
            stream
                .delete_consumer(&name)
                .await
                .map_err(|e| QueueError::nats(format!("deleting consumer {name}"), e))?;
        }
        self.work_puller(EVENTS_STREAM, &durable, subject, "event", redelivery)
            .await
    }

    fn scan_consumer(&self) -> (String, String) {
        (
            format!("picket-scan-{}", self.pool),
            format!("picket.shards.{}.>", self.pool),
        )
    }

    fn events_subject(&self, partition: u32) -> String {
        format!("picket.events.{}.{partition}", self.pool)
    }

    fn blocks_subject(&self) -> String {
        format!("picket.blocks.{}", self.pool)
    }

    async fn work_puller<T>(
        &self,
        stream: &str,
        durable: &str,
        filter_subject: String,
        kind: &'static str,
        redelivery: Redelivery,
    ) -> Result<Puller<T>, QueueError> {
        let s = self
            .js
            .get_stream(stream)
            .await
            .map_err(|e| QueueError::nats(format!("opening stream {stream}"), e))?;
        let consumer: PullConsumer = s
            .get_or_create_consumer(
                durable,
                pull::Config {
                    durable_name: Some(durable.into()),
                    filter_subject,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: redelivery.ack_wait,
                    max_deliver: redelivery.max_deliver,
                    max_ack_pending: 100_000,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| QueueError::nats(format!("creating consumer {durable}"), e))?;
        Ok(Puller {
            consumer,
            kind,
            _type: std::marker::PhantomData,
        })
    }

    /// Publishes a shard's result (deduplicated by run and shard within the stream's window).
    pub async fn publish_result(&self, result: &ShardResultMsg) -> Result<(), QueueError> {
        let subject = format!("picket.results.{}.{}", self.pool, result.run);
        let id = Some(format!("{}.{}", result.run, result.shard));
        self.publish(subject.clone(), id, result)
            .await?
            .await
            .map_err(|e| QueueError::nats(format!("publishing on {subject}"), e))?;
        Ok(())
    }

    /// Every result of a run, from the first, as they come.
    pub async fn results(
        &self,
        run: &str,
    ) -> Result<impl futures_util::Stream<Item = Result<ShardResultMsg, QueueError>>, QueueError>
    {
        let subject = format!("picket.results.{}.{run}", self.pool);
        self.ordered(RESULTS_STREAM, subject, "result").await
    }

    /// Every block published (those still stored), from the first, then new ones as they come.
    pub async fn blocks(
        &self,
    ) -> Result<impl futures_util::Stream<Item = Result<BlockMsg, QueueError>>, QueueError> {
        self.ordered(BLOCKS_STREAM, self.blocks_subject(), "block")
            .await
    }

    async fn ordered<T: DeserializeOwned>(
        &self,
        stream: &str,
        subject: String,
        kind: &'static str,
    ) -> Result<impl futures_util::Stream<Item = Result<T, QueueError>>, QueueError> {
        let s = self
            .js
            .get_stream(stream)
            .await
            .map_err(|e| QueueError::nats(format!("opening stream {stream}"), e))?;
        let consumer = s
            .create_consumer(pull::OrderedConfig {
                filter_subject: subject.clone(),
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| QueueError::nats(format!("reading {subject}"), e))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| QueueError::nats(format!("reading {subject}"), e))?;
        Ok(messages.map(move |m| {
            let m = m.map_err(|e| QueueError::nats(format!("reading {kind} messages"), e))?;
            msg::decode(kind, m.subject.as_str(), &m.payload)
        }))
    }

    /// The stream sequences of shards that ran out of deliveries, as the server announces them.
    pub async fn exhausted_shards(
        &self,
    ) -> Result<impl futures_util::Stream<Item = u64>, QueueError> {
        let (durable, _) = self.scan_consumer();
        let subject =
            format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{SHARDS_STREAM}.{durable}");
        let sub = self
            .client
            .subscribe(subject.clone())
            .await
            .map_err(|e| QueueError::nats(format!("subscribing to {subject}"), e))?;
        #[derive(serde::Deserialize)]
        struct Advisory {
            stream_seq: u64,
        }
        Ok(sub.filter_map(|m| async move {
            serde_json::from_slice::<Advisory>(&m.payload)
                .ok()
                .map(|a| a.stream_seq)
        }))
    }

    /// Publishes connection events, each on its partition; returns once the server has stored
    /// every one. With `dedup`, each carries a message id made of its source line and a hash
    /// of its body (which names the file), so that the server drops one published again within
    /// the stream's duplicate window (JetStream's `Nats-Msg-Id`; two minutes): a follower that
    /// crashed after the server stored a batch and before its checkpoint was saved sends the
    /// batch again on restart, and nothing is stored twice.
    pub async fn publish_events(&self, events: &[EventMsg], dedup: bool) -> Result<(), QueueError> {
        let mut acks = Vec::with_capacity(events.len());
        for ev in events {
            let subject = self.events_subject(partition_of(&ev.event));
            let body = msg::encode(ev);
            let id = dedup.then(|| format!("ev:{}:{:016x}", ev.event.source.line, fnv64(&body)));
            acks.push(self.publish_raw(subject, id, body).await?);
        }
        for ack in acks {
            ack.await
                .map_err(|e| QueueError::nats("publishing an event", e))?;
        }
        Ok(())
    }

    /// Publishes a block for every enforcer.
    pub async fn publish_block(&self, block: &BlockMsg) -> Result<(), QueueError> {
        self.publish(self.blocks_subject(), None, block)
            .await?
            .await
            .map_err(|e| QueueError::nats("publishing a block", e))?;
        Ok(())
    }

    /// Takes or renews the lease of `partition` for `owner` until `until`, carrying the
    /// holder's fencing `epoch`: `true` when held now. A lease is free when it has no holder or
    /// its holder let it lapse; taking one is a compare-and-set on the subject's last sequence,
    /// so two detectors never both win it. A renewal under another epoch than the one the lease
    /// carries fails unless `epoch` is 0 (taking) or the lease carries 0 (being taken): a holder
    /// that lost the partition and took it again meanwhile is not the old holder.
    pub async fn lease(
        &self,
        partition: u32,
        owner: &str,
        epoch: i64,
        until: Timestamp,
    ) -> Result<bool, QueueError> {
        let subject = format!("picket.leases.{}.{partition}", self.pool);
        let Some(last) = self.last_lease(&subject).await? else {
            return self.write_lease(&subject, 0, owner, epoch, until).await;
        };
        let (sequence, held) = last;
        let live = !held.owner.is_empty() && held.until > Timestamp::now();
        if live && held.owner != owner {
            return Ok(false);
        }
        if live && epoch != 0 && held.epoch != 0 && held.epoch != epoch {
            return Ok(false);
        }
        self.write_lease(&subject, sequence, owner, epoch, until)
            .await
    }

    /// Gives up `partition` if `owner` holds it.
    pub async fn release(&self, partition: u32, owner: &str) -> Result<(), QueueError> {
        let subject = format!("picket.leases.{}.{partition}", self.pool);
        if let Some((sequence, held)) = self.last_lease(&subject).await?
            && held.owner == owner
        {
            self.write_lease(&subject, sequence, "", held.epoch, Timestamp::UNIX_EPOCH)
                .await?;
        }
        Ok(())
    }

    async fn last_lease(&self, subject: &str) -> Result<Option<(u64, LeaseMsg)>, QueueError> {
        let stream = self
            .js
            .get_stream(LEASES_STREAM)
            .await
            .map_err(|e| QueueError::nats(format!("opening stream {LEASES_STREAM}"), e))?;
        match stream.get_last_raw_message_by_subject(subject).await {
            Ok(m) => Ok(Some((
                m.sequence,
                msg::decode("lease", subject, &m.payload)?,
            ))),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(QueueError::nats(format!("reading {subject}"), e)),
        }
    }

    async fn write_lease(
        &self,
        subject: &str,
        after: u64,
        owner: &str,
        epoch: i64,
        until: Timestamp,
    ) -> Result<bool, QueueError> {
        let body = LeaseMsg {
            v: VERSION,
            owner: owner.to_owned(),
            until,
            epoch,
        };
        let publish = jetstream::message::PublishMessage::build()
            .payload(msg::encode(&body).into())
            .expected_last_subject_sequence(after);
        let sent = self
            .js
            .send_publish(subject.to_owned(), publish)
            .await
            .map_err(|e| QueueError::nats(format!("publishing on {subject}"), e))?
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                Ok(false)
            }
            Err(e) => Err(QueueError::nats(format!("taking lease {subject}"), e)),
        }
    }

    /// Records a worker's heartbeat.
    pub async fn heartbeat(&self, status: &WorkerStatus) -> Result<(), QueueError> {
        let subject = format!("picket.workers.{}.{}", self.pool, status.id);
        self.publish(subject, None, status)
            .await?
            .await
            .map_err(|e| QueueError::nats(format!("recording heartbeat of {}", status.id), e))?;
        Ok(())
    }

    /// Removes a worker that stopped cleanly.
    pub async fn leave(&self, id: &str) -> Result<(), QueueError> {
        let subject = format!("picket.workers.{}.{id}", self.pool);
        let stream = self
            .js
            .get_stream(WORKERS_STREAM)
            .await
            .map_err(|e| QueueError::nats(format!("opening stream {WORKERS_STREAM}"), e))?;
        stream
            .purge()
            .filter(subject)
            .await
            .map_err(|e| QueueError::nats(format!("removing worker {id}"), e))?;
        Ok(())
    }

    /// Every worker's last heartbeat, of every pool, by pool and id.
    pub async fn workers(&self) -> Result<Vec<WorkerStatus>, QueueError> {
        let stream = self
            .js
            .get_stream(WORKERS_STREAM)
            .await
            .map_err(|e| QueueError::nats(format!("opening stream {WORKERS_STREAM}"), e))?;
        let mut subjects = stream
            .info_with_subjects("picket.workers.>")
            .await
            .map_err(|e| QueueError::nats("listing workers", e))?;
        let mut names = Vec::new();
        while let Some(entry) = subjects.next().await {
            names.push(entry.map_err(|e| QueueError::nats("listing workers", e))?.0);
        }
        let mut out = Vec::new();
        for subject in names {
            let m = stream
                .get_last_raw_message_by_subject(&subject)
                .await
                .map_err(|e| QueueError::nats(format!("reading {subject}"), e))?;
            out.push(msg::decode::<WorkerStatus>("worker", &subject, &m.payload)?);
        }
        out.sort_by(|a, b| (&a.pool, &a.id).cmp(&(&b.pool, &b.id)));
        Ok(out)
    }
}

/// A pool name is one subject token: letters, digits, `-` and `_`.
pub fn check_pool(pool: &str) -> Result<(), QueueError> {
    let ok = !pool.is_empty()
        && pool.len() <= 64
        && pool
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(QueueError::BadPool { pool: pool.into() })
    }
}

/// The partition of an event: a hash of its address pair, the same either way round.
pub fn partition_of(event: &ConnEvent) -> u32 {
    partition_of_pair(event.src, event.dst)
}

/// The partition of the events between two addresses (an alert's client and host).
pub fn partition_of_pair(a: std::net::IpAddr, b: std::net::IpAddr) -> u32 {
    let (a, b) = (a.to_canonical(), b.to_canonical());
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut bytes = addr_bytes(lo);
    bytes.extend(addr_bytes(hi));
    (fnv64(&bytes) % u64::from(PARTITIONS)) as u32
}

/// FNV-1a, 64 bits.
fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn addr_bytes(ip: std::net::IpAddr) -> Vec<u8> {
    match ip {
        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}
