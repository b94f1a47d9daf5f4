//! Deciding what a change does to the table as it is, and writing that as one nft script.
//!
//! Pure: takes the table state that [`Nft`](crate::Nft) read, returns the script it will feed to
//! `nft -f -`. What a `--dry-run` prints is exactly this text.

use std::fmt::{self, Write};
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use picket_model::canonical_net;

use crate::json::{Element, SetState, TableState};
use crate::{AllowList, RespondError};

/// The set of blocked IPv4 sources.
pub const SET_V4: &str = "blocked_v4";
/// The set of blocked IPv6 sources.
pub const SET_V6: &str = "blocked_v6";
/// The named counter of packets dropped from [`SET_V4`] (input and forward together). Named
/// counters outlive the rules that use them, so [`Nft::ensure`](crate::Nft::ensure) can
/// rewrite the rules without resetting the counts.
pub const COUNTER_V4: &str = "dropped_v4";
/// The named counter of packets dropped from [`SET_V6`].
pub const COUNTER_V6: &str = "dropped_v6";

/// Longer timeouts are refused: ten years is "for ever" already, and beyond it lie unit
/// mistakes and overflows in nft's duration parser.
pub const MAX_TTL: Duration = Duration::from_secs(3650 * 86_400);

/// Shorter timeouts are refused: nft counts them in whole seconds, and `0` is no block at all.
pub const MIN_TTL: Duration = Duration::from_secs(1);

/// The chains picket hooks, each at `priority filter - 10`: before the usual `filter` chains,
/// so that a blocked source is dropped even where another table would accept it.
const CHAINS: [&str; 2] = ["input", "forward"];

/// What to do to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Create the table, sets, counters and rules if missing, and put the rules back as picket
    /// writes them. Elements and counts are kept.
    Ensure,
    /// Drop packets from `net` for `ttl` (`None`: until unblocked).
    Block { net: IpNet, ttl: Option<Duration> },
    /// Stop dropping packets from `net`.
    Unblock { net: IpNet },
}

/// What a change did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The table is in shape.
    Ensured,
    /// `net` was not blocked; now it is.
    Added { net: IpNet },
    /// `net` was blocked already; its timeout restarts with the new ttl.
    Refreshed { net: IpNet },
    /// `net` is blocked now, in place of the narrower elements it covers (their own timeouts
    /// are gone: the wider block's ttl governs).
    Replaced { net: IpNet, covered: Vec<String> },
    /// `net` lies inside the blocked element `by`, which stays as it is: nothing changes.
    AlreadyCovered {
        net: IpNet,
        by: String,
        expires_in: Option<Duration>,
    },
    /// These elements, all inside `net`, were removed.
    Removed { net: IpNet, removed: Vec<String> },
    /// Nothing inside `net` was blocked.
    NotBlocked { net: IpNet },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ensured => write!(f, "table ready"),
            Outcome::Added { net } => write!(f, "blocked {net}"),
            Outcome::Refreshed { net } => write!(f, "blocked {net} again (timeout restarted)"),
            Outcome::Replaced { net, covered } => {
                write!(f, "blocked {net}, replacing {}", covered.join(", "))
            }
            Outcome::AlreadyCovered {
                net,
                by,
                expires_in,
            } => {
                write!(f, "{net} is already blocked as part of {by}")?;
                match expires_in {
                    Some(left) => write!(f, " (expires in {})", nft_duration(*left)),
                    None => Ok(()),
                }
            }
            Outcome::Removed { net, removed } => {
                write!(f, "unblocked {net} (removed {})", removed.join(", "))
            }
            Outcome::NotBlocked { net } => write!(f, "{net} was not blocked"),
        }
    }
}

impl Outcome {
    /// What a dry run would do, as a sentence in the conditional (`would block 192.0.2.0/24`).
    pub fn would(&self) -> Would<'_> {
        Would(self)
    }
}

/// An [`Outcome`] written as what a dry run would do.
#[derive(Debug, Clone, Copy)]
pub struct Would<'a>(&'a Outcome);

