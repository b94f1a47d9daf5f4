//! The threat pipeline, in Vector's shape: [`sources`] (files and stdin read to their end, or
//! files followed with checkpoints) -> the detector (`picket_detect::threat::ThreatDetector`:
//! listed clients reaching vulnerable applications, aggregated into alerts) -> [`sinks`] (store,
//! then print, then block).
//!
//! Alerts are upserted by dedup key and window at each flush (every `flush_every` while events
//! come, and at the end), and handed to the caller after the commit by what the store says they
//! were: new to the store, or an update of a stored alert. So a restart never announces a stored
//! alert as new again, and a re-run over the same file raises nothing new. Without `follow` a
//! source is read to its end and every alert is written with the counts the source gives. With
//! `follow` each file is read as it grows, every flush stores the alerts with the file's
//! checkpoint in one transaction (a restart resumes with nothing lost or doubled), and the
//! store's feeds, suppressions and inventory are swapped into the detector when they change.
//!
//! The pipeline stops when its [`Shutdown`] is triggered: it flushes what it holds and saves
//! the checkpoints before it returns. It must never print: the caller's sink does.

pub mod sinks;
pub mod sources;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use picket_detect::threat::{ThreatDetector, Verdict};
use picket_ingest::{Batching, EventHead, Screened};
use picket_model::{Alert, Timestamp};
use picket_report::AlertChangeKind;
use picket_store::prelude::*;
use picket_store::{AlertWrite, Store};

use crate::error::{AppError, OptionError};
use crate::knowledge::{Knowledge, KnowledgeWatch};
use crate::options::{PipelineOptions, SourceSpec};
use crate::shutdown::Shutdown;

pub use sinks::{
    Blocker, Notice, Rendered, StoredAlert, ThreatSink, print_alert, print_alerts, print_rendered,
    render_ahead,
};
pub use sources::{FollowSource, FollowState, OnceSource};

/// Bad lines reported one by one per source read to its end; the rest are counted.
const SHOWN_BAD_LINES: u64 = 10;
/// How long a following pipeline waits when no file grew.
const IDLE_SLEEP: Duration = Duration::from_millis(200);
/// Events read from one followed file before the next file gets its turn.
const FOLLOW_SLICE: usize = 10_000;

/// Builds the detector from the store's knowledge and runs the pipeline over the options'
/// sources until they end (or, following, until `shutdown`).
pub fn run(
    store: &Store,
    opts: &PipelineOptions,
    sink: &mut dyn ThreatSink,
    shutdown: &Shutdown,
) -> Result<(), AppError> {
    // The watch takes its fingerprint first: a change while the knowledge loads is seen later.
    let watch = if opts.follow {
        Some(KnowledgeWatch::new(store, opts.knowledge_every)?)
    } else {
        None
    };
    let knowledge = Knowledge::load(store, Timestamp::now())?;
    if knowledge.intel.is_empty() {
        sink.notice(Notice::NoFeeds);
    }
    let detector = ThreatDetector::new(
        knowledge.intel,
        knowledge.inventory,
        opts.home.clone(),
        opts.settings,
        knowledge.suppressions,
    )?;
    let mut pipeline = Pipeline {
        store,
        detector,
        sink,
        blocker: opts.block.as_ref().map(Blocker::new),
        numbers: HashMap::default(),
        numbered: 0,
        new_alerts: 0,
        updated_alerts: 0,
        last_flush: Instant::now(),
        flush_every: opts.flush_every,
    };
    let result = match watch {
        Some(watch) => pipeline.follow(opts, watch, shutdown),
        None => pipeline.read_once(opts, shutdown),
    };
    drop_aside((pipeline.detector, pipeline.numbers));
    result
}

/// Alerts of one flush from which they are freed by [`drop_aside`].
const DROP_ASIDE_FROM: usize = 1024;

/// Frees `value` on a thread of its own: a finished run's detector (the table and the windows)
/// and the alerts of a big flush are tens of thousands of small allocations, slower to free
/// than the pipeline's last steps, and a caller that exits next need not wait for them.
fn drop_aside<T: Send + 'static>(value: T) {
    // When no thread can be started, the builder drops the closure, and `value` with it, here.
    let _ = std::thread::Builder::new()
        .name("picket-drop".into())
        .spawn(move || drop(value));
}

struct Pipeline<'a> {
    store: &'a Store,
    detector: ThreatDetector,
    sink: &'a mut dyn ThreatSink,
    blocker: Option<Blocker>,
    /// The number each alert handed to the sink got, by (dedup key, window start), while its
    /// window may still change: updates keep it.
    numbers: HashMap<(String, Timestamp), u64, foldhash::fast::RandomState>,
    /// Alerts numbered so far.
    numbered: u64,
    /// Alerts the store took as new.
    new_alerts: u64,
    /// Alerts the store already had.
    updated_alerts: u64,
    last_flush: Instant,
    flush_every: Duration,
}

