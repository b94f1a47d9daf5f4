//! `picket runs`, `picket diff`, `picket findings`: read what the store keeps.

use std::io::Write;

use anyhow::{Context, Result};
use picket_model::{FindingKind, RunId};
use picket_store::FindingFilter;
use picket_store::prelude::*;

use crate::cli::{DiffArgs, FindingsArgs, RunsArgs};
use picket_app::options::format as parse_format;

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
    let diff = picket_app::exposure::diff(&store, args.from.map(RunId), args.to.map(RunId))?;
    picket_report::diff(out, format, &diff)?;
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
        Some(h) => Some(picket_app::options::ip("--host", h)?),
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
