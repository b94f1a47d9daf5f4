//! `picket runs`, `picket diff`, `picket findings`: read what the store keeps.

use std::io::Write;

use anyhow::Result;
use picket_model::RunId;
use picket_store::prelude::*;

use crate::cli::{DiffArgs, FindingsArgs, RunsArgs};
use picket_app::options::format as parse_format;

pub fn runs(db: &str, args: &RunsArgs, out: &mut dyn Write) -> Result<()> {
    let format = parse_format(&args.format)?;
    let store = picket_store::open(db)?;
    // A distributed run whose coordinator died is listed as aborted, not running forever.
    picket_app::distributed::abort_stale_runs(&store)?;
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
    let filter =
        picket_app::options::finding_filter(args.run, args.kind.as_deref(), args.host.as_deref())?;
    let store = picket_store::open(db)?;
    let findings = store.findings(&filter)?;
    picket_report::findings(out, format, &findings)?;
    Ok(())
}
