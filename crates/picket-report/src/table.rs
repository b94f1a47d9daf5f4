//! Plain text for a person on a terminal: aligned columns, counts with separators, plain words
//! for what the engine saw. No colours and no width detection, so that the output is the same in a
//! pipe, a file and a snapshot.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use picket_model::{
    Evidence, Finding, HostResult, HostState, Interference, Interruption, NewOpenPortEvidence,
    PortChange, PortSet, PortState, ProbeRecord, Reason, Recheck, RecheckEvidence, RunDiff,
    RunStatus, RunSummary, ScanRun, Timestamp, VulnerableServiceEvidence,
};

use crate::safe::terminal_safe;
use crate::words::{self, columns, count, counted};
use crate::{Format, ReportError};

fn emit(out: &mut dyn Write, what: &'static str, text: &str) -> Result<(), ReportError> {
    out.write_all(text.as_bytes())
        .map_err(ReportError::io(what, Format::Table))
}

fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or_default()
}

pub(crate) fn scan(
    out: &mut dyn Write,
    run: &ScanRun,
    findings: &[Finding],
) -> Result<(), ReportError> {
    let mut text = String::new();
    run_header(&mut text, run);
    for host in &run.hosts {
        text.push('\n');
        host_section(&mut text, host);
    }
    if !run.rechecks.is_empty() {
        text.push('\n');
        rechecks(&mut text, &run.rechecks);
    }
    text.push('\n');
    findings_section(&mut text, findings);
    emit(out, "scan", &text)
}

pub(crate) fn findings(out: &mut dyn Write, findings: &[Finding]) -> Result<(), ReportError> {
    let mut text = String::new();
    findings_section(&mut text, findings);
    emit(out, "findings", &text)
}

fn run_header(text: &mut String, run: &ScanRun) {
    let _ = writeln!(
        text,
        "Picket scan run {} of {} ({})",
        run.id,
        run.target_key,
        run.status.as_str()
    );
    let started = words::time(run.started_at);
    let _ = match run.finished_at {
        Some(end) => writeln!(
            text,
            "Started {started}, finished {}, took {}",
            words::time(end),
            words::duration(elapsed(run.started_at, end))
        ),
        None => writeln!(text, "Started {started}, not finished"),
    };
    let (up, total) = (run.hosts_up(), run.hosts_total());
    let _ = writeln!(
        text,
        "Ports: {} ({} per host); hosts: {} up, {} down, {} in all",
        words::truncate(&run.profile.ports.to_string(), 60),
        count(run.profile.ports.len() as u64),
        count(up),
        count(total - up),
        count(total)
    );
}

/// `3 open, 65,531 closed (reset), 1 filtered`: every state the host showed, with the reason
/// when one reason covers the state, or each reason's share when several do.
fn state_counts(host: &HostResult) -> String {
    let mut per_state: BTreeMap<PortState, BTreeMap<Reason, u64>> = BTreeMap::new();
    let listed = host.ports.iter().map(|o| (o.state, o.reason, 1));
    let summarised = host
        .extra_ports
        .iter()
        .map(|e| (e.state, e.reason, u64::from(e.count)));
    for (state, reason, n) in listed.chain(summarised) {
        *per_state
            .entry(state)
            .or_default()
            .entry(reason)
            .or_default() += n;
    }
    let parts: Vec<String> = per_state
        .iter()
        .map(|(state, reasons)| {
            let total: u64 = reasons.values().sum();
            let why = if *state == PortState::Open {
                String::new()
            } else if reasons.len() == 1 {
                reasons
                    .keys()
                    .map(|r| format!(" ({r})"))
                    .collect::<String>()
            } else {
                let shares: Vec<String> = reasons
                    .iter()
                    .map(|(r, n)| format!("{} {r}", count(*n)))
                    .collect();
                format!(" ({})", shares.join(", "))
            };
            format!("{} {state}{why}", count(total))
        })
        .collect();
    if parts.is_empty() {
        "no port decided".to_owned()
    } else {
        parts.join(", ")
    }
}

