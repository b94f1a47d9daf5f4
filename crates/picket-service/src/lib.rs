//! Service and version detection: which service listens on an open port, which product and
//! version it is, and which distro package it came from when its banner says so.
//!
//! [`detect`] connects to a port, waits for services that speak first (SSH, FTP, SMTP, IMAP,
//! POP3, MySQL) and sends probes that make quiet ones talk (HTTP `GET`/`HEAD`, Redis
//! `INFO server`, Memcached `version`, PostgreSQL's SSLRequest and startup, a TLS ClientHello).
//! [`Signatures`] (readable TOML files, Picket's own, and the user's) turn the answers into a
//! [`picket_model::ServiceInfo`] with a CPE 2.3 name. [`distro_package`] and
//! [`upstream_version`] say what a version means: an upstream number alone never proves a
//! vulnerability, because distributions backport fixes (see the `package` module docs).
//!
//! This crate must never send anything to a port beyond its fixed, harmless probes (no logins,
//! no exploits, no writes), never wait on a service longer than its settings allow, never read
//! more than `max_read` bytes of one answer, and never panic on what a service sends. It never
//! reads Nmap's `nmap-service-probes` (NPSL: a program that reads it is a derivative work).

mod detect;
mod error;
mod escape;
mod package;
mod probe;
mod signature;

pub use detect::{ConnectPacer, DetectSettings, detect, detect_many};
pub use error::ServiceError;
pub use escape::{RAW_LIMIT, escape, unescape};
pub use package::{debian_upstream, distro_package, upstream_version};
pub use probe::Probe;
pub use signature::Signatures;
