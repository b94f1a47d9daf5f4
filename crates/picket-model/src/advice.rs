//! What a finding tells a person, as data: its summary, the steps of its remediation and the
//! command that verifies the fix, each a typed value carrying the numbers and names its sentence
//! needs. `picket-report` puts them into words, in one place.
//!
//! This module must never hold a sentence. The one exception is the `Written` variants: text an
//! older build stored in words, read back and shown as it was written, never built anew.
//!
//! Stored shape: each value is its serde JSON (externally tagged, kebab-case); a `Written` value
//! is the plain string it always was, so rows of older builds decode unchanged.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::observation::{millis, opt_micros};
use crate::{HostReason, PortState, Reason, RunId, Timestamp};

/// The one sentence a person reads first. The finding's own fields (host, hostname, port,
/// protocol) complete it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Summary {
    /// The port now refuses connections: `refused` of `probes` re-check probes drew a reset.
    Closed {
        previous_run: RunId,
        refused: usize,
        probes: usize,
    },
    /// A filter now covers the port while the host is alive.
    Filtered {
        previous_run: RunId,
        /// Re-check probes a filter answered with ICMP admin-prohibited.
        admin_prohibited: usize,
        /// Re-check probes that went unanswered.
        silent: usize,
        probes: usize,
        /// Liveness ports that answered the re-check.
        alive_ports: Vec<u16>,
        /// A re-check probe of the port drew a reset (the only proof of life when no liveness
        /// port answered).
        reset_seen: bool,
    },
    /// The host is down.
    HostDown {
        previous_run: RunId,
        cause: DownCause,
    },
    /// Interference kept the scan from deciding the port.
    ScanInterrupted {
        previous_run: RunId,
        /// The re-check got a syn-ack: the port is open and the scan was disturbed.
        open_now: bool,
        /// What this run's scan said before the re-check (`None`: undecided).
        scan_reason: Option<Reason>,
        cause: InterruptCause,
    },
    /// The port answered some re-check probes and not others.
    Flapping {
        answered: usize,
        refused: usize,
        ignored: usize,
        probes: usize,
    },
    /// A port open now that was not open in the previous run.
    NewOpenPort { previous_run: RunId, before: Before },
    /// A detected service whose version has known vulnerabilities.
    VulnerableService {
        /// Product and version as detected (`OpenSSH 9.2p1`), or the service name.
        service: String,
        vulns: usize,
        /// The most urgent vulnerability and its CVSS base score.
        worst: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worst_cvss: Option<f64>,
        /// Vulnerabilities in CISA's KEV catalog.
        kev: usize,
        /// Every match may be fixed by a distribution backport.
        version_based: bool,
    },
    /// A summary an older build stored in words.
    #[serde(untagged)]
    Written(String),
}

/// Why a host is judged down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DownCause {
    /// The scan found it unreachable (our stack or a router said so).
    ScanUnreachable { reason: HostReason },
    /// A router answered the re-check with an unreachable.
    RouterAnswered { reason: Reason },
    /// Neither the scan nor any of `probes` re-check probes got an answer.
    NoAnswer { probes: usize },
}

/// What interfered with the scan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterruptCause {
    /// The host stopped answering mid-scan, at `at`, while the scan sent `rate` probes/s.
    WentSilent { at: Timestamp, rate: f64 },
    /// A rate limit: the scan lost this share of its probes to the host.
    LostProbes { loss: f64 },
    /// The host answered earlier in the run and answers nothing now.
    StoppedAnswering,
}

/// What the previous run knew of a port that is open now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Before {
    /// It had this state, for this reason.
    Was { state: PortState, reason: Reason },
    /// The host was not in that run.
    HostNotInRun,
    /// The port was not decided then.
    Undecided,
}

/// A host went silent mid-scan: what it had answered, when, and at what rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub answered_before: u64,
    pub at: Timestamp,
    pub rate: f64,
}

