//! A block in force: what the firewall holds for a network, joined with what the store recorded
//! about it. This module must never talk to the firewall or the store: the responder and the
//! application layer fill it in.

use serde::Serialize;

use crate::Timestamp;

/// A block in force, as nftables holds it, with what the store recorded about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveBlock {
    pub net: String,
    /// Seconds left; `None` for a block without timeout.
    pub expires_in_s: Option<u64>,
    /// Why, from the newest recorded block of the same network (`None`: not blocked by us).
    pub reason: Option<String>,
    pub alert_id: Option<i64>,
    pub since: Option<Timestamp>,
}