fn host_section(text: &mut String, host: &HostResult) {
    // The name given, then the reverse DNS name when it says something else.
    let mut names: Vec<&str> = host.hostname.as_deref().into_iter().collect();
    if let Some(ptr) = host.reverse_name.as_deref()
        && !names.contains(&ptr)
    {
        names.push(ptr);
    }
    let name = if names.is_empty() {
        String::new()
    } else {
        format!(" ({})", terminal_safe(&names.join(", ")))
    };
    let _ = writeln!(
        text,
        "Host {}{name}: {} ({}); {}",
        host.address,
        host.state,
        host.reason,
        state_counts(host)
    );
    if !host.ports.is_empty() {
        let services = host.ports.iter().any(|o| o.service.is_some());
        let mut header = vec![
            "PORT".to_owned(),
            "STATE".to_owned(),
            "REASON".to_owned(),
            "RTT".to_owned(),
        ];
        if services {
            header.push("SERVICE".to_owned());
        }
        let mut rows = vec![header];
        rows.extend(host.ports.iter().map(|o| {
            let mut row = vec![
                format!("{}/{}", o.port, o.protocol),
                o.state.to_string(),
                match o.icmp_from {
                    Some(from) => format!("{} from {from}", o.reason),
                    None => o.reason.to_string(),
                },
                o.rtt.map(words::rtt).unwrap_or_else(|| "-".to_owned()),
            ];
            if services {
                row.push(
                    o.service
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                );
            }
            row
        }));
        for line in columns(&rows) {
            let _ = writeln!(text, "{line}");
        }
    }
    if !host.extra_ports.is_empty() {
        let parts: Vec<String> = host
            .extra_ports
            .iter()
            .map(|e| {
                let noun = if e.count == 1 { "port" } else { "ports" };
                format!(
                    "{} {} {noun} ({})",
                    count(u64::from(e.count)),
                    e.state,
                    e.reason
                )
            })
            .collect();
        let _ = writeln!(text, "Not shown: {}", parts.join(", "));
    }
    if !host.unprobed.is_empty() {
        let spec = PortSet::from_ports(host.unprobed.iter().copied()).to_string();
        let _ = writeln!(
            text,
            "Not decided: {} ({}), because the host stopped answering and did not come back",
            counted(host.unprobed.len() as u64, "port", "ports"),
            words::truncate(&spec, 60)
        );
    }
    for interruption in &host.interruptions {
        let _ = writeln!(text, "{}", interruption_words(interruption));
    }
    if host.state == HostState::Up {
        let s = &host.stats;
        let srtt = s
            .srtt
            .map(|d| format!(", smoothed rtt {}", words::rtt(d)))
            .unwrap_or_default();
        let _ = writeln!(
            text,
            "Probes: {} sent, {} answered{srtt}, loss {}, up to {} per port, timeout {}",
            count(s.probes_sent),
            count(s.answers),
            words::percent(s.loss),
            counted(u64::from(s.retries), "retry", "retries"),
            words::duration(s.read_timeout)
        );
    }
}

pub(crate) fn interruption_words(i: &Interruption) -> String {
    let canary = match i.canary_port {
        Some(port) => {
            format!(", and port {port}, which had answered earlier, did not answer either")
        }
        None => String::new(),
    };
    let outcome = if i.resumed {
        "the host answered again"
    } else {
        "the host did not answer again"
    };
    format!(
        "Interrupted at {}: after answering {} the host went silent on every port \
         ({} in a row unanswered at {}{canary}). Picket paused for {} and slowed down; {outcome}.",
        words::clock(i.at),
        counted(i.answered_before, "probe", "probes"),
        counted(i.silent_probes, "probe", "probes"),
        words::rate(i.rate),
        words::duration(i.paused),
    )
}

