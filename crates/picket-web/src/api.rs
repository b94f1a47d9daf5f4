//! The JSON API under `/api/v1`: reads of the store rendered by picket-report's JSON documents
//! (the same fields as the CLI's `--format json`), alert triage, blocks through
//! `picket_app::respond` (always behind the allow-list guard), and what the service does
//! ([`crate::Control`]). This module must never call the store or the service on an async
//! thread, or block a network without the guard.

use std::fmt::Write as _;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, LINK, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use picket_app::options::{self as parse, BlockOptions};
use picket_app::{exposure, knowledge, respond};
use picket_model::{AlertStatus, AlertTriage, CloseReason, RunId, Severity, Timestamp};
use picket_report::{AlertDoc, Format, ReportError};
use picket_store::prelude::*;
use picket_store::{AlertCursor, AlertFilter, FindingFilter, TriagedAlert};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::routes::{Method, RouteInfo, Routes, path, query};
use crate::{App, ScanRequest, WebError};

/// Alerts in a page unless `limit` says otherwise.
pub const DEFAULT_PAGE: u64 = 100;
/// The largest page; `limit=all` streams every matching alert instead.
pub const MAX_PAGE: u64 = 1000;
/// Alerts read from the store at a time while streaming an export.
const EXPORT_CHUNK: u64 = 2000;
/// The longest triage note accepted.
const MAX_NOTE_CHARS: usize = 2000;

const ALERT_FILTERS: &[crate::Param] = &[
    query(
        "severity",
        "at least this severe: info, low, medium, high, critical",
    ),
    query("client", "the outside address that connected"),
    query("host", "the inside address connected to"),
    query("status", "open, acknowledged or closed"),
    query(
        "since",
        "last connection at or after: an RFC 3339 instant or a span back from now (`1h`, `7d`)",
    ),
    query(
        "limit",
        "alerts per page (default 100, at most 1000), or `all` for every matching alert \
         (streamed); a `Link` header names the next page",
    ),
    query("offset", "alerts to skip (default 0)"),
    query(
        "after",
        "a cursor: only the alerts after it (what the `Link` header's next page carries; read \
         from the index at any depth, unlike a large offset)",
    ),
];

