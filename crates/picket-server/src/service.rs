//! The running service: scan jobs (scheduled and on request), watchers, the refresher and the
//! sinks around one store, and the [`picket_web::Control`] the HTTP layer asks.
//!
//! Workflows run on threads of their own (the store and the scan's runtime handle are
//! blocking): a scan on a thread per run, a watcher on a thread per log, the refresher on one.
//! Async code (the scheduler, the HTTP server) only waits and starts them. A job is never
//! started twice: it is marked busy before its run begins and freed when the run is stored; a
//! time that comes while it is busy is skipped, logged and counted. This module must never
//! render or print: it logs with `tracing`, counts in [`Metrics`] and hands records to sinks.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use picket_app::distributed::QueueScan;
use picket_app::exposure::{self, Progress, Via};
use picket_app::options::{ProfileValues, ScanOptions};
use picket_app::targets::TargetValues;
use picket_app::threat::{self, Notice, StoredAlert, ThreatSink};
use picket_app::{AppError, Shutdown};
use picket_detect::threat::ThreatStats;
use picket_model::{RunId, Timestamp, WorkerStatus};
use picket_report::AlertChangeKind;
use picket_scan::ScanEvent;
use picket_store::prelude::*;
use picket_store::{FindingFilter, Store};
use picket_web::{Control, ControlError, JobStatus, ScanRequest};
use tokio::runtime::Handle;

use crate::config::{ScanJob, ServiceConfig, WatchJob, ports_values};
use crate::error::ServerError;
use crate::metrics::Metrics;
use crate::sinks::{Record, SinkHub};

/// How long a failed watcher waits before it starts again.
const WATCH_RETRY: std::time::Duration = std::time::Duration::from_secs(5);
/// The label of scans asked for with targets rather than a job.
const AD_HOC: &str = "(request)";

#[derive(Debug, Default, Clone)]
struct JobState {
    /// A run is starting or under way.
    busy: bool,
    running: Option<RunId>,
    last_run: Option<RunId>,
    next: Option<Timestamp>,
}

