//! `picket serve`: Picket as one long-running process.
pub mod config;
pub mod schedule;
