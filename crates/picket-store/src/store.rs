//! The store's logic, written once over [`Conn`]: migrations, transactions, and the mapping
//! between the model's types and rows. The threat side's mapping is in `threat.rs`.

mod knowledge;
mod threat;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use ipnet::IpNet;
use picket_model::{
    Evidence, Finding, HostResult, Observation, PortSet, RunId, RunStatus, RunSummary, ScanProfile,
    ScanRun, Summary, Targets, Timestamp, Verdict, Verify,
};
use serde::Serialize;
use serde::de::{DeserializeOwned, IntoDeserializer};

use crate::FindingFilter;
use crate::alert_body;
use crate::conn::{Conn, Row, Value};
use crate::error::{DbError, StoreError};
use crate::sql::{self, Dialect, MIGRATIONS, MigrationStep, latest_version};

/// The store's operations on one connection of either dialect, borrowed for one operation
/// (a transaction never leaves its connection).
pub(crate) struct Session<'a> {
    conn: &'a mut dyn Conn,
    /// The database as shown in errors: a path, or a URL without its password.
    location: &'a str,
}

impl<'a> Session<'a> {
    pub(crate) fn new(conn: &'a mut dyn Conn, location: &'a str) -> Self {
        Self { conn, location }
    }
}

impl Session<'_> {
    fn db_error(&self, op: String, source: DbError) -> StoreError {
        StoreError::Database {
            location: self.location.to_owned(),
            op,
            source,
        }
    }

    fn exec(
        &mut self,
        sql: &str,
        params: &[Value],
        op: impl FnOnce() -> String,
    ) -> Result<u64, StoreError> {
        match self.conn.execute(sql, params) {
            Ok(n) => Ok(n),
            Err(e) => Err(self.db_error(op(), e)),
        }
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        op: impl FnOnce() -> String,
    ) -> Result<Vec<Row>, StoreError> {
        match self.conn.query(sql, params) {
            Ok(rows) => Ok(rows),
            Err(e) => Err(self.db_error(op(), e)),
        }
    }

    fn batch(&mut self, sql: &str, op: impl FnOnce() -> String) -> Result<(), StoreError> {
        match self.conn.batch(sql) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.db_error(op(), e)),
        }
    }

    /// Runs `first`, then inserts `findings`, in one transaction, and sets each finding's id
    /// after the commit. A finding that already has an id is refused before anything is written.
    fn insert_findings_after(
        &mut self,
        findings: &mut [Finding],
        first: impl FnOnce(&mut Self) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if let Some((f, id)) = findings.iter().find_map(|f| f.id.map(|id| (f, id))) {
            return Err(StoreError::AlreadySaved {
                id,
                run: f.run_id,
                host: f.host,
                port: f.port,
            });
        }
        let ids = self.transaction(|store| {
            first(store)?;
            findings
                .iter()
                .map(|f| store.insert_finding(f))
                .collect::<Result<Vec<i64>, _>>()
        })?;
        // Only after the commit: a rolled-back finding must not look saved.
        for (finding, id) in findings.iter_mut().zip(ids) {
            finding.id = Some(id);
        }
        Ok(())
    }

    /// Runs `work` in one write transaction: all of it is stored, or none.
    fn transaction<T>(
        &mut self,
        work: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let begin = self.conn.dialect().begin();
        self.batch(begin, || "starting a transaction".into())?;
        let result = work(self);
        self.end_transaction(result)
    }

    /// Runs `work`, which only reads, in one snapshot: what a writer commits meanwhile is not
    /// seen half.
    fn snapshot<T>(
        &mut self,
        work: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let begin = self.conn.dialect().begin_read();
        self.batch(begin, || "starting a read transaction".into())?;
        let result = work(self);
        self.end_transaction(result)
    }

    /// Commits after success, rolls back after failure (including a failed commit: SQLite keeps
    /// the transaction open when COMMIT fails with `SQLITE_BUSY`).
    fn end_transaction<T>(&mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let result = result.and_then(|value| {
            self.batch("COMMIT", || "committing".into())?;
            Ok(value)
        });
        if result.is_err() {
            // The error that made us roll back is the one worth reporting; a failing ROLLBACK
            // (nothing left to undo after a failed COMMIT in PostgreSQL) adds nothing to it.
            let _ = self.conn.batch("ROLLBACK");
        }
        result
    }

    /// Applies the migrations this database lacks, all in one transaction, and refuses a
    /// database whose schema is newer than this build.
    pub(crate) fn migrate(&mut self) -> Result<(), StoreError> {
        let dialect = self.conn.dialect();
        self.batch(dialect.begin_migration(), || {
            "locking the schema for migration".into()
        })?;
        let result = self.apply_migrations();
        self.end_transaction(result)
    }

    fn apply_migrations(&mut self) -> Result<(), StoreError> {
        let dialect = self.conn.dialect();
        self.batch(sql::CREATE_MIGRATIONS_TABLE, || {
            "creating schema_migrations".into()
        })?;
        let rows = self.query(sql::CURRENT_VERSION, &[], || {
            "reading the schema version".into()
        })?;
        let current = self
            .fields(&rows[..], "schema_migrations", || "current version".into())?
            .int(0, "version")?;
        if current > latest_version() {
            return Err(StoreError::SchemaTooNew {
                location: self.location.to_owned(),
                found: current,
                known: latest_version(),
            });
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > current) {
            self.batch(&dialect.ddl(m.ddl), || {
                format!("applying migration {} ({})", m.version, m.name)
            })?;
            match m.then {
                Some(MigrationStep::IndicatorKeys) => self.fix_indicator_keys()?,
                Some(MigrationStep::AlertBodyBytes) => match dialect {
                    Dialect::Sqlite => {}
                    Dialect::Postgres => self.batch(sql::PG_ALERT_BODY_BYTES, || {
                        "turning alert bodies into bytes".into()
                    })?,
                },
                None => {}
            }
            // When it was applied is for people reading the table; nothing depends on it.
            let applied_at = Timestamp::now().as_microsecond();
            self.exec(
                sql::RECORD_MIGRATION,
                &[m.version.into(), m.name.into(), applied_at.into()],
                || format!("recording migration {}", m.version),
            )?;
        }
        Ok(())
    }

    /// The first row of `rows` as typed fields, or a corruption error if there is none.
    fn fields<'a>(
        &'a self,
        rows: &'a [Row],
        table: &'static str,
        key: impl FnOnce() -> String,
    ) -> Result<Fields<'a>, StoreError> {
        match rows.first() {
            Some(row) => Ok(Fields {
                row,
                location: self.location,
                table,
                key: key().into(),
            }),
            None => Err(StoreError::Corrupt {
                location: self.location.to_owned(),
                table,
                key: key(),
                field: "*",
                why: "the query returned no row".into(),
            }),
        }
    }

    fn row_fields<'a>(&'a self, row: &'a Row, table: &'static str, key: String) -> Fields<'a> {
        Fields {
            row,
            location: self.location,
            table,
            key: key.into(),
        }
    }

    /// Runs `statement`, handing each row to `each` as it arrives, as the fields of a row of
    /// `table` named `key` (a handler may rename it, see [`Fields::keyed`]); the first error
    /// `each` returns ends the read. `op` says what was being read, for a database error.
    fn each_row(
        &mut self,
        statement: &str,
        params: &[Value],
        (table, key): (&'static str, &str),
        op: impl FnOnce() -> String,
        mut each: impl FnMut(Fields<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // Disjoint borrows: the connection streams while the location names bad rows.
        let location = self.location;
        let result = self.conn.query_each(statement, params, &mut |row: Row| {
            each(Fields {
                row: &row,
                location,
                table,
                key: Cow::Borrowed(key),
            })
        });
        match result {
            Ok(handled) => handled,
            Err(e) => Err(self.db_error(op(), e)),
        }
    }

    fn store_run_contents(&mut self, run: &ScanRun) -> Result<(), StoreError> {
        let id = run.id;
        let changed = self.exec(
            sql::FINISH_RUN,
            &[
                run.status.as_str().into(),
                run.finished_at.map(Timestamp::as_microsecond).into(),
                id.0.into(),
            ],
            || format!("updating run {id}"),
        )?;
        if changed == 0 {
            return Err(StoreError::UnknownRun {
                location: self.location.to_owned(),
                run: id,
            });
        }
        self.exec(sql::DELETE_RECHECKS, &[id.0.into()], || {
            format!("replacing the rechecks of run {id}")
        })?;
        self.replace_hosts(id, &run.hosts)?;
        for recheck in &run.rechecks {
            let what = || {
                format!(
                    "run {id} re-check of {} port {}",
                    recheck.host, recheck.port
                )
            };
            check_finite(
                &what,
                "evidence.recheck_rate",
                recheck.evidence.recheck_rate,
            )?;
            let params = [
                id.0.into(),
                recheck.host.to_string().into(),
                recheck.port.into(),
                recheck.protocol.as_str().into(),
                recheck.verdict.as_str().into(),
                to_json(&recheck.evidence, &what, "evidence")?.into(),
            ];
            self.exec(sql::INSERT_RECHECK, &params, || {
                format!("storing {}", what())
            })?;
        }
        Ok(())
    }

    /// Stores `hosts` for `run` in place of any rows stored for the same addresses, keeping the
    /// run's other hosts (inside the caller's transaction).
    fn replace_hosts(&mut self, run: RunId, hosts: &[HostResult]) -> Result<(), StoreError> {
        let rows = self.query(sql::COUNT_HOSTS, &[run.0.into()], || {
            format!("counting the stored hosts of run {run}")
        })?;
        let stored = self
            .fields(&rows, "hosts", || format!("run {run}"))?
            .int(0, "count")?;
        // A run finished in one go has none: nothing to look up, host by host.
        if stored > 0 {
            let mut done = 0;
            while done < hosts.len() {
                let n = sql::rows_per_insert(hosts.len() - done);
                let chunk = &hosts[done..done + n];
                let mut params: Vec<Value> = Vec::with_capacity(n + 1);
                params.push(run.0.into());
                params.extend(chunk.iter().map(|h| h.address.to_string().into()));
                let list = sql::in_list(n);
                for (delete, what) in [
                    (sql::DELETE_OBSERVATIONS_OF, "observations"),
                    (sql::DELETE_HOSTS_OF, "hosts"),
                ] {
                    self.exec(&format!("{delete}{list}"), &params, || {
                        format!(
                            "replacing the {what} of run {run} hosts {} to {}",
                            chunk[0].address,
                            chunk[n - 1].address
                        )
                    })?;
                }
                done += n;
            }
        }
        self.insert_hosts(run, hosts)
    }

    /// Inserts every host of a run, then every observation, with multi-row inserts.
    fn insert_hosts(&mut self, run: RunId, hosts: &[HostResult]) -> Result<(), StoreError> {
        let mut host_values = Vec::with_capacity(hosts.len() * sql::INSERT_HOSTS.width);
        let mut obs_values = Vec::new();
        let mut obs_keys = Vec::new();
        for host in hosts {
            let address = host.address;
            let what = || format!("run {run} host {address}");
            check_finite(&what, "stats.loss", host.stats.loss)?;
            for interruption in &host.interruptions {
                check_finite(&what, "interruptions.rate", interruption.rate)?;
            }
            host_values.extend([
                run.0.into(),
                address.to_string().into(),
                host.hostname.clone().into(),
                host.state.as_str().into(),
                host.reason.as_str().into(),
                to_json(&host.extra_ports, &what, "extra_ports")?.into(),
                to_json(&host.unprobed, &what, "unprobed")?.into(),
                to_json(&host.interruptions, &what, "interruptions")?.into(),
                to_json(&host.stats, &what, "stats")?.into(),
                host.reverse_name.clone().into(),
            ]);
            for o in &host.ports {
                let port = o.port;
                let what = || format!("run {run} host {address} port {port}");
                obs_values.extend([
                    run.0.into(),
                    address.to_string().into(),
                    port.into(),
                    o.protocol.as_str().into(),
                    o.state.as_str().into(),
                    o.reason.as_str().into(),
                    o.rtt.map(|d| micros(d, &what, "rtt")).transpose()?.into(),
                    i64::from(o.attempts).into(),
                    o.icmp_from.map(|ip| ip.to_string()).into(),
                    o.service
                        .as_ref()
                        .map(|s| to_json(s, &what, "service"))
                        .transpose()?
                        .into(),
                ]);
                obs_keys.push((address, port));
            }
        }
        self.insert_many(&sql::INSERT_HOSTS, &host_values, |rows| {
            let addresses: Vec<String> =
                hosts[rows].iter().map(|h| h.address.to_string()).collect();
            format!("storing run {run} hosts {}", addresses.join(", "))
        })?;
        self.insert_many(&sql::INSERT_OBSERVATIONS, &obs_values, |rows| {
            let (first, last) = (obs_keys[rows.start], obs_keys[rows.end - 1]);
            format!(
                "storing run {run} observations from host {} port {} to host {} port {}",
                first.0, first.1, last.0, last.1
            )
        })
    }

    /// Inserts `values` (rows of `insert.width` values, one after the other) in chunks.
    /// `what` describes a chunk by its row range, for errors.
    fn insert_many(
        &mut self,
        insert: &sql::Insert,
        values: &[Value],
        what: impl Fn(Range<usize>) -> String,
    ) -> Result<(), StoreError> {
        let rows = values.len() / insert.width;
        let mut done = 0;
        while done < rows {
            let n = sql::rows_per_insert(rows - done);
            let chunk = &values[done * insert.width..(done + n) * insert.width];
            self.exec(&sql::insert_rows(insert, n), chunk, || what(done..done + n))?;
            done += n;
        }
        Ok(())
    }

    fn insert_finding(&mut self, f: &Finding) -> Result<i64, StoreError> {
        let what = || format!("finding for run {} {} port {}", f.run_id, f.host, f.port);
        let params = [
            f.run_id.0.into(),
            f.kind.as_str().into(),
            f.host.to_string().into(),
            f.hostname.clone().into(),
            f.port.into(),
            f.protocol.as_str().into(),
            f.previous_state.map(|s| s.as_str()).into(),
            f.current_state.map(|s| s.as_str()).into(),
            f.verdict.map(Verdict::as_str).into(),
            to_json(&f.summary, &what, "summary")?.into(),
            to_json(&f.evidence, &what, "evidence")?.into(),
            to_json(&f.remediation, &what, "remediation")?.into(),
            to_json(&f.verify, &what, "verify")?.into(),
            f.created_at.as_microsecond().into(),
        ];
        let rows = self.query(sql::INSERT_FINDING, &params, || {
            format!("storing {}", what())
        })?;
        self.fields(&rows, "findings", what)?.int(0, "id")
    }

    /// Rows of `statement` (whose first parameter is the run) for the whole run, or for each of
    /// `only` (the statement with `AND address = ?` for one host).
    fn run_rows(
        &mut self,
        run: RunId,
        only: Option<&[IpAddr]>,
        (all, one): (&str, &str),
        what: &str,
    ) -> Result<Vec<Row>, StoreError> {
        let Some(addresses) = only else {
            return self.query(all, &[run.0.into()], || {
                format!("reading the {what} of run {run}")
            });
        };
        let mut rows = Vec::new();
        for address in addresses {
            rows.extend(
                self.query(one, &[run.0.into(), address.to_string().into()], || {
                    format!("reading the {what} of {address} in run {run}")
                })?,
            );
        }
        Ok(rows)
    }

    /// The run's hosts, or only those of `only` that it has.
    fn load_hosts(
        &mut self,
        run: RunId,
        only: Option<&[IpAddr]>,
    ) -> Result<Vec<HostResult>, StoreError> {
        let statements = (sql::SELECT_HOSTS, sql::SELECT_HOST);
        let rows = self.run_rows(run, only, statements, "hosts")?;
        let mut hosts = Vec::with_capacity(rows.len());
        for row in &rows {
            let f = self.row_fields(row, "hosts", format!("run {run}"));
            hosts.push(HostResult {
                address: f.ip(0, "address")?,
                hostname: f.opt_text(1, "hostname")?.map(str::to_owned),
                reverse_name: f.opt_text(8, "reverse_name")?.map(str::to_owned),
                state: f.name(2, "state")?,
                reason: f.name(3, "reason")?,
                ports: Vec::new(),
                extra_ports: f.json(4, "extra_ports")?,
                unprobed: f.json(5, "unprobed")?,
                interruptions: f.json(6, "interruptions")?,
                stats: f.json(7, "stats")?,
            });
        }
        hosts.sort_by_key(|h| h.address);
        let index: HashMap<IpAddr, usize> = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.address, i))
            .collect();
        let statements = (sql::SELECT_OBSERVATIONS, sql::SELECT_HOST_OBSERVATIONS);
        let rows = self.run_rows(run, only, statements, "observations")?;
        // Rows come ordered by port, so each host's list comes out ascending.
        for row in &rows {
            let f = self.row_fields(row, "observations", format!("run {run}"));
            let address = f.ip(0, "address")?;
            let Some(&i) = index.get(&address) else {
                return Err(f.corrupt(0, "address", "no such host in the run".into()));
            };
            hosts[i].ports.push(Observation {
                port: f.port(1, "port")?,
                protocol: f.name(2, "protocol")?,
                state: f.name(3, "state")?,
                reason: f.name(4, "reason")?,
                rtt: f
                    .opt_int(5, "rtt_us")?
                    .map(|us| {
                        u64::try_from(us)
                            .map(Duration::from_micros)
                            .map_err(|_| f.corrupt(5, "rtt_us", "negative".into()))
                    })
                    .transpose()?,
                attempts: f.small(6, "attempts")?,
                icmp_from: f.opt_ip(7, "icmp_from")?,
                service: match f.opt_text(8, "service")? {
                    Some(_) => Some(f.json(8, "service")?),
                    None => None,
                },
            });
        }
        Ok(hosts)
    }

    fn load_rechecks(&mut self, run: RunId) -> Result<Vec<picket_model::Recheck>, StoreError> {
        let rows = self.query(sql::SELECT_RECHECKS, &[run.0.into()], || {
            format!("reading the re-checks of run {run}")
        })?;
        rows.iter()
            .map(|row| {
                let f = self.row_fields(row, "rechecks", format!("run {run}"));
                Ok(picket_model::Recheck {
                    host: f.ip(0, "host")?,
                    port: f.port(1, "port")?,
                    protocol: f.name(2, "protocol")?,
                    verdict: f.name(3, "verdict")?,
                    evidence: f.json(4, "evidence")?,
                })
            })
            .collect()
    }

    fn ids(
        &mut self,
        sql: &str,
        params: &[Value],
        op: impl FnOnce() -> String,
    ) -> Result<Vec<RunId>, StoreError> {
        let rows = self.query(sql, params, op)?;
        rows.iter()
            .map(|row| {
                Ok(RunId(
                    self.row_fields(row, "runs", "listed run".into())
                        .int(0, "id")?,
                ))
            })
            .collect()
    }
}

