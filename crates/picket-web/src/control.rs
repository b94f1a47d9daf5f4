//! The service's side of the web layer: what a handler may ask the running service to do or
//! tell. The server implements [`Control`]; tests implement it with a stand-in.

use picket_model::{RunId, Timestamp, WorkerStatus};
use serde::Serialize;

/// A scan asked for over HTTP (`POST /api/v1/scans`): a configured job by name, or targets and
/// ports given in the request (the same syntax as the CLI's targets and `-p`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct ScanRequest {
    pub job: Option<String>,
    #[serde(default)]
    pub targets: Vec<String>,
    pub ports: Option<String>,
}

/// One scheduled scan job as the service sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus {
    pub name: String,
    /// The job's cron expression as configured.
    pub schedule: String,
    /// When the schedule fires next.
    pub next: Option<Timestamp>,
    /// The run under way, if the job is running now.
    pub running: Option<RunId>,
    /// The job's last finished run.
    pub last_run: Option<RunId>,
}

/// Why the service refused or failed a request.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No configured job has that name (404).
    #[error("no scan job is named {0:?}")]
    UnknownJob(String),
    /// The request's targets or ports are not valid (400); the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The job is already running: it is not started twice (409).
    #[error("scan job {name:?} is already running as run {run}")]
    AlreadyRunning { name: String, run: RunId },
    /// The service is shutting down or the run could not begin (503).
    #[error("{0}")]
    Unavailable(String),
}

/// What the running service does for the web layer. Methods block (a scan begins by resolving
/// its targets and storing the run): handlers call them through `spawn_blocking`.
pub trait Control: Send + Sync + 'static {
    /// Starts a scan now and returns its run's id as soon as the run is stored as begun; the
    /// scan goes on in the service.
    fn start_scan(&self, request: ScanRequest) -> Result<RunId, ControlError>;
    /// The configured scan jobs.
    fn jobs(&self) -> Vec<JobStatus>;
    /// The workers of every NATS JetStream server the service's jobs scan through, as
    /// `picket workers` lists them (none when no job has a queue); a server that cannot be
    /// reached is [`ControlError::Unavailable`], naming it.
    fn workers(&self) -> Result<Vec<WorkerStatus>, ControlError>;
    /// The service's metrics in the Prometheus text exposition format.
    fn metrics(&self) -> String;
}
