//! The store's operations, split by capability: each consumer asks for only what it uses
//! (`&impl AlertStore`, `&dyn IntelStore`), and [`crate::Store`] implements them all.
//!
//! Every method takes `&self`: one handle (or its clones) serves many threads at once. These
//! traits must never expose a connection or a transaction: what belongs together is one method.

use std::net::IpAddr;

use ipnet::IpNet;
use picket_model::{
    Alert, AlertTriage, Application, FeedMeta, Finding, HostResult, Indicator, KnowledgeKey,
    KnowledgeRow, KnowledgeSource, RunId, RunSummary, ScanProfile, ScanRun, Suppression, Targets,
    Timestamp, Vulnerability,
};

use crate::{
    AlertCount, AlertFilter, AlertWrite, BlockRecord, ClaimedCheckpoint, FeedSummary,
    FindingFilter, IndicatorSlice, InventoryEntry, SourceApplications, StoreError, TriagedAlert,
    VulnRecord, VulnSourceSummary,
};

/// Scan runs, their hosts, observations and re-checks, and findings.
///
/// "Newest" means the highest [`RunId`]: ids are handed out in the order runs begin and are
/// never reused.
pub trait RunStore: Send + Sync {
    /// Records a new run with status Running; returns its id.
    fn begin_run(
        &self,
        targets: &Targets,
        profile: &ScanProfile,
        started_at: Timestamp,
    ) -> Result<RunId, StoreError>;

    /// Stores hosts of a run that is still running, as they finish, in one transaction: a
    /// host saved again for the same run replaces its earlier rows; the run's other hosts stay.
    /// So a huge scan needs no more memory than the hosts in flight. Refused for a run that is
    /// not in the store or not running.
    fn save_hosts(&self, run: RunId, hosts: &[HostResult]) -> Result<(), StoreError>;

    /// Stores the run's status, `finished_at`, re-checks (replacing any stored for `run.id`)
    /// and hosts with their observations, in one transaction. The hosts are stored as
    /// [`RunStore::save_hosts`] does: each replaces its earlier rows, and hosts saved before
    /// but not given here stay (a caller that streamed its hosts passes only those it changed
    /// since; one that passes all gets exactly them). The run must have been begun with
    /// [`RunStore::begin_run`]; its targets and profile stay as begun.
    fn finish_run(&self, run: &ScanRun) -> Result<(), StoreError>;

    /// Inserts findings in one transaction and sets each `id`. A finding that already has an id
    /// is refused (nothing is written), so that a finding is never stored twice.
    fn save_findings(&self, findings: &mut [Finding]) -> Result<(), StoreError>;

    /// [`RunStore::finish_run`] and [`RunStore::save_findings`] in one transaction: a run is never
    /// stored finished without its findings (the next scan compares against the newest finished
    /// run, so findings lost after it was stored would never be raised again).
    fn finish_run_with_findings(
        &self,
        run: &ScanRun,
        findings: &mut [Finding],
    ) -> Result<(), StoreError>;

    /// The full run: hosts sorted by address, each host's ports by port, re-checks in the order
    /// they were stored. `None` if there is no such run.
    fn run(&self, id: RunId) -> Result<Option<ScanRun>, StoreError>;

    /// The run as [`RunStore::run`] reads it, with only those of `hosts` that it has: what a
    /// comparison of a huge run needs without reading every host. `None` if there is no such
    /// run.
    fn run_with_hosts(&self, id: RunId, hosts: &[IpAddr]) -> Result<Option<ScanRun>, StoreError>;

    /// Only the open ports of a run, per host (hosts by address, each host's ports ascending;
    /// hosts without an open port left out), read without building the run's hosts: what a
    /// comparison with the previous run needs.
    fn open_ports(&self, run: RunId) -> Result<Vec<(IpAddr, Vec<u16>)>, StoreError>;

    /// The newest `limit` runs, newest first, whatever their status.
    fn runs(&self, limit: usize) -> Result<Vec<RunSummary>, StoreError>;

    /// Every run begun and not finished (status running), oldest first: what a caller checks
    /// for runs whose owner died.
    fn running_runs(&self) -> Result<Vec<RunId>, StoreError>;

    /// Completed runs whose target_key equals `target_key`, newest first, at most `limit`.
    fn runs_for_targets(&self, target_key: &str, limit: usize) -> Result<Vec<RunId>, StoreError>;

    /// The latest Completed run with the same target_key and an id lower than `before`.
    fn previous_run(&self, target_key: &str, before: RunId) -> Result<Option<RunId>, StoreError>;