/// The exposure side, called by the handle in `handle.rs`.
impl Session<'_> {
    pub(crate) fn begin_run(
        &mut self,
        targets: &Targets,
        profile: &ScanProfile,
        started_at: Timestamp,
    ) -> Result<RunId, StoreError> {
        let key = targets.key();
        let what = || format!("new run of {key}");
        if let Some(rate) = profile.max_rate {
            check_finite(&what, "profile.max_rate", rate)?;
        }
        let params = [
            key.as_str().into(),
            to_json(targets, &what, "targets")?.into(),
            to_json(profile, &what, "profile")?.into(),
            started_at.as_microsecond().into(),
        ];
        let rows = self.query(sql::INSERT_RUN, &params, || format!("storing {}", what()))?;
        Ok(RunId(self.fields(&rows, "runs", what)?.int(0, "id")?))
    }

    pub(crate) fn finish_run(&mut self, run: &ScanRun) -> Result<(), StoreError> {
        self.transaction(|store| store.store_run_contents(run))
    }

    pub(crate) fn save_hosts(
        &mut self,
        run: RunId,
        hosts: &[HostResult],
    ) -> Result<(), StoreError> {
        self.transaction(|store| {
            let rows = store.query(sql::SELECT_RUN_STATUS, &[run.0.into()], || {
                format!("reading the status of run {run}")
            })?;
            let Some(row) = rows.first() else {
                return Err(StoreError::UnknownRun {
                    location: store.location.to_owned(),
                    run,
                });
            };
            let status: RunStatus = store
                .row_fields(row, "runs", format!("run {run}"))
                .name(0, "status")?;
            if status != RunStatus::Running {
                return Err(StoreError::RunNotRunning {
                    location: store.location.to_owned(),
                    run,
                    status: status.as_str(),
                });
            }
            store.replace_hosts(run, hosts)
        })
    }

    pub(crate) fn open_ports(&mut self, run: RunId) -> Result<Vec<(IpAddr, Vec<u16>)>, StoreError> {
        let mut by_host: BTreeMap<IpAddr, Vec<u16>> = BTreeMap::new();
        let key = format!("run {run}");
        self.each_row(
            sql::SELECT_OPEN_PORTS,
            &[run.0.into()],
            ("observations", &key),
            || format!("reading the open ports of run {run}"),
            |f| {
                by_host
                    .entry(f.ip(0, "address")?)
                    .or_default()
                    .push(f.port(1, "port")?);
                Ok(())
            },
        )?;
        // Rows come by address as text: the map sorts them as addresses, ports ascending.
        Ok(by_host.into_iter().collect())
    }

    pub(crate) fn save_findings(&mut self, findings: &mut [Finding]) -> Result<(), StoreError> {
        self.insert_findings_after(findings, |_| Ok(()))
    }

    pub(crate) fn finish_run_with_findings(
        &mut self,
        run: &ScanRun,
        findings: &mut [Finding],
    ) -> Result<(), StoreError> {
        self.insert_findings_after(findings, |store| store.store_run_contents(run))
    }

    pub(crate) fn run(&mut self, id: RunId) -> Result<Option<ScanRun>, StoreError> {
        self.snapshot(|store| store.read_run(id, None))
    }

    pub(crate) fn run_with_hosts(
        &mut self,
        id: RunId,
        hosts: &[IpAddr],
    ) -> Result<Option<ScanRun>, StoreError> {
        self.snapshot(|store| store.read_run(id, Some(hosts)))
    }

    fn read_run(
        &mut self,
        id: RunId,
        only: Option<&[IpAddr]>,
    ) -> Result<Option<ScanRun>, StoreError> {
        let rows = self.query(sql::SELECT_RUN, &[id.0.into()], || {
            format!("reading run {id}")
        })?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let f = self.row_fields(row, "runs", format!("run {id}"));
        let mut run = ScanRun {
            id: RunId(f.int(0, "id")?),
            target_key: f.text(1, "target_key")?.to_owned(),
            targets: f.json(2, "targets")?,
            profile: f.json(3, "profile")?,
            started_at: f.timestamp(4, "started_at")?,
            finished_at: f.opt_timestamp(5, "finished_at")?,
            status: f.name(6, "status")?,
            hosts: Vec::new(),
            rechecks: Vec::new(),
            unlisted_down: 0,
        };
        run.hosts = self.load_hosts(id, only)?;
        run.rechecks = self.load_rechecks(id)?;
        Ok(Some(run))
    }

    pub(crate) fn runs(&mut self, limit: usize) -> Result<Vec<RunSummary>, StoreError> {
        let rows = self.query(
            sql::SELECT_RUN_SUMMARIES,
            &[sql_limit(limit).into()],
            || "listing runs".into(),
        )?;
        /// The one part of a stored profile a summary shows.
        #[derive(serde::Deserialize)]
        struct Ports {
            ports: PortSet,
        }
        rows.iter()
            .map(|row| {
                let f = self.row_fields(row, "runs", "listed run".into());
                let id = RunId(f.int(0, "id")?);
                let f = f.keyed(format!("run {id}"));
                Ok(RunSummary {
                    id,
                    target_key: f.text(1, "target_key")?.to_owned(),
                    ports: f.json::<Ports>(2, "profile")?.ports,
                    started_at: f.timestamp(3, "started_at")?,
                    finished_at: f.opt_timestamp(4, "finished_at")?,
                    status: f.name(5, "status")?,
                    hosts_up: f.count(6, "hosts_up")?,
                    hosts_total: f.count(7, "hosts_total")?,
                    open_ports: f.count(8, "open_ports")?,
                })
            })
            .collect()
    }

    pub(crate) fn running_runs(&mut self) -> Result<Vec<RunId>, StoreError> {
        self.ids(sql::SELECT_RUNNING_RUNS, &[], || {
            "listing the running runs".into()
        })
    }

    pub(crate) fn runs_for_targets(
        &mut self,
        target_key: &str,
        limit: usize,
    ) -> Result<Vec<RunId>, StoreError> {
        self.ids(
            sql::SELECT_RUNS_FOR_TARGETS,
            &[target_key.into(), sql_limit(limit).into()],
            || format!("listing the runs of {target_key}"),
        )
    }

    pub(crate) fn previous_run(
        &mut self,
        target_key: &str,
        before: RunId,
    ) -> Result<Option<RunId>, StoreError> {
        let ids = self.ids(
            sql::SELECT_PREVIOUS_RUN,
            &[target_key.into(), before.0.into()],
            || format!("finding the run of {target_key} before run {before}"),
        )?;
        Ok(ids.first().copied())
    }

    pub(crate) fn findings(&mut self, filter: &FindingFilter) -> Result<Vec<Finding>, StoreError> {
        let mut query = String::from(sql::SELECT_FINDINGS);
        let mut params = Vec::new();
        if let Some(run) = filter.run {
            query.push_str(" AND run_id = ?");
            params.push(run.0.into());
        }
        if let Some(kind) = filter.kind {
            query.push_str(" AND kind = ?");
            params.push(kind.as_str().into());
        }
        if let Some(host) = filter.host {
            query.push_str(" AND host = ?");
            params.push(host.to_string().into());
        }
        query.push_str(sql::FINDINGS_ORDER);
        let rows = self.query(&query, &params, || "listing findings".into())?;
        rows.iter()
            .map(|row| {
                let f = self.row_fields(row, "findings", "listed finding".into());
                let id = f.int(0, "id")?;
                let f = f.keyed(format!("finding {id}"));
                let kind = f.name(2, "kind")?;
                Ok(Finding {
                    id: Some(id),
                    run_id: RunId(f.int(1, "run_id")?),
                    kind,
                    host: f.ip(3, "host")?,
                    hostname: f.opt_text(4, "hostname")?.map(str::to_owned),
                    port: f.port(5, "port")?,
                    protocol: f.name(6, "protocol")?,
                    previous_state: f.opt_name(7, "previous_state")?,
                    current_state: f.opt_name(8, "current_state")?,
                    verdict: f.opt_name(9, "verdict")?,
                    summary: Summary::from_stored(f.text(10, "summary")?),
                    evidence: Evidence::decode(kind, f.json(11, "evidence")?)
                        .map_err(|e| f.corrupt(11, "evidence", e.to_string()))?,
                    remediation: f.json(12, "remediation")?,
                    verify: Verify::from_stored(f.text(13, "verify")?),
                    created_at: f.timestamp(14, "created_at")?,
                })
            })
            .collect()
    }
}