pub(crate) fn add(r: Routes) -> Routes {
    use Method::{Delete, Get, Post};
    r.add(
        RouteInfo::new(Get, "/api/v1/runs", "Stored runs, newest first (`picket runs --format json`)")
            .params(&[query("limit", "how many runs (default 20)")]),
        runs,
    )
    .add(
        RouteInfo::new(
            Get,
            "/api/v1/runs/{id}",
            "One run with its hosts, ports, re-checks and findings (`picket scan --format json`)",
        )
        .params(&[path("id", "the run's id")]),
        run,
    )
    .add(
        RouteInfo::new(
            Get,
            "/api/v1/diff",
            "What changed between two runs (`picket diff --format json`); none given: the last two of the newest run's targets",
        )
        .params(&[query("from", "the older run's id"), query("to", "the newer run's id")]),
        diff,
    )
    .add(
        RouteInfo::new(Get, "/api/v1/findings", "Findings (`picket findings --format json`)")
            .params(&[
                query("run", "a run's id"),
                query("kind", "open-port-recheck, new-open-port or vulnerable-service"),
                query("host", "an address"),
            ]),
        findings,
    )
    .add(
        RouteInfo::new(
            Get,
            "/api/v1/alerts",
            "Alerts by first connection (`picket alerts --format json`, with `triage` once someone triaged one), a page at a time",
        )
        .params(ALERT_FILTERS),
        alerts,
    )
    .add(
        RouteInfo::new(Post, "/api/v1/alerts/{id}/acknowledge", "Acknowledge an alert")
            .params(&[path("id", "the alert's id")])
            .body("optional JSON {\"note\": string, \"by\": string}"),
        acknowledge,
    )
    .add(
        RouteInfo::new(Post, "/api/v1/alerts/{id}/close", "Close an alert with a reason")
            .params(&[path("id", "the alert's id")])
            .body(
                "JSON {\"reason\": other | false-positive | not-enough-information | \
                 malicious-resolved | malicious-unresolved | expected-testing, \"note\": string, \
                 \"by\": string}",
            ),
        close,
    )
    .add(
        RouteInfo::new(
            Get,
            "/api/v1/inventory",
            "What runs where, with matching vulnerabilities (`picket inventory --format json`)",
        ),
        inventory,
    )
    .add(
        RouteInfo::new(
            Get,
            "/api/v1/intel/lookup",
            "Every indicator covering an address (`picket intel lookup --format json`)",
        )
        .params(&[crate::Param {
            required: true,
            ..query("ip", "the address")
        }]),
        intel_lookup,
    )
    .add(
        RouteInfo::new(Get, "/api/v1/blocks", "Blocks in force (`picket blocks --format json`)"),
        blocks,
    )
    .add(
        RouteInfo::new(
            Post,
            "/api/v1/blocks",
            "Block a network (nftables, behind the allow-list guard); `dry_run` shows the plan",
        )
        .body(
            "JSON {\"net\": address or CIDR, \"ttl\": span (default 24h), \"reason\": string, \
             \"dry_run\": bool}",
        )
        .success(201),
        block,
    )
    .add(
        RouteInfo::new(Delete, "/api/v1/blocks/{net}", "Lift a block")
            .params(&[path("net", "the blocked address or CIDR, `/` written as `%2F`")]),
        unblock,
    )
    .add(
        RouteInfo::new(Post, "/api/v1/scans", "Start a scan now; answers with its run id")
            .body(
                "JSON {\"job\": a configured job's name} or {\"targets\": [..], \"ports\": \
                 string}",
            )
            .success(202),
        start_scan,
    )
    .add(
        RouteInfo::new(Get, "/api/v1/jobs", "The service's scheduled scan jobs"),
        jobs,
    )
    .add(
        RouteInfo::new(
            Get,
            "/api/v1/workers",
            "Workers of the NATS JetStream servers the jobs scan through (`picket workers \
             --format json`)",
        ),
        workers,
    )
    .add(
        RouteInfo::new(Get, "/api/v1/openapi.json", "This document (OpenAPI 3.1)"),
        openapi,
    )
    .add(
        RouteInfo::new(Get, "/metrics", "The service's metrics (Prometheus text format 0.0.4)")
            .metrics(),
        metrics,
    )
}

/// Runs `work` with the store on tokio's blocking threads.
pub(crate) async fn blocking<T, F>(app: &App, work: F) -> Result<T, WebError>
where
    F: FnOnce(&picket_store::Store) -> Result<T, WebError> + Send + 'static,
    T: Send + 'static,
{
    let store = app.web.store.clone();
    match tokio::task::spawn_blocking(move || work(&store)).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(WebError::Unavailable("the service is shutting down".into())),
    }
}

/// A JSON body written by a picket-report renderer.
fn rendered(
    render: impl FnOnce(&mut Vec<u8>) -> Result<(), ReportError>,
) -> Result<Response, WebError> {
    let mut body = Vec::new();
    render(&mut body)?;
    Ok(json_bytes(StatusCode::OK, body))
}

fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, WebError> {
    value
        .trim()
        .parse()
        .map_err(|_| WebError::BadRequest(format!("{name}: {value:?} is not a valid number")))
}

#[derive(Deserialize)]
struct RunsQuery {
    limit: Option<String>,
}

async fn runs(State(app): State<App>, Query(q): Query<RunsQuery>) -> Result<Response, WebError> {
    let limit: usize = q.limit.as_deref().map_or(Ok(20), |l| number("limit", l))?;
    let runs = blocking(&app, move |s| Ok(s.runs(limit)?)).await?;
    rendered(|out| picket_report::runs(out, Format::Json, &runs))
}

