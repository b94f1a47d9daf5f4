//! `picket detect`: read connection events, raise `bad-client-to-vulnerable-app` alerts, store
//! them, print them as they are stored (new ones, and updates of stored ones as their own record
//! with the alert's id), and (with `--block`) cut the clients off.
//!
//! Without `--follow` a file is read to its end and every alert is written with the counts the
//! file gives: reading the same file again gives the same alerts, not doubled counts. With
//! `--follow` each file is read as it grows, and every flush stores the alerts and the file's
//! checkpoint in one transaction, so a restart resumes with no event lost and no alert doubled.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ipnet::IpNet;
use picket_detect::threat::{ThreatDetector, ThreatSettings};
use picket_ingest::{Checkpoint, EventReader, Follower, IngestError, Input};
use picket_model::{Alert, Severity, Timestamp};
use picket_report::{AlertChangeKind, Format, OcsfActivity, counted};
use picket_respond::Nft;
use picket_store::prelude::*;
use picket_store::{AlertWrite, BlockRecord, Store};
use serde::{Deserialize, Serialize};

use crate::cli::DetectArgs;
use crate::commands::knowledge;
use crate::render;

/// Bad lines reported one by one per file; the rest are counted.
const SHOWN_BAD_LINES: u64 = 10;
/// How often `--follow` stores alerts and checkpoints while events keep coming.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const IDLE_SLEEP: Duration = Duration::from_millis(200);

/// How alerts are printed as they arise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AlertFormat {
    Report(Format),
    Ocsf,
}

fn alert_format(s: &str) -> Result<AlertFormat> {
    Ok(match s {
        "ocsf" => AlertFormat::Ocsf,
        other => match crate::options::parse_format(other)? {
            Format::Xml => bail!("--format xml: alerts are table, json, ndjson or ocsf"),
            f => AlertFormat::Report(f),
        },
    })
}

/// `--input` names, with the short spellings.
fn input(s: &str) -> Result<Option<Input>> {
    Ok(match s {
        "auto" => None,
        "zeek" => Some(Input::ZeekTsv),
        "vpc" => Some(Input::VpcFlow),
        other => Some(
            other
                .parse::<Input>()
                .map_err(|e| anyhow::anyhow!("--input: {e}"))?,
        ),
    })
}

/// What `--follow` keeps per file: where the reader is, and the time of the last event read
/// (to reload the alert windows that may still be open).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FollowState {
    reader: Checkpoint,
    last_event: Option<Timestamp>,
}

struct Blocker {
    nft: Nft,
    min_severity: Severity,
    ttl: Duration,
    done: HashSet<IpAddr>,
}

struct Session<'a> {
    store: Store,
    detector: ThreatDetector,
    format: AlertFormat,
    out: &'a mut dyn Write,
    blocker: Option<Blocker>,
    /// Alerts changed since the last flush, by (dedup key, window start).
    pending: HashMap<(String, Timestamp), Alert>,
    /// The number each printed alert got, by (dedup key, window start): updates keep it.
    numbers: HashMap<(String, Timestamp), u64>,
    /// Alerts printed as new: those the store took as new when they were flushed.
    new_alerts: u64,
    /// Alerts printed as updates: those the store already had.
    updated_alerts: u64,
    last_flush: Instant,
}

