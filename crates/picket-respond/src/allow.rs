//! The allow-list: networks no block may ever touch.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use picket_model::canonical_net;

use crate::RespondError;

/// Networks that must never be blocked: loopback and the addresses that are no single client
/// (always), our home networks and any further
/// networks the operator names. A block is refused if it overlaps one of them **in either
/// direction**: a block inside an allowed network (`10.1.2.3` when `10.1.0.0/16` is home) and a
/// block around one (`10.0.0.0/8`, or `0.0.0.0/0`, which covers loopback) are both refused.
///
/// ```
/// use picket_respond::AllowList;
/// let home = ["10.1.0.0/16".parse().unwrap()];
/// let allow = AllowList::new(&home, &[]);
/// assert!(allow.check(&"10.0.0.0/8".parse().unwrap()).is_err());
/// assert!(allow.check(&"127.0.0.5/32".parse().unwrap()).is_err());
/// assert!(allow.check(&"192.0.2.7/32".parse().unwrap()).is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    /// Truncated to their network address, without duplicates, loopback first.
    nets: Vec<IpNet>,
}

/// Protected whatever the flags say: loopback (127.0.0.0/8, ::1), since blocking it breaks the
/// host itself, and what is never one client's address: "this network" and unspecified
/// (0.0.0.0/8, ::), limited broadcast (255.255.255.255) and multicast (224.0.0.0/4, ff00::/8).
fn always_protected() -> [IpNet; 7] {
    [
        IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
        IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
        IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::UNSPECIFIED, 8)),
        IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::UNSPECIFIED, 128)),
        IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::BROADCAST, 32)),
        IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(224, 0, 0, 0), 4)),
        IpNet::V6(Ipv6Net::new_assert(
            Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
            8,
        )),
    ]
}

impl AllowList {
    /// The always-protected networks (loopback first), then `home_nets`, then `extra`. Host
    /// bits are ignored (`10.1.2.3/16` means `10.1.0.0/16`). Nothing given here can remove a
    /// network from the list: protected networks only add up.
    ///
    /// ```
    /// let allow = picket_respond::AllowList::new(&[], &[]);
    /// assert_eq!(allow.nets().len(), 7); // loopback, unspecified, broadcast, multicast
    /// ```
    pub fn new(home_nets: &[IpNet], extra: &[IpNet]) -> Self {
        let mut nets: Vec<IpNet> = Vec::new();
        for net in always_protected().iter().chain(home_nets).chain(extra) {
            let net = canonical_net(*net);
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        AllowList { nets }
    }

    /// The allowed networks, loopback first.
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    /// `Ok` if blocking `net` touches no allowed network, else [`RespondError::Allowed`] naming
    /// the first allowed network it would hit. An IPv4-mapped IPv6 network (`::ffff:a.b.c.d`)
    /// is judged as the IPv4 network it stands for, and an IPv6 network wide enough to hold all
    /// of `::ffff:0:0/96` as covering all of IPv4: a mapped address is still that IPv4 host.
    ///
    /// ```
    /// use picket_respond::{AllowList, RespondError};
    /// let allow = AllowList::new(&["10.1.0.0/16".parse().unwrap()], &[]);
    /// match allow.check(&"10.0.0.0/8".parse().unwrap()) {
    ///     Err(RespondError::Allowed { allowed_by, .. }) => assert_eq!(allowed_by.to_string(), "10.1.0.0/16"),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn check(&self, net: &IpNet) -> Result<(), RespondError> {
        // The network itself first, so that the allowed network named is the one in the
        // family the user wrote.
        let views = [Some(canonical_net(*net)), ipv4_view(net)];
        for view in views.iter().flatten() {
            if let Some(allowed) = self.nets.iter().find(|allowed| overlaps(allowed, view)) {
                return Err(RespondError::Allowed {
                    net: *net,
                    allowed_by: *allowed,
                });
            }
        }
        Ok(())
    }
}

/// Two CIDR networks share an address exactly when one contains the other.
pub(crate) fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

