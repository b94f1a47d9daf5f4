//! The dashboard: server-rendered pages (minijinja templates embedded in the binary, auto-escaped
//! HTML, the stylesheet and a few lines of script inline), and the forms behind its buttons. It
//! must never show third-party text (banners, hostnames, feed names, notes) unescaped, change
//! anything without the form's CSRF token, or block without the guard.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use axum::Extension;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::{Environment, Value, context};
use picket_app::respond;
use picket_model::{
    AlertStatus, AlertTriage, CloseReason, Finding, HostResult, PortState, RunStatus, RunSummary,
    Severity, Timestamp,
};
use picket_report::words;
use picket_store::prelude::*;
use picket_store::{AlertCount, AlertFilter, BlockRecord, FeedSummary, FindingFilter};
use serde::{Deserialize, Serialize};

use crate::api::{self, AlertsQuery, BlockBody, blocking};
use crate::auth::{self, Auth, SESSION_LIFETIME};
use crate::routes::{Method, RouteInfo, Routes, path};
use crate::{App, WebError};

const STYLE: &str = include_str!("../templates/style.css");
const SCRIPT: &str = include_str!("../templates/app.js");
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("overview.html", include_str!("../templates/overview.html")),
    ("host.html", include_str!("../templates/host.html")),
    ("findings.html", include_str!("../templates/findings.html")),
    ("alerts.html", include_str!("../templates/alerts.html")),
    ("blocks.html", include_str!("../templates/blocks.html")),
];

/// Rows a page lists at most (the API pages through the rest).
const PAGE_ROWS: u64 = 200;
/// Runs the overview's chart and host list read.
const OVERVIEW_RUNS: usize = 30;
/// Runs a host's port history shows.
const HOST_RUNS: usize = 12;
/// A feed older than this is shown as stale.
const STALE_FEED_HOURS: i64 = 48;
/// Blocks of the history the blocks page lists (newest first).
const HISTORY_ROWS: usize = 50;
/// The block durations the forms offer.
const TTLS: &[&str] = &["1h", "24h", "7d", "30d"];

/// The compiled templates.
pub(crate) struct Pages {
    env: Environment<'static>,
    /// The Content-Security-Policy of every page (see `headers.rs`).
    pub(crate) policy: String,
}

impl Pages {
    pub(crate) fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        // Templates named *.html are auto-escaped: every value is HTML-escaped unless marked
        // safe, and only the embedded stylesheet and script are.
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        env.add_global("style", STYLE);
        env.add_global("script", SCRIPT);
        Ok(Self {
            env,
            policy: crate::headers::page_policy(SCRIPT),
        })
    }

    fn render(&self, name: &str, ctx: Value) -> Result<String, WebError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| WebError::Internal(format!("rendering {name}: {e}")))
    }
}

