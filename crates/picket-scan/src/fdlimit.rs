//! The file-descriptor ceiling: every probe in flight holds one socket.

use std::sync::OnceLock;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors kept free for everything that is not a probe (the store, stdio, the runtime).
const RESERVED: u64 = 128;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (once per process) and returns how many
/// probes may be in flight at once.
pub fn probe_ceiling() -> usize {
    static CEILING: OnceLock<usize> = OnceLock::new();
    *CEILING.get_or_init(|| {
        let soft = match getrlimit(Resource::RLIMIT_NOFILE) {
            Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
            {
                Ok(()) => hard,
                Err(e) => {
                    tracing::debug!(error = %e, "could not raise the open-file limit");
                    soft
                }
            },
            Ok((soft, _)) => soft,
            Err(_) => 1024,
        };
        usize::try_from(soft.saturating_sub(RESERVED).max(64)).unwrap_or(usize::MAX)
    })
}
