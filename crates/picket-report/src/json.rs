//! JSON and NDJSON. The envelope types below fix the field order and the fields that are always
//! present (empty lists included), so that consumers need no defaults; the model types inside
//! are serialized with their own serde shape, except where the model holds words as typed data
//! (findings, re-check interference, alerts' reasons): their documents below keep the fields and
//! order of the model and carry the sentences from [`crate::words`].

use std::io::Write;
use std::net::IpAddr;

use picket_model::{
    Alert, AlertKind, AlertTriage, AlertVuln, Application, Evidence, ExtraPorts, Finding,
    FindingKind, HostReason, HostResult, HostState, HostStats, IntelHit, InterferenceKind,
    Interruption, NewOpenPortEvidence, Observation, PortSet, PortState, ProbeRecord, Protocol,
    Reason, Recheck, RecheckEvidence, RunDiff, RunId, RunStatus, ScanProfile, ScanRun, Severity,
    SeverityReason, SourceRef, Targets, Timestamp, Transport, Verdict, VulnerableServiceEvidence,
};
use serde::Serialize;

use crate::{AlertChangeKind, Format, ReportError, words};

/// A finding as every JSON output prints it: the model's fields in the model's order, its words
/// as sentences (for callers that embed findings in JSON of their own).
#[derive(Debug, Serialize)]
pub struct FindingDoc<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    run_id: RunId,
    kind: FindingKind,
    host: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<&'a str>,
    port: u16,
    protocol: Protocol,
    previous_state: Option<PortState>,
    current_state: Option<PortState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<Verdict>,
    summary: String,
    evidence: EvidenceDoc<'a>,
    remediation: Vec<String>,
    verify: String,
    created_at: Timestamp,
}

impl<'a> FindingDoc<'a> {
    pub fn new(f: &'a Finding) -> Self {
        FindingDoc {
            id: f.id,
            run_id: f.run_id,
            kind: f.kind,
            host: f.host,
            hostname: f.hostname.as_deref(),
            port: f.port,
            protocol: f.protocol,
            previous_state: f.previous_state,
            current_state: f.current_state,
            verdict: f.verdict,
            summary: words::summary(f),
            evidence: EvidenceDoc::new(&f.evidence),
            remediation: f.remediation.iter().map(words::remediation).collect(),
            verify: words::verify(&f.verify),
            created_at: f.created_at,
        }
    }

    pub(crate) fn all(findings: &'a [Finding]) -> Vec<Self> {
        findings.iter().map(FindingDoc::new).collect()
    }
}

/// A finding's evidence: the inner value alone with its keys sorted, as the model stores it
/// (see [`Evidence`]).
#[derive(Debug)]
enum EvidenceDoc<'a> {
    Recheck(RecheckEvidenceDoc<'a>),
    NewOpenPort(&'a NewOpenPortEvidence),
    VulnerableService(&'a VulnerableServiceEvidence),
}

impl Serialize for EvidenceDoc<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let value = match self {
            EvidenceDoc::Recheck(e) => serde_json::to_value(e),
            EvidenceDoc::NewOpenPort(e) => serde_json::to_value(e),
            EvidenceDoc::VulnerableService(e) => serde_json::to_value(e),
        };
        value.map_err(serde::ser::Error::custom)?.serialize(s)
    }
}

impl<'a> EvidenceDoc<'a> {
    fn new(evidence: &'a Evidence) -> Self {
        match evidence {
            Evidence::OpenPortRecheck(e) => EvidenceDoc::Recheck(RecheckEvidenceDoc::new(e)),
            Evidence::NewOpenPort(e) => EvidenceDoc::NewOpenPort(e),
            Evidence::VulnerableService(e) => EvidenceDoc::VulnerableService(e),
        }
    }
}

#[derive(Serialize)]
struct RecheckDoc<'a> {
    host: IpAddr,
    port: u16,
    protocol: Protocol,
    verdict: Verdict,
    evidence: RecheckEvidenceDoc<'a>,
}

impl<'a> RecheckDoc<'a> {
    fn new(r: &'a Recheck) -> Self {
        RecheckDoc {
            host: r.host,
            port: r.port,
            protocol: r.protocol,
            verdict: r.verdict,
            evidence: RecheckEvidenceDoc::new(&r.evidence),
        }
    }
}

