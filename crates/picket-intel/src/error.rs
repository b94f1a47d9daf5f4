use std::path::PathBuf;

use picket_model::FeedFormat;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One entry of a feed that could not be read. It is counted and skipped; the rest of the feed
/// loads. `line` is 1-based; for JSON documents it is the line where the offending object starts.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
#[error("{file}:{line}: {field}: {reason}")]
pub struct LineError {
    pub file: String,
    pub line: usize,
    /// The field that was wrong, named as the format names it (`cidr`, `count`, `pattern` ...).
    pub field: String,
    pub reason: String,
}

/// Why a feed could not be loaded at all (a bad entry is a [`LineError`] in the load report).
#[derive(Debug, Error)]
pub enum IntelError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: cannot tell which feed format this is; name it (one of: {known})")]
    UnknownFormat { file: String, known: String },
    /// A whole-document format (STIX bundle, MISP JSON, a CSV without the needed columns) whose
    /// outer structure is broken: there are no entries to skip to.
    #[error("{file}:{line}:{column}: not a {format} document: {reason}")]
    Document {
        file: String,
        format: FeedFormat,
        line: usize,
        column: usize,
        reason: String,
    },
    /// The first bad entry when loading was asked to be strict.
    #[error(transparent)]
    BadLine(#[from] LineError),
    #[error("{count} indicators are more than one table can index (at most {max})")]
    TooManyIndicators { count: usize, max: u32 },
    /// Bytes that [`crate::IntelTable::decode`] cannot take for an encoded table.
    #[error("not a readable encoded intel table: {0}")]
    Undecodable(String),
}
