//! Findings: a verdict or a new open port, put in words a person can act on, with the evidence
//! behind it and a command that checks the fix.

use std::net::IpAddr;
use std::time::Duration;

use picket_model::{
    Finding, FindingKind, HostReason, HostResult, HostState, InterferenceKind, Observation,
    PortState, Protocol, Reason, Recheck, ScanRun, Timestamp, Verdict, without_password,
};
use serde_json::json;

use super::verdict::{Counts, is_unreachable};
use crate::words::{count, duration, percent, port_list, rate, shell_quote, thousands};

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

/// `192.0.2.10 (web1.example.net)`, or the address alone.
fn who(address: IpAddr, hostname: Option<&str>) -> String {
    match hostname {
        Some(name) => format!("{address} ({name})"),
        None => address.to_string(),
    }
}

/// `picket scan HOST -p PORT [KNOBS] [--db DB]`.
pub(super) fn verify_command(
    host: IpAddr,
    port: u16,
    knobs: &[String],
    ctx: &FindingContext,
) -> String {
    let mut cmd = format!("picket scan {host} -p {port}");
    for knob in knobs {
        cmd.push(' ');
        cmd.push_str(knob);
    }
    // Findings are stored and shown: a password in the location must never be copied into them.
    if let Some(db) = ctx.db {
        cmd.push_str(" --db ");
        cmd.push_str(&shell_quote(&without_password(db)));
    }
    cmd
}

/// The `open-port-recheck` finding of one re-check; none for `still-open`.
fn recheck_finding(cur: &ScanRun, r: &Recheck, ctx: &FindingContext) -> Option<Finding> {
    let host = cur.host(r.host);
    let hostname = host.and_then(|h| h.hostname.clone());
    let words = Words::new(cur, host, r, hostname.as_deref());
    let ((summary, remediation, knobs), current_state) = match r.verdict {
        Verdict::StillOpen => return None,
        Verdict::Closed => (words.closed(), Some(PortState::Closed)),
        Verdict::Filtered => (words.filtered(), Some(PortState::Filtered)),
        // The port's state stays unknown: the host, the path or the service is in the way.
        Verdict::HostDown => (words.host_down(), None),
        Verdict::ScanInterrupted => (words.scan_interrupted(), None),
        Verdict::Flapping => (words.flapping(), None),
    };
    Some(Finding {
        id: None,
        run_id: cur.id,
        kind: FindingKind::OpenPortRecheck,
        host: r.host,
        hostname,
        port: r.port,
        protocol: r.protocol,
        previous_state: Some(PortState::Open),
        current_state,
        verdict: Some(r.verdict),
        summary,
        // Serialising plain data into a `Value` cannot fail (no maps with non-string keys, and
        // non-finite floats become null); should the model ever change that, the finding still
        // stands and says why its evidence is missing.
        evidence: serde_json::to_value(&r.evidence)
            .unwrap_or_else(|e| json!({ "error": format!("evidence not serialisable: {e}") })),
        remediation,
        verify: verify_command(r.host, r.port, &knobs, ctx),
        created_at: ctx.now,
    })
}

/// The numbers and names a re-check finding's sentences are built from.
struct Words<'a> {
    cur: &'a ScanRun,
    host: Option<&'a HostResult>,
    r: &'a Recheck,
    who: String,
    /// `22/tcp`.
    port: String,
    counts: Counts,
    /// Re-check probes of this port.
    total: usize,
    admin_prohibited: usize,
}

type Words3 = (String, Vec<String>, Vec<String>);

impl<'a> Words<'a> {
    fn new(
        cur: &'a ScanRun,
        host: Option<&'a HostResult>,
        r: &'a Recheck,
        hostname: Option<&str>,
    ) -> Self {
        let probes = &r.evidence.probes;
        Self {
            cur,
            host,
            r,
            who: who(r.host, hostname),
            port: format!("{}/{}", r.port, r.protocol),
            counts: Counts::of(probes),
            total: probes.len(),
            admin_prohibited: probes
                .iter()
                .filter(|p| p.outcome == Reason::AdminProhibited)
                .count(),
        }
    }

