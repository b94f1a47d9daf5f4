//! The validated ("high") options of every workflow, and the one parser of each kind of flag
//! value: severities, spans (`--ttl`, `--window`, `--every`, `--since`), timeouts, output
//! formats (`ocsf` included), event inputs, home nets, the allow-list, networks and host:port.
//!
//! A front end (the CLI's clap arguments, a server's request) converts its raw values with
//! these parsers into the structs below; nothing downstream parses a string again. Every refusal
//! is an [`OptionError`] naming the flag. This module must never read files, open the store or
//! touch the network: options are checked before anything is sent or written.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use picket_detect::threat::ThreatSettings;
use picket_ingest::Input;
use picket_model::{
    FindingKind, HomeNet, PortSet, RunId, ScanProfile, Severity, Suppression, Targets,
    canonical_ip, canonical_net, top_ports,
};
use picket_report::Format;
use picket_respond::AllowList;

use picket_store::{AlertFilter, FindingFilter};

use crate::error::AppError;
pub use crate::error::OptionError;

/// A validated exposure run (`picket scan`).
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub targets: Targets,
    pub profile: ScanProfile,
    /// `--service-detect`: the signatures to identify services with (built-in plus the user's).
    pub services: Option<Arc<picket_service::Signatures>>,
    /// The store location to name in the findings' verify commands, when the user chose one.
    pub db_hint: Option<String>,
    /// `-R`: look up the reverse DNS name of every host found up (Nmap's `-R`). Off by default,
    /// so a scan sends nothing to a DNS server unless asked.
    pub reverse_dns: bool,
    /// Up to this many targets a run keeps every host in memory (and its report lists every
    /// down host); above it, only the hosts up and those the comparison needs, the others
    /// being counted (the store has every host): memory stays bounded for a /8.
    pub keep_every_host_up_to: u64,
}

impl ScanOptions {
    /// [`ScanOptions::keep_every_host_up_to`] unless a caller needs another: a /16.
    pub const KEEP_EVERY_HOST_UP_TO: u64 = 65_536;
}

/// `--every` / `--count`: run again at a fixed interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub every: Duration,
    /// Stop after this many runs (`None`: until stopped).
    pub count: Option<u32>,
}

impl Schedule {
    /// `--every` (at least a second) and `--count` (at least one run).
    pub fn new(every: Duration, count: Option<u32>) -> Result<Self, OptionError> {
        if every < Duration::from_secs(1) {
            return Err(OptionError::new(
                "--every",
                format!("{every:?}: at least one second between runs"),
            ));
        }
        if count == Some(0) {
            return Err(OptionError::new("--count", "0: at least one run"));
        }
        Ok(Self { every, count })
    }
}

/// Where a threat pipeline reads connection events from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A file read to its end (or followed, with `follow`).
    File(PathBuf),
    /// Standard input, read to its end.
    Stdin,
}

impl SourceSpec {
    /// `-` is standard input, anything else a file.
    pub fn parse(s: &str) -> Self {
        if s == "-" {
            SourceSpec::Stdin
        } else {
            SourceSpec::File(PathBuf::from(s))
        }
    }

    pub fn name(&self) -> String {
        match self {
            SourceSpec::File(p) => p.display().to_string(),
            SourceSpec::Stdin => "-".to_owned(),
        }
    }
}

/// `--block`: which alerts cut their client off, for how long, behind which allow-list.
#[derive(Debug, Clone)]
pub struct BlockPolicy {
    pub allow: AllowList,
    pub min_severity: Severity,
    pub ttl: Duration,
}

/// A validated threat pipeline (`picket detect`).
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    pub sources: Vec<SourceSpec>,
    /// The event format; `None`: recognised from each source's content.
    pub input: Option<Input>,
    /// Keep reading growing files, with checkpoints in the store.
    pub follow: bool,
    pub home: HomeNet,
    pub settings: ThreatSettings,
    pub block: Option<BlockPolicy>,
    /// How often pending alerts are stored (and printed) while events keep coming.
    pub flush_every: Duration,
    /// How often a following pipeline asks the store whether feeds, suppressions or the
    /// inventory changed, to swap them into the running detector.
    pub knowledge_every: Duration,
}

impl PipelineOptions {
    /// Default flush and knowledge intervals: a second, and five seconds.
    pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
    pub const KNOWLEDGE_EVERY: Duration = Duration::from_secs(5);

