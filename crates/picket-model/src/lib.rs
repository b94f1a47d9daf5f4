//! Picket's domain model: the types every other crate speaks.
//!
//! Targets and port specifications (parsed and validated), port and host states with the reason
//! that decided them, scan profiles and runs, and findings with their verdicts and evidence.
//!
//! This crate must never do I/O: no sockets, no files, no clocks, no DNS. Hostnames stay names
//! here; the scan engine resolves them. Everything is plain data with `serde` so that the store,
//! the outputs and the tests share one shape.

mod error;
mod finding;
mod observation;
mod ports;
mod run;
mod target;

pub use error::ModelError;
pub use finding::{
    Finding, FindingKind, Interference, InterferenceKind, ProbeOutcome, ProbeRecord, Recheck,
    RecheckEvidence, Verdict,
};
pub use observation::{HostReason, HostState, Observation, PortState, Protocol, Reason};
pub use ports::{PortSet, TOP_PORTS_SOURCE, top_ports};
pub use run::{
    ExtraPorts, HostResult, HostStats, Interruption, PortChange, RunDiff, RunId, RunStatus,
    RunSummary, ScanProfile, ScanRun,
};
pub use target::{TargetSpec, Targets};

/// Timestamps are UTC instants everywhere in Picket.
pub type Timestamp = jiff::Timestamp;
