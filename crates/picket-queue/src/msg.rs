//! The messages Picket's nodes exchange, as versioned JSON: every body carries `"v"`, and a
//! reader refuses a version it does not know instead of guessing. JSON because every field
//! is already a serde type of picket-model, a shard's result is dominated by summarised port
//! rows (small), and an operator can read a stream with `nats stream view`.
//!
//! These types must never hold behaviour beyond encoding: the workflows live in picket-app.

use std::net::IpAddr;

use ipnet::IpNet;
use picket_model::{ConnEvent, HostResult, ScanProfile, Timestamp};
pub use picket_model::{InFlight, WorkerRole, WorkerStatus};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::QueueError;

/// The version every message of this build writes and reads.
pub const VERSION: u32 = 1;

/// A host of a shard: its address and the name it was resolved from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardHost {
    pub address: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// One unit of scan work: these hosts on these ports, with the run's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardMsg {
    pub v: u32,
    /// The coordinator's run token: results go to `picket.results.<run>`.
    pub run: String,
    pub shard: u32,
    /// Shards in the run.
    pub of: u32,
    pub hosts: Vec<ShardHost>,
    /// The run's profile with `ports` set to this shard's port block.
    pub profile: ScanProfile,
}

/// What a worker found for one shard: one result per host (ports of the shard's block only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardResultMsg {
    pub v: u32,
    pub run: String,
    pub shard: u32,
    /// The worker that scanned it.
    pub worker: String,
    /// How many times the shard was delivered before this result (1: the first).
    pub delivered: i64,
    pub hosts: Vec<HostResult>,
}

/// One connection event on the threat stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMsg {
    pub v: u32,
    pub event: ConnEvent,
}

/// A block every enforcer applies to its own nftables set until `until`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockMsg {
    pub v: u32,
    pub net: IpNet,
    pub until: Timestamp,
    pub reason: String,
}

/// Who holds an event partition, until when (an empty owner: nobody), and the holder's fencing
/// epoch: the one it claimed in the shared store when it took the partition (0 while taking it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseMsg {
    pub v: u32,
    pub owner: String,
    pub until: Timestamp,
    #[serde(default)]
    pub epoch: i64,
}

/// Encodes a message as JSON.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Serialising these types cannot fail: no maps with non-string keys, no foreign impls.
    serde_json::to_vec(msg).unwrap_or_default()
}

/// Decodes a message, refusing a body of another version.
pub fn decode<T: DeserializeOwned>(
    kind: &'static str,
    subject: &str,
    payload: &[u8],
) -> Result<T, QueueError> {
    let bad = |why: String| QueueError::BadMessage {
        kind,
        subject: subject.to_owned(),
        why,
    };
    #[derive(Deserialize)]
    struct Versioned {
        v: u32,
    }
    let version: Versioned = serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
    if version.v != VERSION {
        return Err(bad(format!(
            "version {} (this build reads version {VERSION})",
            version.v
        )));
    }
    serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_model::PortSet;

    #[test]
    fn a_shard_round_trips_and_a_newer_version_is_refused() {
        let msg = ShardMsg {
            v: VERSION,
            run: "r1".into(),
            shard: 3,
            of: 9,
            hosts: vec![ShardHost {
                address: "10.0.0.1".parse().unwrap(),
                hostname: Some("a.example".into()),
            }],
            profile: ScanProfile::new(PortSet::from_ports([22, 80])),
        };
        let bytes = encode(&msg);
        let back: ShardMsg = decode("shard", "picket.shards.r1", &bytes).unwrap();
        assert_eq!(back, msg);
        let newer = String::from_utf8(bytes)
            .unwrap()
            .replace("\"v\":1", "\"v\":2");
        let err = decode::<ShardMsg>("shard", "picket.shards.r1", newer.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
    }

    #[test]
    fn garbage_is_a_bad_message_naming_the_subject() {
        let err = decode::<EventMsg>("event", "picket.events", b"{").unwrap_err();
        assert!(err.to_string().contains("picket.events"), "{err}");
    }
}
