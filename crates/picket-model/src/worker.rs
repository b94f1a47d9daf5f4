//! Scale-out nodes as the queue's heartbeats describe them: a worker's role, the shard it is
//! working on, and when it last said it was alive (`picket workers`). Plain data: no I/O.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// What a worker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkerRole {
    Scan,
    Detect,
    Enforce,
}

impl WorkerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerRole::Scan => "scan",
            WorkerRole::Detect => "detect",
            WorkerRole::Enforce => "enforce",
        }
    }
}

/// A shard a worker is scanning now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub run: String,
    pub shard: u32,
    pub since: Timestamp,
}

/// A worker's heartbeat, as kept in the workers bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// The message version (picket-queue's `VERSION`).
    pub v: u32,
    pub pool: String,
    pub id: String,
    pub hostname: String,
    pub role: WorkerRole,
    pub started_at: Timestamp,
    pub heartbeat: Timestamp,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_flight: Vec<InFlight>,
    /// Shards (or events, for a detector; blocks, for an enforcer) done since it started.
    pub done: u64,
}
