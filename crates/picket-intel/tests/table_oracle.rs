//! The lookup table against a naive oracle (a linear scan over every indicator), over random
//! prefixes and addresses, IPv4 and IPv6: the same indicators, widest network first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use picket_intel::{Indicator, IntelTable};
use proptest::prelude::*;

/// Prefixes crowded into a few regions so that they nest and repeat, with some anywhere.
fn v4_net() -> impl Strategy<Value = IpNet> {
    let crowded = (0u32..4, any::<u16>(), 8u8..=32).prop_map(|(region, low, len)| {
        let addr = (region << 24) | (u32::from(low) << 4);
        Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap().trunc()
    });
    let anywhere = (any::<u32>(), 0u8..=32)
        .prop_map(|(addr, len)| Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap().trunc());
    prop_oneof![4 => crowded, 1 => anywhere].prop_map(IpNet::V4)
}

fn v6_net() -> impl Strategy<Value = IpNet> {
    let crowded = (0u128..4, any::<u32>(), 16u8..=128).prop_map(|(region, low, len)| {
        let addr =
            (0x2a06u128 << 112) | (region << 100) | (u128::from(low) << 60) | u128::from(low);
        Ipv6Net::new(Ipv6Addr::from(addr), len).unwrap().trunc()
    });
    let anywhere = (any::<u128>(), 0u8..=128)
        .prop_map(|(addr, len)| Ipv6Net::new(Ipv6Addr::from(addr), len).unwrap().trunc());
    prop_oneof![4 => crowded, 1 => anywhere].prop_map(IpNet::V6)
}

fn indicators(nets: &[IpNet]) -> Vec<Indicator> {
    nets.iter()
        .enumerate()
        .map(|(i, n)| Indicator::new(*n, format!("feed{}", i % 3)))
        .collect()
}

/// Addresses worth asking about: every prefix's edges and their neighbours, and random ones.
fn probes(nets: &[IpNet], random: &[IpAddr]) -> Vec<IpAddr> {
    let mut out = random.to_vec();
    for n in nets {
        match n {
            IpNet::V4(n) => {
                let (a, b) = (u32::from(n.network()), u32::from(n.broadcast()));
                for x in [a.wrapping_sub(1), a, b, b.wrapping_add(1)] {
                    out.push(IpAddr::V4(Ipv4Addr::from(x)));
                }
            }
            IpNet::V6(n) => {
                let (a, b) = (u128::from(n.network()), u128::from(n.broadcast()));
                for x in [a.wrapping_sub(1), a, b, b.wrapping_add(1)] {
                    out.push(IpAddr::V6(Ipv6Addr::from(x)));
                }
            }
        }
    }
    out
}

fn check(nets: Vec<IpNet>, random: Vec<IpAddr>) -> Result<(), TestCaseError> {
    let inds = indicators(&nets);
    let table = IntelTable::build(inds.clone()).unwrap();
    for addr in probes(&nets, &random) {
        let mut want: Vec<u32> = inds
            .iter()
            .enumerate()
            .filter(|(_, i)| i.network.contains(&addr))
            .map(|(id, _)| id as u32)
            .collect();
        let got = table.lookup_ids(addr);
        let lens: Vec<u8> = got
            .iter()
            .map(|id| table.indicator(*id).unwrap().network.prefix_len())
            .collect();
        prop_assert!(
            lens.windows(2).all(|w| w[0] <= w[1]),
            "not widest first at {}: {:?}",
            addr,
            lens
        );
        let mut got = got.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        prop_assert_eq!(&got, &want, "at {}", addr);
        prop_assert_eq!(table.lookup(addr).count(), want.len());
        let mut feeds: Vec<&str> = want
            .iter()
            .map(|id| inds[*id as usize].feed.as_str())
            .collect();
        feeds.sort_unstable();
        feeds.dedup();
        prop_assert_eq!(table.feed_count(addr), feeds.len(), "feeds at {}", addr);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn v4_matches_linear_scan(
        mut nets in prop::collection::vec(v4_net(), 0..80),
        random in prop::collection::vec(any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))), 0..50),
        repeat in 0usize..5,
    ) {
        // The same network from several feeds: each listing must answer.
        let again: Vec<IpNet> = nets.iter().take(repeat).copied().collect();
        nets.extend(again);
        check(nets, random)?;
    }

    #[test]
    fn v6_matches_linear_scan(
        nets in prop::collection::vec(v6_net(), 0..80),
        random in prop::collection::vec(any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))), 0..50),
    ) {
        check(nets, random)?;
    }

    #[test]
    fn mixed_families_match_linear_scan(
        v4 in prop::collection::vec(v4_net(), 0..40),
        v6 in prop::collection::vec(v6_net(), 0..40),
        random in prop::collection::vec(any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))), 0..20),
    ) {
        let mut nets = v4;
        nets.extend(v6);
        check(nets, random)?;
    }
}