async fn run(State(app): State<App>, Path(id): Path<String>) -> Result<Response, WebError> {
    let id = RunId(number("id", &id)?);
    let (run, findings) = blocking(&app, move |s| {
        let run = s
            .run(id)?
            .ok_or_else(|| WebError::NotFound(format!("no run {id}")))?;
        let findings = s.findings(&FindingFilter {
            run: Some(id),
            ..FindingFilter::default()
        })?;
        Ok((run, findings))
    })
    .await?;
    rendered(|out| picket_report::scan(out, Format::Json, &run, &findings))
}

#[derive(Deserialize)]
struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn diff(State(app): State<App>, Query(q): Query<DiffQuery>) -> Result<Response, WebError> {
    let from = q.from.as_deref().map(|v| number("from", v)).transpose()?;
    let to = q.to.as_deref().map(|v| number("to", v)).transpose()?;
    let diff = blocking(&app, move |s| {
        Ok(exposure::diff(s, from.map(RunId), to.map(RunId))?)
    })
    .await?;
    rendered(|out| picket_report::diff(out, Format::Json, &diff))
}

#[derive(Deserialize)]
struct FindingsQuery {
    run: Option<String>,
    kind: Option<String>,
    host: Option<String>,
}

async fn findings(
    State(app): State<App>,
    Query(q): Query<FindingsQuery>,
) -> Result<Response, WebError> {
    let run = q.run.as_deref().map(|v| number("run", v)).transpose()?;
    let filter = parse::finding_filter(run, q.kind.as_deref(), q.host.as_deref())
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let findings = blocking(&app, move |s| Ok(s.findings(&filter)?)).await?;
    rendered(|out| picket_report::findings(out, Format::Json, &findings))
}

/// `GET /api/v1/alerts` parameters, as given.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct AlertsQuery {
    pub(crate) severity: Option<String>,
    pub(crate) client: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) since: Option<String>,
    pub(crate) limit: Option<String>,
    pub(crate) offset: Option<String>,
    pub(crate) after: Option<String>,
}

/// A cursor as the API writes it: the first connection in microseconds, `_`, the id.
fn cursor_text(c: AlertCursor) -> String {
    format!("{}_{}", c.first_seen.as_microsecond(), c.id)
}

fn cursor(text: &str) -> Result<AlertCursor, WebError> {
    let bad = || WebError::BadRequest(format!("after: {text:?} is not a cursor this API wrote"));
    let (at, id) = text.split_once('_').ok_or_else(bad)?;
    Ok(AlertCursor {
        first_seen: at
            .parse::<i64>()
            .ok()
            .and_then(|us| Timestamp::from_microsecond(us).ok())
            .ok_or_else(bad)?,
        id: id.parse().map_err(|_| bad())?,
    })
}

/// How many alerts a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Page { limit: u64, offset: u64 },
    All { offset: u64 },
}

impl AlertsQuery {
    /// The filter the parameters describe (without its page).
    pub(crate) fn filter(&self) -> Result<AlertFilter, WebError> {
        let bad = |e: String| WebError::BadRequest(e);
        Ok(AlertFilter {
            since: given(&self.since)
                .map(|s| {
                    s.parse::<Timestamp>().or_else(|_| {
                        parse::since("since", s)
                            .map_err(|e| bad(format!("{e} (or give an RFC 3339 instant)")))
                    })
                })
                .transpose()?,
            min_severity: given(&self.severity)
                .map(|s| {
                    s.parse::<Severity>()
                        .map_err(|e| bad(format!("severity: {e}")))
                })
                .transpose()?,
            client: given(&self.client)
                .map(|c| parse::ip("client", c).map_err(|e| bad(e.to_string())))
                .transpose()?,
            host: given(&self.host)
                .map(|h| parse::ip("host", h).map_err(|e| bad(e.to_string())))
                .transpose()?,
            status: given(&self.status)
                .map(|s| {
                    s.parse::<AlertStatus>()
                        .map_err(|e| bad(format!("status: {e}")))
                })
                .transpose()?,
            after: given(&self.after).map(cursor).transpose()?,
            ..AlertFilter::default()
        })
    }

