//! `picket enforce`: a bouncer, as CrowdSec's are. It reads every block published on the
//! pool's blocks subject (those still stored first, then new ones as they come) and applies
//! each that has not expired to this node's nftables set for the time it has left, through
//! picket-respond, so the allow-list guard (loopback, the home nets, `--allow`) refuses what
//! this node must never block, whoever asked. Each node decides with its own allow-list.
//!
//! It must never block without the guard, print, or write the store (the block's origin
//! recorded it).

use std::time::Duration;

use futures_util::StreamExt;
use ipnet::IpNet;
use picket_model::{Timestamp, WorkerRole};
use picket_queue::Queue;
use picket_respond::{AllowList, Nft, Outcome, RespondError};
use tokio::runtime::Handle;

use super::NodeOptions;
use super::worker::{heartbeats, status};
use crate::error::AppError;
use crate::shutdown::Shutdown;

/// `picket enforce`.
#[derive(Debug, Clone)]
pub struct EnforceOptions {
    pub node: NodeOptions,
    /// What this node never blocks (loopback and the home nets always).
    pub allow: AllowList,
}

/// What an enforcer did with one published block.
#[derive(Debug)]
pub enum EnforceEvent<'a> {
    Ready {
        id: &'a str,
    },
    Applied {
        net: IpNet,
        ttl: Duration,
        outcome: &'a Outcome,
        reason: &'a str,
    },
    /// The allow-list refused it: the guard working.
    Refused(&'a RespondError),
    /// Expired before it arrived.
    Expired {
        net: IpNet,
    },
}

/// Applies blocks until `shutdown`; how many were applied.
pub fn run(
    rt: &Handle,
    opts: &EnforceOptions,
    events: &mut dyn FnMut(EnforceEvent<'_>),
    shutdown: &Shutdown,
) -> Result<u64, AppError> {
    let nft = Nft::new(opts.allow.clone());
    nft.ensure()?;
    // The NATS subscription behind the block stream needs the runtime's context when dropped.
    let _context = rt.enter();
    let queue = rt.block_on(super::connect(&opts.node))?;
    let status = status(&opts.node, WorkerRole::Enforce);
    let first = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
    rt.block_on(queue.heartbeat(&first))?;
    let beats = heartbeats(rt, &queue, &status, opts.node.heartbeat_every);
    events(EnforceEvent::Ready { id: &opts.node.id });
    let mut blocks = Box::pin(rt.block_on(queue.blocks())?);
    let mut applied = 0u64;
    let outcome = loop {
        let next = rt.block_on(async {
            tokio::select! {
                b = blocks.next() => Some(b),
                () = shutdown.wait() => None,
            }
        });
        let Some(Some(block)) = next else {
            break Ok(());
        };
        let block = match block {
            Ok(b) => b,
            Err(e) => break Err(e.into()),
        };
        let left = std::time::Duration::try_from(block.until.duration_since(Timestamp::now()));
        let ttl = match left {
            Ok(ttl) if ttl >= Duration::from_secs(1) => ttl,
            _ => {
                events(EnforceEvent::Expired { net: block.net });
                continue;
            }
        };
        // nft runs as a child process: off the runtime's threads.
        match nft.block(block.net, Some(ttl)) {
            Ok(outcome) => {
                applied += 1;
                status.lock().unwrap_or_else(|e| e.into_inner()).done += 1;
                events(EnforceEvent::Applied {
                    net: block.net,
                    ttl,
                    outcome: &outcome,
                    reason: &block.reason,
                });
            }
            Err(e @ RespondError::Allowed { .. }) => events(EnforceEvent::Refused(&e)),
            Err(e) => break Err(e.into()),
        }
    };
    beats.abort();
    let _ = rt.block_on(queue.leave(&opts.node.id));
    outcome.map(|()| applied)
}

/// Publishes a block for every enforcer of the pool (`picket block --nats`, detectors).
pub fn publish(
    rt: &Handle,
    url: &str,
    pool: &str,
    net: IpNet,
    ttl: Duration,
    reason: &str,
) -> Result<(), AppError> {
    let now = Timestamp::now();
    let until = crate::threat::sinks::expiry(now, ttl).unwrap_or(now);
    rt.block_on(async {
        let queue = Queue::connect(url, pool).await?;
        queue
            .publish_block(&picket_queue::BlockMsg {
                v: picket_queue::VERSION,
                net,
                until,
                reason: reason.to_owned(),
            })
            .await?;
        Ok(())
    })
}
