//! Scan targets as the user writes them: addresses, CIDRs, ranges and hostnames. IPv4-mapped
//! IPv6 forms (`::ffff:10.0.0.1`) are parsed as the IPv4 hosts they reach, so that an exclusion
//! holds whichever way either side was written.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::addr::{canonical_ip, canonical_net};

/// The most addresses one run may expand to. Larger sets are almost always a typo (`/8` for `/24`,
/// an IPv6 `/64`) and would take days; the user can split them into several runs.
pub const MAX_ADDRESSES: u128 = 1 << 24;

/// One target as written on the command line or in a target file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TargetSpec {
    /// A single IPv4 or IPv6 address.
    Addr(IpAddr),
    /// A network in CIDR form; host bits written by the user are cleared (`10.0.0.5/24` is the /24).
    Net(IpNet),
    /// An inclusive range of addresses of one family (`10.0.0.1-20`, `10.0.0.1-10.0.1.9`).
    Range { first: IpAddr, last: IpAddr },
    /// A DNS name, resolved by the scan engine.
    Host(String),
}

impl TargetSpec {
    /// How many addresses this spec stands for, or `None` for a hostname.
    pub fn address_count(&self) -> Option<u128> {
        match self {
            TargetSpec::Addr(_) => Some(1),
            TargetSpec::Net(net) => Some(
                1u128
                    .checked_shl(u32::from(max_prefix(net.addr()) - net.prefix_len()))
                    .unwrap_or(u128::MAX),
            ),
            TargetSpec::Range { first, last } => {
                Some((ip_to_u128(*last) - ip_to_u128(*first)).saturating_add(1))
            }
            TargetSpec::Host(_) => None,
        }
    }

    /// Whether `ip` falls inside this spec (hostnames never match; resolve them first). A mapped
    /// address is the IPv4 host it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        match self {
            TargetSpec::Addr(a) => *a == ip,
            TargetSpec::Net(net) => net.contains(&ip),
            TargetSpec::Range { first, last } => {
                same_family(*first, ip) && (*first..=*last).contains(&ip)
            }
            TargetSpec::Host(_) => false,
        }
    }

    /// The `i`-th address of a literal spec (from 0, in order); `None` past its end or for a
    /// hostname.
    pub fn address_at(&self, i: u128) -> Option<IpAddr> {
        if i >= self.address_count()? {
            return None;
        }
        let first = match self {
            TargetSpec::Addr(a) => *a,
            TargetSpec::Net(net) => net.network(),
            TargetSpec::Range { first, .. } => *first,
            TargetSpec::Host(_) => return None,
        };
        Some(u128_to_ip(first, ip_to_u128(first) + i))
    }

    /// Every address of a literal spec, in order; empty for a hostname.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let (first, count) = match self {
            TargetSpec::Addr(a) => (Some(*a), 1),
            TargetSpec::Net(net) => (Some(net.network()), self.address_count().unwrap_or(0)),
            TargetSpec::Range { first, .. } => (Some(*first), self.address_count().unwrap_or(0)),
            TargetSpec::Host(_) => (None, 0),
        };
        (0..count).filter_map(move |i| first.map(|f| u128_to_ip(f, ip_to_u128(f) + i)))
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Converts back into the family of `like`. Callers stay within that family's range.
fn u128_to_ip(like: IpAddr, value: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(value as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

fn parse_range(input: &str, first: &str, last: &str) -> Result<TargetSpec, ModelError> {
    let first: IpAddr = first
        .parse()
        .map(canonical_ip)
        .map_err(|_| ModelError::target(input, format!("{first:?} is not an IP address")))?;
    let last: IpAddr = match (first, last.parse::<IpAddr>()) {
        (_, Ok(last)) => canonical_ip(last),
        (IpAddr::V4(f), Err(_)) => {
            // `10.0.0.1-20`: the last octet only.
            let octet: u8 = last.parse().map_err(|_| {
                ModelError::target(
                    input,
                    format!("{last:?} is neither an address nor an octet"),
                )
            })?;
            let [a, b, c, _] = f.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, octet))
        }
        (IpAddr::V6(_), Err(_)) => {
            return Err(ModelError::target(
                input,
                "an IPv6 range needs two full addresses",
            ));
        }
    };
    if !same_family(first, last) {
        return Err(ModelError::target(input, "range mixes IPv4 and IPv6"));
    }
    if last < first {
        return Err(ModelError::target(input, "range runs backwards"));
    }
    Ok(TargetSpec::Range { first, last })
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        && s.chars().any(|c| c.is_ascii_alphabetic())
}

