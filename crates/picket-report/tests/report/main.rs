//! Integration tests of picket-report: snapshots of every format, and Nmap's own tools
//! (`xmllint` against nmap.dtd, `ndiff`) reading Picket's XML.

mod alerts;
mod fixture;
mod listings;
mod nmap_tools;
mod ocsf_schema;
mod snapshots;
mod words;