#[derive(Debug, Serialize)]
struct RecheckEvidenceDoc<'a> {
    previous_run: RunId,
    previous_reason: Reason,
    scan_reason: Option<Reason>,
    probes: &'a [ProbeRecord],
    liveness: &'a [ProbeRecord],
    interference: Vec<InterferenceDoc>,
    recheck_rate: f64,
    recheck_timeout_ms: u64,
}

impl<'a> RecheckEvidenceDoc<'a> {
    fn new(e: &'a RecheckEvidence) -> Self {
        RecheckEvidenceDoc {
            previous_run: e.previous_run,
            previous_reason: e.previous_reason,
            scan_reason: e.scan_reason,
            probes: &e.probes,
            liveness: &e.liveness,
            interference: e
                .interference
                .iter()
                .map(|i| InterferenceDoc {
                    kind: i.kind,
                    detail: words::interference(&i.detail),
                })
                .collect(),
            recheck_rate: e.recheck_rate,
            recheck_timeout_ms: e.recheck_timeout_ms,
        }
    }
}

#[derive(Debug, Serialize)]
struct InterferenceDoc {
    kind: InterferenceKind,
    detail: String,
}

/// An alert as every JSON output prints it: the model's fields in the model's order, its reasons
/// as sentences (for callers that embed alerts in JSON of their own, such as a webhook).
#[derive(Debug, Serialize)]
pub struct AlertDoc<'a> {
    /// What happened to the alert, for a stream of changes (`"type"`, first); a listing has
    /// none.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    change: Option<AlertChangeKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    kind: AlertKind,
    dedup_key: &'a str,
    window_start: Timestamp,
    client: IpAddr,
    host: IpAddr,
    port: u16,
    transport: Transport,
    application: &'a Application,
    intel: &'a [IntelHit],
    vulns: &'a [AlertVuln],
    first_seen: Timestamp,
    last_seen: Timestamp,
    connections: u64,
    established: u64,
    attempted: u64,
    bytes_to_server: u64,
    bytes_to_client: u64,
    packets_to_server: u64,
    packets_to_client: u64,
    max_bytes_per_connection: u64,
    severity: Severity,
    reasons: Reasons<'a>,
    sources: &'a [SourceRef],
    /// A person's triage, when the caller has it and someone triaged the alert (the CLI's
    /// listings leave it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    triage: Option<&'a AlertTriage>,
}

impl<'a> AlertDoc<'a> {
    pub fn new(a: &'a Alert) -> Self {
        AlertDoc {
            change: None,
            id: a.id,
            kind: a.kind,
            dedup_key: &a.dedup_key,
            window_start: a.window_start,
            client: a.client,
            host: a.host,
            port: a.port,
            transport: a.transport,
            application: &a.application,
            intel: &a.intel,
            vulns: &a.vulns,
            first_seen: a.first_seen,
            last_seen: a.last_seen,
            connections: a.connections,
            established: a.established,
            attempted: a.attempted,
            bytes_to_server: a.bytes_to_server,
            bytes_to_client: a.bytes_to_client,
            packets_to_server: a.packets_to_server,
            packets_to_client: a.packets_to_client,
            max_bytes_per_connection: a.max_bytes_per_connection,
            severity: a.severity,
            reasons: Reasons(&a.reasons),
            sources: &a.sources,
            triage: None,
        }
    }

    /// The alert as one change of a stream: `"type"` says whether the store had it.
    pub fn change(a: &'a Alert, change: AlertChangeKind) -> Self {
        AlertDoc {
            change: Some(change),
            ..AlertDoc::new(a)
        }
    }

    /// The alert with its triage (left out when nobody triaged it): what the HTTP API lists.
    pub fn triaged(a: &'a Alert, triage: &'a AlertTriage) -> Self {
        AlertDoc {
            triage: (!triage.is_untouched()).then_some(triage),
            ..AlertDoc::new(a)
        }
    }

    pub(crate) fn all(alerts: &'a [Alert]) -> Vec<Self> {
        alerts.iter().map(AlertDoc::new).collect()
    }
}

/// An alert's reasons as their sentences, each written straight into its JSON string.
#[derive(Debug)]
struct Reasons<'a>(&'a [SeverityReason]);

