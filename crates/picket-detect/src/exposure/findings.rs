//! Findings: a verdict or a new open port as typed data a person can act on once
//! `picket-report` puts it into words: the summary's numbers, the remediation steps with the
//! settings to change, the evidence behind it and a command that checks the fix.

use std::net::IpAddr;
use std::time::Duration;

use picket_model::{
    Before, DownCause, Evidence, Finding, FindingKind, HostReason, HostResult, HostState,
    InterferenceKind, InterruptCause, NewOpenPortEvidence, Observation, PortState, Protocol,
    Reason, Recheck, Remediation, ScanRun, Silence, Summary, Timestamp, Verdict, Verify,
    without_password,
};

use super::verdict::{Counts, is_unreachable};

/// What findings need besides the runs: the time (injected, never read from a clock) and the
/// database the user named, so that the verify command reads and writes the same history.
#[derive(Debug, Clone, Copy)]
pub struct FindingContext<'a> {
    pub now: Timestamp,
    /// The `--db` the user gave (`None`: the default database).
    pub db: Option<&'a str>,
}

/// The probe rate suggested when the run gives no rate to halve.
const PATIENT_RATE: f64 = 50.0;
/// The smallest read timeout suggested after an interrupted scan.
const PATIENT_READ_TIMEOUT: Duration = Duration::from_secs(3);

/// The findings of run `cur`, ordered by host then port.
///
/// - `open-port-recheck` for every re-check except `still-open` (those corrected the run, see
///   [`apply_corrections`](super::apply_corrections), and need no attention);
/// - `new-open-port` for every port open in `cur` that was not open in `prev`, including ports
///   of hosts or ports that `prev` did not scan.
///
/// With no previous run there are no `new-open-port` findings: the first run of a set of targets
/// is the baseline, and calling every port in it "new" would bury the findings that matter.
pub fn findings(
    prev: Option<&ScanRun>,
    cur: &ScanRun,
    rechecks: &[Recheck],
    ctx: &FindingContext,
) -> Vec<Finding> {
    let mut out: Vec<Finding> = rechecks
        .iter()
        .filter_map(|r| recheck_finding(cur, r, ctx))
        .collect();
    if let Some(prev) = prev {
        for host in &cur.hosts {
            for open in host.open_ports() {
                let before = prev
                    .host(host.address)
                    .and_then(|h| h.state_of(open.port, &prev.profile.ports));
                if before.is_some_and(|(state, _)| state == PortState::Open) {
                    continue;
                }
                out.push(new_open_finding(prev, cur, host, open, before, ctx));
            }
        }
    }
    // Stable: a port's re-check finding stays ahead of anything else about it.
    out.sort_by_key(|f| (f.host, f.port));
    out
}

/// The knobs a verify command sets besides host and port.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Knobs {
    pub max_rate: Option<f64>,
    pub read_timeout: Option<Duration>,
    pub service_detect: bool,
}

/// `picket scan HOST -p PORT [KNOBS] [--db DB]`, as data.
pub(super) fn verify_command(
    host: IpAddr,
    port: u16,
    knobs: Knobs,
    ctx: &FindingContext,
) -> Verify {
    Verify::Scan {
        host,
        port,
        max_rate: knobs.max_rate,
        read_timeout: knobs.read_timeout,
        // Findings are stored and shown: a password in the location must never be copied into
        // them.
        db: ctx.db.map(without_password),
        service_detect: knobs.service_detect,
    }
}

/// The `open-port-recheck` finding of one re-check; none for `still-open`.
fn recheck_finding(cur: &ScanRun, r: &Recheck, ctx: &FindingContext) -> Option<Finding> {
    let host = cur.host(r.host);
    let facts = Facts::new(cur, host, r);
    let (advice, current_state) = match r.verdict {
        Verdict::StillOpen => return None,
        Verdict::Closed => (facts.closed(), Some(PortState::Closed)),
        Verdict::Filtered => (facts.filtered(), Some(PortState::Filtered)),
        // The port's state stays unknown: the host, the path or the service is in the way.
        Verdict::HostDown => (facts.host_down(), None),
        Verdict::ScanInterrupted => (facts.scan_interrupted(), None),
        Verdict::Flapping => (facts.flapping(), None),
    };
    Some(Finding {
        id: None,
        run_id: cur.id,
        kind: FindingKind::OpenPortRecheck,
        host: r.host,
        hostname: host.and_then(|h| h.hostname.clone()),
        port: r.port,
        protocol: r.protocol,
        previous_state: Some(PortState::Open),
        current_state,
        verdict: Some(r.verdict),
        summary: advice.summary,
        evidence: Evidence::OpenPortRecheck(r.evidence.clone()),
        remediation: advice.remediation,
        verify: verify_command(r.host, r.port, advice.knobs, ctx),
        created_at: ctx.now,
    })
}