/// `LIMIT` takes a signed 64-bit number in both dialects.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn micros(d: Duration, what: &impl Fn() -> String, field: &'static str) -> Result<i64, StoreError> {
    i64::try_from(d.as_micros()).map_err(|_| StoreError::Unstorable {
        what: what(),
        field,
        why: format!("{d:?} does not fit in 64-bit microseconds"),
    })
}

/// JSON has no NaN or infinity: serde_json would write `null` and the value could never be read
/// back, so such a number is refused before anything is written.
fn check_finite(what: &impl Fn() -> String, field: &'static str, x: f64) -> Result<(), StoreError> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(StoreError::Unstorable {
            what: what(),
            field,
            why: format!("{x} is not a finite number"),
        })
    }
}

fn to_json<T: Serialize + ?Sized>(
    value: &T,
    what: &impl Fn() -> String,
    field: &'static str,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Unstorable {
        what: what(),
        field,
        why: e.to_string(),
    })
}

/// One row read back, with what is needed to name a bad field precisely.
struct Fields<'a> {
    row: &'a Row,
    location: &'a str,
    table: &'static str,
    key: Cow<'a, str>,
}

impl<'a> Fields<'a> {
    /// The same row, now named by what its key columns say (`run 7`, `feed ipsum`).
    fn keyed(self, key: impl Into<Cow<'a, str>>) -> Self {
        Self {
            key: key.into(),
            ..self
        }
    }

