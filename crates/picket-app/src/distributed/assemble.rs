//! Assembling a host from the shards that scanned it: each shard covered one port block of the
//! host, so the ports of the parts never overlap and the whole is their union, summarised again
//! as the engine summarises one host. A host is up when any part found it up; a part that
//! found it down (or a block whose shard never came back, in a stopped run) leaves its ports
//! undecided (`unprobed`), never closed.
//!
//! Pure: it must never do I/O, and never count a port twice or drop one.

use std::collections::BTreeMap;

use picket_model::{HostReason, HostResult, HostState, HostStats, Observation, PortSet};

/// One shard's view of a host: the ports the shard covered and what it found.
pub(crate) struct Part<'a> {
    pub ports: &'a PortSet,
    pub host: &'a HostResult,
}

/// The host as one scan of all the parts' ports (and the `missing` blocks' ports) would have
/// reported it. `None` without parts.
pub(crate) fn merge(parts: &[Part<'_>], missing: &[&PortSet]) -> Option<HostResult> {
    let first = parts.first()?.host;
    let up: Vec<&Part<'_>> = parts
        .iter()
        .filter(|p| p.host.state == HostState::Up)
        .collect();
    if up.is_empty() && missing.is_empty() {
        let mut down = first.clone();
        down.stats = merged_stats(parts);
        return Some(down);
    }
    let reason = up
        .iter()
        .map(|p| p.host.reason)
        .find(|r| *r == HostReason::PortAnswered)
        .or_else(|| up.first().map(|p| p.host.reason))
        .unwrap_or(first.reason);
    let mut observations: BTreeMap<u16, Observation> = BTreeMap::new();
    let mut unprobed: Vec<u16> = Vec::new();
    for part in parts {
        if part.host.state != HostState::Up {
            unprobed.extend(part.ports.iter());
            continue;
        }
        for o in &part.host.ports {
            observations.insert(o.port, o.clone());
        }
        unprobed.extend(part.host.unprobed.iter().copied());
        // The engine summarises at most one (state, reason): the ports of the block that are
        // neither listed nor unprobed are those.
        if let [extra] = part.host.extra_ports.as_slice() {
            for port in part.ports.iter() {
                let listed = part
                    .host
                    .ports
                    .binary_search_by_key(&port, |o| o.port)
                    .is_ok();
                if !listed && !part.host.unprobed.contains(&port) {
                    observations.insert(port, Observation::new(port, extra.reason, None, 1));
                }
            }
        }
    }
    for block in missing {
        unprobed.extend(block.iter());
    }
    unprobed.sort_unstable();
    unprobed.dedup();
    let state = if up.is_empty() {
        first.state
    } else {
        HostState::Up
    };
    let (ports, extra_ports) = if state == HostState::Up {
        HostResult::summarise(
            observations.into_values().collect(),
            picket_scan::SUMMARISE_ABOVE,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let mut interruptions: Vec<_> = parts
        .iter()
        .flat_map(|p| p.host.interruptions.iter().cloned())
        .collect();
    interruptions.sort_by_key(|i| i.at);
    Some(HostResult {
        address: first.address,
        hostname: first.hostname.clone(),
        reverse_name: first.reverse_name.clone(),
        state,
        reason: if state == HostState::Up {
            reason
        } else {
            first.reason
        },
        ports,
        extra_ports,
        unprobed: if state == HostState::Up {
            unprobed
        } else {
            Vec::new()
        },
        interruptions,
        stats: merged_stats(parts),
    })
}

/// Probes and answers add up; loss is weighted by probes; the slowest timeout and the most
/// retries any part needed stand; the round trip is the best-measured part's.
fn merged_stats(parts: &[Part<'_>]) -> HostStats {
    let probes: u64 = parts.iter().map(|p| p.host.stats.probes_sent).sum();
    let loss = if probes == 0 {
        0.0
    } else {
        parts
            .iter()
            .map(|p| p.host.stats.loss * p.host.stats.probes_sent as f64)
            .sum::<f64>()
            / probes as f64
    };
    HostStats {
        probes_sent: probes,
        answers: parts.iter().map(|p| p.host.stats.answers).sum(),
        srtt: parts
            .iter()
            .max_by_key(|p| p.host.stats.answers)
            .and_then(|p| p.host.stats.srtt),
        loss,
        retries: parts
            .iter()
            .map(|p| p.host.stats.retries)
            .max()
            .unwrap_or(0),
        read_timeout: parts
            .iter()
            .map(|p| p.host.stats.read_timeout)
            .max()
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_model::{PortState, Reason};
    use std::time::Duration;

    fn host(state: HostState, observations: Vec<Observation>, unprobed: Vec<u16>) -> HostResult {
        let (ports, extra_ports) =
            HostResult::summarise(observations, picket_scan::SUMMARISE_ABOVE);
        HostResult {
            address: "10.0.0.1".parse().unwrap(),
            hostname: None,
            reverse_name: None,
            state,
            reason: if state == HostState::Up {
                HostReason::PortAnswered
            } else {
                HostReason::NoResponse
            },
            ports,
            extra_ports,
            unprobed,
            interruptions: Vec::new(),
            stats: HostStats {
                probes_sent: 100,
                answers: 50,
                srtt: Some(Duration::from_millis(1)),
                loss: 0.0,
                retries: 1,
                read_timeout: Duration::from_millis(200),
            },
        }
    }

    fn scanned(ports: &PortSet, open: &[u16], silent: &[u16]) -> Vec<Observation> {
        ports
            .iter()
            .map(|p| {
                let reason = if open.contains(&p) {
                    Reason::SynAck
                } else if silent.contains(&p) {
                    Reason::NoResponse
                } else {
                    Reason::Reset
                };
                Observation::new(p, reason, None, 1)
            })
            .collect()
    }

    #[test]
    fn two_blocks_make_the_host_one_scan_would_report() {
        let (a, b) = (
            PortSet::from_ports((1..=200).filter(|p| p % 2 == 0)),
            PortSet::from_ports((1..=200).filter(|p| p % 2 == 1)),
        );
        let whole = PortSet::from_ports(1..=200);
        let (open, silent) = ([22, 80, 443], [135, 139, 137, 138]);
        let one = host(HostState::Up, scanned(&whole, &open, &silent), vec![]);
        let pa = host(HostState::Up, scanned(&a, &open, &silent), vec![]);
        let pb = host(HostState::Up, scanned(&b, &open, &silent), vec![]);
        let merged = merge(
            &[
                Part {
                    ports: &a,
                    host: &pa,
                },
                Part {
                    ports: &b,
                    host: &pb,
                },
            ],
            &[],
        )
        .unwrap();
        for port in whole.iter() {
            assert_eq!(
                merged.state_of(port, &whole),
                one.state_of(port, &whole),
                "port {port}"
            );
        }
        assert_eq!(merged.ports, one.ports);
        assert_eq!(merged.extra_ports, one.extra_ports);
        assert_eq!(merged.stats.probes_sent, 200);
    }

    #[test]
    fn a_part_that_found_the_host_down_and_a_missing_block_leave_ports_undecided() {
        let (a, b, c) = (
            PortSet::from_ports(1..=50),
            PortSet::from_ports(51..=100),
            PortSet::from_ports(101..=150),
        );
        let pa = host(HostState::Up, scanned(&a, &[22], &[]), vec![]);
        let pb = host(HostState::Down, vec![], vec![]);
        let merged = merge(
            &[
                Part {
                    ports: &a,
                    host: &pa,
                },
                Part {
                    ports: &b,
                    host: &pb,
                },
            ],
            &[&c],
        )
        .unwrap();
        let all = PortSet::from_ports(1..=150);
        assert_eq!(merged.state, HostState::Up);
        assert_eq!(
            merged.state_of(22, &all),
            Some((PortState::Open, Reason::SynAck))
        );
        assert_eq!(merged.state_of(60, &all), None);
        assert_eq!(merged.state_of(120, &all), None);
        assert_eq!(merged.unprobed.len(), 100);
    }

    #[test]
    fn a_host_down_in_every_part_is_down() {
        let a = PortSet::from_ports(1..=10);
        let pa = host(HostState::Down, vec![], vec![]);
        let merged = merge(
            &[
                Part {
                    ports: &a,
                    host: &pa,
                },
                Part {
                    ports: &a,
                    host: &pa,
                },
            ],
            &[],
        )
        .unwrap();
        assert_eq!(merged.state, HostState::Down);
        assert!(merged.ports.is_empty() && merged.unprobed.is_empty());
        assert_eq!(merged.stats.probes_sent, 200);
    }
}
