//! The re-check's verdict: what the patient probes of one suspect port, and the probes of ports
//! that can prove the host alive, say about a port that was open in the previous run.
//!
//! The rules, in the order they are tried (`open` = syn-ack, `closed` = reset or ICMP
//! port-unreachable, `silent` = no response, counted over the port's re-check probes):
//!
//! 1. `open >= 1` and (`closed >= 1` or `silent >= 3`): **flapping** — contradictory answers.
//! 2. `open >= 1`: **scan-interrupted** when the run shows interference on the host (an
//!    interruption, or heavy loss while the scan gave this port up as no-response), else
//!    **still-open** (the scan was wrong; the run is corrected).
//! 3. `closed >= 2`, `open == 0`: **closed**, unless the host's resets cannot be trusted: a
//!    liveness port known to be open (it answered a SYN-ACK, in the run or the re-check) was
//!    reset during the re-check. A balancer with a dead backend, or a shared round-robin in
//!    front of several ports, resets open ports some of the time, and a run of resets on one port
//!    is then no proof that it closed: **flapping**. Silence among the resets is loss. A single
//!    reset is not enough: it falls through, counted as proof that the host is alive.
//! 4. Otherwise: **host-down** when this run found the host unreachable (our stack or a router
//!    said so); **filtered** when the host is alive (something answered); **host-down** when a
//!    router now says the host is unreachable and nothing else answers; with nothing answering,
//!    **scan-interrupted** when the host answered earlier in the run or the run saw it go silent,
//!    else **host-down**.
//!
//! Rule 4's third case refines the product design, which counts any answer as life: an ICMP
//! host- or network-unreachable from a router is an answer, but it says the host is gone, which
//! is what the design already concludes when the same message arrives during the scan.

use std::time::Duration;

use picket_model::{
    HostReason, HostResult, HostState, Interference, InterferenceDetail, InterferenceKind,
    Interruption, ProbeRecord, Protocol, Reason, Recheck, RecheckEvidence, RunId, Verdict,
};

use super::Suspect;

/// Everything the verdict on one suspect port is drawn from.
#[derive(Debug, Clone, Copy)]
pub struct RecheckInput<'a> {
    pub suspect: &'a Suspect,
    /// This run's result for the host (`None`: the run has no result for it).
    pub host: Option<&'a HostResult>,
    /// The patient re-check probes of this port.
    pub probes: &'a [ProbeRecord],
    /// Probes of liveness ports during the re-check.
    pub liveness: &'a [ProbeRecord],
}

/// Silent probes that, next to a syn-ack, make a port flapping rather than open behind a lossy
/// path.
///
/// A probe is lost when either the SYN or the answer is dropped. With 3% loss per direction a
/// probe is lost with p = 1 - 0.97² = 0.0591, and the number lost among 8 probes is binomial:
/// P(≥3 of 8 lost) = 1 - Σₖ₌₀² C(8,k)·pᵏ·(1-p)⁸⁻ᵏ = 1 - (0.61425 + 0.30866 + 0.06786) ≈ 0.0092,
/// about 1 in 110 (not 1 in 1,000). At 1% loss per direction (p = 0.0199) it is ≈ 4.1e-4; with
/// 5 probes at 3% it is ≈ 1.9e-3. So a lossy path alone rarely silences 3 probes of a port that
/// also answered. The chance is per port: on such a path, about 1 in 110 re-checked ports that
/// are open would be called `flapping` — a finding to look at, never a false `closed`.
pub const FLAPPING_MIN_SILENT: usize = 3;

/// Resets (or ICMP port-unreachables) needed to call a port closed: one could be a stray answer
/// (a reset from a middlebox, a service restarting), two agreeing ones with no syn-ack are not.
pub const CLOSED_MIN_RESETS: usize = 2;

/// Loss share above which a no-response from the scan is blamed on the path, not the port.
pub const HEAVY_LOSS: f64 = 0.2;

