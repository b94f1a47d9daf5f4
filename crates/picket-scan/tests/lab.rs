//! The engine in a network-namespace lab, in process, on hosts like real ones: a clean host, a
//! host whose firewall drops and rejects ranges (with the kernel's ICMP rate limit), a
//! default-drop host (with and without loss), a sparse subnet of dead addresses, a group of hosts
//! with different firewalls, and addresses with no route. Each test asserts the exact open set
//! and the host states, never times. (IPS, ban and re-check scenarios run against the binary,
//! in `crates/picket/tests/e2e`.) Skipped (with a message) when not root or without `ip`/`nft`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use picket_lab::{Firewall, Lab, Reject, Target};
use picket_model::{HostReason, HostResult, HostState, PortSet, PortState, ScanProfile, top_ports};
use picket_scan::{ScanHost, scan};

/// `count` ports spread over `1..=max`, from a fixed seed.
fn spread(count: usize, max: u32, seed: u32) -> Vec<u16> {
    let mut x = seed;
    let mut ports = BTreeSet::new();
    while ports.len() < count {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        ports.insert(((x >> 8) % max + 1) as u16);
    }
    ports.into_iter().collect()
}

/// 463 ports spread over the whole range, as in the lab the issues describe.
fn open_set() -> Vec<u16> {
    spread(463, 65535, 12345)
}

fn scan_in_lab(lab: &Lab, targets: Vec<IpAddr>, profile: ScanProfile) -> Vec<HostResult> {
    lab.in_scanner(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let hosts = targets
            .into_iter()
            .map(|address| ScanHost {
                address,
                hostname: None,
            })
            .collect();
        rt.block_on(scan(hosts, &profile, &mut |_| {}, std::future::pending()))
            .hosts
    })
    .unwrap()
}

fn scan_one(lab: &Lab, target: IpAddr, profile: ScanProfile) -> HostResult {
    scan_in_lab(lab, vec![target], profile).remove(0)
}

fn setup(name: &str, rules: Firewall) -> Option<(Lab, Target, picket_lab::Listeners, Vec<u16>)> {
    let mut lab = Lab::try_new(name).unwrap()?;
    let target = lab.add_target().unwrap();
    let ports = open_set();
    let listeners = target.listen(&ports).unwrap();
    target.firewall(&rules).unwrap();
    Some((lab, target, listeners, ports))
}

/// Every port of `scanned` decided, the open ones exactly `expected`.
fn assert_exact(host: &HostResult, expected: &[u16], scanned: usize) {
    assert_eq!(host.state, HostState::Up, "{} is down", host.address);
    let found: Vec<u16> = host.open_ports().map(|o| o.port).collect();
    let missed: Vec<_> = expected.iter().filter(|p| !found.contains(p)).collect();
    let extra: Vec<_> = found.iter().filter(|p| !expected.contains(p)).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "{}: missed {missed:?}, false positives {extra:?}; stats {:?}",
        host.address,
        host.stats
    );
    assert!(
        host.unprobed.is_empty(),
        "{}: {} ports left unprobed",
        host.address,
        host.unprobed.len()
    );
    let decided = host.ports.len()
        + host
            .extra_ports
            .iter()
            .map(|e| e.count as usize)
            .sum::<usize>();
    assert_eq!(decided, scanned, "{}", host.address);
}

/// A full-range scan of a host listening on [`open_set`] behind `rules` finds exactly that set.
fn full_range_is_exact(name: &str, rules: Firewall) {
    let Some((lab, target, _l, ports)) = setup(name, rules) else {
        return;
    };
    let host = scan_one(
        &lab,
        target.address_v4().into(),
        ScanProfile::new(PortSet::all()),
    );
    assert_exact(&host, &ports, 65535);
}

#[test]
fn full_range_clean() {
    full_range_is_exact("scan_clean", Firewall::new());
}

