//! The service's TOML configuration (`picket serve --config FILE`, `picket config check`): the
//! raw file deserialized with every key's span, then each value validated by picket-app's one
//! parser of its kind (ports, targets, spans, severities, home nets, event and feed formats), into
//! the options the workflows take.
//!
//! Every refusal names the file, the line and the key (`picket.toml:7: scan[0].ports: ...`);
//! unknown keys are refused. Relative paths are taken from the configuration file's folder, so a
//! unit file can start the service from anywhere. This module must never open the store, read
//! the token or a watched file, or touch the network: it only checks what the file says.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::tz::TimeZone;
use picket_app::distributed::QueueScan;
use picket_app::options::{
    self as parse, BlockPolicy, PipelineOptions, ProfileValues, ScanOptions, SourceSpec,
};
use picket_app::targets::TargetValues;
use picket_detect::threat::ThreatSettings;
use picket_model::{HomeNet, Severity};
use serde::Deserialize;
use toml::Spanned;

use crate::schedule::CronSchedule;

/// The commented sample configuration (`picket config example`, `dist/picket.toml`).
pub const EXAMPLE: &str = include_str!("example.toml");

/// One problem of a configuration file: where, which key, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// 1-based; `None` when the problem has no place in the file (an override flag).
    pub line: Option<usize>,
    /// The key as a path: `listen`, `scan[0].ports`, `sink[1].url`.
    pub key: String,
    pub message: String,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render_issues(file, issues))]
    Invalid { file: PathBuf, issues: Vec<Issue> },
}

fn render_issues(file: &Path, issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| match i.line {
            Some(line) => format!("{}:{line}: {}: {}", file.display(), i.key, i.message),
            None => format!("{}: {}", i.key, i.message),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The service as configured and validated.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub file: PathBuf,
    pub listen: SocketAddr,
    /// A SQLite path (relative ones from the file's folder) or a `postgres://` URL.
    pub db: String,
    pub token_file: Option<PathBuf>,
    pub time_zone: TimeZone,
    /// How often watchers ask the store whether feeds, suppressions or the inventory changed.
    pub knowledge_every: Duration,
    /// `home_net` as written (validated): our networks, for the web layer's block guard.
    pub home_net: Vec<String>,
    /// `allow`: more networks no block may touch (watchers' blocks and the API's), validated.
    pub allow: Vec<String>,
    pub scans: Vec<ScanJob>,
    pub watches: Vec<WatchJob>,
    pub feeds: Vec<FeedSource>,
    pub vulns: Vec<VulnSource>,
    pub sinks: Vec<SinkConfig>,
}

/// A `[[scan]]` job.
#[derive(Debug, Clone)]
pub struct ScanJob {
    pub name: String,
    /// `None`: the job runs only when asked (`POST /api/v1/scans`).
    pub schedule: Option<CronSchedule>,
    pub options: ScanOptions,
    /// `queue = "nats://..."`: the scan is sharded over `picket worker` nodes; `None`: this
    /// process scans.
    pub queue: Option<QueueScan>,
}

/// A `[[watch]]`: one followed log with the detection settings of its pipeline.
#[derive(Debug, Clone)]
pub struct WatchJob {
    pub path: PathBuf,
    pub pipeline: PipelineOptions,
}

/// Where knowledge comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Url(String),
}

/// A `[[feed]]`: a threat-intel feed kept fresh in the store.
#[derive(Debug, Clone)]
pub struct FeedSource {
    pub name: String,
    pub source: Source,
    pub format: Option<picket_intel::FeedFormat>,
    pub keep_bogons: bool,
    pub allow_shrink: bool,
    /// Between downloads of a URL, or between looks at a file's size and time.
    pub refresh: Duration,
}

/// A `[[vuln]]`: vulnerability knowledge (NVD, OSV, KEV, EPSS, scanner reports) kept fresh.
#[derive(Debug, Clone)]
pub struct VulnSource {
    pub name: String,
    pub source: Source,
    pub allow_shrink: bool,
    pub refresh: Duration,
}

/// A `[[sink]]`.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// `kind` with its position (`webhook#0`), for logs and metrics labels.
    pub label: String,
    pub kind: SinkKind,
    /// Alerts below this severity are not sent.
    pub min_severity: Severity,
    /// Whether exposure findings are sent too.
    pub findings: bool,
}

#[derive(Debug, Clone)]
pub enum SinkKind {
    Webhook {
        url: String,
        /// Records per POST at most.
        batch: usize,
        /// Attempts after the first before a batch is dead-lettered.
        retries: u32,
        /// The first wait between attempts; doubled each time.
        backoff: Duration,
        timeout: Duration,
    },
    Syslog {
        target: SyslogTarget,
        facility: u8,
    },
    File {
        path: PathBuf,
    },
}

