//! Fixtures of exposure findings, shared by picket-detect's rule tests and picket-report's tests
//! of their words (feature `testing`). Test support only: never used by a workflow.

use std::net::IpAddr;
use std::time::Duration;

use picket_model::{
    Finding, HostReason, HostResult, HostState, HostStats, Interference, ProbeRecord, Protocol,
    Reason, Recheck, RecheckEvidence, RunId, RunStatus, ScanProfile, ScanRun, Targets, Verdict,
};

use crate::exposure::{FindingContext, findings};

/// The address every fixture host has.
pub const HOST: [u8; 4] = [192, 0, 2, 20];

/// A host in `state` for `reason`, with `loss` measured.
pub fn host(state: HostState, reason: HostReason, loss: f64) -> HostResult {
    HostResult {
        address: IpAddr::from(HOST),
        hostname: None,
        reverse_name: None,
        state,
        reason,
        ports: vec![],
        extra_ports: vec![],
        unprobed: vec![],
        interruptions: vec![],
        stats: HostStats {
            probes_sent: 2000,
            answers: 1500,
            srtt: None,
            loss,
            retries: 3,
            read_timeout: Duration::from_millis(1200),
        },
    }
}

/// Run 7 of 192.0.2.20, ports 1-1024, holding `host`.
pub fn run(host: HostResult, max_rate: Option<f64>) -> ScanRun {
    let targets = Targets::parse(["192.0.2.20"], [] as [&str; 0]).unwrap();
    let mut profile = ScanProfile::new("1-1024".parse().unwrap());
    profile.max_rate = max_rate;
    ScanRun {
        id: RunId(7),
        target_key: targets.key(),
        targets,
        profile,
        started_at: "2026-05-02T09:00:00Z".parse().unwrap(),
        finished_at: None,
        status: RunStatus::Completed,
        hosts: vec![host],
        rechecks: vec![],
        unlisted_down: 0,
    }
}

/// One probe record of `port` per outcome.
pub fn probes(port: u16, outcomes: &[Reason]) -> Vec<ProbeRecord> {
    outcomes
        .iter()
        .map(|&outcome| ProbeRecord {
            port,
            at_ms: 0,
            outcome,
            rtt: None,
        })
        .collect()
}

/// A re-check of port 8443 with `verdict`, its probes and the liveness probes of port 22.
pub fn recheck(
    verdict: Verdict,
    port: &[Reason],
    liveness: &[Reason],
    interference: Vec<Interference>,
) -> Recheck {
    Recheck {
        host: IpAddr::from(HOST),
        port: 8443,
        protocol: Protocol::Tcp,
        verdict,
        evidence: RecheckEvidence {
            previous_run: RunId(6),
            previous_reason: Reason::SynAck,
            scan_reason: Some(Reason::NoResponse),
            probes: probes(8443, port),
            liveness: probes(22, liveness),
            interference,
            recheck_rate: 10.0,
            recheck_timeout_ms: 2000,
        },
    }
}

/// The one finding `r` raises on `cur`.
pub fn one(cur: &ScanRun, r: Recheck) -> Finding {
    let ctx = FindingContext {
        now: "2026-05-02T09:05:00Z".parse().unwrap(),
        db: None,
    };
    let mut all = findings(None, cur, &[r], &ctx);
    assert_eq!(all.len(), 1);
    all.remove(0)
}