    pub fn new(
        sources: Vec<SourceSpec>,
        input: Option<Input>,
        follow: bool,
        home: HomeNet,
        settings: ThreatSettings,
        block: Option<BlockPolicy>,
    ) -> Result<Self, OptionError> {
        if sources.is_empty() {
            return Err(OptionError::new("EVENTS", "name at least one event source"));
        }
        if follow && sources.contains(&SourceSpec::Stdin) {
            return Err(OptionError::new(
                "--follow",
                "reads files; stdin is read to its end without it",
            ));
        }
        Ok(Self {
            sources,
            input,
            follow,
            home,
            settings,
            block,
            flush_every: Self::FLUSH_EVERY,
            knowledge_every: Self::KNOWLEDGE_EVERY,
        })
    }
}

/// A validated `picket block`.
#[derive(Debug, Clone)]
pub struct BlockOptions {
    pub net: IpNet,
    pub ttl: Duration,
    pub reason: String,
    pub allow: AllowList,
}

impl BlockOptions {
    /// `picket block TARGET --ttl --reason --home-net --allow`.
    pub fn new(
        target: &str,
        ttl: &str,
        reason: &str,
        home: &[String],
        allow: &[String],
    ) -> Result<Self, OptionError> {
        let home = home_net(home)?;
        Ok(Self {
            net: net("block", target)?,
            ttl: span("--ttl", ttl)?,
            reason: reason.to_owned(),
            allow: allow_list(&home, allow)?,
        })
    }
}

/// A validated `picket vuln import`.
#[derive(Debug, Clone)]
pub struct VulnImportOptions {
    pub files: Vec<PathBuf>,
    /// For scanner reports: where the scanned application listens.
    pub at: Option<(IpAddr, u16)>,
    pub allow_shrink: bool,
}

impl VulnImportOptions {
    pub fn new(
        files: Vec<PathBuf>,
        at: Option<(IpAddr, u16)>,
        allow_shrink: bool,
    ) -> Result<Self, OptionError> {
        if files.is_empty() {
            return Err(OptionError::new("vuln import:", "name at least one file"));
        }
        Ok(Self {
            files,
            at,
            allow_shrink,
        })
    }
}

/// A validated `picket intel add`.
#[derive(Debug, Clone)]
pub struct IntelAddOptions {
    pub name: String,
    pub file: PathBuf,
    pub load: picket_intel::LoadOptions,
    pub allow_shrink: bool,
}

impl IntelAddOptions {
    /// `picket intel add NAME FILE --format --keep-bogons --allow-shrink`.
    pub fn new(
        name: &str,
        file: PathBuf,
        format: &str,
        keep_bogons: bool,
        allow_shrink: bool,
    ) -> Result<Self, OptionError> {
        Ok(Self {
            name: name.to_owned(),
            file,
            load: picket_intel::LoadOptions {
                format: feed_format(format)?,
                keep_bogons,
                ..picket_intel::LoadOptions::default()
            },
            allow_shrink,
        })
    }
}

/// How alerts are printed as they arise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertFormat {
    Report(Format),
    /// OCSF 1.3.0 Detection Findings, one a line.
    Ocsf,
}

/// `--format` of a report: table, json, ndjson or xml.
pub fn format(s: &str) -> Result<Format, OptionError> {
    s.parse::<Format>().map_err(|_| {
        OptionError::new(
            "--format",
            format!("{s:?}: expected table, json, ndjson or xml"),
        )
    })
}

/// `--format` of alerts: table, json, ndjson or ocsf.
pub fn alert_format(s: &str) -> Result<AlertFormat, OptionError> {
    if s == "ocsf" {
        return Ok(AlertFormat::Ocsf);
    }
    match format(s)? {
        Format::Xml => Err(OptionError::new(
            "--format",
            "xml: alerts are table, json, ndjson or ocsf",
        )),
        f => Ok(AlertFormat::Report(f)),
    }
}

/// `--format` of a listing (feeds, inventory, blocks): table, json or ndjson.
pub fn listing_format(s: &str) -> Result<Format, OptionError> {
    match format(s)? {
        Format::Xml => Err(OptionError::new("--format", "xml is only for scan results")),
        f => Ok(f),
    }
}

/// A severity flag (`--min-severity`): info, low, medium, high or critical.
pub fn severity(flag: &str, s: &str) -> Result<Severity, OptionError> {
    s.parse::<Severity>()
        .map_err(|_| OptionError::new(flag, format!("{s:?}: info, low, medium, high or critical")))
}