pub(crate) fn add(r: Routes) -> Routes {
    use Method::{Get, Post};
    r.add(
        RouteInfo::new(Get, "/", "Dashboard: overview").html(),
        overview,
    )
    .add(
        RouteInfo::new(
            Get,
            "/hosts/{ip}",
            "Dashboard: a host's port history and findings",
        )
        .params(&[path("ip", "the host's address")])
        .html(),
        host,
    )
    .add(
        RouteInfo::new(Get, "/findings", "Dashboard: findings").html(),
        findings,
    )
    .add(
        RouteInfo::new(Get, "/alerts", "Dashboard: alerts with their actions")
            .params(&[
                crate::routes::query("status", "open, acknowledged or closed"),
                crate::routes::query("severity", "at least this severe"),
            ])
            .html(),
        alerts,
    )
    .add(
        RouteInfo::new(Get, "/blocks", "Dashboard: blocks").html(),
        blocks,
    )
    .add(
        RouteInfo::new(
            Get,
            "/login",
            "Dashboard: the login form (401 until logged in)",
        )
        .html(),
        login_form,
    )
    .add(
        RouteInfo::new(
            Post,
            "/login",
            "Dashboard: log in with the token (sets the session cookie)",
        )
        .body("form: token")
        .html()
        .success(303),
        login,
    )
    .add(
        RouteInfo::new(Post, "/logout", "Dashboard: log out")
            .body("form: csrf")
            .html()
            .success(303),
        logout,
    )
    .add(
        RouteInfo::new(
            Post,
            "/alerts/{id}/acknowledge",
            "Dashboard: acknowledge an alert",
        )
        .params(&[path("id", "the alert's id")])
        .body("form: csrf, note")
        .html()
        .success(303),
        acknowledge,
    )
    .add(
        RouteInfo::new(Post, "/alerts/{id}/close", "Dashboard: close an alert")
            .params(&[path("id", "the alert's id")])
            .body("form: csrf, reason, note")
            .html()
            .success(303),
        close,
    )
    .add(
        RouteInfo::new(
            Post,
            "/blocks",
            "Dashboard: block a network (behind the guard)",
        )
        .body("form: csrf, net, ttl, reason, dry_run")
        .html(),
        block,
    )
    .add(
        RouteInfo::new(Post, "/blocks/remove", "Dashboard: lift a block")
            .body("form: csrf, net")
            .html(),
        unblock,
    )
}

/// The login page, answered with 401 (and the bearer challenge) to any request without a token
/// or session.
pub(crate) fn login_page(app: &App, error: Option<&str>, next: &str) -> Response {
    let hours = SESSION_LIFETIME.as_secs() / 3600;
    let next = local_path(next);
    let body = app
        .pages
        .render(
            "login.html",
            context! { error, hours, next, refresh => false },
        )
        .unwrap_or_else(|e| e.to_string());
    let mut response = (StatusCode::UNAUTHORIZED, Html(body)).into_response();
    auth::challenge(&mut response);
    response
}

/// An error as a page.
fn error_page(app: &App, auth: &Auth, e: &WebError, back: &str) -> Response {
    let title = match e.status() {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Refused",
        StatusCode::BAD_REQUEST => "Not valid",
        StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
        StatusCode::CONFLICT => "Conflict",
        _ => "Something failed",
    };
    let ctx =
        context! { title, message => e.to_string(), back, csrf => csrf(app, auth), page => "" };
    match app.pages.render("error.html", ctx) {
        Ok(body) => (e.status(), Html(body)).into_response(),
        Err(_) => (e.status(), e.to_string()).into_response(),
    }
}

fn csrf(app: &App, auth: &Auth) -> String {
    match auth {
        Auth::Session(session) => app.keys.csrf(session),
        Auth::Bearer => String::new(),
    }
}

/// A page's HTML, or its error as a page.
fn page(app: &App, auth: &Auth, back: &str, result: Result<String, WebError>) -> Response {
    match result {
        Ok(body) => Html(body).into_response(),
        Err(e) => error_page(app, auth, &e, back),
    }
}

fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// `5 min`, `3 h`, `2 d`.
fn age(from: Timestamp, now: Timestamp) -> String {
    let s = now.as_second().saturating_sub(from.as_second()).max(0);
    match s {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

fn ports_text(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- overview ----

struct OverviewData {
    runs: Vec<RunSummary>,
    hosts: Vec<(IpAddr, Vec<u16>, i64)>,
    findings: Vec<Finding>,
    counts: Vec<AlertCount>,
    blocks: Vec<BlockRecord>,
    feeds: Vec<FeedSummary>,
}

fn overview_data(s: &picket_store::Store) -> Result<OverviewData, WebError> {
    let runs = s.runs(OVERVIEW_RUNS)?;
    // The newest finished run of each set of targets says which hosts have open ports now.
    let mut seen_targets = BTreeSet::new();
    let mut hosts: BTreeMap<IpAddr, (Vec<u16>, i64)> = BTreeMap::new();
    for run in &runs {
        if run.status != RunStatus::Completed || !seen_targets.insert(run.target_key.clone()) {
            continue;
        }
        for (host, ports) in s.open_ports(run.id)? {
            hosts.entry(host).or_insert((ports, run.id.0));
        }
    }
    Ok(OverviewData {
        runs,
        hosts: hosts.into_iter().map(|(h, (p, r))| (h, p, r)).collect(),
        findings: s.findings(&FindingFilter::default())?,
        counts: s.alert_counts()?,
        blocks: s.blocks(Some(Timestamp::now()))?,
        feeds: s.feeds()?,
    })
}

#[derive(Serialize)]
struct ChartPoint {
    x: i64,
    y: i64,
    run: i64,
    value: u32,
    when: String,
    labelled: bool,
}

#[derive(Serialize)]
struct Tick {
    y: i64,
    label: u32,
}

#[derive(Serialize)]
struct Chart {
    width: i64,
    height: i64,
    left: i64,
    points: Vec<ChartPoint>,
    ticks: Vec<Tick>,
    line: String,
    area: String,
}

/// Open ports per run, oldest to newest, as an SVG line chart's geometry.
fn chart(runs: &[RunSummary]) -> Chart {
    let (width, height, left, top, bottom) = (900i64, 220i64, 44i64, 12i64, 26i64);
    let runs: Vec<&RunSummary> = runs
        .iter()
        .rev()
        .filter(|r| r.status != RunStatus::Running)
        .collect();
    let max = runs.iter().map(|r| r.open_ports).max().unwrap_or(0).max(1);
    // A round top: 1, 2, 5 times a power of ten.
    let mut top_value = 1u32;
    'outer: for scale in [1u32, 10, 100, 1000, 10_000, 100_000, 1_000_000] {
        for step in [1u32, 2, 5] {
            if step.saturating_mul(scale) >= max {
                top_value = step.saturating_mul(scale);
                break 'outer;
            }
        }
        top_value = u32::MAX;
    }
    let plot_h = height - top - bottom;
    let plot_w = width - left - 20;
    let y_of = |v: u32| top + plot_h - (i64::from(v) * plot_h) / i64::from(top_value.max(1));
    let n = runs.len() as i64;
    let x_of = |i: i64| {
        if n <= 1 {
            left + plot_w / 2
        } else {
            left + 10 + i * (plot_w - 10) / (n - 1)
        }
    };
    let every = (n / 10).max(1);
    let points: Vec<ChartPoint> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let i = i as i64;
            ChartPoint {
                x: x_of(i),
                y: y_of(r.open_ports),
                run: r.id.0,
                value: r.open_ports,
                when: when(r.started_at),
                labelled: i % every == 0 || i == n - 1,
            }
        })
        .collect();
    let line = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}{} {}", if i == 0 { "M" } else { "L" }, p.x, p.y))
        .collect::<Vec<_>>()
        .join(" ");
    let base = top + plot_h;
    let area = match (points.first(), points.last()) {
        (Some(a), Some(b)) => format!("{line} L{} {base} L{} {base} Z", b.x, a.x),
        _ => String::new(),
    };
    let ticks = [0, top_value / 2, top_value]
        .into_iter()
        .map(|v| Tick {
            y: y_of(v),
            label: v,
        })
        .collect();
    Chart {
        width,
        height,
        left,
        points,
        ticks,
        line,
        area,
    }
}

#[derive(Serialize)]
struct Bar {
    name: String,
    count: u64,
    open: u64,
    pct: u64,
}

