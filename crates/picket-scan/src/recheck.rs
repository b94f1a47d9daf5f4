//! The patient re-check: ports that were open before and are not open now are asked again,
//! slowly, several times over a few seconds, together with ports that prove the host alive.
//!
//! It must not be what trips an IPS: it paces its probes per host (20/s, a tenth of the rate at
//! which the host went silent after interference, up to 100/s only for hosts with many suspects
//! and no interference), spaces its rounds, and slows down further by itself when a round goes
//! unanswered.
//!
//! It must not be fooled by periodic patterns either (a port that flaps on a timer, a balancer
//! or a shared round-robin that answers every other SYN): each round asks its ports in a new
//! random order, the gaps between probes and between rounds are jittered, and every probe sent,
//! liveness probes included, is kept as evidence.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::stream::{FuturesUnordered, StreamExt};
use picket_model::{ProbeRecord, Reason};
use tokio::time::Instant;

use crate::permute::splitmix64;
use crate::probe::{LocalError, probe};

/// What to re-check on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecheckPlan {
    pub host: IpAddr,
    /// The suspect ports.
    pub ports: Vec<u16>,
    /// Ports that answered during the run, asked to prove the host is still there.
    pub liveness: Vec<u16>,
}

/// How patient the re-check is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecheckSettings {
    /// Rounds for a host with few suspects; hosts with many get fewer (at least 3).
    pub rounds: u8,
    /// Time between the starts of two rounds.
    pub spacing: Duration,
    /// Read timeout of each probe.
    pub timeout: Duration,
    /// Probes per second per host.
    pub rate: f64,
    /// Seed of the probe order and the jitter, so that a re-check can be replayed.
    pub seed: u64,
}

impl RecheckSettings {
    /// Patient defaults derived from what the scan measured: a read timeout four times the scan's
    /// (at least one second, at most five); 20 probes/s per host, or a tenth of the rate at
    /// which a host went silent (at most 20/s) if one did. `suspects` is the largest number of
    /// suspect ports on one host: a host with many gets up to 100 probes/s when nothing
    /// interfered, so that a re-check of hundreds of ports takes seconds, not minutes.
    pub fn patient(scan_timeout: Duration, silenced_at_rate: Option<f64>, suspects: usize) -> Self {
        let rate = match silenced_at_rate {
            Some(r) => (r / 10.0).clamp(2.0, 20.0),
            None => (suspects as f64 / 2.0).clamp(20.0, 100.0),
        };
        Self {
            rounds: 6,
            spacing: Duration::from_millis(600),
            timeout: (scan_timeout * 4).clamp(Duration::from_secs(1), Duration::from_secs(5)),
            rate,
            seed: 0x7265_6368_6563_6b21,
        }
    }
}

/// Every probe the re-check sent to one host.
#[derive(Debug, Clone, PartialEq)]
pub struct RecheckResult {
    pub host: IpAddr,
    pub probes: BTreeMap<u16, Vec<ProbeRecord>>,
    pub liveness: Vec<ProbeRecord>,
    /// The rate the re-check ended at (lower than configured if it had to slow down).
    pub rate: f64,
    pub timeout: Duration,
}

/// After a round in which nothing answered, later rounds ask the liveness ports and at most this
/// many suspects: a silent host says the same about every port, and asking hundreds of them
/// again only delays the verdict.
const SILENT_ROUND_SAMPLE: usize = 16;

/// Re-checks every plan, hosts in parallel.
pub async fn recheck(plans: Vec<RecheckPlan>, settings: RecheckSettings) -> Vec<RecheckResult> {
    join_all(plans.into_iter().map(|plan| recheck_host(plan, settings))).await
}