impl Pipeline<'_> {
    /// Reads every source to its end (or until `shutdown`), storing every `flush_every`.
    fn read_once(&mut self, opts: &PipelineOptions, shutdown: &Shutdown) -> Result<(), AppError> {
        let mut unusable = Vec::new();
        for spec in &opts.sources {
            if shutdown.is_triggered() {
                break;
            }
            let name = spec.name();
            let mut source = OnceSource::open(spec, opts.input)?;
            self.read_source(&mut source, Batching::available(), shutdown)?;
            let stats = source.stats();
            self.sink.notice(Notice::SourceRead {
                source: &name,
                stats: &stats,
            });
            if stats.events == 0 && stats.errors > 0 {
                unusable.push(name);
            }
        }
        // Nothing is read after this: the alerts leave the detector instead of being copied.
        let alerts = self.detector.drain_changed();
        self.store_alerts(None, alerts)?;
        self.summary();
        if !unusable.is_empty() {
            return Err(AppError::Refused(format!(
                "no valid event in {}: every line was rejected (is --input right?)",
                unusable.join(", ")
            )));
        }
        Ok(())
    }

    /// Reads one source to its end (or until `shutdown`), parsing in batches as `how` says.
    /// Events the detector's screen turns down (not inbound, no vulnerable application there,
    /// client not listed) are counted from their head alone; the rest come whole, in order, so
    /// that alerts and counts are those of reading one event at a time.
    fn read_source(
        &mut self,
        source: &mut OnceSource,
        how: Batching,
        shutdown: &Shutdown,
    ) -> Result<(), AppError> {
        let mut bad = 0u64;
        let mut failed = None;
        let screen = self.detector.screen();
        let verdict = |h: &EventHead| {
            let v = screen.verdict(h.src, h.dst, h.dst_port, h.proto);
            (v != Verdict::Listed).then_some(v)
        };
        source.read_screened(how, &verdict, &mut |item| {
            match item {
                Screened::Head { ts, verdict } => self.detector.observe_screened(ts, verdict),
                // The screen turns down all but the events from listed clients. Without a
                // checkpoint to keep in step with, storing (and so printing) every interval shows
                // alerts while a long file is read.
                Screened::Event(ev) => {
                    self.detector.record_judged(&ev, Verdict::Listed);
                    if self.last_flush.elapsed() >= self.flush_every
                        && let Err(e) = self.flush(None)
                    {
                        failed = Some(e);
                        return ControlFlow::Break(());
                    }
                }
                Screened::Error(e) if e.is_line_error() => {
                    bad += 1;
                    if bad <= SHOWN_BAD_LINES {
                        self.sink.notice(Notice::SkippedLine(&e));
                    }
                }
                Screened::Error(e) => {
                    failed = Some((*e).into());
                    return ControlFlow::Break(());
                }
            }
            if shutdown.is_triggered() {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        failed.map_or(Ok(()), Err)
    }

    /// Follows every file until `shutdown`; then flushes and saves each checkpoint.
    fn follow(
        &mut self,
        opts: &PipelineOptions,
        mut watch: KnowledgeWatch,
        shutdown: &Shutdown,
    ) -> Result<(), AppError> {
        let mut sources = Vec::new();
        for spec in &opts.sources {
            let SourceSpec::File(path) = spec else {
                return Err(OptionError::new(
                    "--follow",
                    "reads files; stdin is read to its end without it",
                )
                .into());
            };
            sources.push(FollowSource::open(self.store, path, opts.input)?);
        }
        let oldest_open = sources.iter().filter_map(|s| s.last_event).min();
        if let Some(t) = oldest_open {
            let back = jiff::SignedDuration::try_from(opts.settings.window)
                .unwrap_or(jiff::SignedDuration::ZERO);
            let since = t.checked_sub(back).unwrap_or(t);
            let open = self.store.open_alerts(since)?;
            self.detector.load_open(open);
        }
        let mut counted = self.detector.stats();
        while !shutdown.is_triggered() {
            let mut progressed = false;
            for source in &mut sources {
                // Read what is there now, in bounded slices so that files take turns.
                for _ in 0..FOLLOW_SLICE {
                    match source.follower.next_event() {
                        None => break,
                        Some(Ok(ev)) => {
                            source.last_event = Some(ev.ts);
                            source.dirty = true;
                            progressed = true;
                            self.detector.record(&ev);
                        }
                        Some(Err(e)) if e.is_line_error() => {
                            self.sink.notice(Notice::SkippedLine(&e));
                            source.dirty = true;
                        }
                        Some(Err(e)) => return Err(e.into()),
                    }
                }
            }
            if !progressed || self.last_flush.elapsed() >= self.flush_every {
                self.flush_followers(&mut sources)?;
                let stats = self.detector.stats();
                if stats != counted {
                    counted = stats;
                    self.sink.notice(Notice::Counted(stats));
                }
            }
            match watch.poll(self.store, &mut self.detector) {
                Ok(swapped) if swapped.any() => self.sink.notice(Notice::KnowledgeSwapped(swapped)),
                Ok(_) => {}
                Err(e) => self.sink.notice(Notice::KnowledgeFailed(&e)),
            }
            if !progressed {
                shutdown.sleep(IDLE_SLEEP);
            }
        }
        self.flush_followers(&mut sources)?;
        self.summary();
        Ok(())
    }

    /// One transaction per file that moved: its checkpoint and all pending alerts (the alerts go
    /// with the first such file; they are idempotent upserts either way).
    fn flush_followers(&mut self, sources: &mut [FollowSource]) -> Result<(), AppError> {
        for source in sources.iter_mut().filter(|s| s.dirty) {
            let state = source.state();
            self.flush(Some((&source.key, &state)))?;
            source.dirty = false;
        }
        if self.detector.has_changed() {
            self.flush(None)?;
        }
        Ok(())
    }

    /// Stores the pending alerts (with a follow checkpoint, in the same transaction), hands each
    /// to the sink as new or as an update by what the store says it was, then blocks the
    /// clients whose alerts reached the blocking severity. Handing out after the commit, by
    /// what the store says, is what keeps a restart (after a kill mid catch-up) from announcing
    /// stored alerts as new once more.
    fn flush(&mut self, checkpoint: Option<(&str, &FollowState)>) -> Result<(), AppError> {
        let alerts = self.detector.take_changed();
        self.store_alerts(checkpoint, alerts)
    }

    /// [`Pipeline::flush`] of `alerts`, the alerts changed since the last flush.
    fn store_alerts(
        &mut self,
        checkpoint: Option<(&str, &FollowState)>,
        mut alerts: Vec<Alert>,
    ) -> Result<(), AppError> {
        self.last_flush = Instant::now();
        let store = self.store;
        // The alerts are numbered and staged (rendered) while the store commits them, and
        // handed out once it did. A failed commit ends the pipeline with its error.
        let mut numbered = Vec::new();
        let mut staged = Ok(());
        let mut meanwhile = |alerts: &[Alert], writes: &[AlertWrite]| {
            numbered = self.number(alerts, writes);
            staged = self.sink.stage(&stored_alerts(alerts, &numbered));
        };
        match checkpoint {
            Some((source, state)) => {
                let value = serde_json::to_value(state)?;
                store.save_checkpoint_with_alerts_meanwhile(
                    source,
                    &value,
                    &mut alerts,
                    &mut meanwhile,
                )?
            }
            None => store.upsert_alerts_meanwhile(&mut alerts, &mut meanwhile)?,
        };
        staged?;
        let stored = stored_alerts(&alerts, &numbered);
        self.sink.alerts(&stored)?;
        if let Some(blocker) = &mut self.blocker {
            blocker.block(&alerts, self.store, self.sink)?;
        }
        // An alert that can change no more needs no number kept for its updates: so memory
        // holds the alert windows still open, not every alert of a long stream.
        if let Some(settled) = self.detector.settled_before() {
            self.numbers.retain(|(_, start), _| *start > settled);
        }
        if alerts.len() >= DROP_ASIDE_FROM {
            drop_aside(alerts);
        }
        Ok(())
    }

    /// Each alert's number (an update keeps its alert's) and kind, by what the store did.
    fn number(&mut self, alerts: &[Alert], writes: &[AlertWrite]) -> Vec<(u64, AlertChangeKind)> {
        self.numbers.reserve(alerts.len());
        alerts
            .iter()
            .zip(writes)
            .map(|(alert, write)| {
                let kind = match write {
                    AlertWrite::New => {
                        self.new_alerts += 1;
                        AlertChangeKind::New
                    }
                    AlertWrite::Updated => {
                        self.updated_alerts += 1;
                        AlertChangeKind::Update
                    }
                };
                let number = match self
                    .numbers
                    .entry((alert.dedup_key.clone(), alert.window_start))
                {
                    Entry::Occupied(numbered) => *numbered.get(),
                    Entry::Vacant(new) => {
                        self.numbered += 1;
                        *new.insert(self.numbered)
                    }
                };
                (number, kind)
            })
            .collect()
    }

    fn summary(&mut self) {
        self.sink.notice(Notice::Summary {
            stats: self.detector.stats(),
            new_alerts: self.new_alerts,
            updated_alerts: self.updated_alerts,
        });
    }
}

/// `alerts` as the sink takes them, with their numbers and kinds.
fn stored_alerts<'a>(
    alerts: &'a [Alert],
    numbered: &[(u64, AlertChangeKind)],
) -> Vec<StoredAlert<'a>> {
    alerts
        .iter()
        .zip(numbered)
        .map(|(alert, &(number, kind))| StoredAlert {
            number,
            kind,
            alert,
        })
        .collect()
}
