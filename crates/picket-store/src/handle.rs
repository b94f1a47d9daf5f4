//! [`Store`], the handle every caller holds: cheap to clone, shared by threads, over SQLite (one
//! writer connection behind a mutex and a small pool of read-only connections, in WAL mode) or
//! PostgreSQL (a pool of connections). It must never let two threads use one connection at
//! once, nor let a transaction span two connections.

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::IpNet;
use picket_model::{
    Alert, AlertTriage, Application, FeedMeta, Finding, HostResult, Indicator, KnowledgeKey,
    KnowledgeRow, KnowledgeSource, RunId, RunSummary, ScanProfile, ScanRun, Suppression, Targets,
    Timestamp, Vulnerability,
};

use crate::capability::{AlertStore, BlockStore, IntelStore, InventoryStore, RunStore, VulnStore};
use crate::conn::Conn;
use crate::pool::Pool;
use crate::postgres::PgConn;
use crate::sqlite::SqliteConn;
use crate::store::Session;
use crate::{
    AlertCount, AlertFilter, AlertWrite, BlockRecord, ClaimedCheckpoint, FeedSummary,
    FindingFilter, IndicatorSlice, InventoryEntry, SourceApplications, StoreError, TriagedAlert,
    VulnRecord, VulnSourceSummary,
};

/// How many read-only connections an SQLite store keeps at most.
const SQLITE_READERS: usize = 4;
/// How many connections a PostgreSQL store keeps at most.
const POSTGRES_CONNECTIONS: usize = 8;

/// An open store. Obtain one with [`crate::open`]; clone it to share it (clones use the same
/// connections). Its operations are in the capability traits ([`RunStore`], [`IntelStore`],
/// [`InventoryStore`], [`VulnStore`], [`AlertStore`], [`BlockStore`]; `use
/// picket_store::prelude::*` brings them all).
///
/// Every call blocks the calling thread until the database answers. From async code, use
/// [`Store::blocking`] (and [`crate::open_async`]): a PostgreSQL call made on a thread of an
/// async runtime panics, its client blocking on a runtime of its own.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    /// The database as shown in errors: a path, or a URL without its password.
    location: String,
    backend: Backend,
}

enum Backend {
    /// Writes take the one writer (SQLite allows one writer at a time anyway, and waiting on a
    /// mutex is cheaper and fairer than on SQLite's busy timeout). `readers` is `None` for an
    /// in-memory database, which no second connection can see: it reads through the writer.
    ///
    /// The readers are declared first so that they close first: the last connection to close
    /// folds the write-ahead log into the database file, and a read-only one cannot, which
    /// would leave the file to change under the next process that merely opens it.
    Sqlite {
        readers: Option<Pool<SqliteConn>>,
        writer: Mutex<SqliteConn>,
    },
    Postgres(Pool<PgConn>),
}

impl Store {
    /// Opens the SQLite database at `path` and brings its schema up to date.
    pub(crate) fn sqlite(path: &Path) -> Result<Self, StoreError> {
        let location = path.display().to_string();
        let mut writer = SqliteConn::open(path)?;
        Session::new(&mut writer, &location).migrate()?;
        let readers = (!SqliteConn::is_memory(path)).then(|| {
            let path = path.to_owned();
            Pool::new(
                SQLITE_READERS,
                None,
                Box::new(move || SqliteConn::open_reader(&path)),
            )
        });
        Ok(Self::new(
            location,
            Backend::Sqlite {
                writer: Mutex::new(writer),
                readers,
            },
        ))
    }

    /// Connects to PostgreSQL at `url` and brings its schema up to date.
    pub(crate) fn postgres(url: &str) -> Result<Self, StoreError> {
        let location = picket_model::without_password(url);
        let mut first = PgConn::connect(url)?;
        Session::new(&mut first, &location).migrate()?;
        let url = url.to_owned();
        let pool = Pool::new(
            POSTGRES_CONNECTIONS,
            Some(first),
            Box::new(move || PgConn::connect(&url)),
        );
        Ok(Self::new(location, Backend::Postgres(pool)))
    }

    fn new(location: String, backend: Backend) -> Self {
        Self {
            shared: Arc::new(Shared { location, backend }),
        }
    }

