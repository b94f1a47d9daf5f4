//! The conditions a scan is measured under: which hosts the lab holds, what their firewalls
//! do, which ports they listen on, which ports the tools scan, and what counts as found.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use picket_lab::{Firewall, Lab, Listeners, Reject, Target};

use crate::BenchError;
use crate::ports::{spread_in, spread_ports};

/// The SYN rate above which the `ban` and `ban120` scenarios (and the group's banning host)
/// ban a source.
pub const BAN_SYN_PER_SECOND: u32 = 1_000;
/// How long the `ban` scenario (and the group's banning host) bans a source.
pub const BAN_DURATION: Duration = Duration::from_secs(10);
/// How long the `ban120` scenario bans a source: a common IPS setting.
pub const LONG_BAN_DURATION: Duration = Duration::from_secs(120);
/// The least time a `ban120` run gets before it is killed: two bans and a full scan.
pub const LONG_BAN_TIMEOUT: Duration = Duration::from_secs(400);
/// The SYN rate the IPS of `ips2000` (and of the group's IPS host) lets through.
pub const IPS_SYN_PER_SECOND: u32 = 2_000;
/// The ports the `firewalled` target drops in silence.
pub const DROPPED: RangeInclusive<u16> = 20_000..=24_999;
/// The ports the `firewalled` target rejects with ICMP admin-prohibited.
pub const PROHIBITED: RangeInclusive<u16> = 25_000..=25_999;
/// How many of the most often open ports the multi-host scenarios scan (`--top-ports`).
pub const TOP_PORTS: usize = 1_000;
/// The ports the `group` scenario scans: enough that its IPS and banning hosts take tens of
/// seconds.
pub const GROUP_PORTS: RangeInclusive<u16> = 1..=20_000;
/// The live hosts of the `sparse26` segment: offset in the /26, whether it drops everything
/// but its listeners, and its listening ports. The last port of each is not among the top
/// 1,000, so nobody should report it.
pub const SPARSE_HOSTS: [(u8, bool, &[u16]); 2] = [
    (10, false, &[22, 80, 443, 3306, 8080, 6379, 47_001]),
    (37, true, &[22, 25, 5432, 9100, 61_000]),
];

/// One benchmark scenario: the hosts of the lab and the rules in front of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Scenario {
    /// No rules.
    Clean,
    /// 3 % of packets lost at random, each way.
    Loss3,
    /// An IPS passing 2,000 SYNs per second (burst 5) and dropping the rest.
    Ips2000,
    /// An IPS banning a source for 10 s once it sends more than 1,000 SYNs per second.
    Ban,
    /// Ports 20000-24999 dropped, 25000-25999 rejected with ICMP admin-prohibited, and the
    /// kernel's ICMP rate limits on.
    Firewalled,
    /// Only the listening ports answer; everything else is dropped.
    DefaultDrop,
    /// `default-drop` with 3 % of packets lost at random, each way.
    DefaultDropLoss3,
    /// An IPS banning a source for 120 s once it sends more than 1,000 SYNs per second.
    Ban120,
    /// A /26 segment with two live hosts, the top 1,000 ports with host discovery.
    Sparse26,
    /// Five targets with different firewalls, scanned in one command.
    Group,
}

/// Which ports the tools scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    /// All 65,535.
    All,
    /// The `n` most often open (Nmap's ranking; Picket ships the same).
    Top(usize),
    /// One range.
    Range(u16, u16),
}

impl Ports {
    /// The top ports written out, comma-separated, most often open first (empty for the
    /// other kinds).
    pub fn top_list(self) -> String {
        let Ports::Top(n) = self else {
            return String::new();
        };
        let ports = picket_model::top_ports(n).unwrap_or_default();
        let words: Vec<String> = ports.iter().map(u16::to_string).collect();
        words.join(",")
    }

    /// Whether `port` is scanned.
    fn contains(self, port: u16, top: &BTreeSet<u16>) -> bool {
        match self {
            Ports::All => true,
            Ports::Top(_) => top.contains(&port),
            Ports::Range(first, last) => (first..=last).contains(&port),
        }
    }
}

