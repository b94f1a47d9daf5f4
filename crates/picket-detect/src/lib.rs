//! Picket's rules: the judgement between what was measured and what the user is told.
//!
//! [`exposure`] compares two scan runs of the same targets, picks the ports that need a patient
//! re-check, turns the re-check's probes into a verdict (`closed`, `filtered`, `host-down`,
//! `scan-interrupted`, `flapping`, `still-open`) and builds findings with evidence, remediation
//! and a command that verifies the fix, all as typed data.
//!
//! [`threat`] correlates connection events with threat-intelligence feeds and the inventory of
//! vulnerable applications, and raises deduplicated, scored alerts with the reasons for their
//! severity.
//!
//! No sentence is written here: summaries, remediation steps, verify commands and severity
//! reasons are typed values that `picket-report` puts into words.
//!
//! This crate must never do I/O, read a clock or send a probe: the scan engine probes and the
//! caller passes the results and the current time in. Every rule is a pure function of its
//! inputs, so each verdict can be replayed and tested from stored data alone.

pub mod exposure;
pub mod threat;