    /// Runs `work` with a clone of this handle on tokio's blocking threads, so that async code
    /// waits for the database without blocking its runtime:
    /// `store.blocking(move |s| s.runs(10)).await`. A panic in `work` resumes in the caller.
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.clone();
        match tokio::task::spawn_blocking(move || work(&store)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::RuntimeShutDown {
                location: self.shared.location.clone(),
            }),
        }
    }

    /// Runs `work` on the connection that writes.
    fn write<T>(
        &self,
        work: impl FnOnce(&mut Session<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let location = &self.shared.location;
        match &self.shared.backend {
            Backend::Sqlite { writer, .. } => {
                let mut conn = lock_writer(writer);
                work(&mut Session::new(&mut *conn, location))
            }
            Backend::Postgres(pool) => work(&mut Session::new(&mut *pool.get()?, location)),
        }
    }

    /// Runs `work`, which only reads, on a connection that need not wait for the writer.
    fn read<T>(
        &self,
        work: impl FnOnce(&mut Session<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let location = &self.shared.location;
        match &self.shared.backend {
            Backend::Sqlite {
                readers: Some(pool),
                ..
            } => work(&mut Session::new(&mut *pool.get()?, location)),
            Backend::Sqlite {
                writer,
                readers: None,
            } => work(&mut Session::new(&mut *lock_writer(writer), location)),
            Backend::Postgres(pool) => work(&mut Session::new(&mut *pool.get()?, location)),
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match &self.shared.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        };
        f.debug_struct("Store")
            .field("backend", &backend)
            .field("location", &self.shared.location)
            .finish()
    }
}

impl Drop for Shared {
    /// Closing a PostgreSQL connection blocks on the client's own runtime, which panics on a
    /// thread of another runtime: when the last handle goes away inside one, the connections
    /// are closed on a plain thread instead.
    fn drop(&mut self) {
        if let Backend::Postgres(pool) = &self.backend
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let idle = pool.take_idle();
            std::thread::spawn(move || drop(idle));
        }
    }
}

/// The writer, even after a thread panicked while holding it; a transaction that panic left
/// open is rolled back first (there is none otherwise, and then the rollback fails harmlessly).
fn lock_writer(writer: &Mutex<SqliteConn>) -> MutexGuard<'_, SqliteConn> {
    writer.lock().unwrap_or_else(|poisoned| {
        writer.clear_poison();
        let mut conn = poisoned.into_inner();
        let _ = conn.batch("ROLLBACK");
        conn
    })
}

impl RunStore for Store {
    fn begin_run(
        &self,
        targets: &Targets,
        profile: &ScanProfile,
        started_at: Timestamp,
    ) -> Result<RunId, StoreError> {
        self.write(|s| s.begin_run(targets, profile, started_at))
    }

    fn save_hosts(&self, run: RunId, hosts: &[HostResult]) -> Result<(), StoreError> {
        self.write(|s| s.save_hosts(run, hosts))
    }

    fn finish_run(&self, run: &ScanRun) -> Result<(), StoreError> {
        self.write(|s| s.finish_run(run))
    }

    fn save_findings(&self, findings: &mut [Finding]) -> Result<(), StoreError> {
        self.write(|s| s.save_findings(findings))
    }

    fn finish_run_with_findings(
        &self,
        run: &ScanRun,
        findings: &mut [Finding],
    ) -> Result<(), StoreError> {
        self.write(|s| s.finish_run_with_findings(run, findings))
    }

    fn run(&self, id: RunId) -> Result<Option<ScanRun>, StoreError> {
        self.read(|s| s.run(id))
    }

    fn run_with_hosts(&self, id: RunId, hosts: &[IpAddr]) -> Result<Option<ScanRun>, StoreError> {
        self.read(|s| s.run_with_hosts(id, hosts))
    }

    fn open_ports(&self, run: RunId) -> Result<Vec<(IpAddr, Vec<u16>)>, StoreError> {
        self.read(|s| s.open_ports(run))
    }

    fn runs(&self, limit: usize) -> Result<Vec<RunSummary>, StoreError> {
        self.read(|s| s.runs(limit))
    }

    fn runs_for_targets(&self, target_key: &str, limit: usize) -> Result<Vec<RunId>, StoreError> {
        self.read(|s| s.runs_for_targets(target_key, limit))
    }