    fn corrupt(&self, i: usize, field: &'static str, why: String) -> StoreError {
        let value = match self.row.get(i) {
            Some(Value::Null) => "NULL".to_owned(),
            Some(Value::Int(v)) => v.to_string(),
            // Long JSON is cut: the start is enough to recognise it.
            Some(Value::Text(s)) => s.chars().take(120).collect(),
            Some(Value::Blob(b)) => format!("{} bytes", b.len()),
            None => "(missing column)".to_owned(),
        };
        StoreError::Corrupt {
            location: self.location.to_owned(),
            table: self.table,
            key: self.key.clone().into_owned(),
            field,
            why: format!("{value:?} is not valid: {why}"),
        }
    }

    fn opt_int(&self, i: usize, field: &'static str) -> Result<Option<i64>, StoreError> {
        match self.row.get(i) {
            Some(Value::Int(v)) => Ok(Some(*v)),
            Some(Value::Null) => Ok(None),
            _ => Err(self.corrupt(i, field, "expected an integer".into())),
        }
    }

    fn int(&self, i: usize, field: &'static str) -> Result<i64, StoreError> {
        self.opt_int(i, field)?
            .ok_or_else(|| self.corrupt(i, field, "expected an integer".into()))
    }

    fn bytes(&self, i: usize, field: &'static str) -> Result<&'a [u8], StoreError> {
        match self.row.get(i) {
            Some(Value::Blob(b)) => Ok(b),
            _ => Err(self.corrupt(i, field, "expected bytes".into())),
        }
    }

    fn opt_text(&self, i: usize, field: &'static str) -> Result<Option<&'a str>, StoreError> {
        match self.row.get(i) {
            Some(Value::Text(s)) => Ok(Some(s)),
            Some(Value::Null) => Ok(None),
            _ => Err(self.corrupt(i, field, "expected text".into())),
        }
    }

    fn text(&self, i: usize, field: &'static str) -> Result<&'a str, StoreError> {
        self.opt_text(i, field)?
            .ok_or_else(|| self.corrupt(i, field, "expected text".into()))
    }

    /// A unit enum stored by its `as_str` name, which is also its serde name.
    fn name<T: DeserializeOwned>(&self, i: usize, field: &'static str) -> Result<T, StoreError> {
        let text = self.text(i, field)?;
        T::deserialize(IntoDeserializer::<serde::de::value::Error>::into_deserializer(text))
            .map_err(|e| self.corrupt(i, field, e.to_string()))
    }

    fn opt_name<T: DeserializeOwned>(
        &self,
        i: usize,
        field: &'static str,
    ) -> Result<Option<T>, StoreError> {
        match self.opt_text(i, field)? {
            Some(_) => self.name(i, field).map(Some),
            None => Ok(None),
        }
    }

    fn json<T: DeserializeOwned>(&self, i: usize, field: &'static str) -> Result<T, StoreError> {
        serde_json::from_str(self.text(i, field)?)
            .map_err(|e| self.corrupt(i, field, e.to_string()))
    }

    /// JSON stored as text, or as bytes in either form [`alert_body::unpack`] reads.
    fn packed_json<T: DeserializeOwned>(
        &self,
        i: usize,
        field: &'static str,
    ) -> Result<T, StoreError> {
        match self.row.get(i) {
            Some(Value::Blob(bytes)) => {
                let json = alert_body::unpack(bytes).map_err(|why| self.corrupt(i, field, why))?;
                serde_json::from_slice(&json).map_err(|e| self.corrupt(i, field, e.to_string()))
            }
            _ => self.json(i, field),
        }
    }

    fn ip(&self, i: usize, field: &'static str) -> Result<IpAddr, StoreError> {
        self.text(i, field)?
            .parse()
            .map_err(|_| self.corrupt(i, field, "not an IP address".into()))
    }

    fn net(&self, i: usize, field: &'static str) -> Result<IpNet, StoreError> {
        self.text(i, field)?
            .parse()
            .map_err(|_| self.corrupt(i, field, "not a network (address/prefix)".into()))
    }

    fn opt_net(&self, i: usize, field: &'static str) -> Result<Option<IpNet>, StoreError> {
        match self.opt_text(i, field)? {
            Some(_) => self.net(i, field).map(Some),
            None => Ok(None),
        }
    }

    fn opt_ip(&self, i: usize, field: &'static str) -> Result<Option<IpAddr>, StoreError> {
        match self.opt_text(i, field)? {
            Some(_) => self.ip(i, field).map(Some),
            None => Ok(None),
        }
    }

    fn port(&self, i: usize, field: &'static str) -> Result<u16, StoreError> {
        u16::try_from(self.int(i, field)?)
            .map_err(|_| self.corrupt(i, field, "not a port number".into()))
    }

    fn small(&self, i: usize, field: &'static str) -> Result<u8, StoreError> {
        u8::try_from(self.int(i, field)?)
            .map_err(|_| self.corrupt(i, field, "out of range 0..=255".into()))
    }

    fn count(&self, i: usize, field: &'static str) -> Result<u32, StoreError> {
        u32::try_from(self.int(i, field)?)
            .map_err(|_| self.corrupt(i, field, "out of range for a count".into()))
    }

    fn opt_timestamp(
        &self,
        i: usize,
        field: &'static str,
    ) -> Result<Option<Timestamp>, StoreError> {
        self.opt_int(i, field)?
            .map(|us| {
                Timestamp::from_microsecond(us).map_err(|e| self.corrupt(i, field, e.to_string()))
            })
            .transpose()
    }

    fn timestamp(&self, i: usize, field: &'static str) -> Result<Timestamp, StoreError> {
        self.opt_timestamp(i, field)?
            .ok_or_else(|| self.corrupt(i, field, "expected a timestamp".into()))
    }
}

#[cfg(test)]
mod tests {
    use picket_model::HostStats;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Rates and loss shares are stored as JSON text: they must read back bit for bit.
        #[test]
        fn stored_floats_read_back_exactly(loss in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
            let stats = HostStats { loss, ..HostStats::default() };
            let text = to_json(&stats, &String::new, "stats").unwrap();
            let back: HostStats = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back.loss.to_bits(), loss.to_bits());
        }
    }
}