/// What every thread of the service shares.
pub struct Inner {
    pub store: Store,
    pub config: ServiceConfig,
    pub metrics: Arc<Metrics>,
    pub shutdown: Shutdown,
    rt: Handle,
    sinks: SinkHub,
    jobs: Mutex<HashMap<String, JobState>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// The service: a cheap handle over what its threads share.
#[derive(Clone)]
pub struct Service(Arc<Inner>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A thread that panicked while holding the lock left plain data behind: keep using it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Service {
    /// The service over `store`, with its sinks started; nothing is scheduled or watched yet.
    pub fn new(
        store: Store,
        config: ServiceConfig,
        rt: Handle,
        shutdown: Shutdown,
    ) -> Result<Self, ServerError> {
        let metrics = Arc::new(Metrics::new());
        let sinks = SinkHub::start(&config.sinks, metrics.clone(), &shutdown)?;
        let jobs = config
            .scans
            .iter()
            .map(|j| (j.name.clone(), JobState::default()))
            .collect();
        Ok(Service(Arc::new(Inner {
            store,
            config,
            metrics,
            shutdown,
            rt,
            sinks,
            jobs: Mutex::new(jobs),
            threads: Mutex::new(Vec::new()),
        })))
    }

    pub fn inner(&self) -> &Inner {
        &self.0
    }

    fn job(&self, name: &str) -> Option<&ScanJob> {
        self.0.config.scans.iter().find(|j| j.name == name)
    }

    /// Starts job `name` now unless it is busy.
    pub fn start_job(&self, name: &str) -> Result<RunId, ControlError> {
        let Some(job) = self.job(name) else {
            return Err(ControlError::UnknownJob(name.to_owned()));
        };
        {
            let mut jobs = lock(&self.0.jobs);
            let state = jobs.entry(name.to_owned()).or_default();
            if state.busy {
                return Err(match state.running {
                    Some(run) => ControlError::AlreadyRunning {
                        name: name.to_owned(),
                        run,
                    },
                    None => ControlError::Unavailable(format!("scan job {name:?} is starting")),
                });
            }
            state.busy = true;
        }
        let options = job.options.clone();
        let started = self.launch(Some(name.to_owned()), options, job.queue.clone());
        if started.is_err() {
            let mut jobs = lock(&self.0.jobs);
            if let Some(state) = jobs.get_mut(name) {
                state.busy = false;
                state.running = None;
            }
        }
        started
    }

    /// The schedule's next time for `name` (for the job listing).
    pub fn set_next(&self, name: &str, next: Option<Timestamp>) {
        if let Some(state) = lock(&self.0.jobs).get_mut(name) {
            state.next = next;
        }
    }

    /// Runs a scan on a thread of its own; returns its run id once the run is stored as begun.
    /// With `queue`, the scan is sharded over the queue's workers.
    fn launch(
        &self,
        job: Option<String>,
        options: ScanOptions,
        queue: Option<QueueScan>,
    ) -> Result<RunId, ControlError> {
        if self.0.shutdown.is_triggered() {
            return Err(ControlError::Unavailable(
                "the service is shutting down".into(),
            ));
        }
        let (begun, id) = mpsc::channel::<Result<RunId, String>>();
        let service = self.clone();
        let thread = std::thread::Builder::new()
            .name(format!("scan {}", job.as_deref().unwrap_or(AD_HOC)))
            .spawn(move || service.scan(job, &options, queue.as_ref(), &begun))
            .map_err(|e| ControlError::Unavailable(format!("cannot start the scan: {e}")))?;
        self.track(thread);
        match id.recv() {
            Ok(Ok(run)) => Ok(run),
            Ok(Err(why)) => Err(ControlError::Unavailable(why)),
            Err(_) => Err(ControlError::Unavailable(
                "the scan ended before its run began".into(),
            )),
        }
    }

    /// One run, on its own thread: stored like a CLI run, counted, findings to the sinks.
    fn scan(
        &self,
        job: Option<String>,
        options: &ScanOptions,
        queue: Option<&QueueScan>,
        begun: &mpsc::Sender<Result<RunId, String>>,
    ) {
        let inner = &self.0;
        let label = job.clone().unwrap_or_else(|| AD_HOC.to_owned());
        inner.metrics.scans_running.inc();
        let mut sent = false;
        // Probes already added to the metrics from the scan's progress.
        let mut probes = (0u64, 0u64);
        let mut progress = |step: Progress<'_>| match step {
            Progress::Begun(run) => {
                if let Some(name) = &job
                    && let Some(state) = lock(&inner.jobs).get_mut(name)
                {
                    state.running = Some(run);
                }
                tracing::info!(job = %label, %run, "scan begun");
                // The requester may have gone: the run goes on regardless.
                let _ = begun.send(Ok(run));
                sent = true;
            }
            Progress::Scan(ScanEvent::Progress {
                rate,
                sent: now_sent,
                answered: now_answered,
                ..
            }) => {
                inner.metrics.probe_rate.set(*rate);
                inner
                    .metrics
                    .count_probes(&mut probes, (*now_sent, *now_answered));
            }
            _ => {}
        };
        let via = match queue {
            Some(queue) => Via::Queue(queue),
            None => Via::Local,
        };
        let result = exposure::run_once_via(
            &inner.store,
            &inner.rt,
            options,
            via,
            &mut progress,
            &inner.shutdown,
        );
        inner.metrics.scans_running.dec();
        if inner.metrics.scans_running.get() <= 0 {
            inner.metrics.probe_rate.set(0.0);
        }
        let mut last_run = None;
        match result {
            Ok(outcome) => {
                last_run = Some(outcome.run.id);
                inner
                    .metrics
                    .run_stored(&label, &outcome.run, &outcome.findings, &mut probes);
                tracing::info!(
                    job = %label,
                    run = %outcome.run.id,
                    status = outcome.run.status.as_str(),
                    findings = outcome.findings.len(),
                    "scan stored"
                );
                if !outcome.findings.is_empty() {
                    self.send_findings(outcome.run.id);
                }
            }
            Err(e) => {
                inner
                    .metrics
                    .scans_failed
                    .get_or_create(&vec![("job", label.clone())])
                    .inc();
                tracing::error!(job = %label, error = %e, "scan failed");
                if !sent {
                    let _ = begun.send(Err(e.to_string()));
                }
            }
        }
        if let Some(name) = &job
            && let Some(state) = lock(&inner.jobs).get_mut(name)
        {
            state.busy = false;
            state.running = None;
            if last_run.is_some() {
                state.last_run = last_run;
            }
        }
    }

    /// Hands the run's findings to the sinks as the store holds them (the API and the CLI show
    /// the stored ones: times at the store's precision, ids assigned).
    fn send_findings(&self, run: RunId) {
        let filter = FindingFilter {
            run: Some(run),
            ..FindingFilter::default()
        };
        match self.0.store.findings(&filter) {
            Ok(findings) => {
                for finding in &findings {
                    match Record::finding(finding) {
                        Ok(record) => self.0.sinks.send(&record),
                        Err(e) => tracing::error!(error = %e, "cannot serialize a finding"),
                    }
                }
            }
            Err(e) => {
                tracing::error!(%run, error = %e, "cannot read the run's findings for the sinks")
            }
        }
    }

    /// Counts and logs a scheduled time skipped because the job was busy.
    pub fn skipped(&self, name: &str, why: &ControlError) {
        self.0
            .metrics
            .scans_skipped
            .get_or_create(&vec![("job", name.to_owned())])
            .inc();
        tracing::warn!(job = %name, reason = %why, "scheduled scan skipped: the job is still running");
    }

    /// Starts a watcher's pipeline on a thread of its own; it restarts after a failure.
    pub fn watch(&self, watch: WatchJob) -> Result<(), ServerError> {
        let service = self.clone();
        let thread = std::thread::Builder::new()
            .name(format!("watch {}", watch.path.display()))
            .spawn(move || service.follow(&watch))
            .map_err(ServerError::Thread)?;
        self.track(thread);
        Ok(())
    }

    fn follow(&self, watch: &WatchJob) {
        let inner = &self.0;
        let path = watch.path.display().to_string();
        let mut sink = ServiceSink {
            inner,
            counted: ThreatStats::default(),
        };
        // A log that does not exist yet fails every few seconds: said once, until it changes.
        let mut last_error = None;
        while !inner.shutdown.is_triggered() {
            match threat::run(&inner.store, &watch.pipeline, &mut sink, &inner.shutdown) {
                Ok(()) => break,
                Err(e) => {
                    inner
                        .metrics
                        .watcher_errors
                        .get_or_create(&vec![("path", path.clone())])
                        .inc();
                    let error = e.to_string();
                    if last_error.as_ref() != Some(&error) {
                        tracing::error!(path = %path, %error, "watcher failed; trying again every 5 s");
                    }
                    last_error = Some(error);
                    inner.shutdown.sleep(WATCH_RETRY);
                }
            }
        }
    }

    /// Keeps `thread` to be joined at the end; threads that finished are let go, so a service
    /// that runs a scan a minute for a year holds only the threads still running.
    fn track(&self, thread: JoinHandle<()>) {
        let mut threads = lock(&self.0.threads);
        threads.retain(|t| !t.is_finished());
        threads.push(thread);
    }

    /// Waits for every thread (scans store their runs as aborted, watchers save their
    /// checkpoints), then flushes the sinks. Call after the shutdown was triggered.
    pub fn finish(self) {
        loop {
            let threads: Vec<JoinHandle<()>> = std::mem::take(&mut *lock(&self.0.threads));
            if threads.is_empty() {
                break;
            }
            for t in threads {
                let name = t.thread().name().unwrap_or("?").to_owned();
                if t.join().is_err() {
                    tracing::error!(thread = %name, "a service thread panicked");
                }
            }
        }
        match Arc::try_unwrap(self.0) {
            Ok(inner) => inner.sinks.close(),
            Err(_) => {
                tracing::warn!("the sinks are still shared at shutdown; they were not flushed")
            }
        }
    }
}

/// A watcher's end of the pipeline: each stored alert counted and handed to the sinks.
struct ServiceSink<'a> {
    inner: &'a Inner,
    /// The counts of the pipeline under way already added to the metrics.
    counted: ThreatStats,
}

