//! The application layer's one error type: a refused option (naming its flag), or the failure
//! of a crate a workflow called, with the context the workflow adds (which file, which record).
//! It must never hide a cause: each variant keeps its source for the caller to show.

use thiserror::Error;

/// A refused option value: the flag (or argument) it came from, and why.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{flag} {message}")]
pub struct OptionError {
    /// The flag as the user spells it (`--ttl`, `--home-net`), or what was missing.
    pub flag: String,
    /// The value quoted and why it was refused (`"soon": not a duration (e.g. 15m, 1h)`).
    pub message: String,
}

impl OptionError {
    pub fn new(flag: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            flag: flag.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Error)]
pub enum AppError {
    /// An option the workflow cannot run with: the caller's usage error.
    #[error(transparent)]
    Option(#[from] OptionError),
    #[error(transparent)]
    Store(#[from] picket_store::StoreError),
    #[error(transparent)]
    Scan(#[from] picket_scan::ScanError),
    #[error(transparent)]
    Service(#[from] picket_service::ServiceError),
    #[error(transparent)]
    Intel(#[from] picket_intel::IntelError),
    #[error(transparent)]
    Vuln(#[from] picket_vuln::VulnError),
    #[error(transparent)]
    Ingest(#[from] picket_ingest::IngestError),
    #[error(transparent)]
    Threat(#[from] picket_detect::threat::ThreatError),
    #[error(transparent)]
    Respond(#[from] picket_respond::RespondError),
    #[error(transparent)]
    Model(#[from] picket_model::ModelError),
    #[error(transparent)]
    Queue(#[from] picket_queue::QueueError),
    /// Loaded knowledge that may not replace the stored (empty, mostly bad, shrinking).
    #[error(transparent)]
    Intake(#[from] picket_model::IntakeError),
    /// Rendering into a sink's writer failed.
    #[error(transparent)]
    Report(#[from] picket_report::ReportError),
    /// Writing output (a sink's writer) failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A failure of `source` in the named context (a file, a stored record).
    #[error("{context}: {source}")]
    Context {
        context: String,
        #[source]
        source: Box<AppError>,
    },
    /// A workflow refused what it was given for a reason of its own.
    #[error("{0}")]
    Refused(String),
    /// The user stopped a scan: the run was stored as aborted.
    #[error("interrupted: run {0} was stored as aborted with what had been decided")]
    Interrupted(picket_model::RunId),
}

impl AppError {
    /// `self` in the named context (`cannot read FILE`).
    pub fn context(self, context: impl Into<String>) -> Self {
        AppError::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// The option error inside, however deep in context it sits.
    pub fn as_option(&self) -> Option<&OptionError> {
        match self {
            AppError::Option(e) => Some(e),
            AppError::Context { source, .. } => source.as_option(),
            _ => None,
        }
    }
}

/// Adds context to any result whose error converts into [`AppError`].
pub trait Context<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, AppError>;
}

impl<T, E: Into<AppError>> Context<T> for Result<T, E> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, AppError> {
        self.map_err(|e| e.into().context(context()))
    }
}
