//! Which addresses are ours, and so which way a connection went: the home networks as data.
//!
//! Pure types: parsing a list and matching addresses. This module must never read the
//! network's configuration, a file or the environment; the caller passes the list in.

use std::fmt;
use std::net::IpAddr;

use crate::{ConnEvent, canonical_ip, canonical_net};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Which way a connection crossed the home network's edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From outside to a home address: what a threat alert is about.
    Inbound,
    /// From a home address to outside.
    Outbound,
    /// Between two home addresses.
    Internal,
    /// Between two outside addresses (transit traffic, or a home net set too narrow).
    External,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
            Direction::External => "external",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The networks counted as "ours".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "HomeNetWire", into = "HomeNetWire")]
pub struct HomeNet {
    nets: Vec<IpNet>,
    /// The networks as first and last address, per family: every event asks twice, so the
    /// answer is a few integer comparisons.
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

/// A home network list as it is written: the networks alone.
#[derive(Serialize, Deserialize)]
struct HomeNetWire {
    nets: Vec<IpNet>,
}

impl From<HomeNetWire> for HomeNet {
    fn from(wire: HomeNetWire) -> Self {
        HomeNet::new(wire.nets)
    }
}

impl From<HomeNet> for HomeNetWire {
    fn from(home: HomeNet) -> Self {
        HomeNetWire { nets: home.nets }
    }
}

impl HomeNet {
    /// The default home networks: addresses the public Internet does not route.
    ///
    /// RFC 1918 (10/8, 172.16/12, 192.168/16), loopback (127/8, ::1), link-local (169.254/16,
    /// fe80::/10), unique local IPv6 (fc00::/7), and RFC 6598 shared address space (100.64/10).
    /// 100.64/10 is included because a packet from it cannot have come from the Internet at
    /// large: it is a carrier-grade NAT's inside or an overlay network (Tailscale gives its
    /// nodes these addresses), and counting it as outside would raise inbound alerts on a
    /// network's own peers. Where the ISP's CGN puts strangers in the same range, configure
    /// the home net explicitly.
    pub const DEFAULT: [&str; 9] = [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    ];

    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        let mut nets: Vec<IpNet> = nets.into_iter().map(canonical_net).collect();
        nets.sort();
        nets.dedup();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in &nets {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        Self { nets, v4, v6 }
    }

    /// A comma-separated list of networks or single addresses (`10.0.0.0/8, 2001:db8::/32,
    /// 198.51.100.7`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{item:?} is not a network or an IP address"))?;
            nets.push(net);
        }
        if nets.is_empty() {
            return Err("the home network list is empty".into());
        }
        Ok(Self::new(nets))
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    /// Whether an address is ours. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as dual-stack
    /// sockets report IPv4 peers) counts as the IPv4 address it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match canonical_ip(ip) {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|&(first, last)| first <= a && a <= last)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|&(first, last)| first <= a && a <= last)
            }
        }
    }

    pub fn direction(&self, ev: &ConnEvent) -> Direction {
        match (self.contains(ev.src), self.contains(ev.dst)) {
            (false, true) => Direction::Inbound,
            (true, false) => Direction::Outbound,
            (true, true) => Direction::Internal,
            (false, false) => Direction::External,
        }
    }
}

