//! Scan runs: the profile a run used, what it found per host, and how it ended.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::observation::{millis, opt_micros};
use crate::{
    HostReason, HostState, Observation, PortSet, PortState, Reason, Recheck, Targets, Timestamp,
};

/// A run's identity in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

fn default_ban_patience() -> Duration {
    ScanProfile::DEFAULT_BAN_PATIENCE
}

/// The validated knobs of one scan. Named after what Nessus and Nmap users know; every field has
/// a default that needs no tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanProfile {
    pub ports: PortSet,
    /// A fixed per-probe read timeout (Nessus `checks_read_timeout`). `None`: measured from the
    /// round-trip times as the scan goes.
    #[serde(default, with = "opt_micros", rename = "read_timeout_us")]
    pub read_timeout: Option<Duration>,
    /// Ceiling on probes in flight at once (Nessus `max_checks`).
    pub max_checks: usize,
    /// Ceiling on probes per second. `None`: found by the engine, no ceiling.
    pub max_rate: Option<f64>,
    /// Retries per silent port. `None`: chosen from the loss the engine measures.
    pub retries: Option<u8>,
    /// Scan hosts even when nothing answers (Nmap `-Pn`): no host discovery.
    pub assume_up: bool,
    /// How long a host that went silent mid-scan (a ban) is waited for before its remaining
    /// ports are given up as unprobed.
    #[serde(
        default = "default_ban_patience",
        with = "millis",
        rename = "ban_patience_ms"
    )]
    pub ban_patience: Duration,
    /// Re-check ports that were open in the previous run and are not open now.
    pub recheck: bool,
    /// Seed of the probe order, so that a run can be replayed.
    pub seed: u64,
}

impl ScanProfile {
    pub const DEFAULT_MAX_CHECKS: usize = 4096;
    /// Long enough for the common two-minute bans of an IPS or fail2ban-style rule.
    pub const DEFAULT_BAN_PATIENCE: Duration = Duration::from_secs(300);

    /// The defaults for scanning `ports`.
    pub fn new(ports: PortSet) -> Self {
        Self {
            ports,
            read_timeout: None,
            max_checks: Self::DEFAULT_MAX_CHECKS,
            max_rate: None,
            retries: None,
            assume_up: false,
            ban_patience: Self::DEFAULT_BAN_PATIENCE,
            recheck: true,
            seed: 0x5049_434b_4554,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Completed,
    /// Stopped before every port was probed (Ctrl-C, an error).
    Aborted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Aborted => "aborted",
        }
    }
}

/// Ports that share one state and reason, summarised instead of listed (Nmap's `extraports`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraPorts {
    pub state: PortState,
    pub reason: Reason,
    pub count: u32,
}

/// What the engine measured about a host while scanning it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostStats {
    pub probes_sent: u64,
    pub answers: u64,
    /// Smoothed round-trip time.
    #[serde(default, with = "opt_micros", rename = "srtt_us")]
    pub srtt: Option<Duration>,
    /// Share of probes that went unanswered but whose port answered a later retry: the loss the
    /// path showed, as opposed to filtered ports.
    pub loss: f64,
    /// The retry limit the engine settled on.
    pub retries: u8,
    /// The read timeout the engine ended with.
    #[serde(with = "millis", rename = "read_timeout_ms")]
    pub read_timeout: Duration,
}

/// A moment when a host that had been answering went silent on every port at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interruption {
    pub at: Timestamp,
    /// Probes the host had answered before it went silent.
    pub answered_before: u64,
    /// Consecutive unanswered probes that raised the alarm.
    pub silent_probes: u64,
    /// A port that had answered earlier in the run and was asked again, in vain.
    pub canary_port: Option<u16>,
    /// The fastest probe rate the host was last seen to answer at in full: above it, it went
    /// silent.
    pub rate: f64,
    /// Whether the host answered again after the engine paused and slowed down.
    pub resumed: bool,
    /// How long the engine waited before the host answered again (or gave up).
    #[serde(with = "millis", rename = "paused_ms")]
    pub paused: Duration,
}

/// Everything one run learned about one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostResult {
    pub address: IpAddr,
    /// The name the user gave, when the address came from resolving it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The name a reverse DNS lookup gave for the address (`picket scan -R`), when asked for
    /// and found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse_name: Option<String>,
    pub state: HostState,
    pub reason: HostReason,
    /// Every port whose state is not summarised in `extra_ports`, ascending.
    pub ports: Vec<Observation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_ports: Vec<ExtraPorts>,
    /// Ports that were never decided because the host stopped answering and did not come back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unprobed: Vec<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interruptions: Vec<Interruption>,
    pub stats: HostStats,
}

impl HostResult {
    /// The state this run found for `port`, looking through the summary, or `None` if the run
    /// did not decide it (not scanned, host down, unprobed after an interruption).
    pub fn state_of(&self, port: u16, scanned: &PortSet) -> Option<(PortState, Reason)> {
        if let Ok(i) = self.ports.binary_search_by_key(&port, |o| o.port) {
            let o = &self.ports[i];
            return Some((o.state, o.reason));
        }
        if self.state == HostState::Down || !scanned.contains(port) || self.unprobed.contains(&port)
        {
            return None;
        }
        match self.extra_ports.as_slice() {
            [only] => Some((only.state, only.reason)),
            _ => None,
        }
    }

