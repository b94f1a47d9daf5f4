//! Comparing two runs: what changed, which ports need a re-check, which ports prove a host alive,
//! and how a run is corrected once a re-check found a port open after all.

use std::collections::BTreeSet;
use std::net::IpAddr;

use picket_model::{
    HostReason, HostResult, HostState, Observation, PortChange, PortSet, PortState, Protocol,
    Reason, Recheck, RunDiff, ScanRun, Verdict,
};

/// What `run` decided about `port` on `host` (`None`: host absent from the run, or the run did
/// not decide the port).
fn state_in(run: &ScanRun, host: Option<&HostResult>, port: u16) -> Option<(PortState, Reason)> {
    host.and_then(|h| h.state_of(port, &run.profile.ports))
}

fn is_up(host: Option<&HostResult>) -> bool {
    host.is_some_and(|h| h.state == HostState::Up)
}

/// What changed from `prev` to `cur`.
///
/// Ports are compared through [`HostResult::state_of`], so a port listed in one run and
/// summarised (`extra_ports`) in the other is compared with the summary's state. The ports
/// compared are those either run lists or left unprobed; ports summarised in both runs are not
/// compared one by one, because a change of the summary itself (say, every closed port of a host
/// now filtered) would otherwise become thousands of rows that say one thing. A change is a
/// different state (`None` when a run did not decide the port); a different reason for the same
/// state (reset versus port-unreach) is not a change.
///
/// Only ports both runs scanned are compared: a port outside one run's `-p` was not looked at
/// then, which is no change. [`RunDiff::compared_ports`] says so when the port sets differ.
///
/// Hosts absent from a run count as not up in it.
pub fn diff(prev: &ScanRun, cur: &ScanRun) -> RunDiff {
    let (before_ports, after_ports) = (&prev.profile.ports, &cur.profile.ports);
    let compared_ports = (before_ports != after_ports)
        .then(|| PortSet::from_ports(before_ports.iter().filter(|p| after_ports.contains(*p))));
    let both_scanned = |port: u16| before_ports.contains(port) && after_ports.contains(port);
    let addresses: BTreeSet<IpAddr> = prev
        .hosts
        .iter()
        .chain(&cur.hosts)
        .map(|h| h.address)
        .collect();

    let mut hosts_up = Vec::new();
    let mut hosts_down = Vec::new();
    let mut changes = Vec::new();
    for address in addresses {
        let before_host = prev.host(address);
        let after_host = cur.host(address);
        match (is_up(before_host), is_up(after_host)) {
            (false, true) => hosts_up.push(address),
            (true, false) => hosts_down.push(address),
            _ => {}
        }

        let ports: BTreeSet<u16> = [before_host, after_host]
            .into_iter()
            .flatten()
            .flat_map(|h| {
                h.ports
                    .iter()
                    .map(|o| o.port)
                    .chain(h.unprobed.iter().copied())
            })
            .filter(|port| both_scanned(*port))
            .collect();
        for port in ports {
            let before = state_in(prev, before_host, port);
            let after = state_in(cur, after_host, port);
            if before.map(|(s, _)| s) != after.map(|(s, _)| s) {
                changes.push(PortChange {
                    host: address,
                    port,
                    protocol: Protocol::Tcp,
                    before: before.map(|(s, _)| s),
                    before_reason: before.map(|(_, r)| r),
                    after: after.map(|(s, _)| s),
                    after_reason: after.map(|(_, r)| r),
                });
            }
        }
    }

    RunDiff {
        from: prev.id,
        to: cur.id,
        hosts_up,
        hosts_down,
        changes,
        compared_ports,
    }
}

/// A port open in the previous run that this run did not find open (closed, filtered, or
/// undecided: host down, unprobed after an interruption).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspect {
    pub host: IpAddr,
    pub hostname: Option<String>,
    pub port: u16,
    pub previous_reason: Reason,
    /// What this run said about the port (`None`: the run did not decide it).
    pub scan_reason: Option<Reason>,
}

/// The ports that need a re-check, ordered by host then port.
///
/// Only ports this run was asked to scan, on hosts this run scanned, are suspects: a port left
/// out of `-p`, or an address no longer in the run (the targets changed, or a name now resolves
/// elsewhere), was not looked at, and re-checking it would probe something the user did not ask
/// for this time.
pub fn suspects(prev: &ScanRun, cur: &ScanRun) -> Vec<Suspect> {
    let mut found = Vec::new();
    for before in &prev.hosts {
        let Some(after) = cur.host(before.address) else {
            continue;
        };
        for open in before.open_ports() {
            if !cur.profile.ports.contains(open.port) {
                continue;
            }
            let now = after.state_of(open.port, &cur.profile.ports);
            if now.is_some_and(|(state, _)| state == PortState::Open) {
                continue;
            }
            found.push(Suspect {
                host: before.address,
                hostname: after.hostname.clone().or_else(|| before.hostname.clone()),
                port: open.port,
                previous_reason: open.reason,
                scan_reason: now.map(|(_, reason)| reason),
            });
        }
    }
    found.sort_by_key(|s| (s.host, s.port));
    found
}