impl Default for HomeNet {
    fn default() -> Self {
        Self::new(Self::DEFAULT.iter().filter_map(|s| s.parse::<IpNet>().ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConnOutcome, SourceRef, Transport};

    fn ev(src: &str, dst: &str) -> ConnEvent {
        ConnEvent {
            ts: crate::Timestamp::UNIX_EPOCH,
            src: src.parse().unwrap(),
            src_port: None,
            dst: dst.parse().unwrap(),
            dst_port: Some(22),
            proto: Transport::Tcp,
            outcome: ConnOutcome::Attempted,
            duration: None,
            bytes_out: None,
            bytes_in: None,
            packets_out: None,
            packets_in: None,
            uid: None,
            flow: None,
            source: SourceRef {
                file: "-".into(),
                line: 1,
            },
        }
    }

    #[test]
    fn defaults_cover_every_listed_net() {
        let h = HomeNet::default();
        assert_eq!(h.nets().len(), HomeNet::DEFAULT.len());
        for ip in [
            "10.1.2.3",
            "172.31.255.255",
            "192.168.0.1",
            "100.100.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.1.1",
        ] {
            assert!(h.contains(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "172.32.0.1",
            "100.128.0.1",
            "8.8.8.8",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!h.contains(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn home_net_written_as_mapped_addresses_holds_their_ipv4_hosts() {
        let h = HomeNet::parse("::ffff:198.51.100.0/120, ::ffff:203.0.113.7").unwrap();
        let shown: Vec<String> = h.nets().iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["198.51.100.0/24", "203.0.113.7/32"]);
        assert!(h.contains("198.51.100.9".parse().unwrap()));
        assert!(h.contains("::ffff:203.0.113.7".parse().unwrap()));
        assert!(!h.contains("203.0.113.8".parse().unwrap()));
    }

    #[test]
    fn directions() {
        let h = HomeNet::default();
        assert_eq!(
            h.direction(&ev("198.51.100.7", "10.0.0.5")),
            Direction::Inbound
        );
        assert_eq!(
            h.direction(&ev("10.0.0.5", "198.51.100.7")),
            Direction::Outbound
        );
        assert_eq!(
            h.direction(&ev("10.0.0.5", "192.168.1.1")),
            Direction::Internal
        );
        assert_eq!(
            h.direction(&ev("198.51.100.7", "203.0.113.1")),
            Direction::External
        );
        let custom = HomeNet::parse("203.0.113.0/24, 198.51.100.7").unwrap();
        assert_eq!(
            custom.direction(&ev("10.0.0.5", "203.0.113.1")),
            Direction::Inbound
        );
        assert_eq!(
            custom.direction(&ev("198.51.100.7", "10.0.0.5")),
            Direction::Outbound
        );
        assert!(HomeNet::parse("").is_err());
        assert!(HomeNet::parse("10.0.0.0/33").is_err());
    }

    proptest::proptest! {
        /// The per-family ranges answer as the networks themselves do, for any list and any
        /// address (IPv4, IPv6, IPv4-mapped), and the list reads back as written.
        #[test]
        fn ranges_answer_as_the_networks(
            v4 in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u8..=32), 0..6),
            v6 in proptest::collection::vec((proptest::prelude::any::<u128>(), 0u8..=128), 0..4),
            probes in proptest::collection::vec(proptest::prelude::any::<u32>(), 1..20),
        ) {
            let nets: Vec<IpNet> = v4
                .iter()
                .map(|&(a, len)| IpNet::new(IpAddr::from(a.to_be_bytes()), len).unwrap())
                .chain(v6.iter().map(|&(a, len)| IpNet::new(IpAddr::from(a.to_be_bytes()), len).unwrap()))
                .collect();
            let home = HomeNet::new(nets.clone());
            let mut addrs: Vec<IpAddr> = Vec::new();
            for (i, p) in probes.iter().enumerate() {
                let v4 = std::net::Ipv4Addr::from(*p);
                addrs.push(IpAddr::V4(v4));
                addrs.push(IpAddr::V6(v4.to_ipv6_mapped()));
                if let Some(&(a, _)) = v6.get(i % v6.len().max(1)) {
                    addrs.push(IpAddr::from((a ^ u128::from(*p)).to_be_bytes()));
                }
            }
            for net in &nets {
                addrs.push(net.network());
                addrs.push(net.broadcast());
            }
            for addr in addrs {
                let expected = nets
                    .iter()
                    .map(|n| canonical_net(*n))
                    .any(|n| n.contains(&canonical_ip(addr)));
                proptest::prop_assert_eq!(home.contains(addr), expected, "{}", addr);
            }
            let back: HomeNet = serde_json::from_str(&serde_json::to_string(&home).unwrap()).unwrap();
            proptest::prop_assert_eq!(back, home);
        }
    }
}
