//! The one error type of this crate. Network outcomes are not errors: a port that never answers
//! is a `None` from `detect`, not an `Err`. Errors come from signature files only.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ServiceError {
    /// A signature file or directory could not be read.
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a field has the wrong type or an unknown name.
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    /// A signature is well-formed TOML but wrong: a bad regex, an unknown probe, a template
    /// naming a group the regex lacks, or a test response it does not match as it says.
    #[error("{file}:{line}: signature {service:?}: {field}: {why}")]
    Invalid {
        file: String,
        line: usize,
        service: String,
        field: &'static str,
        why: String,
    },
}