impl fmt::Display for Would<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Outcome::Ensured => write!(f, "would set up the table"),
            Outcome::Added { net } => write!(f, "would block {net}"),
            Outcome::Refreshed { net } => {
                write!(f, "would block {net} again (timeout restarted)")
            }
            Outcome::Replaced { net, covered } => {
                write!(f, "would block {net}, replacing {}", covered.join(", "))
            }
            Outcome::AlreadyCovered { .. } | Outcome::NotBlocked { .. } => {
                write!(f, "would change nothing: {}", self.0)
            }
            Outcome::Removed { net, removed } => {
                write!(f, "would unblock {net} (remove {})", removed.join(", "))
            }
        }
    }
}

/// The script for a change, and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    script: String,
    outcome: Outcome,
}

impl Plan {
    /// The nft script, one transaction (empty when there is nothing to do).
    pub fn script(&self) -> &str {
        &self.script
    }

    /// What applying the script does.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    pub(crate) fn into_outcome(self) -> Outcome {
        self.outcome
    }
}

/// Refuses a block the allow-list forbids or whose ttl is out of range. It needs no table state,
/// so a refused block costs not even a read of the ruleset.
pub(crate) fn guard(allow: &AllowList, change: &Change) -> Result<(), RespondError> {
    let Change::Block { net, ttl } = *change else {
        return Ok(());
    };
    let net = canonical_net(net);
    allow.check(&net)?;
    match ttl.filter(|ttl| !(MIN_TTL..=MAX_TTL).contains(ttl)) {
        Some(ttl) => Err(RespondError::TtlOutOfRange {
            net,
            ttl,
            min: MIN_TTL,
            max: MAX_TTL,
        }),
        None => Ok(()),
    }
}

/// Decides what `change` does to a table named `table` that looks like `state`, behind
/// [`guard`].
pub(crate) fn plan(
    table: &str,
    allow: &AllowList,
    change: &Change,
    state: &TableState,
) -> Result<Plan, RespondError> {
    guard(allow, change)?;
    check_sets(table, state)?;
    match *change {
        Change::Ensure => Ok(Plan {
            script: ensure(table),
            outcome: Outcome::Ensured,
        }),
        Change::Block { net, ttl } => plan_block(table, net, ttl, state),
        Change::Unblock { net } => plan_unblock(table, net, state),
    }
}

fn plan_block(
    table: &str,
    net: IpNet,
    ttl: Option<Duration>,
    state: &TableState,
) -> Result<Plan, RespondError> {
    let net = canonical_net(net);
    let set = set_for(&net);
    let (first, last) = (net.network(), net.broadcast());
    let hits = overlapping(state, set, first, last);

    // Every block also carries the table definition, so that a block can never land in a set
    // that no rule reads, and the transaction either does all of it or nothing.
    let mut script = ensure(table);
    let outcome = if let Some(same) = hits.iter().find(|e| e.net == Some(net)) {
        remove(&mut script, table, set, same);
        Outcome::Refreshed { net }
    } else if let Some(wider) = hits.iter().find(|e| e.contains(first, last)) {
        return Ok(Plan {
            script,
            outcome: Outcome::AlreadyCovered {
                net,
                by: wider.nft_text(),
                expires_in: wider.expires_in,
            },
        });
    } else if let Some(partial) = hits.iter().find(|e| !inside(e, first, last)) {
        // Only a range (never a CIDR) can overlap a CIDR without one holding the other.
        return Err(RespondError::Overlap {
            action: "block",
            net,
            existing: partial.nft_text(),
            set: set.to_owned(),
        });
    } else {
        for covered in &hits {
            remove(&mut script, table, set, covered);
        }
        if hits.is_empty() {
            Outcome::Added { net }
        } else {
            Outcome::Replaced {
                net,
                covered: hits.iter().map(|e| e.nft_text()).collect(),
            }
        }
    };
    line(
        &mut script,
        format_args!(
            "add element inet {table} {set} {{ {}{} }}",
            net_text(&net),
            ttl.map(|t| format!(" timeout {}", nft_duration(t)))
                .unwrap_or_default()
        ),
    );
    Ok(Plan { script, outcome })
}

