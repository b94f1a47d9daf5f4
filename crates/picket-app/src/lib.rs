//! Picket's application layer: the workflows that join the engines, the store and the
//! responders, behind one library that the CLI and the coming server both call.
//!
//! - [`options`]: the validated options of every workflow, and the one parser of each kind of
//!   flag value (severity, durations, output formats, home nets, allow-list).
//! - [`exposure`]: one exposure run end to end (resolve, scan, compare, re-check, services,
//!   findings, stored in one transaction), and the `--every` schedule.
//! - [`threat`]: the threat pipeline in Vector's shape: sources -> detector -> sinks (print,
//!   store with the checkpoint protocol, block).
//! - [`knowledge`]: intel, vulnerability records and inventory rebuilt from the store, and the
//!   watch that swaps them into a running detector when the store changes.
//! - [`distributed`]: scale-out over NATS JetStream: the distributed scan's coordinator,
//!   scan workers, detectors sharing a stream, event publishing, enforcers.
//! - [`import`]: loading feeds and vulnerability knowledge into the store.
//! - [`respond`]: manual blocks and unblocks, behind the allow-list, recorded in the store.
//! - [`shutdown`]: the one cancellation signal every long-running workflow listens to.
//! - [`targets`]: a scan's targets from lists and files, each checked naming file and line.
//!
//! This crate must never parse command-line flags, print, or install signal handlers: it takes
//! validated options, reports through the sinks and observers its caller hands it, and stops
//! when its [`Shutdown`] is triggered. The store blocks (PostgreSQL must not be called inside a
//! tokio runtime), so workflows that touch it are synchronous and take a runtime handle for their
//! async parts; a server calls them from `spawn_blocking`.

pub mod distributed;
pub mod error;
pub mod exposure;
pub mod import;
pub mod knowledge;
mod names;
pub mod options;
pub mod respond;
pub mod shutdown;
pub mod targets;
pub mod threat;

pub use error::AppError;
pub use shutdown::Shutdown;