impl ServiceSink<'_> {
    /// Adds what the pipeline counted since the last call to the metrics.
    fn count(&mut self, stats: ThreatStats) {
        let metrics = &self.inner.metrics;
        metrics
            .events_read
            .inc_by(stats.events.saturating_sub(self.counted.events));
        metrics
            .matches
            .inc_by(stats.listed.saturating_sub(self.counted.listed));
        self.counted = stats;
    }
}

impl ThreatSink for ServiceSink<'_> {
    fn alert(&mut self, stored: StoredAlert<'_>) -> Result<(), AppError> {
        let change = match stored.kind {
            AlertChangeKind::New => "new",
            AlertChangeKind::Update => "update",
        };
        self.inner
            .metrics
            .alert_stored(stored.alert.severity, change);
        match Record::alert(stored.kind, stored.alert) {
            Ok(record) => self.inner.sinks.send(&record),
            Err(e) => tracing::error!(error = %e, "cannot serialize an alert"),
        }
        Ok(())
    }

    fn notice(&mut self, notice: Notice<'_>) {
        match notice {
            Notice::NoFeeds => {
                tracing::warn!("no threat-intel feeds loaded: no alert can be raised")
            }
            Notice::SkippedLine(e) => tracing::warn!(error = %e, "skipped a line"),
            Notice::SourceRead { source, stats } => {
                tracing::info!(source, events = stats.events, "source read")
            }
            Notice::Blocked { net, outcome, .. } => {
                self.inner.metrics.blocks.inc();
                tracing::warn!(%net, %outcome, "blocked");
            }
            Notice::NotBlocked(e) => tracing::warn!(error = %e, "not blocking"),
            Notice::KnowledgeSwapped(swapped) => tracing::info!(
                intel = swapped.intel,
                inventory = swapped.inventory,
                suppressions = swapped.suppressions,
                "reloaded knowledge from the store"
            ),
            Notice::KnowledgeFailed(e) => {
                tracing::warn!(error = %e, "knowledge not reloaded (keeping what was loaded)")
            }
            Notice::Counted(stats) => self.count(stats),
            Notice::Summary { stats, .. } => {
                self.count(stats);
                // A restarted pipeline counts from zero again.
                self.counted = ThreatStats::default();
            }
        }
    }
}

