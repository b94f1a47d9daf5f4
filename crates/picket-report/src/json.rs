//! JSON and NDJSON. The envelope types below fix the field order and the fields that are always
//! present (empty lists included), so that consumers need no defaults; the model types inside
//! are serialized with their own serde shape.

use std::io::Write;
use std::net::IpAddr;

use picket_model::{
    ExtraPorts, Finding, HostReason, HostResult, HostState, HostStats, Interruption, Observation,
    PortSet, PortState, Recheck, RunDiff, RunId, RunStatus, ScanProfile, ScanRun, Targets,
    Timestamp,
};
use serde::Serialize;

use crate::{Format, ReportError};

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
    hosts_total: usize,
    hosts_up: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    hosts: Option<Vec<HostDoc<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rechecks: Option<&'a [Recheck]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    findings: Option<&'a [Finding]>,
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
            hosts_total: run.hosts.len(),
            hosts_up: run
                .hosts
                .iter()
                .filter(|h| h.state == HostState::Up)
                .count(),
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

pub(crate) fn write_line<T: Serialize + ?Sized>(
    out: &mut dyn Write,
    what: &'static str,
    value: &T,
) -> Result<(), ReportError> {
    serde_json::to_writer(&mut *out, value).map_err(|source| ReportError::Json { what, source })?;
    out.write_all(b"\n")
        .map_err(ReportError::io(what, Format::Ndjson))
}

pub(crate) fn scan(
    out: &mut dyn Write,
    run: &ScanRun,
    findings: &[Finding],
) -> Result<(), ReportError> {
    let doc = RunDoc {
        hosts: Some(run.hosts.iter().map(|h| HostDoc::new(h, true)).collect()),
        rechecks: Some(&run.rechecks),
        findings: Some(findings),
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
                body: recheck,
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
                body: finding,
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