async fn overview(State(app): State<App>, Extension(auth): Extension<Auth>) -> Response {
    let result = async {
        let data = blocking(&app, overview_data).await?;
        let jobs = api::control(&app, |c| c.jobs()).await?;
        let now = Timestamp::now();
        let mut verdicts: BTreeMap<String, u64> = BTreeMap::new();
        for f in &data.findings {
            let name = f
                .verdict
                .map_or_else(|| f.kind.as_str().to_owned(), |v| v.as_str().to_owned());
            *verdicts.entry(name).or_default() += 1;
        }
        let vmax = verdicts.values().copied().max().unwrap_or(1).max(1);
        let verdicts: Vec<Bar> = verdicts
            .into_iter()
            .map(|(name, count)| Bar {
                name,
                count,
                open: count,
                pct: count * 100 / vmax,
            })
            .collect();
        let mut severities: Vec<Bar> = Vec::new();
        for sev in Severity::ALL.into_iter().rev() {
            let of = data.counts.iter().filter(|c| c.severity == sev);
            let count: u64 = of.clone().map(|c| c.count).sum();
            let open: u64 = of
                .filter(|c| c.status == AlertStatus::Open)
                .map(|c| c.count)
                .sum();
            if count > 0 {
                severities.push(Bar {
                    name: sev.as_str().into(),
                    count,
                    open,
                    pct: 0,
                });
            }
        }
        let smax = severities.iter().map(|b| b.count).max().unwrap_or(1).max(1);
        for b in &mut severities {
            b.pct = b.count * 100 / smax;
        }
        let alerts_open: u64 = data
            .counts
            .iter()
            .filter(|c| c.status == AlertStatus::Open)
            .map(|c| c.count)
            .sum();
        let hosts: Vec<Value> = data
            .hosts
            .iter()
            .map(|(h, p, r)| context! { addr => h.to_string(), ports => ports_text(p), run => r })
            .collect();
        let open_ports: usize = data.hosts.iter().map(|(_, p, _)| p.len()).sum();
        let blocks: Vec<Value> = data
            .blocks
            .iter()
            .map(|b| {
                context! {
                    net => b.net.to_string(),
                    reason => b.reason.clone(),
                    since => when(b.created_at),
                    expires => b.expires_at.map_or_else(|| "never".to_owned(), |t| format!("in {}", age(now, t))),
                }
            })
            .collect();
        let feeds: Vec<Value> = data
            .feeds
            .iter()
            .map(|f| {
                context! {
                    name => f.name.clone(),
                    format => f.format.as_str(),
                    indicators => f.indicators,
                    age => age(f.loaded_at, now),
                    stale => now.as_second() - f.loaded_at.as_second() > STALE_FEED_HOURS * 3600,
                }
            })
            .collect();
        let jobs: Vec<Value> = jobs
            .iter()
            .map(|j| {
                context! {
                    name => j.name.clone(),
                    schedule => j.schedule.clone(),
                    next => j.next.map_or_else(|| "-".to_owned(), when),
                    running => j.running.map(|r| r.0),
                    last_run => j.last_run.map(|r| r.0),
                }
            })
            .collect();
        let stats = context! {
            hosts => data.hosts.len(),
            open_ports,
            findings => data.findings.len(),
            alerts_open,
            blocks => data.blocks.len(),
            runs => data.runs.len(),
        };
        app.pages.render(
            "overview.html",
            context! {
                page => "overview", csrf => csrf(&app, &auth), refresh => true,
                stats, chart => Value::from_serialize(chart(&data.runs)),
                verdicts => Value::from_serialize(&verdicts),
                severities => Value::from_serialize(&severities),
                hosts, blocks, feeds, jobs,
            },
        )
    }
    .await;
    page(&app, &auth, "/", result)
}

// ---- host ----

/// One finding in words, as the host and findings pages show it.
fn finding_view(f: &Finding) -> Value {
    context! {
        kind => f.kind.as_str(),
        host => f.host.to_string(),
        endpoint => match &f.hostname {
            Some(name) => format!("{}:{} ({name})", f.host, f.port),
            None => format!("{}:{}", f.host, f.port),
        },
        verdict => f.verdict.map(|v| v.as_str()),
        run => f.run_id.0,
        when => when(f.created_at),
        summary => words::summary(f),
        evidence => picket_report::evidence_lines(f),
        remediation => f.remediation.iter().map(words::remediation).collect::<Vec<_>>(),
        verify => words::verify(&f.verify),
    }
}

