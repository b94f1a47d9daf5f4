use std::io;
use std::path::PathBuf;

use picket_lab::LabError;

/// What can stop a benchmark run. What a scanner reports (ports missed, timeouts) is never an
/// error: it is what the benchmark measures.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{tool} output is not valid JSON: {source}")]
    Json {
        tool: &'static str,
        source: serde_json::Error,
    },

    #[error("{tool} output has no usable field `{field}`")]
    MissingField {
        tool: &'static str,
        field: &'static str,
    },

    #[error("{tool} XML output is malformed near byte {position}: {source}")]
    Xml {
        tool: &'static str,
        position: u64,
        source: quick_xml::Error,
    },

    #[error("{tool} XML output has a bad attribute near byte {position}: {source}")]
    XmlAttribute {
        tool: &'static str,
        position: u64,
        source: quick_xml::events::attributes::AttrError,
    },

    #[error("{tool} reported port {value:?} (line {line}), which is not a TCP port number")]
    BadPort {
        tool: &'static str,
        line: usize,
        value: String,
    },

    #[error("{tool} reported host {value:?} (line {line}), which is not an IP address")]
    BadAddress {
        tool: &'static str,
        line: usize,
        value: String,
    },

    #[error("could not run `{command}`: {source}")]
    Spawn { command: String, source: io::Error },

    #[error("could not wait for `{command}`: {source}")]
    Wait { command: String, source: io::Error },

    #[error("`{command}` gave unusable output: {detail}")]
    IpOutput { command: String, detail: String },

    #[error("could not {action} {path}: {source}")]
    File {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error(transparent)]
    Lab(#[from] LabError),
}
