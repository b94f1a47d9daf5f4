//! Threat alerts for a person (a block per alert: who, what, where, when, how much, why) and for
//! programs (the [`Alert`] itself as JSON or NDJSON).

use std::fmt::Write as _;
use std::io::Write;

use picket_model::{Alert, AlertVuln, IntelHit};
use serde::Serialize;

use crate::json::AlertDoc;
use crate::safe::terminal_safe;
use crate::words::{self, columns, count, counted};
use crate::{Format, ReportError, json};

/// Renders alerts: a block per alert for a person, a JSON array, or one alert per NDJSON line.
///
/// The JSON shape is the model's [`Alert`]: `kind`, `dedup_key`, `window_start`, `client`,
/// `host`, `port`, `transport`, `application`, `intel`, `vulns`, `first_seen`, `last_seen`, the
/// counts, `severity`, `reasons` and `sources` (`id` once stored). Nmap's XML has no equivalent.
pub fn alerts(out: &mut dyn Write, format: Format, alerts: &[Alert]) -> Result<(), ReportError> {
    match format {
        Format::Table => table(out, alerts),
        Format::Json => json::array(out, "alerts", &AlertDoc::all(alerts)),
        Format::Ndjson => json::lines(out, "alerts", &AlertDoc::all(alerts)),
        Format::Xml => Err(ReportError::Unsupported {
            what: "a list of alerts",
            format,
        }),
    }
}

fn table(out: &mut dyn Write, alerts: &[Alert]) -> Result<(), ReportError> {
    let mut text = String::new();
    if alerts.is_empty() {
        text.push_str("No alerts.\n");
    } else {
        let _ = writeln!(text, "Alerts ({})", count(alerts.len() as u64));
        for (i, alert) in alerts.iter().enumerate() {
            text.push('\n');
            block(&mut text, i + 1, AlertChangeKind::New, alert);
        }
    }
    out.write_all(text.as_bytes())
        .map_err(ReportError::io("alerts", Format::Table))
}

/// Whether a streamed alert is one the stream has not told of before, or a new state of one it
/// has (more connections, a higher severity): `picket detect` tells both, so that the stream
/// ends with every alert as it was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AlertChangeKind {
    /// The store did not have the alert (`"type": "alert"` in a stream).
    #[serde(rename = "alert")]
    New,
    /// The store had it: this is its state now (`"type": "alert-update"`, with its `id`).
    #[serde(rename = "alert-update")]
    Update,
}

/// One alert as it arises (`picket detect` on a terminal): its block, numbered `number`, with
/// no list header, followed by a blank line. An update says so next to the alert's id.
pub fn alert_block(
    out: &mut dyn Write,
    number: usize,
    kind: AlertChangeKind,
    alert: &Alert,
) -> Result<(), ReportError> {
    let mut text = String::new();
    block(&mut text, number, kind, alert);
    text.push('\n');
    out.write_all(text.as_bytes())
        .map_err(ReportError::io("an alert", Format::Table))
}

/// One alert as a stream record, one JSON object a line: the [`Alert`] with a `type` of
/// `alert` (new) or `alert-update`.
pub fn alert_record(
    out: &mut dyn Write,
    kind: AlertChangeKind,
    alert: &Alert,
) -> Result<(), ReportError> {
    json::write_line(out, "an alert", &AlertDoc::change(alert, kind))
}

const INDENT: &str = "   ";

