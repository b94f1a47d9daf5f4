//! `picket serve`: Picket as one long-running process. Scan jobs on cron schedules (and on
//! request over HTTP), log watchers that raise alerts as connections happen, feeds and
//! vulnerability knowledge that refresh themselves, alerts and findings pushed to webhooks,
//! syslog and NDJSON files, Prometheus metrics, and picket-web's API and dashboard in front.
//!
//! - [`config`]: the TOML file, validated with picket-app's parsers; errors name line and key.
//! - [`schedule`]: cron expressions in a time zone.
//! - `service`: the jobs, watchers and threads, and the [`picket_web::Control`] of the web layer.
//! - [`refresh`]: feeds and vulnerability sources from files and http(s) URLs.
//! - `sinks`: webhook, syslog and NDJSON file.
//! - [`metrics`]: the Prometheus exposition.
//! - `listener`: the HTTP server's bounded accept loop.
//!
//! The workflows are picket-app's: this crate schedules, watches and delivers, and must never
//! scan, detect or import by itself, call the store on an async thread, or install signal
//! handlers (the binary's one handler triggers the [`Shutdown`] that [`serve`] is given).

pub mod config;
pub mod error;
mod listener;
pub mod metrics;
pub mod refresh;
pub mod schedule;
mod service;
mod sinks;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use picket_app::Shutdown;
use picket_model::Timestamp;
use picket_web::{ControlError, WebOptions, WebState};
use tokio::runtime::Runtime;

pub use config::{ConfigError, Issue, Overrides, ServiceConfig};
pub use error::ServerError;
pub use service::Service;

use crate::refresh::Refresher;
use crate::schedule::CronSchedule;

/// Runs the service until `shutdown` is triggered: [`bind`], then [`Bound::run`].
///
/// Call from outside the runtime (`rt` is where the server, the scheduler and the scans' async
/// parts run).
pub fn serve(rt: &Runtime, config: ServiceConfig, shutdown: Shutdown) -> Result<(), ServerError> {
    bind(rt, config, shutdown)?.run(rt)
}

/// A service with its token read, its store open and its address bound: what can refuse to
/// start has been checked, and nothing runs yet.
pub struct Bound {
    config: ServiceConfig,
    token: String,
    store: picket_store::Store,
    listener: tokio::net::TcpListener,
    shutdown: Shutdown,
}

/// Reads the token (refused when missing, empty or readable by others), opens the store and
/// binds the listen address.
pub fn bind(rt: &Runtime, config: ServiceConfig, shutdown: Shutdown) -> Result<Bound, ServerError> {
    let token = read_token(config.token_file.as_deref())?;
    let store = picket_store::open(&config.db)?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(config.listen))
        .map_err(|source| ServerError::Listen {
            addr: config.listen,
            source,
        })?;
    Ok(Bound {
        config,
        token,
        store,
        listener,
        shutdown,
    })
}

impl Bound {
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// Where the HTTP server listens (the configured port, or the one the system chose for 0).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.listener.local_addr().unwrap_or(self.config.listen)
    }

    /// Runs until the shutdown is triggered, then stops in order: the HTTP server drains,
    /// running scans are stored as aborted, watchers flush and save their checkpoints, the
    /// refresher stops (a download in flight gets a few seconds), and the sinks deliver what
    /// they hold.
    pub fn run(self, rt: &Runtime) -> Result<(), ServerError> {
        let Bound {
            config,
            token,
            store,
            listener,
            shutdown,
        } = self;
        let service = Service::new(
            store.clone(),
            config.clone(),
            rt.handle().clone(),
            shutdown.clone(),
        )?;
        let refresher = start_refresher(&service, &config, &shutdown)?;
        let started = start(rt, &service, &config, &shutdown);
        let app = started.and_then(|schedulers| {
            let options = WebOptions {
                secure_cookies: None,
                home_net: config.home_net.clone(),
                allow: config.allow.clone(),
            };
            let state = WebState {
                store,
                token: token.into(),
                control: Arc::new(service.clone()),
            };
            Ok((schedulers, picket_web::router_with(state, options)?))
        });
        let served = match app {
            Ok((schedulers, app)) => {
                tracing::info!(listen = %config.listen, "serving");
                let stop = shutdown.clone();
                let served = rt.block_on(async move {
                    let listener = listener::Bounded::new(listener, listener::MAX_CONNECTIONS);
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move { stop.wait().await })
                        .await
                });
                // A server that failed stops the rest too.
                shutdown.trigger();
                for scheduler in schedulers {
                    let _ = rt.block_on(scheduler);
                }
                served.map_err(ServerError::Http)
            }
            Err(e) => {
                shutdown.trigger();
                Err(e)
            }
        };
        tracing::info!("stopping: waiting for scans, watchers and sinks");
        service.finish();
        if let Some(refresher) = refresher {
            wait_briefly(refresher, REFRESH_PATIENCE);
        }
        served
    }
}

