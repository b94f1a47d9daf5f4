use thiserror::Error;

/// Why a scan could not start. Outcomes on the network (closed, filtered, down) are data, never
/// errors; these are problems with the request itself.
#[derive(Debug, Error)]
pub enum ScanError {
    #[error("cannot resolve {name:?}: {source}")]
    Resolve {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name:?} resolved to no address")]
    NoAddress { name: String },
    #[error("nothing to scan: every target is excluded")]
    NothingToScan,
}
