//! Manual blocks (`picket block`, `picket unblock`): the nftables change through picket-respond,
//! always behind the allow-list guard, and its record in the store. A plan (`--dry-run`) shows
//! exactly what would run. This module must never apply a change the guard refused, nor record
//! a block that was not applied.

use ipnet::IpNet;
pub use picket_model::ActiveBlock;
use picket_model::Timestamp;
use picket_respond::{AllowList, Change, Nft, Outcome, Plan};
use picket_store::prelude::*;
use picket_store::{BlockRecord, Store};

use crate::error::AppError;
use crate::options::BlockOptions;
use crate::threat::sinks::expiry;

/// The nftables script a block would run, checked by the guard.
pub fn plan_block(opts: &BlockOptions) -> Result<Plan, AppError> {
    let nft = Nft::new(opts.allow.clone());
    Ok(nft.plan(&Change::Block {
        net: opts.net,
        ttl: Some(opts.ttl),
    })?)
}

/// Applies the block, then records it. Open the store before calling: a bad store must not
/// leave a block without its record.
pub fn block(store: &Store, opts: &BlockOptions) -> Result<Outcome, AppError> {
    let nft = Nft::new(opts.allow.clone());
    let outcome = nft.block(opts.net, Some(opts.ttl))?;
    let now = Timestamp::now();
    store.record_block(&BlockRecord {
        id: None,
        net: opts.net,
        reason: opts.reason.clone(),
        alert_id: None,
        created_at: now,
        expires_at: expiry(now, opts.ttl),
        removed_at: None,
    })?;
    Ok(outcome)
}

/// Lifts a block and marks it lifted in the history; `false` when nothing was blocked.
pub fn unblock(store: &Store, net: IpNet) -> Result<bool, AppError> {
    // Unblocking needs no allow-list: lifting a block can never lock anyone out.
    let nft = Nft::new(AllowList::new(&[], &[]));
    let removed = nft.unblock(net)?;
    store.mark_unblocked(net, Timestamp::now())?;
    Ok(removed)
}

/// The blocks in force (from nftables) joined with their history (from the store).
pub fn blocks(store: &Store) -> Result<Vec<ActiveBlock>, AppError> {
    let nft = Nft::new(AllowList::new(&[], &[]));
    let live = nft.list()?;
    let history = store.blocks(Some(Timestamp::now()))?;
    Ok(live
        .iter()
        .map(|e| {
            let rec = history.iter().rev().find(|b| b.net == e.net);
            ActiveBlock {
                net: e.net.to_string(),
                expires_in_s: e.expires_in.map(|d| d.as_secs()),
                reason: rec.map(|b| b.reason.clone()),
                alert_id: rec.and_then(|b| b.alert_id),
                since: rec.map(|b| b.created_at),
            }
        })
        .collect())
}