/// A span such as `--ttl`, `--window`, `--every`, `--since`: `30m`, `24h`, `7d`.
pub fn span(flag: &str, s: &str) -> Result<Duration, OptionError> {
    humantime::parse_duration(s.trim())
        .map_err(|e| OptionError::new(flag, format!("{s:?}: not a duration (e.g. 15m, 1h): {e}")))
}

/// A span back from now (`--since 24h`): the instant it names.
pub fn since(flag: &str, s: &str) -> Result<picket_model::Timestamp, OptionError> {
    let d = span(flag, s)?;
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| picket_model::Timestamp::now().checked_sub(d).ok())
        .ok_or_else(|| OptionError::new(flag, format!("{s:?}: reaches before any date")))
}

/// `--ttl` of a rule that lasts (a suppression): the instant it ends.
pub fn expiry(flag: &str, s: &str) -> Result<picket_model::Timestamp, OptionError> {
    let d = span(flag, s)?;
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| picket_model::Timestamp::now().checked_add(d).ok())
        .ok_or_else(|| OptionError::new(flag, format!("{s:?}: reaches past any date")))
}

/// A probe timeout (`--read-timeout`, `--ban-patience`): `500ms`, `2s`, `1m`; a bare number is
/// seconds, as Nessus writes `checks_read_timeout = 5`. Between 1 ms and 10 minutes.
pub fn timeout(flag: &str, s: &str) -> Result<Duration, OptionError> {
    let d = match s.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => Duration::from_secs_f64(secs),
        Ok(_) => return Err(OptionError::new(flag, format!("{s:?}: must be positive"))),
        Err(_) => humantime::parse_duration(s.trim()).map_err(|e| {
            OptionError::new(flag, format!("{s:?}: not a duration (e.g. 500ms, 2s): {e}"))
        })?,
    };
    if d.is_zero() || d > Duration::from_secs(600) {
        return Err(OptionError::new(
            flag,
            format!("{s:?}: must be between 1ms and 10m"),
        ));
    }
    Ok(d)
}

/// `--input`: auto (recognised from the content), or a named format with the short spellings
/// `zeek` and `vpc`.
pub fn input(s: &str) -> Result<Option<Input>, OptionError> {
    Ok(match s {
        "auto" => None,
        "zeek" => Some(Input::ZeekTsv),
        "vpc" => Some(Input::VpcFlow),
        other => Some(
            other
                .parse::<Input>()
                .map_err(|e| OptionError::new("--input", e.to_string()))?,
        ),
    })
}

/// `--home-net`: our networks; none given means the default private ranges.
pub fn home_net(flags: &[String]) -> Result<HomeNet, OptionError> {
    if flags.is_empty() {
        return Ok(HomeNet::default());
    }
    HomeNet::parse(&flags.join(",")).map_err(|e| OptionError::new("--home-net:", e))
}

/// The networks no block may touch: the default home ranges always (a `--home-net` names more of
/// ours, it never makes the private ranges blockable), `home`, and `--allow`.
pub fn allow_list(home: &HomeNet, allow: &[String]) -> Result<AllowList, OptionError> {
    let extra = allow
        .iter()
        .map(|a| net("--allow", a))
        .collect::<Result<Vec<_>, _>>()?;
    let protected = [HomeNet::default().nets(), home.nets()].concat();
    Ok(AllowList::new(&protected, &extra))
}

/// An address or a CIDR as a network (an address is its own /32 or /128), IPv4-mapped forms as
/// the IPv4 network they stand for.
pub fn net(flag: &str, s: &str) -> Result<IpNet, OptionError> {
    let t = s.trim();
    t.parse::<IpAddr>()
        .map(IpNet::from)
        .or_else(|_| t.parse::<IpNet>())
        .map(canonical_net)
        .map_err(|_| OptionError::new(flag, format!("{t:?} is not an address or CIDR")))
}

/// An IP address flag (`--client`, `--host`, `intel lookup IP`).
pub fn ip(flag: &str, s: &str) -> Result<IpAddr, OptionError> {
    s.parse::<IpAddr>()
        .map_err(|_| OptionError::new(flag, format!("{s:?}: not an IP address")))
}