/// One host of a scenario, before the lab is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlan {
    /// Ports it listens on.
    pub listen: Vec<u16>,
    /// The rules in front of it.
    pub firewall: Firewall,
    /// Whether the kernel's ICMP rate limits are on inside it.
    pub icmp_rate_limited: bool,
    /// Of `listen`, the ports a scan should report open: scanned and not filtered.
    pub expected: Vec<u16>,
}

/// Where a scenario's hosts live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One target on its own link: the tools scan its address.
    Single(HostPlan),
    /// Hosts on one segment at these offsets: the tools scan the segment's /26.
    Segment(Vec<(u8, HostPlan)>),
    /// One target each, on its own link: the tools scan the list of their addresses.
    Targets(Vec<HostPlan>),
}

/// A scenario's lab, built: what the tools are pointed at and what they should find. Drop it
/// before the lab (declare it after), so that the listeners stop before the namespaces go.
#[derive(Debug)]
pub struct Setup {
    /// The tools' targets: one address, a list of them, or a CIDR.
    pub targets: Vec<String>,
    /// Every listening (address, port) a scan should report open.
    pub expected: BTreeSet<SocketAddr>,
    /// The one target of a single-target scenario (masscan needs its link).
    pub single: Option<Target>,
    /// Kept serving until the setup drops.
    _listeners: Vec<Listeners>,
}

impl Scenario {
    /// Every scenario, in the order the table lists them.
    pub const ALL: [Scenario; 10] = [
        Scenario::Clean,
        Scenario::Loss3,
        Scenario::Ips2000,
        Scenario::Ban,
        Scenario::Firewalled,
        Scenario::DefaultDrop,
        Scenario::DefaultDropLoss3,
        Scenario::Ban120,
        Scenario::Sparse26,
        Scenario::Group,
    ];

