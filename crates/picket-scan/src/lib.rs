//! Picket's scan engine: TCP connect probes with exact reasons, adaptive timing, host liveness,
//! interference detection, and the patient re-check.
//!
//! The engine never prints and never touches the store: it takes resolved hosts and a
//! [`picket_model::ScanProfile`], reports [`ScanEvent`]s as it goes, and returns one
//! [`picket_model::HostResult`] per host. Network outcomes (closed, filtered, down, silenced) are
//! data with their evidence, not errors.
//!
//! It must never send traffic anywhere but to the hosts it was given.

mod discovery;
mod echo;
mod engine;
mod error;
mod fdlimit;
mod host;
mod neighbours;
mod permute;
mod probe;
mod prober;
mod rdns;
mod recheck;
mod resolve;
mod timing;

pub use engine::{ScanEvent, ScanHost, ScanOutcome, ScanSummary, scan, scan_each};
pub use error::ScanError;
pub use host::limits::SUMMARISE_ABOVE;
pub use permute::Permutation;
pub use probe::{LocalError, ProbeResult, probe};
pub use rdns::{ReverseSettings, reverse_names, reverse_names_with};
pub use recheck::{RecheckPlan, RecheckResult, RecheckSettings, recheck};
pub use resolve::{ScanTargets, TargetIter};
pub use timing::RateChange;
