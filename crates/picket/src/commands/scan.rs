//! `picket scan`: open the store, run picket-app's exposure workflow (once or on a schedule)
//! with a progress bar, render each stored run.

use std::io::Write;

use anyhow::Result;
use picket_app::{Shutdown, exposure};

use crate::options::Scan;
use crate::progress::Progress;

pub fn run(
    db: &str,
    scan: &Scan,
    rt: &tokio::runtime::Runtime,
    shutdown: &Shutdown,
    out: &mut dyn Write,
) -> Result<()> {
    // Open the store first: a bad --db must fail before a single probe is sent.
    let mut store = picket_store::open(db)?;
    let mut progress = Progress::new();
    exposure::run(
        store.as_mut(),
        rt.handle(),
        &scan.options,
        scan.schedule,
        &mut |step| progress.on_step(step),
        shutdown,
        &mut |outcome| {
            picket_report::scan(&mut *out, scan.format, &outcome.run, &outcome.findings)?;
            out.flush()?;
            Ok(())
        },
    )?;
    Ok(())
}
