//! Driving the `nft` program: one script per change on stdin, JSON listings for reading.

use std::ffi::OsString;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};

use crate::json::{self, TableState};
use crate::script::{self, COUNTER_V4, COUNTER_V6, SET_V4, SET_V6};
use crate::{AllowList, Change, Outcome, Plan, RespondError};

/// The table picket owns unless told otherwise.
pub const DEFAULT_TABLE: &str = "picket";

/// What nft prints first when the table to list does not exist.
const NO_SUCH_TABLE: &str = "Error: No such file or directory";

/// One blocked network, as [`Nft::list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEntry {
    pub net: IpNet,
    /// The timeout it was added with; `None` for a block without one.
    pub timeout: Option<Duration>,
    /// Time left, in whole seconds as nft reports it; `None` for a block without timeout.
    pub expires_in: Option<Duration>,
}

/// Packets and bytes dropped from blocked sources since the table was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    pub v4_packets: u64,
    pub v4_bytes: u64,
    pub v6_packets: u64,
    pub v6_bytes: u64,
}

/// Blocks sources with nftables: table `inet picket` holds the sets `blocked_v4` and
/// `blocked_v6` (`flags interval, timeout`, so that a CIDR is one element and a block can
/// expire by itself) and chains at `input` and `forward` (priority `filter - 10`) that drop
/// and count packets from them. IPv6 neighbour discovery is let through, as ARP is for IPv4.
///
/// ```no_run
/// use std::time::Duration;
/// use picket_respond::{AllowList, Change, Nft};
///
/// # fn main() -> Result<(), picket_respond::RespondError> {
/// let home = ["10.1.0.0/16".parse().unwrap()];
/// let nft = Nft::new(AllowList::new(&home, &[]));
/// let ban = Change::Block { net: "192.0.2.0/24".parse().unwrap(), ttl: Some(Duration::from_secs(86_400)) };
/// let plan = nft.plan(&ban)?; // reads the table, changes nothing
/// print!("{}", plan.script()); // what --dry-run shows
/// nft.apply(&plan)?;
/// println!("{}", plan.outcome()); // "blocked 192.0.2.0/24"
/// # Ok(()) }
/// ```
///
/// Every change reads the table (`nft -j list table`), decides against it (see [`Outcome`])
/// and applies one script with `nft -f -`, which nft runs as one transaction. **Overlaps**:
/// the kernel refuses an interval element that overlaps another ("interval overlaps with an
/// existing one"). `auto-merge` on the set avoids that error but, as tried on Linux 6.18 with
/// nft 1.0.6, merges `10.0.0.5 timeout 1h`, `10.0.0.0/24 timeout 2h` and `10.0.1.0/24 timeout
/// 3h` into one `10.0.0.0/23 timeout 3h`: the timeouts become one, and none of the three can
/// be unblocked any more ("element does not exist"). So picket keeps elements apart and
/// decides itself:
/// - blocking a network that is blocked already restarts its timeout with the new ttl;
/// - blocking a network inside a blocked one changes nothing ([`Outcome::AlreadyCovered`]);
/// - blocking a network around blocked ones replaces them ([`Outcome::Replaced`]);
/// - unblocking removes every element inside the network, and refuses to unblock part of a
///   wider element ([`RespondError::PartOf`]);
/// - a range another tool added that partly overlaps is refused ([`RespondError::Overlap`]).
///
/// Every block is checked against the [`AllowList`] first: an `Nft` cannot block loopback or a
/// network on its allow-list.
#[derive(Debug, Clone)]
pub struct Nft {
    /// Program and arguments run in front of nft (`ip netns exec NS`), if any.
    wrapper: Vec<OsString>,
    program: PathBuf,
    table: String,
    allow: AllowList,
}

impl Nft {
    /// `nft` from `PATH`, table `picket`.
    pub fn new(allow: AllowList) -> Self {
        Nft {
            wrapper: Vec::new(),
            program: PathBuf::from("nft"),
            table: DEFAULT_TABLE.to_owned(),
            allow,
        }
    }

    /// Runs this program instead of `nft`.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// Runs nft inside network namespace `ns` (`ip netns exec NS nft ...`).
    pub fn in_namespace(mut self, ns: &str) -> Self {
        self.wrapper = ["ip", "netns", "exec", ns].map(OsString::from).to_vec();
        self
    }

