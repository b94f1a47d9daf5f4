//! The raw command line, as clap parses it. Nothing here is validated beyond its type:
//! `options` turns these into the validated structs the engines take.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "picket",
    version,
    about = "Network exposure and threat monitor: what is open, did it really change, and who is knocking.",
    after_help = "Nmap-style spellings are accepted too: -iL FILE, -Pn, -p-, -sT, -sV, -oX FILE, -oN FILE."
)]
pub struct Cli {
    /// Where runs and findings are stored: an SQLite file, or a postgres:// URL.
    // The value may hold a password: `--help` names the variable, never shows its value.
    #[arg(
        long,
        global = true,
        env = "PICKET_DB",
        hide_env_values = true,
        default_value = "picket.db"
    )]
    pub db: String,

    /// Write the report to FILE instead of standard output (created, or replaced). Nmap's
    /// `-oX FILE` and `-oN FILE` are `--format xml -o FILE` and `--format table -o FILE`. For
    /// `scan`, `{run}` in FILE is replaced by each run's id: one file per run (needed with
    /// --every, e.g. `-o 'scan-{run}.xml'`).
    #[arg(long, short = 'o', global = true, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// More diagnostics on standard error: -v info, -vv debug, -vvv trace. PICKET_LOG (a
    /// tracing filter such as `picket_scan=debug,warn`) overrides.
    #[arg(long, short = 'v', action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Diagnostics on standard error for errors only.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan TCP ports, store the run, re-check ports that were open before, report findings.
    Scan(ScanArgs),
    /// List stored runs, newest first.
    Runs(RunsArgs),
    /// Show what changed between two runs (default: the last two runs of the same targets).
    Diff(DiffArgs),
    /// List stored findings.
    Findings(FindingsArgs),
    /// Threat-intelligence feeds: add, list, remove, look up an address.
    #[command(subcommand)]
    Intel(IntelCommand),
    /// Import vulnerability knowledge: NVD, OSV, CISA KEV, EPSS, Trivy/Grype/CycloneDX reports.
    #[command(subcommand)]
    Vuln(VulnCommand),
    /// Which application listens where, and its known vulnerabilities.
    Inventory(InventoryArgs),
    /// Read connection events and raise alerts for listed clients reaching vulnerable applications.
    Detect(DetectArgs),
    /// Stored alerts, and suppression rules.
    Alerts(AlertsArgs),
    /// Block a client address or network with nftables (behind the allow-list).
    Block(BlockArgs),
    /// Lift a block.
    Unblock(UnblockArgs),
    /// Blocks in force (from nftables) and their history (from the store).
    Blocks(BlocksArgs),
    /// Run as a service: scheduled scans, log watchers, feed refresh, alert sinks, the HTTP API,
    /// the dashboard and /metrics, until SIGTERM or SIGINT.
    Serve(ServeArgs),
    /// Service configuration: check a file, or print a commented example.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Work for a distributed scan (and with --detect, detect threats) as one of many nodes
    /// sharing a NATS JetStream server.
    Worker(WorkerArgs),
    /// The workers of a NATS JetStream server: role, shards in flight, last heartbeat.
    Workers(WorkersArgs),
    /// Publish connection events to a NATS JetStream server for `picket worker --detect`.
    Ingest(IngestArgs),
    /// Apply every block published on a NATS JetStream server to this node's nftables set
    /// (behind the allow-list), as a bouncer.
    Enforce(EnforceArgs),
    /// Print a shell completion script (e.g. `picket completions bash > /etc/bash_completion.d/picket`).
    Completions {
        /// bash, elvish, fish, powershell or zsh.
        shell: clap_complete::Shell,
    },
    /// Print the manual page, in roff (e.g. `picket man | man -l -`).
    Man,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The service's TOML configuration (`picket config example` prints one).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Listen on ADDRESS:PORT instead of the file's `listen`.
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub listen: Option<String>,
    /// Read the API token from FILE instead of the file's `token_file`.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration: status 0 when valid, 2 with the line and key of every error.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
    /// Print a commented sample configuration.
    Example,
}