/// The port's re-check probes, counted by what came back. ICMP messages other than
/// port-unreachable count in none of these: the rules look at them through [`Facts`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub open: usize,
    pub closed: usize,
    pub silent: usize,
}

impl Counts {
    pub(crate) fn of(probes: &[ProbeRecord]) -> Self {
        let mut c = Self::default();
        for p in probes {
            match p.outcome {
                Reason::SynAck => c.open += 1,
                Reason::Reset | Reason::PortUnreach => c.closed += 1,
                Reason::NoResponse => c.silent += 1,
                Reason::AdminProhibited | Reason::HostUnreach | Reason::NetUnreach => {}
            }
        }
        c
    }
}

/// A router's word that the host (not the port) cannot be reached.
pub(crate) fn is_unreachable(reason: Reason) -> bool {
    matches!(reason, Reason::HostUnreach | Reason::NetUnreach)
}

/// What the run and the re-check say about the host, beyond the port's own counts.
struct Facts {
    /// The run recorded at least one interruption on the host.
    interrupted: bool,
    /// The scan gave this port up as no-response while losing many probes to the host.
    heavy_loss: bool,
    /// The host answered something earlier in this run.
    answered_in_run: bool,
    /// This run found the host down because our stack or a router said it is unreachable.
    down_unreachable: bool,
    /// Some re-check probe (of this port or a liveness port) got an answer that proves the host
    /// or a filter in front of it is there.
    alive: bool,
    /// Some re-check probe drew a host- or network-unreachable.
    router_unreachable: bool,
    /// No re-check probe got any answer at all.
    all_silent: bool,
    /// A liveness port known to be open was reset during the re-check.
    resets_unreliable: bool,
}

impl Facts {
    fn of(input: &RecheckInput) -> Self {
        let host = input.host;
        let outcomes = || input.probes.iter().chain(input.liveness).map(|p| p.outcome);
        Self {
            interrupted: host.is_some_and(|h| !h.interruptions.is_empty()),
            heavy_loss: input.suspect.scan_reason == Some(Reason::NoResponse)
                && host.is_some_and(|h| h.stats.loss > HEAVY_LOSS),
            answered_in_run: host.is_some_and(answered_in_run),
            down_unreachable: host.is_some_and(|h| {
                h.state == HostState::Down
                    && matches!(h.reason, HostReason::HostUnreach | HostReason::NetUnreach)
            }),
            alive: outcomes().any(|r| r.is_answer() && !is_unreachable(r)),
            router_unreachable: outcomes().any(is_unreachable),
            all_silent: !outcomes().any(Reason::is_answer),
            resets_unreliable: resets_unreliable(input),
        }
    }
}

/// Whether a port known to be open (a SYN-ACK in the run or in the re-check) was reset by the
/// host during the re-check.
fn resets_unreliable(input: &RecheckInput) -> bool {
    let reset = |r: Reason| matches!(r, Reason::Reset | Reason::PortUnreach);
    input.liveness.iter().filter(|p| reset(p.outcome)).any(|p| {
        let open_in_recheck = input
            .liveness
            .iter()
            .any(|q| q.port == p.port && q.outcome == Reason::SynAck);
        let open_in_run = input
            .host
            .is_some_and(|h| h.open_ports().any(|o| o.port == p.port));
        open_in_recheck || open_in_run
    })
}

/// Whether the host answered anything during the run. An `Up` host that never answered was
/// only assumed up (`--no-ping`), which proves nothing.
fn answered_in_run(host: &HostResult) -> bool {
    host.state == HostState::Up
        && (host.reason == HostReason::PortAnswered || host.stats.answers > 0)
}