/// One step of a remediation, most useful first in a finding's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Remediation {
    /// Check (and restart) the service that listened on the port.
    CheckStoppedService { host: IpAddr, port: u16 },
    /// If the service was retired on purpose, confirm the change was planned.
    ConfirmRetirement,
    /// A firewall now drops (or rejects, `admin_prohibited`) the port: review recent changes.
    ReviewFirewall {
        host: IpAddr,
        port: u16,
        admin_prohibited: bool,
    },
    /// Allow the scanner to the port, or take the finding as confirmation of a planned change.
    AllowScannerToPort { port: u16 },
    /// Check that the host is powered on and connected.
    CheckHostPower { host: IpAddr },
    /// A router or our own stack said unreachable: check the route and the gateway.
    CheckRoute,
    /// Re-scan once the host is back.
    RescanWhenBack,
    /// Allow-list the scanner in the IPS or firewall in front of the host.
    AllowListScanner {
        host: IpAddr,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        silence: Option<Silence>,
    },
    /// Lower `--max-rate` to `to`, below the rate at which answers stopped when known.
    LowerMaxRate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stopped_at: Option<f64>,
        to: f64,
    },
    /// Lower `--max-checks` from what the run allowed to `to`.
    LowerMaxChecks { allowed: usize, to: usize },
    /// Raise `--read-timeout` to `to`; the scan waited `waited` per probe and lost `loss`.
    RaiseReadTimeout {
        #[serde(
            default,
            with = "opt_micros",
            skip_serializing_if = "Option::is_none",
            rename = "waited_us"
        )]
        waited: Option<Duration>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        loss: Option<f64>,
        #[serde(with = "millis", rename = "to_ms")]
        to: Duration,
    },
    /// Check the health of the service on the port.
    CheckServiceHealth { port: u16 },
    /// Check the members behind a load balancer.
    CheckBalancerMembers,
    /// Re-check later: persistent flapping means failing clients.
    RecheckLater,
    /// Confirm the service should be exposed.
    ConfirmExposure,
    /// Identify what listens on the port.
    IdentifyListener { host: IpAddr, port: u16 },
    /// Patch the vulnerabilities exploited in the wild first; restrict the port until then.
    PatchExploitedFirst { ids: Vec<String>, port: u16 },
    /// Upgrade the product, to `to` when every matched range names a fixed version.
    Upgrade {
        product: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// The service runs a distribution package: check the distribution's tracker (`cve` first).
    CheckDistributionPackage {
        package: String,
        version: String,
        cve: String,
    },
    /// A step an older build stored in words.
    #[serde(untagged)]
    Written(String),
}

/// The command that re-runs the check once the remediation is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verify {
    /// `picket scan HOST -p PORT [--max-rate R] [--read-timeout T] [--db DB] [--service-detect]`.
    Scan {
        host: IpAddr,
        port: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_rate: Option<f64>,
        #[serde(
            default,
            with = "opt_micros",
            skip_serializing_if = "Option::is_none",
            rename = "read_timeout_us"
        )]
        read_timeout: Option<Duration>,
        /// The database the user named, its password already removed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        db: Option<String>,
        #[serde(default)]
        service_detect: bool,
    },
    /// A command an older build stored in words.
    #[serde(untagged)]
    Written(String),
}

impl Summary {
    /// A summary as a store keeps it in a text column: the JSON of a typed summary, or the words
    /// an older build wrote (anything that is not such JSON).
    pub fn from_stored(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_else(|_| Summary::Written(text.to_owned()))
    }
}

impl Verify {
    /// A verify command as a store keeps it in a text column: the JSON of a typed command, or
    /// the command an older build wrote.
    pub fn from_stored(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_else(|_| Verify::Written(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_round_trip_through_their_stored_text() {
        let summary = Summary::HostDown {
            previous_run: RunId(6),
            cause: DownCause::NoAnswer { probes: 4 },
        };
        let text = serde_json::to_string(&summary).unwrap();
        assert_eq!(Summary::from_stored(&text), summary);

        let verify = Verify::Scan {
            host: "192.0.2.1".parse().unwrap(),
            port: 22,
            max_rate: Some(150.0),
            read_timeout: Some(Duration::from_secs(3)),
            db: None,
            service_detect: false,
        };
        let text = serde_json::to_string(&verify).unwrap();
        assert_eq!(Verify::from_stored(&text), verify);

        let steps = vec![
            Remediation::RaiseReadTimeout {
                waited: Some(Duration::from_millis(1200)),
                loss: Some(0.31),
                to: Duration::from_secs(3),
            },
            Remediation::CheckRoute,
        ];
        let json = serde_json::to_string(&steps).unwrap();
        assert_eq!(
            serde_json::from_str::<Vec<Remediation>>(&json).unwrap(),
            steps
        );
    }

    #[test]
    fn words_of_an_older_build_read_back_as_written() {
        let old = "Port 443/tcp on 192.0.2.10 was open in run 41 and now refuses connections.";
        assert_eq!(Summary::from_stored(old), Summary::Written(old.to_owned()));
        // A summary that happens to be valid JSON but no typed summary stays words too.
        assert_eq!(
            Summary::from_stored("42"),
            Summary::Written("42".to_owned())
        );
        let cmd = "picket scan 192.0.2.10 -p 443 --db 'my scans.db'";
        assert_eq!(Verify::from_stored(cmd), Verify::Written(cmd.to_owned()));

        let steps: Vec<Remediation> =
            serde_json::from_str(r#"["Restart it.", "Confirm the change."]"#).unwrap();
        assert_eq!(
            steps,
            [
                Remediation::Written("Restart it.".to_owned()),
                Remediation::Written("Confirm the change.".to_owned())
            ]
        );
        // A written value is stored as the plain string it always was.
        assert_eq!(
            serde_json::to_string(&Remediation::Written("x".to_owned())).unwrap(),
            r#""x""#
        );
    }
}