pub fn run(db: &str, args: &DetectArgs, out: &mut dyn Write) -> Result<()> {
    let format = alert_format(&args.format)?;
    let input = input(&args.input)?;
    let home = knowledge::home_net(&args.home_net)?;
    let window = humantime::parse_duration(&args.window)
        .with_context(|| format!("--window {:?}", args.window))?;
    let min_severity: Severity = args.min_severity.parse().map_err(|_| {
        anyhow::anyhow!(
            "--min-severity {:?}: info, low, medium, high or critical",
            args.min_severity
        )
    })?;
    let ttl =
        humantime::parse_duration(&args.ttl).with_context(|| format!("--ttl {:?}", args.ttl))?;
    let allow = knowledge::allow_list(&home, &args.allow)?;
    if args.follow && args.events.iter().any(|e| e == "-") {
        bail!("--follow reads files; stdin is read to its end without it");
    }

    let store = picket_store::open(db)?;
    let intel = Arc::new(knowledge::intel_table(&store)?);
    if intel.is_empty() {
        eprintln!(
            "picket: no threat-intel feeds loaded (picket intel add NAME FILE): no alert can be raised"
        );
    }
    let vdb = knowledge::vuln_db(&store)?;
    let entries = knowledge::inventory(&store, &vdb)?;
    let inventory = knowledge::detector_inventory(&entries);
    let now = Timestamp::now();
    let suppressions = store
        .suppressions()?
        .into_iter()
        .filter(|s| s.expires_at.is_none_or(|e| e > now))
        .collect();
    let settings = ThreatSettings {
        window,
        min_feeds: args.min_feeds,
    };
    let detector = ThreatDetector::new(intel, inventory, home, settings, suppressions)?;
    let blocker = args.block.then(|| Blocker {
        nft: Nft::new(allow),
        min_severity,
        ttl,
        done: HashSet::new(),
    });
    let mut session = Session {
        store,
        detector,
        format,
        out,
        blocker,
        pending: HashMap::new(),
        numbers: HashMap::new(),
        new_alerts: 0,
        updated_alerts: 0,
        last_flush: Instant::now(),
    };
    if args.follow {
        session.follow(&args.events, input, window)
    } else {
        let mut unusable = Vec::new();
        for source in &args.events {
            if !session.read_once(source, input)? {
                unusable.push(source.as_str());
            }
        }
        session.flush(None)?;
        session.summary();
        if !unusable.is_empty() {
            bail!(
                "no valid event in {}: every line was rejected (is --input right?)",
                unusable.join(", ")
            );
        }
        Ok(())
    }
}

