//! The engine in a network-namespace lab, in process: a full 65,535-port scan finds exactly the
//! open set, over IPv4 and IPv6. (Loss and IPS scenarios run against the binary, in
//! `crates/picket/tests/e2e`.) Skipped (with a message) when not root or without `ip`/`nft`.

use std::net::IpAddr;

use picket_lab::{Firewall, Lab, Target};
use picket_model::{HostResult, HostState, PortSet, ScanProfile};
use picket_scan::{ScanHost, scan};

/// 463 ports spread over the whole range, as in the lab the issue describes.
fn open_set() -> Vec<u16> {
    let mut x: u32 = 12345;
    let mut ports = std::collections::BTreeSet::new();
    while ports.len() < 463 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let p = ((x >> 8) % 65535 + 1) as u16;
        ports.insert(p);
    }
    ports.into_iter().collect()
}

fn scan_in_lab(lab: &Lab, target: IpAddr, profile: ScanProfile) -> HostResult {
    lab.in_scanner(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let hosts = vec![ScanHost {
            address: target,
            hostname: None,
        }];
        let mut outcome = rt.block_on(scan(hosts, &profile, &mut |_| {}, std::future::pending()));
        outcome.hosts.remove(0)
    })
    .unwrap()
}

fn setup(name: &str, rules: Firewall) -> Option<(Lab, Target, picket_lab::Listeners, Vec<u16>)> {
    let mut lab = Lab::try_new(name).unwrap()?;
    let target = lab.add_target().unwrap();
    let ports = open_set();
    let listeners = target.listen(&ports).unwrap();
    target.firewall(&rules).unwrap();
    Some((lab, target, listeners, ports))
}

fn assert_exact(host: &HostResult, expected: &[u16]) {
    assert_eq!(host.state, HostState::Up);
    let found: Vec<u16> = host.open_ports().map(|o| o.port).collect();
    let missed: Vec<_> = expected.iter().filter(|p| !found.contains(p)).collect();
    let extra: Vec<_> = found.iter().filter(|p| !expected.contains(p)).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "missed {missed:?}, false positives {extra:?}; stats {:?}",
        host.stats
    );
    assert!(
        host.unprobed.is_empty(),
        "{} ports left unprobed",
        host.unprobed.len()
    );
    let decided: u32 =
        host.ports.len() as u32 + host.extra_ports.iter().map(|e| e.count).sum::<u32>();
    assert_eq!(decided, 65535);
}

#[test]
fn full_range_clean() {
    let Some((lab, target, _l, ports)) = setup("scan_clean", Firewall::new()) else {
        return;
    };
    let host = scan_in_lab(
        &lab,
        target.address_v4().into(),
        ScanProfile::new(PortSet::all()),
    );
    assert_exact(&host, &ports);
}

#[test]
fn ipv6_target() {
    let Some((lab, target, _l, ports)) = setup("scan_v6", Firewall::new()) else {
        return;
    };
    let profile = ScanProfile::new("1-20000".parse().unwrap());
    let host = scan_in_lab(&lab, target.address_v6().into(), profile);
    let expected: Vec<u16> = ports.into_iter().filter(|p| *p <= 20000).collect();
    let found: Vec<u16> = host.open_ports().map(|o| o.port).collect();
    assert_eq!(found, expected);
}