    fn running_runs(&self) -> Result<Vec<RunId>, StoreError> {
        self.read(|s| s.running_runs())
    }

    fn previous_run(&self, target_key: &str, before: RunId) -> Result<Option<RunId>, StoreError> {
        self.read(|s| s.previous_run(target_key, before))
    }

    fn findings(&self, filter: &FindingFilter) -> Result<Vec<Finding>, StoreError> {
        self.read(|s| s.findings(filter))
    }
}

impl IntelStore for Store {
    fn replace_feed(
        &self,
        name: &str,
        meta: &FeedMeta,
        indicators: &[Indicator],
        loaded_at: Timestamp,
    ) -> Result<FeedSummary, StoreError> {
        self.write(|s| s.replace_feed(name, meta, indicators, loaded_at))
    }

    fn feeds(&self) -> Result<Vec<FeedSummary>, StoreError> {
        self.read(|s| s.feeds())
    }

    fn remove_feed(&self, name: &str) -> Result<bool, StoreError> {
        self.write(|s| s.remove_feed(name))
    }

    fn indicators(&self, feed: Option<&str>) -> Result<Vec<Indicator>, StoreError> {
        let mut out = Vec::new();
        self.read(|s| s.each_indicator(feed, &mut |i| out.push(i)))?;
        Ok(out)
    }

    fn each_indicator(
        &self,
        feed: Option<&str>,
        each: &mut dyn FnMut(Indicator),
    ) -> Result<(), StoreError> {
        self.read(|s| s.each_indicator(feed, each))
    }

    fn intel_table_key(&self) -> Result<String, StoreError> {
        self.read(|s| s.intel_table_key())
    }

    fn stored_intel_table(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|s| s.stored_intel_table(key))
    }

    fn keep_intel_table(&self, key: &str, body: &[u8]) -> Result<bool, StoreError> {
        self.write(|s| s.keep_intel_table(key, body))
    }

    fn indicator_slices(&self, parts: usize) -> Result<Vec<IndicatorSlice>, StoreError> {
        self.read(|s| s.indicator_slices(parts))
    }

    fn each_indicator_in(
        &self,
        slice: &IndicatorSlice,
        each: &mut dyn FnMut(Indicator),
    ) -> Result<(), StoreError> {
        self.read(|s| s.each_indicator_in(slice, each))
    }

    fn indicators_covering(&self, addr: IpAddr) -> Result<Vec<Indicator>, StoreError> {
        self.read(|s| s.indicators_covering(addr))
    }
}

impl InventoryStore for Store {
    fn replace_applications(
        &self,
        host: IpAddr,
        port: u16,
        apps: &[Application],
        source: &str,
        updated_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.write(|s| s.replace_applications(host, port, apps, source, updated_at))
    }

    fn inventory(&self) -> Result<Vec<InventoryEntry>, StoreError> {
        self.read(|s| s.inventory())
    }

    fn remove_application(
        &self,
        host: IpAddr,
        port: u16,
        source: &str,
    ) -> Result<bool, StoreError> {
        self.write(|s| s.remove_application(host, port, source))
    }
}

impl VulnStore for Store {
    fn put_vulnerabilities(&self, vulns: &[Vulnerability]) -> Result<(), StoreError> {
        self.write(|s| s.put_vulnerabilities(vulns))
    }

    fn vulnerabilities(&self) -> Result<Vec<Vulnerability>, StoreError> {
        self.read(|s| s.vulnerabilities())
    }

    fn put_vuln_records(&self, records: &[VulnRecord]) -> Result<(), StoreError> {
        self.write(|s| s.put_vuln_records(records))
    }

    fn import_vuln_knowledge(
        &self,
        records: &[VulnRecord],
        applications: &[SourceApplications],
    ) -> Result<(), StoreError> {
        self.write(|s| s.import_vuln_knowledge(records, applications))
    }

    fn vuln_records(
        &self,
        kind: Option<&str>,
        each: &mut dyn FnMut(VulnRecord),
    ) -> Result<(), StoreError> {
        self.read(|s| s.vuln_records(kind, each))
    }

    fn replace_vuln_knowledge(
        &self,
        sources: &[KnowledgeSource],
        applications: &[SourceApplications],
    ) -> Result<(), StoreError> {
        self.write(|s| s.replace_vuln_knowledge(sources, applications))
    }