fn plan_unblock(table: &str, net: IpNet, state: &TableState) -> Result<Plan, RespondError> {
    let net = canonical_net(net);
    let set = set_for(&net);
    let (first, last) = (net.network(), net.broadcast());
    let hits = overlapping(state, set, first, last);
    if hits.is_empty() {
        return Ok(Plan {
            script: String::new(),
            outcome: Outcome::NotBlocked { net },
        });
    }
    for e in &hits {
        if inside(e, first, last) {
            continue;
        }
        let existing = e.nft_text();
        let set = set.to_owned();
        return Err(if e.contains(first, last) {
            RespondError::PartOf { net, existing, set }
        } else {
            RespondError::Overlap {
                action: "unblock",
                net,
                existing,
                set,
            }
        });
    }
    let mut script = String::new();
    for e in &hits {
        remove(&mut script, table, set, e);
    }
    Ok(Plan {
        script,
        outcome: Outcome::Removed {
            net,
            removed: hits.iter().map(|e| e.nft_text()).collect(),
        },
    })
}

/// The elements of `set` that share an address with `first..=last`.
fn overlapping<'a>(
    state: &'a TableState,
    set: &str,
    first: IpAddr,
    last: IpAddr,
) -> Vec<&'a Element> {
    state
        .sets
        .iter()
        .filter(|s| s.name == set)
        .flat_map(|s| &s.elements)
        .filter(|e| e.overlaps(first, last))
        .collect()
}

fn inside(e: &Element, first: IpAddr, last: IpAddr) -> bool {
    first <= e.first && e.last <= last
}

/// Removes `e`. Also how a block restarts an element's timeout: delete it, then add it again.
/// No `add` goes before the `delete` (the usual way to delete what may be gone): in one
/// transaction, this kernel then refuses a wider element added after it as overlapping. An
/// element that expired since the table was read makes the script fail instead, and
/// [`Nft`](crate::Nft) plans again.
fn remove(script: &mut String, table: &str, set: &str, e: &Element) {
    let text = e.nft_text();
    line(
        script,
        format_args!("delete element inet {table} {set} {{ {text} }}"),
    );
}

/// Refuses sets picket would otherwise fail on, with a message that says why: above all a
/// set without `flags interval` (CrowdSec's bouncer creates them so), which cannot hold ranges.
fn check_sets(table: &str, state: &TableState) -> Result<(), RespondError> {
    for (set, kind) in [(SET_V4, "ipv4_addr"), (SET_V6, "ipv6_addr")] {
        let Some(found) = state.sets.iter().find(|s| s.name == set) else {
            continue;
        };
        let mut flags = found.flags.clone();
        flags.sort();
        if found.kind != kind || flags != ["interval", "timeout"] {
            return Err(RespondError::IncompatibleSet {
                table: table.to_owned(),
                set: set.to_owned(),
                found: describe_set(found),
                expected: format!("type {kind}; flags interval, timeout"),
            });
        }
    }
    Ok(())
}

fn describe_set(set: &SetState) -> String {
    if set.flags.is_empty() {
        format!("type {}; no flags", set.kind)
    } else {
        format!("type {}; flags {}", set.kind, set.flags.join(", "))
    }
}

/// The table as picket wants it. Declaring a table, set, counter or base chain that exists
/// with the same properties is a no-op, and so keeps the elements and counts; the rules are
/// flushed and written again so that running this twice never doubles them.
pub(crate) fn ensure(table: &str) -> String {
    let mut s = String::new();
    line(&mut s, format_args!("table inet {table} {{"));
    for counter in [COUNTER_V4, COUNTER_V6] {
        line(&mut s, format_args!("\tcounter {counter} {{\n\t}}"));
    }
    for (set, kind) in [(SET_V4, "ipv4_addr"), (SET_V6, "ipv6_addr")] {
        line(
            &mut s,
            format_args!("\tset {set} {{\n\t\ttype {kind}\n\t\tflags interval, timeout\n\t}}"),
        );
    }
    for chain in CHAINS {
        line(
            &mut s,
            format_args!(
                "\tchain {chain} {{\n\t\ttype filter hook {chain} priority filter - 10; policy accept;\n\t}}"
            ),
        );
    }
    line(&mut s, format_args!("}}"));
    for chain in CHAINS {
        line(&mut s, format_args!("flush chain inet {table} {chain}"));
        if chain == "input" {
            // Neighbour discovery is IPv6's ARP, which no inet table sees for IPv4: left
            // alone, a blocked on-link neighbour stays resolvable, and an unblocked one can
            // connect at once instead of after its failed neighbour entry is retried.
            line(
                &mut s,
                format_args!(
                    "add rule inet {table} {chain} icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept"
                ),
            );
        }
        for (family, set, counter) in [("ip", SET_V4, COUNTER_V4), ("ip6", SET_V6, COUNTER_V6)] {
            line(
                &mut s,
                format_args!(
                    "add rule inet {table} {chain} {family} saddr @{set} counter name \"{counter}\" drop"
                ),
            );
        }
    }
    s
}

