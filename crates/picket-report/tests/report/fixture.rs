//! A realistic scan run built from the model types, with fixed timestamps so that the rendered
//! output is the same on every machine. Addresses are from the documentation ranges
//! (192.0.2.0/24, 2001:db8::/32): nothing here is ever contacted, the values are only rendered.

use std::net::IpAddr;
use std::time::Duration;

use picket_model::{
    Confidence, DetectionMethod, Package, ServiceInfo, ServiceVuln, VulnerableServiceEvidence,
};
use picket_model::{
    Evidence, ExtraPorts, Finding, FindingKind, HostReason, HostResult, HostState, HostStats,
    Interference, InterferenceDetail, InterferenceKind, Interruption, NewOpenPortEvidence,
    Observation, PortChange, PortSet, PortState, ProbeRecord, Protocol, Reason, Recheck,
    RecheckEvidence, Remediation, RunDiff, RunId, RunStatus, RunSummary, ScanProfile, ScanRun,
    Summary, Targets, Timestamp, Verdict, Verify,
};
use serde_json::json;

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn us(n: u64) -> Option<Duration> {
    Some(Duration::from_micros(n))
}

fn probe(port: u16, at_ms: u64, outcome: Reason, rtt_us: Option<u64>) -> ProbeRecord {
    ProbeRecord {
        port,
        at_ms,
        outcome,
        rtt: rtt_us.map(Duration::from_micros),
    }
}

/// The ports every fixture run scanned: 2,053 of them.
pub fn scanned_ports() -> PortSet {
    "1-2048,3306,3389,5432,8080,8443".parse().unwrap()
}

/// OpenSSH as service detection reports Debian 12's package.
pub fn ssh_service() -> ServiceInfo {
    let mut s = ServiceInfo::new("ssh", DetectionMethod::Banner, 10);
    s.product = Some("OpenSSH".to_owned());
    s.version = Some("9.2p1".to_owned());
    s.extrainfo = Some("Debian 2+deb12u3".to_owned());
    s.cpe = Some(
        "cpe:2.3:a:openbsd:openssh:9.2p1:*:*:*:*:*:*:*"
            .parse()
            .unwrap(),
    );
    s.package = Some(Package::new("openssh", "1:9.2p1-2+deb12u3"));
    s.ecosystem = Some("Debian:12".to_owned());
    s.raw = Some("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\\r\\n".to_owned());
    s
}

fn ssh_with_service() -> Observation {
    let mut o = Observation::new(22, Reason::SynAck, us(412), 1);
    o.service = Some(ssh_service());
    o
}

/// Up (named www.example.org by reverse DNS), with open, closed (summarised) and filtered
/// ports, one of them filtered by an ICMP message from a router.
fn web_host() -> HostResult {
    let mut filtered_by_router = Observation::new(25, Reason::AdminProhibited, us(1_870), 1);
    filtered_by_router.icmp_from = Some(ip("192.0.2.1"));
    HostResult {
        address: ip("192.0.2.10"),
        hostname: None,
        reverse_name: Some("www.example.org".to_owned()),
        state: HostState::Up,
        reason: HostReason::PortAnswered,
        ports: vec![
            ssh_with_service(),
            filtered_by_router,
            Observation::new(80, Reason::SynAck, us(530), 2),
            Observation::new(3389, Reason::NoResponse, None, 3),
            Observation::new(8080, Reason::SynAck, us(1_210), 1),
        ],
        extra_ports: vec![ExtraPorts {
            state: PortState::Closed,
            reason: Reason::Reset,
            count: 2_048,
        }],
        unprobed: vec![],
        interruptions: vec![],
        stats: HostStats {
            probes_sent: 2_071,
            answers: 2_052,
            srtt: us(455),
            loss: 0.0048,
            retries: 2,
            read_timeout: Duration::from_millis(250),
        },
    }
}

/// Nothing answered.
fn down_host() -> HostResult {
    HostResult {
        address: ip("192.0.2.20"),
        hostname: None,
        reverse_name: None,
        state: HostState::Down,
        reason: HostReason::NoResponse,
        ports: vec![],
        extra_ports: vec![],
        unprobed: vec![],
        interruptions: vec![],
        stats: HostStats {
            probes_sent: 8,
            answers: 0,
            srtt: None,
            loss: 0.0,
            retries: 1,
            read_timeout: Duration::from_millis(1_000),
        },
    }
}