impl FromStr for TargetSpec {
    type Err = ModelError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let text = input.trim();
        if text.is_empty() {
            return Err(ModelError::target(input, "empty"));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(TargetSpec::Addr(canonical_ip(ip)));
        }
        if let Some((addr, prefix)) = text.split_once('/') {
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| ModelError::target(input, format!("{addr:?} is not an IP address")))?;
            let len: u8 = prefix.parse().map_err(|_| {
                ModelError::target(input, format!("{prefix:?} is not a prefix length"))
            })?;
            let net = IpNet::new(ip, len).map_err(|_| {
                ModelError::target(
                    input,
                    format!("prefix /{len} is longer than /{}", max_prefix(ip)),
                )
            })?;
            return Ok(TargetSpec::Net(canonical_net(net)));
        }
        if let Some((first, last)) = text.split_once('-')
            && first.parse::<IpAddr>().is_ok()
        {
            return parse_range(input, first, last);
        }
        if is_hostname(text) {
            return Ok(TargetSpec::Host(text.to_ascii_lowercase()));
        }
        Err(ModelError::target(
            input,
            "not an address, CIDR, range or hostname",
        ))
    }
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetSpec::Addr(a) => write!(f, "{a}"),
            TargetSpec::Net(n) => write!(f, "{n}"),
            TargetSpec::Range { first, last } => write!(f, "{first}-{last}"),
            TargetSpec::Host(h) => f.write_str(h),
        }
    }
}

impl TryFrom<String> for TargetSpec {
    type Error = ModelError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<TargetSpec> for String {
    fn from(value: TargetSpec) -> Self {
        value.to_string()
    }
}

/// What one run scans: the targets to include and those to leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    pub include: Vec<TargetSpec>,
    pub exclude: Vec<TargetSpec>,
}

impl Targets {
    /// Parses every include and exclude, refusing the whole set on the first bad one and when the
    /// literal part expands to more than [`MAX_ADDRESSES`].
    pub fn parse<I, E>(include: I, exclude: E) -> Result<Self, ModelError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
        E: IntoIterator,
        E::Item: AsRef<str>,
    {
        let include = include
            .into_iter()
            .map(|s| s.as_ref().parse())
            .collect::<Result<Vec<TargetSpec>, _>>()?;
        let exclude = exclude
            .into_iter()
            .map(|s| s.as_ref().parse())
            .collect::<Result<Vec<TargetSpec>, _>>()?;
        if include.is_empty() {
            return Err(ModelError::target("", "no target given"));
        }
        let total = include
            .iter()
            .filter_map(TargetSpec::address_count)
            .fold(0u128, u128::saturating_add);
        if total > MAX_ADDRESSES {
            return Err(ModelError::target(
                &include
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                format!("{total} addresses is more than one run may scan ({MAX_ADDRESSES})"),
            ));
        }
        Ok(Self { include, exclude })
    }

    /// Whether an address (resolved or literal) is left out by `--exclude`.
    pub fn is_excluded(&self, ip: IpAddr) -> bool {
        self.exclude.iter().any(|spec| spec.contains(ip))
    }