/// What a re-check finding says: its summary, its remediation and the verify command's knobs.
struct Advice {
    summary: Summary,
    remediation: Vec<Remediation>,
    knobs: Knobs,
}

/// The numbers a re-check finding is built from.
struct Facts<'a> {
    cur: &'a ScanRun,
    host: Option<&'a HostResult>,
    r: &'a Recheck,
    counts: Counts,
    /// Re-check probes of this port.
    total: usize,
    admin_prohibited: usize,
}

impl<'a> Facts<'a> {
    fn new(cur: &'a ScanRun, host: Option<&'a HostResult>, r: &'a Recheck) -> Self {
        let probes = &r.evidence.probes;
        Self {
            cur,
            host,
            r,
            counts: Counts::of(probes),
            total: probes.len(),
            admin_prohibited: probes
                .iter()
                .filter(|p| p.outcome == Reason::AdminProhibited)
                .count(),
        }
    }

    /// Liveness ports that answered the re-check (a router's unreachable proves nothing).
    fn answering_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .r
            .evidence
            .liveness
            .iter()
            .filter(|p| p.outcome.is_answer() && !is_unreachable(p.outcome))
            .map(|p| p.port)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    fn closed(&self) -> Advice {
        Advice {
            summary: Summary::Closed {
                previous_run: self.r.evidence.previous_run,
                refused: self.counts.closed,
                probes: self.total,
            },
            remediation: vec![
                Remediation::CheckStoppedService {
                    host: self.r.host,
                    port: self.r.port,
                },
                Remediation::ConfirmRetirement,
            ],
            knobs: Knobs::default(),
        }
    }

    fn filtered(&self) -> Advice {
        Advice {
            summary: Summary::Filtered {
                previous_run: self.r.evidence.previous_run,
                admin_prohibited: self.admin_prohibited,
                silent: self.counts.silent,
                probes: self.total,
                alive_ports: self.answering_ports(),
                reset_seen: self.counts.closed > 0,
            },
            remediation: vec![
                Remediation::ReviewFirewall {
                    host: self.r.host,
                    port: self.r.port,
                    admin_prohibited: self.admin_prohibited > 0,
                },
                Remediation::AllowScannerToPort { port: self.r.port },
            ],
            knobs: Knobs::default(),
        }
    }

    fn host_down(&self) -> Advice {
        let run_reason = self
            .host
            .filter(|h| h.state == HostState::Down)
            .map(|h| h.reason);
        let router_now = self
            .r
            .evidence
            .probes
            .iter()
            .chain(&self.r.evidence.liveness)
            .find(|p| is_unreachable(p.outcome))
            .map(|p| p.outcome);
        let cause = match (run_reason, router_now) {
            (Some(reason @ (HostReason::HostUnreach | HostReason::NetUnreach)), _) => {
                DownCause::ScanUnreachable { reason }
            }
            (_, Some(reason)) => DownCause::RouterAnswered { reason },
            (_, None) => DownCause::NoAnswer {
                probes: self.total + self.r.evidence.liveness.len(),
            },
        };
        let mut remediation = vec![Remediation::CheckHostPower { host: self.r.host }];
        if !matches!(cause, DownCause::NoAnswer { .. }) {
            remediation.push(Remediation::CheckRoute);
        }
        remediation.push(Remediation::RescanWhenBack);
        Advice {
            summary: Summary::HostDown {
                previous_run: self.r.evidence.previous_run,
                cause,
            },
            remediation,
            knobs: Knobs::default(),
        }
    }