    /// The findings that match every condition set in `filter`, oldest first (by `created_at`,
    /// then by id).
    fn findings(&self, filter: &FindingFilter) -> Result<Vec<Finding>, StoreError>;
}

/// Threat-intel feeds and their indicators.
pub trait IntelStore: Send + Sync {
    /// Registers the feed `name` with these indicators, replacing whatever it held before, in
    /// one transaction: readers see the old feed or the new one, never a mix, and a failure
    /// keeps the old feed. `meta.name` and every indicator's `feed` must be `name` (checked
    /// before anything is written).
    fn replace_feed(
        &self,
        name: &str,
        meta: &FeedMeta,
        indicators: &[Indicator],
        loaded_at: Timestamp,
    ) -> Result<FeedSummary, StoreError>;

    /// Every registered feed, by name.
    fn feeds(&self) -> Result<Vec<FeedSummary>, StoreError>;

    /// Removes the feed and its indicators; `false` if there was no such feed.
    fn remove_feed(&self, name: &str) -> Result<bool, StoreError>;

    /// The indicators of one feed, or of all; grouped by feed (in the order the feeds were last
    /// replaced), each feed's in the order it was given to [`IntelStore::replace_feed`].
    fn indicators(&self, feed: Option<&str>) -> Result<Vec<Indicator>, StoreError>;

    /// The indicators of [`IntelStore::indicators`], in its order, handed to `each` one at a
    /// time as they are read, so that a caller building its own index never holds them all.
    fn each_indicator(
        &self,
        feed: Option<&str>,
        each: &mut dyn FnMut(Indicator),
    ) -> Result<(), StoreError>;

    /// The indicators of every feed cut into at most `parts` slices of about the same size:
    /// read at once (each on a connection of its own) and put together in order, they are
    /// [`IntelStore::each_indicator`]'s stream. A feed replaced meanwhile can tear them: a
    /// caller checks that [`IntelStore::feeds`] did not change while it read.
    fn indicator_slices(&self, parts: usize) -> Result<Vec<IndicatorSlice>, StoreError>;

    /// The indicators of one slice of [`IntelStore::indicator_slices`], in order, handed to
    /// `each` one at a time as they are read.
    fn each_indicator_in(
        &self,
        slice: &IndicatorSlice,
        each: &mut dyn FnMut(Indicator),
    ) -> Result<(), StoreError>;

    /// Every stored indicator whose network covers `addr`, from every feed, in the order of
    /// `picket_intel::IntelTable::lookup` over [`IntelStore::indicators`]: widest network first,
    /// then in the order `indicators` lists them. An IPv4-mapped address (`::ffff:192.0.2.1`)
    /// is looked up as its IPv4 form. One indexed query, whatever the number of indicators.
    fn indicators_covering(&self, addr: IpAddr) -> Result<Vec<Indicator>, StoreError>;

    /// What the intel table is built from: a text naming every feed's id, indicator count and
    /// load time. Replacing, adding or removing any feed changes it.
    fn intel_table_key(&self) -> Result<String, StoreError>;