    fn page(&self) -> Result<Page, WebError> {
        let offset = self
            .offset
            .as_deref()
            .map_or(Ok(0), |o| number::<u64>("offset", o))?;
        match self.limit.as_deref().map(str::trim) {
            Some("all") => Ok(Page::All { offset }),
            None | Some("") => Ok(Page::Page {
                limit: DEFAULT_PAGE,
                offset,
            }),
            Some(l) => {
                let limit: u64 = number("limit", l)?;
                if !(1..=MAX_PAGE).contains(&limit) {
                    return Err(WebError::BadRequest(format!(
                        "limit: {limit} is outside 1 to {MAX_PAGE} (or `all` for every alert)"
                    )));
                }
                Ok(Page::Page { limit, offset })
            }
        }
    }

    /// The query string of the same request at another offset.
    fn at_offset(&self, offset: u64) -> String {
        self.with(("offset", offset.to_string()))
    }

    /// The query string of the same request for the alerts after `c`.
    fn after_cursor(&self, c: AlertCursor) -> String {
        self.with(("after", cursor_text(c)))
    }

    /// The query string of the filters and the limit, and `position`.
    fn with(&self, position: (&'static str, String)) -> String {
        let mut pairs: Vec<(&str, String)> = [
            ("severity", &self.severity),
            ("client", &self.client),
            ("host", &self.host),
            ("status", &self.status),
            ("since", &self.since),
            ("limit", &self.limit),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect();
        pairs.push(position);
        let mut s = String::new();
        for (i, (k, v)) in pairs.iter().enumerate() {
            let sep = if i == 0 { "" } else { "&" };
            let _ = write!(s, "{sep}{k}={}", encode(v));
        }
        s
    }
}

/// A parameter's value, trimmed; `None` when missing or empty.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn encode(v: &str) -> String {
    v.bytes().fold(String::new(), |mut s, b| {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "%{b:02X}");
        }
        s
    })
}

fn alert_docs(alerts: &[TriagedAlert]) -> Vec<AlertDoc<'_>> {
    alerts
        .iter()
        .map(|t| AlertDoc::triaged(&t.alert, &t.triage))
        .collect()
}

async fn alerts(
    State(app): State<App>,
    Query(q): Query<AlertsQuery>,
) -> Result<Response, WebError> {
    let mut filter = q.filter()?;
    let (limit, offset) = match q.page()? {
        Page::All { offset } => return Ok(export(&app, filter, offset)),
        Page::Page { limit, offset } => (limit, offset),
    };
    // One more than the page: whether a next page exists, without counting them all.
    filter.limit = Some(limit + 1);
    filter.offset = offset;
    let mut page = blocking(&app, move |s| Ok(s.triaged_alerts(&filter)?)).await?;
    let more = page.len() as u64 > limit;
    page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let body = serde_json::to_vec(&alert_docs(&page))
        .map_err(|e| WebError::Internal(format!("encoding alerts: {e}")))?;
    let mut response = json_bytes(StatusCode::OK, body);
    let mut links = Vec::new();
    // The next page starts after this one's last alert: a cursor, so that a client walking
    // every page never pays for a large offset.
    if more && let Some(next) = page.last().and_then(|t| AlertCursor::after(&t.alert)) {
        links.push(format!(
            "</api/v1/alerts?{}>; rel=\"next\"",
            q.after_cursor(next)
        ));
    }
    if offset > 0 && q.after.is_none() {
        links.push(format!(
            "</api/v1/alerts?{}>; rel=\"prev\"",
            q.at_offset(offset.saturating_sub(limit))
        ));
    }
    if !links.is_empty()
        && let Ok(value) = HeaderValue::from_str(&links.join(", "))
    {
        response.headers_mut().insert(LINK, value);
    }
    Ok(response)
}