    fn of_total(&self, n: usize) -> String {
        format!("{n} of {} re-check probes", self.total)
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

    /// `reported it filtered (no-response)`, `left it undecided`.
    fn scan_said(&self) -> String {
        match self.r.evidence.scan_reason {
            Some(reason) => format!("reported it {} ({reason})", reason.state()),
            None => "left it undecided".to_owned(),
        }
    }

    fn closed(&self) -> Words3 {
        let port = self.r.port;
        let summary = format!(
            "Port {} on {} was open in run {} and now refuses connections: {} were refused (reset).",
            self.port,
            self.who,
            self.r.evidence.previous_run,
            self.of_total(self.counts.closed),
        );
        let remediation = vec![
            format!(
                "Check the service that listened on port {port} of {}: `ss -ltnp 'sport = :{port}'`, \
                 `systemctl status` and its logs (`journalctl -u UNIT`); restart it if it should be \
                 running.",
                self.r.host
            ),
            "If the service was retired on purpose, confirm that the change was planned; the next \
             run compares against this one, so the finding will not repeat."
                .to_owned(),
        ];
        (summary, remediation, Vec::new())
    }

    fn filtered(&self) -> Words3 {
        let mut why = Vec::new();
        if self.admin_prohibited > 0 {
            why.push(format!(
                "a filter answered {} with ICMP admin-prohibited",
                self.of_total(self.admin_prohibited)
            ));
        }
        if self.counts.silent > 0 {
            why.push(format!(
                "{} went unanswered",
                self.of_total(self.counts.silent)
            ));
        }
        let alive = self.answering_ports();
        let proof = if !alive.is_empty() {
            format!(
                " while the host answers on port{} {}",
                if alive.len() == 1 { "" } else { "s" },
                port_list(&alive)
            )
        } else if self.counts.closed > 0 {
            " while the host answered one probe with a reset".to_owned()
        } else {
            String::new()
        };
        let summary = format!(
            "Port {} on {} was open in run {} and is now filtered: {}{proof}.",
            self.port,
            self.who,
            self.r.evidence.previous_run,
            if why.is_empty() {
                "no re-check probe got through".to_owned()
            } else {
                why.join(" and ")
            },
        );
        let kind = if self.admin_prohibited > 0 {
            "rejects (ICMP admin-prohibited)"
        } else {
            "drops"
        };
        let remediation = vec![
            format!(
                "A firewall or security group now {kind} port {} while the host answers on \
                 others: review recent firewall changes on {} and in front of it \
                 (nftables/iptables rules, cloud security groups, network ACLs).",
                self.r.port, self.r.host
            ),
            format!(
                "If the scanner should see port {}, allow the scanner's address to it; if the port \
                 was closed to the outside on purpose, this finding confirms the change.",
                self.r.port
            ),
        ];
        (summary, remediation, Vec::new())
    }

    fn host_down(&self) -> Words3 {
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
        let unreachable = matches!(
            run_reason,
            Some(HostReason::HostUnreach | HostReason::NetUnreach)
        );
        let why = if let (true, Some(reason)) = (unreachable, run_reason) {
            format!("the scan found it unreachable ({reason})")
        } else if let Some(reason) = router_now {
            format!("a router answered the re-check with {reason}")
        } else {
            let probes = self.total + self.r.evidence.liveness.len();
            format!(
                "neither the scan nor {} got an answer from it",
                count(probes as u64, "re-check probe")
            )
        };
        let summary = format!(
            "{} is down: {why}; port {} was open on it in run {}.",
            self.who, self.port, self.r.evidence.previous_run
        );
        let mut remediation = vec![format!(
            "Check that {} is powered on and connected: its console, its switch port or cloud \
             instance state, and the neighbour table (`ip neigh`) from a machine on its network.",
            self.r.host
        )];
        if unreachable || router_now.is_some() {
            remediation.push(
                "A router or this machine's own stack reported the host unreachable: check the \
                 route to its network and the gateway in between."
                    .to_owned(),
            );
        }
        remediation.push(
            "Re-scan once it is back: the port's state is unknown until the host answers."
                .to_owned(),
        );
        (summary, remediation, Vec::new())
    }

    fn scan_interrupted(&self) -> Words3 {
        let kinds: Vec<_> = self
            .r
            .evidence
            .interference
            .iter()
            .map(|i| i.kind)
            .collect();
        let interruption = self.host.and_then(|h| h.interruptions.first());
        let cause = if let Some(i) = interruption {
            format!(
                "the host stopped answering in the middle of the scan (at {:.0}, {} probes/s)",
                i.at,
                rate(i.rate)
            )
        } else if kinds.contains(&InterferenceKind::RateLimited) {
            format!(
                "the scan lost {} of its probes to the host",
                percent(self.host.map_or(0.0, |h| h.stats.loss))
            )
        } else {
            "the host answered earlier in the run and answers nothing now".to_owned()
        };
        let summary = if self.counts.open > 0 {
            format!(
                "Port {} on {} is open (the re-check got a syn-ack), but the scan {} because \
                 {cause}: the scan was disturbed, not the port.",
                self.port,
                self.who,
                self.scan_said()
            )
        } else {
            format!(
                "Port {} on {}, open in run {}, could not be checked because {cause}: its state is \
                 unknown.",
                self.port, self.who, self.r.evidence.previous_run
            )
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

        let mut remediation = Vec::new();
        remediation.push(match interruption {
            Some(i) => format!(
                "Allow-list the scanner's address in the IPS or firewall in front of {}: it \
                 answered {}, then went silent at {:.0} while the scan sent {} probes/s.",
                self.r.host,
                count(i.answered_before, "probe"),
                i.at,
                rate(i.rate)
            ),
            None => format!(
                "Allow-list the scanner's address in the IPS or firewall in front of {}.",
                self.r.host
            ),
        });
        remediation.push(match slowest {
            Some(r) => format!(
                "Lower --max-rate below the rate at which answers stopped ({} probes/s): \
                 --max-rate {}.",
                rate(r),
                rate(max_rate)
            ),
            None => format!("Lower --max-rate: --max-rate {}.", rate(max_rate)),
        });
        remediation.push(format!(
            "Lower --max-checks (this run allowed {} probes in flight): --max-checks {}.",
            thousands(max_checks as u64),
            (max_checks / 4).max(1)
        ));
        let loss = self
            .host
            .filter(|h| h.stats.loss > 0.0)
            .map(|h| format!(", and lost {} of its probes", percent(h.stats.loss)))
            .unwrap_or_default();
        remediation.push(match measured_timeout {
            Some(d) => format!(
                "Raise --read-timeout (the scan waited {} per probe{loss}): --read-timeout {}.",
                duration(d),
                duration(read_timeout)
            ),
            None => format!(
                "Raise --read-timeout: --read-timeout {}.",
                duration(read_timeout)
            ),
        });
        let knobs = vec![
            format!("--max-rate {}", rate(max_rate)),
            format!("--read-timeout {}", duration(read_timeout)),
        ];
        (summary, remediation, knobs)
    }

    fn flapping(&self) -> Words3 {
        let mut rest = Vec::new();
        if self.counts.closed > 0 {
            rest.push(format!("refused {}", self.counts.closed));
        }
        if self.counts.silent > 0 {
            rest.push(format!("ignored {}", self.counts.silent));
        }
        let summary = format!(
            "Port {} on {} answered {} and {}: the service is unstable.",
            self.port,
            self.who,
            self.of_total(self.counts.open),
            rest.join(" and ")
        );
        let remediation = vec![
            format!(
                "Check the health of the service on port {}: restarts and crashes (`systemctl \
                 status`, `journalctl`), resource and connection limits (listen backlog, maximum \
                 connections).",
                self.r.port
            ),
            "If a load balancer or several backends serve this port, check their members: one \
             unhealthy member makes answers alternate."
                .to_owned(),
            "Re-check later: flapping that persists across runs means some clients fail."
                .to_owned(),
        ];
        (summary, remediation, Vec::new())
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
        Some((state, reason)) => format!("it was {state} ({reason})"),
        None if prev.host(host.address).is_none() => "the host was not in that run".to_owned(),
        None => "the port was not decided then".to_owned(),
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
        summary: format!(
            "Port {port}/{} on {} is open and was not open in run {}: {then}.",
            open.protocol,
            who(host.address, host.hostname.as_deref()),
            prev.id
        ),
        evidence: json!({
            "previous_run": prev.id,
            "previous_state": before.map(|(state, _)| state),
            "previous_reason": before.map(|(_, reason)| reason),
            "reason": open.reason,
            "rtt_us": open.rtt.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            "attempts": open.attempts,
        }),
        remediation: vec![
            "Confirm this service should be exposed; if not, stop it or filter the port."
                .to_owned(),
            format!(
                "Identify what listens on {}: `ss -ltnp 'sport = :{port}'` on the host.",
                host.address
            ),
        ],
        verify: verify_command(host.address, port, &[], ctx),
        created_at: ctx.now,
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use picket_model::{
        HostStats, Interference, ProbeRecord, RecheckEvidence, RunId, RunStatus, ScanProfile,
        Targets,
    };

    use super::*;

    const HOST: [u8; 4] = [192, 0, 2, 20];

    fn host(state: HostState, reason: HostReason, loss: f64) -> HostResult {
        HostResult {
            address: IpAddr::from(HOST),
            hostname: None,
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

    fn run(host: HostResult, max_rate: Option<f64>) -> ScanRun {
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
        }
    }

    fn probes(port: u16, outcomes: &[Reason]) -> Vec<ProbeRecord> {
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

    fn recheck(
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

    fn one(cur: &ScanRun, r: Recheck) -> Finding {
        let ctx = FindingContext {
            now: "2026-05-02T09:05:00Z".parse().unwrap(),
            db: None,
        };
        let mut all = findings(None, cur, &[r], &ctx);
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

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
            "Port 8443/tcp on 192.0.2.20 was open in run 6 and is now filtered: a filter answered \
             2 of 3 re-check probes with ICMP admin-prohibited and 1 of 3 re-check probes went \
             unanswered while the host answers on port 22."
        );
        assert!(f.remediation[0].starts_with(
            "A firewall or security group now rejects (ICMP admin-prohibited) port 8443"
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
        assert!(one(&cur, r).summary.ends_with(
            "2 of 3 re-check probes went unanswered while the host answered one probe with a reset."
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
            "192.0.2.20 is down: a router answered the re-check with host-unreach; port 8443/tcp \
             was open on it in run 6."
        );
        assert_eq!(routed.remediation.len(), 3);

        let cur = run(host(HostState::Down, HostReason::NoResponse, 0.0), None);
        let silent = one(
            &cur,
            recheck(Verdict::HostDown, &[NoResponse; 3], &[NoResponse], vec![]),
        );
        assert_eq!(
            silent.summary,
            "192.0.2.20 is down: neither the scan nor 4 re-check probes got an answer from it; \
             port 8443/tcp was open on it in run 6."
        );
        assert_eq!(silent.remediation.len(), 2, "no router to blame");
        assert_eq!(silent.verify, "picket scan 192.0.2.20 -p 8443");
    }

    #[test]
    fn scan_interrupted_by_loss_suggests_settings_from_the_measurements() {
        let cur = run(
            host(HostState::Up, HostReason::PortAnswered, 0.31),
            Some(300.0),
        );
        let lossy = Interference {
            kind: InterferenceKind::RateLimited,
            detail: "lost".to_owned(),
        };
        let f = one(
            &cur,
            recheck(Verdict::ScanInterrupted, &[SynAck], &[], vec![lossy]),
        );
        assert_eq!(
            f.summary,
            "Port 8443/tcp on 192.0.2.20 is open (the re-check got a syn-ack), but the scan \
             reported it filtered (no-response) because the scan lost 31% of its probes to the \
             host: the scan was disturbed, not the port."
        );
        assert_eq!(
            f.remediation[1..],
            [
                "Lower --max-rate: --max-rate 150.",
                "Lower --max-checks (this run allowed 4,096 probes in flight): --max-checks 1024.",
                "Raise --read-timeout (the scan waited 1200ms per probe, and lost 31% of its \
                 probes): --read-timeout 3s.",
            ]
        );
        assert_eq!(
            f.verify,
            "picket scan 192.0.2.20 -p 8443 --max-rate 150 --read-timeout 3s"
        );
    }

    #[test]
    fn scan_interrupted_without_a_known_rate_suggests_a_patient_one() {
        let mut h = host(HostState::Up, HostReason::PortAnswered, 0.0);
        h.stats.read_timeout = Duration::from_millis(2600);
        let cur = run(h, None);
        let lost = Interference {
            kind: InterferenceKind::LivenessLost,
            detail: "lost".to_owned(),
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
        assert!(f.summary.contains(
            "could not be checked because the host answered earlier in the run and answers \
             nothing now"
        ));
        assert_eq!(
            f.verify,
            "picket scan 192.0.2.20 -p 8443 --max-rate 50 --read-timeout 6s"
        );
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
            "Port 8443/tcp on 192.0.2.20 answered 2 of 6 re-check probes and refused 1 and \
             ignored 3: the service is unstable."
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