    /// The open ports, ascending.
    pub fn open_ports(&self) -> impl Iterator<Item = &Observation> {
        self.ports.iter().filter(|o| o.state == PortState::Open)
    }

    /// Moves the most common (state, reason) among `observations` into one summary row once it
    /// covers more than `threshold` ports, keeping every open port listed.
    pub fn summarise(
        observations: Vec<Observation>,
        threshold: usize,
    ) -> (Vec<Observation>, Vec<ExtraPorts>) {
        let mut counts: std::collections::HashMap<(PortState, Reason), u32> = Default::default();
        for o in &observations {
            if o.state != PortState::Open {
                *counts.entry((o.state, o.reason)).or_default() += 1;
            }
        }
        let Some((&(state, reason), &count)) = counts.iter().max_by_key(|(k, c)| (**c, **k)) else {
            return (observations, Vec::new());
        };
        if (count as usize) <= threshold {
            return (observations, Vec::new());
        }
        let listed = observations
            .into_iter()
            .filter(|o| !(o.state == state && o.reason == reason))
            .collect();
        (
            listed,
            vec![ExtraPorts {
                state,
                reason,
                count,
            }],
        )
    }
}

/// One scan run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRun {
    pub id: RunId,
    pub targets: Targets,
    /// [`Targets::key`] of `targets`: runs with the same key are compared by default.
    pub target_key: String,
    pub profile: ScanProfile,
    pub started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    pub status: RunStatus,
    pub hosts: Vec<HostResult>,
    /// Re-checks done after the scan, including those that corrected it (`still-open`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rechecks: Vec<Recheck>,
    /// Hosts found down that `hosts` does not list: a run of very many targets keeps in
    /// memory only the down hosts a comparison needs (the store has every host). 0 for a run
    /// read from the store.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unlisted_down: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ScanRun {
    pub fn host(&self, address: IpAddr) -> Option<&HostResult> {
        self.hosts.iter().find(|h| h.address == address)
    }

    /// Every host of the run, listed or not.
    pub fn hosts_total(&self) -> u64 {
        self.hosts.len() as u64 + self.unlisted_down
    }

    /// Hosts found up.
    pub fn hosts_up(&self) -> u64 {
        self.hosts
            .iter()
            .filter(|h| h.state == HostState::Up)
            .count() as u64
    }
}

/// A run as listed by `picket runs`: no per-port detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: RunId,
    pub target_key: String,
    pub ports: PortSet,
    pub started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    pub status: RunStatus,
    pub hosts_up: u32,
    pub hosts_total: u32,
    pub open_ports: u32,
}

/// One port whose state differs between two runs (`None`: not decided by that run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortChange {
    pub host: IpAddr,
    pub port: u16,
    pub protocol: crate::Protocol,
    pub before: Option<PortState>,
    pub before_reason: Option<Reason>,
    pub after: Option<PortState>,
    pub after_reason: Option<Reason>,
}

/// What changed from one run to another of the same targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDiff {
    pub from: RunId,
    pub to: RunId,
    /// Hosts up in `to` and not in `from`, and the reverse.
    pub hosts_up: Vec<IpAddr>,
    pub hosts_down: Vec<IpAddr>,
    /// Port changes, ordered by host then port.
    pub changes: Vec<PortChange>,
    /// When the runs scanned different ports: the ports both scanned, the only ones compared
    /// (a port one run did not scan has not changed, it was not looked at).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared_ports: Option<PortSet>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(port: u16, reason: Reason) -> Observation {
        Observation::new(port, reason, None, 1)
    }

    #[test]
    fn summarises_the_common_state_but_never_open_ports() {
        let mut all: Vec<Observation> = (1..=100).map(|p| obs(p, Reason::Reset)).collect();
        all[21] = obs(22, Reason::SynAck);
        all[79] = obs(80, Reason::NoResponse);
        let (listed, extra) = HostResult::summarise(all, 10);
        assert_eq!(
            listed.iter().map(|o| o.port).collect::<Vec<_>>(),
            vec![22, 80]
        );
        assert_eq!(
            extra,
            vec![ExtraPorts {
                state: PortState::Closed,
                reason: Reason::Reset,
                count: 98
            }]
        );
    }

    #[test]
    fn state_of_looks_through_the_summary() {
        let (ports, extra_ports) = HostResult::summarise(
            (1..=50)
                .map(|p| {
                    obs(
                        p,
                        if p == 7 {
                            Reason::SynAck
                        } else {
                            Reason::Reset
                        },
                    )
                })
                .collect(),
            5,
        );
        let host = HostResult {
            address: "127.0.0.1".parse().unwrap(),
            hostname: None,
            reverse_name: None,
            state: HostState::Up,
            reason: HostReason::PortAnswered,
            ports,
            extra_ports,
            unprobed: vec![9],
            interruptions: vec![],
            stats: HostStats::default(),
        };
        let scanned: PortSet = "1-50".parse().unwrap();
        assert_eq!(
            host.state_of(7, &scanned),
            Some((PortState::Open, Reason::SynAck))
        );
        assert_eq!(
            host.state_of(8, &scanned),
            Some((PortState::Closed, Reason::Reset))
        );
        assert_eq!(host.state_of(9, &scanned), None);
        assert_eq!(host.state_of(51, &scanned), None);
    }
}