fn rechecks(text: &mut String, rechecks: &[Recheck]) {
    let _ = writeln!(text, "Re-checks ({})", count(rechecks.len() as u64));
    let mut rows = vec![vec![
        "HOST".to_owned(),
        "PORT".to_owned(),
        "VERDICT".to_owned(),
        "PROBES".to_owned(),
        "LIVENESS".to_owned(),
    ]];
    rows.extend(rechecks.iter().map(|r| {
        vec![
            r.host.to_string(),
            format!("{}/{}", r.port, r.protocol),
            r.verdict.to_string(),
            answered(&r.evidence.probes),
            if r.evidence.liveness.is_empty() {
                "-".to_owned()
            } else {
                answered(&r.evidence.liveness)
            },
        ]
    }));
    for line in columns(&rows) {
        let _ = writeln!(text, "{line}");
    }
}

/// `3 sent, 2 answered`.
fn answered(probes: &[ProbeRecord]) -> String {
    let answers = probes.iter().filter(|p| p.outcome.is_answer()).count() as u64;
    format!(
        "{} sent, {} answered",
        count(probes.len() as u64),
        count(answers)
    )
}

fn findings_section(text: &mut String, findings: &[Finding]) {
    if findings.is_empty() {
        let _ = writeln!(text, "No findings.");
        return;
    }
    let _ = writeln!(text, "Findings ({})", count(findings.len() as u64));
    for (i, finding) in findings.iter().enumerate() {
        text.push('\n');
        finding_block(text, i + 1, finding);
    }
}

fn state_name(state: Option<PortState>, missing: &str) -> String {
    state.map_or_else(|| missing.to_owned(), |s| s.to_string())
}

/// A finding's evidence as the table's lines (possibly empty ones), not yet terminal-safe.
pub(crate) fn evidence_lines(f: &Finding) -> Vec<String> {
    match &f.evidence {
        Evidence::OpenPortRecheck(e) => recheck_evidence(e),
        Evidence::NewOpenPort(e) => vec![new_port_evidence(e)],
        Evidence::VulnerableService(e) => service_evidence(e),
    }
}

fn finding_block(text: &mut String, number: usize, f: &Finding) {
    let name = f
        .hostname
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let verdict = f
        .verdict
        .map(|v| format!("  verdict: {v}"))
        .unwrap_or_default();
    let _ = writeln!(
        text,
        "{number}. {}  {}/{}{name}{verdict}",
        f.kind,
        words::endpoint(f.host, f.port),
        f.protocol
    );
    let indent = "   ";
    // Summaries, evidence and remediation quote what services and scanners sent: one line each.
    let _ = writeln!(text, "{indent}{}", terminal_safe(&words::summary(f)));
    let _ = writeln!(
        text,
        "{indent}State: {} -> {} (run {})",
        state_name(f.previous_state, "not seen"),
        state_name(f.current_state, "unknown"),
        f.run_id
    );
    for line in evidence_lines(f).iter().filter(|l| !l.is_empty()) {
        let _ = writeln!(text, "{indent}{}", terminal_safe(line));
    }
    if !f.remediation.is_empty() {
        let _ = writeln!(text, "{indent}Remediation:");
        for (i, step) in f.remediation.iter().enumerate() {
            let step = words::remediation(step);
            let _ = writeln!(text, "{indent}  {}. {}", i + 1, terminal_safe(&step));
        }
    }
    let verify = words::verify(&f.verify);
    if !verify.is_empty() {
        let _ = writeln!(text, "{indent}Verify: {}", terminal_safe(&verify));
    }
}