/// Given by name (db.example.org, its reverse DNS name another); answered for most of the run,
/// then went silent on every port and did not come back.
fn interrupted_host() -> HostResult {
    HostResult {
        address: ip("2001:db8::30"),
        hostname: Some("db.example.org".to_owned()),
        reverse_name: Some("db-1.example.org".to_owned()),
        state: HostState::Up,
        reason: HostReason::PortAnswered,
        ports: vec![
            Observation::new(22, Reason::SynAck, us(23_400), 1),
            Observation::new(5432, Reason::SynAck, us(24_100), 1),
        ],
        extra_ports: vec![ExtraPorts {
            state: PortState::Closed,
            reason: Reason::Reset,
            count: 2_043,
        }],
        unprobed: vec![2045, 2046, 2047, 2048, 3306, 3389, 8080, 8443],
        interruptions: vec![Interruption {
            at: ts("2026-03-01T12:02:30Z"),
            answered_before: 1_850,
            silent_probes: 64,
            canary_port: Some(22),
            rate: 1_200.0,
            resumed: false,
            paused: Duration::from_secs(30),
        }],
        stats: HostStats {
            probes_sent: 2_114,
            answers: 1_850,
            srtt: us(23_800),
            loss: 0.0312,
            retries: 3,
            read_timeout: Duration::from_millis(420),
        },
    }
}

fn closed_recheck() -> Recheck {
    Recheck {
        host: ip("192.0.2.10"),
        port: 443,
        protocol: Protocol::Tcp,
        verdict: Verdict::Closed,
        evidence: RecheckEvidence {
            previous_run: RunId(41),
            previous_reason: Reason::SynAck,
            scan_reason: Some(Reason::Reset),
            probes: vec![
                probe(443, 0, Reason::Reset, Some(398)),
                probe(443, 1_000, Reason::Reset, Some(441)),
                probe(443, 2_000, Reason::Reset, Some(520)),
            ],
            liveness: vec![
                probe(22, 2_500, Reason::SynAck, Some(405)),
                probe(80, 2_700, Reason::SynAck, Some(512)),
            ],
            interference: vec![],
            recheck_rate: 5.0,
            recheck_timeout_ms: 2_000,
        },
    }
}

fn interrupted_recheck() -> Recheck {
    Recheck {
        host: ip("2001:db8::30"),
        port: 3306,
        protocol: Protocol::Tcp,
        verdict: Verdict::ScanInterrupted,
        evidence: RecheckEvidence {
            previous_run: RunId(41),
            previous_reason: Reason::SynAck,
            scan_reason: None,
            probes: vec![
                probe(3306, 0, Reason::NoResponse, None),
                probe(3306, 2_000, Reason::NoResponse, None),
                probe(3306, 6_000, Reason::NoResponse, None),
            ],
            liveness: vec![
                probe(22, 6_500, Reason::NoResponse, None),
                probe(5432, 7_000, Reason::NoResponse, None),
            ],
            interference: vec![
                Interference {
                    kind: InterferenceKind::HostWentSilent,
                    detail: written("every port went silent at 12:02:30 after 1,850 answers"),
                },
                Interference {
                    kind: InterferenceKind::LivenessLost,
                    detail: written(
                        "ports 22 and 5432 answered during the run and not in the re-check",
                    ),
                },
            ],
            recheck_rate: 0.5,
            recheck_timeout_ms: 4_000,
        },
    }
}

/// The scan had said no-response; the patient re-check found the port open and corrected the run.
fn still_open_recheck() -> Recheck {
    Recheck {
        host: ip("192.0.2.10"),
        port: 80,
        protocol: Protocol::Tcp,
        verdict: Verdict::StillOpen,
        evidence: RecheckEvidence {
            previous_run: RunId(41),
            previous_reason: Reason::SynAck,
            scan_reason: Some(Reason::NoResponse),
            probes: vec![probe(80, 0, Reason::SynAck, Some(530))],
            liveness: vec![],
            interference: vec![],
            recheck_rate: 5.0,
            recheck_timeout_ms: 2_000,
        },
    }
}

