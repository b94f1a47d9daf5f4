//! The pipeline's sources: files and stdin read to their end, and files followed as they grow
//! (rotation handled by picket-ingest's `Follower`), each resumed from its checkpoint in the
//! store. A source hands events to the pipeline one at a time and never keeps alerts itself.

use std::ops::ControlFlow;
use std::path::Path;

use picket_ingest::{
    Batching, Checkpoint, EventHead, EventReader, Follower, IngestError, Input, Screened,
};
use picket_model::{ConnEvent, Timestamp};
use picket_store::Store;
use picket_store::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, Context};
use crate::options::SourceSpec;

/// A source read to its end: a file or stdin.
pub enum OnceSource {
    File(EventReader<std::io::BufReader<std::fs::File>>),
    Stdin(EventReader<std::io::StdinLock<'static>>),
}

impl OnceSource {
    pub fn open(spec: &SourceSpec, input: Option<Input>) -> Result<Self, AppError> {
        Ok(match spec {
            SourceSpec::Stdin => OnceSource::Stdin(EventReader::stdin(input)),
            SourceSpec::File(path) => OnceSource::File(
                EventReader::open(path, input)
                    .context(|| format!("cannot read {}", path.display()))?,
            ),
        })
    }

    pub fn next_event(&mut self) -> Option<Result<ConnEvent, IngestError>> {
        match self {
            OnceSource::File(r) => r.next(),
            OnceSource::Stdin(r) => r.next(),
        }
    }

    /// Reads the rest of the source in batches, in order (see
    /// `picket_ingest::EventReader::read_screened`).
    pub fn read_screened<V, F>(
        &mut self,
        how: Batching,
        screen: &F,
        each: &mut dyn FnMut(Screened<V>) -> ControlFlow<()>,
    ) where
        V: Send,
        F: Fn(&EventHead) -> Option<V> + Sync,
    {
        match self {
            OnceSource::File(r) => r.read_screened(how, screen, each),
            OnceSource::Stdin(r) => r.read_screened(how, screen, each),
        }
    }

    pub fn stats(&self) -> picket_ingest::Stats {
        match self {
            OnceSource::File(r) => r.stats(),
            OnceSource::Stdin(r) => r.stats(),
        }
    }
}

/// What `--follow` keeps per file in the store: where the reader is, and the time of the last
/// event read (to reload the alert windows that may still be open).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FollowState {
    pub reader: Checkpoint,
    pub last_event: Option<Timestamp>,
}

/// A file followed as it grows, with its checkpoint key in the store.
pub struct FollowSource {
    pub key: String,
    pub follower: Follower,
    pub last_event: Option<Timestamp>,
    /// Read (or refused a line) since its checkpoint was last stored.
    pub dirty: bool,
}

impl FollowSource {
    /// Opens `file` where its stored checkpoint left it, or at its start.
    pub fn open(store: &Store, file: &Path, input: Option<Input>) -> Result<Self, AppError> {
        let path =
            std::fs::canonicalize(file).context(|| format!("cannot follow {}", file.display()))?;
        let key = format!("follow:{}", path.display());
        let state = match store.checkpoint(&key)? {
            Some(value) => {
                Some(serde_json::from_value::<FollowState>(value).context(|| {
                    format!("stored checkpoint of {} is not readable", file.display())
                })?)
            }
            None => None,
        };
        let (follower, last_event) = match state {
            Some(s) => (Follower::resume(s.reader), s.last_event),
            None => (Follower::new(&path, input), None),
        };
        Ok(Self {
            key,
            follower,
            last_event,
            dirty: false,
        })
    }

    pub fn state(&self) -> FollowState {
        FollowState {
            reader: self.follower.checkpoint(),
            last_event: self.last_event,
        }
    }
}