    /// The name used on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Clean => "clean",
            Scenario::Loss3 => "loss3",
            Scenario::Ips2000 => "ips2000",
            Scenario::Ban => "ban",
            Scenario::Firewalled => "firewalled",
            Scenario::DefaultDrop => "default-drop",
            Scenario::DefaultDropLoss3 => "default-drop-loss3",
            Scenario::Ban120 => "ban120",
            Scenario::Sparse26 => "sparse26",
            Scenario::Group => "group",
        }
    }

    /// Which ports every tool scans.
    pub fn ports(self) -> Ports {
        match self {
            Scenario::Sparse26 => Ports::Top(TOP_PORTS),
            Scenario::Group => Ports::Range(*GROUP_PORTS.start(), *GROUP_PORTS.end()),
            _ => Ports::All,
        }
    }

    /// Whether the scan covers several addresses, so that host discovery is part of what is
    /// measured (Nmap runs without `-Pn`).
    pub fn multi_host(self) -> bool {
        matches!(self, Scenario::Sparse26 | Scenario::Group)
    }

    /// How long a run may take: `default` (`--timeout`), at least [`LONG_BAN_TIMEOUT`] for
    /// `ban120`.
    pub fn timeout(self, default: Duration) -> Duration {
        match self {
            Scenario::Ban120 => default.max(LONG_BAN_TIMEOUT),
            _ => default,
        }
    }

    /// The hosts: single-target scenarios listen on `open_ports` ports spread over 1-65535
    /// (seed `seed`); the group's hosts on as many per 65,535 ports over its range, each with
    /// its own seed; the sparse segment on [`SPARSE_HOSTS`].
    pub fn layout(self, open_ports: usize, seed: u64) -> Layout {
        let top: BTreeSet<u16> = picket_model::top_ports(TOP_PORTS)
            .map(BTreeSet::from_iter)
            .unwrap_or_default();
        let plan = |listen: Vec<u16>, firewall: Firewall, icmp_rate_limited: bool| {
            let filtered = |port: &u16| {
                self == Scenario::Firewalled
                    && (DROPPED.contains(port) || PROHIBITED.contains(port))
            };
            let expected = listen
                .iter()
                .copied()
                .filter(|p| self.ports().contains(*p, &top) && !filtered(p))
                .collect();
            HostPlan {
                listen,
                firewall,
                icmp_rate_limited,
                expected,
            }
        };
        let spread = spread_ports(open_ports, seed);
        let single = |firewall| Layout::Single(plan(spread.clone(), firewall, false));
        match self {
            Scenario::Clean => single(Firewall::new()),
            Scenario::Loss3 => single(Firewall::new().random_loss(3)),
            Scenario::Ips2000 => single(Firewall::new().syn_rate_limit(IPS_SYN_PER_SECOND)),
            Scenario::Ban => single(Firewall::new().ban_after(BAN_SYN_PER_SECOND, BAN_DURATION)),
            Scenario::Ban120 => {
                single(Firewall::new().ban_after(BAN_SYN_PER_SECOND, LONG_BAN_DURATION))
            }
            Scenario::DefaultDrop => single(Firewall::new().allow_only(spread.iter().copied())),
            Scenario::DefaultDropLoss3 => single(
                Firewall::new()
                    .allow_only(spread.iter().copied())
                    .random_loss(3),
            ),
            Scenario::Firewalled => Layout::Single(plan(
                spread.clone(),
                Firewall::new()
                    .drop_ports(DROPPED)
                    .reject_ports(PROHIBITED, Reject::AdminProhibited),
                true,
            )),
            Scenario::Sparse26 => Layout::Segment(
                SPARSE_HOSTS
                    .iter()
                    .map(|&(offset, default_drop, listen)| {
                        let firewall = if default_drop {
                            Firewall::new().allow_only(listen.iter().copied())
                        } else {
                            Firewall::new()
                        };
                        (offset, plan(listen.to_vec(), firewall, false))
                    })
                    .collect(),
            ),
            Scenario::Group => {
                let width = usize::from(*GROUP_PORTS.end() - *GROUP_PORTS.start()) + 1;
                let per_host = (open_ports * width / usize::from(u16::MAX)).max(1);
                let hosts = (0u64..)
                    .zip(GROUP)
                    .map(|(i, (_, rules))| {
                        let listen = spread_in(per_host, seed + i, GROUP_PORTS);
                        let firewall = rules(&listen);
                        plan(listen, firewall, false)
                    })
                    .collect();
                Layout::Targets(hosts)
            }
        }
    }

    /// Builds the scenario's hosts in `lab` (see [`Scenario::layout`]) and starts their
    /// listeners.
    pub fn build(self, lab: &mut Lab, open_ports: usize, seed: u64) -> Result<Setup, BenchError> {
        let mut setup = Setup {
            targets: Vec::new(),
            expected: BTreeSet::new(),
            single: None,
            _listeners: Vec::new(),
        };
        match self.layout(open_ports, seed) {
            Layout::Single(host) => {
                let target = lab.add_target()?;
                setup.realise(&target, &host)?;
                setup.targets.push(target.address_v4().to_string());
                setup.single = Some(target);
            }
            Layout::Segment(hosts) => {
                let segment = lab.add_segment()?;
                for (offset, host) in &hosts {
                    let target = lab.add_host(&segment, *offset)?;
                    setup.realise(&target, host)?;
                }
                setup.targets.push(segment.cidr_v4());
            }
            Layout::Targets(hosts) => {
                for host in &hosts {
                    let target = lab.add_target()?;
                    setup.realise(&target, host)?;
                    setup.targets.push(target.address_v4().to_string());
                }
            }
        }
        Ok(setup)
    }

    /// A paragraph for the results' notes.
    pub fn description(self) -> String {
        match self {
            Scenario::Clean => "no firewall rules".to_owned(),
            Scenario::Loss3 => {
                "3 % of packets dropped at random in each direction (nft `numgen random`)"
                    .to_owned()
            }
            Scenario::Ips2000 => format!(
                "SYNs above {IPS_SYN_PER_SECOND}/s (burst 5, all sources) dropped, like an IPS; \
                 a full-range scan cannot finish in under ~33 s"
            ),
            Scenario::Ban => format!(
                "a source sending more than {BAN_SYN_PER_SECOND} SYNs/s is banned \
                 (every packet dropped) for {} s, then may try again",
                BAN_DURATION.as_secs()
            ),
            Scenario::Firewalled => format!(
                "ports {}-{} dropped in silence, {}-{} rejected with ICMP admin-prohibited, and \
                 the kernel's ICMP rate limits on (Linux defaults: after a burst of about six, \
                 about one answer a second), so most rejects arrive as silence; the listeners \
                 inside those ranges are filtered, so they are not expected (reporting them \
                 open would be a false positive)",
                DROPPED.start(),
                DROPPED.end(),
                PROHIBITED.start(),
                PROHIBITED.end()
            ),
            Scenario::DefaultDrop => "only the listening ports answer (established, related \
                 and TCP to them accepted); every other packet is dropped in silence, ICMP echo \
                 included, as behind a cloud security group"
                .to_owned(),
            Scenario::DefaultDropLoss3 => {
                "`default-drop` with 3 % of packets dropped at random in each direction".to_owned()
            }
            Scenario::Ban120 => format!(
                "a source sending more than {BAN_SYN_PER_SECOND} SYNs/s is banned (every packet \
                 dropped) for {} s, then may try again; each run gets at least {} s",
                LONG_BAN_DURATION.as_secs(),
                LONG_BAN_TIMEOUT.as_secs()
            ),
            Scenario::Sparse26 => {
                let hosts: Vec<String> = SPARSE_HOSTS
                    .iter()
                    .map(|(offset, default_drop, listen)| {
                        let ports: Vec<String> = listen.iter().map(u16::to_string).collect();
                        let kind = if *default_drop {
                            "default-drop"
                        } else {
                            "clean"
                        };
                        format!(".{offset} ({kind}: {})", ports.join(", "))
                    })
                    .collect();
                format!(
                    "a /26 segment on one bridge with 2 live hosts, {}; the other addresses \
                     are dead (no ARP answer) except the scanner's own .1; every tool scans the \
                     /26 and the top {TOP_PORTS} ports (RustScan: the list, `-p`), with its own \
                     host discovery (Nmap without `-Pn`); expected: the listeners among the top \
                     {TOP_PORTS}; masscan is skipped (it sends every probe to one \
                     `--router-mac`)",
                    hosts.join(" and ")
                )
            }
            Scenario::Group => {
                let names: Vec<&str> = GROUP.iter().map(|(name, _)| *name).collect();
                format!(
                    "{} targets, each on its own link and /24, scanned in one command (the list \
                     of their addresses), ports {}-{}, with host discovery (Nmap without `-Pn`): \
                     {}; each listens on ports spread over that range (its own seed); expected: \
                     every host's listeners; masscan is skipped (one adapter, one \
                     `--router-mac`)",
                    names.len(),
                    GROUP_PORTS.start(),
                    GROUP_PORTS.end(),
                    names.join(", ")
                )
            }
        }
    }
}