/// `HOST:PORT`, with IPv6 in brackets (`[fd00::1]:22`).
pub fn host_port(flag: &str, s: &str) -> Result<(IpAddr, u16), OptionError> {
    let addr: SocketAddr = s.parse().map_err(|_| {
        OptionError::new(
            flag,
            format!("{s:?}: expected HOST:PORT (IPv6 as [ADDR]:PORT)"),
        )
    })?;
    if addr.port() == 0 {
        return Err(OptionError::new(flag, format!("{s:?}: port 0")));
    }
    Ok((canonical_ip(addr.ip()), addr.port()))
}

/// `intel add --format`: auto (`None`: recognised from the content) or a feed format.
pub fn feed_format(s: &str) -> Result<Option<picket_intel::FeedFormat>, OptionError> {
    use picket_intel::FeedFormat;
    if s == "auto" {
        return Ok(None);
    }
    FeedFormat::parse(s).map(Some).ok_or_else(|| {
        let known: Vec<&str> = FeedFormat::ALL.iter().map(|f| f.as_str()).collect();
        OptionError::new(
            "--format",
            format!("{s:?}: expected auto or one of {}", known.join(", ")),
        )
    })
}

/// `inventory add --product P --version V [--vendor N]`: names as NVD writes them, lowercase.
pub fn application(
    product: &str,
    version: Option<&str>,
    vendor: Option<&str>,
) -> picket_model::Application {
    let mut app = picket_model::Application::new(product.to_ascii_lowercase());
    app.version = version.map(str::to_owned);
    app.vendor = vendor.map(str::to_ascii_lowercase);
    app
}

/// `--cpe`: an application named by its CPE 2.3 name (the product must be named).
pub fn application_from_cpe(text: &str) -> Result<picket_model::Application, OptionError> {
    let cpe: picket_model::Cpe = text
        .parse()
        .map_err(|e| OptionError::new("--cpe", format!("{text:?}: {e}")))?;
    let Some(product) = cpe.product.as_value().map(str::to_owned) else {
        return Err(OptionError::new(
            "--cpe",
            format!("{text:?}: the product must be named"),
        ));
    };
    let mut app = picket_model::Application::new(product);
    app.vendor = cpe.vendor.as_value().map(str::to_owned);
    app.version = cpe.version.as_value().map(|v| match cpe.update.as_value() {
        // NVD writes OpenSSH 9.2p1 as version 9.2, update p1.
        Some(update) if update.starts_with('p') => format!("{v}{update}"),
        _ => v.to_owned(),
    });
    app.cpe = Some(cpe);
    Ok(app)
}

/// `--service-detect` with `--signatures`: the built-in signatures merged with the user's
/// files and folders.
pub fn signatures(
    paths: &[PathBuf],
) -> Result<Arc<picket_service::Signatures>, picket_service::ServiceError> {
    let mut signatures = picket_service::Signatures::builtin()?;
    for path in paths {
        let user = if path.is_dir() {
            picket_service::Signatures::load_dir(path)?
        } else {
            picket_service::Signatures::load_file(path)?
        };
        signatures = signatures.merge(user);
    }
    Ok(Arc::new(signatures))
}

/// The raw values of a scan profile as a front end received them (the CLI's flags, a server's
/// request); [`ProfileValues::profile`] validates them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileValues {
    /// `-p`: a port spec (`22,80,8000-8100`, `-` for all).
    pub ports: Option<String>,
    /// `--top-ports N` (default: [`ProfileValues::DEFAULT_TOP_PORTS`]).
    pub top_ports: Option<usize>,
    pub read_timeout: Option<String>,
    pub max_checks: Option<usize>,
    pub max_rate: Option<f64>,
    pub retries: Option<u8>,
    pub no_ping: bool,
    pub ban_patience: Option<String>,
    pub no_recheck: bool,
    pub seed: Option<u64>,
}

impl ProfileValues {
    pub const DEFAULT_TOP_PORTS: usize = 1000;