    /// The encoded intel table kept by [`IntelStore::keep_intel_table`] for the feeds `key`
    /// names; `None` if none is kept for exactly those.
    fn stored_intel_table(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Keeps `body` (the caller's encoding of the table built from the feeds `key` names) in
    /// place of any table kept before, unless the feeds have changed since `key` was read
    /// (`false`, nothing written). Replacing or removing a feed deletes the kept table.
    fn keep_intel_table(&self, key: &str, body: &[u8]) -> Result<bool, StoreError>;
}

/// What runs where: applications at host ports, as each source says.
pub trait InventoryStore: Send + Sync {
    /// Records that `apps` run on `host` port `port`, as `source` says (`manual`, `scan`,
    /// `report:FILE` ...), replacing whatever that source said there before, in one
    /// transaction: one entry per application (a scanner report names many packages behind one
    /// port). Of several applications with one package, the last is kept.
    fn replace_applications(
        &self,
        host: IpAddr,
        port: u16,
        apps: &[Application],
        source: &str,
        updated_at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Records that `app` alone runs on `host` port `port` as `source` says: one entry per
    /// (host, port, source), replaced by a newer call.
    fn upsert_application(
        &self,
        host: IpAddr,
        port: u16,
        app: &Application,
        source: &str,
        updated_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.replace_applications(host, port, std::slice::from_ref(app), source, updated_at)
    }

    /// Every inventory entry, by host (numerically), port, source and product.
    fn inventory(&self) -> Result<Vec<InventoryEntry>, StoreError>;

    /// Removes the entries of one source at a host port; `false` if there were none.
    fn remove_application(&self, host: IpAddr, port: u16, source: &str)
    -> Result<bool, StoreError>;
}

/// Vulnerability knowledge: vulnerabilities and the imported records they are rebuilt from.
pub trait VulnStore: Send + Sync {
    /// Stores vulnerabilities by id (a stored one with the same id is replaced), in one
    /// transaction. Of several with one id in `vulns`, the last is kept.
    fn put_vulnerabilities(&self, vulns: &[Vulnerability]) -> Result<(), StoreError>;

    /// Every stored vulnerability, by id.
    fn vulnerabilities(&self) -> Result<Vec<Vulnerability>, StoreError>;

    /// Stores imported source records by (kind, id), replacing stored ones, in one transaction.
    /// Of several with one (kind, id) in `records`, the last is kept.
    fn put_vuln_records(&self, records: &[VulnRecord]) -> Result<(), StoreError>;

    /// What one `vuln import` stores, in one transaction: `records` as
    /// [`VulnStore::put_vuln_records`] does, and every set of `applications` as
    /// [`InventoryStore::replace_applications`] does (a re-imported report replaces its packages).
    fn import_vuln_knowledge(
        &self,
        records: &[VulnRecord],
        applications: &[SourceApplications],
    ) -> Result<(), StoreError>;

    /// Hands every stored record of `kind` (or of every kind) to `each`, one at a time, without
    /// holding them all in memory (an NVD import is hundreds of megabytes). No order.
    fn vuln_records(
        &self,
        kind: Option<&str>,
        each: &mut dyn FnMut(VulnRecord),
    ) -> Result<(), StoreError>;

    // Vulnerability knowledge in the shape it is queried: each imported source's rows, keyed
    // by what a match looks up (`picket_vuln::knowledge` encodes and decodes them).

    /// What one `vuln import` stores, in one transaction: each source's rows in place of
    /// whatever the same (kind, id) held before (of several with one (kind, id) in `sources`,
    /// the last is kept), and every set of `applications` as
    /// [`InventoryStore::replace_applications`] does.
    fn replace_vuln_knowledge(
        &self,
        sources: &[KnowledgeSource],
        applications: &[SourceApplications],
    ) -> Result<(), StoreError>;

    /// The rows stored under `keys`, and no others: by key (kind, then key), the rows of one
    /// key by source (kind, then id) and then in the order their source gave them.
    fn vuln_knowledge(&self, keys: &[KnowledgeKey]) -> Result<Vec<KnowledgeRow>, StoreError>;

    /// The stored sources (of one kind, or all) with how many rows each holds, by kind, then
    /// id.
    fn vuln_sources(&self, kind: Option<&str>) -> Result<Vec<VulnSourceSummary>, StoreError>;

    /// The upgrade of a database that holds raw [`VulnRecord`]s: stores those of `sources`
    /// (the records converted) that are not stored yet, so a source imported since keeps its
    /// newer rows, and removes every raw record, in one transaction.
    fn adopt_vuln_records(&self, sources: &[KnowledgeSource]) -> Result<(), StoreError>;
}

/// Alerts, suppressions and the checkpoints of followed sources.
pub trait AlertStore: Send + Sync {
    /// Stores the alert, keyed by its `dedup_key` and `window_start`: a new key inserts it, a
    /// known one overwrites the stored alert with this one (counts, last_seen, severity,
    /// context). Sets `alert.id`.
    fn upsert_alert(&self, alert: &mut Alert) -> Result<AlertWrite, StoreError>;

    /// [`AlertStore::upsert_alert`] for a batch, in one transaction: all are stored or none.
    fn upsert_alerts(&self, alerts: &mut [Alert]) -> Result<Vec<AlertWrite>, StoreError> {
        self.upsert_alerts_meanwhile(alerts, &mut |_, _| {})
    }

    /// [`AlertStore::upsert_alerts`], calling `meanwhile` with the alerts as they stand once
    /// committed (ids set) and what happened to each, while a big batch's commit (its disk
    /// writes) runs on another thread: the caller gets ready what follows the commit, such as
    /// the alerts rendered. `meanwhile` must not let anything out: if the commit fails, the
    /// error comes back, the ids are as they were, and what it made is to be dropped.
    fn upsert_alerts_meanwhile(
        &self,
        alerts: &mut [Alert],
        meanwhile: &mut dyn FnMut(&[Alert], &[AlertWrite]),
    ) -> Result<Vec<AlertWrite>, StoreError>;

    /// The alerts matching every condition set in `filter`, by `first_seen`, then id (the page
    /// `filter` asks for of that order).
    fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError>;

    /// [`AlertStore::alerts`] with each alert's triage (open and untouched when nobody triaged
    /// it).
    fn triaged_alerts(&self, filter: &AlertFilter) -> Result<Vec<TriagedAlert>, StoreError>;

    /// Sets the triage of alert `id` (replacing the one it had); `false` if there is no such
    /// alert. The detector's later updates of the alert keep it.
    fn set_alert_triage(&self, id: i64, triage: &AlertTriage) -> Result<bool, StoreError>;

    /// How many alerts there are of each severity and status (those with none left out), by
    /// severity name, then status name.
    fn alert_counts(&self) -> Result<Vec<AlertCount>, StoreError>;

    /// The alerts whose dedup window started at or after `since`, by window start, then id:
    /// what a restarted detector reloads to go on updating them instead of raising new ones.
    fn open_alerts(&self, since: Timestamp) -> Result<Vec<Alert>, StoreError>;

    /// Stores a new suppression and returns its id; one that already has an id is refused.
    fn add_suppression(&self, suppression: &Suppression) -> Result<i64, StoreError>;

    /// Every suppression, expired or not, by id.
    fn suppressions(&self) -> Result<Vec<Suppression>, StoreError>;

    /// `false` if there was no such suppression.
    fn remove_suppression(&self, id: i64) -> Result<bool, StoreError>;

    /// Where the followed `source` got to, as last saved.
    fn checkpoint(&self, source: &str) -> Result<Option<serde_json::Value>, StoreError>;

    /// Upserts `alerts` (as [`AlertStore::upsert_alert`]) and saves the checkpoint of `source`, in
    /// one transaction: after a crash, the reader resumes from a checkpoint that matches the
    /// stored alerts, so no event is lost and none is counted twice. Sets each `id` only once
    /// committed; returns what happened to each alert, in order.
    fn save_checkpoint_with_alerts(
        &self,
        source: &str,
        checkpoint: &serde_json::Value,
        alerts: &mut [Alert],
    ) -> Result<Vec<AlertWrite>, StoreError> {
        self.save_checkpoint_with_alerts_meanwhile(source, checkpoint, alerts, &mut |_, _| {})
    }

    /// [`AlertStore::save_checkpoint_with_alerts`], with `meanwhile` called while the commit
    /// runs, as [`AlertStore::upsert_alerts_meanwhile`] calls it.
    fn save_checkpoint_with_alerts_meanwhile(
        &self,
        source: &str,
        checkpoint: &serde_json::Value,
        alerts: &mut [Alert],
        meanwhile: &mut dyn FnMut(&[Alert], &[AlertWrite]),
    ) -> Result<Vec<AlertWrite>, StoreError>;

    /// Claims `source`'s checkpoint for a new holder, in one statement: its epoch goes up by
    /// one, and the checkpoint as last saved comes back with it. From then on a
    /// [`AlertStore::save_fenced_checkpoint_with_alerts`] under an older epoch is refused, so a
    /// holder that stalled past its lease can no longer write what the new holder counts.
    fn claim_checkpoint(&self, source: &str) -> Result<ClaimedCheckpoint, StoreError>;

    /// [`AlertStore::save_checkpoint_with_alerts`] for the holder of `epoch`: the checkpoint is
    /// compared and set in the same transaction as the alerts, and when `epoch` is no longer
    /// current nothing is written and [`StoreError::Fenced`] is returned.
    fn save_fenced_checkpoint_with_alerts(
        &self,
        source: &str,
        epoch: i64,
        checkpoint: &serde_json::Value,
        alerts: &mut [Alert],
    ) -> Result<Vec<AlertWrite>, StoreError>;
}

/// The history of blocks.
pub trait BlockStore: Send + Sync {
    /// Records a block and returns its id; one that already has an id is refused.
    fn record_block(&self, block: &BlockRecord) -> Result<i64, StoreError>;

    /// Every block (`None`), or those in force at the given instant: not lifted and not
    /// expired. By id.
    fn blocks(&self, active_at: Option<Timestamp>) -> Result<Vec<BlockRecord>, StoreError>;

    /// Marks every block of exactly `net` that is not yet lifted as lifted at `at`; returns
    /// how many there were.
    fn mark_unblocked(&self, net: IpNet, at: Timestamp) -> Result<u64, StoreError>;
}