fn decide(c: Counts, f: &Facts) -> Verdict {
    if c.open >= 1 && (c.closed >= 1 || c.silent >= FLAPPING_MIN_SILENT) {
        return Verdict::Flapping;
    }
    if c.open >= 1 {
        return if f.interrupted || f.heavy_loss {
            Verdict::ScanInterrupted
        } else {
            Verdict::StillOpen
        };
    }
    if c.closed >= CLOSED_MIN_RESETS {
        return if f.resets_unreliable {
            Verdict::Flapping
        } else {
            Verdict::Closed
        };
    }
    if f.down_unreachable {
        return Verdict::HostDown;
    }
    if f.alive {
        return Verdict::Filtered;
    }
    if f.router_unreachable {
        return Verdict::HostDown;
    }
    if f.answered_in_run || f.interrupted {
        Verdict::ScanInterrupted
    } else {
        Verdict::HostDown
    }
}

/// The verdict on one suspect port, and the signs of interference that the run and the re-check
/// show, in words (see the module documentation for the rules).
///
/// The interference list holds facts, whatever the verdict: every interruption the run recorded
/// on the host, heavy loss when the scan gave this port up as no-response, and lost liveness
/// when the host answered during the run and nothing answers the re-check.
pub fn classify(input: &RecheckInput) -> (Verdict, Vec<Interference>) {
    let facts = Facts::of(input);
    let verdict = decide(Counts::of(input.probes), &facts);

    let mut interference = Vec::new();
    if let Some(host) = input.host {
        interference.extend(host.interruptions.iter().map(went_silent));
        if facts.heavy_loss {
            interference.push(lossy(input, host));
        }
        if facts.answered_in_run && facts.all_silent {
            interference.push(liveness_lost(input, host));
        }
    }
    (verdict, interference)
}

/// Classifies one suspect and assembles the record kept with the run and behind its finding.
pub fn recheck(
    input: &RecheckInput,
    previous_run: RunId,
    recheck_rate: f64,
    recheck_timeout: Duration,
) -> Recheck {
    let (verdict, interference) = classify(input);
    Recheck {
        host: input.suspect.host,
        port: input.suspect.port,
        protocol: Protocol::Tcp,
        verdict,
        evidence: RecheckEvidence {
            previous_run,
            previous_reason: input.suspect.previous_reason,
            scan_reason: input.suspect.scan_reason,
            probes: input.probes.to_vec(),
            liveness: input.liveness.to_vec(),
            interference,
            recheck_rate,
            recheck_timeout_ms: u64::try_from(recheck_timeout.as_millis()).unwrap_or(u64::MAX),
        },
    }
}

fn went_silent(i: &Interruption) -> Interference {
    Interference {
        kind: InterferenceKind::HostWentSilent,
        detail: InterferenceDetail::WentSilent(i.clone()),
    }
}

fn lossy(input: &RecheckInput, host: &HostResult) -> Interference {
    let port = input.suspect.port;
    Interference {
        kind: InterferenceKind::RateLimited,
        detail: InterferenceDetail::LostProbes {
            loss: host.stats.loss,
            port,
            attempts: host
                .ports
                .iter()
                .find(|o| o.port == port)
                .map(|o| o.attempts),
        },
    }
}

