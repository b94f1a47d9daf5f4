//! `picket ingest --to nats://...`: connection events read from files (or stdin), parsed into
//! typed `ConnEvent`s by picket-ingest exactly as `picket detect` reads them, and published on
//! the pool's event stream (each on the partition of its address pair) for the detectors.
//! Events go out in batches; a batch counts as sent once the server has stored every event of
//! it. Following a file, its checkpoint is saved in the store after each stored batch, so a
//! restart resumes where the stream has everything before. That alone is at least once: a
//! crash between the server's ack and the checkpoint sends that batch again. So a follower's
//! events carry a message id (source line and body hash) and the server drops a batch sent
//! again within its duplicate window (two minutes): in effect once, for a restart within it.
//!
//! It must never detect anything or print; bad lines are handed to the caller.

use std::path::PathBuf;
use std::time::Duration;

use picket_ingest::{IngestError, Input};
use picket_model::ConnEvent;
use picket_queue::{EventMsg, Queue};
use picket_store::Store;
use picket_store::prelude::*;
use tokio::runtime::Handle;

use crate::error::{AppError, OptionError};
use crate::options::SourceSpec;
use crate::shutdown::Shutdown;
use crate::threat::{FollowSource, OnceSource};

/// Events published at once.
const BATCH: usize = 1000;
/// How long a follower waits when no file grew.
const IDLE: Duration = Duration::from_millis(200);

/// `picket ingest`.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub sources: Vec<SourceSpec>,
    pub input: Option<Input>,
    pub follow: bool,
    pub url: String,
    pub pool: String,
}

/// What was published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestSummary {
    pub events: u64,
    pub bad_lines: u64,
}

/// Publishes every event of the sources (following files until `shutdown` with `follow`).
/// `bad` gets each refused line. Following needs the store for the checkpoints.
pub fn run(
    store: Option<&Store>,
    rt: &Handle,
    opts: &IngestOptions,
    bad: &mut dyn FnMut(&IngestError),
    shutdown: &Shutdown,
) -> Result<IngestSummary, AppError> {
    let queue = rt.block_on(Queue::connect(&opts.url, &opts.pool))?;
    let mut summary = IngestSummary::default();
    let mut batch: Vec<EventMsg> = Vec::with_capacity(BATCH);
    let send = |batch: &mut Vec<EventMsg>, summary: &mut IngestSummary| {
        summary.events += batch.len() as u64;
        let sent = rt.block_on(queue.publish_events(batch, opts.follow));
        batch.clear();
        sent
    };
    let wrap = |event: ConnEvent| EventMsg {
        v: picket_queue::VERSION,
        event,
    };
    if !opts.follow {
        for spec in &opts.sources {
            let mut source = OnceSource::open(spec, opts.input)?;
            while let Some(item) = source.next_event() {
                match item {
                    Ok(ev) => batch.push(wrap(ev)),
                    Err(e) if e.is_line_error() => {
                        summary.bad_lines += 1;
                        bad(&e);
                    }
                    Err(e) => return Err(e.into()),
                }
                if batch.len() >= BATCH {
                    send(&mut batch, &mut summary)?;
                }
                if shutdown.is_triggered() {
                    break;
                }
            }
        }
        send(&mut batch, &mut summary)?;
        return Ok(summary);
    }
    let store = store.ok_or_else(|| {
        OptionError::new("--follow", "keeps its checkpoints in the store: give --db")
    })?;
    let mut sources = Vec::new();
    for spec in &opts.sources {
        let SourceSpec::File(path) = spec else {
            return Err(OptionError::new(
                "--follow",
                "reads files; stdin is read to its end without it",
            )
            .into());
        };
        sources.push(FollowSource::open(store, &PathBuf::from(path), opts.input)?);
    }
    while !shutdown.is_triggered() {
        let mut progressed = false;
        for source in &mut sources {
            while let Some(item) = source.follower.next_event() {
                progressed = true;
                match item {
                    Ok(ev) => {
                        source.last_event = Some(ev.ts);
                        batch.push(wrap(ev));
                    }
                    Err(e) if e.is_line_error() => {
                        summary.bad_lines += 1;
                        bad(&e);
                    }
                    Err(e) => return Err(e.into()),
                }
                if batch.len() >= BATCH {
                    break;
                }
            }
            if !batch.is_empty() {
                send(&mut batch, &mut summary)?;
                let state = serde_json::to_value(source.state())?;
                store.save_checkpoint_with_alerts(&source.key, &state, &mut [])?;
            }
        }
        if !progressed {
            shutdown.sleep(IDLE);
        }
    }
    Ok(summary)
}
