//! `picket block`, `picket unblock`, `picket blocks`: nftables sets with timeouts, behind an
//! allow-list that always holds loopback and the home nets.

use std::io::Write;

use anyhow::{Context, Result};
use picket_model::Timestamp;
use picket_respond::{Change, Nft};
use picket_store::BlockRecord;
use picket_store::prelude::*;
use serde::Serialize;

use crate::cli::{BlockArgs, BlocksArgs, UnblockArgs};
use crate::commands::knowledge;
use crate::render::listing;

pub fn block(db: &str, args: &BlockArgs, out: &mut dyn Write) -> Result<()> {
    let net = knowledge::parse_net(&args.target)?;
    let ttl =
        humantime::parse_duration(&args.ttl).with_context(|| format!("--ttl {:?}", args.ttl))?;
    let home = knowledge::home_net(&args.home_net)?;
    let nft = Nft::new(knowledge::allow_list(&home, &args.allow)?);
    if args.dry_run {
        let plan = nft.plan(&Change::Block {
            net,
            ttl: Some(ttl),
        })?;
        writeln!(out, "# would {}", plan.outcome())?;
        write!(out, "{}", plan.script())?;
        return Ok(());
    }
    // Check the store first: a bad --db must not leave a block without its record.
    let store = picket_store::open(db)?;
    let outcome = nft.block(net, Some(ttl))?;
    let now = Timestamp::now();
    store.record_block(&BlockRecord {
        id: None,
        net,
        reason: args.reason.clone(),
        alert_id: None,
        created_at: now,
        expires_at: jiff::SignedDuration::try_from(ttl)
            .ok()
            .and_then(|d| now.checked_add(d).ok()),
        removed_at: None,
    })?;
    writeln!(out, "{outcome} (for {})", humantime::format_duration(ttl))?;
    Ok(())
}

pub fn unblock(db: &str, args: &UnblockArgs, out: &mut dyn Write) -> Result<()> {
    let net = knowledge::parse_net(&args.target)?;
    let store = picket_store::open(db)?;
    // Unblocking needs no allow-list: lifting a block can never lock anyone out.
    let nft = Nft::new(picket_respond::AllowList::new(&[], &[]));
    let removed = nft.unblock(net)?;
    store.mark_unblocked(net, Timestamp::now())?;
    if removed {
        writeln!(out, "{net} unblocked")?;
    } else {
        writeln!(out, "{net} was not blocked")?;
    }
    Ok(())
}

pub fn blocks(db: &str, args: &BlocksArgs, out: &mut dyn Write) -> Result<()> {
    let format = crate::options::parse_format(&args.format)?;
    let nft = Nft::new(picket_respond::AllowList::new(&[], &[]));
    let live = nft.list()?;
    let store = picket_store::open(db)?;
    let history = store.blocks(Some(Timestamp::now()))?;
    #[derive(Serialize)]
    struct Row {
        net: String,
        expires_in_s: Option<u64>,
        reason: Option<String>,
        alert_id: Option<i64>,
        since: Option<Timestamp>,
    }
    let records: Vec<Row> = live
        .iter()
        .map(|e| {
            let rec = history.iter().rev().find(|b| b.net == e.net);
            Row {
                net: e.net.to_string(),
                expires_in_s: e.expires_in.map(|d| d.as_secs()),
                reason: rec.map(|b| b.reason.clone()),
                alert_id: rec.and_then(|b| b.alert_id),
                since: rec.map(|b| b.created_at),
            }
        })
        .collect();
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.net.clone(),
                r.expires_in_s
                    .map(|s| {
                        humantime::format_duration(std::time::Duration::from_secs(s)).to_string()
                    })
                    .unwrap_or_else(|| "never".into()),
                r.since
                    .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| "-".into()),
                r.reason
                    .clone()
                    .unwrap_or_else(|| "(not blocked by picket)".into()),
            ]
        })
        .collect();
    listing(
        out,
        format,
        &["BLOCKED", "EXPIRES IN", "SINCE", "REASON"],
        &rows,
        &records,
        "Nothing is blocked.",
    )
}