impl Serialize for Reasons<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Sentence))
    }
}

/// One reason's sentence ([`words::ReasonText`]).
struct Sentence<'a>(&'a SeverityReason);

impl Serialize for Sentence<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&words::ReasonText(self.0))
    }
}

#[derive(Serialize)]
struct RunDoc<'a> {
    run_id: RunId,
    target_key: &'a str,
    targets: &'a Targets,
    started_at: Timestamp,
    finished_at: Option<Timestamp>,
    duration_ms: Option<u64>,
    status: RunStatus,
    profile: &'a ScanProfile,
    hosts_total: u64,
    hosts_up: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    hosts: Option<Vec<HostDoc<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rechecks: Option<Vec<RecheckDoc<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    findings: Option<Vec<FindingDoc<'a>>>,
}

impl<'a> RunDoc<'a> {
    fn header(run: &'a ScanRun) -> Self {
        let duration_ms = run
            .finished_at
            .map(|end| u64::try_from(end.duration_since(run.started_at).as_millis()).unwrap_or(0));
        RunDoc {
            run_id: run.id,
            target_key: &run.target_key,
            targets: &run.targets,
            started_at: run.started_at,
            finished_at: run.finished_at,
            duration_ms,
            status: run.status,
            profile: &run.profile,
            hosts_total: run.hosts_total(),
            hosts_up: run.hosts_up(),
            hosts: None,
            rechecks: None,
            findings: None,
        }
    }
}

/// Ports per state, counting the summarised ones too.
#[derive(Serialize, Default)]
pub(crate) struct StateCounts {
    pub(crate) open: u64,
    pub(crate) closed: u64,
    pub(crate) filtered: u64,
}

impl StateCounts {
    pub(crate) fn of(host: &HostResult) -> Self {
        let mut counts = StateCounts::default();
        let listed = host.ports.iter().map(|o| (o.state, 1));
        let summarised = host
            .extra_ports
            .iter()
            .map(|e| (e.state, u64::from(e.count)));
        for (state, n) in listed.chain(summarised) {
            match state {
                PortState::Open => counts.open += n,
                PortState::Closed => counts.closed += n,
                PortState::Filtered => counts.filtered += n,
            }
        }
        counts
    }
}

#[derive(Serialize)]
struct HostDoc<'a> {
    address: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reverse_name: Option<&'a str>,
    state: HostState,
    reason: HostReason,
    counts: StateCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    ports: Option<&'a [Observation]>,
    extra_ports: &'a [ExtraPorts],
    unprobed: &'a [u16],
    unprobed_count: usize,
    interruptions: &'a [Interruption],
    stats: &'a HostStats,
}

impl<'a> HostDoc<'a> {
    fn new(host: &'a HostResult, with_ports: bool) -> Self {
        HostDoc {
            address: host.address,
            hostname: host.hostname.as_deref(),
            reverse_name: host.reverse_name.as_deref(),
            state: host.state,
            reason: host.reason,
            counts: StateCounts::of(host),
            ports: with_ports.then_some(host.ports.as_slice()),
            extra_ports: &host.extra_ports,
            unprobed: &host.unprobed,
            unprobed_count: host.unprobed.len(),
            interruptions: &host.interruptions,
            stats: &host.stats,
        }
    }
}

/// One NDJSON line: its `type`, the run and host it belongs to when the body does not say so
/// itself, then the body's own fields.
#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_id: Option<RunId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<IpAddr>,
    #[serde(flatten)]
    body: &'a T,
}

fn write_doc<T: Serialize + ?Sized>(
    out: &mut dyn Write,
    what: &'static str,
    value: &T,
) -> Result<(), ReportError> {
    serde_json::to_writer_pretty(&mut *out, value)
        .map_err(|source| ReportError::Json { what, source })?;
    out.write_all(b"\n")
        .map_err(ReportError::io(what, Format::Json))
}