    /// The validated profile; a refusal names its flag.
    pub fn profile(&self) -> Result<ScanProfile, AppError> {
        let ports = match (&self.ports, self.top_ports) {
            (Some(spec), _) => spec.parse::<PortSet>()?,
            (None, n) => PortSet::from_ports(top_ports(n.unwrap_or(Self::DEFAULT_TOP_PORTS))?),
        };
        let mut profile = ScanProfile::new(ports);
        if let Some(t) = &self.read_timeout {
            profile.read_timeout = Some(timeout("--read-timeout", t)?);
        }
        if let Some(n) = self.max_checks {
            if n == 0 {
                return Err(OptionError::new(
                    "--max-checks",
                    "0: at least one probe must be allowed in flight",
                )
                .into());
            }
            profile.max_checks = n;
        }
        if let Some(rate) = self.max_rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(OptionError::new(
                    "--max-rate",
                    format!("{rate}: must be a positive number of probes per second"),
                )
                .into());
            }
            profile.max_rate = Some(rate);
        }
        if let Some(r) = self.retries {
            if r > 50 {
                return Err(OptionError::new("--retries", format!("{r}: at most 50")).into());
            }
            profile.retries = Some(r);
        }
        profile.assume_up = self.no_ping;
        if let Some(p) = &self.ban_patience {
            profile.ban_patience = timeout("--ban-patience", p)?;
        }
        profile.recheck = !self.no_recheck;
        if let Some(seed) = self.seed {
            profile.seed = seed;
        }
        Ok(profile)
    }
}

/// `alerts suppress`: a rule of the given criteria (at least one), lasting `--ttl` when given.
pub fn suppression(
    client: Option<&str>,
    port: Option<u16>,
    app: Option<&str>,
    reason: &str,
    ttl: Option<&str>,
) -> Result<Suppression, OptionError> {
    if client.is_none() && port.is_none() && app.is_none() {
        return Err(OptionError::new(
            "alerts suppress:",
            "give at least one of --client, --port, --app",
        ));
    }
    let mut rule = Suppression::new(reason, picket_model::Timestamp::now());
    rule.client = client.map(|c| net("--client", c)).transpose()?;
    rule.port = port;
    rule.application = app.map(str::to_ascii_lowercase);
    rule.expires_at = ttl.map(|t| expiry("--ttl", t)).transpose()?;
    Ok(rule)
}

/// `picket alerts --since --min-severity --client`: which stored alerts to list.
pub fn alert_filter(
    recent: Option<&str>,
    min_severity: Option<&str>,
    client: Option<&str>,
) -> Result<AlertFilter, OptionError> {
    Ok(AlertFilter {
        since: recent.map(|s| since("--since", s)).transpose()?,
        min_severity: min_severity
            .map(|s| severity("--min-severity", s))
            .transpose()?,
        client: client.map(|c| ip("--client", c)).transpose()?,
        ..AlertFilter::default()
    })
}

/// `picket findings --run --kind --host`: which stored findings to list.
pub fn finding_filter(
    run: Option<i64>,
    kind: Option<&str>,
    host: Option<&str>,
) -> Result<FindingFilter, OptionError> {
    let kind = kind
        .map(|k| {
            FindingKind::parse(k).ok_or_else(|| {
                OptionError::new(
                    "--kind",
                    format!(
                        "{k:?}: expected open-port-recheck, new-open-port or vulnerable-service"
                    ),
                )
            })
        })
        .transpose()?;
    Ok(FindingFilter {
        run: run.map(RunId),
        kind,
        host: host.map(|h| ip("--host", h)).transpose()?,
    })
}