    fn vuln_knowledge(&self, keys: &[KnowledgeKey]) -> Result<Vec<KnowledgeRow>, StoreError> {
        self.read(|s| s.vuln_knowledge(keys))
    }

    fn vuln_sources(&self, kind: Option<&str>) -> Result<Vec<VulnSourceSummary>, StoreError> {
        self.read(|s| s.vuln_sources(kind))
    }

    fn adopt_vuln_records(&self, sources: &[KnowledgeSource]) -> Result<(), StoreError> {
        self.write(|s| s.adopt_vuln_records(sources))
    }
}

impl AlertStore for Store {
    fn upsert_alert(&self, alert: &mut Alert) -> Result<AlertWrite, StoreError> {
        self.write(|s| s.upsert_alert(alert))
    }

    fn upsert_alerts_meanwhile(
        &self,
        alerts: &mut [Alert],
        meanwhile: &mut dyn FnMut(&[Alert], &[AlertWrite]),
    ) -> Result<Vec<AlertWrite>, StoreError> {
        self.write(|s| s.upsert_alerts(alerts, meanwhile))
    }

    fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
        self.read(|s| s.alerts(filter))
    }

    fn triaged_alerts(&self, filter: &AlertFilter) -> Result<Vec<TriagedAlert>, StoreError> {
        self.read(|s| s.triaged_alerts(filter))
    }

    fn set_alert_triage(&self, id: i64, triage: &AlertTriage) -> Result<bool, StoreError> {
        self.write(|s| s.set_alert_triage(id, triage))
    }

    fn alert_counts(&self) -> Result<Vec<AlertCount>, StoreError> {
        self.read(|s| s.alert_counts())
    }

    fn open_alerts(&self, since: Timestamp) -> Result<Vec<Alert>, StoreError> {
        self.read(|s| s.open_alerts(since))
    }

    fn add_suppression(&self, suppression: &Suppression) -> Result<i64, StoreError> {
        self.write(|s| s.add_suppression(suppression))
    }

    fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        self.read(|s| s.suppressions())
    }

    fn remove_suppression(&self, id: i64) -> Result<bool, StoreError> {
        self.write(|s| s.remove_suppression(id))
    }

    fn checkpoint(&self, source: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.read(|s| s.checkpoint(source))
    }

    fn save_checkpoint_with_alerts_meanwhile(
        &self,
        source: &str,
        checkpoint: &serde_json::Value,
        alerts: &mut [Alert],
        meanwhile: &mut dyn FnMut(&[Alert], &[AlertWrite]),
    ) -> Result<Vec<AlertWrite>, StoreError> {
        self.write(|s| s.save_checkpoint_with_alerts(source, checkpoint, alerts, meanwhile))
    }

    fn claim_checkpoint(&self, source: &str) -> Result<ClaimedCheckpoint, StoreError> {
        self.write(|s| s.claim_checkpoint(source))
    }

    fn save_fenced_checkpoint_with_alerts(
        &self,
        source: &str,
        epoch: i64,
        checkpoint: &serde_json::Value,
        alerts: &mut [Alert],
    ) -> Result<Vec<AlertWrite>, StoreError> {
        self.write(|s| s.save_fenced_checkpoint_with_alerts(source, epoch, checkpoint, alerts))
    }
}

impl BlockStore for Store {
    fn record_block(&self, block: &BlockRecord) -> Result<i64, StoreError> {
        self.write(|s| s.record_block(block))
    }

    fn blocks(&self, active_at: Option<Timestamp>) -> Result<Vec<BlockRecord>, StoreError> {
        self.read(|s| s.blocks(active_at))
    }

    fn mark_unblocked(&self, net: IpNet, at: Timestamp) -> Result<u64, StoreError> {
        self.write(|s| s.mark_unblocked(net, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What lets one handle serve every thread and task.
    #[test]
    fn the_handle_is_shareable() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<Store>();
        fn capability(_: &dyn AlertStore, _: &dyn IntelStore, _: &impl RunStore) {}
        let store = crate::open("sqlite::memory:").unwrap();
        capability(&store, &store, &store);
        assert_eq!(
            format!("{store:?}"),
            r#"Store { backend: "sqlite", location: ":memory:" }"#
        );
    }
}