/// The service as detected, then one line per vulnerability: CVSS, KEV, EPSS, how sure.
fn service_evidence(e: &VulnerableServiceEvidence) -> Vec<String> {
    let mut lines = vec![format!("Service: {}", e.service)];
    if let Some(raw) = &e.service.raw {
        lines.push(format!("Banner: {}", words::truncate(raw, 100)));
    }
    for v in &e.vulns {
        let cvss = v
            .cvss
            .as_ref()
            .map(|c| format!("CVSS {:.1}", c.base_score))
            .unwrap_or_else(|| "no CVSS".to_owned());
        let kev = v
            .kev
            .as_ref()
            .map(|k| format!("KEV since {}", k.date_added))
            .unwrap_or_else(|| "not in KEV".to_owned());
        let epss = v
            .epss
            .as_ref()
            .map(|e| format!("EPSS {:.3}", e.score))
            .unwrap_or_else(|| "no EPSS".to_owned());
        let sure = if v.backport_possible {
            format!(
                "{} (may be fixed by a distribution backport)",
                v.confidence.as_str()
            )
        } else {
            v.confidence.as_str().to_owned()
        };
        let fixed = v
            .fixed_in
            .as_ref()
            .map(|f| format!("; fixed in {f}"))
            .unwrap_or_default();
        lines.push(format!("{}  {cvss}  {kev}  {epss}  {sure}{fixed}", v.id));
    }
    lines
}

/// What the re-check saw, in a few lines: probes sent and answered, when, how fast.
fn recheck_evidence(e: &RecheckEvidence) -> Vec<String> {
    let scan_said = e.scan_reason.map_or_else(
        || "did not decide the port".to_owned(),
        |r| format!("saw {r}"),
    );
    let mut lines = vec![format!(
        "Evidence: run {} saw {}; this scan {scan_said}",
        e.previous_run, e.previous_reason
    )];
    lines.push(format!("Re-check: {}", probe_brief(&e.probes)));
    if !e.liveness.is_empty() {
        lines.push(format!(
            "Liveness (other ports): {}",
            probe_brief(&e.liveness)
        ));
    }
    if e.interference.is_empty() {
        lines.push("Interference: none seen".to_owned());
    } else {
        for Interference { kind, detail } in &e.interference {
            lines.push(format!(
                "Interference: {} - {}",
                kind.as_str(),
                words::interference(detail)
            ));
        }
    }
    lines.push(format!(
        "Re-check pace: {}, timeout {}",
        words::rate(e.recheck_rate),
        words::duration(Duration::from_millis(e.recheck_timeout_ms))
    ));
    lines
}

/// `3 sent, 1 answered (reset); at 0 ms, 1.0 s, 2.0 s; rtt 0.412-0.530 ms`
fn probe_brief(probes: &[ProbeRecord]) -> String {
    if probes.is_empty() {
        return "no probes sent".to_owned();
    }
    let mut outcomes: BTreeMap<Reason, u64> = BTreeMap::new();
    for p in probes {
        *outcomes.entry(p.outcome).or_default() += 1;
    }
    let outcome_list: Vec<String> = outcomes
        .iter()
        .map(|(r, n)| format!("{} {r}", count(*n)))
        .collect();
    let times: Vec<String> = probes
        .iter()
        .map(|p| words::duration(Duration::from_millis(p.at_ms)))
        .collect();
    let mut brief = format!(
        "{} ({}); at {}",
        answered(probes),
        outcome_list.join(", "),
        words::truncate(&times.join(", "), 80)
    );
    let rtts: Vec<Duration> = probes.iter().filter_map(|p| p.rtt).collect();
    if let (Some(lo), Some(hi)) = (rtts.iter().min(), rtts.iter().max()) {
        if lo == hi {
            let _ = write!(brief, "; rtt {}", words::rtt(*lo));
        } else {
            let _ = write!(brief, "; rtt {} to {}", words::rtt(*lo), words::rtt(*hi));
        }
    }
    let ports: Vec<u16> = {
        let mut ports: Vec<u16> = probes.iter().map(|p| p.port).collect();
        ports.dedup();
        ports
    };
    if ports.len() > 1 {
        let _ = write!(
            brief,
            "; ports {}",
            PortSet::from_ports(ports.iter().copied())
        );
    }
    brief
}

