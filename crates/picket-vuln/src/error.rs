use picket_model::KnowledgeKind;
use thiserror::Error;

/// Everything that can go wrong reading vulnerability data. Each variant names where: the file
/// (or `<input>` for a reader), and the line, JSON path or field.
#[derive(Debug, Error)]
pub enum VulnError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The document is not well-formed JSON, or its top level has the wrong shape.
    #[error("{file}:{line}:{column}: {message}")]
    Json {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A record parsed as JSON but a field is missing or has the wrong type or value.
    #[error("{file}: at {path}: {message}")]
    Field {
        file: String,
        /// JSON path, e.g. `vulnerabilities[3].cve.configurations[0].nodes[0].cpeMatch[1].criteria`.
        path: String,
        message: String,
    },
    /// A line of a text format (EPSS CSV) is malformed.
    #[error("{file}:{line}: field {field}: {message}")]
    Line {
        file: String,
        line: u64,
        field: String,
        message: String,
    },
    /// A file that is none of the documents the importers read (see `sniff`).
    #[error("{file}: {message}")]
    Unrecognised { file: String, message: String },
    /// Stored knowledge that does not encode or decode as the value its kind names.
    #[error("stored {kind} knowledge {key:?}: {message}")]
    Stored {
        kind: KnowledgeKind,
        key: String,
        message: String,
    },
    /// A version string that the named scheme cannot parse.
    #[error("bad {scheme} version {version:?}: {why}")]
    Version {
        scheme: &'static str,
        version: String,
        why: String,
    },
}

impl VulnError {
    pub(crate) fn field(file: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        VulnError::Field {
            file: file.to_owned(),
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn json(file: &str, err: &serde_json::Error) -> Self {
        VulnError::Json {
            file: file.to_owned(),
            line: err.line(),
            column: err.column(),
            message: err.to_string(),
        }
    }

    pub(crate) fn io(file: &str, source: std::io::Error) -> Self {
        VulnError::Io {
            file: file.to_owned(),
            source,
        }
    }
}
