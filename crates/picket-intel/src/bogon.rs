//! Bogon and private address space: ranges that no attacker on the Internet can send from and
//! that no feed should make Picket alert on. Some feeds carry them on purpose (FireHOL level1
//! includes `fullbogons` so that a firewall drops spoofed traffic), but in a threat pipeline a
//! match on 10.0.0.0/8 would flag every internal host.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv4Subnets, Ipv6Net, Ipv6Subnets};

/// IPv4 ranges left out (RFC 6890 special-purpose registry, the parts that are not globally
/// reachable, plus multicast and the reserved class E).
const V4: [(Ipv4Addr, u8, &str); 13] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8, "this network (RFC 791)"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private (RFC 1918)"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "shared address space, CGNAT (RFC 6598)",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback (RFC 1122)"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local (RFC 3927)"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private (RFC 1918)"),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "IETF protocol assignments (RFC 6890)",
    ),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        "documentation TEST-NET-1 (RFC 5737)",
    ),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private (RFC 1918)"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking (RFC 2544)"),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "documentation TEST-NET-2 (RFC 5737)",
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        "documentation TEST-NET-3 (RFC 5737)",
    ),
    (
        Ipv4Addr::new(224, 0, 0, 0),
        3,
        "multicast, reserved class E, broadcast (RFC 5771, RFC 1112)",
    ),
];

/// IPv6 ranges left out (RFC 6890 and successors).
const V6: [(Ipv6Addr, u8, &str); 9] = [
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),
        8,
        "unspecified, loopback, IPv4-mapped and -compatible (RFC 4291)",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only (RFC 6666)",
    ),
    (
        Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0),
        48,
        "benchmarking (RFC 5180)",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation (RFC 3849)",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation (RFC 9637)",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique local (RFC 4193)",
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        "link-local (RFC 4291)",
    ),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "site-local, deprecated (RFC 3879)",
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        "multicast (RFC 4291)",
    ),
];

/// Every range Picket treats as bogon or private, with why.
pub fn bogon_ranges() -> impl Iterator<Item = (IpNet, &'static str)> {
    let v4 = V4
        .iter()
        .filter_map(|(a, len, why)| Ipv4Net::new(*a, *len).ok().map(|n| (IpNet::V4(n), *why)));
    let v6 = V6
        .iter()
        .filter_map(|(a, len, why)| Ipv6Net::new(*a, *len).ok().map(|n| (IpNet::V6(n), *why)));
    v4.chain(v6)
}

/// How a network stands against the bogon ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BogonCheck {
    /// Public space only.
    Clean,
    /// Entirely inside bogon or private space: leave it out.
    Bogon,
    /// A wider network with bogon space inside: these pieces are its public part.
    Trimmed(Vec<IpNet>),
}

/// Checks one network. Networks are prefixes, so a bogon range and a network are either disjoint
/// or one holds the other.
pub fn check(network: IpNet) -> BogonCheck {
    match network {
        IpNet::V4(n) => {
            let (start, end) = (u32::from(n.network()), u32::from(n.broadcast()));
            let ranges = V4.iter().map(|(a, len, _)| {
                let a = u32::from(*a);
                (a, a | (u32::MAX.checked_shr(u32::from(*len)).unwrap_or(0)))
            });
            classify(
                u128::from(start),
                u128::from(end),
                ranges.map(|(s, e)| (u128::from(s), u128::from(e))),
            )
            .map_trimmed(|s, e| {
                // Bounded by `start..=end`, both u32, so the casts are exact.
                Ipv4Subnets::new(Ipv4Addr::from(s as u32), Ipv4Addr::from(e as u32), 0)
                    .map(IpNet::V4)
                    .collect()
            })
        }
        IpNet::V6(n) => {
            let (start, end) = (u128::from(n.network()), u128::from(n.broadcast()));
            let ranges = V6.iter().map(|(a, len, _)| {
                let a = u128::from(*a);
                (a, a | (u128::MAX.checked_shr(u32::from(*len)).unwrap_or(0)))
            });
            classify(start, end, ranges).map_trimmed(|s, e| {
                Ipv6Subnets::new(Ipv6Addr::from(s), Ipv6Addr::from(e), 0)
                    .map(IpNet::V6)
                    .collect()
            })
        }
    }
}

enum Overlap {
    Clean,
    Inside,
    /// The public pieces, as inclusive ranges.
    Holes(Vec<(u128, u128)>),
}

impl Overlap {
    fn map_trimmed(self, cover: impl Fn(u128, u128) -> Vec<IpNet>) -> BogonCheck {
        match self {
            Overlap::Clean => BogonCheck::Clean,
            Overlap::Inside => BogonCheck::Bogon,
            Overlap::Holes(ranges) => {
                BogonCheck::Trimmed(ranges.into_iter().flat_map(|(s, e)| cover(s, e)).collect())
            }
        }
    }
}

fn classify(start: u128, end: u128, bogons: impl Iterator<Item = (u128, u128)>) -> Overlap {
    let mut inside: Vec<(u128, u128)> = Vec::new();
    for (bs, be) in bogons {
        if bs <= start && end <= be {
            return Overlap::Inside;
        }
        if start <= bs && be <= end {
            inside.push((bs, be));
        }
    }
    if inside.is_empty() {
        return Overlap::Clean;
    }
    inside.sort_unstable();
    let mut pieces = Vec::new();
    let mut next = Some(start);
    for (bs, be) in inside {
        if let Some(n) = next
            && n < bs
        {
            pieces.push((n, bs - 1));
        }
        next = be.checked_add(1).filter(|n| *n <= end);
    }
    if let Some(n) = next {
        pieces.push((n, end));
    }
    Overlap::Holes(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn inside_outside_and_around() {
        for bogon in [
            "10.0.0.0/8",
            "10.1.2.3/32",
            "224.0.0.0/3",
            "255.255.255.255/32",
            "100.64.0.0/10",
            "::1/128",
            "fe80::/64",
            "fd00::/8",
            "2001:db8:1::/48",
            "ff02::1/128",
        ] {
            assert_eq!(check(net(bogon)), BogonCheck::Bogon, "{bogon}");
        }
        for clean in [
            "8.8.8.8/32",
            "100.128.0.0/9",
            "11.0.0.0/8",
            "2606:4700::/32",
            "192.0.3.0/24",
        ] {
            assert_eq!(check(net(clean)), BogonCheck::Clean, "{clean}");
        }
        let BogonCheck::Trimmed(pieces) = check(net("8.0.0.0/6")) else {
            panic!()
        };
        let pieces: Vec<String> = pieces.iter().map(ToString::to_string).collect();
        assert_eq!(pieces, ["8.0.0.0/7", "11.0.0.0/8"]);
        let BogonCheck::Trimmed(pieces) = check(net("0.0.0.0/0")) else {
            panic!()
        };
        assert!(pieces.iter().all(|p| check(*p) == BogonCheck::Clean));
        let covered: u64 = pieces.iter().map(|p| 1u64 << (32 - p.prefix_len())).sum();
        let bogon_total: u64 = V4.iter().map(|(_, l, _)| 1u64 << (32 - l)).sum();
        assert_eq!(covered + bogon_total, 1 << 32);
    }

    #[test]
    fn every_range_is_listed_with_a_reason() {
        assert_eq!(bogon_ranges().count(), V4.len() + V6.len());
        assert!(bogon_ranges().all(|(_, why)| !why.is_empty()));
    }
}
