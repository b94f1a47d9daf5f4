//! `picket scan`: open the store, run picket-app's exposure workflow (once or on a schedule)
//! with a progress bar, render each stored run (to the report writer, or to a file of its own
//! per run), and say on stderr where each run was stored.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use picket_app::{AppError, Shutdown, exposure};
use picket_report::SafeWriter;

use crate::options::Scan;
use crate::progress::Progress;

/// What `-o` names in a per-run file name, replaced by the run's id.
const RUN_PLACEHOLDER: &str = "{run}";

/// Where the reports go.
pub enum Report<'a> {
    /// Every run to one writer.
    Writer(&'a mut dyn Write),
    /// Each run to a file of its own: the path with `{run}` replaced by the run's id.
    PerRun(&'a Path),
}

/// Whether an `-o` path names one file per run.
pub fn is_per_run(path: &Path) -> bool {
    path.to_string_lossy().contains(RUN_PLACEHOLDER)
}

fn per_run_path(pattern: &Path, run: picket_model::RunId) -> PathBuf {
    PathBuf::from(
        pattern
            .to_string_lossy()
            .replace(RUN_PLACEHOLDER, &run.to_string()),
    )
}

/// Runs the scan; `true` when a run raised findings.
pub fn run(
    db: &str,
    scan: &Scan,
    rt: &tokio::runtime::Runtime,
    shutdown: &Shutdown,
    mut report: Report<'_>,
    quiet: bool,
) -> Result<bool> {
    // Open the store first: a bad --db must fail before a single probe is sent.
    let store = picket_store::open(db)?;
    let stored_in = picket_model::without_password(db);
    let mut progress = Progress::new();
    let mut found = false;
    let via = match &scan.queue {
        Some(queue) => exposure::Via::Queue(queue),
        None => exposure::Via::Local,
    };
    // `--resume RUN`: the run's own targets and profile.
    let mut options = scan.options.clone();
    if let Some(run) = scan.queue.as_ref().and_then(|q| q.resume) {
        (options.targets, options.profile) = picket_app::distributed::resumable(&store, run)?;
    }
    exposure::run_via(
        &store,
        rt.handle(),
        &options,
        via,
        scan.schedule,
        &mut |step| progress.on_step(step),
        shutdown,
        &mut |outcome| {
            found |= !outcome.findings.is_empty();
            let file = match &mut report {
                Report::Writer(out) => {
                    picket_report::scan(&mut **out, scan.format, &outcome.run, &outcome.findings)?;
                    out.flush()?;
                    None
                }
                Report::PerRun(pattern) => {
                    let path = per_run_path(pattern, outcome.run.id);
                    write_file(&path, |out| {
                        picket_report::scan(out, scan.format, &outcome.run, &outcome.findings)
                    })?;
                    Some(path)
                }
            };
            if !quiet {
                let report = file
                    .map(|p| format!("; report in {}", p.display()))
                    .unwrap_or_default();
                eprintln!(
                    "picket: run {} stored in {stored_in} ({}){report}",
                    outcome.run.id,
                    picket_report::counted(outcome.findings.len() as u64, "finding", "findings"),
                );
            }
            Ok(())
        },
    )?;
    Ok(found)
}

/// Writes one report file through the terminal guard, synced before it counts as written.
fn write_file(
    path: &Path,
    render: impl FnOnce(&mut dyn Write) -> Result<(), picket_report::ReportError>,
) -> Result<(), AppError> {
    let named = |what: &str, e: std::io::Error| {
        AppError::Io(std::io::Error::new(
            e.kind(),
            format!("-o {}: cannot {what} the file: {e}", path.display()),
        ))
    };
    let file = std::fs::File::create(path).map_err(|e| named("create", e))?;
    let mut out = BufWriter::new(file);
    render(&mut SafeWriter::new(&mut out))?;
    out.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .map_err(|e| named("write", e))
}
