//! Feed and vulnerability refresh: each `[[feed]]` and `[[vuln]]` source brought into the store
//! through picket-app's imports, so the intake checks (empty, mostly bad, cut off, shrinking)
//! guard every refresh as they guard `picket intel add` and `picket vuln import`.
//!
//! A file is looked at every `refresh` and re-read when its size, time or inode changed. A URL
//! is downloaded every `refresh` with `If-None-Match` / `If-Modified-Since` from the last
//! download that was stored (kept in the store, so a restart asks conditionally too); a `304`
//! keeps the stored data. A download is written to a temporary file and imported from there.
//! Each source's last success and last error go to the metrics. A failed or suspicious download
//! must never replace good data, and a refresh must never stop the service: it is logged and
//! retried at the next interval.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use picket_app::Shutdown;
use picket_app::import;
use picket_app::options::{IntelAddOptions, VulnImportOptions};
use picket_model::Timestamp;
use picket_store::Store;
use picket_store::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{FeedSource, Source, VulnSource};
use crate::metrics::{Metrics, unix_seconds};

/// The largest download taken.
const MAX_DOWNLOAD: u64 = 1 << 30;
const TIMEOUT: Duration = Duration::from_secs(120);
/// How often the refresher wakes to see which source is due.
const TICK: Duration = Duration::from_millis(250);

/// What one refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// New data was stored; the number of entries (indicators, or files' records).
    Updated(String),
    /// Nothing changed (a `304`, or a file as it was).
    Unchanged,
    /// The data was read and refused by the intake checks or a parser; the stored data stays.
    Refused(String),
    /// The source could not be read or downloaded.
    Failed(String),
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Updated(_) => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Refused(_) => "refused",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// What a URL's last stored download said about itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

/// A file's identity when it was last read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: m.len(),
        modified: m.modified().ok(),
        inode: m.ino(),
    })
}

enum What {
    Feed(FeedSource),
    Vuln(VulnSource),
}

/// One configured source and what the refresher remembers of it.
struct Tracked {
    what: What,
    due: Instant,
    stamp: Option<Stamp>,
    /// The last failure said, so that a file missing for hours is logged once, not every tick.
    last_failure: Option<String>,
}

impl Tracked {
    fn name(&self) -> &str {
        match &self.what {
            What::Feed(f) => &f.name,
            What::Vuln(v) => &v.name,
        }
    }

    fn kind(&self) -> &'static str {
        match &self.what {
            What::Feed(_) => "feed",
            What::Vuln(_) => "vuln",
        }
    }

    fn source(&self) -> &Source {
        match &self.what {
            What::Feed(f) => &f.source,
            What::Vuln(v) => &v.source,
        }
    }

    fn refresh(&self) -> Duration {
        match &self.what {
            What::Feed(f) => f.refresh,
            What::Vuln(v) => v.refresh,
        }
    }

    /// The store key of the URL's validators.
    fn key(&self) -> String {
        format!("refresh:{}:{}", self.kind(), self.name())
    }
}

/// Keeps every configured source fresh.
pub struct Refresher {
    store: Store,
    sources: Vec<Tracked>,
    agent: ureq::Agent,
}

