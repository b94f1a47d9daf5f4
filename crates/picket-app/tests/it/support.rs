//! What the tests share: a store in a temporary directory, the CLI's fixtures, and a sink that
//! keeps what a pipeline hands it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use picket_app::AppError;
use picket_app::threat::{Notice, StoredAlert, ThreatSink};
use picket_model::Alert;
use picket_report::AlertChangeKind;

/// A fixture of the CLI's end-to-end tests.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../picket/tests/fixtures")
        .join(name)
}

/// An SQLite store in its own temporary directory (kept alive with the path).
pub struct Db {
    pub dir: tempfile::TempDir,
}

impl Db {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn location(&self) -> String {
        self.dir.path().join("picket.db").display().to_string()
    }

    pub fn open(&self) -> picket_store::Store {
        picket_store::open(&self.location()).unwrap()
    }
}

/// What a pipeline handed its sink, shared with the test thread.
#[derive(Default)]
pub struct Seen {
    pub alerts: Vec<(AlertChangeKind, Alert)>,
    pub swaps: Vec<picket_app::knowledge::Swapped>,
    pub suppressed: Option<u64>,
    /// Events the detector saw, from the summary.
    pub events: Option<u64>,
    pub new_alerts: Option<u64>,
}

#[derive(Clone, Default)]
pub struct Collect(pub Arc<Mutex<Seen>>);

impl Collect {
    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.0.lock().unwrap())
    }
}

impl ThreatSink for Collect {
    fn alert(&mut self, stored: StoredAlert<'_>) -> Result<(), AppError> {
        self.0
            .lock()
            .unwrap()
            .alerts
            .push((stored.kind, stored.alert.clone()));
        Ok(())
    }

    fn notice(&mut self, notice: Notice<'_>) {
        let mut seen = self.0.lock().unwrap();
        match notice {
            Notice::KnowledgeSwapped(swapped) => seen.swaps.push(swapped),
            Notice::Summary {
                stats, new_alerts, ..
            } => {
                seen.suppressed = Some(stats.suppressed);
                seen.events = Some(stats.events);
                seen.new_alerts = Some(new_alerts);
            }
            _ => {}
        }
    }
}

/// Appends Zeek conn.log rows (ts, client, host, port) to `path`, writing the header first when
/// the file is new.
pub fn zeek_rows(path: &Path, rows: &[(f64, &str, &str, u16)]) {
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    if new {
        writeln!(f, "#separator \\x09").unwrap();
        writeln!(f, "#set_separator\t,").unwrap();
        writeln!(f, "#empty_field\t(empty)").unwrap();
        writeln!(f, "#unset_field\t-").unwrap();
        writeln!(f, "#path\tconn").unwrap();
        writeln!(f, "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents").unwrap();
        writeln!(f, "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]").unwrap();
    }
    for (i, (ts, client, host, port)) in rows.iter().enumerate() {
        writeln!(
            f,
            "{ts:.6}\tC{i}\t{client}\t{}\t{host}\t{port}\ttcp\t-\t1.5\t5000\t300\tSF\tF\tT\t0\tShADadFf\t20\t5800\t15\t900\t(empty)",
            40000 + i,
        )
        .unwrap();
    }
    f.sync_all().unwrap();
}

/// Waits up to `secs` for `done`.
pub fn eventually(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
