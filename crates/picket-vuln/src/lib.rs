//! Picket's CVE knowledge: which application versions are vulnerable, and how much it matters.
//!
//! Importers turn NVD CVE JSON 2.0, OSV, the CISA KEV catalog, EPSS scores and scanner reports
//! (Trivy, Grype, CycloneDX with vulnerabilities) into the model's `Vulnerability` and
//! `VulnMatch`. Versions are compared per ecosystem (semver, Debian, RPM, and a generic dotted
//! fallback for upstream versions such as OpenSSH's `9.2p1`), CPE 2.3 criteria are matched with
//! their version ranges and NVD configuration logic, and `VulnDb` joins it all: give it an
//! `Application`, get back the vulnerabilities it has with CVSS, KEV and EPSS attached.
//! `knowledge` stores it all keyed by what a match looks up, so that a command loads only the
//! entries of the applications it matches.
//!
//! This crate must never touch the network (feeds are read from files or readers the caller
//! opens), and its parsers must never panic on untrusted input: a malformed record is an error
//! that names the file, the line or JSON path, and the field.

mod cpe_match;
mod db;
mod epss;
mod error;
mod json;
mod kev;
pub mod knowledge;
mod nvd;
mod osv;
mod report;
mod rpm;
mod sniff;
mod version;

pub use cpe_match::{Bound, CpeCriterion, CriterionResult, VersionUpdate};
pub use db::VulnDb;
pub use epss::{EpssFile, read_epss};
pub use error::VulnError;
pub use json::Import;
pub use kev::{KevCatalog, KevRecord, read_kev};
pub use nvd::{Configuration, Node, NvdCve, Operator, read_nvd};
pub use osv::{OsvAffected, OsvEvent, OsvRange, OsvRangeKind, OsvRecord, read_osv};
pub use report::{ReportFormat, ScannerReport, read_report};
pub use rpm::{rpm_evr_cmp, rpmvercmp};
pub use sniff::{Document, sniff};
pub use version::{GenericVersion, VersionScheme, compare_versions};
