use thiserror::Error;

/// Why a user-supplied target or port specification was refused.
///
/// Each variant names the offending input so the CLI can print a one-line cause.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ModelError {
    #[error("bad target {input:?}: {why}")]
    BadTarget { input: String, why: String },
    #[error("bad port spec {input:?}: {why}")]
    BadPortSpec { input: String, why: String },
    #[error("--top-ports {requested}: must be between 1 and {available}")]
    BadTopPorts { requested: usize, available: usize },
}

impl ModelError {
    pub(crate) fn target(input: &str, why: impl Into<String>) -> Self {
        Self::BadTarget {
            input: input.to_owned(),
            why: why.into(),
        }
    }

    pub(crate) fn ports(input: &str, why: impl Into<String>) -> Self {
        Self::BadPortSpec {
            input: input.to_owned(),
            why: why.into(),
        }
    }
}
