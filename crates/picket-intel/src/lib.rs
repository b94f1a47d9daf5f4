//! Threat-intelligence feeds for Picket's threat pipeline: parse feed files into typed
//! [`Indicator`]s, leave out bogon and private space, and build an immutable table that answers,
//! for any address, every indicator that covers it, from every feed.
//!
//! Formats: FireHOL netsets/ipsets (header kept as [`FeedMeta`]), Spamhaus DROP text and JSON,
//! IPsum, plain address lists, Tor `exit-addresses`, STIX 2.1 bundles, MISP CSV and JSON, Zeek
//! intel files; [`FeedFormat::detect`] tells them apart.
//!
//! This crate must never panic on feed content (feeds are untrusted downloads: a bad entry is a
//! [`LineError`] that is counted and skipped), never fetch anything (the caller hands it files or
//! bytes), and never answer a lookup with only the longest matching prefix: an alert's severity
//! depends on how many feeds list the address.

mod bogon;
mod error;
mod lines;
mod load;
mod parse;
mod table;

pub use bogon::{BogonCheck, bogon_ranges, check as check_bogon};
pub use error::{IntelError, LineError};
pub use lines::{Origin, ParsedFeed};
pub use load::{
    LoadOptions, LoadReport, LoadedFeed, WIDEST_IPV4_PREFIX, WIDEST_IPV6_PREFIX, clean, load_bytes,
    load_file,
};
pub use parse::parse;
pub use picket_model::{FeedFormat, FeedMeta, Indicator};
/// For the fuzz target only (`cargo fuzz` builds with `--cfg fuzzing`).
#[cfg(fuzzing)]
pub use table::decode_unchecked_body;
pub use table::{IndicatorRef, IntelTable, Matches, TableBuilder, TableStats};
