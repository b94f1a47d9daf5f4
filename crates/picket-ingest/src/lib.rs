//! Picket's connection-event sources: every connection-log format is parsed here into one typed
//! shape, [`ConnEvent`], before anything else in the threat pipeline sees it.
//!
//! Formats ([`Input`]): Zeek `conn.log` (TSV and JSON), Suricata `eve.json` (flow, netflow and
//! alert records, also wrapped by AWS Network Firewall), AWS VPC flow logs (default v2 and custom header formats), `conntrack -E` lines, and
//! the NDJSON shape below. [`Input::detect`] picks the format from the first lines; each can be
//! chosen explicitly.
//!
//! - [`EventReader`] streams any reader (a file, a pipe, standard input) in constant memory.
//! - [`Follower`] follows a growing file from a [`Checkpoint`], across rotation and truncation.
//!
//! A line that cannot be parsed becomes an [`IngestError::Line`] naming file, line and field
//! (`conn.log:17: field id.resp_p: 'abc' is not a port`); it is counted in [`Stats`] and
//! reading goes on with the next line. Records of a type that describes no connection
//! (Suricata `dns`, VPC `NODATA`) are skipped and counted by type in [`Stats`].
//!
//! This crate must never panic on input, never hold a whole input in memory, and never guess a
//! value a source did not give (an unknown outcome stays [`ConnOutcome::Unknown`]). It reads
//! files and standard input only: no network, no writing.
//!
//! # Picket NDJSON
//!
//! One JSON object per line, for sources without a parser of their own:
//!
//! ```json
//! {"ts":"2024-05-01T12:00:00Z","src":"198.51.100.7","src_port":40000,"dst":"10.0.0.5","dst_port":22,"proto":"tcp","outcome":"attempted","bytes_out":60,"bytes_in":0,"packets_out":1,"packets_in":0}
//! ```
//!
//! | field | required | value |
//! |---|---|---|
//! | `ts` | yes | RFC 3339 text with an offset, or epoch seconds (a number, fraction allowed) |
//! | `src`, `dst` | yes | IPv4 or IPv6 address; `src` is the originator |
//! | `proto` | yes | `tcp`, `udp`, `icmp`, another IANA name (`gre`, `sctp`, ...) or the protocol number |
//! | `src_port`, `dst_port` | no | 0-65535; ignored for protocols without ports |
//! | `outcome` | no | `established`, `attempted`, `rejected` or `unknown` (the default) |
//! | `bytes_out`, `bytes_in`, `packets_out`, `packets_in` | no | counts; `out` is originator to responder |
//! | `duration` | no | seconds, fraction allowed |
//! | `uid` | no | the source's own id for the connection |
//!
//! Other fields are ignored, so producers can carry their own.
//!
//! Following uses inode numbers and positioned reads: this crate builds on Unix only.

mod conntrack;
mod error;
mod fields;
mod follow;
mod input;
mod json_scan;
mod lines;
mod ndjson;
#[cfg(test)]
mod quick_tests;
mod reader;
mod screened;
mod suricata;
mod vpc;
mod zeek_json;
mod zeek_tsv;

pub use error::{IngestError, LineProblem};
pub use follow::{Checkpoint, Follower};
pub use input::{DETECT_LINES, Input};
pub use lines::MAX_LINE;
pub use picket_model::{ConnEvent, ConnOutcome, FlowRef, SourceRef, Transport};
pub use reader::{Clock, EventReader, MAX_RECORD_TYPES, Stats};
pub use screened::{Batching, EventHead, Screened};
