//! Picket's domain model: the types every other crate speaks.
//!
//! Targets and port specifications (parsed and validated), port and host states with the reason
//! that decided them, scan profiles and runs, and findings with their verdicts and evidence.
//!
//! This crate must never do I/O: no sockets, no files, no clocks, no DNS. Hostnames stay names
//! here; the scan engine resolves them. Everything is plain data with `serde` so that the store,
//! the outputs and the tests share one shape.

mod addr;
mod advice;
mod alert;
mod block;
mod error;
mod event;
mod finding;
mod homenet;
mod indicator;
mod intake;
mod knowledge;
mod observation;
mod ports;
mod run;
mod secret;
mod service;
mod target;
mod triage;
mod vuln;
mod worker;

pub use addr::{canonical_ip, canonical_net};
pub use advice::{Before, DownCause, InterruptCause, Remediation, Silence, Summary, Verify};
pub use alert::{
    ALERT_MAX_SOURCES, Alert, AlertKind, AlertVuln, IntelHit, Severity, SeverityBands,
    SeverityReason, Suppression,
};
pub use block::ActiveBlock;
pub use error::ModelError;
pub use event::{ConnEvent, ConnOutcome, FlowRef, SourceRef, Transport};
pub use finding::{
    Evidence, Finding, FindingKind, Interference, InterferenceDetail, InterferenceKind,
    NewOpenPortEvidence, ProbeOutcome, ProbeRecord, Recheck, RecheckEvidence, ServiceVuln, Verdict,
    VulnerableServiceEvidence,
};
pub use homenet::{Direction, HomeNet};
pub use indicator::{FeedFormat, FeedMeta, FeedSummary, Indicator};
pub use intake::{Imported, Intake, IntakeError, MAX_BAD_SHARE_PERCENT, unfinished_last_line};
pub use knowledge::{KnowledgeKey, KnowledgeKind, KnowledgeRow, KnowledgeSource};
pub use observation::{HostReason, HostState, Observation, PortState, Protocol, Reason};
pub use ports::{PortSet, TOP_PORTS_SOURCE, tcp_service_name, top_ports};
pub use run::{
    ExtraPorts, HostResult, HostStats, Interruption, PortChange, RunDiff, RunId, RunStatus,
    RunSummary, ScanProfile, ScanRun,
};
pub use secret::without_password;
pub use service::{DetectionMethod, SERVICE_CONFIDENCE_MAX, ServiceInfo};
pub use target::{TargetSpec, Targets};
pub use triage::{AlertStatus, AlertTriage, CloseReason};
pub use vuln::{
    Application, Confidence, Cpe, CpePart, CpeValue, Cvss, CvssSeverity, CvssVersion, Epss,
    InventoryEntry, KevEntry, Package, PatternToken, ReportFormat, VulnMatch, VulnModelError,
    Vulnerability,
};
pub use worker::{InFlight, WorkerRole, WorkerStatus};

/// Timestamps are UTC instants everywhere in Picket.
pub type Timestamp = jiff::Timestamp;