async fn recheck_host(plan: RecheckPlan, settings: RecheckSettings) -> RecheckResult {
    let start = Instant::now();
    let rounds = (96 / plan.ports.len().max(1)).clamp(3, usize::from(settings.rounds.max(3)));
    let mut jitter = Jitter::new(settings.seed ^ address_seed(plan.host));
    let mut spacing = settings.spacing;
    let mut rate = settings.rate;
    let mut probes: BTreeMap<u16, Vec<ProbeRecord>> = BTreeMap::new();
    let mut liveness = Vec::new();
    let mut answered_before = false;
    let mut suspects = plan.ports.len();
    for _ in 0..rounds {
        let round_start = Instant::now();
        let mut in_flight = FuturesUnordered::new();
        let mut targets: Vec<(u16, bool)> = plan
            .liveness
            .iter()
            .map(|p| (*p, true))
            .chain(plan.ports.iter().take(suspects).map(|p| (*p, false)))
            .collect();
        jitter.shuffle(&mut targets);
        for (i, (port, is_liveness)) in targets.into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(jitter.around(Duration::from_secs_f64(1.0 / rate))).await;
            }
            let addr = SocketAddr::new(plan.host, port);
            let at = start.elapsed();
            in_flight.push(async move {
                (
                    port,
                    is_liveness,
                    at,
                    probe_patiently(addr, settings.timeout).await,
                )
            });
        }
        let mut any_answer = false;
        while let Some((port, is_liveness, at, (reason, rtt))) = in_flight.next().await {
            any_answer |= reason.is_answer();
            let record = ProbeRecord {
                port,
                at_ms: at.as_millis() as u64,
                outcome: reason,
                rtt,
            };
            if is_liveness {
                liveness.push(record);
            } else {
                probes.entry(port).or_default().push(record);
            }
        }
        if answered_before && !any_answer {
            // Everything went quiet after answers: maybe we are the problem. Slow down.
            rate = (rate / 2.0).max(1.0);
            spacing *= 2;
        }
        if !any_answer {
            suspects = suspects.min(SILENT_ROUND_SAMPLE);
        }
        answered_before |= any_answer;
        tokio::time::sleep_until(round_start + jitter.around(spacing)).await;
    }
    liveness.sort_by_key(|r| r.at_ms);
    for records in probes.values_mut() {
        records.sort_by_key(|r| r.at_ms);
    }
    RecheckResult {
        host: plan.host,
        probes,
        liveness,
        rate,
        timeout: settings.timeout,
    }
}

fn address_seed(address: IpAddr) -> u64 {
    match address {
        IpAddr::V4(a) => u64::from(a.to_bits()),
        IpAddr::V6(a) => {
            let bits = a.to_bits();
            (bits >> 64) as u64 ^ bits as u64
        }
    }
}

/// The re-check's randomness: a seeded generator for the probe order and the jitter of gaps.
struct Jitter(u64);

impl Jitter {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        splitmix64(self.0)
    }

    /// A uniform number in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `base` times a factor drawn from `[0.5, 1.5)`: no two gaps alike, the mean kept.
    fn around(&mut self, base: Duration) -> Duration {
        base.mul_f64(0.5 + self.unit())
    }

    /// Fisher-Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// One re-check probe; a local failure (descriptors, self-connect) is retried, never recorded.
async fn probe_patiently(addr: SocketAddr, timeout: Duration) -> (Reason, Option<Duration>) {
    for _ in 0..5 {
        match probe(addr, timeout).await {
            Ok(r) => return (r.reason, r.rtt),
            Err(LocalError::Exhausted(_) | LocalError::SelfConnect | LocalError::Other(_)) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    (Reason::NoResponse, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[tokio::test]
    async fn rechecks_open_closed_and_liveness_on_loopback() {
        let open = TcpListener::bind("127.0.0.1:0").unwrap();
        let open_port = open.local_addr().unwrap().port();
        let closed_port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let settings = RecheckSettings {
            rounds: 3,
            spacing: Duration::from_millis(20),
            timeout: Duration::from_millis(500),
            rate: 200.0,
            seed: 1,
        };
        let plan = RecheckPlan {
            host: "127.0.0.1".parse().unwrap(),
            ports: vec![closed_port],
            liveness: vec![open_port],
        };
        let result = recheck(vec![plan], settings).await.remove(0);
        let closed = &result.probes[&closed_port];
        assert_eq!(closed.len(), 3);
        assert!(closed.iter().all(|r| r.outcome == Reason::Reset));
        assert_eq!(result.liveness.len(), 3);
        assert!(result.liveness.iter().all(|r| r.outcome == Reason::SynAck));
        assert!(closed.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    }

    #[test]
    fn every_round_asks_in_a_new_order_with_uneven_gaps() {
        let mut j = Jitter::new(7);
        let orders: Vec<Vec<u16>> = (0..6)
            .map(|_| {
                let mut ports = vec![1, 2, 3];
                j.shuffle(&mut ports);
                ports
            })
            .collect();
        assert!(orders.iter().any(|o| o != &orders[0]), "{orders:?}");
        let gaps: Vec<Duration> = (0..20)
            .map(|_| j.around(Duration::from_millis(100)))
            .collect();
        assert!(gaps.iter().all(|g| (50..150).contains(&g.as_millis())));
        assert!(gaps.windows(2).any(|w| w[0] != w[1]));
    }
}
