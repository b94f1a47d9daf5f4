//! The queue adapter's one error type: a NATS operation that failed (naming what it was doing),
//! or a message that could not be read. It must never hide the cause: each variant keeps it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum QueueError {
    /// A NATS or JetStream operation failed: connecting, creating a stream, publishing, pulling.
    #[error("NATS: {what}: {source}")]
    Nats {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A message whose body is not the type its subject promises (or of a newer version).
    #[error("NATS: bad {kind} message on {subject}: {why}")]
    BadMessage {
        kind: &'static str,
        subject: String,
        why: String,
    },
    /// A pool name that is not one subject token.
    #[error("{pool:?}: a pool name is 1 to 64 letters, digits, '-' or '_'")]
    BadPool { pool: String },
    /// A URL that is not `nats://HOST:PORT` (or `tls://`).
    #[error("{url:?}: not a NATS URL (nats://HOST:PORT)")]
    BadUrl { url: String },
}

impl QueueError {
    /// Wraps a client error with what was being done.
    pub(crate) fn nats(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        QueueError::Nats {
            what: what.into(),
            source: source.into(),
        }
    }
}
