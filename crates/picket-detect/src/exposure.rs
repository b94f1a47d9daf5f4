//! The exposure job's rules: from two runs to findings a person can act on.
//!
//! The flow, each step a pure function:
//!
//! 1. [`diff`] lists what changed between the previous run and this one.
//! 2. [`suspects`] picks the ports that were open and are not open now; [`liveness_ports`]
//!    picks, per host, the ports that can prove it alive while those are re-checked.
//! 3. The scan engine re-checks them (patiently), then [`classify`] (or [`recheck`], which also
//!    assembles the stored record) turns the probes into a [`Verdict`](picket_model::Verdict).
//! 4. [`apply_corrections`] fixes the run where the re-check found the port open after all.
//! 5. [`findings`] builds the `open-port-recheck` and `new-open-port` findings.
//! 6. With service detection, [`vulnerable_service_findings`] reports detected services whose
//!    version has known vulnerabilities.
//!
//! The first run of a set of targets is the baseline: with no previous run there is nothing to
//! compare, so neither suspects nor new-open-port findings arise from it.

mod compare;
mod findings;
mod services;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod verdict;

pub use compare::{Suspect, apply_corrections, diff, liveness_ports, suspects};
pub use findings::{FindingContext, findings};
pub use services::{DetectedService, vulnerable_service_findings};
pub use verdict::{
    CLOSED_MIN_RESETS, FLAPPING_MIN_SILENT, HEAVY_LOSS, RecheckInput, classify, recheck,
};