/// `0.0.0.0/0` if `net` is an IPv6 network that holds every IPv4-mapped address.
fn ipv4_view(net: &IpNet) -> Option<IpNet> {
    let mapped = IpNet::V6(Ipv6Net::new_assert(
        Ipv4Addr::UNSPECIFIED.to_ipv6_mapped(),
        96,
    ));
    (net.prefix_len() < 96 && net.contains(&mapped))
        .then(|| IpNet::new_assert(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn hit(allow: &AllowList, s: &str) -> Option<String> {
        match allow.check(&net(s)) {
            Ok(()) => None,
            Err(RespondError::Allowed { allowed_by, .. }) => Some(allowed_by.to_string()),
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn loopback_is_always_allowed() {
        let allow = AllowList::new(&[], &[]);
        assert_eq!(hit(&allow, "127.0.0.5/32").as_deref(), Some("127.0.0.0/8"));
        assert_eq!(hit(&allow, "0.0.0.0/0").as_deref(), Some("127.0.0.0/8"));
        assert_eq!(hit(&allow, "::1/128").as_deref(), Some("::1/128"));
        assert_eq!(hit(&allow, "::/0").as_deref(), Some("::1/128"));
        assert_eq!(
            hit(&allow, "::ffff:127.0.0.1/128").as_deref(),
            Some("127.0.0.0/8")
        );
        assert_eq!(hit(&allow, "128.0.0.0/2"), None);
        assert_eq!(hit(&allow, "::2/128"), None);
    }

    #[test]
    fn home_nets_are_refused_in_both_directions() {
        let allow = AllowList::new(&[net("10.1.0.0/16")], &[net("2001:db8:1::/48")]);
        assert_eq!(hit(&allow, "10.0.0.0/8").as_deref(), Some("10.1.0.0/16"));
        assert_eq!(hit(&allow, "10.1.2.3/32").as_deref(), Some("10.1.0.0/16"));
        assert_eq!(hit(&allow, "10.1.0.0/16").as_deref(), Some("10.1.0.0/16"));
        assert_eq!(hit(&allow, "10.2.0.0/16"), None);
        assert_eq!(
            hit(&allow, "2001:db8::/32").as_deref(),
            Some("2001:db8:1::/48")
        );
        assert_eq!(
            hit(&allow, "2001:db8:1:2::9/128").as_deref(),
            Some("2001:db8:1::/48")
        );
        assert_eq!(hit(&allow, "2001:db8:2::/48"), None);
        // An IPv4 home net is not touched by IPv6 blocks other than its mapped form.
        assert_eq!(
            hit(&allow, "::ffff:10.1.9.9/128").as_deref(),
            Some("10.1.0.0/16")
        );
        assert_eq!(hit(&allow, "fd00::/8"), None);
    }

    #[test]
    fn ipv6_blocks_around_the_mapped_range_count_as_all_of_ipv4() {
        let allow = AllowList::new(&[], &[]);
        assert_eq!(hit(&allow, "::ffff:0:0/95").as_deref(), Some("127.0.0.0/8"));
        assert_eq!(hit(&allow, "::ffff:0:0/97").as_deref(), Some("127.0.0.0/8"));
        assert_eq!(hit(&allow, "::ffff:128.0.0.0/98"), None);
    }

    #[test]
    fn list_is_truncated_deduplicated_and_loopback_first() {
        let allow = AllowList::new(
            &[net("10.1.2.3/16"), net("127.0.0.1/8")],
            &[net("10.1.0.0/16")],
        );
        let shown: Vec<String> = allow.nets().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "127.0.0.0/8",
                "::1/128",
                "0.0.0.0/8",
                "::/128",
                "255.255.255.255/32",
                "224.0.0.0/4",
                "ff00::/8",
                "10.1.0.0/16"
            ]
        );
    }

    /// A network inside a small universe: `base` plus `offset`, with a prefix of at least
    /// `min_len`, so that the oracle can enumerate every address.
    fn small_net(base: IpAddr, universe_bits: u8) -> impl Strategy<Value = IpNet> {
        let max_len: u8 = if base.is_ipv4() { 32 } else { 128 };
        (0u32..(1 << universe_bits), 0..=universe_bits).prop_map(move |(offset, host_bits)| {
            let addr = match base {
                IpAddr::V4(b) => IpAddr::V4(Ipv4Addr::from(u32::from(b) + offset)),
                IpAddr::V6(b) => IpAddr::V6(Ipv6Addr::from(u128::from(b) + u128::from(offset))),
            };
            IpNet::new_assert(addr, max_len - host_bits).trunc()
        })
    }

    /// Every address of the universe: the oracle knows nothing about prefixes.
    fn universe(base: IpAddr, universe_bits: u8) -> Vec<IpAddr> {
        (0u32..(1 << universe_bits))
            .map(|offset| match base {
                IpAddr::V4(b) => IpAddr::V4(Ipv4Addr::from(u32::from(b) + offset)),
                IpAddr::V6(b) => IpAddr::V6(Ipv6Addr::from(u128::from(b) + u128::from(offset))),
            })
            .collect()
    }

    fn check_against_oracle(base: IpAddr, bits: u8, allowed: &[IpNet], blocked: &IpNet) {
        let allow = AllowList::new(allowed, &[]);
        let addrs = universe(base, bits);
        let shares = |a: &IpNet| {
            addrs
                .iter()
                .any(|ip| a.contains(ip) && blocked.contains(ip))
        };
        let expected: Vec<&IpNet> = allowed.iter().filter(|a| shares(a)).collect();
        match allow.check(blocked) {
            Ok(()) => assert!(
                expected.is_empty(),
                "{blocked} passed but overlaps {expected:?}"
            ),
            Err(RespondError::Allowed { allowed_by, .. }) => {
                assert!(
                    shares(&allowed_by),
                    "{blocked} refused for {allowed_by}, no overlap"
                );
                assert_eq!(Some(&allowed_by), expected.first().copied());
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    proptest! {
        #[test]
        fn check_matches_brute_force_v4(
            allowed in proptest::collection::vec(small_net(IpAddr::from([10, 0, 0, 0]), 5), 0..4),
            blocked in small_net(IpAddr::from([10, 0, 0, 0]), 5),
        ) {
            check_against_oracle(IpAddr::from([10, 0, 0, 0]), 5, &allowed, &blocked);
        }

        #[test]
        fn check_matches_brute_force_v6(
            allowed in proptest::collection::vec(small_net("fd00::".parse().unwrap(), 5), 0..4),
            blocked in small_net("fd00::".parse().unwrap(), 5),
        ) {
            check_against_oracle("fd00::".parse().unwrap(), 5, &allowed, &blocked);
        }
    }
}