    fn scan_interrupted(&self) -> Advice {
        let rate_limited = self
            .r
            .evidence
            .interference
            .iter()
            .any(|i| i.kind == InterferenceKind::RateLimited);
        let interruption = self.host.and_then(|h| h.interruptions.first());
        let cause = if let Some(i) = interruption {
            InterruptCause::WentSilent {
                at: i.at,
                rate: i.rate,
            }
        } else if rate_limited {
            InterruptCause::LostProbes {
                loss: self.host.map_or(0.0, |h| h.stats.loss),
            }
        } else {
            InterruptCause::StoppedAnswering
        };

        let slowest = self
            .host
            .into_iter()
            .flat_map(|h| &h.interruptions)
            .map(|i| i.rate)
            .filter(|r| r.is_finite() && *r > 0.0)
            .reduce(f64::min);
        let max_rate = match (slowest, self.cur.profile.max_rate) {
            (Some(r), _) | (None, Some(r)) => (r / 2.0).floor().max(1.0),
            (None, None) => PATIENT_RATE,
        };
        let measured_timeout = self
            .host
            .map(|h| h.stats.read_timeout)
            .or(self.cur.profile.read_timeout)
            .filter(|d| !d.is_zero());
        let read_timeout = measured_timeout
            .map(|d| Duration::from_secs((d * 2).as_millis().div_ceil(1000) as u64))
            .unwrap_or_default()
            .max(PATIENT_READ_TIMEOUT);
        let max_checks = self.cur.profile.max_checks;
        let loss = measured_timeout
            .and(self.host)
            .map(|h| h.stats.loss)
            .filter(|loss| *loss > 0.0);

        let remediation = vec![
            Remediation::AllowListScanner {
                host: self.r.host,
                silence: interruption.map(|i| Silence {
                    answered_before: i.answered_before,
                    at: i.at,
                    rate: i.rate,
                }),
            },
            Remediation::LowerMaxRate {
                stopped_at: slowest,
                to: max_rate,
            },
            Remediation::LowerMaxChecks {
                allowed: max_checks,
                to: (max_checks / 4).max(1),
            },
            Remediation::RaiseReadTimeout {
                waited: measured_timeout,
                loss,
                to: read_timeout,
            },
        ];
        Advice {
            summary: Summary::ScanInterrupted {
                previous_run: self.r.evidence.previous_run,
                open_now: self.counts.open > 0,
                scan_reason: self.r.evidence.scan_reason,
                cause,
            },
            remediation,
            knobs: Knobs {
                max_rate: Some(max_rate),
                read_timeout: Some(read_timeout),
                service_detect: false,
            },
        }
    }

    fn flapping(&self) -> Advice {
        Advice {
            summary: Summary::Flapping {
                answered: self.counts.open,
                refused: self.counts.closed,
                ignored: self.counts.silent,
                probes: self.total,
            },
            remediation: vec![
                Remediation::CheckServiceHealth { port: self.r.port },
                Remediation::CheckBalancerMembers,
                Remediation::RecheckLater,
            ],
            knobs: Knobs::default(),
        }
    }
}

fn new_open_finding(
    prev: &ScanRun,
    cur: &ScanRun,
    host: &HostResult,
    open: &Observation,
    before: Option<(PortState, Reason)>,
    ctx: &FindingContext,
) -> Finding {
    let then = match before {
        Some((state, reason)) => Before::Was { state, reason },
        None if prev.host(host.address).is_none() => Before::HostNotInRun,
        None => Before::Undecided,
    };
    let port = open.port;
    Finding {
        id: None,
        run_id: cur.id,
        kind: FindingKind::NewOpenPort,
        host: host.address,
        hostname: host.hostname.clone(),
        port,
        protocol: Protocol::Tcp,
        previous_state: before.map(|(state, _)| state),
        current_state: Some(PortState::Open),
        verdict: None,
        summary: Summary::NewOpenPort {
            previous_run: prev.id,
            before: then,
        },
        evidence: Evidence::NewOpenPort(NewOpenPortEvidence {
            attempts: open.attempts,
            previous_reason: before.map(|(_, reason)| reason),
            previous_run: prev.id,
            previous_state: before.map(|(state, _)| state),
            reason: open.reason,
            rtt: open.rtt,
        }),
        remediation: vec![
            Remediation::ConfirmExposure,
            Remediation::IdentifyListener {
                host: host.address,
                port,
            },
        ],
        verify: verify_command(host.address, port, Knobs::default(), ctx),
        created_at: ctx.now,
    }
}

#[cfg(test)]
mod tests {
    use picket_model::{Interference, InterferenceDetail, RunId};

    use super::*;
    use crate::exposure::testing::*;

    use Reason::{AdminProhibited, HostUnreach, NoResponse, Reset, SynAck};

    #[test]
    fn filtered_names_an_admin_prohibited_filter() {
        let cur = run(host(HostState::Up, HostReason::PortAnswered, 0.0), None);
        let f = one(
            &cur,
            recheck(
                Verdict::Filtered,
                &[AdminProhibited, NoResponse, AdminProhibited],
                &[SynAck],
                vec![],
            ),
        );
        assert_eq!(
            f.summary,
            Summary::Filtered {
                previous_run: RunId(6),
                admin_prohibited: 2,
                silent: 1,
                probes: 3,
                alive_ports: vec![22],
                reset_seen: false,
            }
        );
        assert!(matches!(
            f.remediation[0],
            Remediation::ReviewFirewall {
                port: 8443,
                admin_prohibited: true,
                ..
            }
        ));
        assert_eq!(f.current_state, Some(PortState::Filtered));
    }

    #[test]
    fn filtered_by_a_single_reset_says_what_proved_the_host_alive() {
        let cur = run(host(HostState::Up, HostReason::PortAnswered, 0.0), None);
        let r = recheck(
            Verdict::Filtered,
            &[NoResponse, Reset, NoResponse],
            &[NoResponse],
            vec![],
        );
        assert!(matches!(
            one(&cur, r).summary,
            Summary::Filtered {
                silent: 2,
                reset_seen: true,
                ref alive_ports,
                ..
            } if alive_ports.is_empty()
        ));
    }

