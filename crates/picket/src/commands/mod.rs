//! One module per subcommand. Each takes validated options and a writer, calls the crates, and
//! renders; none parses flags or prints to stdout directly.

pub mod history;
pub mod scan;
