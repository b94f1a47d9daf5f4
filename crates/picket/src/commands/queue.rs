//! The scale-out commands: `picket worker` (pull shards and scan them until stopped, a line on
//! stderr per shard; with `--detect`, a detector printing alerts), `picket workers` (the
//! queue's heartbeats, rendered by picket-report), `picket ingest --to` (events onto the
//! stream) and `picket enforce` (published blocks onto this node's nftables set).
//! Workflows are picket-app's `distributed`; this module only validates, calls and renders.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use picket_app::Shutdown;
use picket_app::distributed::detect::{self, DetectOptions};
use picket_app::distributed::enforce::{self, EnforceEvent, EnforceOptions};
use picket_app::distributed::publish::{self, IngestOptions};
use picket_app::distributed::worker::{self, ScanWorkerOptions, WorkerEvent};
use picket_app::distributed::{self, NodeOptions, Redelivery};
use picket_app::error::OptionError;
use picket_app::options::SourceSpec;
use picket_app::options::{listing_format, span};

use crate::cli::{EnforceArgs, IngestArgs, WorkerArgs, WorkersArgs};
use crate::commands::detect::Printer;

/// Validated `picket worker` flags (those every node shares).
fn node(args: &WorkerArgs) -> Result<(NodeOptions, Redelivery)> {
    let url = distributed::nats_url("--nats", &args.nats)?;
    let pool = distributed::pool_name(args.pool.as_deref())?;
    let ack_wait = span("--ack-wait", &args.ack_wait)?;
    if args.max_deliver < 1 {
        return Err(OptionError::new("--max-deliver", "must be at least 1").into());
    }
    Ok((
        NodeOptions::new(url, pool, args.id.clone()),
        Redelivery {
            ack_wait,
            max_deliver: args.max_deliver,
        },
    ))
}

/// Runs a scan worker until the signal.
pub fn worker(
    args: &WorkerArgs,
    rt: &tokio::runtime::Runtime,
    shutdown: &Shutdown,
    quiet: bool,
) -> Result<()> {
    let (node, redelivery) = node(args)?;
    let opts = ScanWorkerOptions::new(node, redelivery).with_max_rate(args.max_rate)?;
    let node = &opts.node;
    let summary = worker::run(
        rt.handle(),
        &opts,
        &mut |event| {
            if !quiet {
                report(&event);
            }
        },
        shutdown,
    )?;
    if !quiet {
        eprintln!(
            "picket: worker {} stopped: {} done, {} handed back",
            picket_report::shown(&node.id),
            picket_report::counted(summary.shards, "shard", "shards"),
            summary.handed_back,
        );
    }
    Ok(())
}

fn report(event: &WorkerEvent<'_>) {
    match event {
        WorkerEvent::Ready { id } => eprintln!(
            "picket: worker {} ready, pulling shards",
            picket_report::shown(id)
        ),
        WorkerEvent::ShardStarted {
            run,
            shard,
            of,
            delivered,
        } => {
            let again = if *delivered > 1 {
                format!(" (delivery {delivered}: an earlier worker did not finish it)")
            } else {
                String::new()
            };
            eprintln!(
                "picket: run {} shard {shard} of {of} started{again}",
                picket_report::shown(run)
            );
        }
        WorkerEvent::ShardDone {
            run,
            shard,
            hosts,
            open,
            elapsed,
        } => eprintln!(
            "picket: run {} shard {shard}: {}, {} open, in {:.1}s",
            picket_report::shown(run),
            picket_report::counted(*hosts as u64, "host", "hosts"),
            open,
            elapsed.as_secs_f64()
        ),
        WorkerEvent::BadMessage(e) => eprintln!("picket: {}", picket_report::shown(&e.to_string())),
    }
}

/// `picket workers`.
pub fn workers(args: &WorkersArgs, out: &mut dyn Write) -> Result<()> {
    let url = distributed::nats_url("--nats", &args.nats)?;
    let format = listing_format(&args.format)?;
    // The NATS client drives its connection from a task of its own: it needs a worker thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let list = distributed::workers(rt.handle(), &url)?;
    picket_report::listings::workers(out, format, &list, picket_model::Timestamp::now())?;
    Ok(())
}