#[test]
fn ipv6_target() {
    let Some((lab, target, _l, ports)) = setup("scan_v6", Firewall::new()) else {
        return;
    };
    let profile = ScanProfile::new("1-20000".parse().unwrap());
    let host = scan_one(&lab, target.address_v6().into(), profile);
    let expected: Vec<u16> = ports.into_iter().filter(|p| *p <= 20000).collect();
    assert_exact(&host, &expected, 20000);
}

#[test]
fn ranges_dropped_and_rejected_with_rate_limited_icmp() {
    let rules = Firewall::new()
        .drop_ports(20000..=24999)
        .reject_ports(25000..=25999, Reject::AdminProhibited);
    let Some((lab, target, _l, ports)) = setup("scan_firewalled", rules) else {
        return;
    };
    target.kernel_icmp_rate_limit(true).unwrap();
    let host = scan_one(
        &lab,
        target.address_v4().into(),
        ScanProfile::new(PortSet::all()),
    );
    let expected: Vec<u16> = ports
        .into_iter()
        .filter(|p| !(20000..=25999).contains(p))
        .collect();
    assert_exact(&host, &expected, 65535);
    for port in [20000, 22222, 24999, 25000, 25500, 25999] {
        let (state, _) = host.state_of(port, &PortSet::all()).unwrap();
        assert_eq!(state, PortState::Filtered, "port {port}");
    }
    assert!(host.interruptions.is_empty(), "{:?}", host.interruptions);
}

#[test]
fn the_rejected_range_alone() {
    let rules = Firewall::new().reject_ports(25000..=25999, Reject::AdminProhibited);
    let Some((lab, target, _l, ports)) = setup("scan_rejected", rules) else {
        return;
    };
    target.kernel_icmp_rate_limit(true).unwrap();
    let host = scan_one(
        &lab,
        target.address_v4().into(),
        ScanProfile::new("25000-25999".parse().unwrap()),
    );
    assert_exact(&host, &[], 1000);
    assert!(ports.iter().all(|p| {
        !(25000..=25999).contains(p)
            || host
                .state_of(*p, &PortSet::all())
                .is_some_and(|(s, _)| s == PortState::Filtered)
    }));
}

#[test]
fn default_drop_host_full_range() {
    full_range_is_exact("scan_default_drop", Firewall::new().allow_only(open_set()));
}

#[test]
fn default_drop_host_with_loss() {
    let ports = open_set();
    let rules = Firewall::new().allow_only(ports).random_loss(3);
    let Some((lab, target, _l, ports)) = setup("scan_default_drop_loss", rules) else {
        return;
    };
    let host = scan_one(
        &lab,
        target.address_v4().into(),
        ScanProfile::new("1-30000".parse().unwrap()),
    );
    let expected: Vec<u16> = ports.into_iter().filter(|p| *p <= 30000).collect();
    assert_exact(&host, &expected, 30000);
}

#[test]
fn default_drop_host_with_one_open_port_is_found_by_arp() {
    let Some(mut lab) = Lab::try_new("scan_default_drop_one").unwrap() else {
        return;
    };
    let target = lab.add_target().unwrap();
    let _l = target.listen(&[8443]).unwrap();
    target
        .firewall(&Firewall::new().allow_only([8443]))
        .unwrap();
    let host = scan_one(
        &lab,
        target.address_v4().into(),
        ScanProfile::new("1-10000".parse().unwrap()),
    );
    assert_eq!(host.reason, HostReason::ArpResponse);
    assert_exact(&host, &[8443], 10000);
}

