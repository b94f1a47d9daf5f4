//! One rule for IPv4-mapped IPv6 addresses: `::ffff:192.0.2.1` is the IPv4 host 192.0.2.1 (a
//! dual-stack socket reports IPv4 peers that way, and a connection to it reaches that host). Every
//! address and network a user, a feed or a log hands Picket goes through [`canonical_ip`] or
//! [`canonical_net`] before it is compared, so that a target, an exclusion, an allow-list entry,
//! a suppression or a feed entry means the same host whichever way it was written.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

/// The IPv4 address an IPv4-mapped IPv6 address carries; any other address unchanged.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// An IPv4-mapped IPv6 network (`::ffff:a.b.c.d/96+n`) as the IPv4 network it stands for
/// (`a.b.c.d/n`), host bits cleared; any other network with its host bits cleared.
pub fn canonical_net(net: IpNet) -> IpNet {
    let net = net.trunc();
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_and_networks_are_their_ipv4_form() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        assert_eq!(canonical_ip(ip("::ffff:127.0.0.3")), ip("127.0.0.3"));
        assert_eq!(canonical_ip(ip("::1")), ip("::1"));
        assert_eq!(canonical_ip(ip("10.0.0.1")), ip("10.0.0.1"));
        assert_eq!(
            canonical_net(net("::ffff:127.0.0.0/126")),
            net("127.0.0.0/30")
        );
        assert_eq!(
            canonical_net(net("::ffff:127.0.0.5/126")),
            net("127.0.0.4/30")
        );
        assert_eq!(canonical_net(net("::ffff:0:0/96")), net("0.0.0.0/0"));
        assert_eq!(canonical_net(net("::/0")), net("::/0"));
        assert_eq!(canonical_net(net("2001:db8::1/32")), net("2001:db8::/32"));
        assert_eq!(canonical_net(net("10.1.2.3/8")), net("10.0.0.0/8"));
    }
}
