//! Where alerts and findings go besides the store: webhooks, syslog and NDJSON files, each on a
//! thread of its own behind a bounded queue, each record filtered by the sink's minimum severity
//! (alerts) and its `findings` switch.
//!
//! A record is the JSON document of the CLI's `--format json` (picket-report's `AlertDoc` and
//! `FindingDoc`) with a `type` (`alert`, `alert-update`, `finding`), serialized once and shared
//! by every sink. Handing a record over never blocks the caller: a full queue drops it and counts
//! the drop. Sinks must never decide what an alert is, and never hold the pipeline up;
//! [`SinkHub::close`] flushes what every sink holds before the service ends.

mod file;
mod syslog;
mod webhook;

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

use picket_app::Shutdown;
use picket_model::{Alert, Finding, Severity};
use picket_report::{AlertChangeKind, AlertDoc, FindingDoc};
use serde::Serialize;

use crate::config::{SinkConfig, SinkKind};
use crate::error::ServerError;
use crate::metrics::Metrics;

/// Records waiting per sink before new ones are dropped.
const QUEUE: usize = 10_000;

/// One record as every sink sends it.
#[derive(Debug, Clone)]
pub struct Record {
    /// `None` for findings (they carry a verdict, not a severity).
    pub severity: Option<Severity>,
    /// `alert`, `alert-update` or `finding`.
    pub kind: &'static str,
    /// The JSON document, one line.
    pub json: Arc<str>,
}

#[derive(Serialize)]
struct Tagged<D> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    doc: D,
}

impl Record {
    pub fn alert(change: AlertChangeKind, alert: &Alert) -> Result<Self, ServerError> {
        let kind = match change {
            AlertChangeKind::New => "alert",
            AlertChangeKind::Update => "alert-update",
        };
        let json = serde_json::to_string(&AlertDoc::change(alert, change))?;
        Ok(Record {
            severity: Some(alert.severity),
            kind,
            json: json.into(),
        })
    }

    pub fn finding(finding: &Finding) -> Result<Self, ServerError> {
        let json = serde_json::to_string(&Tagged {
            kind: "finding",
            doc: FindingDoc::new(finding),
        })?;
        Ok(Record {
            severity: None,
            kind: "finding",
            json: json.into(),
        })
    }
}

/// What a sink thread gets: its records, its counters, and the service's shutdown (to cut
/// retries short once the service is stopping).
struct SinkContext {
    label: String,
    records: Receiver<Record>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
}

impl SinkContext {
    fn labels(&self) -> Vec<(&'static str, String)> {
        vec![("sink", self.label.clone())]
    }

    fn delivered(&self, n: usize) {
        self.metrics
            .sink_deliveries
            .get_or_create(&self.labels())
            .inc_by(n as u64);
    }

    fn failed(&self) {
        self.metrics
            .sink_failures
            .get_or_create(&self.labels())
            .inc();
    }

    fn dead_lettered(&self, n: usize) {
        self.metrics
            .sink_dead_letters
            .get_or_create(&self.labels())
            .inc_by(n as u64);
    }
}

struct Running {
    config: SinkConfig,
    queue: SyncSender<Record>,
    thread: JoinHandle<()>,
}

/// Every configured sink, running.
pub struct SinkHub {
    sinks: Vec<Running>,
    metrics: Arc<Metrics>,
}

impl SinkHub {
    /// Starts a thread per sink. A sink that cannot start (a file that cannot be opened) stops
    /// the service before it serves.
    pub fn start(
        configs: &[SinkConfig],
        metrics: Arc<Metrics>,
        shutdown: &Shutdown,
    ) -> Result<Self, ServerError> {
        let mut sinks = Vec::new();
        for config in configs {
            let (queue, records) = std::sync::mpsc::sync_channel(QUEUE);
            let ctx = SinkContext {
                label: config.label.clone(),
                records,
                metrics: metrics.clone(),
                shutdown: shutdown.clone(),
            };
            let thread = match &config.kind {
                SinkKind::Webhook {
                    url,
                    batch,
                    retries,
                    backoff,
                    timeout,
                } => {
                    let hook = webhook::Webhook::new(url, *batch, *retries, *backoff, *timeout);
                    spawn(&config.label, move || hook.run(&ctx))?
                }
                SinkKind::Syslog { target, facility } => {
                    let out = syslog::Syslog::open(target, *facility)
                        .map_err(|e| ServerError::Sink(config.label.clone(), e.to_string()))?;
                    spawn(&config.label, move || out.run(&ctx))?
                }
                SinkKind::File { path } => {
                    let out = file::NdjsonFile::open(path).map_err(|e| {
                        ServerError::Sink(
                            config.label.clone(),
                            format!("cannot open {}: {e}", path.display()),
                        )
                    })?;
                    spawn(&config.label, move || out.run(&ctx))?
                }
            };
            sinks.push(Running {
                config: config.clone(),
                queue,
                thread,
            });
        }
        Ok(SinkHub { sinks, metrics })
    }

    /// Hands `record` to every sink that takes it; never blocks.
    pub fn send(&self, record: &Record) {
        for sink in &self.sinks {
            let wanted = match record.severity {
                Some(severity) => severity >= sink.config.min_severity,
                None => sink.config.findings,
            };
            if !wanted {
                continue;
            }
            match sink.queue.try_send(record.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.metrics
                        .sink_dropped
                        .get_or_create(&vec![("sink", sink.config.label.clone())])
                        .inc();
                }
                // The sink's thread ended (it said why in the log).
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }

    /// Closes every queue and waits until each sink delivered (or gave up on) what it held.
    pub fn close(self) {
        let mut threads = Vec::new();
        for sink in self.sinks {
            drop(sink.queue);
            threads.push((sink.config.label, sink.thread));
        }
        for (label, thread) in threads {
            if thread.join().is_err() {
                tracing::error!(sink = %label, "the sink's thread panicked");
            }
        }
    }
}

fn spawn(label: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, ServerError> {
    std::thread::Builder::new()
        .name(format!("sink {label}"))
        .spawn(f)
        .map_err(|e| ServerError::Sink(label.to_owned(), format!("cannot start its thread: {e}")))
}

/// Takes what is queued now, after the record that woke the sink, up to `max` in all.
fn drain(first: Record, records: &Receiver<Record>, max: usize) -> Vec<Record> {
    let mut batch = vec![first];
    while batch.len() < max {
        match records.try_recv() {
            Ok(r) => batch.push(r),
            Err(_) => break,
        }
    }
    batch
}