impl Refresher {
    pub fn new(store: Store, feeds: &[FeedSource], vulns: &[VulnSource]) -> Self {
        let now = Instant::now();
        let sources = feeds
            .iter()
            .cloned()
            .map(What::Feed)
            .chain(vulns.iter().cloned().map(What::Vuln))
            .map(|what| Tracked {
                what,
                due: now,
                stamp: None,
                last_failure: None,
            })
            .collect();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .user_agent(concat!("picket/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self {
            store,
            sources,
            agent,
        }
    }

    /// Refreshes each source when it is due, until `shutdown`.
    pub fn run(mut self, metrics: &Metrics, shutdown: &Shutdown) {
        while !shutdown.is_triggered() {
            self.tick(metrics);
            shutdown.sleep(TICK);
        }
    }

    /// Refreshes the sources that are due now.
    pub fn tick(&mut self, metrics: &Metrics) {
        let now = Instant::now();
        for i in 0..self.sources.len() {
            if self.sources[i].due > now {
                continue;
            }
            let outcome = self.refresh(i);
            let source = &mut self.sources[i];
            source.due = Instant::now() + source.refresh();
            record(metrics, source, &outcome);
            source.last_failure = match outcome {
                Outcome::Refused(why) | Outcome::Failed(why) => Some(why),
                Outcome::Updated(_) | Outcome::Unchanged => None,
            };
        }
    }

    /// Refreshes source `i` now.
    fn refresh(&mut self, i: usize) -> Outcome {
        let source = &self.sources[i];
        match source.source().clone() {
            Source::File(path) => {
                let now = stamp(&path);
                if now.is_none() {
                    return Outcome::Failed(format!("cannot read {}", path.display()));
                }
                if now == source.stamp {
                    return Outcome::Unchanged;
                }
                let outcome = self.import(i, &path);
                // A refused file is not read again until it changes.
                if matches!(outcome, Outcome::Updated(_) | Outcome::Refused(_)) {
                    self.sources[i].stamp = now;
                }
                outcome
            }
            Source::Url(url) => self.download(i, &url),
        }
    }

    fn download(&mut self, i: usize, url: &str) -> Outcome {
        let key = self.sources[i].key();
        let validators: Validators = match self.store.checkpoint(&key) {
            Ok(Some(v)) => serde_json::from_value(v).unwrap_or_default(),
            Ok(None) => Validators::default(),
            Err(e) => return Outcome::Failed(format!("cannot read the store: {e}")),
        };
        let mut request = self.agent.get(url);
        if let Some(etag) = &validators.etag {
            request = request.header("If-None-Match", etag);
        }
        if let Some(since) = &validators.last_modified {
            request = request.header("If-Modified-Since", since);
        }
        let mut response = match request.call() {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("{url}: {e}")),
        };
        let status = response.status().as_u16();
        if status == 304 {
            return Outcome::Unchanged;
        }
        if !(200..300).contains(&status) {
            return Outcome::Failed(format!("{url}: HTTP {status}"));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let fresh = Validators {
            etag: header("etag"),
            last_modified: header("last-modified"),
        };
        let body = match response
            .body_mut()
            .with_config()
            .limit(MAX_DOWNLOAD)
            .read_to_vec()
        {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(format!("{url}: download broken off: {e}")),
        };
        // The file keeps the URL's last segment: the vulnerability importers recognise some
        // documents by name as well as by content.
        let name = url
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty() && !n.contains(['?', '#']))
            .unwrap_or("download");
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => return Outcome::Failed(format!("cannot make a temporary folder: {e}")),
        };
        let path: PathBuf = dir.path().join(name);
        if let Err(e) = std::fs::write(&path, &body) {
            return Outcome::Failed(format!("cannot write {}: {e}", path.display()));
        }
        let outcome = match self.import(i, &path) {
            Outcome::Refused(why) => Outcome::Refused(format!("{url}: {why}")),
            other => other,
        };
        if matches!(outcome, Outcome::Updated(_))
            && let Ok(value) = serde_json::to_value(&fresh)
            && let Err(e) = self
                .store
                .save_checkpoint_with_alerts(&key, &value, &mut [])
        {
            tracing::warn!(source = %key, error = %e, "cannot store the download's ETag");
        }
        outcome
    }

    /// Imports `path` as source `i`, through picket-app's checks.
    fn import(&self, i: usize, path: &Path) -> Outcome {
        match &self.sources[i].what {
            What::Feed(feed) => {
                let opts = IntelAddOptions {
                    name: feed.name.clone(),
                    file: path.to_owned(),
                    load: picket_intel::LoadOptions {
                        format: feed.format,
                        keep_bogons: feed.keep_bogons,
                        ..picket_intel::LoadOptions::default()
                    },
                    allow_shrink: feed.allow_shrink,
                };
                let loaded = match import::load_feed(&opts) {
                    Ok(l) => l,
                    Err(e) => return Outcome::Refused(e.to_string()),
                };
                match import::store_feed(&self.store, &opts, &loaded) {
                    Ok(summary) => Outcome::Updated(format!("{} indicators", summary.indicators)),
                    Err(picket_app::AppError::Store(e)) => Outcome::Failed(e.to_string()),
                    Err(e) => Outcome::Refused(e.to_string()),
                }
            }
            What::Vuln(vuln) => {
                let opts =
                    match VulnImportOptions::new(vec![path.to_owned()], None, vuln.allow_shrink) {
                        Ok(o) => o,
                        Err(e) => return Outcome::Refused(e.to_string()),
                    };
                let read = match import::read_vuln(&opts) {
                    Ok(r) => r,
                    Err(e) => return Outcome::Refused(e.to_string()),
                };
                match read.store(&self.store) {
                    Ok(()) => Outcome::Updated(format!("{} file(s)", read.files.len())),
                    Err(picket_app::AppError::Store(e)) => Outcome::Failed(e.to_string()),
                    Err(e) => Outcome::Refused(e.to_string()),
                }
            }
        }
    }
}

fn record(metrics: &Metrics, source: &Tracked, outcome: &Outcome) {
    let labels = vec![
        ("kind", source.kind().to_owned()),
        ("source", source.name().to_owned()),
    ];
    let mut with_outcome = labels.clone();
    with_outcome.push(("outcome", outcome.label().to_owned()));
    metrics.source_refreshes.get_or_create(&with_outcome).inc();
    let now = unix_seconds(Timestamp::now());
    match outcome {
        Outcome::Updated(what) => {
            metrics.source_last_success.get_or_create(&labels).set(now);
            tracing::info!(kind = source.kind(), source = source.name(), %what, "refreshed");
        }
        Outcome::Unchanged => {
            metrics.source_last_success.get_or_create(&labels).set(now);
        }
        Outcome::Refused(why) | Outcome::Failed(why) => {
            metrics.source_last_error.get_or_create(&labels).set(now);
            if source.last_failure.as_ref() == Some(why) {
                tracing::debug!(kind = source.kind(), source = source.name(), %why, "refresh failed again");
            } else {
                tracing::warn!(
                    kind = source.kind(),
                    source = source.name(),
                    %why,
                    outcome = outcome.label(),
                    "refresh not stored: the stored data stays"
                );
            }
        }
    }
}