/// `inventory add`: the application named by `--cpe`, or by `--product` (with `--version`,
/// `--vendor`).
pub fn inventory_application(
    cpe: Option<&str>,
    product: Option<&str>,
    version: Option<&str>,
    vendor: Option<&str>,
) -> Result<picket_model::Application, OptionError> {
    match (cpe, product) {
        (Some(cpe), _) => application_from_cpe(cpe),
        (None, Some(product)) => Ok(application(product, version, vendor)),
        (None, None) => Err(OptionError::new(
            "inventory add:",
            "give --cpe, or --product with --version",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_knobs_are_validated() {
        let values = ProfileValues {
            ports: Some("22,80".into()),
            read_timeout: Some("5".into()),
            max_checks: Some(10),
            max_rate: Some(100.0),
            retries: Some(3),
            no_recheck: true,
            ..ProfileValues::default()
        };
        let p = values.profile().unwrap();
        assert_eq!(p.ports.len(), 2);
        assert_eq!(p.read_timeout, Some(Duration::from_secs(5)));
        assert_eq!((p.max_checks, p.retries), (10, Some(3)));
        assert!(!p.recheck);
        let p = ProfileValues::default().profile().unwrap();
        assert_eq!(p.ports.len(), ProfileValues::DEFAULT_TOP_PORTS);
        assert!(p.recheck && p.read_timeout.is_none());
        for (bad, flag) in [
            (
                ProfileValues {
                    ports: Some("0".into()),
                    ..ProfileValues::default()
                },
                "",
            ),
            (
                ProfileValues {
                    read_timeout: Some("soon".into()),
                    ..ProfileValues::default()
                },
                "--read-timeout",
            ),
            (
                ProfileValues {
                    max_checks: Some(0),
                    ..ProfileValues::default()
                },
                "--max-checks",
            ),
            (
                ProfileValues {
                    max_rate: Some(0.0),
                    ..ProfileValues::default()
                },
                "--max-rate",
            ),
            (
                ProfileValues {
                    retries: Some(51),
                    ..ProfileValues::default()
                },
                "--retries",
            ),
        ] {
            let err = bad.profile().expect_err(flag);
            assert!(err.to_string().starts_with(flag), "{err}");
        }
    }

    #[test]
    fn listing_criteria_are_validated() {
        let rule = suppression(None, Some(22), Some("OpenSSH"), "why", Some("1h")).unwrap();
        assert_eq!(rule.application.as_deref(), Some("openssh"));
        assert!(rule.expires_at.is_some());
        assert!(suppression(None, None, None, "why", None).is_err());
        assert!(suppression(Some("nowhere"), None, None, "why", None).is_err());
        let filter =
            finding_filter(Some(3), Some("new-open-port"), Some("::ffff:10.0.0.1")).unwrap();
        assert_eq!(filter.kind, Some(FindingKind::NewOpenPort));
        let err = finding_filter(None, Some("nonsense"), None).unwrap_err();
        assert!(err.to_string().starts_with("--kind \"nonsense\""), "{err}");
        assert!(alert_filter(Some("soon"), None, None).is_err());
        assert!(alert_filter(None, Some("high"), Some("10.0.0.1")).is_ok());
        assert!(inventory_application(None, None, None, None).is_err());
        let app = inventory_application(None, Some("OpenSSH"), Some("9.2p1"), None).unwrap();
        assert_eq!(app.product, "openssh");
    }

    #[test]
    fn every_refusal_names_its_flag() {
        for (result, flag) in [
            (format("pdf").map(|_| ()), "--format"),
            (alert_format("xml").map(|_| ()), "--format"),
            (
                severity("--min-severity", "dire").map(|_| ()),
                "--min-severity",
            ),
            (span("--ttl", "soon").map(|_| ()), "--ttl"),
            (timeout("--read-timeout", "0").map(|_| ()), "--read-timeout"),
            (
                timeout("--read-timeout", "11m").map(|_| ()),
                "--read-timeout",
            ),
            (input("pcap").map(|_| ()), "--input"),
            (home_net(&["10.0.0.0/33".into()]).map(|_| ()), "--home-net"),
            (net("--allow", "nowhere").map(|_| ()), "--allow"),
            (host_port("--at", "10.0.0.1:0").map(|_| ()), "--at"),
            (since("--since", "99999999999d").map(|_| ()), "--since"),
        ] {
            let err = result.expect_err(flag);
            assert!(err.to_string().starts_with(flag), "{err}");
        }
    }

    #[test]
    fn values_parse_once_into_their_types() {
        assert_eq!(alert_format("ocsf").unwrap(), AlertFormat::Ocsf);
        assert_eq!(
            alert_format("ndjson").unwrap(),
            AlertFormat::Report(Format::Ndjson)
        );
        assert_eq!(severity("-", "high").unwrap(), Severity::High);
        assert_eq!(span("-", "24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(timeout("-", "5").unwrap(), Duration::from_secs(5));
        assert_eq!(input("zeek").unwrap(), Some(Input::ZeekTsv));
        assert_eq!(
            host_port("-", "[::ffff:10.0.0.1]:22").unwrap(),
            ("10.0.0.1".parse().unwrap(), 22)
        );
        assert_eq!(
            net("-", "::ffff:10.0.0.0/104").unwrap(),
            "10.0.0.0/8".parse::<IpNet>().unwrap()
        );
    }

    #[test]
    fn a_follow_of_stdin_is_refused() {
        let settings = ThreatSettings {
            window: Duration::from_secs(3600),
            min_feeds: 1,
        };
        let err = PipelineOptions::new(
            vec![SourceSpec::Stdin],
            None,
            true,
            HomeNet::default(),
            settings,
            None,
        )
        .unwrap_err();
        assert_eq!(err.flag, "--follow");
    }
}