/// A host's rules, made from its listening ports.
type Rules = fn(&[u16]) -> Firewall;

/// The group's hosts, in target order: a name and the rules.
const GROUP: [(&str, Rules); 5] = [
    ("default-drop", |listen| {
        Firewall::new().allow_only(listen.iter().copied())
    }),
    ("IPS 2,000 SYN/s", |_| {
        Firewall::new().syn_rate_limit(IPS_SYN_PER_SECOND)
    }),
    ("3 % loss", |_| Firewall::new().random_loss(3)),
    ("clean", |_| Firewall::new()),
    ("banning (1,000 SYN/s, 10 s)", |_| {
        Firewall::new().ban_after(BAN_SYN_PER_SECOND, BAN_DURATION)
    }),
];

impl Setup {
    /// Starts `host`'s listeners and rules on `target` and adds its expected ports.
    fn realise(&mut self, target: &Target, host: &HostPlan) -> Result<(), BenchError> {
        self._listeners.push(target.listen(&host.listen)?);
        target.firewall(&host.firewall)?;
        target.kernel_icmp_rate_limit(host.icmp_rate_limited)?;
        let address = IpAddr::from(target.address_v4());
        self.expected
            .extend(host.expected.iter().map(|&p| SocketAddr::new(address, p)));
        Ok(())
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    fn single(scenario: Scenario) -> HostPlan {
        match scenario.layout(463, 1) {
            Layout::Single(host) => host,
            other => panic!("{scenario}: {other:?}"),
        }
    }

    #[test]
    fn command_line_names_are_the_table_names() {
        for scenario in Scenario::ALL {
            let parsed = Scenario::from_str(scenario.name(), false).unwrap();
            assert_eq!(parsed, scenario);
        }
    }

    #[test]
    fn each_scenario_has_its_rules() {
        let rules = |s| single(s).firewall.render();
        assert!(!rules(Scenario::Clean).contains("drop"));
        assert!(rules(Scenario::Loss3).contains("mod 100 < 3 drop"));
        assert!(rules(Scenario::Ips2000).contains("over 2000/second"));
        assert!(rules(Scenario::Ban).contains("timeout 10s"));
        assert!(rules(Scenario::Ban120).contains("timeout 120s"));
        assert!(rules(Scenario::Firewalled).contains("admin-prohibited"));
        assert!(single(Scenario::Firewalled).icmp_rate_limited);
        let default_drop = rules(Scenario::DefaultDrop);
        assert!(default_drop.contains("ct state established,related accept"));
        assert!(!default_drop.contains("numgen random"));
        assert!(rules(Scenario::DefaultDropLoss3).contains("ct state established"));
        assert!(rules(Scenario::DefaultDropLoss3).contains("mod 100 < 3 drop"));
    }

    #[test]
    fn single_targets_expect_every_listener_but_the_filtered_ones() {
        for scenario in Scenario::ALL.into_iter().filter(|s| !s.multi_host()) {
            let host = single(scenario);
            assert_eq!(host.listen, spread_ports(463, 1), "{scenario}");
            if scenario != Scenario::Firewalled {
                assert_eq!(host.expected, host.listen, "{scenario}");
            }
        }
        let firewalled = single(Scenario::Firewalled);
        let filtered: Vec<u16> = firewalled
            .listen
            .iter()
            .copied()
            .filter(|p| (20_000..=25_999).contains(p))
            .collect();
        // bench/README.md says so.
        assert_eq!((firewalled.expected.len(), filtered.len()), (418, 45));
        assert_eq!(
            firewalled.expected.len() + filtered.len(),
            firewalled.listen.len()
        );
        assert!(firewalled.expected.iter().all(|p| !filtered.contains(p)));
    }

    #[test]
    fn the_sparse_segment_expects_the_top_ports_only() {
        let Layout::Segment(hosts) = Scenario::Sparse26.layout(463, 1) else {
            panic!("sparse26 is a segment");
        };
        let expected: Vec<(u8, Vec<u16>)> = hosts
            .iter()
            .map(|(offset, host)| (*offset, host.expected.clone()))
            .collect();
        assert_eq!(
            expected,
            [
                (10, vec![22, 80, 443, 3306, 8080]),
                (37, vec![22, 25, 5432, 9100])
            ]
        );
        assert!(
            hosts[1]
                .1
                .firewall
                .render()
                .contains("ct state established")
        );
        assert_eq!(Scenario::Sparse26.ports(), Ports::Top(1_000));
        let list = Scenario::Sparse26.ports().top_list();
        assert!(list.starts_with("80,23,443,21,22,"), "{list}");
        assert_eq!(list.split(',').count(), 1_000);
        assert_eq!(Ports::All.top_list(), "");
    }

    #[test]
    fn the_group_has_five_different_hosts_in_its_range() {
        let Layout::Targets(hosts) = Scenario::Group.layout(463, 1) else {
            panic!("group is a list of targets");
        };
        assert_eq!(hosts.len(), 5);
        // 141 each, 705 in all, as bench/README.md says.
        for host in &hosts {
            assert_eq!(host.listen.len(), 141);
            assert_eq!(host.expected, host.listen);
            assert!(host.listen.iter().all(|p| GROUP_PORTS.contains(p)));
        }
        assert_ne!(hosts[0].listen, hosts[1].listen);
        let default_drop = hosts[0].firewall.render();
        let first = hosts[0].listen[0].to_string();
        assert!(default_drop.contains(&format!("tcp dport {{ {first}, ")));
        let rules: BTreeSet<String> = hosts.iter().map(|h| h.firewall.render()).collect();
        assert_eq!(rules.len(), 5, "five different firewalls");
    }

    #[test]
    fn only_the_long_ban_stretches_the_timeout() {
        let default = Duration::from_secs(240);
        assert_eq!(Scenario::Ban120.timeout(default), LONG_BAN_TIMEOUT);
        assert_eq!(
            Scenario::Ban120.timeout(Duration::from_secs(900)),
            Duration::from_secs(900)
        );
        assert_eq!(Scenario::Group.timeout(default), default);
    }
}