/// Every matching alert as one JSON array, read and written a chunk at a time, so that neither
/// side holds the whole export in memory. A failure mid-way cuts the response off (the array is
/// then unterminated: a client cannot mistake it for a whole one).
fn export(app: &App, filter: AlertFilter, offset: u64) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let store = app.web.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut first = true;
        let mut chunk = AlertFilter {
            limit: Some(EXPORT_CHUNK),
            offset,
            ..filter
        };
        let _ = tx.blocking_send(Ok(b"[".to_vec()));
        loop {
            let alerts = match store.triaged_alerts(&chunk) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "alert export failed");
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            };
            let mut out = Vec::with_capacity(alerts.len() * 1024);
            for doc in alert_docs(&alerts) {
                if !first {
                    out.push(b',');
                }
                first = false;
                if let Err(e) = serde_json::to_writer(&mut out, &doc) {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            }
            let next = alerts.last().and_then(|t| AlertCursor::after(&t.alert));
            if tx.blocking_send(Ok(out)).is_err() {
                return; // the client went away
            }
            match next {
                // Each chunk starts after the last: read from the index, never skipped over.
                Some(after) if alerts.len() as u64 == EXPORT_CHUNK => {
                    chunk.after = Some(after);
                    chunk.offset = 0;
                }
                _ => {
                    let _ = tx.blocking_send(Ok(b"]".to_vec()));
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        Body::from_stream(stream),
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    note: Option<String>,
    by: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    reason: String,
    note: Option<String>,
    by: Option<String>,
}

/// A JSON body; an empty one is `T::default()` when `empty` is given.
fn json_body<T: serde::de::DeserializeOwned>(
    bytes: &Bytes,
    empty: Option<T>,
) -> Result<T, WebError> {
    if bytes.iter().all(u8::is_ascii_whitespace)
        && let Some(value) = empty
    {
        return Ok(value);
    }
    serde_json::from_slice(bytes).map_err(|e| WebError::BadRequest(format!("request body: {e}")))
}

/// A note or name as given, trimmed, `None` when empty; refused when too long.
pub(crate) fn note(field: &str, value: Option<String>) -> Result<Option<String>, WebError> {
    let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if let Some(v) = &value
        && v.chars().count() > MAX_NOTE_CHARS
    {
        return Err(WebError::BadRequest(format!(
            "{field}: longer than {MAX_NOTE_CHARS} characters"
        )));
    }
    Ok(value)
}

/// Stores `triage` for alert `id`; 404 when there is no such alert.
pub(crate) async fn set_triage(
    app: &App,
    id: i64,
    triage: AlertTriage,
) -> Result<AlertTriage, WebError> {
    let stored = triage.clone();
    blocking(app, move |s| {
        if s.set_alert_triage(id, &stored)? {
            Ok(())
        } else {
            Err(WebError::NotFound(format!("no alert {id}")))
        }
    })
    .await?;
    Ok(triage)
}

#[derive(Serialize)]
struct Triaged {
    id: i64,
    triage: AlertTriage,
}

async fn acknowledge(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Triaged>, WebError> {
    let id: i64 = number("id", &id)?;
    let body: AckBody = json_body(&body, Some(AckBody::default()))?;
    let triage = AlertTriage::acknowledged(
        note("note", body.note)?,
        note("by", body.by)?.or_else(|| Some("api".into())),
        Timestamp::now(),
    );
    let triage = set_triage(&app, id, triage).await?;
    Ok(Json(Triaged { id, triage }))
}

async fn close(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Triaged>, WebError> {
    let id: i64 = number("id", &id)?;
    let body: CloseBody = json_body(&body, None)?;
    let reason: CloseReason = body
        .reason
        .parse()
        .map_err(|e: String| WebError::BadRequest(format!("reason: {e}")))?;
    let triage = AlertTriage::closed(
        reason,
        note("note", body.note)?,
        note("by", body.by)?.or_else(|| Some("api".into())),
        Timestamp::now(),
    );
    let triage = set_triage(&app, id, triage).await?;
    Ok(Json(Triaged { id, triage }))
}

async fn inventory(State(app): State<App>) -> Result<Response, WebError> {
    let entries = blocking(&app, |s| Ok(knowledge::inventory(s)?)).await?;
    rendered(|out| picket_report::listings::inventory(out, Format::Json, &entries))
}

#[derive(Deserialize)]
struct LookupQuery {
    ip: Option<String>,
}

async fn intel_lookup(
    State(app): State<App>,
    Query(q): Query<LookupQuery>,
) -> Result<Response, WebError> {
    let ip =
        q.ip.ok_or_else(|| WebError::BadRequest("ip: required (an address)".into()))?;
    let addr = parse::ip("ip", &ip).map_err(|e| WebError::BadRequest(e.to_string()))?;
    let hits = blocking(&app, move |s| Ok(s.indicators_covering(addr)?)).await?;
    let hits: Vec<&picket_model::Indicator> = hits.iter().collect();
    rendered(|out| picket_report::listings::indicators(out, Format::Json, addr, &hits))
}

async fn blocks(State(app): State<App>) -> Result<Response, WebError> {
    let blocks = blocking(&app, |s| Ok(respond::blocks(s)?)).await?;
    rendered(|out| picket_report::listings::blocks(out, Format::Json, &blocks))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BlockBody {
    pub(crate) net: String,
    pub(crate) ttl: Option<String>,
    pub(crate) reason: Option<String>,
    #[serde(default)]
    pub(crate) dry_run: bool,
}

/// What a block did or, dry, would do.
#[derive(Debug, Serialize)]
pub(crate) struct BlockDone {
    pub(crate) net: String,
    pub(crate) dry_run: bool,
    pub(crate) outcome: String,
    pub(crate) ttl_s: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) script: Option<String>,
}

/// A block through the guard: planned when dry, else applied and recorded.
pub(crate) async fn apply_block(app: &App, body: BlockBody) -> Result<BlockDone, WebError> {
    let opts = BlockOptions::new(
        &body.net,
        body.ttl.as_deref().unwrap_or("24h"),
        body.reason.as_deref().unwrap_or("blocked through the API"),
        &app.options.home_net,
        &app.options.allow,
    )
    .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let net = opts.net.to_string();
    let ttl_s = opts.ttl.as_secs();
    if body.dry_run {
        let plan = respond::plan_block(&opts)?;
        return Ok(BlockDone {
            net,
            dry_run: true,
            outcome: plan.outcome().would().to_string(),
            ttl_s,
            script: Some(plan.script().to_owned()),
        });
    }
    let outcome = blocking(app, move |s| Ok(respond::block(s, &opts)?)).await?;
    Ok(BlockDone {
        net,
        dry_run: false,
        outcome: outcome.to_string(),
        ttl_s,
        script: None,
    })
}

async fn block(State(app): State<App>, body: Bytes) -> Result<Response, WebError> {
    let body: BlockBody = json_body(&body, None)?;
    let done = apply_block(&app, body).await?;
    let status = if done.dry_run {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(done)).into_response())
}

/// Lifts the block of `net`; whether it was blocked.
pub(crate) async fn lift_block(app: &App, net: &str) -> Result<(String, bool), WebError> {
    let net = parse::net("net", net).map_err(|e| WebError::BadRequest(e.to_string()))?;
    let removed = blocking(app, move |s| Ok(respond::unblock(s, net)?)).await?;
    Ok((net.to_string(), removed))
}

async fn unblock(State(app): State<App>, Path(net): Path<String>) -> Result<Response, WebError> {
    let (net, removed) = lift_block(&app, &net).await?;
    Ok(Json(json!({ "net": net, "removed": removed })).into_response())
}

/// Runs a [`crate::Control`] call on a blocking thread.
pub(crate) async fn control<T: Send + 'static>(
    app: &App,
    work: impl FnOnce(&dyn crate::Control) -> T + Send + 'static,
) -> Result<T, WebError> {
    let control = app.web.control.clone();
    tokio::task::spawn_blocking(move || work(control.as_ref()))
        .await
        .map_err(|_| WebError::Unavailable("the service is shutting down".into()))
}

async fn start_scan(State(app): State<App>, body: Bytes) -> Result<Response, WebError> {
    let request: ScanRequest = json_body(&body, None)?;
    let run = control(&app, move |c| c.start_scan(request)).await??;
    let mut response = (StatusCode::ACCEPTED, Json(json!({ "run_id": run }))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/runs/{run}")) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

async fn jobs(State(app): State<App>) -> Result<Response, WebError> {
    let jobs = control(&app, |c| c.jobs()).await?;
    Ok(Json(jobs).into_response())
}

async fn workers(State(app): State<App>) -> Result<Response, WebError> {
    let list = control(&app, |c| c.workers()).await??;
    rendered(|out| picket_report::listings::workers(out, Format::Json, &list, Timestamp::now()))
}

async fn openapi() -> Response {
    Json(crate::openapi::document(&crate::routes())).into_response()
}

async fn metrics(State(app): State<App>) -> Result<Response, WebError> {
    let text = control(&app, |c| c.metrics()).await?;
    Ok((
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_links() {
        let q = AlertsQuery {
            severity: Some("high".into()),
            since: Some("2026-01-01T00:00:00+01:00".into()),
            limit: Some("50".into()),
            ..AlertsQuery::default()
        };
        assert_eq!(
            q.page().unwrap(),
            Page::Page {
                limit: 50,
                offset: 0
            }
        );
        assert_eq!(
            q.at_offset(50),
            "severity=high&since=2026-01-01T00%3A00%3A00%2B01%3A00&limit=50&offset=50"
        );
        let all = AlertsQuery {
            limit: Some("all".into()),
            offset: Some("10".into()),
            ..AlertsQuery::default()
        };
        assert_eq!(all.page().unwrap(), Page::All { offset: 10 });
        for bad in ["0", "1001", "-1", "many"] {
            let q = AlertsQuery {
                limit: Some(bad.into()),
                ..AlertsQuery::default()
            };
            assert!(q.page().is_err(), "{bad}");
        }
        assert_eq!(
            AlertsQuery::default().page().unwrap(),
            Page::Page {
                limit: DEFAULT_PAGE,
                offset: 0
            }
        );
    }

    #[test]
    fn filters_name_the_bad_parameter() {
        let q = |f: fn(&mut AlertsQuery)| {
            let mut q = AlertsQuery::default();
            f(&mut q);
            q.filter().map_err(|e| e.to_string())
        };
        assert!(
            q(|q| q.severity = Some("urgent".into()))
                .unwrap_err()
                .contains("severity")
        );
        assert!(
            q(|q| q.status = Some("done".into()))
                .unwrap_err()
                .contains("status")
        );
        assert!(
            q(|q| q.client = Some("x".into()))
                .unwrap_err()
                .contains("client")
        );
        assert!(
            q(|q| q.since = Some("soon".into()))
                .unwrap_err()
                .contains("since")
        );
        let f = q(|q| {
            q.since = Some("2026-01-01T00:00:00Z".into());
            q.status = Some("closed".into());
            q.host = Some("::ffff:10.0.0.5".into());
        })
        .unwrap();
        assert_eq!(f.status, Some(AlertStatus::Closed));
        assert_eq!(
            f.host.map(picket_model::canonical_ip),
            Some("10.0.0.5".parse().unwrap())
        );
        assert!(q(|q| q.since = Some("1h".into())).unwrap().since.is_some());
    }
}