/// One value as one line. It is serialized into a buffer of its own first: serde_json writes
/// every key, quote and comma as a write of its own, which through `dyn Write` is a call that
/// cannot be inlined (rendering an alert took twice as long as its serialization).
pub(crate) fn write_line<T: Serialize + ?Sized>(
    out: &mut dyn Write,
    what: &'static str,
    value: &T,
) -> Result<(), ReportError> {
    let mut line = Vec::with_capacity(LINE_CAPACITY);
    serde_json::to_writer(&mut line, value).map_err(|source| ReportError::Json { what, source })?;
    line.push(b'\n');
    out.write_all(&line)
        .map_err(ReportError::io(what, Format::Ndjson))
}

/// Room for a typical line (an alert's is 1-2 KB) before the buffer grows.
const LINE_CAPACITY: usize = 2048;

pub(crate) fn scan(
    out: &mut dyn Write,
    run: &ScanRun,
    findings: &[Finding],
) -> Result<(), ReportError> {
    let doc = RunDoc {
        hosts: Some(run.hosts.iter().map(|h| HostDoc::new(h, true)).collect()),
        rechecks: Some(run.rechecks.iter().map(RecheckDoc::new).collect()),
        findings: Some(FindingDoc::all(findings)),
        ..RunDoc::header(run)
    };
    write_doc(out, "scan", &doc)
}

pub(crate) fn scan_lines(
    out: &mut dyn Write,
    run: &ScanRun,
    findings: &[Finding],
) -> Result<(), ReportError> {
    let header = Line {
        kind: "run",
        run_id: None,
        host: None,
        body: &RunDoc::header(run),
    };
    write_line(out, "scan", &header)?;
    for host in &run.hosts {
        let line = Line {
            kind: "host",
            run_id: Some(run.id),
            host: None,
            body: &HostDoc::new(host, false),
        };
        write_line(out, "scan", &line)?;
        for port in &host.ports {
            write_line(
                out,
                "scan",
                &Line {
                    kind: "port",
                    run_id: Some(run.id),
                    host: Some(host.address),
                    body: port,
                },
            )?;
        }
    }
    for recheck in &run.rechecks {
        write_line(
            out,
            "scan",
            &Line {
                kind: "recheck",
                run_id: Some(run.id),
                host: None,
                body: &RecheckDoc::new(recheck),
            },
        )?;
    }
    for finding in findings {
        write_line(
            out,
            "scan",
            &Line {
                kind: "finding",
                run_id: None,
                host: None,
                body: &FindingDoc::new(finding),
            },
        )?;
    }
    Ok(())
}

pub(crate) fn array<T: Serialize>(
    out: &mut dyn Write,
    what: &'static str,
    items: &[T],
) -> Result<(), ReportError> {
    write_doc(out, what, items)
}

pub(crate) fn lines<T: Serialize>(
    out: &mut dyn Write,
    what: &'static str,
    items: &[T],
) -> Result<(), ReportError> {
    items
        .iter()
        .try_for_each(|item| write_line(out, what, item))
}

pub(crate) fn diff(out: &mut dyn Write, diff: &RunDiff) -> Result<(), ReportError> {
    write_doc(out, "diff", diff)
}

#[derive(Serialize)]
struct DiffLine<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    from: RunId,
    to: RunId,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Serialize)]
struct HostChange {
    host: IpAddr,
}

pub(crate) fn diff_lines(out: &mut dyn Write, diff: &RunDiff) -> Result<(), ReportError> {
    let hosts = |kind, list: &[IpAddr]| {
        list.iter()
            .map(move |&host| (kind, HostChange { host }))
            .collect::<Vec<_>>()
    };
    for (kind, body) in hosts("host-up", &diff.hosts_up)
        .into_iter()
        .chain(hosts("host-down", &diff.hosts_down))
    {
        let line = DiffLine {
            kind,
            from: diff.from,
            to: diff.to,
            body: &body,
        };
        write_line(out, "diff", &line)?;
    }
    if let Some(ports) = &diff.compared_ports {
        #[derive(Serialize)]
        struct Compared<'a> {
            ports: &'a PortSet,
        }
        let line = DiffLine {
            kind: "compared-ports",
            from: diff.from,
            to: diff.to,
            body: &Compared { ports },
        };
        write_line(out, "diff", &line)?;
    }
    for change in &diff.changes {
        let line = DiffLine {
            kind: "change",
            from: diff.from,
            to: diff.to,
            body: change,
        };
        write_line(out, "diff", &line)?;
    }
    Ok(())
}
