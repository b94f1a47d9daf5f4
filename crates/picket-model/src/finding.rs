//! Findings: what Picket tells the user that deserves attention, with evidence and remediation.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::observation::opt_micros;
use crate::{PortState, Protocol, Reason, Remediation, RunId, Summary, Timestamp, Verify};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A port open in the previous run is not open now; re-checked, with a verdict.
    OpenPortRecheck,
    /// A port open now that was not open (or not seen) in the previous run.
    NewOpenPort,
    /// A detected service whose version has known vulnerabilities.
    VulnerableService,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::OpenPortRecheck => "open-port-recheck",
            FindingKind::NewOpenPort => "new-open-port",
            FindingKind::VulnerableService => "vulnerable-service",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open-port-recheck" => Some(FindingKind::OpenPortRecheck),
            "new-open-port" => Some(FindingKind::NewOpenPort),
            "vulnerable-service" => Some(FindingKind::VulnerableService),
            _ => None,
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The re-check's conclusion about a port that was open and is not open now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The port now answers with a reset while the host is alive: the service stopped.
    Closed,
    /// The host is alive, this port alone is silent: a filter now covers it.
    Filtered,
    /// The host answers on no port and nothing in the run suggests interference.
    HostDown,
    /// Interference: the host went silent at once, or answers stopped after a burst, or a rate
    /// limit dropped our probes. The port's state is not known from this run.
    ScanInterrupted,
    /// The port answered some re-check probes and not others.
    Flapping,
    /// The re-check found the port open: the run was wrong and has been corrected.
    StillOpen,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Closed => "closed",
            Verdict::Filtered => "filtered",
            Verdict::HostDown => "host-down",
            Verdict::ScanInterrupted => "scan-interrupted",
            Verdict::Flapping => "flapping",
            Verdict::StillOpen => "still-open",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Verdict::Closed,
            Verdict::Filtered,
            Verdict::HostDown,
            Verdict::ScanInterrupted,
            Verdict::Flapping,
            Verdict::StillOpen,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kept for naming symmetry with the design notes: one probe's outcome is a [`Reason`].
pub type ProbeOutcome = Reason;

/// One probe of a re-check: which port, when (relative to the re-check's start), what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub port: u16,
    pub at_ms: u64,
    pub outcome: ProbeOutcome,
    #[serde(
        default,
        with = "opt_micros",
        skip_serializing_if = "Option::is_none",
        rename = "rtt_us"
    )]
    pub rtt: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterferenceKind {
    /// A host that had been answering went silent on every port at once.
    HostWentSilent,
    /// Answers fell away as the probe rate rose: a rate limit in the path.
    RateLimited,
    /// Ports that answered during the run stopped answering before the re-check.
    LivenessLost,
}

impl InterferenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InterferenceKind::HostWentSilent => "host-went-silent",
            InterferenceKind::RateLimited => "rate-limited",
            InterferenceKind::LivenessLost => "liveness-lost",
        }
    }
}

/// A sign that something between us and the host interfered with the scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interference {
    pub kind: InterferenceKind,
    /// What was seen, as data (`picket-report` words it).
    pub detail: InterferenceDetail,
}

/// The measurements behind an [`Interference`]. Stored externally tagged (kebab-case); a
/// detail an older build stored as a sentence reads back as [`InterferenceDetail::Written`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterferenceDetail {
    /// The run's record of the host going silent on every port at once.
    WentSilent(crate::Interruption),
    /// The scan lost `loss` of its probes to the host and gave `port` up as no-response (after
    /// `attempts`, when the run recorded the port).
    LostProbes {
        loss: f64,
        port: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempts: Option<u8>,
    },
    /// The host answered `answers` probes during the scan (0: it answered, uncounted), but none
    /// of the re-check's `probes` probes of `port` and `liveness_probes` probes of
    /// `liveness_ports` got an answer.
    LivenessLost {
        answers: u64,
        port: u16,
        probes: usize,
        liveness_probes: usize,
        liveness_ports: Vec<u16>,
    },
    /// A detail an older build stored as a sentence.
    #[serde(untagged)]
    Written(String),
}

/// What the re-check saw, kept with the finding so that the verdict can be checked by a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecheckEvidence {
    pub previous_run: RunId,
    pub previous_reason: Reason,
    /// What this run's scan said before the re-check (`None`: the run never decided the port).
    pub scan_reason: Option<Reason>,
    /// The patient probes of this port.
    pub probes: Vec<ProbeRecord>,
    /// Probes of ports that answered in this run, asked to prove the host is still there.
    pub liveness: Vec<ProbeRecord>,
    pub interference: Vec<Interference>,
    /// The probe rate and read timeout the re-check used.
    pub recheck_rate: f64,
    pub recheck_timeout_ms: u64,
}

/// One re-checked port and its verdict. Every re-check is kept with its run, including the
/// `still-open` ones that raise no finding: they record that the run was corrected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recheck {
    pub host: IpAddr,
    pub port: u16,
    pub protocol: Protocol,
    pub verdict: Verdict,
    pub evidence: RecheckEvidence,
}

/// One known vulnerability of a detected service, as a `vulnerable-service` finding lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceVuln {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<crate::Cvss>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kev: Option<crate::KevEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epss: Option<crate::Epss>,
    /// How the version was matched (exact listing, a published range, product only).
    pub confidence: crate::Confidence,
    /// The service runs a distribution package and only the upstream version was compared:
    /// the distribution may have backported the fix, so the match is a lead, not a certainty.
    pub backport_possible: bool,
    /// Which criterion or range matched.
    pub why: String,
    /// The first upstream version outside the matched range, when the range names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_in: Option<String>,
}

