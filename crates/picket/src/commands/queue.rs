//! The scale-out commands: `picket worker` (pull shards and scan them until stopped, a line on
//! stderr per shard) and `picket workers` (the queue's heartbeats, rendered by picket-report).
//! Workflows are picket-app's `distributed`; this module only validates, calls and renders.

use std::io::Write;

use anyhow::Result;
use picket_app::Shutdown;
use picket_app::distributed::worker::{self, WorkerEvent};
use picket_app::distributed::{self, NodeOptions, Redelivery};
use picket_app::error::OptionError;
use picket_app::options::{listing_format, span};

use crate::cli::{WorkerArgs, WorkersArgs};

/// Validated `picket worker` flags.
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
    let summary = worker::run(
        rt.handle(),
        &node,
        redelivery,
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