/// Where RFC 5424 messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogTarget {
    /// A local datagram socket such as `/dev/log`.
    Unix(PathBuf),
    /// `host:port` over UDP.
    Udp(String),
}

/// What the command line gives instead of the file (`--listen`, `--db`, `--token-file`).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub db: Option<String>,
    pub token_file: Option<PathBuf>,
}

impl ServiceConfig {
    /// Reads and validates `file`.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_owned(),
            source,
        })?;
        Self::parse(file, &text)
    }

    /// Validates `text` as the contents of `file` (whose folder anchors relative paths).
    pub fn parse(file: &Path, text: &str) -> Result<Self, ConfigError> {
        let invalid = |issues| ConfigError::Invalid {
            file: file.to_owned(),
            issues,
        };
        let raw: RawConfig = deserialize(text).map_err(|issue| invalid(vec![issue]))?;
        let base = file.parent().unwrap_or(Path::new("")).to_owned();
        let mut check = Check {
            text,
            base,
            issues: Vec::new(),
        };
        let config = check.config(file, raw);
        match config {
            Some(config) if check.issues.is_empty() => Ok(config),
            _ => Err(invalid(check.issues)),
        }
    }

    /// Applies the command line's overrides; a refusal names the flag.
    pub fn apply(&mut self, overrides: &Overrides) -> Result<(), ConfigError> {
        if let Some(listen) = &overrides.listen {
            self.listen = listen_address(listen).map_err(|e| ConfigError::Invalid {
                file: self.file.clone(),
                issues: vec![Issue {
                    line: None,
                    key: "--listen".into(),
                    message: without_flag(&e.to_string()),
                }],
            })?;
        }
        if let Some(db) = &overrides.db {
            self.db = db.clone();
        }
        if let Some(token) = &overrides.token_file {
            self.token_file = Some(token.clone());
        }
        Ok(())
    }
}

/// `listen`: an address and a port, through picket-app's HOST:PORT parser.
fn listen_address(s: &str) -> Result<SocketAddr, parse::OptionError> {
    parse::host_port("--listen", s).map(|(ip, port)| SocketAddr::new(ip, port))
}