/// How long a stopping service waits for a refresh in flight (a download may take minutes).
const REFRESH_PATIENCE: Duration = Duration::from_secs(5);

/// Starts the refresher on a thread of its own, outside the service's threads: a stop does not
/// wait for a download in flight for long (see [`wait_briefly`]).
fn start_refresher(
    service: &Service,
    config: &ServiceConfig,
    shutdown: &Shutdown,
) -> Result<Option<std::thread::JoinHandle<()>>, ServerError> {
    if config.feeds.is_empty() && config.vulns.is_empty() {
        return Ok(None);
    }
    let refresher = Refresher::new(service.inner().store.clone(), &config.feeds, &config.vulns);
    let (m, s) = (service.inner().metrics.clone(), shutdown.clone());
    std::thread::Builder::new()
        .name("refresh".into())
        .spawn(move || refresher.run(&m, &s))
        .map(Some)
        .map_err(ServerError::Thread)
}

/// Joins `thread` if it ends within `patience`; otherwise leaves it to the process's exit. An
/// import is one transaction, so one cut short stores nothing half-done.
fn wait_briefly(thread: std::thread::JoinHandle<()>, patience: Duration) {
    let deadline = std::time::Instant::now() + patience;
    while !thread.is_finished() {
        if std::time::Instant::now() >= deadline {
            tracing::warn!("a refresh is still under way: left unfinished (nothing half-stored)");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = thread.join();
}

/// Starts the watchers and a scheduler per scheduled job.
fn start(
    rt: &Runtime,
    service: &Service,
    config: &ServiceConfig,
    shutdown: &Shutdown,
) -> Result<Vec<tokio::task::JoinHandle<()>>, ServerError> {
    for watch in &config.watches {
        service.watch(watch.clone())?;
    }
    let mut schedulers = Vec::new();
    for job in &config.scans {
        if let Some(schedule) = &job.schedule {
            schedulers.push(rt.spawn(run_schedule(
                service.clone(),
                job.name.clone(),
                schedule.clone(),
                config.time_zone.clone(),
                shutdown.clone(),
            )));
        }
    }
    Ok(schedulers)
}

/// Fires job `name` at each time of its schedule until `shutdown`; a time that finds the job
/// still running is skipped (logged and counted).
async fn run_schedule(
    service: Service,
    name: String,
    schedule: CronSchedule,
    tz: TimeZone,
    shutdown: Shutdown,
) {
    let mut fired: Option<Timestamp> = None;
    loop {
        let now = Timestamp::now();
        // A timer may wake a hair early: never fire the same time twice.
        let after = fired.map_or(now, |f| f.max(now));
        let Some(next) = schedule.next_after(after, &tz) else {
            service.set_next(&name, None);
            tracing::warn!(job = %name, "the schedule fires no more");
            return;
        };
        service.set_next(&name, Some(next));
        let wait = Duration::try_from(next.duration_since(now)).unwrap_or_default();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.wait() => return,
        }
        fired = Some(next);
        let (s, n) = (service.clone(), name.clone());
        match tokio::task::spawn_blocking(move || s.start_job(&n)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e @ (ControlError::AlreadyRunning { .. } | ControlError::Unavailable(_))))
                if !shutdown.is_triggered() =>
            {
                service.skipped(&name, &e)
            }
            Ok(Err(e)) => tracing::warn!(job = %name, error = %e, "scheduled scan not started"),
            Err(e) => tracing::error!(job = %name, error = %e, "scheduled scan panicked"),
        }
    }
}

/// The API token: the first line of `file`, which must exist, hold a token, and be readable by
/// its owner only.
pub fn read_token(file: Option<&Path>) -> Result<String, ServerError> {
    use std::os::unix::fs::PermissionsExt;
    let Some(file) = file else {
        return Err(ServerError::NoToken);
    };
    let refuse = |why: String| ServerError::Token {
        file: file.to_owned(),
        why,
    };
    let meta = std::fs::metadata(file).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(refuse(format!(
            "group or others may access it (mode {mode:04o}): chmod 600 it"
        )));
    }
    let text = std::fs::read_to_string(file).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        return Err(refuse(
            "it is empty: put the token on its first line".into(),
        ));
    }
    Ok(token.to_owned())
}
