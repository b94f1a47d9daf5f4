//! The threat job's rule: "Bad external client IP connection to vulnerable application".
//!
//! A connection event raises or updates an alert when all of these hold:
//!
//! 1. it crossed the home network's edge inbound (outside client, home host), with a
//!    destination port;
//! 2. the [`Inventory`] knows an application with at least one vulnerability at that host,
//!    port and transport;
//! 3. the intel table lists the client in at least [`ThreatSettings::min_feeds`] distinct feeds;
//! 4. no [`Suppression`](picket_model::Suppression) matches it.
//!
//! [`ThreatDetector`] keeps one alert per (client, host port, application) per window, counts
//! every connection into it (established, attempted, bytes and packets each way, the largest
//! connection), and scores it with [`assess`] (see [`severity`] for the table of points).
//!
//! Like the rest of this crate, nothing here reads a clock or does I/O: time is the events' own.

mod detector;
mod inventory;
pub mod severity;
#[cfg(test)]
mod testing;

pub use detector::{
    AlertChange, Screen, ThreatDetector, ThreatError, ThreatSettings, ThreatStats, Verdict,
};
pub use inventory::{Inventory, InventoryApp, rank};
pub use severity::{MEANINGFUL_TRANSFER_BYTES, assess};
