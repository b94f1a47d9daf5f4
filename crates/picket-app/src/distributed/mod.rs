//! Scale-out over NATS JetStream (picket-queue) and a shared store: the workflows of a node
//! that is one of many.
//!
//! - [`scan`]: the coordinator of a distributed scan (`picket scan --queue`): shards out,
//!   results in, hosts assembled and saved; the rest of the run is the local one's.
//! - [`worker`]: `picket worker`: pulls shards, scans them with picket-scan's engine (each
//!   worker's per-host timing counts its own probes, as an IPS that limits per source sees
//!   them), publishes the results, acknowledges; heartbeats in the workers bucket.
//! - [`detect`]: `picket worker --detect`: detectors sharing one durable consumer of the
//!   event stream, alerts deduplicated through the shared store.
//! - [`publish`]: `picket ingest --to`: connection events onto the stream.
//! - [`enforce`]: `picket enforce`: every published block applied to this node's nftables set.
//!
//! Like the rest of picket-app, this must never parse flags, print, or call the store from a
//! thread of the async runtime.

mod assemble;
pub mod detect;
pub mod enforce;
pub mod publish;
pub mod scan;
pub mod worker;

use std::time::Duration;

use crate::error::OptionError;

pub use picket_queue::{DEFAULT_POOL, DEFAULT_SHARD_PROBES, Redelivery, WorkerRole, WorkerStatus};
pub use scan::{STALE_AFTER, abort_stale_runs, port_differences, resumable};

/// `picket scan --queue`: where the workers are and how big a shard is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueScan {
    /// `nats://HOST:PORT`.
    pub url: String,
    /// The pool of workers that scan it.
    pub pool: String,
    /// (host, port) pairs per shard; `None`: the work split evenly over the pool's live scan
    /// workers (one shard each, at least [`MIN_SHARD_PROBES`] pairs), since every shard starts
    /// its hosts' timing afresh (discovering an IPS's limit again costs retries and time).
    pub shard_probes: Option<usize>,
    /// `--resume RUN`: a run whose coordinator stopped or died; its shards' results on the
    /// stream are filed into this run and only the shards without one are published.
    pub resume: Option<picket_model::RunId>,
    /// Above this many target hosts, shards are cut from the targets as they are published
    /// (none held in memory; [`picket_queue::Plan::streamed`]); at or below, from a list.
    pub stream_hosts_above: u64,
}

/// A worker is counted live while its heartbeat is this recent.
pub(crate) const LIVE_FOR: Duration = Duration::from_secs(15);

/// Target sets larger than this are planned without holding their hosts.
pub const STREAM_HOSTS_ABOVE: u64 = 65_536;

/// The smallest automatic shard.
pub const MIN_SHARD_PROBES: usize = DEFAULT_SHARD_PROBES;

impl QueueScan {
    pub fn new(url: impl Into<String>, pool: Option<String>) -> Self {
        Self {
            url: url.into(),
            pool: pool.unwrap_or_else(|| DEFAULT_POOL.into()),
            shard_probes: None,
            resume: None,
            stream_hosts_above: STREAM_HOSTS_ABOVE,
        }
    }

    /// `--queue`, `--pool`, `--shard-probes`, checked.
    pub fn parse(
        url: &str,
        pool: Option<&str>,
        shard_probes: Option<usize>,
    ) -> Result<Self, OptionError> {
        let mut queue = Self::new(nats_url("--queue", url)?, pool_name(pool)?);
        if let Some(n) = shard_probes {
            if n == 0 {
                return Err(OptionError::new("--shard-probes", "must be at least 1"));
            }
            queue.shard_probes = Some(n);
        }
        Ok(queue)
    }
}

/// A NATS URL as the client takes it: `nats://HOST:PORT` or `tls://HOST:PORT`.
pub fn nats_url(flag: &str, url: &str) -> Result<String, OptionError> {
    if url.starts_with("nats://") || url.starts_with("tls://") {
        Ok(url.to_owned())
    } else {
        Err(OptionError::new(
            flag,
            format!("{url:?}: not a NATS URL (nats://HOST:PORT)"),
        ))
    }
}

/// `--pool`: one subject token.
pub fn pool_name(pool: Option<&str>) -> Result<Option<String>, OptionError> {
    pool.map(|p| {
        picket_queue::check_pool(p)
            .map(|()| p.to_owned())
            .map_err(|e| OptionError::new("--pool", e.to_string()))
    })
    .transpose()
}

/// What every long-running node of the queue shares: where NATS is, its name, how often it
/// says it is alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeOptions {
    pub url: String,
    pub pool: String,
    /// Unique among the workers (default: host name and process id).
    pub id: String,
    pub heartbeat_every: Duration,
}

impl NodeOptions {
    pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

    /// A node named after this host and process.
    pub fn new(url: impl Into<String>, pool: Option<String>, id: Option<String>) -> Self {
        Self {
            url: url.into(),
            pool: pool.unwrap_or_else(|| DEFAULT_POOL.into()),
            id: id.unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id())),
            heartbeat_every: Self::HEARTBEAT_EVERY,
        }
    }
}

/// Connects a long-running node, trying again for a few seconds: a server just started (or
/// restarting) may accept connections before JetStream answers.
pub(crate) async fn connect(node: &NodeOptions) -> Result<picket_queue::Queue, crate::AppError> {
    let mut tries = 0;
    loop {
        match picket_queue::Queue::connect(&node.url, &node.pool).await {
            Ok(queue) => return Ok(queue),
            Err(picket_queue::QueueError::Nats { .. }) if tries < CONNECT_TRIES => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Connection attempts of a node before it gives up (half a second apart).
const CONNECT_TRIES: u32 = 10;

/// This machine's host name (`/proc/sys/kernel/hostname`), or `unknown`.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Every worker's last heartbeat (`picket workers`).
pub fn workers(
    rt: &tokio::runtime::Handle,
    url: &str,
) -> Result<Vec<WorkerStatus>, crate::AppError> {
    rt.block_on(async {
        let queue = picket_queue::Queue::connect(url, DEFAULT_POOL).await?;
        Ok(queue.workers().await?)
    })
}