    /// Uses table `inet NAME`. The name goes into scripts, so only identifiers are accepted.
    ///
    /// ```
    /// use picket_respond::{AllowList, Nft};
    /// assert!(Nft::new(AllowList::new(&[], &[])).with_table("picket_test").is_ok());
    /// assert!(Nft::new(AllowList::new(&[], &[])).with_table("x; flush ruleset").is_err());
    /// ```
    pub fn with_table(mut self, name: &str) -> Result<Self, RespondError> {
        let mut chars = name.chars();
        let valid = name.len() <= 64
            && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(RespondError::InvalidTable {
                name: name.to_owned(),
            });
        }
        self.table = name.to_owned();
        Ok(self)
    }

    /// The table's name (in family `inet`).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The networks this responder never blocks.
    pub fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    /// Reads the table and decides what `change` would do, without changing anything: the
    /// script is what [`Nft::apply`] runs and what a `--dry-run` prints.
    pub fn plan(&self, change: &Change) -> Result<Plan, RespondError> {
        script::guard(&self.allow, change)?;
        script::plan(&self.table, &self.allow, change, &self.read()?)
    }

    /// Runs a plan's script as one transaction (nothing, if it is empty).
    pub fn apply(&self, plan: &Plan) -> Result<(), RespondError> {
        if plan.script().is_empty() {
            return Ok(());
        }
        self.run(&["-f", "-"], Some(plan.script())).map(drop)
    }

    /// Creates the table, sets, counters and rules if missing, idempotently (blocks and counts
    /// survive).
    pub fn ensure(&self) -> Result<(), RespondError> {
        self.apply(&self.plan(&Change::Ensure)?)
    }

    /// Blocks `net` for `ttl` (`None`: until unblocked). Creates the table if needed.
    pub fn block(&self, net: IpNet, ttl: Option<Duration>) -> Result<Outcome, RespondError> {
        self.change(&Change::Block { net, ttl })
    }

    /// Unblocks `net` and everything blocked inside it. `Ok(false)` if nothing was.
    pub fn unblock(&self, net: IpNet) -> Result<bool, RespondError> {
        let outcome = self.change(&Change::Unblock { net })?;
        Ok(matches!(outcome, Outcome::Removed { .. }))
    }

    /// Plans and applies `change`. The table may change between reading and applying (an
    /// element expires, another process blocks something), which fails the script: then the
    /// table is read again and the new plan applied, once, if it differs.
    fn change(&self, change: &Change) -> Result<Outcome, RespondError> {
        let plan = self.plan(change)?;
        match self.apply(&plan) {
            Ok(()) => Ok(plan.into_outcome()),
            Err(first @ RespondError::Nft { .. }) => {
                let again = self.plan(change)?;
                if again == plan {
                    return Err(first);
                }
                self.apply(&again)?;
                Ok(again.into_outcome())
            }
            Err(e) => Err(e),
        }
    }

    /// Everything blocked, IPv4 first, in nft's order. A range element that another tool added
    /// shows as the CIDRs that make it up. Empty if the table does not exist.
    pub fn list(&self) -> Result<Vec<BlockEntry>, RespondError> {
        let state = self.read()?;
        let mut entries = Vec::new();
        for name in [SET_V4, SET_V6] {
            let elements = state
                .sets
                .iter()
                .filter(|s| s.name == name)
                .flat_map(|s| &s.elements);
            for e in elements {
                let entry = |net| BlockEntry {
                    net,
                    timeout: e.timeout,
                    expires_in: e.expires_in,
                };
                match e.net {
                    Some(net) => entries.push(entry(net)),
                    None => entries.extend(cidrs(e.first, e.last).into_iter().map(entry)),
                }
            }
        }
        Ok(entries)
    }

    /// The drop counters (zero if the table does not exist).
    pub fn dropped(&self) -> Result<Dropped, RespondError> {
        let state = self.read()?;
        let counter = |name: &str| {
            state
                .counters
                .iter()
                .find(|c| c.name == name)
                .map_or((0, 0), |c| (c.packets, c.bytes))
        };
        let ((v4_packets, v4_bytes), (v6_packets, v6_bytes)) =
            (counter(COUNTER_V4), counter(COUNTER_V6));
        Ok(Dropped {
            v4_packets,
            v4_bytes,
            v6_packets,
            v6_bytes,
        })
    }

    fn read(&self) -> Result<TableState, RespondError> {
        let args = ["-j", "list", "table", "inet", self.table.as_str()];
        match self.run(&args, None) {
            Ok(out) => json::parse_table(&out, &self.describe(&args)),
            Err(RespondError::Nft { stderr, .. }) if stderr.starts_with(NO_SUCH_TABLE) => {
                Ok(TableState::default())
            }
            Err(e) => Err(e),
        }
    }

    fn describe(&self, args: &[&str]) -> String {
        let mut words: Vec<String> = self
            .wrapper
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        words.push(self.program.to_string_lossy().into_owned());
        words.extend(args.iter().map(|a| (*a).to_owned()));
        words.join(" ")
    }

    /// Runs nft with `args`, feeding it `stdin`; returns its stdout.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, RespondError> {
        let command = self.describe(args);
        let mut cmd = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut cmd = Command::new(first);
                cmd.args(rest).arg(&self.program);
                cmd
            }
            None => Command::new(&self.program),
        };
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawn_err = |source: io::Error| {
            if source.kind() == io::ErrorKind::NotFound {
                let program = cmd_program(&self.wrapper, &self.program);
                RespondError::NotFound {
                    command: command.clone(),
                    program,
                }
            } else {
                RespondError::Spawn {
                    command: command.clone(),
                    source,
                }
            }
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // Dropping `pipe` closes nft's input, which starts the transaction.
            pipe.write_all(input.as_bytes())
                .map_err(|source| RespondError::Spawn {
                    command: command.clone(),
                    source,
                })?;
        }
        let output = child
            .wait_with_output()
            .map_err(|source| RespondError::Spawn {
                command: command.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(RespondError::Nft {
                command,
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        String::from_utf8(output.stdout).map_err(|e| RespondError::Parse {
            command,
            path: format!("byte {}", e.utf8_error().valid_up_to()),
            message: "output is not UTF-8".to_owned(),
        })
    }
}

/// The program that was not found: the wrapper's, or nft itself.
fn cmd_program(wrapper: &[OsString], program: &std::path::Path) -> String {
    wrapper
        .first()
        .map_or(program.as_os_str(), OsString::as_os_str)
        .to_string_lossy()
        .into_owned()
}

/// The fewest CIDRs that exactly cover `first..=last` (same family, `first <= last`).
fn cidrs(first: IpAddr, last: IpAddr) -> Vec<IpNet> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) => Ipv6Subnets::new(a, b, 0).map(IpNet::V6).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_list_as_their_cidrs() {
        let shown: Vec<String> = cidrs("10.0.0.1".parse().unwrap(), "10.0.0.9".parse().unwrap())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/30", "10.0.0.8/31"]
        );
        assert_eq!(
            cidrs("::".parse().unwrap(), "::ffff".parse().unwrap()).len(),
            1
        );
    }

    #[test]
    fn a_missing_program_is_named() {
        let nft = Nft::new(AllowList::new(&[], &[])).with_program("/nonexistent/nft");
        let err = nft.list().unwrap_err();
        assert!(
            matches!(&err, RespondError::NotFound { program, .. } if program == "/nonexistent/nft"),
            "{err}"
        );
    }

    #[test]
    fn commands_are_described_with_their_wrapper() {
        let nft = Nft::new(AllowList::new(&[], &[])).in_namespace("lab-s");
        assert_eq!(
            nft.describe(&["-j", "list", "table", "inet", "picket"]),
            "ip netns exec lab-s nft -j list table inet picket"
        );
    }

    #[test]
    fn table_names_must_be_identifiers() {
        let nft = || Nft::new(AllowList::new(&[], &[]));
        for bad in ["", "1abc", "a-b", "a b", "a}", &"a".repeat(65)] {
            assert!(
                matches!(
                    nft().with_table(bad),
                    Err(RespondError::InvalidTable { .. })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(nft().with_table("picket_2").unwrap().table(), "picket_2");
        assert_eq!(nft().table(), DEFAULT_TABLE);
    }
}