/// A new open port's evidence field by field, in its stored order: `Evidence: attempts 1;
/// previous_reason reset; previous_run 41; previous_state closed; reason syn-ack; rtt_us 1210`.
fn new_port_evidence(e: &NewOpenPortEvidence) -> String {
    let or_null = |v: Option<String>| v.unwrap_or_else(|| "null".to_owned());
    let rtt_us = e
        .rtt
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).to_string());
    format!(
        "Evidence: attempts {}; previous_reason {}; previous_run {}; previous_state {}; reason {}; \
         rtt_us {}",
        e.attempts,
        or_null(e.previous_reason.map(|r| r.to_string())),
        e.previous_run,
        or_null(e.previous_state.map(|s| s.to_string())),
        e.reason,
        or_null(rtt_us),
    )
}

pub(crate) fn runs(out: &mut dyn Write, runs: &[RunSummary]) -> Result<(), ReportError> {
    if runs.is_empty() {
        return emit(out, "runs", "No runs.\n");
    }
    let mut rows = vec![
        [
            "ID", "STARTED", "DURATION", "TARGETS", "PORTS", "UP/TOTAL", "OPEN", "STATUS",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    rows.extend(runs.iter().map(|r| {
        let duration = match (r.finished_at, r.status) {
            (Some(end), _) => words::duration(elapsed(r.started_at, end)),
            (None, RunStatus::Running) => "running".to_owned(),
            (None, _) => "-".to_owned(),
        };
        vec![
            r.id.to_string(),
            words::time(r.started_at),
            duration,
            words::truncate(&r.target_key, 40),
            words::ports_brief(&r.ports),
            format!(
                "{}/{}",
                count(u64::from(r.hosts_up)),
                count(u64::from(r.hosts_total))
            ),
            count(u64::from(r.open_ports)),
            r.status.as_str().to_owned(),
        ]
    }));
    let mut text = String::new();
    for line in columns(&rows) {
        let _ = writeln!(text, "{line}");
    }
    emit(out, "runs", &text)
}

fn change_words(c: &PortChange) -> String {
    let side =
        |state: Option<PortState>, reason: Option<Reason>, missing: &str| match (state, reason) {
            (Some(s), Some(r)) if s != PortState::Open => format!("{s} ({r})"),
            (Some(s), _) => s.to_string(),
            (None, _) => missing.to_owned(),
        };
    format!(
        "{} -> {}",
        side(c.before, c.before_reason, "unknown"),
        side(c.after, c.after_reason, "unknown")
    )
}

pub(crate) fn diff(out: &mut dyn Write, diff: &RunDiff) -> Result<(), ReportError> {
    let mut text = String::new();
    let _ = writeln!(text, "Changes from run {} to run {}", diff.from, diff.to);
    if let Some(ports) = &diff.compared_ports {
        let _ = writeln!(
            text,
            "The runs scanned different ports; compared only those both scanned: {ports}"
        );
    }
    if diff.changes.is_empty() && diff.hosts_up.is_empty() && diff.hosts_down.is_empty() {
        let _ = writeln!(text, "No changes.");
        return emit(out, "diff", &text);
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    rows.extend(
        diff.hosts_up
            .iter()
            .map(|h| vec![h.to_string(), "host".to_owned(), "now up".to_owned()]),
    );
    rows.extend(
        diff.hosts_down
            .iter()
            .map(|h| vec![h.to_string(), "host".to_owned(), "now down".to_owned()]),
    );
    rows.extend(diff.changes.iter().map(|c| {
        vec![
            c.host.to_string(),
            format!("{}/{}", c.port, c.protocol),
            change_words(c),
        ]
    }));
    for line in columns(&rows) {
        let _ = writeln!(text, "{line}");
    }
    let _ = writeln!(
        text,
        "{}, {} up, {} down",
        counted(diff.changes.len() as u64, "port changed", "ports changed"),
        counted(diff.hosts_up.len() as u64, "host", "hosts"),
        count(diff.hosts_down.len() as u64)
    );
    emit(out, "diff", &text)
}