#[derive(Debug, Subcommand)]
pub enum IntelCommand {
    /// Load a feed into the store; a feed of the same name is replaced atomically.
    Add {
        /// The feed's name in the store (and in alerts); a feed of this name is replaced.
        name: String,
        /// The feed file.
        file: PathBuf,
        /// auto, firehol, spamhaus-drop, spamhaus-json, ipsum, plain, tor-exits, stix, misp-csv,
        /// misp-json, zeek-intel.
        #[arg(long, default_value = "auto")]
        format: String,
        /// Keep bogon and private ranges (left out by default).
        #[arg(long)]
        keep_bogons: bool,
        /// Replace the stored feed even when the new file holds less than half of its entries.
        #[arg(long)]
        allow_shrink: bool,
    },
    /// List loaded feeds.
    List {
        /// table, json or ndjson.
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
    },
    /// Remove a feed.
    Remove {
        /// The feed's name, as `intel list` shows it.
        name: String,
    },
    /// Every indicator, from every feed, that covers an address.
    Lookup {
        /// An IPv4 or IPv6 address.
        ip: String,
        /// table, json or ndjson.
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum VulnCommand {
    /// Import files; the kind is recognised from the content.
    Import {
        /// NVD CVE JSON, OSV records, the CISA KEV catalog, EPSS CSV, Trivy/Grype/CycloneDX
        /// reports.
        files: Vec<PathBuf>,
        /// For scanner reports (Trivy, Grype, CycloneDX): the host:port the scanned application
        /// listens on, so its packages join the inventory there.
        #[arg(long, value_name = "HOST:PORT")]
        at: Option<String>,
        /// Replace a stored KEV catalogue or EPSS scores even when the new file holds less than
        /// half of their entries.
        #[arg(long)]
        allow_shrink: bool,
    },
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    #[command(subcommand)]
    pub command: Option<InventoryCommand>,
    /// table, json or ndjson.
    #[arg(long, short = 'f', default_value = "table", global = true)]
    pub format: String,
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Record the application at HOST:PORT, by CPE or by product and version.
    Add {
        /// Where it listens (IPv6 as [ADDR]:PORT).
        #[arg(value_name = "HOST:PORT")]
        at: String,
        /// The application's CPE 2.3 name (cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*).
        #[arg(long, conflicts_with_all = ["product"])]
        cpe: Option<String>,
        /// The product as NVD names it (openssh, nginx, http_server).
        #[arg(long, requires = "version")]
        product: Option<String>,
        /// The upstream version (9.2p1).
        #[arg(long)]
        version: Option<String>,
        /// The vendor as NVD names it (openbsd), when the product name alone is ambiguous.
        #[arg(long)]
        vendor: Option<String>,
    },
    /// Forget an application at HOST:PORT (entered by hand unless --source is given).
    Remove {
        /// Where it listens (IPv6 as [ADDR]:PORT).
        #[arg(value_name = "HOST:PORT")]
        at: String,
        /// Who recorded it, as `inventory` lists it: manual, scan, report:FILE.
        #[arg(long, default_value = "manual")]
        source: String,
    },
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Event files (`-` for stdin).
    #[arg(required = true)]
    pub events: Vec<String>,
    /// auto, zeek, zeek-json, suricata, vpc, conntrack or ndjson.
    #[arg(long, default_value = "auto")]
    pub input: String,
    /// Keep reading growing files; resume from the stored checkpoint after a restart.
    #[arg(long)]
    pub follow: bool,
    /// Our networks (default: private, CGNAT, ULA, loopback and link-local ranges).
    #[arg(long, value_delimiter = ',', value_name = "CIDR")]
    pub home_net: Vec<String>,
    /// How long one alert gathers connections.
    #[arg(long, default_value = "1h")]
    pub window: String,
    /// Feeds that must list a client before it counts.
    #[arg(long, default_value_t = 1)]
    pub min_feeds: usize,
    /// Block alerted clients with nftables (behind the allow-list).
    #[arg(long)]
    pub block: bool,
    /// With --block: the least severe alert that blocks.
    #[arg(long, default_value = "high")]
    pub min_severity: String,
    /// With --block: how long a block lasts.
    #[arg(long, default_value = "24h")]
    pub ttl: String,
    /// Networks that may never be blocked, besides loopback and the home nets.
    #[arg(long, value_delimiter = ',', value_name = "CIDR", env = "PICKET_ALLOW")]
    pub allow: Vec<String>,
    /// table, json, ndjson or ocsf (alerts as they arise).
    #[arg(long, short = 'f', default_value = "table")]
    pub format: String,
    /// Exit with status N when an alert was raised or updated (a CI step fails on what it
    /// finds, as Trivy's --exit-code); 0 keeps status 0.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub exit_code: u8,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub command: Option<AlertsCommand>,
    /// Only alerts whose last connection is this recent (e.g. 24h).
    #[arg(long)]
    pub since: Option<String>,
    /// Only alerts at least this severe: info, low, medium, high, critical.
    #[arg(long)]
    pub min_severity: Option<String>,
    /// Only this client.
    #[arg(long)]
    pub client: Option<String>,
    /// table, json, ndjson or ocsf (OCSF 1.3.0 Detection Findings, one a line).
    #[arg(long, short = 'f', default_value = "table", global = true)]
    pub format: String,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Add a suppression rule: alerts matching every given field are not raised.
    Suppress {
        /// Clients in this address or network.
        #[arg(long, value_name = "CIDR")]
        client: Option<String>,
        /// Connections to this port.
        #[arg(long)]
        port: Option<u16>,
        /// Application product name.
        #[arg(long)]
        app: Option<String>,
        /// Why (shown with the rule and counted suppressions).
        #[arg(long)]
        reason: String,
        /// How long the rule lasts (default: until removed).
        #[arg(long)]
        ttl: Option<String>,
    },
    /// List suppression rules.
    Suppressions,
    /// Remove a suppression rule.
    Unsuppress {
        /// The rule's id, as `alerts suppressions` lists it.
        id: i64,
    },
}

#[derive(Debug, Args)]
pub struct BlockArgs {
    /// An address or CIDR.
    pub target: String,
    /// How long the block lasts (e.g. 30m, 24h, 7d).
    #[arg(long, default_value = "24h")]
    pub ttl: String,
    /// Print the nftables script instead of applying it.
    #[arg(long)]
    pub dry_run: bool,
    /// Why (kept with the block's history).
    #[arg(long, default_value = "manual")]
    pub reason: String,
    /// Also publish the block on this NATS JetStream server, for every node's `picket enforce`.
    #[arg(long, value_name = "URL", conflicts_with = "dry_run")]
    pub nats: Option<String>,
    /// With --nats: the pool of enforcers.
    #[arg(long, value_name = "NAME", requires = "nats")]
    pub pool: Option<String>,
    /// Our networks, never blocked, in addition to the private, CGNAT, ULA, loopback and
    /// link-local ranges, which are never blocked either.
    #[arg(long, value_delimiter = ',', value_name = "CIDR")]
    pub home_net: Vec<String>,
    /// More networks that may never be blocked.
    #[arg(long, value_delimiter = ',', value_name = "CIDR", env = "PICKET_ALLOW")]
    pub allow: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UnblockArgs {
    /// The address or CIDR blocked before, as `blocks` lists it.
    pub target: String,
}

#[derive(Debug, Args)]
pub struct BlocksArgs {
    /// table or json.
    #[arg(long, short = 'f', default_value = "table")]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Addresses, CIDRs (10.0.0.0/24), ranges (10.0.0.1-20, fd00::1-fd00::9) or hostnames.
    pub targets: Vec<String>,

    /// Read targets from a file, one or more per line, `#` starts a comment (Nmap -iL).
    #[arg(long = "input-list", value_name = "FILE")]
    pub input_list: Vec<PathBuf>,

    /// Targets to leave out, comma-separated or repeated.
    #[arg(long, value_delimiter = ',', value_name = "TARGET")]
    pub exclude: Vec<String>,

    /// Read exclusions from a file.
    #[arg(long, value_name = "FILE")]
    pub exclude_file: Vec<PathBuf>,

    /// Ports: 22,80,8000-8100; `-` (or -p-) for all 65,535.
    #[arg(
        short = 'p',
        long,
        value_name = "SPEC",
        conflicts_with = "top_ports",
        allow_hyphen_values = true
    )]
    pub ports: Option<String>,

    /// The N most often open ports (default: 1000).
    #[arg(long, value_name = "N")]
    pub top_ports: Option<usize>,

    /// Fixed time to wait for each answer (Nessus checks_read_timeout), e.g. 500ms, 2s.
    /// Default: measured from round-trip times as the scan goes.
    #[arg(long, value_name = "DURATION")]
    pub read_timeout: Option<String>,

    /// Ceiling on probes in flight at once (Nessus max_checks).
    #[arg(long, value_name = "N")]
    pub max_checks: Option<usize>,

    /// Ceiling on probes per second. Default: found by the engine.
    #[arg(long, value_name = "PER_SECOND")]
    pub max_rate: Option<f64>,

    /// Retries per silent port. Default: chosen from the loss the engine measures.
    #[arg(long, value_name = "N")]
    pub retries: Option<u8>,

    /// Skip host discovery and scan every address even when nothing answers (Nmap -Pn).
    /// Default: each address is first asked on ports 80, 443, 22 and 3389, with an ICMP echo
    /// where the process may send one, and with ARP on a directly attached segment; addresses
    /// where nothing answers are reported down.
    #[arg(long)]
    pub no_ping: bool,

    /// Look up the reverse DNS name (PTR) of every host found up (Nmap -R); names are shown
    /// beside the address and written in every format. Default: no lookups, so a scan sends
    /// nothing to a DNS server.
    #[arg(short = 'R', long, conflicts_with = "no_resolve")]
    pub resolve: bool,

    /// Never look up reverse DNS names (Nmap -n): the default, accepted for Nmap command lines.
    #[arg(short = 'n', long)]
    pub no_resolve: bool,

    /// How long to wait for a host that went silent mid-scan (an IPS ban) before giving up its
    /// remaining ports, e.g. 10m. Default: 5m, longer than the common two-minute bans.
    #[arg(long, value_name = "DURATION")]
    pub ban_patience: Option<String>,

    /// Do not re-check ports that were open in the previous run.
    #[arg(long)]
    pub no_recheck: bool,

    /// Identify the service and version behind each open port (Nmap -sV); detected services
    /// join the inventory and are matched against the imported vulnerabilities.
    #[arg(long)]
    pub service_detect: bool,

    /// More service signatures: a file or a folder of `*.toml` files (with --service-detect).
    #[arg(long, value_name = "PATH", requires = "service_detect")]
    pub signatures: Vec<PathBuf>,

    /// Seed of the probe order (a run can be replayed in the same order).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Scan again on a schedule: every DURATION (e.g. 15m, 1h) until stopped. Each run is stored
    /// and compared with the one before it.
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,

    /// With --every: stop after this many runs.
    #[arg(long, value_name = "N", requires = "every")]
    pub count: Option<u32>,

    /// Output format: table, json, ndjson or xml (Nmap's XML).
    #[arg(long, short = 'f', default_value = "table")]
    pub format: String,

    /// Have the workers of this NATS JetStream server scan (`picket worker --nats URL` on each
    /// node), e.g. nats://10.0.0.5:4222. The run is assembled and stored here (use a postgres://
    /// --db shared by the nodes to see it everywhere), then re-checked as a local run is.
    #[arg(long, value_name = "URL")]
    pub queue: Option<String>,

    /// With --queue: the pool of workers that scan (default: default).
    #[arg(long, value_name = "NAME", requires = "queue")]
    pub pool: Option<String>,

    /// With --queue: (host, port) pairs per shard. Default: the work split evenly over the
    /// pool's live workers, one shard each (at least 4,096 pairs).
    #[arg(long, value_name = "N", requires = "queue")]
    pub shard_probes: Option<usize>,

    /// With --queue: resume RUN, a distributed run whose coordinator was stopped or died
    /// (aborted, or running with a heartbeat over a minute old). Its targets and profile are
    /// scanned again as a new run: results of RUN's shards still on the stream (kept a day)
    /// are filed, and only the shards without one are published. Give no targets.
    #[arg(long, value_name = "RUN", requires = "queue", conflicts_with = "every")]
    pub resume: Option<i64>,

    /// Exit with status N when a run raised findings (a CI step fails on what it finds, as
    /// Trivy's --exit-code); 0 keeps status 0.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub exit_code: u8,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The NATS JetStream server, e.g. nats://10.0.0.5:4222.
    #[arg(long, value_name = "URL", env = "PICKET_NATS")]
    pub nats: String,
    /// The pool this worker serves (coordinators name it with --pool).
    #[arg(long, value_name = "NAME")]
    pub pool: Option<String>,
    /// This worker's name in `picket workers` (default: host name and process id).
    #[arg(long, value_name = "NAME")]
    pub id: Option<String>,
    /// How long a shard may go without an ack before the server hands it to another worker
    /// (the worker sends in-progress acks while it scans). Set by the first worker of a pool.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub ack_wait: String,
    /// How many times a shard is delivered before the server gives up on it (the
    /// coordinator's run then fails naming it). Set by the first worker of a pool.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_deliver: i64,
    /// This worker's ceiling on probes per second (the scan engine's, like `scan --max-rate`).
    /// A run's own `--max-rate` travels in its shards and applies per worker too; the lower
    /// of the two wins.
    #[arg(long, value_name = "PER_SECOND", conflicts_with = "detect")]
    pub max_rate: Option<f64>,
    /// Detect threats instead of scanning: pull connection events published by `picket ingest
    /// --to`, sharing the stream with the pool's other detectors; alerts go to the store
    /// (--db: a postgres:// URL shared by the detectors) and to standard output.
    #[arg(long)]
    pub detect: bool,
    /// With --detect: our networks (default: private, CGNAT, ULA, loopback and link-local).
    #[arg(long, value_delimiter = ',', value_name = "CIDR", requires = "detect")]
    pub home_net: Vec<String>,
    /// With --detect: how long one alert gathers connections.
    #[arg(long, default_value = "1h")]
    pub window: String,
    /// With --detect: feeds that must list a client before it counts.
    #[arg(long, default_value_t = 1)]
    pub min_feeds: usize,
    /// With --detect: publish blocks of alerted clients for every node's `picket enforce`.
    #[arg(long, requires = "detect")]
    pub block: bool,
    /// With --block: the least severe alert that blocks.
    #[arg(long, default_value = "high")]
    pub min_severity: String,
    /// With --block: how long a block lasts.
    #[arg(long, default_value = "24h")]
    pub ttl: String,
    /// With --detect: table, json, ndjson or ocsf (alerts as they arise).
    #[arg(long, short = 'f', default_value = "table")]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Event files (`-` for stdin).
    #[arg(required = true)]
    pub events: Vec<String>,
    /// The NATS JetStream server to publish to, e.g. nats://10.0.0.5:4222.
    #[arg(long, value_name = "URL", env = "PICKET_NATS")]
    pub to: String,
    /// The pool of detectors.
    #[arg(long, value_name = "NAME")]
    pub pool: Option<String>,
    /// auto, zeek, zeek-json, suricata, vpc, conntrack or ndjson.
    #[arg(long, default_value = "auto")]
    pub input: String,
    /// Keep reading growing files; resume from the checkpoint in the store (--db) after a
    /// restart.
    #[arg(long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct EnforceArgs {
    /// The NATS JetStream server, e.g. nats://10.0.0.5:4222.
    #[arg(long, value_name = "URL", env = "PICKET_NATS")]
    pub nats: String,
    /// The pool whose blocks to apply.
    #[arg(long, value_name = "NAME")]
    pub pool: Option<String>,
    /// This node's name in `picket workers`.
    #[arg(long, value_name = "NAME")]
    pub id: Option<String>,
    /// Our networks, never blocked, in addition to the private, CGNAT, ULA, loopback and
    /// link-local ranges, which are never blocked either.
    #[arg(long, value_delimiter = ',', value_name = "CIDR")]
    pub home_net: Vec<String>,
    /// More networks that may never be blocked.
    #[arg(long, value_delimiter = ',', value_name = "CIDR", env = "PICKET_ALLOW")]
    pub allow: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WorkersArgs {
    /// The NATS JetStream server.
    #[arg(long, value_name = "URL", env = "PICKET_NATS")]
    pub nats: String,
    /// table, json or ndjson.
    #[arg(long, short = 'f', default_value = "table")]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// How many runs to list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// table, json or ndjson.
    #[arg(long, short = 'f', default_value = "table")]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older run.
    pub from: Option<i64>,
    /// The newer run.
    pub to: Option<i64>,
    /// table, json or ndjson.
    #[arg(long, short = 'f', default_value = "table")]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// Only findings of this run.
    #[arg(long)]
    pub run: Option<i64>,
    /// Only this kind: open-port-recheck, new-open-port or vulnerable-service.
    #[arg(long)]
    pub kind: Option<String>,
    /// Only this host.
    #[arg(long)]
    pub host: Option<String>,
    /// table, json or ndjson.
    #[arg(long, short = 'f', default_value = "table")]
    pub format: String,
}

/// Rewrites Nmap's multi-letter short options into their long forms, which clap understands.
pub fn nmap_spellings(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    for arg in args {
        match arg.as_str() {
            "-iL" => out.push("--input-list".to_owned()),
            "-Pn" => out.push("--no-ping".to_owned()),
            "-sV" => out.push("--service-detect".to_owned()),
            // A TCP connect scan is what Picket does: nothing to change.
            "-sT" => {}
            "-oX" | "-oN" => {
                let format = if arg == "-oX" { "xml" } else { "table" };
                out.extend(["--format".to_owned(), format.to_owned(), "-o".to_owned()]);
            }
            "-p-" => {
                out.push("-p".to_owned());
                out.push("-".to_owned());
            }
            _ => out.push(arg),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nmap_spellings_become_long_options() {
        let args = nmap_spellings(
            [
                "picket", "scan", "-iL", "f", "-Pn", "-sT", "-p-", "10.0.0.1",
            ]
            .map(String::from),
        );
        let cli = Cli::try_parse_from(args).unwrap();
        let Command::Scan(scan) = cli.command else {
            panic!("not scan")
        };
        assert_eq!(scan.input_list, vec![PathBuf::from("f")]);
        assert!(scan.no_ping);
        assert_eq!(scan.ports.as_deref(), Some("-"));
    }

    #[test]
    fn reverse_dns_is_asked_for_with_r_and_never_with_n() {
        let scan = |args: &[&str]| {
            let cli = Cli::try_parse_from(["picket", "scan", "10.0.0.1"].iter().chain(args))?;
            let Command::Scan(scan) = cli.command else {
                panic!("not scan")
            };
            Ok::<_, clap::Error>((scan.resolve, scan.no_resolve))
        };
        assert_eq!(scan(&[]).unwrap(), (false, false));
        assert_eq!(scan(&["-R"]).unwrap(), (true, false));
        assert_eq!(scan(&["--resolve"]).unwrap(), (true, false));
        assert_eq!(scan(&["-n"]).unwrap(), (false, true));
        assert!(scan(&["-R", "-n"]).is_err());
    }

    #[test]
    fn verbosity_flags() {
        let cli = Cli::try_parse_from(["picket", "runs", "-vv"]).unwrap();
        assert_eq!((cli.verbose, cli.quiet), (2, false));
        let cli = Cli::try_parse_from(["picket", "-q", "runs"]).unwrap();
        assert_eq!((cli.verbose, cli.quiet), (0, true));
        assert!(Cli::try_parse_from(["picket", "-q", "-v", "runs"]).is_err());
    }

    #[test]
    fn every_argument_has_help() {
        use clap::CommandFactory;
        fn missing(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.get_help().is_none() && !["help", "version"].contains(&id) {
                    out.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    out.push(format!("{path} {} (no about)", sub.get_name()));
                }
                missing(sub, &format!("{path} {}", sub.get_name()), out);
            }
        }
        let mut out = Vec::new();
        missing(&Cli::command(), "picket", &mut out);
        assert!(out.is_empty(), "without help text:\n{}", out.join("\n"));
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