impl Control for Service {
    fn start_scan(&self, request: ScanRequest) -> Result<RunId, ControlError> {
        match (&request.job, request.targets.is_empty()) {
            (Some(_), false) => Err(ControlError::Invalid(
                "give a job or targets, not both".into(),
            )),
            (Some(job), true) => {
                if request.ports.is_some() {
                    return Err(ControlError::Invalid(
                        "ports: a job scans its configured ports".into(),
                    ));
                }
                self.start_job(job)
            }
            (None, true) => Err(ControlError::Invalid(
                "targets: give a job or at least one target".into(),
            )),
            (None, false) => {
                let options = request_options(&request)?;
                self.launch(None, options, None)
            }
        }
    }

    fn jobs(&self) -> Vec<JobStatus> {
        let jobs = lock(&self.0.jobs);
        self.0
            .config
            .scans
            .iter()
            .map(|job| {
                let state = jobs.get(&job.name).cloned().unwrap_or_default();
                JobStatus {
                    name: job.name.clone(),
                    schedule: job
                        .schedule
                        .as_ref()
                        .map(|s| s.text().to_owned())
                        .unwrap_or_default(),
                    next: state.next,
                    running: state.running,
                    last_run: state.last_run,
                }
            })
            .collect()
    }

    fn workers(&self) -> Result<Vec<WorkerStatus>, ControlError> {
        // Each server once, in the order the jobs name them.
        let mut urls: Vec<&str> = Vec::new();
        for job in &self.0.config.scans {
            if let Some(queue) = &job.queue
                && !urls.contains(&queue.url.as_str())
            {
                urls.push(&queue.url);
            }
        }
        let mut all = Vec::new();
        for url in urls {
            let workers = picket_app::distributed::workers(&self.0.rt, url).map_err(|e| {
                ControlError::Unavailable(format!("cannot list the workers of {url}: {e}"))
            })?;
            all.extend(workers);
        }
        Ok(all)
    }

    fn metrics(&self) -> String {
        self.0.metrics.render(&self.0.store)
    }
}

/// A scan asked for with targets and ports, validated as the CLI validates its flags.
fn request_options(request: &ScanRequest) -> Result<ScanOptions, ControlError> {
    let invalid =
        |field: &str, e: &dyn std::fmt::Display| ControlError::Invalid(format!("{field}: {e}"));
    let targets = TargetValues {
        include: request.targets.clone(),
        ..TargetValues::default()
    }
    .targets()
    .map_err(|e| invalid("targets", &e))?;
    let (ports, top_ports) = match &request.ports {
        Some(p) => ports_values(p).map_err(|e| invalid("ports", &e))?,
        None => (None, None),
    };
    let profile = ProfileValues {
        ports,
        top_ports,
        ..ProfileValues::default()
    }
    .profile()
    .map_err(|e| invalid("ports", &e))?;
    Ok(ScanOptions {
        targets,
        profile,
        services: None,
        db_hint: None,
        reverse_dns: false,
        keep_every_host_up_to: ScanOptions::KEEP_EVERY_HOST_UP_TO,
    })
}