impl Session<'_> {
    /// Reads one source to its end. `false` when it had lines and every one was rejected.
    fn read_once(&mut self, source: &str, input: Option<Input>) -> Result<bool> {
        let mut bad = 0u64;
        let mut handle =
            |this: &mut Self, item: Result<picket_model::ConnEvent, IngestError>| -> Result<()> {
                match item {
                    // Without --follow there is no checkpoint to keep in step with: storing
                    // (and so printing) every second shows alerts while a long file is read.
                    Ok(ev) => {
                        this.observe(&ev);
                        if this.last_flush.elapsed() >= FLUSH_EVERY {
                            this.flush(None)?;
                        }
                        Ok(())
                    }
                    Err(e) if e.is_line_error() => {
                        bad += 1;
                        if bad <= SHOWN_BAD_LINES {
                            eprintln!("picket: skipped {}", render::shown(&e.to_string()));
                        }
                        Ok(())
                    }
                    Err(e) => Err(e.into()),
                }
            };
        let stats = if source == "-" {
            let mut reader = EventReader::stdin(input);
            for item in reader.by_ref() {
                handle(self, item)?;
            }
            reader.stats()
        } else {
            let mut reader = EventReader::open(std::path::Path::new(source), input)
                .with_context(|| format!("cannot read {source}"))?;
            for item in reader.by_ref() {
                handle(self, item)?;
            }
            reader.stats()
        };
        let by_type = if stats.skipped_types.is_empty() {
            String::new()
        } else {
            // The type names come from the input: shown, never obeyed.
            format!(
                "; records of other types skipped: {}",
                render::shown(&stats.skipped_types_text())
            )
        };
        eprintln!(
            "picket: {source}: {} from {}, {} skipped{by_type}",
            counted(stats.events, "event", "events"),
            counted(stats.lines, "line", "lines"),
            counted(stats.errors, "bad line", "bad lines"),
        );
        Ok(stats.events > 0 || stats.errors == 0)
    }

    fn observe(&mut self, ev: &picket_model::ConnEvent) {
        for change in self.detector.observe(ev) {
            let alert = change.into_alert();
            self.pending
                .insert((alert.dedup_key.clone(), alert.window_start), alert);
        }
    }

    /// Stores the pending alerts (with a follow checkpoint, in the same transaction), prints
    /// each as new or as an update by what the store says it was, then blocks the clients whose
    /// alerts reached the blocking severity. Printing after the commit, by what the store says,
    /// is what keeps a restart (after a kill mid catch-up) from announcing stored alerts as new
    /// once more.
    fn flush(&mut self, checkpoint: Option<(&str, &FollowState)>) -> Result<()> {
        self.last_flush = Instant::now();
        let mut alerts: Vec<Alert> = self.pending.drain().map(|(_, a)| a).collect();
        alerts.sort_by_key(|a| (a.window_start, a.dedup_key.clone()));
        let writes = match checkpoint {
            Some((source, state)) => {
                let value = serde_json::to_value(state)?;
                self.store
                    .save_checkpoint_with_alerts(source, &value, &mut alerts)?
            }
            None => self.store.upsert_alerts(&mut alerts)?,
        };
        for (alert, write) in alerts.iter().zip(writes) {
            self.print(alert, write)?;
        }
        self.block(&alerts)
    }

    /// Prints a stored alert: new to the store, or a new state of one it had (a re-run over
    /// the same file updates the alerts it stored before; it raises none).
    fn print(&mut self, alert: &Alert, write: AlertWrite) -> Result<()> {
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
        let next = self.numbers.len() as u64 + 1;
        let number = *self
            .numbers
            .entry((alert.dedup_key.clone(), alert.window_start))
            .or_insert(next);
        print_alert(self.out, self.format, number, kind, alert)
    }

    fn block(&mut self, alerts: &[Alert]) -> Result<()> {
        let Some(blocker) = &mut self.blocker else {
            return Ok(());
        };
        for alert in alerts {
            if alert.severity < blocker.min_severity || blocker.done.contains(&alert.client) {
                continue;
            }
            blocker.done.insert(alert.client);
            let net = IpNet::from(alert.client);
            match blocker.nft.block(net, Some(blocker.ttl)) {
                Ok(outcome) => {
                    eprintln!(
                        "picket: blocked {net} for {}: {outcome}",
                        humantime::format_duration(blocker.ttl)
                    );
                    let now = Timestamp::now();
                    let expires = jiff::SignedDuration::try_from(blocker.ttl)
                        .ok()
                        .and_then(|d| now.checked_add(d).ok());
                    self.store.record_block(&BlockRecord {
                        id: None,
                        net,
                        reason: format!(
                            "{} alert {} ({})",
                            alert.severity,
                            alert.id.unwrap_or_default(),
                            alert.kind
                        ),
                        alert_id: alert.id,
                        created_at: now,
                        expires_at: expires,
                        removed_at: None,
                    })?;
                }
                // The allow-list refusing is the guard working, not a failure of the run.
                Err(e @ picket_respond::RespondError::Allowed { .. }) => {
                    eprintln!("picket: not blocking: {e}")
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn summary(&self) {
        let s = self.detector.stats();
        eprintln!(
            "picket: {}, {} inbound from outside, {} to vulnerable applications, {} from listed clients, {} suppressed; {}, {} updated",
            counted(s.events, "event", "events"),
            s.inbound,
            s.to_vulnerable,
            s.listed,
            s.suppressed,
            counted(self.new_alerts, "new alert", "new alerts"),
            self.updated_alerts
        );
    }

    fn follow(&mut self, files: &[String], input: Option<Input>, window: Duration) -> Result<()> {
        let stop = stop_flag();
        let mut followers = Vec::new();
        let mut oldest_open: Option<Timestamp> = None;
        for file in files {
            let path =
                std::fs::canonicalize(file).with_context(|| format!("cannot follow {file}"))?;
            let key = format!("follow:{}", path.display());
            let state = match self.store.checkpoint(&key)? {
                Some(value) => Some(
                    serde_json::from_value::<FollowState>(value)
                        .with_context(|| format!("stored checkpoint of {file} is not readable"))?,
                ),
                None => None,
            };
            let (follower, last_event) = match state {
                Some(s) => (Follower::resume(s.reader), s.last_event),
                None => (Follower::new(&path, input), None),
            };
            if let Some(t) = last_event {
                oldest_open = Some(oldest_open.map_or(t, |o| o.min(t)));
            }
            followers.push((key, follower, last_event));
        }
        if let Some(t) = oldest_open {
            let back = jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::ZERO);
            let since = t.checked_sub(back).unwrap_or(t);
            let open = self.store.open_alerts(since)?;
            self.detector.load_open(open);
        }
        let mut dirty = vec![false; followers.len()];
        while !stop.load(Ordering::Relaxed) {
            let mut progressed = false;
            for (i, (_, follower, last_event)) in followers.iter_mut().enumerate() {
                // Read what is there now, in bounded slices so that files take turns.
                for _ in 0..10_000 {
                    match follower.next_event() {
                        None => break,
                        Some(Ok(ev)) => {
                            *last_event = Some(ev.ts);
                            progressed = true;
                            dirty[i] = true;
                            self.observe(&ev);
                        }
                        Some(Err(e)) if e.is_line_error() => {
                            eprintln!("picket: skipped {}", render::shown(&e.to_string()));
                            dirty[i] = true;
                        }
                        Some(Err(e)) => return Err(e.into()),
                    }
                }
            }
            if !progressed || self.last_flush.elapsed() >= FLUSH_EVERY {
                self.flush_followers(&followers, &mut dirty)?;
            }
            if !progressed {
                std::thread::sleep(IDLE_SLEEP);
            }
        }
        self.flush_followers(&followers, &mut dirty)?;
        self.summary();
        Ok(())
    }

    /// One transaction per file that moved: its checkpoint and all pending alerts (the alerts go
    /// with the first such file; they are idempotent upserts either way).
    fn flush_followers(
        &mut self,
        followers: &[(String, Follower, Option<Timestamp>)],
        dirty: &mut [bool],
    ) -> Result<()> {
        for (i, (key, follower, last_event)) in followers.iter().enumerate() {
            if !dirty[i] {
                continue;
            }
            let state = FollowState {
                reader: follower.checkpoint(),
                last_event: *last_event,
            };
            self.flush(Some((key, &state)))?;
            dirty[i] = false;
        }
        if !self.pending.is_empty() {
            self.flush(None)?;
        }
        Ok(())
    }
}

/// Prints an alert as it is stored: a numbered block on a terminal, one JSON line otherwise
/// (`--format json` streams too: a single document could only be written at the end).
fn print_alert(
    out: &mut dyn Write,
    format: AlertFormat,
    number: u64,
    kind: AlertChangeKind,
    alert: &Alert,
) -> Result<()> {
    match format {
        AlertFormat::Ocsf => {
            let activity = match kind {
                AlertChangeKind::New => OcsfActivity::Create,
                AlertChangeKind::Update => OcsfActivity::Update,
            };
            picket_report::alert_change_ocsf(out, activity, alert)?
        }
        AlertFormat::Report(Format::Table) => {
            let number = usize::try_from(number).unwrap_or(usize::MAX);
            picket_report::alert_block(out, number, kind, alert)?;
        }
        AlertFormat::Report(_) => picket_report::alert_record(out, kind, alert)?,
    }
    out.flush()?;
    Ok(())
}

/// Set when SIGINT (Ctrl-C) arrives: `--follow` finishes its flush and exits cleanly.
fn stop_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
            set.store(true, Ordering::Relaxed);
        }
    });
    flag
}