/// The whole document; a syntax error, a wrong type or an unknown key names its line and key.
fn deserialize(text: &str) -> Result<RawConfig, Issue> {
    let de = toml::Deserializer::parse(text).map_err(|e| Issue {
        line: e.span().map(|s| line_of(text, s.start)),
        key: "(syntax)".into(),
        message: e.message().to_owned(),
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        // Spanned values add a private segment of their own; the key is what the user wrote.
        let key = e
            .path()
            .to_string()
            .replace(".$__serde_spanned_private_value", "");
        let inner = e.inner();
        Issue {
            line: inner.span().map(|s| line_of(text, s.start)),
            key: if key == "." { "(top)".into() } else { key },
            message: inner.message().to_owned(),
        }
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<Spanned<String>>,
    db: Option<String>,
    token_file: Option<String>,
    time_zone: Option<Spanned<String>>,
    home_net: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    knowledge_every: Option<Spanned<String>>,
    #[serde(default)]
    scan: Vec<RawScan>,
    #[serde(default)]
    watch: Vec<RawWatch>,
    #[serde(default)]
    feed: Vec<RawFeed>,
    #[serde(default)]
    vuln: Vec<RawVuln>,
    #[serde(default)]
    sink: Vec<RawSink>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScan {
    name: Spanned<String>,
    targets: Spanned<Vec<String>>,
    #[serde(default)]
    exclude: Vec<String>,
    ports: Option<Spanned<String>>,
    schedule: Option<Spanned<String>>,
    read_timeout: Option<Spanned<String>>,
    max_checks: Option<Spanned<usize>>,
    max_rate: Option<Spanned<f64>>,
    retries: Option<Spanned<u8>>,
    #[serde(default)]
    no_ping: bool,
    ban_patience: Option<Spanned<String>>,
    #[serde(default = "yes")]
    recheck: bool,
    seed: Option<u64>,
    #[serde(default)]
    service_detect: bool,
    #[serde(default)]
    signatures: Vec<String>,
    #[serde(default)]
    reverse_dns: bool,
    queue: Option<Spanned<String>>,
    pool: Option<Spanned<String>>,
    shard_probes: Option<Spanned<usize>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    path: Spanned<String>,
    format: Option<Spanned<String>>,
    home_net: Option<Spanned<Vec<String>>>,
    min_feeds: Option<Spanned<usize>>,
    window: Option<Spanned<String>>,
    block: Option<RawBlock>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlock {
    min_severity: Option<Spanned<String>>,
    ttl: Option<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    name: Spanned<String>,
    source: Spanned<String>,
    format: Option<Spanned<String>>,
    refresh: Option<Spanned<String>>,
    #[serde(default)]
    keep_bogons: bool,
    #[serde(default)]
    allow_shrink: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVuln {
    name: Spanned<String>,
    source: Spanned<String>,
    refresh: Option<Spanned<String>>,
    #[serde(default)]
    allow_shrink: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    kind: Spanned<String>,
    url: Option<Spanned<String>>,
    address: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    min_severity: Option<Spanned<String>>,
    findings: Option<bool>,
    batch: Option<Spanned<usize>>,
    retries: Option<Spanned<u32>>,
    backoff: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    facility: Option<Spanned<String>>,
}

/// Defaults of keys left out.
const LISTEN: &str = "127.0.0.1:7878";
const DB: &str = "picket.db";
const URL_REFRESH: Duration = Duration::from_secs(3600);
const FILE_REFRESH: Duration = Duration::from_secs(1);
const WEBHOOK_BATCH: usize = 100;
const WEBHOOK_RETRIES: u32 = 5;
const WEBHOOK_BACKOFF: Duration = Duration::from_secs(1);
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// syslog facilities by name (RFC 5424 section 6.2.1).
const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];
const DAEMON: u8 = 3;

/// The validation of one file: collects every issue rather than stopping at the first.
struct Check<'t> {
    text: &'t str,
    base: PathBuf,
    issues: Vec<Issue>,
}

impl Check<'_> {
    fn issue<T>(&mut self, at: &Spanned<T>, key: impl Into<String>, message: impl Into<String>) {
        self.issues.push(Issue {
            line: Some(line_of(self.text, at.span().start)),
            key: key.into(),
            message: message.into(),
        });
    }

    /// `value` if valid, else records the issue at `at` under `key`.
    fn ok<T, A, E: fmt::Display>(
        &mut self,
        at: &Spanned<A>,
        key: &str,
        value: Result<T, E>,
    ) -> Option<T> {
        match value {
            Ok(v) => Some(v),
            Err(e) => {
                self.issue(at, key, without_flag(&e.to_string()));
                None
            }
        }
    }

    /// A job's `queue`, `pool` and `shard_probes`, through the parser of `scan --queue`.
    fn queue(&mut self, i: usize, raw: &RawScan) -> Option<Option<QueueScan>> {
        let Some(url) = &raw.queue else {
            // A pool or shard size without a queue would be silently ignored: refused.
            let stray = [
                ("pool", raw.pool.as_ref().map(Spanned::span)),
                ("shard_probes", raw.shard_probes.as_ref().map(Spanned::span)),
            ];
            let mut fine = true;
            for (name, at) in stray {
                if let Some(at) = at {
                    self.issues.push(Issue {
                        line: Some(line_of(self.text, at.start)),
                        key: format!("scan[{i}].{name}"),
                        message: "needs `queue` (a job without one scans from this process)".into(),
                    });
                    fine = false;
                }
            }
            return fine.then_some(None);
        };
        let parsed = QueueScan::parse(
            url.get_ref(),
            raw.pool.as_ref().map(|p| p.get_ref().as_str()),
            raw.shard_probes.as_ref().map(|n| *n.get_ref()),
        );
        match parsed {
            Ok(queue) => Some(Some(queue)),
            Err(e) => {
                let (name, at) = match e.flag.as_str() {
                    "--pool" => ("pool", raw.pool.as_ref().map(Spanned::span)),
                    "--shard-probes" => {
                        ("shard_probes", raw.shard_probes.as_ref().map(Spanned::span))
                    }
                    _ => ("queue", Some(url.span())),
                };
                let at = at.unwrap_or(url.span());
                self.issues.push(Issue {
                    line: Some(line_of(self.text, at.start)),
                    key: format!("scan[{i}].{name}"),
                    message: e.message,
                });
                None
            }
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    /// A path (from the file's folder) or an http(s) URL; a URL that does not parse is refused.
    fn source(&mut self, at: &Spanned<String>, key: &str) -> Option<Source> {
        let s = at.get_ref();
        if s.starts_with("http://") || s.starts_with("https://") {
            self.ok(at, key, http_url(s)).map(Source::Url)
        } else {
            Some(Source::File(self.path(s)))
        }
    }

    fn span(&mut self, value: &Option<Spanned<String>>, key: &str) -> Option<Option<Duration>> {
        match value {
            None => Some(None),
            Some(v) => self.ok(v, key, parse::span("", v.get_ref()).map(Some)),
        }
    }

    /// Names of one kind of table must differ: a job, a feed, a source is known by its name.
    fn unique<'a>(&mut self, table: &str, names: impl Iterator<Item = &'a Spanned<String>>) {
        let names: Vec<&Spanned<String>> = names.collect();
        for (i, name) in names.iter().enumerate() {
            if names[..i].iter().any(|n| n.get_ref() == name.get_ref()) {
                self.issue(
                    name,
                    format!("{table}[{i}].name"),
                    format!("{:?}: another [[{table}]] has this name", name.get_ref()),
                );
            }
        }
    }

    fn config(&mut self, file: &Path, raw: RawConfig) -> Option<ServiceConfig> {
        let listen = match &raw.listen {
            None => LISTEN.parse().ok(),
            Some(l) => self.ok(l, "listen", listen_address(l.get_ref())),
        };
        let db = match raw.db {
            None => self.path(DB).display().to_string(),
            Some(db) if db.contains("://") || db.starts_with("sqlite:") => db,
            Some(db) => self.path(&db).display().to_string(),
        };
        let time_zone = match &raw.time_zone {
            None => Some(TimeZone::system()),
            Some(tz) => {
                let parsed = TimeZone::get(tz.get_ref()).map_err(|e| {
                    format!(
                        "{:?}: not a time zone (e.g. UTC, Europe/Berlin): {e}",
                        tz.get_ref()
                    )
                });
                self.ok(tz, "time_zone", parsed)
            }
        };
        let home = match &raw.home_net {
            None => Some(HomeNet::default()),
            Some(h) => self.ok(h, "home_net", parse::home_net(h.get_ref())),
        };
        let mut allow = Vec::new();
        for (i, a) in raw.allow.iter().enumerate() {
            let key = format!("allow[{i}]");
            allow.extend(
                self.ok(a, &key, parse::net("", a.get_ref()))
                    .map(|n| n.to_string()),
            );
        }
        let knowledge_every = self
            .span(&raw.knowledge_every, "knowledge_every")
            .map(|d| d.unwrap_or(PipelineOptions::KNOWLEDGE_EVERY));

        self.unique("scan", raw.scan.iter().map(|s| &s.name));
        self.unique("feed", raw.feed.iter().map(|f| &f.name));
        self.unique("vuln", raw.vuln.iter().map(|v| &v.name));
        let mut scans = Vec::new();
        for (i, scan) in raw.scan.iter().enumerate() {
            scans.extend(self.scan(i, scan));
        }
        let mut watches = Vec::new();
        for (i, watch) in raw.watch.iter().enumerate() {
            watches.extend(self.watch(i, watch, home.as_ref(), &allow, knowledge_every));
        }
        let mut feeds = Vec::new();
        for (i, feed) in raw.feed.iter().enumerate() {
            feeds.extend(self.feed(i, feed));
        }
        let mut vulns = Vec::new();
        for (i, vuln) in raw.vuln.iter().enumerate() {
            let refresh = self.span(&vuln.refresh, &format!("vuln[{i}].refresh"));
            let source = self.source(&vuln.source, &format!("vuln[{i}].source"));
            if let (Some(refresh), Some(source)) = (refresh, source) {
                vulns.push(VulnSource {
                    name: vuln.name.get_ref().clone(),
                    refresh: refresh.unwrap_or(default_refresh(&source)),
                    source,
                    allow_shrink: vuln.allow_shrink,
                });
            }
        }
        let mut sinks = Vec::new();
        for (i, sink) in raw.sink.iter().enumerate() {
            sinks.extend(self.sink(i, sink));
        }
        Some(ServiceConfig {
            file: file.to_owned(),
            listen: listen?,
            db,
            token_file: raw.token_file.as_deref().map(|t| self.path(t)),
            time_zone: time_zone?,
            knowledge_every: knowledge_every?,
            home_net: raw
                .home_net
                .as_ref()
                .map(|h| h.get_ref().clone())
                .unwrap_or_default(),
            allow,
            scans,
            watches,
            feeds,
            vulns,
            sinks,
        })
    }

    fn scan(&mut self, i: usize, raw: &RawScan) -> Option<ScanJob> {
        let key = |k: &str| format!("scan[{i}].{k}");
        let targets = TargetValues {
            include: raw.targets.get_ref().clone(),
            exclude: raw.exclude.clone(),
            ..TargetValues::default()
        }
        .targets();
        let targets = self.ok(&raw.targets, &key("targets"), targets);
        let (ports, top_ports) = match &raw.ports {
            None => (None, None),
            Some(p) => self.ok(p, &key("ports"), ports_values(p.get_ref()))?,
        };
        let values = ProfileValues {
            ports,
            top_ports,
            read_timeout: raw.read_timeout.as_ref().map(|v| v.get_ref().clone()),
            max_checks: raw.max_checks.as_ref().map(|v| *v.get_ref()),
            max_rate: raw.max_rate.as_ref().map(|v| *v.get_ref()),
            retries: raw.retries.as_ref().map(|v| *v.get_ref()),
            no_ping: raw.no_ping,
            ban_patience: raw.ban_patience.as_ref().map(|v| v.get_ref().clone()),
            no_recheck: !raw.recheck,
            seed: raw.seed,
        };
        let profile = match values.profile() {
            Ok(p) => Some(p),
            Err(e) => {
                // A refusal names its flag: the key is the flag's name, its line that key's.
                let (name, at) = match e.as_option().map(|o| o.flag.as_str()) {
                    Some("--read-timeout") => {
                        ("read_timeout", raw.read_timeout.as_ref().map(Spanned::span))
                    }
                    Some("--max-checks") => {
                        ("max_checks", raw.max_checks.as_ref().map(Spanned::span))
                    }
                    Some("--max-rate") => ("max_rate", raw.max_rate.as_ref().map(Spanned::span)),
                    Some("--retries") => ("retries", raw.retries.as_ref().map(Spanned::span)),
                    Some("--ban-patience") => {
                        ("ban_patience", raw.ban_patience.as_ref().map(Spanned::span))
                    }
                    _ => ("ports", raw.ports.as_ref().map(Spanned::span)),
                };
                let at = at.unwrap_or(raw.name.span());
                self.issues.push(Issue {
                    line: Some(line_of(self.text, at.start)),
                    key: key(name),
                    message: match e.as_option() {
                        Some(o) => o.message.clone(),
                        None => e.to_string(),
                    },
                });
                None
            }
        };
        let schedule = match &raw.schedule {
            None => Some(None),
            Some(s) => self.ok(
                s,
                &key("schedule"),
                CronSchedule::parse(s.get_ref()).map(Some),
            ),
        };
        let services = if raw.service_detect {
            let paths: Vec<PathBuf> = raw.signatures.iter().map(|s| self.path(s)).collect();
            self.ok(&raw.name, &key("signatures"), parse::signatures(&paths))
                .map(Some)
        } else {
            Some(None)
        };
        let queue = self.queue(i, raw);
        Some(ScanJob {
            name: raw.name.get_ref().clone(),
            schedule: schedule?,
            queue: queue?,
            options: ScanOptions {
                targets: targets?,
                profile: profile?,
                services: services?,
                db_hint: None,
                reverse_dns: raw.reverse_dns,
                keep_every_host_up_to: ScanOptions::KEEP_EVERY_HOST_UP_TO,
            },
        })
    }

    fn watch(
        &mut self,
        i: usize,
        raw: &RawWatch,
        home: Option<&HomeNet>,
        allow: &[String],
        knowledge_every: Option<Duration>,
    ) -> Option<WatchJob> {
        let key = |k: &str| format!("watch[{i}].{k}");
        let input = match &raw.format {
            None => Some(None),
            Some(f) => self.ok(f, &key("format"), parse::input(f.get_ref())),
        };
        let home = match &raw.home_net {
            None => home.cloned(),
            Some(h) => self.ok(h, &key("home_net"), parse::home_net(h.get_ref())),
        };
        let window = self.span(&raw.window, &key("window"));
        let block = match &raw.block {
            None => Some(None),
            Some(b) => {
                let min_severity = match &b.min_severity {
                    None => Some(Severity::High),
                    Some(s) => self.ok(
                        s,
                        &key("block.min_severity"),
                        parse::severity("", s.get_ref()),
                    ),
                };
                let ttl = self.span(&b.ttl, &key("block.ttl"));
                let mut extra = allow.to_vec();
                for a in &b.allow {
                    let net = self.ok(a, &key("block.allow"), parse::net("", a.get_ref()));
                    extra.extend(net.map(|n| n.to_string()));
                }
                let allow = home.as_ref().map(|h| parse::allow_list(h, &extra));
                match (min_severity, ttl, allow) {
                    (Some(min_severity), Some(ttl), Some(Ok(allow))) => Some(Some(BlockPolicy {
                        allow,
                        min_severity,
                        ttl: ttl.unwrap_or(Duration::from_secs(24 * 3600)),
                    })),
                    _ => None,
                }
            }
        };
        let settings = ThreatSettings {
            window: window?.unwrap_or(ThreatSettings::DEFAULT_WINDOW),
            min_feeds: raw.min_feeds.as_ref().map_or(1, |m| *m.get_ref()),
        };
        if settings.min_feeds == 0
            && let Some(m) = &raw.min_feeds
        {
            self.issue(
                m,
                key("min_feeds"),
                "0: a client must be on at least one feed",
            );
            return None;
        }
        let path = self.path(raw.path.get_ref());
        let pipeline = PipelineOptions::new(
            vec![SourceSpec::File(path.clone())],
            input?,
            true,
            home?,
            settings,
            block?,
        );
        let mut pipeline = self.ok(&raw.path, &key("path"), pipeline)?;
        pipeline.knowledge_every = knowledge_every?;
        Some(WatchJob { path, pipeline })
    }

    fn feed(&mut self, i: usize, raw: &RawFeed) -> Option<FeedSource> {
        let key = |k: &str| format!("feed[{i}].{k}");
        let format = match &raw.format {
            None => Some(None),
            Some(f) => self.ok(f, &key("format"), parse::feed_format(f.get_ref())),
        };
        let refresh = self.span(&raw.refresh, &key("refresh"));
        let source = self.source(&raw.source, &key("source"))?;
        Some(FeedSource {
            name: raw.name.get_ref().clone(),
            refresh: refresh?.unwrap_or(default_refresh(&source)),
            source,
            format: format?,
            keep_bogons: raw.keep_bogons,
            allow_shrink: raw.allow_shrink,
        })
    }

    fn sink(&mut self, i: usize, raw: &RawSink) -> Option<SinkConfig> {
        let key = |k: &str| format!("sink[{i}].{k}");
        let kind_name = raw.kind.get_ref().as_str();
        let min_severity = match &raw.min_severity {
            None => Some(Severity::Info),
            Some(s) => self.ok(s, &key("min_severity"), parse::severity("", s.get_ref())),
        };
        // Keys that belong to another kind of sink are refused, as unknown keys are.
        let span = |v: &Option<Spanned<String>>| v.as_ref().map(Spanned::span);
        let keys = [
            ("url", "webhook", span(&raw.url)),
            ("batch", "webhook", raw.batch.as_ref().map(Spanned::span)),
            (
                "retries",
                "webhook",
                raw.retries.as_ref().map(Spanned::span),
            ),
            ("backoff", "webhook", span(&raw.backoff)),
            ("timeout", "webhook", span(&raw.timeout)),
            ("address", "syslog", span(&raw.address)),
            ("facility", "syslog", span(&raw.facility)),
            ("path", "file", span(&raw.path)),
        ];
        for (k, _, at) in keys.into_iter().filter(|(_, kind, _)| *kind != kind_name) {
            if let Some(at) = at {
                self.issues.push(Issue {
                    line: Some(line_of(self.text, at.start)),
                    key: key(k),
                    message: format!("not a key of a {kind_name:?} sink"),
                });
            }
        }
        let kind = match kind_name {
            "webhook" => {
                let Some(url) = &raw.url else {
                    self.issue(
                        &raw.kind,
                        key("url"),
                        "a webhook sink needs url = \"http(s)://...\"",
                    );
                    return None;
                };
                let url = self.ok(url, &key("url"), http_url(url.get_ref()));
                let backoff = self.span(&raw.backoff, &key("backoff"));
                let timeout = self.span(&raw.timeout, &key("timeout"));
                let batch = raw.batch.as_ref().map_or(WEBHOOK_BATCH, |b| *b.get_ref());
                if batch == 0
                    && let Some(b) = &raw.batch
                {
                    self.issue(b, key("batch"), "0: at least one record per POST");
                }
                SinkKind::Webhook {
                    url: url?,
                    batch: batch.max(1),
                    retries: raw
                        .retries
                        .as_ref()
                        .map_or(WEBHOOK_RETRIES, |r| *r.get_ref()),
                    backoff: backoff?.unwrap_or(WEBHOOK_BACKOFF),
                    timeout: timeout?.unwrap_or(WEBHOOK_TIMEOUT),
                }
            }
            "syslog" => {
                let target = match &raw.address {
                    None => SyslogTarget::Unix(PathBuf::from("/dev/log")),
                    Some(a) if a.get_ref().starts_with('/') => {
                        SyslogTarget::Unix(PathBuf::from(a.get_ref()))
                    }
                    Some(a) => {
                        match a.get_ref().strip_prefix("udp://").unwrap_or(a.get_ref()) {
                            hp if hp
                                .rsplit_once(':')
                                .is_some_and(|(_, p)| p.parse::<u16>().is_ok_and(|p| p > 0)) =>
                            {
                                SyslogTarget::Udp(hp.to_owned())
                            }
                            _ => {
                                self.issue(a, key("address"), format!("{:?}: expected a socket path (/dev/log) or HOST:PORT for UDP", a.get_ref()));
                                return None;
                            }
                        }
                    }
                };
                let facility = match &raw.facility {
                    None => DAEMON,
                    Some(f) => match FACILITIES.iter().position(|n| n == f.get_ref()) {
                        Some(n) => u8::try_from(n).unwrap_or(DAEMON),
                        None => {
                            self.issue(
                                f,
                                key("facility"),
                                format!("{:?}: one of {}", f.get_ref(), FACILITIES.join(", ")),
                            );
                            return None;
                        }
                    },
                };
                SinkKind::Syslog { target, facility }
            }
            "file" => {
                let Some(path) = &raw.path else {
                    self.issue(
                        &raw.kind,
                        key("path"),
                        "a file sink needs path = \"alerts.ndjson\"",
                    );
                    return None;
                };
                SinkKind::File {
                    path: self.path(path.get_ref()),
                }
            }
            other => {
                self.issue(
                    &raw.kind,
                    key("kind"),
                    format!("{other:?}: expected webhook, syslog or file"),
                );
                return None;
            }
        };
        Some(SinkConfig {
            label: format!("{kind_name}#{i}"),
            kind,
            min_severity: min_severity?,
            findings: raw.findings.unwrap_or(true),
        })
    }
}

/// An http(s) URL with a host; the refusal says what is wrong.
fn http_url(s: &str) -> Result<String, String> {
    let uri: ureq::http::Uri = s.parse().map_err(|e| format!("{s:?}: not a URL: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(s.to_owned()),
        _ => Err(format!(
            "{s:?}: expected an http:// or https:// URL with a host"
        )),
    }
}

/// A ports value as the config and the API write it: a spec (`22,80`, `1-1024`, `-` for all)
/// or `top:N`, as the raw `-p` / `--top-ports` values picket-app validates.
pub fn ports_values(p: &str) -> Result<(Option<String>, Option<usize>), String> {
    let p = p.trim();
    match p.strip_prefix("top:") {
        Some(n) => n
            .trim()
            .parse::<usize>()
            .map(|n| (None, Some(n)))
            .map_err(|_| format!("{p:?}: top:N takes a number of ports, e.g. top:1000")),
        None => Ok((Some(p.to_owned()), None)),
    }
}

fn default_refresh(source: &Source) -> Duration {
    match source {
        Source::File(_) => FILE_REFRESH,
        Source::Url(_) => URL_REFRESH,
    }
}

/// picket-app's refusals start with the flag they were given; in a file the key says it.
fn without_flag(message: &str) -> String {
    let message = message.trim_start();
    match message.split_once(' ') {
        Some((flag, rest)) if flag.starts_with("--") => rest.to_owned(),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(text: &str) -> Vec<(Option<usize>, String)> {
        match ServiceConfig::parse(Path::new("/etc/picket/picket.toml"), text) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid { issues, .. }) => {
                issues.into_iter().map(|i| (i.line, i.key)).collect()
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_example_is_valid_and_paths_are_taken_from_its_folder() {
        let config = ServiceConfig::parse(Path::new("/etc/picket/picket.toml"), EXAMPLE).unwrap();
        assert_eq!(config.listen, "127.0.0.1:7878".parse().unwrap());
        assert_eq!(config.db, "/etc/picket/picket.db");
        assert_eq!(config.token_file, Some(PathBuf::from("/etc/picket/token")));
        assert_eq!(config.scans[0].options.profile.ports.len(), 1024);
        assert_eq!(
            config.scans[0].schedule.as_ref().unwrap().text(),
            "30 2 * * *"
        );
        assert!(matches!(config.feeds[0].source, Source::Url(_)));
        assert_eq!(config.feeds[0].refresh, Duration::from_secs(3600));
        assert_eq!(config.sinks.len(), 3);
        assert_eq!(config.sinks[0].min_severity, Severity::Medium);
        assert_eq!(config.watches[0].pipeline.settings.min_feeds, 1);
    }

    #[test]
    fn ports_take_a_spec_all_or_the_top_ranked() {
        let ports = |p: &str| {
            let text =
                format!("[[scan]]\nname = \"a\"\ntargets = [\"127.0.0.1\"]\nports = \"{p}\"\n");
            let config = ServiceConfig::parse(Path::new("c.toml"), &text).unwrap();
            config.scans[0].options.profile.ports.len()
        };
        assert_eq!(ports("22,80"), 2);
        assert_eq!(ports("-"), 65535);
        assert_eq!(ports("top:100"), 100);
    }

    #[test]
    fn every_error_names_its_line_and_key() {
        let text = r#"listen = "127.0.0.1:7878"
time_zone = "Mars/Olympus"

[[scan]]
name = "a"
targets = ["127.0.0.1"]
ports = "1-99999"
schedule = "* * *"
max_checks = 0

[[watch]]
path = "conn.log"
format = "pcap"
window = "soon"

[[sink]]
kind = "webhook"
url = "ftp://example"
min_severity = "dire"

[[sink]]
kind = "pager"
"#;
        assert_eq!(
            issues(text),
            [
                (Some(2), "time_zone".into()),
                (Some(7), "scan[0].ports".into()),
                (Some(8), "scan[0].schedule".into()),
                (Some(13), "watch[0].format".into()),
                (Some(14), "watch[0].window".into()),
                (Some(19), "sink[0].min_severity".into()),
                (Some(18), "sink[0].url".into()),
                (Some(22), "sink[1].kind".into()),
            ]
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused_where_they_are() {
        assert_eq!(
            issues("[[scan]]\nname = \"a\"\ntargets = [\"127.0.0.1\"]\nprots = \"22\"\n"),
            [(Some(4), "scan[0].prots".into())]
        );
        assert_eq!(
            issues("listen = \"127.0.0.1:7878\"\n\n[[feed]]\nname = \"x\"\nsource = 7\n"),
            [(Some(5), "feed[0].source".into())]
        );
        assert_eq!(issues("listen = \n"), [(Some(1), "(syntax)".into())]);
        assert_eq!(
            issues(
                "[[feed]]\nname = \"a\"\nsource = \"https://\"\n[[sink]]\nkind = \"webhook\"\nurl = \"http://exa mple/\"\n"
            ),
            [
                (Some(3), "feed[0].source".into()),
                (Some(6), "sink[0].url".into())
            ]
        );
        assert_eq!(
            issues(
                "[[feed]]\nname = \"a\"\nsource = \"a.txt\"\n[[feed]]\nname = \"a\"\nsource = \"b.txt\"\n"
            ),
            [(Some(5), "feed[1].name".into())]
        );
        assert_eq!(
            issues("allow = [\n  \"10.0.0.0/8\",\n  \"nowhere\",\n]\n"),
            [(Some(3), "allow[1]".into())]
        );
        assert_eq!(
            issues("[[sink]]\nkind = \"file\"\npath = \"a\"\nurl = \"http://x\"\n"),
            [(Some(4), "sink[0].url".into())]
        );
    }

    #[test]
    fn a_queued_job_takes_the_parser_of_scan_queue_and_names_its_key() {
        let job =
            |extra: &str| format!("[[scan]]\nname = \"a\"\ntargets = [\"127.0.0.1\"]\n{extra}");
        let config = ServiceConfig::parse(
            Path::new("c.toml"),
            &job("queue = \"nats://127.0.0.1:4222\"\npool = \"site-b\"\nshard_probes = 500\n"),
        )
        .unwrap();
        let queue = config.scans[0].queue.as_ref().unwrap();
        assert_eq!(
            (queue.url.as_str(), queue.pool.as_str(), queue.shard_probes),
            ("nats://127.0.0.1:4222", "site-b", Some(500))
        );
        let local = ServiceConfig::parse(Path::new("c.toml"), &job("")).unwrap();
        assert!(local.scans[0].queue.is_none());
        assert_eq!(
            issues(&job("queue = \"http://127.0.0.1:4222\"\n")),
            [(Some(4), "scan[0].queue".into())]
        );
        assert_eq!(
            issues(&job(
                "queue = \"nats://127.0.0.1:4222\"\nshard_probes = 0\n"
            )),
            [(Some(5), "scan[0].shard_probes".into())]
        );
        assert_eq!(
            issues(&job("pool = \"site-b\"\n")),
            [(Some(4), "scan[0].pool".into())]
        );
    }

    #[test]
    fn the_command_line_overrides_the_file() {
        let mut config = ServiceConfig::parse(Path::new("c.toml"), "").unwrap();
        config
            .apply(&Overrides {
                listen: Some("127.0.0.1:9999".into()),
                db: Some("other.db".into()),
                token_file: Some("t".into()),
            })
            .unwrap();
        assert_eq!(config.listen.port(), 9999);
        assert_eq!(config.db, "other.db");
        let err = config
            .apply(&Overrides {
                listen: Some("nowhere".into()),
                ..Overrides::default()
            })
            .unwrap_err();
        assert!(
            err.to_string().starts_with("--listen: \"nowhere\""),
            "{err}"
        );
    }
}