fn liveness_lost(input: &RecheckInput, host: &HostResult) -> Interference {
    let mut ports: Vec<u16> = input.liveness.iter().map(|p| p.port).collect();
    ports.sort_unstable();
    ports.dedup();
    Interference {
        kind: InterferenceKind::LivenessLost,
        detail: InterferenceDetail::LivenessLost {
            answers: host.stats.answers,
            port: input.suspect.port,
            probes: input.probes.len(),
            liveness_probes: input.liveness.len(),
            liveness_ports: ports,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use picket_model::{HostStats, Observation};
    use proptest::prelude::*;

    use super::*;

    const PORT: u16 = 22;

    fn suspect(scan_reason: Option<Reason>) -> Suspect {
        Suspect {
            host: "192.0.2.10".parse().unwrap(),
            hostname: None,
            port: PORT,
            previous_reason: Reason::SynAck,
            scan_reason,
        }
    }

    /// A host that answered during the run: port 80 open, port 22 as `scan` said.
    fn up_host(scan: Reason) -> HostResult {
        HostResult {
            address: "192.0.2.10".parse().unwrap(),
            hostname: None,
            reverse_name: None,
            state: HostState::Up,
            reason: HostReason::PortAnswered,
            ports: vec![
                Observation::new(PORT, scan, None, 3),
                Observation::new(80, Reason::SynAck, Some(Duration::from_micros(900)), 1),
            ],
            extra_ports: vec![],
            unprobed: vec![],
            interruptions: vec![],
            stats: HostStats {
                probes_sent: 1300,
                answers: 1204,
                srtt: Some(Duration::from_micros(900)),
                loss: 0.01,
                retries: 2,
                read_timeout: Duration::from_millis(250),
            },
        }
    }

    fn down_host(reason: HostReason) -> HostResult {
        HostResult {
            state: HostState::Down,
            reason,
            ports: vec![],
            stats: HostStats::default(),
            ..up_host(Reason::NoResponse)
        }
    }

    fn interruption() -> Interruption {
        Interruption {
            at: "2026-05-01T14:02:11.250Z".parse().unwrap(),
            answered_before: 1204,
            silent_probes: 96,
            canary_port: Some(80),
            rate: 850.0,
            resumed: false,
            paused: Duration::from_secs(30),
        }
    }

    fn probes(port: u16, outcomes: &[Reason]) -> Vec<ProbeRecord> {
        outcomes
            .iter()
            .enumerate()
            .map(|(i, &outcome)| ProbeRecord {
                port,
                at_ms: i as u64 * 500,
                outcome,
                rtt: outcome.is_answer().then_some(Duration::from_micros(1100)),
            })
            .collect()
    }

    fn judge(
        scan_reason: Option<Reason>,
        host: Option<&HostResult>,
        port: &[Reason],
        liveness: &[Reason],
    ) -> (Verdict, Vec<Interference>) {
        let s = suspect(scan_reason);
        let probes = probes(PORT, port);
        let liveness = probes_of_80(liveness);
        classify(&RecheckInput {
            suspect: &s,
            host,
            probes: &probes,
            liveness: &liveness,
        })
    }

    fn probes_of_80(outcomes: &[Reason]) -> Vec<ProbeRecord> {
        probes(80, outcomes)
    }

    fn kinds(i: &[Interference]) -> Vec<InterferenceKind> {
        i.iter().map(|i| i.kind).collect()
    }

    use Reason::{
        AdminProhibited, HostUnreach, NetUnreach, NoResponse, PortUnreach, Reset, SynAck,
    };

    // Rule 1: flapping.

    #[test]
    fn syn_ack_and_reset_is_flapping() {
        let host = up_host(NoResponse);
        let (v, _) = judge(
            Some(NoResponse),
            Some(&host),
            &[SynAck, Reset, SynAck],
            &[SynAck],
        );
        assert_eq!(v, Verdict::Flapping);
    }

    #[test]
    fn syn_ack_and_port_unreach_is_flapping() {
        let host = up_host(NoResponse);
        let (v, _) = judge(Some(NoResponse), Some(&host), &[PortUnreach, SynAck], &[]);
        assert_eq!(v, Verdict::Flapping);
    }

    #[test]
    fn syn_ack_and_three_silent_is_flapping() {
        let host = up_host(NoResponse);
        let port = [SynAck, NoResponse, NoResponse, SynAck, NoResponse];
        let (v, _) = judge(Some(NoResponse), Some(&host), &port, &[SynAck]);
        assert_eq!(v, Verdict::Flapping);
    }

    #[test]
    fn flapping_wins_over_interference() {
        let mut host = up_host(NoResponse);
        host.interruptions.push(interruption());
        let (v, i) = judge(Some(NoResponse), Some(&host), &[SynAck, Reset], &[]);
        assert_eq!(v, Verdict::Flapping);
        assert_eq!(kinds(&i), vec![InterferenceKind::HostWentSilent]);
    }

    // Rule 2: open.

    #[test]
    fn syn_ack_with_two_silent_is_still_open() {
        let host = up_host(NoResponse);
        let port = [NoResponse, SynAck, NoResponse, SynAck];
        let (v, i) = judge(Some(NoResponse), Some(&host), &port, &[SynAck]);
        assert_eq!(v, Verdict::StillOpen);
        assert!(i.is_empty());
    }

    #[test]
    fn syn_ack_with_admin_prohibited_is_still_open() {
        let host = up_host(AdminProhibited);
        let (v, _) = judge(
            Some(AdminProhibited),
            Some(&host),
            &[AdminProhibited, SynAck],
            &[],
        );
        assert_eq!(v, Verdict::StillOpen);
    }

    #[test]
    fn syn_ack_on_an_interrupted_host_is_scan_interrupted() {
        let mut host = up_host(NoResponse);
        host.interruptions.push(interruption());
        let (v, i) = judge(None, Some(&host), &[SynAck, SynAck], &[SynAck]);
        assert_eq!(v, Verdict::ScanInterrupted);
        assert_eq!(kinds(&i), vec![InterferenceKind::HostWentSilent]);
        assert_eq!(i[0].detail, InterferenceDetail::WentSilent(interruption()));
    }

    #[test]
    fn syn_ack_after_no_response_under_heavy_loss_is_scan_interrupted() {
        let mut host = up_host(NoResponse);
        host.stats.loss = 0.27;
        let (v, i) = judge(Some(NoResponse), Some(&host), &[SynAck], &[]);
        assert_eq!(v, Verdict::ScanInterrupted);
        assert_eq!(kinds(&i), vec![InterferenceKind::RateLimited]);
        assert_eq!(
            i[0].detail,
            InterferenceDetail::LostProbes {
                loss: 0.27,
                port: 22,
                attempts: Some(3)
            }
        );
    }

    #[test]
    fn heavy_loss_at_exactly_the_threshold_is_still_open() {
        let mut host = up_host(NoResponse);
        host.stats.loss = HEAVY_LOSS;
        let (v, _) = judge(Some(NoResponse), Some(&host), &[SynAck], &[]);
        assert_eq!(v, Verdict::StillOpen);
    }

    #[test]
    fn heavy_loss_does_not_excuse_a_reset_from_the_scan() {
        let mut host = up_host(Reset);
        host.stats.loss = 0.5;
        let (v, i) = judge(Some(Reset), Some(&host), &[SynAck], &[]);
        assert_eq!(v, Verdict::StillOpen);
        assert!(i.is_empty());
    }

    // Rule 3: closed.

    #[test]
    fn two_resets_are_closed() {
        let host = up_host(Reset);
        let (v, _) = judge(Some(Reset), Some(&host), &[Reset, Reset], &[SynAck]);
        assert_eq!(v, Verdict::Closed);
    }

    #[test]
    fn resets_among_silence_are_closed() {
        let host = up_host(NoResponse);
        let port = [NoResponse, Reset, NoResponse, NoResponse, PortUnreach];
        let (v, _) = judge(Some(NoResponse), Some(&host), &port, &[]);
        assert_eq!(v, Verdict::Closed);
    }

    #[test]
    fn resets_from_a_host_the_run_found_down_are_closed() {
        let host = down_host(HostReason::HostUnreach);
        let (v, _) = judge(None, Some(&host), &[Reset, Reset], &[]);
        assert_eq!(v, Verdict::Closed);
    }

    // Rule 4: neither open nor proven closed.

    #[test]
    fn one_reset_among_silence_is_filtered_not_closed() {
        let host = up_host(NoResponse);
        let port = [NoResponse, Reset, NoResponse, NoResponse];
        let (v, i) = judge(Some(NoResponse), Some(&host), &port, &[NoResponse]);
        assert_eq!(v, Verdict::Filtered);
        assert!(i.is_empty());
    }

    #[test]
    fn silent_port_on_an_answering_host_is_filtered() {
        let host = up_host(NoResponse);
        let port = [NoResponse; 4];
        let (v, i) = judge(Some(NoResponse), Some(&host), &port, &[SynAck, SynAck]);
        assert_eq!(v, Verdict::Filtered);
        assert!(i.is_empty());
    }

    #[test]
    fn admin_prohibited_is_filtered() {
        let host = up_host(AdminProhibited);
        let port = [AdminProhibited, AdminProhibited];
        let (v, _) = judge(Some(AdminProhibited), Some(&host), &port, &[]);
        assert_eq!(v, Verdict::Filtered);
    }

    #[test]
    fn filtered_on_an_interrupted_host_keeps_the_interruption_as_evidence() {
        let mut host = up_host(NoResponse);
        host.interruptions.push(Interruption {
            resumed: true,
            ..interruption()
        });
        let (v, i) = judge(None, Some(&host), &[NoResponse; 3], &[SynAck]);
        assert_eq!(v, Verdict::Filtered);
        assert_eq!(kinds(&i), vec![InterferenceKind::HostWentSilent]);
        assert!(
            matches!(&i[0].detail, InterferenceDetail::WentSilent(i) if i.resumed),
            "{:?}",
            i[0].detail
        );
    }

    #[test]
    fn host_unreach_in_the_run_is_host_down() {
        let host = down_host(HostReason::HostUnreach);
        let (v, i) = judge(None, Some(&host), &[NoResponse; 3], &[]);
        assert_eq!(v, Verdict::HostDown);
        assert!(i.is_empty());
    }

    #[test]
    fn net_unreach_in_the_run_is_host_down_even_with_one_reset_now() {
        let host = down_host(HostReason::NetUnreach);
        let (v, _) = judge(None, Some(&host), &[NoResponse, Reset], &[]);
        assert_eq!(v, Verdict::HostDown);
    }

    #[test]
    fn router_unreachable_now_and_nothing_else_is_host_down() {
        let host = up_host(NoResponse);
        let (v, i) = judge(
            Some(NoResponse),
            Some(&host),
            &[HostUnreach, HostUnreach],
            &[NetUnreach],
        );
        assert_eq!(v, Verdict::HostDown);
        assert!(
            i.is_empty(),
            "a router answered: liveness is not lost silently"
        );
    }

    #[test]
    fn router_unreachable_for_one_port_while_others_answer_is_filtered() {
        let host = up_host(NoResponse);
        let (v, _) = judge(Some(NoResponse), Some(&host), &[HostUnreach], &[SynAck]);
        assert_eq!(v, Verdict::Filtered);
    }

    #[test]
    fn host_that_answered_in_the_run_and_is_silent_now_is_scan_interrupted() {
        let host = up_host(NoResponse);
        let (v, i) = judge(
            Some(NoResponse),
            Some(&host),
            &[NoResponse; 4],
            &[NoResponse; 2],
        );
        assert_eq!(v, Verdict::ScanInterrupted);
        assert_eq!(kinds(&i), vec![InterferenceKind::LivenessLost]);
        assert_eq!(
            i[0].detail,
            InterferenceDetail::LivenessLost {
                answers: 1204,
                port: 22,
                probes: 4,
                liveness_probes: 2,
                liveness_ports: vec![80]
            }
        );
    }

    #[test]
    fn silent_host_without_liveness_ports_is_scan_interrupted_and_says_so() {
        let mut host = up_host(NoResponse);
        host.stats.answers = 0;
        let (v, i) = judge(Some(NoResponse), Some(&host), &[NoResponse], &[]);
        assert_eq!(v, Verdict::ScanInterrupted);
        assert!(matches!(
            &i[0].detail,
            InterferenceDetail::LivenessLost {
                probes: 1,
                port: 22,
                liveness_probes: 0,
                ..
            }
        ));
    }

    #[test]
    fn interrupted_and_silent_now_names_both_signs() {
        let mut host = up_host(NoResponse);
        host.interruptions.push(interruption());
        host.unprobed.push(PORT);
        host.ports.retain(|o| o.port != PORT);
        let (v, i) = judge(None, Some(&host), &[NoResponse; 3], &[NoResponse]);
        assert_eq!(v, Verdict::ScanInterrupted);
        assert_eq!(
            kinds(&i),
            vec![
                InterferenceKind::HostWentSilent,
                InterferenceKind::LivenessLost
            ]
        );
    }

    #[test]
    fn interruptions_alone_make_a_silent_host_scan_interrupted() {
        let mut host = down_host(HostReason::NoResponse);
        host.interruptions.push(interruption());
        let (v, i) = judge(None, Some(&host), &[NoResponse; 3], &[]);
        assert_eq!(v, Verdict::ScanInterrupted);
        assert_eq!(kinds(&i), vec![InterferenceKind::HostWentSilent]);
    }

    #[test]
    fn host_that_never_answered_is_host_down() {
        let host = down_host(HostReason::NoResponse);
        let (v, i) = judge(None, Some(&host), &[NoResponse; 3], &[NoResponse]);
        assert_eq!(v, Verdict::HostDown);
        assert!(i.is_empty());
    }

    #[test]
    fn user_set_host_that_never_answered_is_host_down() {
        let mut host = up_host(NoResponse);
        host.reason = HostReason::UserSet;
        host.stats.answers = 0;
        let (v, _) = judge(Some(NoResponse), Some(&host), &[NoResponse; 3], &[]);
        assert_eq!(v, Verdict::HostDown);
    }

    #[test]
    fn no_result_for_the_host_and_silence_is_host_down() {
        let (v, i) = judge(None, None, &[NoResponse; 3], &[]);
        assert_eq!(v, Verdict::HostDown);
        assert!(i.is_empty());
    }

    #[test]
    fn no_probes_at_all_never_claim_more_than_the_run_knows() {
        let host = up_host(NoResponse);
        assert_eq!(
            judge(Some(NoResponse), Some(&host), &[], &[]).0,
            Verdict::ScanInterrupted
        );
        assert_eq!(judge(None, None, &[], &[]).0, Verdict::HostDown);
    }

    #[test]
    fn recheck_keeps_the_evidence() {
        let mut host = up_host(NoResponse);
        host.interruptions.push(interruption());
        let s = suspect(Some(NoResponse));
        let port = probes(PORT, &[NoResponse, NoResponse]);
        let live = probes(80, &[NoResponse]);
        let r = recheck(
            &RecheckInput {
                suspect: &s,
                host: Some(&host),
                probes: &port,
                liveness: &live,
            },
            RunId(41),
            20.0,
            Duration::from_secs(3),
        );
        assert_eq!(r.verdict, Verdict::ScanInterrupted);
        assert_eq!(r.port, PORT);
        assert_eq!(r.evidence.previous_run, RunId(41));
        assert_eq!(r.evidence.scan_reason, Some(NoResponse));
        assert_eq!(r.evidence.probes, port);
        assert_eq!(r.evidence.liveness, live);
        assert_eq!(r.evidence.recheck_timeout_ms, 3000);
        assert_eq!(r.evidence.interference.len(), 2);
    }

    /// Checks the arithmetic in [`FLAPPING_MIN_SILENT`]'s documentation.
    #[test]
    fn flapping_threshold_probability_matches_its_documentation() {
        fn at_least(k: u64, n: u64, p: f64) -> f64 {
            let choose =
                |n: u64, k: u64| (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64);
            (k..=n)
                .map(|j| choose(n, j) * p.powi(j as i32) * (1.0 - p).powi((n - j) as i32))
                .sum()
        }
        let lost = |per_direction: f64| 1.0 - (1.0 - per_direction).powi(2);
        let k = FLAPPING_MIN_SILENT as u64;
        assert!((at_least(k, 8, lost(0.03)) - 0.0092).abs() < 0.00005);
        assert!((at_least(k, 8, lost(0.01)) - 4.1e-4).abs() < 0.05e-4);
        assert!((at_least(k, 5, lost(0.03)) - 1.9e-3).abs() < 0.05e-3);
    }

    fn any_reason() -> impl Strategy<Value = Reason> {
        prop_oneof![
            Just(SynAck),
            Just(Reset),
            Just(PortUnreach),
            Just(NoResponse),
            Just(AdminProhibited),
            Just(HostUnreach),
            Just(NetUnreach),
        ]
    }

    fn any_host() -> impl Strategy<Value = Option<HostResult>> {
        (
            any::<bool>(),
            prop_oneof![
                Just(HostReason::PortAnswered),
                Just(HostReason::ArpResponse),
                Just(HostReason::EchoReply),
                Just(HostReason::UserSet),
                Just(HostReason::NoResponse),
                Just(HostReason::HostUnreach),
                Just(HostReason::NetUnreach),
            ],
            any::<bool>(),
            0.0..1.0f64,
            any::<bool>(),
        )
            .prop_map(|(up, reason, interrupted, loss, present)| {
                present.then(|| {
                    let mut h = up_host(NoResponse);
                    if !up {
                        h = down_host(reason);
                    } else {
                        h.reason = reason;
                    }
                    h.stats.loss = loss;
                    if interrupted {
                        h.interruptions.push(interruption());
                    }
                    h
                })
            })
    }

    #[test]
    fn resets_from_a_host_that_resets_its_open_ports_do_not_prove_closed() {
        // Three ports behind one round-robin counter: the re-check's probes of the suspect
        // happened to draw every reset, and the liveness port (open in the run) drew some too.
        let host = up_host(NoResponse);
        let (v, _) = judge(
            Some(Reset),
            Some(&host),
            &[Reset, Reset, Reset, Reset, Reset, Reset],
            &[SynAck, Reset, SynAck, Reset, SynAck, Reset],
        );
        assert_eq!(v, Verdict::Flapping);
        // The same resets with a liveness port that answers steadily: closed.
        let (v, _) = judge(
            Some(Reset),
            Some(&host),
            &[Reset, Reset, Reset, Reset, Reset, Reset],
            &[SynAck; 6],
        );
        assert_eq!(v, Verdict::Closed);
    }

    proptest! {
        #[test]
        fn no_open_port_is_ever_judged_closed(
            mut port in prop::collection::vec(any_reason(), 0..12),
            at in any::<prop::sample::Index>(),
            liveness in prop::collection::vec(any_reason(), 0..6),
            scan in prop::option::of(any_reason()),
            host in any_host(),
        ) {
            let i = at.index(port.len() + 1);
            port.insert(i, SynAck);
            let (v, _) = judge(scan, host.as_ref(), &port, &liveness);
            prop_assert!(
                matches!(v, Verdict::StillOpen | Verdict::ScanInterrupted | Verdict::Flapping),
                "{port:?} -> {v}"
            );
        }

        #[test]
        fn without_a_syn_ack_the_port_is_never_called_open(
            port in prop::collection::vec(any_reason().prop_filter("no syn-ack", |r| *r != SynAck), 0..12),
            liveness in prop::collection::vec(any_reason(), 0..6),
            scan in prop::option::of(any_reason()),
            host in any_host(),
        ) {
            let (v, _) = judge(scan, host.as_ref(), &port, &liveness);
            prop_assert!(v != Verdict::StillOpen, "{port:?} -> {v}");
            // Flapping without a syn-ack only where the host reset a port known to be open.
            let reset_open_port = liveness.iter().any(|r| matches!(r, Reset | PortUnreach))
                && (liveness.contains(&SynAck)
                    || host.as_ref().is_some_and(|h| h.open_ports().any(|o| o.port == 80)));
            prop_assert!(v != Verdict::Flapping || reset_open_port, "{port:?} {liveness:?} -> {v}");
        }
    }
}
