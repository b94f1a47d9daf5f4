//! One module per subcommand. Each takes validated options and a writer, calls the crates, and
//! renders; none parses flags or prints results outside the writer (diagnostics go to stderr).

pub mod alerts;
pub mod detect;
pub mod history;
pub mod intel;
pub mod inventory;
pub mod knowledge;
pub mod respond;
pub mod scan;
pub mod vuln;