fn block(text: &mut String, number: usize, kind: AlertChangeKind, a: &Alert) {
    let id = match (a.id, kind) {
        (Some(id), AlertChangeKind::New) => format!("  (alert {id})"),
        (Some(id), AlertChangeKind::Update) => format!("  (alert {id}, updated)"),
        (None, AlertChangeKind::New) => String::new(),
        (None, AlertChangeKind::Update) => "  (updated)".to_owned(),
    };
    let _ = writeln!(
        text,
        "{number}. {}  {}{id}",
        a.severity.as_str().to_uppercase(),
        words::alert_title(a.kind)
    );
    let where_ = format!("{}/{}", words::endpoint(a.host, a.port), a.transport);

    let mut feeds: Vec<&str> = a.intel.iter().map(|h| h.feed.as_str()).collect();
    feeds.sort_unstable();
    feeds.dedup();
    let _ = writeln!(
        text,
        "{INDENT}Who:   {}, listed by {}",
        a.client,
        counted(feeds.len() as u64, "feed", "feeds")
    );
    let hits: Vec<Vec<String>> = a.intel.iter().map(intel_row).collect();
    for line in columns(&hits) {
        let _ = writeln!(text, "{INDENT}         {line}");
    }

    let _ = writeln!(
        text,
        "{INDENT}What:  {}, {}",
        terminal_safe(&a.application.to_string()),
        counted(
            a.vulns.len() as u64,
            "known vulnerability",
            "known vulnerabilities"
        )
    );
    let vulns: Vec<Vec<String>> = a.vulns.iter().map(vuln_row).collect();
    for line in columns(&vulns) {
        let _ = writeln!(text, "{INDENT}         {line}");
    }

    let _ = writeln!(text, "{INDENT}Where: {where_}");
    let span = if a.first_seen == a.last_seen {
        words::time(a.first_seen)
    } else {
        format!(
            "{} to {}",
            words::time(a.first_seen),
            words::time(a.last_seen)
        )
    };
    let _ = writeln!(
        text,
        "{INDENT}When:  {span}, {} (window from {})",
        counted(a.connections, "connection", "connections"),
        words::time(a.window_start),
    );
    let unknown = a.unknown_outcome();
    let unknown = if unknown > 0 {
        format!(", {} of unknown outcome", count(unknown))
    } else {
        String::new()
    };
    let _ = writeln!(
        text,
        "{INDENT}How much: {} established, {} attempted{unknown}",
        count(a.established),
        count(a.attempted)
    );
    let _ = writeln!(
        text,
        "{INDENT}          to the server {} in {}; to the client {} in {}",
        counted(a.bytes_to_server, "byte", "bytes"),
        counted(a.packets_to_server, "packet", "packets"),
        counted(a.bytes_to_client, "byte", "bytes"),
        counted(a.packets_to_client, "packet", "packets"),
    );
    let _ = writeln!(
        text,
        "{INDENT}          largest connection {}",
        counted(a.max_bytes_per_connection, "byte", "bytes")
    );
    let _ = writeln!(text, "{INDENT}Why:   severity {}", a.severity);
    for reason in &a.reasons {
        let reason = words::severity_reason(reason);
        let _ = writeln!(text, "{INDENT}       - {}", terminal_safe(&reason));
    }
    if !a.sources.is_empty() {
        let logs: Vec<String> = a.sources.iter().map(ToString::to_string).collect();
        let more = a.connections.saturating_sub(a.sources.len() as u64);
        let more = if more > 0 {
            format!(" and {} more", count(more))
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "{INDENT}Logs:  {}{more}",
            terminal_safe(&logs.join(", "))
        );
    }
    let _ = writeln!(text, "{INDENT}Key:   {}", terminal_safe(&a.dedup_key));
}

/// `ipsum  77.90.185.20/32  score 10  attacks  seen 2026-08-01 to 2026-08-22`.
fn intel_row(hit: &IntelHit) -> Vec<String> {
    let score = hit
        .score
        .map(|s| format!("score {}", number(s)))
        .unwrap_or_default();
    let seen = match (hit.first_seen, hit.last_seen) {
        (Some(first), Some(last)) => format!("seen {} to {}", day(first), day(last)),
        (Some(first), None) => format!("first seen {}", day(first)),
        (None, Some(last)) => format!("last seen {}", day(last)),
        (None, None) => String::new(),
    };
    vec![
        hit.feed.clone(),
        hit.network.to_string(),
        score,
        hit.category.clone().unwrap_or_default(),
        seen,
    ]
}

/// `CVE-2024-6387  CVSS 3.1 8.1 high  not in KEV  EPSS 0.387 (percentile 97.1%)  version-range`.
fn vuln_row(v: &AlertVuln) -> Vec<String> {
    let cvss = v.cvss.as_ref().map_or_else(
        || "no CVSS".to_owned(),
        |c| format!("CVSS {} {:.1} {}", c.version, c.base_score, c.severity),
    );
    let kev = match (v.kev, v.kev_date_added) {
        (true, Some(date)) => format!("KEV since {date}"),
        (true, None) => "KEV".to_owned(),
        (false, _) => "not in KEV".to_owned(),
    };
    let epss = v.epss.as_ref().map_or_else(
        || "no EPSS".to_owned(),
        |e| {
            format!(
                "EPSS {:.3} (percentile {})",
                e.score,
                words::percent(e.percentile)
            )
        },
    );
    vec![v.id.clone(), cvss, kev, epss, v.confidence.to_string()]
}

fn day(ts: picket_model::Timestamp) -> String {
    ts.strftime("%Y-%m-%d").to_string()
}

/// A feed score as the feed wrote it: `10`, not `10.0`; `0.85` stays `0.85`.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}
