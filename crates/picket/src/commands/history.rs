//! `picket runs`, `picket diff`, `picket findings`: read what the store keeps.

use std::io::Write;

use anyhow::{Context, Result, bail};
use picket_model::{FindingKind, RunId};
use picket_store::FindingFilter;
use picket_store::prelude::*;

use crate::cli::{DiffArgs, FindingsArgs, RunsArgs};
use crate::options::parse_format;

pub fn runs(db: &str, args: &RunsArgs, out: &mut dyn Write) -> Result<()> {
    let format = parse_format(&args.format)?;
    let store = picket_store::open(db)?;
    let runs = store.runs(args.limit)?;
    picket_report::runs(out, format, &runs)?;
    Ok(())
}

pub fn diff(db: &str, args: &DiffArgs, out: &mut dyn Write) -> Result<()> {
    let format = parse_format(&args.format)?;
    let store = picket_store::open(db)?;
    let (from, to) = match (args.from, args.to) {
        (Some(a), Some(b)) => (RunId(a), RunId(b)),
        (Some(_), None) | (None, Some(_)) => {
            bail!("diff takes two run ids, or none for the last two runs")
        }
        (None, None) => {
            let newest = store
                .runs(1)?
                .into_iter()
                .next()
                .context("no runs stored yet: run `picket scan` first")?;
            match crate::commands::scan::last_two(&store, &newest.target_key)? {
                Some(pair) => pair,
                None => bail!(
                    "only one completed run of {:?}: nothing to compare yet",
                    newest.target_key
                ),
            }
        }
    };
    let a = store.run(from)?.with_context(|| format!("no run {from}"))?;
    let b = store.run(to)?.with_context(|| format!("no run {to}"))?;
    picket_report::diff(out, format, &picket_detect::exposure::diff(&a, &b))?;
    Ok(())
}

pub fn findings(db: &str, args: &FindingsArgs, out: &mut dyn Write) -> Result<()> {
    let format = parse_format(&args.format)?;
    let kind = match &args.kind {
        Some(k) => Some(FindingKind::parse(k).with_context(|| {
            format!("--kind {k:?}: expected open-port-recheck, new-open-port or vulnerable-service")
        })?),
        None => None,
    };
    let host = match &args.host {
        Some(h) => Some(
            h.parse()
                .with_context(|| format!("--host {h:?}: not an IP address"))?,
        ),
        None => None,
    };
    let store = picket_store::open(db)?;
    let filter = FindingFilter {
        run: args.run.map(RunId),
        kind,
        host,
    };
    let findings = store.findings(&filter)?;
    picket_report::findings(out, format, &findings)?;
    Ok(())
}
