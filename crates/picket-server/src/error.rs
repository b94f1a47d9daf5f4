//! The service's one error type: what stops `serve` from starting or ends it. Failures of a
//! single scan, watcher, refresh or delivery are not errors of the service: they are logged,
//! counted in the metrics, and the service goes on. It must never hide a cause: each variant
//! keeps its source or says why.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The API token cannot be used; the message says why (missing, empty, readable by others).
    #[error("token_file {}: {why}", file.display())]
    Token { file: PathBuf, why: String },
    #[error(
        "no token_file: the API needs a bearer token (token_file in the config or --token-file)"
    )]
    NoToken,
    #[error(transparent)]
    Store(#[from] picket_store::StoreError),
    #[error(transparent)]
    App(#[from] picket_app::AppError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the web layer cannot be built: {0}")]
    Web(#[from] picket_web::BuildError),
    #[error("the HTTP server failed: {0}")]
    Http(#[source] std::io::Error),
    /// A sink that could not start; the label names it (`file#2`).
    #[error("sink {0}: {1}")]
    Sink(String, String),
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}
