//! One module per subcommand. Each takes validated options and a writer, calls picket-app's
//! workflows (or the store for plain listings), and renders; none parses flags itself or prints
//! results outside the writer (diagnostics go to stderr).

pub mod alerts;
pub mod detect;
pub mod history;
pub mod intel;
pub mod inventory;
pub mod queue;
pub mod respond;
pub mod scan;
pub mod serve;
pub mod vuln;