    #[test]
    fn host_down_says_who_said_so() {
        let cur = run(host(HostState::Up, HostReason::PortAnswered, 0.0), None);
        let routed = one(
            &cur,
            recheck(Verdict::HostDown, &[HostUnreach, HostUnreach], &[], vec![]),
        );
        assert_eq!(
            routed.summary,
            Summary::HostDown {
                previous_run: RunId(6),
                cause: DownCause::RouterAnswered {
                    reason: HostUnreach
                },
            }
        );
        assert_eq!(routed.remediation.len(), 3);

        let cur = run(host(HostState::Down, HostReason::NoResponse, 0.0), None);
        let silent = one(
            &cur,
            recheck(Verdict::HostDown, &[NoResponse; 3], &[NoResponse], vec![]),
        );
        assert_eq!(
            silent.summary,
            Summary::HostDown {
                previous_run: RunId(6),
                cause: DownCause::NoAnswer { probes: 4 },
            }
        );
        assert_eq!(silent.remediation.len(), 2, "no router to blame");
        assert_eq!(
            silent.verify,
            Verify::Scan {
                host: IpAddr::from(HOST),
                port: 8443,
                max_rate: None,
                read_timeout: None,
                db: None,
                service_detect: false,
            }
        );
    }

    #[test]
    fn scan_interrupted_by_loss_suggests_settings_from_the_measurements() {
        let cur = run(
            host(HostState::Up, HostReason::PortAnswered, 0.31),
            Some(300.0),
        );
        let lossy = Interference {
            kind: InterferenceKind::RateLimited,
            detail: InterferenceDetail::Written("lost".to_owned()),
        };
        let f = one(
            &cur,
            recheck(Verdict::ScanInterrupted, &[SynAck], &[], vec![lossy]),
        );
        assert_eq!(
            f.summary,
            Summary::ScanInterrupted {
                previous_run: RunId(6),
                open_now: true,
                scan_reason: Some(NoResponse),
                cause: InterruptCause::LostProbes { loss: 0.31 },
            }
        );
        assert_eq!(
            f.remediation[1..],
            [
                Remediation::LowerMaxRate {
                    stopped_at: None,
                    to: 150.0
                },
                Remediation::LowerMaxChecks {
                    allowed: 4096,
                    to: 1024
                },
                Remediation::RaiseReadTimeout {
                    waited: Some(Duration::from_millis(1200)),
                    loss: Some(0.31),
                    to: Duration::from_secs(3),
                },
            ]
        );
        assert!(matches!(
            f.verify,
            Verify::Scan {
                max_rate: Some(150.0),
                read_timeout: Some(t),
                ..
            } if t == Duration::from_secs(3)
        ));
    }

    #[test]
    fn scan_interrupted_without_a_known_rate_suggests_a_patient_one() {
        let mut h = host(HostState::Up, HostReason::PortAnswered, 0.0);
        h.stats.read_timeout = Duration::from_millis(2600);
        let cur = run(h, None);
        let lost = Interference {
            kind: InterferenceKind::LivenessLost,
            detail: InterferenceDetail::Written("lost".to_owned()),
        };
        let f = one(
            &cur,
            recheck(
                Verdict::ScanInterrupted,
                &[NoResponse; 3],
                &[NoResponse],
                vec![lost],
            ),
        );
        assert!(matches!(
            f.summary,
            Summary::ScanInterrupted {
                open_now: false,
                cause: InterruptCause::StoppedAnswering,
                ..
            }
        ));
        assert!(matches!(
            f.verify,
            Verify::Scan {
                max_rate: Some(50.0),
                read_timeout: Some(t),
                ..
            } if t == Duration::from_secs(6)
        ));
    }

    #[test]
    fn flapping_counts_refusals_and_silence() {
        let cur = run(host(HostState::Up, HostReason::PortAnswered, 0.0), None);
        let f = one(
            &cur,
            recheck(
                Verdict::Flapping,
                &[SynAck, Reset, NoResponse, SynAck, NoResponse, NoResponse],
                &[],
                vec![],
            ),
        );
        assert_eq!(
            f.summary,
            Summary::Flapping {
                answered: 2,
                refused: 1,
                ignored: 3,
                probes: 6
            }
        );
        assert_eq!(f.current_state, None);
    }

    #[test]
    fn still_open_raises_no_finding() {
        let cur = run(host(HostState::Up, HostReason::PortAnswered, 0.0), None);
        let ctx = FindingContext {
            now: "2026-05-02T09:05:00Z".parse().unwrap(),
            db: None,
        };
        let r = recheck(Verdict::StillOpen, &[SynAck], &[], vec![]);
        assert!(findings(None, &cur, &[r], &ctx).is_empty());
    }
}