pub fn scan_run() -> ScanRun {
    let targets = Targets::parse(
        ["192.0.2.10", "192.0.2.20", "db.example.org"],
        ["192.0.2.99"],
    )
    .unwrap();
    ScanRun {
        id: RunId(42),
        target_key: targets.key(),
        targets,
        profile: ScanProfile::new(scanned_ports()),
        started_at: ts("2026-03-01T12:00:00Z"),
        finished_at: Some(ts("2026-03-01T12:04:05Z")),
        status: RunStatus::Completed,
        hosts: vec![web_host(), down_host(), interrupted_host()],
        rechecks: vec![
            closed_recheck(),
            interrupted_recheck(),
            still_open_recheck(),
        ],
        unlisted_down: 0,
    }
}

/// Words stored by an older build: the fixture's findings carry text, as rows written before the
/// words became typed data do.
fn written(text: &str) -> InterferenceDetail {
    InterferenceDetail::Written(text.to_owned())
}

fn summary(text: &str) -> Summary {
    Summary::Written(text.to_owned())
}

fn steps(texts: &[&str]) -> Vec<Remediation> {
    texts
        .iter()
        .map(|t| Remediation::Written((*t).to_owned()))
        .collect()
}

fn verify(text: &str) -> Verify {
    Verify::Written(text.to_owned())
}

fn recheck_finding(id: i64, recheck: &Recheck, hostname: Option<&str>) -> Finding {
    let (current_state, summary, remediation, verify) = match recheck.verdict {
        Verdict::Closed => (
            Some(PortState::Closed),
            summary(
                "Port 443 was open in run 41 and now answers with a reset: the service stopped.",
            ),
            steps(&[
                "If the service on port 443 was retired on purpose, nothing needs doing.",
                "Otherwise check why it stopped: `ss -ltnp 'sport = :443'` and the service's logs on the host.",
            ]),
            verify("picket scan -p 443 192.0.2.10"),
        ),
        _ => (
            None,
            summary(
                "The host went silent during the scan: the state of port 3306 is not known from this run.",
            ),
            steps(&[
                "Lower max_checks (2,048 in this run), e.g. --max-checks 256, so that the scan does not trip the IPS.",
                "Or allow-list the scanner's address in the IPS or firewall in front of db.example.org.",
                "Raise checks_read_timeout if the path is slow (the re-check needed 4 s).",
            ]),
            verify("picket scan -p 3306 --max-checks 256 db.example.org"),
        ),
    };
    Finding {
        id: Some(id),
        run_id: RunId(42),
        kind: FindingKind::OpenPortRecheck,
        host: recheck.host,
        hostname: hostname.map(str::to_owned),
        port: recheck.port,
        protocol: Protocol::Tcp,
        previous_state: Some(PortState::Open),
        current_state,
        verdict: Some(recheck.verdict),
        summary,
        evidence: Evidence::OpenPortRecheck(recheck.evidence.clone()),
        remediation,
        verify,
        created_at: ts("2026-03-01T12:04:05Z"),
    }
}