#[test]
fn sparse_subnet_costs_one_discovery_round_per_dead_address() {
    let Some(mut lab) = Lab::try_new("scan_sparse").unwrap() else {
        return;
    };
    let segment = lab.add_segment().unwrap();
    let live = lab.add_host(&segment, 9).unwrap();
    let drop_host = lab.add_host(&segment, 40).unwrap();
    let _a = live.listen(&[22, 80, 443, 8080]).unwrap();
    let _b = drop_host.listen(&[443, 9000]).unwrap();
    drop_host
        .firewall(&Firewall::new().allow_only([443, 9000]))
        .unwrap();
    let cidr: ipnet::IpNet = segment.cidr_v4().parse().unwrap();
    let scanner = IpAddr::V4(segment.scanner_address_v4());
    let targets: Vec<IpAddr> = cidr.hosts().filter(|a| *a != scanner).collect();
    let n = targets.len();
    let scanned = PortSet::from_ports(top_ports(1000).unwrap());
    let expect = |ports: &[u16]| -> Vec<u16> {
        ports
            .iter()
            .copied()
            .filter(|p| scanned.contains(*p))
            .collect()
    };
    let hosts = scan_in_lab(&lab, targets, ScanProfile::new(scanned.clone()));
    assert_eq!(hosts.len(), n);
    let up: Vec<&HostResult> = hosts.iter().filter(|h| h.state == HostState::Up).collect();
    let up_addresses: Vec<IpAddr> = up.iter().map(|h| h.address).collect();
    assert_eq!(
        up_addresses,
        vec![
            IpAddr::from(live.address_v4()),
            drop_host.address_v4().into()
        ]
    );
    assert_exact(up[0], &expect(&[22, 80, 443, 8080]), 1000);
    assert_exact(up[1], &expect(&[443, 9000]), 1000);
    for h in hosts.iter().filter(|h| h.state == HostState::Down) {
        assert_eq!(h.reason, HostReason::HostUnreach, "{}", h.address);
        assert!(h.ports.is_empty());
    }
}

#[test]
fn a_group_of_hosts_with_different_firewalls() {
    let Some(mut lab) = Lab::try_new("scan_group").unwrap() else {
        return;
    };
    let scanned: PortSet = "1-6000".parse().unwrap();
    let rules = [
        Firewall::new(),
        Firewall::new().random_loss(3),
        Firewall::new().syn_rate_limit(2000),
        Firewall::new().ban_after(1500, Duration::from_secs(2)),
        // Filled in below: default-drop needs the host's own open set.
        Firewall::new(),
    ];
    let mut expected = Vec::new();
    let mut addresses = Vec::new();
    let mut guards = Vec::new();
    for (i, rule) in rules.into_iter().enumerate() {
        let target = lab.add_target().unwrap();
        let ports = spread(40, 6000, 777 + i as u32);
        guards.push(target.listen(&ports).unwrap());
        let rule = if i == 4 {
            Firewall::new().allow_only(ports.clone())
        } else {
            rule
        };
        target.firewall(&rule).unwrap();
        addresses.push(IpAddr::from(target.address_v4()));
        expected.push(ports);
    }
    let hosts = scan_in_lab(&lab, addresses, ScanProfile::new(scanned));
    for (host, expected) in hosts.iter().zip(&expected) {
        assert_exact(host, expected, 6000);
    }
}

#[test]
fn addresses_without_a_route_are_down_at_once() {
    let Some(lab) = Lab::try_new("scan_no_route").unwrap() else {
        return;
    };
    // Lab addresses that no target or segment uses: the scanner namespace has no route to
    // them, so nothing is even sent.
    let cidr: ipnet::IpNet = "198.19.128.0/20".parse().unwrap();
    let targets: Vec<IpAddr> = cidr.hosts().collect();
    let n = targets.len();
    let profile = ScanProfile::new(PortSet::from_ports(top_ports(100).unwrap()));
    let hosts = scan_in_lab(&lab, targets, profile);
    assert_eq!(hosts.len(), n);
    assert!(
        hosts
            .iter()
            .all(|h| h.state == HostState::Down && h.reason == HostReason::NetUnreach),
        "{:?}",
        hosts.iter().find(|h| h.reason != HostReason::NetUnreach)
    );
}