    /// A stable key for "the same targets": two runs with equal keys scanned the same thing.
    pub fn key(&self) -> String {
        let mut inc: Vec<String> = self.include.iter().map(ToString::to_string).collect();
        inc.sort();
        inc.dedup();
        let mut exc: Vec<String> = self.exclude.iter().map(ToString::to_string).collect();
        exc.sort();
        exc.dedup();
        if exc.is_empty() {
            inc.join(" ")
        } else {
            format!("{} --exclude {}", inc.join(" "), exc.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(s: &str) -> TargetSpec {
        s.parse().unwrap()
    }

    #[test]
    fn address_at_is_the_nth_address() {
        for s in [
            "10.0.0.5",
            "10.0.0.0/29",
            "10.0.0.250-10.0.1.3",
            "fd00::/126",
            "db.example",
        ] {
            let spec = spec(s);
            let listed: Vec<IpAddr> = spec.addresses().collect();
            let indexed: Vec<IpAddr> = (0..).map_while(|i| spec.address_at(i)).collect();
            assert_eq!(indexed, listed, "{s}");
        }
        assert_eq!(spec("10.0.0.0/8").address_at(1 << 24), None);
    }

    #[test]
    fn exclusions_hold_through_ipv4_mapped_addresses() {
        assert_eq!(spec("::ffff:127.0.0.3"), spec("127.0.0.3"));
        assert_eq!(spec("::ffff:127.0.0.0/126"), spec("127.0.0.0/30"));
        assert_eq!(
            spec("::ffff:127.0.0.1-::ffff:127.0.0.4"),
            spec("127.0.0.1-4")
        );
        assert_eq!(spec("::ffff:127.0.0.1-4"), spec("127.0.0.1-4"));
        for (include, exclude) in [
            ("::ffff:127.0.0.3", "127.0.0.3"),
            ("::ffff:127.0.0.0/126", "127.0.0.3"),
            ("127.0.0.0/28", "::ffff:127.0.0.3"),
        ] {
            let t = Targets::parse([include], [exclude]).unwrap();
            assert!(
                t.is_excluded("127.0.0.3".parse().unwrap()),
                "{include} - {exclude}"
            );
            assert!(
                t.is_excluded("::ffff:127.0.0.3".parse().unwrap()),
                "{include} - {exclude}"
            );
            assert!(
                !t.is_excluded("127.0.0.2".parse().unwrap()),
                "{include} - {exclude}"
            );
        }
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            spec("10.0.0.1"),
            TargetSpec::Addr("10.0.0.1".parse().unwrap())
        );
        assert_eq!(spec("::1"), TargetSpec::Addr("::1".parse().unwrap()));
        assert_eq!(spec("10.0.0.5/24").to_string(), "10.0.0.0/24");
        assert_eq!(spec("fd00::1/120").address_count(), Some(256));
        assert_eq!(spec("10.0.0.1-20").address_count(), Some(20));
        assert_eq!(spec("10.0.0.250-10.0.1.4").address_count(), Some(11));
        assert_eq!(spec("fd00::1-fd00::3").address_count(), Some(3));
        assert_eq!(
            spec("Scanme.Example.ORG"),
            TargetSpec::Host("scanme.example.org".into())
        );
        assert_eq!(spec("localhost").address_count(), None);
    }

    #[test]
    fn expands_addresses_in_order() {
        let got: Vec<String> = spec("10.0.0.254-10.0.1.1")
            .addresses()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(got, ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"]);
        assert_eq!(spec("192.0.2.0/30").addresses().count(), 4);
    }

    #[test]
    fn refuses_bad_targets() {
        for bad in [
            "",
            "10.0.0.1/33",
            "10.0.0.20-1",
            "10.0.0.1-::1",
            "10.0.0.1-300",
            "-host",
            "1.2.3",
            "fd00::1-ff",
            "a b",
        ] {
            assert!(bad.parse::<TargetSpec>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn refuses_huge_runs() {
        assert!(Targets::parse(["10.0.0.0/7"], [""; 0]).is_err());
        assert!(Targets::parse(["fd00::/64"], [""; 0]).is_err());
        assert!(Targets::parse(["::/0"], [""; 0]).is_err());
        assert!(Targets::parse(["::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], [""; 0]).is_err());
        assert!(Targets::parse(["10.0.0.0/8"], [""; 0]).is_ok());
    }

    #[test]
    fn excludes_and_keys() {
        let t = Targets::parse(["10.0.0.0/24", "127.0.0.1"], ["10.0.0.7"]).unwrap();
        assert!(t.is_excluded("10.0.0.7".parse().unwrap()));
        assert!(!t.is_excluded("10.0.0.8".parse().unwrap()));
        let same = Targets::parse(["127.0.0.1", "10.0.0.0/24"], ["10.0.0.7"]).unwrap();
        assert_eq!(t.key(), same.key());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,60}") {
            let _ = s.parse::<TargetSpec>();
        }

        #[test]
        fn display_round_trips(a in any::<u32>(), len in 0u8..=32) {
            let net = TargetSpec::Net(IpNet::new(IpAddr::V4(Ipv4Addr::from(a)), len).unwrap().trunc());
            prop_assert_eq!(net.to_string().parse::<TargetSpec>().unwrap(), net);
        }
    }
}