/// Evidence of a `vulnerable-service` finding: what the service said and what matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VulnerableServiceEvidence {
    pub service: crate::ServiceInfo,
    /// Most urgent first: KEV, then CVSS.
    pub vulns: Vec<ServiceVuln>,
}

/// Evidence of a `new-open-port` finding: what the previous run knew and how the port answered
/// now. Every field is always written (`null` when unknown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOpenPortEvidence {
    pub attempts: u8,
    pub previous_reason: Option<Reason>,
    pub previous_run: RunId,
    pub previous_state: Option<PortState>,
    pub reason: Reason,
    #[serde(with = "opt_micros", rename = "rtt_us")]
    pub rtt: Option<std::time::Duration>,
}

/// A finding's evidence, one variant per [`FindingKind`]. Its JSON is the inner value alone (the
/// finding's kind says which it is) with every object's keys in alphabetical order: the bytes
/// stored and printed since evidence was first kept as a JSON value. [`Evidence::decode`] reads
/// it back by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    OpenPortRecheck(RecheckEvidence),
    NewOpenPort(NewOpenPortEvidence),
    /// Boxed: the detected service and its vulnerabilities dwarf the other kinds.
    VulnerableService(Box<VulnerableServiceEvidence>),
}

impl Serialize for Evidence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A `serde_json::Value` keeps its keys sorted: going through one gives the stored order.
        let value = match self {
            Evidence::OpenPortRecheck(e) => serde_json::to_value(e),
            Evidence::NewOpenPort(e) => serde_json::to_value(e),
            Evidence::VulnerableService(e) => serde_json::to_value(e),
        };
        value.map_err(serde::ser::Error::custom)?.serialize(s)
    }
}

impl Evidence {
    /// The kind of finding this evidence belongs to.
    pub fn kind(&self) -> FindingKind {
        match self {
            Evidence::OpenPortRecheck(_) => FindingKind::OpenPortRecheck,
            Evidence::NewOpenPort(_) => FindingKind::NewOpenPort,
            Evidence::VulnerableService(_) => FindingKind::VulnerableService,
        }
    }

    /// Reads the evidence of a finding of `kind` from its JSON.
    pub fn decode(kind: FindingKind, value: serde_json::Value) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            FindingKind::OpenPortRecheck => {
                Evidence::OpenPortRecheck(serde_json::from_value(value)?)
            }
            FindingKind::NewOpenPort => Evidence::NewOpenPort(serde_json::from_value(value)?),
            FindingKind::VulnerableService => {
                Evidence::VulnerableService(serde_json::from_value(value)?)
            }
        })
    }
}

/// A finding as stored and printed. Everything a person reads is typed data here;
/// `picket-report` puts it into words.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Assigned by the store; `None` before it is saved.
    pub id: Option<i64>,
    pub run_id: RunId,
    pub kind: FindingKind,
    pub host: IpAddr,
    pub hostname: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
    /// State in the previous run (`None` for a port never seen before).
    pub previous_state: Option<PortState>,
    /// State after this run and its re-check (`None`: still unknown).
    pub current_state: Option<PortState>,
    pub verdict: Option<Verdict>,
    /// The sentence a person reads first.
    pub summary: Summary,
    /// Kind-specific evidence (its variant matches `kind`).
    pub evidence: Evidence,
    /// What to do about it, most useful first.
    pub remediation: Vec<Remediation>,
    /// A command that re-runs the check once the remediation is done.
    pub verify: Verify,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_decodes_by_kind_in_the_shape_older_builds_stored() {
        // A new-open-port row as every build has written it (keys sorted, nulls kept).
        let stored = r#"{"attempts":2,"previous_reason":null,"previous_run":6,"previous_state":null,"reason":"syn-ack","rtt_us":1210}"#;
        let value: serde_json::Value = serde_json::from_str(stored).unwrap();
        let evidence = Evidence::decode(FindingKind::NewOpenPort, value).unwrap();
        assert_eq!(evidence.kind(), FindingKind::NewOpenPort);
        assert_eq!(serde_json::to_string(&evidence).unwrap(), stored);
        let Evidence::NewOpenPort(e) = &evidence else {
            panic!("{evidence:?}")
        };
        assert_eq!(e.rtt, Some(std::time::Duration::from_micros(1210)));

        let value: serde_json::Value = serde_json::from_str(stored).unwrap();
        assert!(Evidence::decode(FindingKind::OpenPortRecheck, value).is_err());
    }

    #[test]
    fn names_round_trip() {
        for v in [
            "closed",
            "filtered",
            "host-down",
            "scan-interrupted",
            "flapping",
            "still-open",
        ] {
            assert_eq!(Verdict::parse(v).unwrap().as_str(), v);
            assert_eq!(serde_json::to_value(Verdict::parse(v).unwrap()).unwrap(), v);
        }
        assert_eq!(
            FindingKind::parse("new-open-port"),
            Some(FindingKind::NewOpenPort)
        );
        assert_eq!(
            serde_json::to_value(FindingKind::OpenPortRecheck).unwrap(),
            "open-port-recheck"
        );
    }
}