#[test]
fn whole_spaces_and_their_edges() {
    let nets: Vec<IpNet> = [
        "0.0.0.0/0",
        "255.255.255.255/32",
        "0.0.0.0/32",
        "::/0",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
        "::/128",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    check(nets, vec![]).unwrap();
    let empty = IntelTable::build(vec![]).unwrap();
    assert!(empty.is_empty());
    assert!(!empty.contains("1.2.3.4".parse().unwrap()));
    assert!(!empty.contains("::1".parse().unwrap()));
}

#[test]
fn mapped_addresses_find_ipv4_entries() {
    let table = IntelTable::build(indicators(&["192.0.2.0/24".parse().unwrap()])).unwrap();
    assert!(table.contains("::ffff:192.0.2.9".parse().unwrap()));
    assert_eq!(table.stats().prefixes_v4, 1);
}

/// An indicator of `net` with its optional fields set or not by `bits`, in one of a few feeds
/// and categories, so that slices share some labels and bring others of their own.
fn rich_indicator(i: usize, net: IpNet, bits: u8) -> Indicator {
    let mut ind = Indicator::new(net, format!("feed{}", (i / 7) % 3));
    if bits & 1 != 0 {
        ind.score = Some(f64::from(bits));
    }
    if bits & 2 != 0 {
        ind.category = Some(["attacks", "malware"][i % 2].to_owned());
    }
    if bits & 4 != 0 {
        ind.comment = Some(format!("entry {i}"));
    }
    if bits & 8 != 0 {
        ind.first_seen = jiff::Timestamp::from_second(1_700_000_000 + i as i64).ok();
        ind.last_seen = jiff::Timestamp::from_second(1_700_000_100 + i as i64).ok();
    }
    ind
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Slices of a list pushed into builders of their own and appended in order build the table
    /// that pushing the whole list into one builder builds: every indicator by id, and every
    /// lookup.
    #[test]
    fn appended_slices_build_the_whole_table(
        listed in prop::collection::vec((prop_oneof![v4_net(), v6_net()], any::<u8>()), 0..120),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        random in prop::collection::vec(any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))), 0..20),
    ) {
        let inds: Vec<Indicator> = listed
            .iter()
            .enumerate()
            .map(|(i, (net, bits))| rich_indicator(i, *net, *bits))
            .collect();
        let whole = IntelTable::build(inds.clone()).unwrap();
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(inds.len() + 1)).collect();
        at.sort_unstable();
        let mut joined = IntelTable::builder();
        let mut start = 0;
        for end in at.into_iter().chain([inds.len()]) {
            let mut part = IntelTable::builder();
            for ind in &inds[start..end] {
                part.push(ind.clone()).unwrap();
            }
            joined.append(part).unwrap();
            start = end;
        }
        let joined = joined.finish().unwrap();
        prop_assert_eq!(joined.len(), whole.len());
        for id in 0..whole.len() as u32 {
            prop_assert_eq!(joined.indicator(id), whole.indicator(id));
        }
        let nets: Vec<IpNet> = inds.iter().map(|i| i.network).collect();
        for addr in probes(&nets, &random) {
            prop_assert_eq!(joined.lookup_ids(addr), whole.lookup_ids(addr));
        }
    }
}

/// The real feed samples (FireHOL level1 with its wide ranges, Spamhaus DROP, IPsum, Feodo, Tor
/// exits): every network's edges and their neighbours, and addresses spread over the whole IPv4
/// space, most of them in /20s no sample touches (the table answers those from its /20 map).
#[test]
fn real_feed_samples_match_the_oracle() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut nets = Vec::new();
    for name in [
        "firehol_level1_sample.netset",
        "spamhaus_drop_sample.netset",
        "ipsum_sample.txt",
        "feodo_sample.ipset",
        "tor_exits_sample.ipset",
    ] {
        let feed =
            picket_intel::load_file(name, &dir.join(name), &picket_intel::LoadOptions::default())
                .unwrap();
        assert!(!feed.indicators.is_empty(), "{name}");
        nets.extend(feed.indicators.iter().map(|i| i.network));
    }
    // A fixed walk that scatters them over the space (a multiplicative step).
    let spread: Vec<IpAddr> = (0u32..20_000)
        .map(|i| IpAddr::V4(Ipv4Addr::from(i.wrapping_mul(0x9E37_79B9))))
        .collect();
    check(nets, spread).unwrap();
}