pub fn findings() -> Vec<Finding> {
    vec![
        recheck_finding(7, &closed_recheck(), None),
        recheck_finding(8, &interrupted_recheck(), Some("db.example.org")),
        Finding {
            id: Some(9),
            run_id: RunId(42),
            kind: FindingKind::NewOpenPort,
            host: ip("192.0.2.10"),
            hostname: None,
            port: 8080,
            protocol: Protocol::Tcp,
            previous_state: Some(PortState::Closed),
            current_state: Some(PortState::Open),
            verdict: None,
            summary: summary("Port 8080 is open now; it was closed in run 41."),
            evidence: Evidence::NewOpenPort(NewOpenPortEvidence {
                attempts: 1,
                previous_reason: Some(Reason::Reset),
                previous_run: RunId(41),
                previous_state: Some(PortState::Closed),
                reason: Reason::SynAck,
                rtt: us(1210),
            }),
            remediation: steps(&[
                "Find the listener: `ss -ltnp 'sport = :8080'` on 192.0.2.10.",
                "If it is not meant to be reachable, stop it or firewall the port.",
            ]),
            verify: verify("picket scan -p 8080 192.0.2.10"),
            created_at: ts("2026-03-01T12:04:05Z"),
        },
        Finding {
            id: Some(10),
            run_id: RunId(42),
            kind: FindingKind::VulnerableService,
            host: ip("192.0.2.10"),
            hostname: None,
            port: 22,
            protocol: Protocol::Tcp,
            previous_state: None,
            current_state: Some(PortState::Open),
            verdict: None,
            summary: summary("OpenSSH 9.2p1 on 192.0.2.10:22 matches 1 known vulnerability (worst: CVE-2024-6387, CVSS 8.1) (version-based: the distribution may have backported fixes)."),
            evidence: Evidence::VulnerableService(Box::new(VulnerableServiceEvidence {
                service: ssh_service(),
                vulns: vec![ServiceVuln {
                    id: "CVE-2024-6387".to_owned(),
                    cvss: Some(serde_json::from_value(json!({
                        "version": "3.1", "base_score": 8.1, "severity": "high",
                        "vector": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"
                    })).unwrap()),
                    kev: None,
                    epss: None,
                    confidence: Confidence::VersionRange,
                    backport_possible: true,
                    why: "cpe:2.3:a:openbsd:openssh:*:*:*:*:*:*:*:* >= 8.6 < 9.8 includes 9.2 update p1".to_owned(),
                    fixed_in: Some("9.8".to_owned()),
                }],
            })),
            remediation: steps(&[
                "Upgrade OpenSSH to 9.8 or later, which is outside every matched range.",
                "The service runs the distribution package openssh 1:9.2p1-2+deb12u3: check the distribution's security tracker.",
            ]),
            verify: verify("picket scan 192.0.2.10 -p 22 --service-detect"),
            created_at: ts("2026-03-01T12:04:05Z"),
        },
    ]
}

pub fn run_summaries() -> Vec<RunSummary> {
    vec![
        RunSummary {
            id: RunId(43),
            target_key: "10.20.0.0/16".to_owned(),
            ports: "-".parse().unwrap(),
            started_at: ts("2026-03-01T13:00:00Z"),
            finished_at: None,
            status: RunStatus::Running,
            hosts_up: 311,
            hosts_total: 65_536,
            open_ports: 1_207,
        },
        RunSummary {
            id: RunId(42),
            target_key: scan_run().target_key,
            ports: scanned_ports(),
            started_at: ts("2026-03-01T12:00:00Z"),
            finished_at: Some(ts("2026-03-01T12:04:05Z")),
            status: RunStatus::Completed,
            hosts_up: 2,
            hosts_total: 3,
            open_ports: 5,
        },
        RunSummary {
            id: RunId(41),
            target_key: scan_run().target_key,
            ports: scanned_ports(),
            started_at: ts("2026-02-28T12:00:00Z"),
            finished_at: Some(ts("2026-02-28T12:00:48.250Z")),
            status: RunStatus::Aborted,
            hosts_up: 3,
            hosts_total: 3,
            open_ports: 6,
        },
    ]
}

fn change(
    host: &str,
    port: u16,
    before: Option<(PortState, Reason)>,
    after: Option<(PortState, Reason)>,
) -> PortChange {
    PortChange {
        host: ip(host),
        port,
        protocol: Protocol::Tcp,
        before: before.map(|b| b.0),
        before_reason: before.map(|b| b.1),
        after: after.map(|a| a.0),
        after_reason: after.map(|a| a.1),
    }
}

pub fn run_diff() -> RunDiff {
    let open = Some((PortState::Open, Reason::SynAck));
    RunDiff {
        from: RunId(41),
        to: RunId(42),
        hosts_up: vec![],
        hosts_down: vec![ip("192.0.2.20")],
        changes: vec![
            change(
                "192.0.2.10",
                443,
                open,
                Some((PortState::Closed, Reason::Reset)),
            ),
            change(
                "192.0.2.10",
                8080,
                Some((PortState::Closed, Reason::Reset)),
                open,
            ),
            change("2001:db8::30", 3306, open, None),
        ],
        // The newer run scanned fewer ports.
        compared_ports: Some("22,443,3306,8080".parse().unwrap()),
    }
}