type HostHistory = (Vec<(RunSummary, HostResult)>, Vec<Finding>, usize);

fn host_data(s: &picket_store::Store, ip: IpAddr) -> Result<HostHistory, WebError> {
    let mut seen = Vec::new();
    for run in s.runs(OVERVIEW_RUNS * 2)? {
        if seen.len() >= HOST_RUNS {
            break;
        }
        if let Some(full) = s.run_with_hosts(run.id, &[ip])?
            && let Some(host) = full.hosts.into_iter().find(|h| h.address == ip)
        {
            seen.push((run, host));
        }
    }
    seen.reverse();
    let mut findings = s.findings(&FindingFilter {
        host: Some(ip),
        ..FindingFilter::default()
    })?;
    findings.reverse();
    let open_alerts = s
        .triaged_alerts(&AlertFilter {
            host: Some(ip),
            status: Some(AlertStatus::Open),
            ..AlertFilter::default()
        })?
        .len();
    Ok((seen, findings, open_alerts))
}

async fn host(
    State(app): State<App>,
    Extension(auth): Extension<Auth>,
    Path(ip): Path<String>,
) -> Response {
    let result = async {
        let ip: IpAddr = picket_app::options::ip("ip", &ip)
            .map_err(|e| WebError::BadRequest(e.to_string()))?;
        let (seen, findings, open_alerts) = blocking(&app, move |s| host_data(s, ip)).await?;
        // Every port open in any of the runs, with what the newest run that named it said runs there.
        let mut ports: BTreeMap<u16, Option<String>> = BTreeMap::new();
        for (_, host) in &seen {
            for o in host.ports.iter().filter(|o| o.state == PortState::Open) {
                let service = o.service.as_ref().map(|s| {
                    [Some(s.name.as_str()), s.product.as_deref(), s.version.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ")
                });
                let slot = ports.entry(o.port).or_default();
                if service.is_some() {
                    *slot = service;
                }
            }
        }
        let ports: Vec<Value> = ports
            .into_iter()
            .map(|(port, service)| {
                let cells: Vec<bool> = seen
                    .iter()
                    .map(|(_, h)| {
                        h.ports
                            .iter()
                            .any(|o| o.port == port && o.state == PortState::Open)
                    })
                    .collect();
                context! { port, service, cells }
            })
            .collect();
        let names: Vec<String> = seen
            .last()
            .map(|(_, h)| {
                [h.hostname.clone(), h.reverse_name.clone()]
                    .into_iter()
                    .flatten()
                    .collect()
            })
            .unwrap_or_default();
        let runs: Vec<Value> = seen
            .iter()
            .map(|(r, h)| context! { id => r.id.0, when => when(r.started_at), state => h.state.as_str() })
            .collect();
        let findings: Vec<Value> = findings.iter().map(finding_view).collect();
        app.pages.render(
            "host.html",
            context! {
                page => "host", csrf => csrf(&app, &auth), host => ip.to_string(),
                names => names.join(", "), runs, ports, findings, open_alerts,
            },
        )
    }
    .await;
    page(&app, &auth, "/", result)
}

// ---- findings ----

async fn findings(State(app): State<App>, Extension(auth): Extension<Auth>) -> Response {
    let result = async {
        let all = blocking(&app, |s| Ok(s.findings(&FindingFilter::default())?)).await?;
        let total = all.len();
        let shown: Vec<Value> = all
            .iter()
            .rev()
            .take(PAGE_ROWS as usize)
            .map(finding_view)
            .collect();
        app.pages.render(
            "findings.html",
            context! {
                page => "findings", csrf => csrf(&app, &auth),
                more => total > shown.len(), total, findings => shown,
            },
        )
    }
    .await;
    page(&app, &auth, "/", result)
}

// ---- alerts ----

fn alert_view(t: &picket_store::TriagedAlert) -> Value {
    let a = &t.alert;
    let mut feeds: Vec<&str> = a.intel.iter().map(|h| h.feed.as_str()).collect();
    feeds.dedup();
    let app_name = [
        Some(a.application.product.as_str()),
        a.application.version.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    // The most severe first (the alert keeps them so), then how many more.
    let vulns = match a.vulns.first() {
        Some(worst) => {
            let score = worst
                .cvss
                .as_ref()
                .map(|c| format!(" · CVSS {:.1}", c.base_score))
                .unwrap_or_default();
            let kev = if worst.kev { " · in KEV" } else { "" };
            let more = match a.vulns.len() - 1 {
                0 => String::new(),
                n => format!(" (+{n} more)"),
            };
            format!("{}{score}{kev}{more}", worst.id)
        }
        None => "no known vulnerability".to_owned(),
    };
    context! {
        id => a.id,
        severity => a.severity.as_str(),
        client => a.client.to_string(),
        feeds => format!(
            "listed by {}: {}",
            words::counted(feeds.len() as u64, "feed", "feeds"),
            feeds.join(", ")
        ),
        app => app_name,
        vulns,
        host => a.host.to_string(),
        endpoint => format!("{}:{}/{}", a.host, a.port, a.transport),
        first => when(a.first_seen),
        connections => format!(
            "{}, {} established",
            words::counted(a.connections, "connection", "connections"),
            a.established,
        ),
        reasons => a.reasons.iter().map(words::severity_reason).collect::<Vec<_>>(),
        status => t.triage.status.as_str(),
        close_reason => t.triage.close_reason.map(|r| r.as_str()),
        note => t.triage.note.clone(),
        by => t.triage.by.clone(),
        at => t.triage.at.map(when),
    }
}

#[derive(Debug, Default, Deserialize)]
struct AlertsPageQuery {
    status: Option<String>,
    severity: Option<String>,
    host: Option<String>,
}

async fn alerts(
    State(app): State<App>,
    Extension(auth): Extension<Auth>,
    Query(q): Query<AlertsPageQuery>,
) -> Response {
    let result = async {
        let query = AlertsQuery {
            status: q.status.clone(),
            severity: q.severity.clone(),
            host: q.host.clone(),
            ..AlertsQuery::default()
        };
        let mut filter = query.filter()?;
        let (status, min) = (filter.status, filter.min_severity);
        let shown = blocking(&app, move |s| {
            if filter.host.is_some() {
                // One host's alerts: few enough to read whole, newest kept.
                let mut all = s.triaged_alerts(&filter)?;
                let total = all.len() as u64;
                all.reverse();
                all.truncate(PAGE_ROWS as usize);
                return Ok((total, all));
            }
            // The newest page: the counts say where it starts.
            let total: u64 = s
                .alert_counts()?
                .iter()
                .filter(|c| status.is_none_or(|st| c.status == st))
                .filter(|c| min.is_none_or(|m| c.severity >= m))
                .map(|c| c.count)
                .sum();
            filter.offset = total.saturating_sub(PAGE_ROWS);
            filter.limit = Some(PAGE_ROWS);
            let mut page = s.triaged_alerts(&filter)?;
            page.reverse();
            Ok((total, page))
        })
        .await?;
        let (total, page) = shown;
        let views: Vec<Value> = page.iter().map(alert_view).collect();
        app.pages.render(
            "alerts.html",
            context! {
                page => "alerts", csrf => csrf(&app, &auth),
                alerts => views, total, more => total > page.len() as u64,
                filter => context! { status => q.status, severity => q.severity, host => q.host },
                statuses => AlertStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                severity_names => Severity::ALL.iter().rev().map(|s| s.as_str()).collect::<Vec<_>>(),
                close_reasons => CloseReason::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            },
        )
    }
    .await;
    page(&app, &auth, "/alerts", result)
}

#[derive(Debug, Deserialize)]
struct AckForm {
    #[serde(default)]
    csrf: String,
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CloseForm {
    #[serde(default)]
    csrf: String,
    reason: String,
    note: Option<String>,
}

fn who(auth: &Auth) -> Option<String> {
    Some(match auth {
        Auth::Bearer => "api".to_owned(),
        Auth::Session(_) => "dashboard".to_owned(),
    })
}

fn check_csrf(app: &App, auth: &Auth, given: &str) -> Result<(), WebError> {
    if app.keys.csrf_ok(auth, given) {
        Ok(())
    } else {
        Err(WebError::Forbidden(
            "the form's CSRF token is missing or not this session's: reload the page and try again"
                .into(),
        ))
    }
}

async fn triage_form(
    app: &App,
    auth: &Auth,
    id: &str,
    csrf_given: &str,
    triage: impl FnOnce() -> Result<AlertTriage, WebError>,
) -> Response {
    let result = async {
        check_csrf(app, auth, csrf_given)?;
        let id: i64 = id
            .trim()
            .parse()
            .map_err(|_| WebError::BadRequest(format!("{id:?} is not an alert id")))?;
        api::set_triage(app, id, triage()?).await?;
        Ok::<_, WebError>(id)
    }
    .await;
    match result {
        Ok(id) => Redirect::to(&format!("/alerts#alert-{id}")).into_response(),
        Err(e) => error_page(app, auth, &e, "/alerts"),
    }
}

async fn acknowledge(
    State(app): State<App>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(form): Form<AckForm>,
) -> Response {
    let by = who(&auth);
    triage_form(&app, &auth, &id, &form.csrf, || {
        Ok(AlertTriage::acknowledged(
            api::note("note", form.note)?,
            by,
            Timestamp::now(),
        ))
    })
    .await
}

async fn close(
    State(app): State<App>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(form): Form<CloseForm>,
) -> Response {
    let by = who(&auth);
    triage_form(&app, &auth, &id, &form.csrf, || {
        let reason: CloseReason = form
            .reason
            .parse()
            .map_err(|e: String| WebError::BadRequest(format!("reason: {e}")))?;
        Ok(AlertTriage::closed(
            reason,
            api::note("note", form.note)?,
            by,
            Timestamp::now(),
        ))
    })
    .await
}

// ---- blocks ----

async fn blocks_page(
    app: &App,
    auth: &Auth,
    done: Option<String>,
    script: Option<String>,
) -> Result<String, WebError> {
    let (live, unavailable) = match blocking(app, |s| Ok(respond::blocks(s)?)).await {
        Ok(live) => (
            live.iter()
                .map(|b| {
                    context! {
                        net => b.net.clone(),
                        expires => b.expires_in_s.map_or_else(|| "never".to_owned(), |s| age(Timestamp::UNIX_EPOCH, Timestamp::from_second(s as i64).unwrap_or(Timestamp::UNIX_EPOCH))),
                        since => b.since.map_or_else(|| "-".to_owned(), when),
                        reason => b.reason.clone().unwrap_or_else(|| "(not blocked by picket)".to_owned()),
                    }
                })
                .collect::<Vec<_>>(),
            None,
        ),
        Err(e) => {
            // Without nftables, show what the store recorded as in force.
            let recorded = blocking(app, |s| Ok(s.blocks(Some(Timestamp::now()))?)).await?;
            let now = Timestamp::now();
            (
                recorded
                    .iter()
                    .map(|b| {
                        context! {
                            net => b.net.to_string(),
                            expires => b.expires_at.map_or_else(|| "never".to_owned(), |t| age(now, t)),
                            since => when(b.created_at),
                            reason => b.reason.clone(),
                        }
                    })
                    .collect(),
                Some(e.to_string()),
            )
        }
    };
    let now = Timestamp::now();
    let recorded = blocking(app, |s| Ok(s.blocks(None)?)).await?;
    let history: Vec<Value> = recorded
        .iter()
        .rev()
        .take(HISTORY_ROWS)
        .map(|b| {
            let until = match (b.removed_at, b.expires_at) {
                (Some(t), _) => format!("lifted {}", when(t)),
                (None, Some(t)) if t <= now => format!("expired {}", when(t)),
                (None, Some(t)) => when(t),
                (None, None) => "no expiry".to_owned(),
            };
            context! {
                net => b.net.to_string(), reason => b.reason.clone(), since => when(b.created_at),
                until, alert => b.alert_id,
            }
        })
        .collect();
    app.pages.render(
        "blocks.html",
        context! {
            page => "blocks", csrf => csrf(app, auth), blocks => live, unavailable, done, plan => script,
            ttls => TTLS, history,
        },
    )
}

async fn blocks(State(app): State<App>, Extension(auth): Extension<Auth>) -> Response {
    let result = blocks_page(&app, &auth, None, None).await;
    page(&app, &auth, "/", result)
}

#[derive(Debug, Deserialize)]
struct BlockForm {
    #[serde(default)]
    csrf: String,
    net: String,
    ttl: Option<String>,
    reason: Option<String>,
    dry_run: Option<String>,
}

async fn block(
    State(app): State<App>,
    Extension(auth): Extension<Auth>,
    Form(form): Form<BlockForm>,
) -> Response {
    let result = async {
        check_csrf(&app, &auth, &form.csrf)?;
        let reason = form
            .reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "blocked from the dashboard".to_owned());
        let done = api::apply_block(
            &app,
            BlockBody {
                net: form.net,
                ttl: form.ttl,
                reason: Some(reason),
                dry_run: form.dry_run.is_some(),
            },
        )
        .await?;
        let message = if done.dry_run {
            format!("Dry run: {}", done.outcome)
        } else {
            done.outcome.clone()
        };
        blocks_page(&app, &auth, Some(message), done.script).await
    }
    .await;
    page(&app, &auth, "/blocks", result)
}

#[derive(Debug, Deserialize)]
struct UnblockForm {
    #[serde(default)]
    csrf: String,
    net: String,
}

async fn unblock(
    State(app): State<App>,
    Extension(auth): Extension<Auth>,
    Form(form): Form<UnblockForm>,
) -> Response {
    let result = async {
        check_csrf(&app, &auth, &form.csrf)?;
        let (net, removed) = api::lift_block(&app, &form.net).await?;
        let message = if removed {
            format!("{net} unblocked")
        } else {
            format!("{net} was not blocked")
        };
        blocks_page(&app, &auth, Some(message), None).await
    }
    .await;
    page(&app, &auth, "/blocks", result)
}

// ---- session ----

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `next` when it is a path of this site, else `/`: a login never sends anyone elsewhere.
fn local_path(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if local { next } else { "/" }
}

async fn login_form() -> Redirect {
    // Reached only with a token or session (the auth layer answers the rest with the form).
    Redirect::to("/")
}

async fn login(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return login_page(&app, Some("Give the token."), "/");
    };
    let next = form.next.as_deref().unwrap_or("/");
    if !app.keys.token_matches(form.token.trim()) {
        return login_page(&app, Some("That token is not valid."), next);
    }
    let session = match app.keys.new_session(Timestamp::now()) {
        Ok(s) => s,
        Err(e) => {
            return WebError::Internal(format!("no randomness for a session: {e}")).into_response();
        }
    };
    let secure = auth::secure(&app, &headers, uri.scheme_str() == Some("https"));
    let mut response = Redirect::to(local_path(next)).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&auth::set_cookie(Some(&session), secure)) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

#[derive(Debug, Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(app): State<App>,
    Extension(auth): Extension<Auth>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Err(e) = check_csrf(&app, &auth, &form.csrf) {
        return error_page(&app, &auth, &e, "/");
    }
    if let Auth::Session(session) = &auth {
        app.keys.end_session(session, Timestamp::now());
    }
    let secure = auth::secure(&app, &headers, uri.scheme_str() == Some("https"));
    let mut response = Redirect::to("/").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&auth::set_cookie(None, secure)) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}
