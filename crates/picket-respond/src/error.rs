use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use ipnet::IpNet;

/// Everything that can stop a response. Each variant names what it was about (the network, the
/// set, the command) so that the message alone tells the operator what to do.
#[derive(Debug, thiserror::Error)]
pub enum RespondError {
    /// The block would cover (part of) a network on the allow-list.
    #[error("refusing to block {net}: it overlaps the allowed network {allowed_by}")]
    Allowed { net: IpNet, allowed_by: IpNet },

    /// The network to unblock lies inside a wider blocked element; picket does not punch holes
    /// into a blocked range.
    #[error(
        "cannot unblock {net}: it is blocked as part of {existing} in set {set}; unblock {existing} instead"
    )]
    PartOf {
        net: IpNet,
        existing: String,
        set: String,
    },

    /// A set element that is not a CIDR (a range another tool added) partly overlaps the network.
    #[error(
        "cannot {action} {net}: it partly overlaps the range {existing} in set {set}; unblock {existing} first"
    )]
    Overlap {
        action: &'static str,
        net: IpNet,
        existing: String,
        set: String,
    },

    /// The table exists but one of its sets cannot hold what picket puts there, for example a
    /// set without `flags interval` (as CrowdSec's bouncer creates them), in which range bans
    /// cannot work.
    #[error(
        "set {set} in table inet {table} is `{found}`, expected `{expected}`: delete the table \
         (`nft delete table inet {table}`) and let picket create it again"
    )]
    IncompatibleSet {
        table: String,
        set: String,
        found: String,
        expected: String,
    },

    /// nft ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Nft {
        command: String,
        status: ExitStatus,
        stderr: String,
    },

    /// The nft program (or the wrapper in front of it) is not installed.
    #[error("could not run `{command}`: {program} not found (install nftables)")]
    NotFound { command: String, program: String },

    /// nft could not be started or fed for another reason.
    #[error("could not run `{command}`: {source}")]
    Spawn { command: String, source: io::Error },

    /// `nft -j` printed something this crate does not understand.
    #[error("could not read the output of `{command}` at {path}: {message}")]
    Parse {
        command: String,
        path: String,
        message: String,
    },

    /// Table names end up in nft scripts: only plain identifiers are accepted.
    #[error(
        "invalid nftables table name {name:?}: use 1 to 64 ASCII letters, digits and `_`, starting with a letter"
    )]
    InvalidTable { name: String },

    /// Timeouts beyond the maximum are almost certainly a unit mistake and overflow nft's
    /// parser; below the minimum (`0`) nothing would be blocked.
    #[error("ttl {ttl:?} for {net} is outside {min:?} to {max:?}")]
    TtlOutOfRange {
        net: IpNet,
        ttl: Duration,
        min: Duration,
        max: Duration,
    },
}
