//! `picket block`, `picket unblock`, `picket blocks`: nftables sets with timeouts, behind an
//! allow-list that always holds loopback and the home nets.

use std::io::Write;

use anyhow::Result;
use picket_app::options::{self as parse, BlockOptions};
use picket_app::respond;

use crate::cli::{BlockArgs, BlocksArgs, UnblockArgs};

pub fn block(db: &str, args: &BlockArgs, out: &mut dyn Write) -> Result<()> {
    let opts = BlockOptions::new(
        &args.target,
        &args.ttl,
        &args.reason,
        &args.home_net,
        &args.allow,
    )?;
    if args.dry_run {
        let plan = respond::plan_block(&opts)?;
        writeln!(out, "# {}", plan.outcome().would())?;
        write!(out, "{}", plan.script())?;
        return Ok(());
    }
    // Check the store first: a bad --db must not leave a block without its record.
    let store = picket_store::open(db)?;
    let outcome = respond::block(&store, &opts)?;
    writeln!(
        out,
        "{outcome} (for {})",
        humantime::format_duration(opts.ttl)
    )?;
    if let Some(url) = &args.nats {
        crate::commands::queue::publish_block(url, args.pool.as_deref(), &opts)?;
        writeln!(out, "published to every enforcer of {url}")?;
    }
    Ok(())
}

pub fn unblock(db: &str, args: &UnblockArgs, out: &mut dyn Write) -> Result<()> {
    let net = parse::net("unblock", &args.target)?;
    let store = picket_store::open(db)?;
    let removed = respond::unblock(&store, net)?;
    if removed {
        writeln!(out, "{net} unblocked")?;
    } else {
        writeln!(out, "{net} was not blocked")?;
    }
    Ok(())
}

pub fn blocks(db: &str, args: &BlocksArgs, out: &mut dyn Write) -> Result<()> {
    let format = parse::listing_format(&args.format)?;
    let store = picket_store::open(db)?;
    picket_report::listings::blocks(out, format, &respond::blocks(&store)?)?;
    Ok(())
}