/// Up to `n` ports to prove the host alive during the re-check: ports that answered in this run
/// (open first, then closed, lowest round-trip time first), then ports open in the previous run,
/// never a suspect.
///
/// Only open and closed ports count as answers from the host itself: an ICMP message about a
/// filtered port may come from a firewall or router in front of it, which says nothing about
/// whether the host is there. Ports summarised in `extra_ports` are not listed one by one, so
/// they cannot be chosen.
pub fn liveness_ports(
    cur: Option<&HostResult>,
    prev: Option<&HostResult>,
    suspects: &[u16],
    n: usize,
) -> Vec<u16> {
    let mut answered: Vec<&Observation> = cur
        .into_iter()
        .flat_map(|h| &h.ports)
        .filter(|o| matches!(o.state, PortState::Open | PortState::Closed))
        .filter(|o| !suspects.contains(&o.port))
        .collect();
    // Open ports first (a listener answers reliably), then the fastest, so the re-check learns
    // quickly; ports without a measured RTT go last, and the port number breaks ties so that the
    // choice is stable.
    answered.sort_by_key(|o| (o.state != PortState::Open, o.rtt.is_none(), o.rtt, o.port));

    let fallback = prev
        .into_iter()
        .flat_map(|h| h.open_ports())
        .map(|o| o.port)
        .filter(|p| !suspects.contains(p));

    let mut chosen: Vec<u16> = Vec::with_capacity(n);
    for port in answered.iter().map(|o| o.port).chain(fallback) {
        if chosen.len() == n {
            break;
        }
        if !chosen.contains(&port) {
            chosen.push(port);
        }
    }
    chosen
}

/// Sets the observation of every re-checked port that the re-check saw open to open (reason
/// syn-ack from the re-check), so that the stored run is truthful: `still-open` ports, and
/// `scan-interrupted` ports whose re-check got a syn-ack (the scan lost them to interference, the
/// port is open). `flapping` ports keep what the scan saw: neither state is the truth. The
/// [`Recheck`] records keep what the scan had said. The caller stores the re-checks with the run.
///
/// A port that was summarised or left unprobed is listed from now on (the summary count drops by
/// one), and a host recorded as down is up: the re-check proved it answers. Re-checks of hosts
/// absent from `cur` change nothing.
pub fn apply_corrections(cur: &mut ScanRun, rechecks: &[Recheck]) {
    let proven_open = |r: &&Recheck| match r.verdict {
        Verdict::StillOpen => true,
        Verdict::ScanInterrupted => r
            .evidence
            .probes
            .iter()
            .any(|p| p.outcome == Reason::SynAck),
        _ => false,
    };
    for recheck in rechecks.iter().filter(proven_open) {
        let scanned = &cur.profile.ports;
        let Some(host) = cur.hosts.iter_mut().find(|h| h.address == recheck.host) else {
            continue;
        };
        let probes = &recheck.evidence.probes;
        let first_open = probes.iter().position(|p| p.outcome == Reason::SynAck);
        let corrected = Observation {
            port: recheck.port,
            protocol: recheck.protocol,
            state: PortState::Open,
            reason: Reason::SynAck,
            rtt: first_open.and_then(|i| probes[i].rtt),
            // Probes the re-check needed to see the syn-ack.
            attempts: first_open.map_or(1, |i| u8::try_from(i + 1).unwrap_or(u8::MAX)),
            icmp_from: None,
            service: None,
        };
        match host.ports.binary_search_by_key(&recheck.port, |o| o.port) {
            Ok(i) => host.ports[i] = corrected,
            Err(i) => {
                let summarised = host.state != HostState::Down
                    && scanned.contains(recheck.port)
                    && !host.unprobed.contains(&recheck.port)
                    && host.extra_ports.len() == 1;
                if summarised {
                    host.extra_ports[0].count = host.extra_ports[0].count.saturating_sub(1);
                    host.extra_ports.retain(|e| e.count > 0);
                }
                host.unprobed.retain(|p| *p != recheck.port);
                host.ports.insert(i, corrected);
            }
        }
        if host.state == HostState::Down {
            host.state = HostState::Up;
            host.reason = HostReason::PortAnswered;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(port: u16, reason: Reason, rtt_us: Option<u64>) -> Observation {
        Observation::new(
            port,
            reason,
            rtt_us.map(std::time::Duration::from_micros),
            1,
        )
    }

    fn host(ports: Vec<Observation>) -> HostResult {
        HostResult {
            address: "192.0.2.7".parse().unwrap(),
            hostname: None,
            reverse_name: None,
            state: HostState::Up,
            reason: HostReason::PortAnswered,
            ports,
            extra_ports: vec![],
            unprobed: vec![],
            interruptions: vec![],
            stats: Default::default(),
        }
    }

    #[test]
    fn liveness_prefers_open_then_closed_then_fastest() {
        let cur = host(vec![
            obs(21, Reason::Reset, Some(90)),
            obs(22, Reason::SynAck, Some(400)),
            obs(25, Reason::Reset, None),
            obs(80, Reason::SynAck, Some(300)),
            obs(113, Reason::AdminProhibited, Some(10)),
            obs(443, Reason::SynAck, None),
            obs(8080, Reason::NoResponse, None),
        ]);
        assert_eq!(
            liveness_ports(Some(&cur), None, &[22], 10),
            vec![80, 443, 21, 25]
        );
        assert_eq!(liveness_ports(Some(&cur), None, &[22], 2), vec![80, 443]);
        assert!(liveness_ports(Some(&cur), None, &[], 0).is_empty());
    }

    #[test]
    fn liveness_falls_back_to_previously_open_ports_that_are_not_suspects() {
        let prev = host(vec![
            obs(22, Reason::SynAck, None),
            obs(80, Reason::SynAck, None),
            obs(443, Reason::SynAck, None),
        ]);
        let cur = host(vec![obs(80, Reason::SynAck, Some(200))]);
        assert_eq!(
            liveness_ports(Some(&cur), Some(&prev), &[22], 5),
            vec![80, 443]
        );
        assert_eq!(liveness_ports(None, Some(&prev), &[22], 5), vec![80, 443]);
        assert!(liveness_ports(None, None, &[22], 5).is_empty());
    }
}
