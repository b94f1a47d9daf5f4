//! The scan benchmark behind `bench/scan.sh`: Picket and its peers (Nmap, masscan, RustScan)
//! scan hosts in the network-namespace lab (`picket-lab`) under each [`Scenario`]: all 65,535
//! TCP ports of one target behind a clean link, random loss, a SYN-rate-limiting IPS, banning
//! IPSes, firewalled ranges with rate-limited ICMP rejects, or a default-drop firewall; or
//! several hosts at once (a sparse /26 segment, a group of differently firewalled targets).
//! Each run is timed and counted against the (address, port) pairs that really listen and are
//! not filtered.
//!
//! This crate measures; it is not a test and is not run by the test suite (its unit tests cover
//! only the parsing and rendering). It must never send traffic outside the lab's namespaces:
//! every tool runs inside the lab's scanner namespace, whose only routes lead to the lab's
//! targets, and every namespace is removed when the [`picket_lab::Lab`] of a run drops. It must
//! never leave a scanner running: each child is killed on timeout, on Ctrl-C and when the
//! benchmark itself dies (`PR_SET_PDEATHSIG`).

mod error;
pub mod machine;
pub mod parse;
pub mod ports;
pub mod report;
pub mod run;
pub mod scenario;
pub mod tool;

pub use error::BenchError;
pub use parse::Report;
pub use report::{Outcome, Row};
pub use scenario::Scenario;
pub use tool::Tool;