fn line(out: &mut String, args: fmt::Arguments<'_>) {
    // Writing to a String cannot fail.
    let _ = out.write_fmt(args);
    out.push('\n');
}

/// The set a network belongs in.
pub(crate) fn set_for(net: &IpNet) -> &'static str {
    match net {
        IpNet::V4(_) => SET_V4,
        IpNet::V6(_) => SET_V6,
    }
}

/// A host as its bare address (how nft lists it), anything wider as a CIDR.
pub(crate) fn net_text(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// nft's duration syntax, `1d2h3m4s5ms`, rounded up to whole milliseconds (at least 1 ms):
/// nft counts in milliseconds, and a block must not end before it was asked to.
pub(crate) fn nft_duration(d: Duration) -> String {
    let ms = d.as_nanos().div_ceil(1_000_000).max(1);
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        let n = rest / size;
        rest %= size;
        if n > 0 {
            let _ = write!(out, "{n}{unit}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "picket";

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn allow() -> AllowList {
        AllowList::new(&[net("10.1.0.0/16")], &[])
    }

    fn elem(text: &str, expires: Option<u64>) -> Element {
        let (first, last, n) = match text.split_once('-') {
            Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap(), None),
            None => {
                let n = net(text);
                (n.network(), n.broadcast(), Some(n))
            }
        };
        Element {
            first,
            last,
            net: n,
            timeout: expires.map(Duration::from_secs),
            expires_in: expires.map(Duration::from_secs),
        }
    }

    fn state(v4: &[&str], v6: &[&str]) -> TableState {
        let set = |name: &str, kind: &str, elems: &[&str]| SetState {
            name: name.to_owned(),
            kind: kind.to_owned(),
            flags: vec!["interval".to_owned(), "timeout".to_owned()],
            elements: elems.iter().map(|e| elem(e, Some(60))).collect(),
        };
        TableState {
            sets: vec![set(SET_V4, "ipv4_addr", v4), set(SET_V6, "ipv6_addr", v6)],
            counters: Vec::new(),
        }
    }

    fn block(net_s: &str, ttl: Option<Duration>, st: &TableState) -> Result<Plan, RespondError> {
        plan(
            T,
            &allow(),
            &Change::Block {
                net: net(net_s),
                ttl,
            },
            st,
        )
    }

    fn unblock(net_s: &str, st: &TableState) -> Result<Plan, RespondError> {
        plan(T, &allow(), &Change::Unblock { net: net(net_s) }, st)
    }

    /// The element lines of a block script (what follows the table definition).
    fn element_lines(plan: &Plan) -> Vec<&str> {
        plan.script()
            .lines()
            .filter(|l| l.contains(" element "))
            .collect()
    }

    #[test]
    fn ensure_script() {
        insta::assert_snapshot!(ensure(T));
    }

    #[test]
    fn block_of_a_new_address_with_ttl() {
        let plan = block(
            "192.0.2.7/32",
            Some(Duration::from_secs(86_400)),
            &TableState::default(),
        )
        .unwrap();
        assert_eq!(
            plan.outcome(),
            &Outcome::Added {
                net: net("192.0.2.7/32")
            }
        );
        insta::assert_snapshot!(plan.script());
    }

    #[test]
    fn block_of_a_network_without_ttl_and_v6() {
        let plan = block("2001:db8:5::/48", None, &TableState::default()).unwrap();
        assert_eq!(
            element_lines(&plan),
            ["add element inet picket blocked_v6 { 2001:db8:5::/48 }"]
        );
        let plan = block("192.0.2.77/24", None, &TableState::default()).unwrap();
        assert_eq!(
            element_lines(&plan),
            ["add element inet picket blocked_v4 { 192.0.2.0/24 }"],
            "host bits are dropped"
        );
    }

    #[test]
    fn mapped_addresses_go_to_the_v4_set() {
        let plan = block("::ffff:192.0.2.7/128", None, &TableState::default()).unwrap();
        assert_eq!(
            element_lines(&plan),
            ["add element inet picket blocked_v4 { 192.0.2.7 }"]
        );
    }

    #[test]
    fn reblocking_restarts_the_timeout() {
        let st = state(&["192.0.2.7/32"], &[]);
        let plan = block("192.0.2.7/32", Some(Duration::from_secs(7200)), &st).unwrap();
        assert_eq!(
            plan.outcome(),
            &Outcome::Refreshed {
                net: net("192.0.2.7/32")
            }
        );
        insta::assert_snapshot!(element_lines(&plan).join("\n"));
    }

    #[test]
    fn a_wider_block_replaces_what_it_covers() {
        let st = state(&["192.0.2.7/32", "192.0.2.64/26", "198.51.100.1/32"], &[]);
        let plan = block("192.0.2.0/24", Some(Duration::from_secs(90)), &st).unwrap();
        assert_eq!(
            plan.outcome(),
            &Outcome::Replaced {
                net: net("192.0.2.0/24"),
                covered: vec!["192.0.2.7".to_owned(), "192.0.2.64/26".to_owned()],
            }
        );
        insta::assert_snapshot!(element_lines(&plan).join("\n"));
    }

    #[test]
    fn a_block_inside_a_blocked_element_changes_nothing() {
        let st = state(&["192.0.2.0/24"], &[]);
        let plan = block("192.0.2.7/32", None, &st).unwrap();
        assert_eq!(
            plan.outcome(),
            &Outcome::AlreadyCovered {
                net: net("192.0.2.7/32"),
                by: "192.0.2.0/24".to_owned(),
                expires_in: Some(Duration::from_secs(60)),
            }
        );
        assert!(element_lines(&plan).is_empty());
        assert_eq!(plan.script(), ensure(T));
        assert_eq!(
            plan.outcome().to_string(),
            "192.0.2.7/32 is already blocked as part of 192.0.2.0/24 (expires in 1m)"
        );
    }

    #[test]
    fn a_block_partly_overlapping_a_range_is_refused() {
        let st = state(&["192.0.2.250-192.0.3.5"], &[]);
        let err = block("192.0.2.0/24", None, &st).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot block 192.0.2.0/24: it partly overlaps the range 192.0.2.250-192.0.3.5 in set \
             blocked_v4; unblock 192.0.2.250-192.0.3.5 first"
        );
        // A range wholly inside is replaced like a narrower CIDR.
        let plan = block("192.0.0.0/16", None, &st).unwrap();
        assert!(
            matches!(plan.outcome(), Outcome::Replaced { covered, .. } if covered == &["192.0.2.250-192.0.3.5"])
        );
    }

    #[test]
    fn allowed_networks_and_long_ttls_are_refused_before_anything_is_written() {
        let err = block("10.0.0.0/8", None, &TableState::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing to block 10.0.0.0/8: it overlaps the allowed network 10.1.0.0/16"
        );
        assert!(matches!(
            block("127.0.0.5/32", None, &TableState::default()),
            Err(RespondError::Allowed { .. })
        ));
        let err = block(
            "192.0.2.7/32",
            Some(MAX_TTL + Duration::from_secs(1)),
            &TableState::default(),
        )
        .unwrap_err();
        assert!(matches!(err, RespondError::TtlOutOfRange { .. }), "{err}");
        assert!(block("192.0.2.7/32", Some(MAX_TTL), &TableState::default()).is_ok());
    }

    #[test]
    fn block_guard_refuses_ttl_zero_and_addresses_of_no_single_client() {
        for ttl in [Duration::ZERO, Duration::from_millis(999)] {
            let err = block("192.0.2.7/32", Some(ttl), &TableState::default()).unwrap_err();
            assert!(matches!(err, RespondError::TtlOutOfRange { .. }), "{err}");
        }
        assert!(block("192.0.2.7/32", Some(MIN_TTL), &TableState::default()).is_ok());
        for net in [
            "0.0.0.0/32",
            "255.255.255.255/32",
            "224.0.0.1/32",
            "239.255.255.250/32",
            "::/128",
            "ff02::1/128",
            "::ffff:224.0.0.1/128",
        ] {
            assert!(
                matches!(
                    block(net, None, &TableState::default()),
                    Err(RespondError::Allowed { .. })
                ),
                "{net} was accepted"
            );
        }
    }

    #[test]
    fn unblock_removes_the_element_and_everything_inside() {
        let st = state(
            &["192.0.2.7/32", "192.0.2.64/26", "198.51.100.1/32"],
            &["2001:db8::1/128"],
        );
        let plan = unblock("192.0.2.0/24", &st).unwrap();
        assert_eq!(
            plan.outcome(),
            &Outcome::Removed {
                net: net("192.0.2.0/24"),
                removed: vec!["192.0.2.7".to_owned(), "192.0.2.64/26".to_owned()],
            }
        );
        insta::assert_snapshot!(plan.script());
        let plan = unblock("2001:db8::1/128", &st).unwrap();
        assert_eq!(
            plan.script(),
            "delete element inet picket blocked_v6 { 2001:db8::1 }\n"
        );
    }

    #[test]
    fn unblock_of_what_is_not_blocked_does_nothing() {
        let plan = unblock("192.0.2.7/32", &state(&["192.0.2.8/32"], &[])).unwrap();
        assert_eq!(
            plan.outcome(),
            &Outcome::NotBlocked {
                net: net("192.0.2.7/32")
            }
        );
        assert_eq!(plan.script(), "");
    }

    #[test]
    fn unblock_never_punches_holes() {
        let st = state(&["192.0.2.0/24", "198.51.100.10-198.51.100.20"], &[]);
        let err = unblock("192.0.2.7/32", &st).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot unblock 192.0.2.7/32: it is blocked as part of 192.0.2.0/24 in set blocked_v4; \
             unblock 192.0.2.0/24 instead"
        );
        let err = unblock("198.51.100.16/28", &st).unwrap_err();
        assert!(
            matches!(
                err,
                RespondError::Overlap {
                    action: "unblock",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn sets_without_interval_are_refused_by_name() {
        let mut st = state(&[], &[]);
        st.sets[0].flags = Vec::new();
        let err = plan(T, &allow(), &Change::Ensure, &st).unwrap_err();
        assert_eq!(
            err.to_string(),
            "set blocked_v4 in table inet picket is `type ipv4_addr; no flags`, expected `type \
             ipv4_addr; flags interval, timeout`: delete the table (`nft delete table inet picket`) \
             and let picket create it again"
        );
        let mut st = state(&[], &[]);
        st.sets[1].kind = "ipv4_addr".to_owned();
        assert!(matches!(
            plan(T, &allow(), &Change::Ensure, &st),
            Err(RespondError::IncompatibleSet { set, .. }) if set == SET_V6
        ));
    }

    #[test]
    fn durations_render_in_nft_units() {
        assert_eq!(nft_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(nft_duration(Duration::from_secs(2)), "2s");
        assert_eq!(
            nft_duration(Duration::from_millis(90_061_001)),
            "1d1h1m1s1ms"
        );
        assert_eq!(nft_duration(Duration::from_micros(1500)), "2ms");
        assert_eq!(nft_duration(Duration::ZERO), "1ms");
        assert_eq!(nft_duration(MAX_TTL), "3650d");
    }

    #[test]
    fn dry_runs_read_in_the_conditional() {
        let n = net("192.0.2.0/24");
        assert_eq!(
            Outcome::Added { net: n }.would().to_string(),
            "would block 192.0.2.0/24"
        );
        assert_eq!(
            Outcome::NotBlocked { net: n }.would().to_string(),
            "would change nothing: 192.0.2.0/24 was not blocked"
        );
        assert_eq!(
            Outcome::Removed {
                net: n,
                removed: vec!["192.0.2.0/25".to_owned()]
            }
            .would()
            .to_string(),
            "would unblock 192.0.2.0/24 (remove 192.0.2.0/25)"
        );
    }

    #[test]
    fn outcomes_read_as_sentences() {
        let n = net("192.0.2.0/24");
        assert_eq!(
            Outcome::Added { net: n }.to_string(),
            "blocked 192.0.2.0/24"
        );
        assert_eq!(
            Outcome::Replaced {
                net: n,
                covered: vec!["192.0.2.7".into()]
            }
            .to_string(),
            "blocked 192.0.2.0/24, replacing 192.0.2.7"
        );
        assert_eq!(
            Outcome::NotBlocked { net: n }.to_string(),
            "192.0.2.0/24 was not blocked"
        );
    }
}