/// `picket worker --detect`: a detector until the signal; alerts printed as the store takes
/// them.
pub fn detect(
    db: &str,
    args: &WorkerArgs,
    rt: &tokio::runtime::Runtime,
    shutdown: &Shutdown,
    out: &mut dyn Write,
) -> Result<()> {
    let (node, redelivery) = node(args)?;
    let format = picket_app::options::alert_format(&args.format)?;
    let home = picket_app::options::home_net(&args.home_net)?;
    let settings = picket_detect::threat::ThreatSettings {
        window: span("--window", &args.window)?,
        min_feeds: args.min_feeds,
    };
    let block = if args.block {
        Some(picket_app::options::BlockPolicy {
            allow: picket_app::options::allow_list(&home, &[])?,
            min_severity: picket_app::options::severity("--min-severity", &args.min_severity)?,
            ttl: span("--ttl", &args.ttl)?,
        })
    } else {
        None
    };
    let opts = DetectOptions {
        node,
        home,
        settings,
        redelivery,
        flush_every: picket_app::options::PipelineOptions::FLUSH_EVERY,
        block,
    };
    let store = picket_store::open(db)?;
    let mut printer = Printer::new(out, format);
    let summary = detect::run(&store, rt.handle(), &opts, &mut printer, shutdown)?;
    eprintln!(
        "picket: detector {} stopped: {}, {} new, {} updated, {} published",
        picket_report::shown(&opts.node.id),
        picket_report::counted(summary.events, "event", "events"),
        summary.new_alerts,
        summary.updated_alerts,
        picket_report::counted(summary.blocks, "block", "blocks"),
    );
    Ok(())
}

/// `picket ingest --to`.
pub fn ingest(
    db: Option<&str>,
    args: &IngestArgs,
    rt: &tokio::runtime::Runtime,
    shutdown: &Shutdown,
    quiet: bool,
) -> Result<()> {
    let opts = IngestOptions {
        sources: args.events.iter().map(|e| SourceSpec::parse(e)).collect(),
        input: picket_app::options::input(&args.input)?,
        follow: args.follow,
        url: distributed::nats_url("--to", &args.to)?,
        pool: distributed::pool_name(args.pool.as_deref())?
            .unwrap_or_else(|| distributed::DEFAULT_POOL.into()),
    };
    let store = match db {
        Some(db) if args.follow => Some(picket_store::open(db)?),
        _ if args.follow => {
            return Err(OptionError::new(
                "--follow",
                "keeps its checkpoints in the store: give --db",
            )
            .into());
        }
        _ => None,
    };
    let summary = publish::run(
        store.as_ref(),
        rt.handle(),
        &opts,
        &mut |e| eprintln!("picket: skipped {}", picket_report::shown(&e.to_string())),
        shutdown,
    )?;
    if !quiet {
        eprintln!(
            "picket: published {} to {} ({} skipped)",
            picket_report::counted(summary.events, "event", "events"),
            opts.url,
            picket_report::counted(summary.bad_lines, "bad line", "bad lines"),
        );
    }
    Ok(())
}

/// `picket enforce`: applies published blocks until the signal.
pub fn enforce(
    args: &EnforceArgs,
    rt: &tokio::runtime::Runtime,
    shutdown: &Shutdown,
    quiet: bool,
) -> Result<()> {
    let url = distributed::nats_url("--nats", &args.nats)?;
    let pool = distributed::pool_name(args.pool.as_deref())?;
    let home = picket_app::options::home_net(&args.home_net)?;
    let allow = picket_app::options::allow_list(&home, &args.allow)?;
    let opts = EnforceOptions {
        node: NodeOptions::new(url, pool, args.id.clone()),
        allow,
    };
    let applied = enforce::run(
        rt.handle(),
        &opts,
        &mut |event| {
            if quiet {
                return;
            }
            match event {
                EnforceEvent::Ready { id } => eprintln!(
                    "picket: enforcer {} ready, applying published blocks",
                    picket_report::shown(id)
                ),
                EnforceEvent::Applied {
                    net: _,
                    ttl,
                    outcome,
                    reason,
                } => eprintln!(
                    "picket: {outcome} for {} ({})",
                    humantime::format_duration(Duration::from_secs(ttl.as_secs())),
                    picket_report::shown(reason)
                ),
                EnforceEvent::Refused(e) => eprintln!("picket: not blocking: {e}"),
                EnforceEvent::Expired { net } => {
                    eprintln!("picket: {net}: the block expired before it arrived")
                }
            }
        },
        shutdown,
    )?;
    if !quiet {
        eprintln!("picket: enforcer stopped: {applied} applied");
    }
    Ok(())
}

/// Publishes a block that `picket block` applied here to every enforcer of the pool.
pub fn publish_block(
    url: &str,
    pool: Option<&str>,
    opts: &picket_app::options::BlockOptions,
) -> Result<()> {
    let url = distributed::nats_url("--nats", url)?;
    let pool = distributed::pool_name(pool)?.unwrap_or_else(|| distributed::DEFAULT_POOL.into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    enforce::publish(rt.handle(), &url, &pool, opts.net, opts.ttl, &opts.reason)?;
    Ok(())
}
