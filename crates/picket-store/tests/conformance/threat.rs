//! The threat side of the conformance suite, on both backends: feeds and indicators, the
//! inventory, vulnerability knowledge, alerts, suppressions, checkpoints with alerts, blocks, and
//! the upgrade of a database created by schema version 1.

use std::fs::File;
use std::path::PathBuf;

use ipnet::IpNet;
use picket_model::{
    Alert, AlertKind, AlertVuln, Application, Confidence, Cvss, CvssSeverity, CvssVersion, Epss,
    FeedFormat, FeedMeta, Indicator, IntelHit, Package, Severity, SeverityReason, SourceRef,
    Suppression, Transport, Vulnerability,
};
use picket_model::{AlertStatus, AlertTriage, CloseReason};
use picket_store::{
    AlertCount, AlertCursor, AlertFilter, AlertWrite, BlockRecord, FeedSummary, SourceApplications,
    TriagedAlert, VulnRecord,
};
use picket_vuln::{NvdCve, OsvRecord, VulnDb, read_nvd, read_osv};
use serde_json::json;

use super::*;

conformance!(
    feeds_round_trip_and_replace,
    a_failed_feed_replace_keeps_the_old_feed,
    stores_a_large_feed,
    inventory_keeps_one_entry_per_source,
    inventory_keeps_every_package_of_a_report,
    a_vuln_import_stores_records_and_applications_together,
    vulnerability_knowledge_rebuilds_the_index,
    alerts_upsert_filter_and_reload,
    alert_batches_are_one_transaction,
    suppressions_round_trip,
    checkpoint_and_alerts_are_one_transaction,
    a_claimed_checkpoint_fences_the_holder_before,
    blocks_keep_their_history,
    upgrades_a_version_1_database_keeping_its_runs,
    upgrades_a_version_3_inventory_keeping_its_entries,
    alert_bodies_are_packed_and_those_stored_as_json_still_read,
    corrupt_threat_values_are_reported_by_field,
    a_corrupt_indicator_late_in_a_big_feed_is_reported,
    a_big_alert_batch_is_written_as_one_at_a_time,
    an_alert_twice_in_one_batch_is_stored_then_updated,
    meanwhile_sees_the_alerts_as_committed,
    alert_triage_is_set_filtered_and_kept_by_updates,
    alerts_page_and_count,
);

/// One hour, in microseconds.
const HOUR: i64 = 3_600_000_000;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

impl TestDb {
    /// Makes the database refuse (with an error) any insert or update of `table` whose new row
    /// meets `condition` (written with `NEW.column`), behind the store's back: the way to make a
    /// write fail half-way through a transaction.
    pub(super) fn refuse(&mut self, table: &str, condition: &str) {
        let sql = match self.kind {
            Kind::Sqlite { .. } => format!(
                "CREATE TRIGGER refuse_{table}_insert BEFORE INSERT ON {table} WHEN {condition}
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;
                 CREATE TRIGGER refuse_{table}_update BEFORE UPDATE ON {table} WHEN {condition}
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
            ),
            Kind::Postgres { .. } => format!(
                "CREATE OR REPLACE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS
                 $f$ BEGIN RAISE EXCEPTION 'refused by the test'; END $f$;
                 CREATE TRIGGER refuse_{table} BEFORE INSERT OR UPDATE ON {table}
                 FOR EACH ROW WHEN ({condition}) EXECUTE FUNCTION refuse_row();"
            ),
        };
        self.raw(&sql);
    }

    /// Makes every commit of a transaction that inserted into `table` fail, behind the store's
    /// back: a row of a deferred check (a foreign key in SQLite, a constraint trigger in
    /// PostgreSQL) that only the commit tests.
    fn refuse_commit(&mut self, table: &str) {
        let sql = match self.kind {
            Kind::Sqlite { .. } => format!(
                "CREATE TABLE commit_guard_target (id INTEGER PRIMARY KEY);
                 CREATE TABLE commit_guard (target INTEGER
                     REFERENCES commit_guard_target (id) DEFERRABLE INITIALLY DEFERRED);
                 CREATE TRIGGER refuse_commit_{table} AFTER INSERT ON {table}
                 BEGIN INSERT INTO commit_guard VALUES (1); END;"
            ),
            Kind::Postgres { .. } => format!(
                "CREATE OR REPLACE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS
                 $f$ BEGIN RAISE EXCEPTION 'commit refused by the test'; END $f$;
                 CREATE CONSTRAINT TRIGGER refuse_commit_{table} AFTER INSERT ON {table}
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit();"
            ),
        };
        self.raw(&sql);
    }

    /// Undoes [`TestDb::refuse`].
    fn allow(&mut self, table: &str) {
        let sql = match self.kind {
            Kind::Sqlite { .. } => {
                format!("DROP TRIGGER refuse_{table}_insert; DROP TRIGGER refuse_{table}_update;")
            }
            Kind::Postgres { .. } => format!("DROP TRIGGER refuse_{table} ON {table};"),
        };
        self.raw(&sql);
    }

    /// Schema version `version` exactly as a build that knew only the migrations up to it
    /// left it.
    pub(super) fn create_version(&mut self, version: usize) {
        const DDL: [(&str, &str); 10] = [
            (
                "runs, hosts, observations, rechecks, findings",
                include_str!("../../src/migrations/001_initial.sql"),
            ),
            (
                "feeds, indicators, inventory, vulnerabilities, alerts, suppressions, checkpoints, blocks",
                include_str!("../../src/migrations/002_threat.sql"),
            ),
            (
                "detected services on observations",
                include_str!("../../src/migrations/003_services.sql"),
            ),
            (
                "one inventory entry per package",
                include_str!("../../src/migrations/004_inventory_packages.sql"),
            ),
            (
                "indicators keyed by network for indexed lookups",
                include_str!("../../src/migrations/005_indicator_keys.sql"),
            ),
            (
                "vulnerability knowledge by lookup key",
                include_str!("../../src/migrations/006_vuln_knowledge.sql"),
            ),
            (
                "reverse DNS names of hosts",
                include_str!("../../src/migrations/007_reverse_names.sql"),
            ),
            (
                "alert triage: status, close reason, note, who and when",
                include_str!("../../src/migrations/008_alert_triage.sql"),
            ),
            (
                "a fencing epoch per checkpoint",
                include_str!("../../src/migrations/009_checkpoint_epochs.sql"),
            ),
            (
                "the intel table kept encoded",
                include_str!("../../src/migrations/010_intel_tables.sql"),
            ),
        ];
        let (id_pk, bytewise, blob) = match self.kind {
            Kind::Sqlite { .. } => ("INTEGER PRIMARY KEY AUTOINCREMENT", "", "BLOB"),
            Kind::Postgres { .. } => (
                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                "COLLATE \"C\"",
                "BYTEA",
            ),
        };
        self.raw(
            "CREATE TABLE schema_migrations (
                 version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        );
        for (i, (name, ddl)) in DDL[..version].iter().enumerate() {
            self.raw(&format!(
                "{};
                 INSERT INTO schema_migrations VALUES ({}, {}, {T0});",
                ddl.replace("{id_pk}", id_pk)
                    .replace("{bytewise}", bytewise)
                    .replace("{blob}", blob),
                i + 1,
                quote(name)
            ));
        }
    }
}

pub(super) fn meta(name: &str, format: FeedFormat) -> FeedMeta {
    let mut m = FeedMeta::new(name, format);
    m.header_name = Some(format!("{name}_level1"));
    m.description = Some("Addresses seen attacking — \"quoted\" and 'single' ✓".into());
    m.source_url = Some("https://example.org/list.txt".into());
    m.file_date = Some(ts(T0 - HOUR));
    m.category = Some("attacks".into());
    m.stated_entries = Some(4);
    m
}

/// Indicators of `feed` with every optional field used somewhere, IPv4 and IPv6, and one
/// network listed twice (feeds do that).
fn indicators(feed: &str) -> Vec<Indicator> {
    let mut scored = Indicator::new(net("203.0.113.7/32"), feed);
    scored.score = Some(10.0 / 3.0);
    let mut full = Indicator::new(net("198.51.100.0/24"), feed);
    full.score = Some(7.0);
    full.first_seen = Some(ts(T0 - 48 * HOUR));
    full.last_seen = Some(ts(T0 - HOUR));
    full.category = Some("malware".into());
    full.comment = Some("SBL256894; \"C2\" ✓".into());
    vec![
        scored.clone(),
        full,
        Indicator::new(net("2001:db8:bad::/48"), feed),
        scored,
    ]
}

pub(super) fn many_indicators(feed: &str, n: u32) -> Vec<Indicator> {
    (0..n)
        .map(|i| {
            let mut ind = Indicator::new(
                IpNet::new(IpAddr::from((0x0b00_0000u32 + i).to_be_bytes()), 32).unwrap(),
                feed,
            );
            if i % 4 == 0 {
                ind.score = Some(f64::from(i % 10));
            }
            ind
        })
        .collect()
}

fn feeds_round_trip_and_replace(db: &mut TestDb) {
    let store = db.open();
    assert!(store.feeds().unwrap().is_empty());
    let ipsum = indicators("ipsum");
    let summary = store
        .replace_feed("ipsum", &meta("ipsum", FeedFormat::Ipsum), &ipsum, ts(T0))
        .unwrap();
    assert_eq!(
        summary,
        FeedSummary {
            name: "ipsum".into(),
            format: FeedFormat::Ipsum,
            meta: meta("ipsum", FeedFormat::Ipsum),
            indicators: 4,
            loaded_at: ts(T0),
        }
    );
    assert_eq!(store.indicators(Some("ipsum")).unwrap(), ipsum);

    let drop_list = vec![Indicator::new(net("192.0.2.0/24"), "drop")];
    store
        .replace_feed(
            "drop",
            &FeedMeta::new("drop", FeedFormat::SpamhausDrop),
            &drop_list,
            ts(T0 + 1),
        )
        .unwrap();
    assert_eq!(store.indicators(Some("drop")).unwrap(), drop_list);
    // All of them, grouped by feed, each in its own order.
    let all = store.indicators(None).unwrap();
    assert_eq!(all, [ipsum.clone(), drop_list.clone()].concat());
    let listed = store.feeds().unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|f| (f.name.as_str(), f.format, f.indicators))
            .collect::<Vec<_>>(),
        [
            ("drop", FeedFormat::SpamhausDrop, 1),
            ("ipsum", FeedFormat::Ipsum, 4)
        ]
    );
    assert_eq!(listed[1], summary);

    // Replacing swaps the whole feed and leaves the other alone.
    let mut newer = meta("ipsum", FeedFormat::Ipsum);
    newer.version = Some("2".into());
    let replacement = vec![Indicator::new(net("2001:db8::1/128"), "ipsum")];
    store
        .replace_feed("ipsum", &newer, &replacement, ts(T0 + 2))
        .unwrap();
    assert_eq!(store.indicators(Some("ipsum")).unwrap(), replacement);
    assert_eq!(store.indicators(Some("drop")).unwrap(), drop_list);
    // The replaced feed now comes last.
    assert_eq!(
        store.indicators(None).unwrap(),
        [drop_list.clone(), replacement.clone()].concat()
    );
    let ipsum_now = &store.feeds().unwrap()[1];
    assert_eq!(
        (ipsum_now.indicators, ipsum_now.loaded_at, &ipsum_now.meta),
        (1, ts(T0 + 2), &newer)
    );
    assert_eq!(db.raw_count("SELECT COUNT(*) FROM indicators"), 2);

    // An empty feed is still a feed.
    store
        .replace_feed("ipsum", &newer, &[], ts(T0 + 3))
        .unwrap();
    assert_eq!(store.feeds().unwrap()[1].indicators, 0);
    assert!(store.indicators(Some("ipsum")).unwrap().is_empty());

    // Refused before anything is written: names that disagree, a score JSON cannot hold.
    let err = store
        .replace_feed("ipsum", &meta("other", FeedFormat::Ipsum), &ipsum, ts(T0))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Unstorable {
                field: "meta.name",
                ..
            }
        ),
        "{err:?}"
    );
    let mut stray = ipsum.clone();
    stray[2].feed = "drop".into();
    let err = store
        .replace_feed("ipsum", &newer, &stray, ts(T0))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Unstorable { field: "feed", .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("indicator 3 (2001:db8:bad::/48)"),
        "{err}"
    );
    let mut nan = ipsum.clone();
    nan[3].score = Some(f64::NAN);
    let err = store
        .replace_feed("ipsum", &newer, &nan, ts(T0))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Unstorable { field: "score", .. }),
        "{err:?}"
    );
    assert_eq!(store.feeds().unwrap()[1].loaded_at, ts(T0 + 3));

    assert!(store.remove_feed("ipsum").unwrap());
    assert!(!store.remove_feed("ipsum").unwrap());
    assert!(store.indicators(Some("ipsum")).unwrap().is_empty());
    assert_eq!(store.indicators(None).unwrap(), drop_list);
    assert_eq!(store.feeds().unwrap().len(), 1);
    assert!(store.indicators(Some("no-such-feed")).unwrap().is_empty());
}

fn a_failed_feed_replace_keeps_the_old_feed(db: &mut TestDb) {
    let store = db.open();
    let old_meta = meta("level1", FeedFormat::Firehol);
    let old = many_indicators("level1", 300);
    store
        .replace_feed("level1", &old_meta, &old, ts(T0))
        .unwrap();

    // The database refuses the 1,500th of 2,000 new rows: by then the old rows are deleted and
    // five multi-row inserts have gone in.
    let mut new = many_indicators("level1", 2_000);
    new[1_499].network = net("203.0.113.99/32");
    db.refuse("indicators", "NEW.network = '203.0.113.99/32'");
    let err = store
        .replace_feed(
            "level1",
            &meta("level1", FeedFormat::Plain),
            &new,
            ts(T0 + 1),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("feed level1 indicators 1281 to 1536"),
        "{text}"
    );

    assert_eq!(store.indicators(Some("level1")).unwrap(), old);
    assert_eq!(
        store.feeds().unwrap(),
        [FeedSummary {
            name: "level1".into(),
            format: FeedFormat::Firehol,
            meta: old_meta,
            indicators: 300,
            loaded_at: ts(T0),
        }]
    );

    // Nothing was left half-done: the same replacement goes through once allowed.
    db.allow("indicators");
    store
        .replace_feed(
            "level1",
            &meta("level1", FeedFormat::Plain),
            &new,
            ts(T0 + 1),
        )
        .unwrap();
    assert_eq!(store.indicators(Some("level1")).unwrap(), new);
}

/// Replaces a feed of `n` indicators twice (the second time deleting the first) and reads it
/// back, printing how long each step took.
fn load_feed(db: &mut TestDb, n: u32) {
    let backend = match db.kind {
        Kind::Sqlite { .. } => "SQLite",
        Kind::Postgres { .. } => "PostgreSQL",
    };
    let store = db.open();
    let feed = many_indicators("big", n);
    let meta = FeedMeta::new("big", FeedFormat::Plain);
    let start = Instant::now();
    store.replace_feed("big", &meta, &feed, ts(T0)).unwrap();
    let first = start.elapsed();
    let start = Instant::now();
    store.replace_feed("big", &meta, &feed, ts(T0 + 1)).unwrap();
    let again = start.elapsed();
    let start = Instant::now();
    let back = store.indicators(None).unwrap();
    let read = start.elapsed();
    assert_eq!(back.len(), feed.len());
    assert!(back == feed, "indicators differ after the round trip");
    assert_eq!(store.feeds().unwrap()[0].indicators, u64::from(n));
    eprintln!(
        "{backend}, {n} indicators: replace_feed {first:?}, again {again:?}, indicators {read:?}"
    );
}

fn stores_a_large_feed(db: &mut TestDb) {
    load_feed(db, 50_000);
}

/// The measurement asked for in issue #3: `cargo test --release -p picket-store --test
/// conformance -- --ignored --nocapture million`.
mod million {
    #[test]
    #[ignore = "slow: a million indicators; run in release with --ignored"]
    fn sqlite() {
        super::load_feed(&mut super::TestDb::sqlite(), 1_000_000);
    }

    #[test]
    #[ignore = "slow: a million indicators; run in release with --ignored"]
    fn postgres() {
        if let Some(mut db) = super::TestDb::postgres("million") {
            super::load_feed(&mut db, 1_000_000);
        }
    }
}

fn openssh(version: &str) -> Application {
    Application::new("openssh")
        .with_vendor("openbsd")
        .with_version(version)
}

fn inventory_keeps_one_entry_per_source(db: &mut TestDb) {
    let store = db.open();
    assert!(store.inventory().unwrap().is_empty());
    let packaged = openssh("9.2p1").with_package(
        "Debian:12",
        Package::new("openssh-server", "1:9.2p1-2+deb12u3"),
    );
    let nginx = Application::new("nginx").with_version("1.22.1");
    store
        .upsert_application(ip("192.0.2.10"), 22, &openssh("9.2p1"), "scan", ts(T0))
        .unwrap();
    store
        .upsert_application(ip("2001:db8::5"), 443, &nginx, "scan", ts(T0 + 1))
        .unwrap();
    store
        .upsert_application(ip("192.0.2.2"), 22, &openssh("8.9p1"), "manual", ts(T0 + 2))
        .unwrap();
    store
        .upsert_application(
            ip("192.0.2.10"),
            22,
            &packaged,
            "report:trivy.json",
            ts(T0 + 3),
        )
        .unwrap();
    // A newer scan replaces the scan's own entry and nothing else.
    store
        .upsert_application(ip("192.0.2.10"), 22, &openssh("9.6p1"), "scan", ts(T0 + 4))
        .unwrap();

    let entries = store.inventory().unwrap();
    let rows: Vec<(String, u16, &str, &Application, Timestamp)> = entries
        .iter()
        .map(|e| {
            (
                e.host.to_string(),
                e.port,
                e.source.as_str(),
                &e.application,
                e.updated_at,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "192.0.2.2".into(),
                22,
                "manual",
                &openssh("8.9p1"),
                ts(T0 + 2)
            ),
            (
                "192.0.2.10".into(),
                22,
                "report:trivy.json",
                &packaged,
                ts(T0 + 3)
            ),
            (
                "192.0.2.10".into(),
                22,
                "scan",
                &openssh("9.6p1"),
                ts(T0 + 4)
            ),
            ("2001:db8::5".into(), 443, "scan", &nginx, ts(T0 + 1)),
        ]
    );

    assert!(
        store
            .remove_application(ip("192.0.2.10"), 22, "scan")
            .unwrap()
    );
    assert!(
        !store
            .remove_application(ip("192.0.2.10"), 22, "scan")
            .unwrap()
    );
    assert!(
        !store
            .remove_application(ip("192.0.2.10"), 80, "report:trivy.json")
            .unwrap()
    );
    let left: Vec<String> = store
        .inventory()
        .unwrap()
        .into_iter()
        .map(|e| e.source)
        .collect();
    assert_eq!(left, ["manual", "report:trivy.json", "scan"]);
}

fn inventory_keeps_every_package_of_a_report(db: &mut TestDb) {
    let store = db.open();
    let host = ip("192.0.2.10");
    let package = |name: &str, version: &str| {
        Application::new(name)
            .with_version(version)
            .with_package("Alpine", Package::new(name, version))
    };
    let listed = |store: &Store| -> Vec<(String, String, Timestamp)> {
        store
            .inventory()
            .unwrap()
            .into_iter()
            .map(|e| (e.source, e.application.product, e.updated_at))
            .collect()
    };
    store
        .upsert_application(host, 443, &openssh("9.2p1"), "scan", ts(T0))
        .unwrap();
    // One report names two packages, one of them twice: two entries.
    let report = [
        package("libssl1.1", "1.1.1c-r0"),
        package("libcrypto1.1", "1.1.1c-r0"),
        package("libssl1.1", "1.1.1c-r0"),
    ];
    store
        .replace_applications(host, 443, &report, "report:trivy.json", ts(T0 + 1))
        .unwrap();
    let entry = |source: &str, product: &str, at: i64| (source.into(), product.into(), ts(at));
    assert_eq!(
        listed(&store),
        [
            entry("report:trivy.json", "libcrypto1.1", T0 + 1),
            entry("report:trivy.json", "libssl1.1", T0 + 1),
            entry("scan", "openssh", T0),
        ]
    );
    // The same report again, after an upgrade, replaces what it said before.
    store
        .replace_applications(
            host,
            443,
            &[package("libssl1.1", "1.1.1d-r0")],
            "report:trivy.json",
            ts(T0 + 2),
        )
        .unwrap();
    assert_eq!(
        listed(&store),
        [
            entry("report:trivy.json", "libssl1.1", T0 + 2),
            entry("scan", "openssh", T0),
        ]
    );
    // A failed replacement keeps the old entries.
    db.refuse("inventory", "NEW.source = 'report:trivy.json'");
    let store = db.open();
    assert!(
        store
            .replace_applications(host, 443, &report, "report:trivy.json", ts(T0 + 3))
            .is_err()
    );
    assert_eq!(
        listed(&store),
        [
            entry("report:trivy.json", "libssl1.1", T0 + 2),
            entry("scan", "openssh", T0),
        ]
    );
    assert!(
        store
            .remove_application(host, 443, "report:trivy.json")
            .unwrap()
    );
    assert_eq!(listed(&store), [entry("scan", "openssh", T0)]);
}

fn a_vuln_import_stores_records_and_applications_together(db: &mut TestDb) {
    let store = db.open();
    let record = |id: &str| VulnRecord {
        kind: "report".into(),
        id: id.into(),
        body: json!({"id": id}),
    };
    let entry = |port: u16| SourceApplications {
        host: ip("192.0.2.10"),
        port,
        applications: vec![openssh("9.2p1")],
        source: "report:trivy.json".into(),
        updated_at: ts(T0),
    };
    // The database refuses the second application, after the record and the first one went in.
    db.refuse("inventory", "NEW.port = 2222");
    let err = store
        .import_vuln_knowledge(&[record("trivy.json")], &[entry(22), entry(2222)])
        .unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
    let mut seen = Vec::new();
    store.vuln_records(None, &mut |r| seen.push(r.id)).unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    assert!(store.inventory().unwrap().is_empty());

    db.allow("inventory");
    store
        .import_vuln_knowledge(&[record("trivy.json")], &[entry(22), entry(2222)])
        .unwrap();
    store.vuln_records(None, &mut |r| seen.push(r.id)).unwrap();
    assert_eq!(seen, ["trivy.json"]);
    let ports: Vec<u16> = store.inventory().unwrap().iter().map(|e| e.port).collect();
    assert_eq!(ports, [22, 2222]);

    // The report imported again replaces what it said at each port, nothing left where it now
    // names no package.
    let mut upgraded = entry(22);
    upgraded.applications = vec![openssh("9.6p1")];
    let mut emptied = entry(2222);
    emptied.applications.clear();
    store
        .import_vuln_knowledge(&[record("trivy.json")], &[upgraded, emptied])
        .unwrap();
    let listed: Vec<(u16, Option<String>)> = store
        .inventory()
        .unwrap()
        .into_iter()
        .map(|e| (e.port, e.application.version))
        .collect();
    assert_eq!(listed, [(22, Some("9.6p1".to_owned()))]);
}

fn fixture(name: &str) -> File {
    File::open(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

fn nvd_records() -> Vec<NvdCve> {
    ["CVE-2024-6387.json", "CVE-2021-41773.json"]
        .into_iter()
        .flat_map(|name| {
            let import = read_nvd(fixture(name), name).unwrap();
            assert!(import.skipped.is_empty(), "{:?}", import.skipped);
            import.records
        })
        .collect()
}

fn osv_records() -> Vec<OsvRecord> {
    let name = "osv_debian_openssh.json";
    let import = read_osv(fixture(name), name).unwrap();
    assert!(import.skipped.is_empty(), "{:?}", import.skipped);
    import.records
}

fn vulnerability_knowledge_rebuilds_the_index(db: &mut TestDb) {
    let (nvd, osv) = (nvd_records(), osv_records());
    let mut original = VulnDb::new();
    nvd.iter().for_each(|c| original.add_nvd(c.clone()));
    osv.iter().for_each(|r| original.add_osv(r.clone()));

    let mut vulns: Vec<Vulnerability> = nvd.iter().map(|c| c.vulnerability.clone()).collect();
    let mut records: Vec<VulnRecord> = nvd
        .iter()
        .map(|c| VulnRecord {
            kind: "nvd".into(),
            id: c.vulnerability.id.clone(),
            body: serde_json::to_value(c).unwrap(),
        })
        .collect();
    records.extend(osv.iter().map(|r| VulnRecord {
        kind: "osv".into(),
        id: r.vulnerability.id.clone(),
        body: serde_json::to_value(r).unwrap(),
    }));
    {
        let store = db.open();
        // The same id twice in one batch: the last one is kept.
        let mut stale = vulns[0].clone();
        stale.summary = "an older summary".into();
        let batch = [vec![stale], vulns.clone()].concat();
        store.put_vulnerabilities(&batch).unwrap();
        store.put_vuln_records(&records).unwrap();
        // Putting again replaces instead of adding.
        store.put_vuln_records(&records[..1]).unwrap();

        let mut nan = vulns[1].clone();
        nan.cvss.as_mut().unwrap().base_score = f64::NAN;
        let err = store.put_vulnerabilities(&[nan]).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Unstorable {
                    field: "cvss.base_score",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    // A new process: everything comes from the store.
    let store = db.open();
    vulns.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(store.vulnerabilities().unwrap(), vulns);
    let mut rebuilt = VulnDb::new();
    let mut seen = Vec::new();
    store
        .vuln_records(Some("nvd"), &mut |r| {
            let cve: NvdCve = serde_json::from_value(r.body).unwrap();
            seen.push(cve.clone());
            rebuilt.add_nvd(cve);
        })
        .unwrap();
    seen.sort_by(|a, b| a.vulnerability.id.cmp(&b.vulnerability.id));
    let mut want = nvd.clone();
    want.sort_by(|a, b| a.vulnerability.id.cmp(&b.vulnerability.id));
    assert_eq!(seen, want, "NVD records read back as imported");
    store
        .vuln_records(Some("osv"), &mut |r| {
            rebuilt.add_osv(serde_json::from_value(r.body).unwrap());
        })
        .unwrap();
    let mut total = 0;
    store.vuln_records(None, &mut |_| total += 1).unwrap();
    assert_eq!(total, records.len());
    store
        .vuln_records(Some("kev"), &mut |_| total += 1)
        .unwrap();
    assert_eq!(total, records.len());

    assert_eq!(rebuilt.len(), original.len());
    let debian = |v: &str| openssh("9.2p1").with_package("Debian:12", Package::new("openssh", v));
    let apps = [
        openssh("9.2p1"),
        openssh("9.8p1"),
        debian("1:9.2p1-2+deb12u2"),
        debian("1:9.2p1-2+deb12u3"),
        Application::new("http_server")
            .with_vendor("apache")
            .with_version("2.4.49"),
    ];
    for app in &apps {
        assert_eq!(rebuilt.matches(app), original.matches(app), "{app}");
    }
    assert!(
        !rebuilt.matches(&apps[0]).is_empty(),
        "the fixtures match OpenSSH 9.2p1"
    );
    assert!(!rebuilt.matches(&apps[4]).is_empty(), "and httpd 2.4.49");
}

fn alert(client: &str, port: u16, window_start: i64, severity: Severity) -> Alert {
    let (client, host) = (ip(client), ip("10.0.0.5"));
    let app = openssh("9.2p1");
    let kind = AlertKind::BadClientToVulnerableApp;
    Alert {
        id: None,
        kind,
        dedup_key: Alert::dedup_key_for(
            kind,
            client,
            host,
            port,
            Transport::Tcp,
            &app,
            ts(window_start),
        ),
        window_start: ts(window_start),
        client,
        host,
        port,
        transport: Transport::Tcp,
        application: app,
        intel: vec![IntelHit {
            feed: "ipsum".into(),
            network: IpNet::from(client),
            score: Some(10.0 / 3.0),
            category: Some("attacks".into()),
            first_seen: Some(ts(T0 - 48 * HOUR)),
            last_seen: None,
        }],
        vulns: vec![AlertVuln {
            id: "CVE-2024-6387".into(),
            cvss: Some(Cvss {
                version: CvssVersion::V3_1,
                base_score: 8.1,
                severity: CvssSeverity::High,
                vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H".into(),
            }),
            kev: true,
            kev_date_added: Some("2024-07-01".parse().unwrap()),
            epss: Some(Epss {
                score: 0.431_17,
                percentile: 0.974_03,
                date: None,
            }),
            confidence: Confidence::VersionRange,
        }],
        first_seen: ts(window_start + 5_000_000),
        last_seen: ts(window_start + 6_000_000),
        connections: 3,
        established: 1,
        attempted: 1,
        bytes_to_server: 1_000,
        bytes_to_client: 2_000,
        packets_to_server: 3,
        packets_to_client: 2,
        // Counters are u64: the largest must survive JSON.
        max_bytes_per_connection: u64::MAX,
        severity,
        // A reason in words, as older builds stored them, and a typed one.
        reasons: vec![
            SeverityReason::Written("Listed by 1 feed (ipsum).".into()),
            SeverityReason::NoCvss {
                vulns: 1,
                points: 0,
            },
        ],
        sources: vec![SourceRef {
            file: "conn.log".into(),
            line: 9,
        }],
    }
}

/// `alert` seen again later in its window, more of it, and judged more severe.
fn grown(alert: &Alert) -> Alert {
    let mut a = alert.clone();
    a.connections += 7;
    a.established += 7;
    a.last_seen = ts(alert.window_start.as_microsecond() + 20 * 60_000_000);
    a.severity = Severity::Critical;
    a.reasons.push(SeverityReason::Connections {
        connections: a.connections,
        established: a.established,
        points: 2,
    });
    a
}

fn alert_batches_are_one_transaction(db: &mut TestDb) {
    let store = db.open();
    let mut first = alert("203.0.113.7", 22, T0, Severity::High);
    store.upsert_alert(&mut first).unwrap();
    let mut batch = vec![grown(&first), alert("203.0.113.8", 80, T0, Severity::Low)];
    batch[0].id = None;
    assert_eq!(
        store.upsert_alerts(&mut batch).unwrap(),
        [AlertWrite::Updated, AlertWrite::New]
    );
    assert_eq!(batch[0].id, first.id);
    assert!(batch[1].id.is_some());
    assert_eq!(store.alerts(&AlertFilter::default()).unwrap().len(), 2);

    // One alert that cannot be stored (a NaN score) keeps the whole batch out.
    let mut bad = alert("203.0.113.9", 443, T0, Severity::Low);
    bad.intel[0].score = Some(f64::NAN);
    let mut batch = vec![alert("203.0.113.10", 22, T0, Severity::Low), bad];
    assert!(store.upsert_alerts(&mut batch).is_err());
    assert!(batch.iter().all(|a| a.id.is_none()));
    assert_eq!(store.alerts(&AlertFilter::default()).unwrap().len(), 2);
}

/// A batch big enough for its alerts' rows to be made on a second thread while they are written:
/// the same kinds, ids and rows as writing them one at a time, and a bad alert late in it
/// still keeps the whole batch out.
fn a_big_alert_batch_is_written_as_one_at_a_time(db: &mut TestDb) {
    let store = db.open();
    let fresh = |i: u16| {
        alert(
            &format!("203.0.{}.{}", 113 + i / 200, i % 200 + 1),
            22,
            T0,
            Severity::Low,
        )
    };
    let mut stored = Vec::new();
    for i in (0..300).step_by(3) {
        let mut a = fresh(i);
        store.upsert_alert(&mut a).unwrap();
        stored.push(a);
    }
    let mut batch: Vec<Alert> = (0..300)
        .map(|i| {
            if i % 3 == 0 {
                grown(&fresh(i))
            } else {
                fresh(i)
            }
        })
        .collect();
    let writes = store.upsert_alerts(&mut batch).unwrap();
    let mut last_new = stored.iter().filter_map(|a| a.id).max().unwrap();
    for (i, (a, write)) in batch.iter().zip(&writes).enumerate() {
        let id = a.id.unwrap();
        if i % 3 == 0 {
            assert_eq!(*write, AlertWrite::Updated, "alert {i}");
            assert_eq!(Some(id), stored[i / 3].id, "alert {i}");
        } else {
            assert_eq!(*write, AlertWrite::New, "alert {i}");
            assert!(id > last_new, "alert {i}: id {id} after {last_new}");
            last_new = id;
        }
    }
    let mut back = store.alerts(&AlertFilter::default()).unwrap();
    back.sort_by_key(|a| a.id);
    let mut expected = batch.clone();
    expected.sort_by_key(|a| a.id);
    assert_eq!(back, expected);

    let mut bad: Vec<Alert> = (300..600).map(fresh).collect();
    bad[250].intel[0].score = Some(f64::NAN);
    assert!(store.upsert_alerts(&mut bad).is_err());
    assert!(bad.iter().all(|a| a.id.is_none()));
    assert_eq!(store.alerts(&AlertFilter::default()).unwrap().len(), 300);
}

/// Two states of one alert in one batch, in a batch big enough to go as multi-row inserts: the
/// first is stored (new), the second overwrites it (an update), as writing them one at a time
/// would, and the row holds the second.
fn an_alert_twice_in_one_batch_is_stored_then_updated(db: &mut TestDb) {
    let store = db.open();
    let fresh = |i: u16| alert(&format!("198.51.100.{}", i + 1), 22, T0, Severity::Low);
    let mut batch: Vec<Alert> = (0..100).map(fresh).collect();
    batch.insert(40, grown(&fresh(3)));
    batch.push(grown(&fresh(99)));
    let writes = store.upsert_alerts(&mut batch).unwrap();
    assert_eq!(writes.len(), 102);
    for (i, write) in writes.iter().enumerate() {
        let expected = if i == 40 || i == 101 {
            AlertWrite::Updated
        } else {
            AlertWrite::New
        };
        assert_eq!(*write, expected, "alert {i}");
    }
    assert_eq!(batch[40].id, batch[3].id);
    assert_eq!(batch[101].id, batch[100].id);
    let back = store.alerts(&AlertFilter::default()).unwrap();
    assert_eq!(back.len(), 100);
    for updated in [&batch[40], &batch[101]] {
        let row = back.iter().find(|a| a.id == updated.id).unwrap();
        assert_eq!(row, updated);
    }
}

fn alerts_upsert_filter_and_reload(db: &mut TestDb) {
    let (w0, w1) = (T0, T0 + HOUR);
    let store = db.open();
    let mut a1 = alert("203.0.113.7", 22, w0, Severity::High);
    assert_eq!(store.upsert_alert(&mut a1).unwrap(), AlertWrite::New);
    let id = a1.id.unwrap();
    let mut a1 = grown(&a1);
    assert_eq!(store.upsert_alert(&mut a1).unwrap(), AlertWrite::Updated);
    assert_eq!(a1.id, Some(id));
    // Found by key and window, whatever id the caller's copy carries.
    let mut copy = a1.clone();
    copy.id = None;
    assert_eq!(store.upsert_alert(&mut copy).unwrap(), AlertWrite::Updated);
    assert_eq!(copy.id, Some(id));
    assert_eq!(store.alerts(&AlertFilter::default()).unwrap(), [a1.clone()]);

    let mut a2 = alert("2001:db8:bad::9", 22, w0, Severity::Medium);
    let mut a3 = alert("203.0.113.7", 22, w1, Severity::Low);
    assert_eq!(store.upsert_alert(&mut a3).unwrap(), AlertWrite::New);
    assert_eq!(store.upsert_alert(&mut a2).unwrap(), AlertWrite::New);
    assert!(a1.id < a3.id && a3.id < a2.id);

    let list = |store: &Store, filter: AlertFilter| -> Vec<Option<i64>> {
        store
            .alerts(&filter)
            .unwrap()
            .iter()
            .map(|a| a.id)
            .collect()
    };
    // By first connection: a1 and a2 share theirs, so ids break the tie.
    assert_eq!(list(&store, AlertFilter::default()), [a1.id, a2.id, a3.id]);
    assert_eq!(
        list(
            &store,
            AlertFilter {
                min_severity: Some(Severity::Medium),
                ..Default::default()
            }
        ),
        [a1.id, a2.id]
    );
    assert_eq!(
        list(
            &store,
            AlertFilter {
                min_severity: Some(Severity::Critical),
                ..Default::default()
            }
        ),
        [a1.id]
    );
    assert_eq!(
        list(
            &store,
            AlertFilter {
                client: Some(ip("203.0.113.7")),
                ..Default::default()
            }
        ),
        [a1.id, a3.id]
    );
    // The client filter written as an IPv4-mapped address finds the IPv4 client's alerts.
    assert_eq!(
        list(
            &store,
            AlertFilter {
                client: Some(ip("::ffff:203.0.113.7")),
                ..Default::default()
            }
        ),
        [a1.id, a3.id]
    );
    // a1's last connection (w0 + 20 min) is after a2's (w0 + 6 s).
    assert_eq!(
        list(
            &store,
            AlertFilter {
                since: Some(ts(w0 + 60_000_000)),
                ..Default::default()
            }
        ),
        [a1.id, a3.id]
    );
    assert_eq!(
        list(
            &store,
            AlertFilter {
                since: Some(ts(w0 + 60_000_000)),
                min_severity: Some(Severity::Low),
                client: Some(ip("2001:db8:bad::9")),
                ..Default::default()
            }
        ),
        []
    );

    // A restart reloads the windows still open, whole.
    drop(store);
    let store = db.open();
    assert_eq!(store.open_alerts(ts(w1)).unwrap(), [a3.clone()]);
    assert_eq!(
        store.open_alerts(ts(w0)).unwrap(),
        [a1.clone(), a2.clone(), a3.clone()]
    );
    assert!(store.open_alerts(ts(w1 + 1)).unwrap().is_empty());

    let mut nan = grown(&a3);
    nan.vulns[0].epss.as_mut().unwrap().percentile = f64::INFINITY;
    let err = store.upsert_alert(&mut nan).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Unstorable {
                field: "vulns.epss.percentile",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.open_alerts(ts(w1)).unwrap(), [a3]);
}

fn suppressions_round_trip(db: &mut TestDb) {
    let store = db.open();
    assert!(store.suppressions().unwrap().is_empty());
    let mut narrow = Suppression::new("the scanner we pay for — 'weekly'", ts(T0));
    narrow.client = Some(net("203.0.113.0/24"));
    narrow.port = Some(22);
    narrow.application = Some("OpenSSH".into());
    narrow.expires_at = Some(ts(T0 + 24 * HOUR));
    let everything = Suppression::new("maintenance", ts(T0 + 1));
    let v6 = Suppression {
        client: Some(net("2001:db8::/32")),
        ..Suppression::new("lab", ts(T0 + 2))
    };

    let ids: Vec<i64> = [&narrow, &everything, &v6]
        .into_iter()
        .map(|s| store.add_suppression(s).unwrap())
        .collect();
    assert!(ids[0] < ids[1] && ids[1] < ids[2]);
    let with_id = |s: &Suppression, id: i64| Suppression {
        id: Some(id),
        ..s.clone()
    };
    assert_eq!(
        store.suppressions().unwrap(),
        [
            with_id(&narrow, ids[0]),
            with_id(&everything, ids[1]),
            with_id(&v6, ids[2])
        ]
    );

    let err = store
        .add_suppression(&with_id(&narrow, ids[0]))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyStored { id, .. } if id == ids[0]),
        "{err:?}"
    );
    assert!(store.remove_suppression(ids[0]).unwrap());
    assert!(!store.remove_suppression(ids[0]).unwrap());
    assert_eq!(
        store.suppressions().unwrap(),
        [with_id(&everything, ids[1]), with_id(&v6, ids[2])]
    );
}

/// A follower's checkpoint, with a 64-bit hash above `i64::MAX` as `picket-ingest` writes it.
fn checkpoint(offset: u64, line: u64) -> serde_json::Value {
    json!({
        "path": "/var/log/zeek/conn.log",
        "input": "zeek-tsv",
        "offset": offset,
        "line": line,
        "dev": 2049,
        "inode": 1_048_577,
        "head_len": 512,
        "head_hash": u64::MAX - 5,
        "header": ["#separator \\x09", "#fields\tts\tuid\tid.orig_h"],
    })
}

/// Two holders of one event partition: the first claims, saves, stalls; the second claims (and
/// reads what the first saved); the first's next save is refused whole, the second's is stored.
fn a_claimed_checkpoint_fences_the_holder_before(db: &mut TestDb) {
    let source = "nats:default:events:3";
    let store = db.open();
    let first = store.claim_checkpoint(source).unwrap();
    assert_eq!(first.checkpoint, None);
    assert_eq!(store.checkpoint(source).unwrap(), None);
    let mut batch = [alert("203.0.113.7", 22, T0, Severity::High)];
    let writes = store
        .save_fenced_checkpoint_with_alerts(
            source,
            first.epoch,
            &json!({"sequence": 10}),
            &mut batch,
        )
        .unwrap();
    assert_eq!(writes, [AlertWrite::New]);

    let second = store.claim_checkpoint(source).unwrap();
    assert!(second.epoch > first.epoch, "{second:?} after {first:?}");
    assert_eq!(second.checkpoint, Some(json!({"sequence": 10})));

    // The first holder, back from its stall, with an alert grown and a new one: nothing stays.
    let mut stale = [
        grown(&batch[0]),
        alert("198.51.100.9", 443, T0, Severity::Low),
    ];
    let err = store
        .save_fenced_checkpoint_with_alerts(
            source,
            first.epoch,
            &json!({"sequence": 20}),
            &mut stale,
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Fenced { epoch, .. } if epoch == first.epoch),
        "{err:?}"
    );
    assert!(err.to_string().contains(source), "{err}");
    assert_eq!(stale[1].id, None);
    assert_eq!(
        store.checkpoint(source).unwrap(),
        Some(json!({"sequence": 10}))
    );
    assert_eq!(
        store.alerts(&AlertFilter::default()).unwrap(),
        batch.to_vec()
    );

    // The new holder's save is stored, and an unfenced save leaves the epoch alone.
    let mut fresh = [grown(&batch[0])];
    let writes = store
        .save_fenced_checkpoint_with_alerts(
            source,
            second.epoch,
            &json!({"sequence": 20}),
            &mut fresh,
        )
        .unwrap();
    assert_eq!(writes, [AlertWrite::Updated]);
    store
        .save_checkpoint_with_alerts(source, &json!({"sequence": 21}), &mut [])
        .unwrap();
    store
        .save_fenced_checkpoint_with_alerts(source, second.epoch, &json!({"sequence": 22}), &mut [])
        .unwrap();
    assert_eq!(
        store.checkpoint(source).unwrap(),
        Some(json!({"sequence": 22}))
    );
    // A source that was never claimed has no current epoch: a fenced save is refused.
    let err = store
        .save_fenced_checkpoint_with_alerts("nats:default:events:4", 1, &json!({}), &mut [])
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced { .. }), "{err:?}");
}

fn checkpoint_and_alerts_are_one_transaction(db: &mut TestDb) {
    let source = "/var/log/zeek/conn.log";
    let store = db.open();
    assert_eq!(store.checkpoint(source).unwrap(), None);

    let mut first = [alert("203.0.113.7", 22, T0, Severity::High)];
    let writes = store
        .save_checkpoint_with_alerts(source, &checkpoint(4_096, 57), &mut first)
        .unwrap();
    assert_eq!(writes, [AlertWrite::New]);
    assert!(first[0].id.is_some());
    assert_eq!(
        store.checkpoint(source).unwrap(),
        Some(checkpoint(4_096, 57))
    );

    // The checkpoint write fails after both alerts were written: neither the update nor the
    // new alert may stay, and the new alert must not look stored.
    let mut second = [
        grown(&first[0]),
        alert("198.51.100.9", 443, T0, Severity::Low),
    ];
    db.refuse("checkpoints", "NEW.body LIKE '%\"offset\":9000%'");
    let err = store
        .save_checkpoint_with_alerts(source, &checkpoint(9_000, 120), &mut second)
        .unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
    assert!(err.to_string().contains(source), "{err}");
    assert_eq!(second[1].id, None);
    assert_eq!(
        store.checkpoint(source).unwrap(),
        Some(checkpoint(4_096, 57))
    );
    assert_eq!(
        store.alerts(&AlertFilter::default()).unwrap(),
        first.to_vec()
    );

    // An alert that cannot be stored stops the batch before the checkpoint moves.
    let mut bad = second.clone();
    bad[1].intel[0].score = Some(f64::NAN);
    let err = store
        .save_checkpoint_with_alerts(source, &checkpoint(8_192, 100), &mut bad)
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Unstorable {
                field: "intel.score",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        store.checkpoint(source).unwrap(),
        Some(checkpoint(4_096, 57))
    );
    assert_eq!(store.alerts(&AlertFilter::default()).unwrap(), first);

    // The same batch once the database allows it: stored together.
    db.allow("checkpoints");
    let writes = store
        .save_checkpoint_with_alerts(source, &checkpoint(9_000, 120), &mut second)
        .unwrap();
    assert_eq!(writes, [AlertWrite::Updated, AlertWrite::New]);
    assert_eq!(second[0].id, first[0].id);

    // After a restart the follower resumes where the stored alerts end.
    drop(store);
    let store = db.open();
    assert_eq!(
        store.checkpoint(source).unwrap(),
        Some(checkpoint(9_000, 120))
    );
    assert_eq!(store.open_alerts(ts(T0)).unwrap(), second);
    assert_eq!(
        store.checkpoint("/var/log/suricata/eve.json").unwrap(),
        None
    );

    // No alerts at all: the checkpoint alone moves.
    let writes = store
        .save_checkpoint_with_alerts(source, &checkpoint(9_500, 130), &mut [])
        .unwrap();
    assert!(writes.is_empty());
    assert_eq!(
        store.checkpoint(source).unwrap(),
        Some(checkpoint(9_500, 130))
    );
}

fn blocks_keep_their_history(db: &mut TestDb) {
    let store = db.open();
    let mut raised = alert("203.0.113.7", 22, T0, Severity::Critical);
    store.upsert_alert(&mut raised).unwrap();
    let block = |net_: &str, alert_id, expires: Option<i64>| BlockRecord {
        id: None,
        net: net(net_),
        reason: format!("alert on {net_}"),
        alert_id,
        created_at: ts(T0),
        expires_at: expires.map(ts),
        removed_at: None,
    };
    let b1 = block("203.0.113.7/32", raised.id, Some(T0 + HOUR));
    let b2 = block("198.51.100.0/24", None, None);
    let b3 = block("2001:db8:bad::/48", None, Some(T0 + 60_000_000));
    let ids: Vec<i64> = [&b1, &b2, &b3]
        .into_iter()
        .map(|b| store.record_block(b).unwrap())
        .collect();
    let stored = |b: &BlockRecord, id: i64| BlockRecord {
        id: Some(id),
        ..b.clone()
    };
    assert_eq!(
        store.blocks(None).unwrap(),
        [
            stored(&b1, ids[0]),
            stored(&b2, ids[1]),
            stored(&b3, ids[2])
        ]
    );
    // b3 expired after a minute; expiry is exclusive.
    assert_eq!(
        store.blocks(Some(ts(T0 + 60_000_000))).unwrap(),
        [stored(&b1, ids[0]), stored(&b2, ids[1])]
    );
    assert_eq!(store.blocks(Some(ts(T0))).unwrap().len(), 3);

    assert_eq!(
        store
            .mark_unblocked(net("198.51.100.0/24"), ts(T0 + 120_000_000))
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .mark_unblocked(net("198.51.100.0/24"), ts(T0 + 180_000_000))
            .unwrap(),
        0
    );
    assert_eq!(
        store.blocks(Some(ts(T0 + 120_000_000))).unwrap(),
        [stored(&b1, ids[0])]
    );
    let history = store.blocks(None).unwrap();
    assert_eq!(history[1].removed_at, Some(ts(T0 + 120_000_000)));

    // Blocked again later: a new record, the old one stays in the history.
    let again = store.record_block(&b2).unwrap();
    assert_eq!(
        store.blocks(Some(ts(T0 + 200_000_000))).unwrap(),
        [stored(&b1, ids[0]), stored(&b2, again)]
    );
    assert_eq!(store.blocks(None).unwrap().len(), 4);

    let err = store.record_block(&stored(&b1, ids[0])).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyStored { .. }), "{err:?}");
    // An alert that does not exist is refused by the schema.
    let err = store
        .record_block(&block(
            "192.0.2.1/32",
            Some(raised.id.unwrap() + 1_000),
            None,
        ))
        .unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
}

pub(super) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn upgrades_a_version_3_inventory_keeping_its_entries(db: &mut TestDb) {
    db.create_version(3);
    let app = openssh("9.2p1");
    db.raw(&format!(
        "INSERT INTO inventory VALUES ('192.0.2.10', 22, 'manual', {}, {T0})",
        quote(&serde_json::to_string(&app).unwrap())
    ));
    let store = db.open();
    assert_eq!(
        db.raw_count("SELECT MAX(version) FROM schema_migrations"),
        crate::LATEST
    );
    let entries = store.inventory().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].source.as_str(), &entries[0].application),
        ("manual", &app)
    );
    // The upgraded entry is the package-less one a new manual entry replaces.
    store
        .upsert_application(
            ip("192.0.2.10"),
            22,
            &openssh("9.6p1"),
            "manual",
            ts(T0 + 1),
        )
        .unwrap();
    let entries = store.inventory().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].application, openssh("9.6p1"));
}

/// Bodies are stored packed, a fraction of their JSON; an alert a version 10 build stored (its
/// body as JSON text) reads back as it was after the upgrade, and its next update packs it.
fn alert_bodies_are_packed_and_those_stored_as_json_still_read(db: &mut TestDb) {
    db.create_version(10);
    let mut old = alert("203.0.113.7", 22, T0, Severity::High);
    let json = serde_json::to_string(&old).unwrap();
    db.raw(&format!(
        "INSERT INTO alerts (dedup_key, window_start, kind, client, host, port, severity,
             severity_rank, first_seen, last_seen, body)
         VALUES ({}, {T0}, 'bad-client-to-vulnerable-app', '203.0.113.7', '10.0.0.5', 22,
             'high', 3, {T0}, {T0}, {})",
        quote(&old.dedup_key),
        quote(&json)
    ));
    let store = db.open();
    assert_eq!(
        db.raw_count("SELECT MAX(version) FROM schema_migrations"),
        crate::LATEST
    );
    let read = store.alerts(&AlertFilter::default()).unwrap();
    old.id = read.first().and_then(|a| a.id);
    assert_eq!(read, [old.clone()]);

    let mut new = alert("198.51.100.9", 22, T0, Severity::High);
    store.upsert_alert(&mut new).unwrap();
    let packed = db.raw_count(&format!(
        "SELECT CAST(LENGTH(body) AS BIGINT) FROM alerts WHERE id = {}",
        new.id.unwrap()
    ));
    let json = serde_json::to_string(&new).unwrap().len() as i64;
    assert!(
        packed * 3 < json,
        "{packed} bytes stored for {json} of JSON"
    );
    assert_eq!(
        store.alerts(&AlertFilter::default()).unwrap(),
        [old.clone(), new.clone()]
    );

    old.connections += 1;
    store.upsert_alert(&mut old).unwrap();
    assert!(db.raw_count("SELECT CAST(MAX(LENGTH(body)) AS BIGINT) FROM alerts") * 3 < json);
    assert_eq!(store.alerts(&AlertFilter::default()).unwrap(), [old, new]);
}

fn upgrades_a_version_1_database_keeping_its_runs(db: &mut TestDb) {
    db.create_version(1);
    let t = targets("192.0.2.0/29");
    db.raw(&format!(
        "INSERT INTO runs (target_key, targets, profile, started_at, finished_at, status)
         VALUES ({}, {}, {}, {T0}, {}, {});",
        quote(&t.key()),
        quote(&serde_json::to_string(&t).unwrap()),
        quote(&serde_json::to_string(&profile()).unwrap()),
        T0 + 1_000_000,
        quote(RunStatus::Completed.as_str()),
    ));
    let old = RunId(db.raw_count("SELECT MAX(id) FROM runs"));
    db.raw(&format!(
        "INSERT INTO hosts VALUES ({id}, '192.0.2.10', NULL, {}, {}, '[]', '[]', '[]', {});
         INSERT INTO observations VALUES ({id}, '192.0.2.10', 22, 'tcp', {}, {}, 250, 1, NULL);",
        quote(HostState::Up.as_str()),
        quote(HostReason::PortAnswered.as_str()),
        quote(&serde_json::to_string(&HostStats::default()).unwrap()),
        quote(PortState::Open.as_str()),
        quote(Reason::SynAck.as_str()),
        id = old.0,
    ));

    let store = db.open();
    assert_eq!(
        db.raw_count("SELECT MAX(version) FROM schema_migrations"),
        crate::LATEST
    );
    assert_eq!(
        db.raw_count("SELECT COUNT(*) FROM schema_migrations"),
        crate::LATEST
    );
    let want = ScanRun {
        id: old,
        target_key: t.key(),
        targets: t.clone(),
        profile: profile(),
        started_at: ts(T0),
        finished_at: Some(ts(T0 + 1_000_000)),
        status: RunStatus::Completed,
        hosts: vec![HostResult {
            address: ip("192.0.2.10"),
            hostname: None,
            reverse_name: None,
            state: HostState::Up,
            reason: HostReason::PortAnswered,
            ports: vec![obs(22, Reason::SynAck, Some(250), 1)],
            extra_ports: vec![],
            unprobed: vec![],
            interruptions: vec![],
            stats: HostStats::default(),
        }],
        rechecks: vec![],
        unlisted_down: 0,
    };
    assert_eq!(store.run(old).unwrap().unwrap(), want);
    assert_eq!(store.runs(5).unwrap()[0].open_ports, 1);

    // Both sides work on the upgraded database, and ids go on from the old ones.
    let new = add_run(&store, "192.0.2.0/29", RunStatus::Completed, T0 + 10);
    assert!(new > old);
    assert_eq!(store.previous_run(&t.key(), new).unwrap(), Some(old));
    store
        .replace_feed(
            "drop",
            &FeedMeta::new("drop", FeedFormat::SpamhausDrop),
            &[Indicator::new(net("192.0.2.0/24"), "drop")],
            ts(T0),
        )
        .unwrap();
    assert_eq!(store.indicators(None).unwrap().len(), 1);
    drop(store);
    drop(db.open());
    assert_eq!(
        db.raw_count("SELECT COUNT(*) FROM schema_migrations"),
        crate::LATEST
    );
}

/// A bad row far into a big feed's stream is reported by field, and nothing after it is
/// handed out.
fn a_corrupt_indicator_late_in_a_big_feed_is_reported(db: &mut TestDb) {
    let store = db.open();
    let feed = many_indicators("big", 5_000);
    store
        .replace_feed(
            "big",
            &FeedMeta::new("big", FeedFormat::Plain),
            &feed,
            ts(T0),
        )
        .unwrap();
    db.raw("UPDATE indicators SET network = 'not-a-net' WHERE ordinal = 4000");
    let mut seen = 0usize;
    let err = store.each_indicator(None, &mut |_| seen += 1).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                field: "network",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("not-a-net"), "{err}");
    assert!(seen <= 4000, "{seen} indicators handed out");
}

fn corrupt_threat_values_are_reported_by_field(db: &mut TestDb) {
    let store = db.open();
    store
        .replace_feed(
            "ipsum",
            &meta("ipsum", FeedFormat::Ipsum),
            &indicators("ipsum"),
            ts(T0),
        )
        .unwrap();
    db.raw("UPDATE indicators SET network = '203.0.113.300/32' WHERE ordinal = 2");
    let err = store.indicators(None).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                field: "network",
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("203.0.113.300") && text.contains("feed ipsum"),
        "{text}"
    );

    let mut a = alert("203.0.113.7", 22, T0, Severity::High);
    store.upsert_alert(&mut a).unwrap();
    db.raw("UPDATE alerts SET body = '{\"kind\": \"port-knock\"}'");
    let err = store.alerts(&AlertFilter::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { field: "body", .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("alert {}", a.id.unwrap())),
        "{err}"
    );
}

#[path = "knowledge.rs"]
mod knowledge;

/// `meanwhile` is called once with each batch as it is committed (ids set, and what happened to
/// each), for a small batch and for one big enough to commit on a second thread, with or
/// without a checkpoint. When the commit fails, nothing is stored and no id is set, whether
/// `meanwhile` ran or not.
fn meanwhile_sees_the_alerts_as_committed(db: &mut TestDb) {
    let store = db.open();
    let batch = |subnet: u8, n: u16| -> Vec<Alert> {
        (0..n)
            .map(|i| alert(&format!("198.51.{subnet}.{}", i + 1), 22, T0, Severity::Low))
            .collect()
    };
    let source = "/var/log/zeek/conn.log";
    for (subnet, n) in [(1, 3), (2, 100)] {
        for with_checkpoint in [false, true] {
            let subnet = subnet * 10 + u8::from(with_checkpoint);
            let mut alerts = batch(subnet, n);
            let mut seen = Vec::new();
            let mut meanwhile = |a: &[Alert], w: &[AlertWrite]| seen.push((a.to_vec(), w.to_vec()));
            let writes = if with_checkpoint {
                store.save_checkpoint_with_alerts_meanwhile(
                    source,
                    &checkpoint(u64::from(subnet), 1),
                    &mut alerts,
                    &mut meanwhile,
                )
            } else {
                store.upsert_alerts_meanwhile(&mut alerts, &mut meanwhile)
            }
            .unwrap();
            assert!(alerts.iter().all(|a| a.id.is_some()));
            assert_eq!(seen, [(alerts.clone(), writes)], "{n} alerts");
        }
    }
    let stored = store.alerts(&AlertFilter::default()).unwrap().len();
    assert_eq!(stored, 206);

    db.refuse_commit("alerts");
    for n in [3, 100] {
        let mut alerts = batch(3, n);
        let mut called = 0;
        let err = store
            .upsert_alerts_meanwhile(&mut alerts, &mut |_, _| called += 1)
            .unwrap_err();
        assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
        assert!(called <= 1);
        assert!(alerts.iter().all(|a| a.id.is_none()), "{n} alerts");
        let err = store
            .save_checkpoint_with_alerts_meanwhile(
                source,
                &checkpoint(9, 9),
                &mut alerts,
                &mut |_, _| {},
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
        assert!(alerts.iter().all(|a| a.id.is_none()), "{n} alerts");
    }
    assert_eq!(store.alerts(&AlertFilter::default()).unwrap().len(), stored);
    assert_eq!(store.checkpoint(source).unwrap(), Some(checkpoint(21, 1)));
}

fn alert_triage_is_set_filtered_and_kept_by_updates(db: &mut TestDb) {
    let store = db.open();
    let a1 = alert("203.0.113.7", 22, T0, Severity::High);
    let a2 = alert("203.0.113.8", 22, T0, Severity::Low);
    store.upsert_alerts(&mut [a1.clone(), a2]).unwrap();
    let listed = store.triaged_alerts(&AlertFilter::default()).unwrap();
    let (id1, id2) = (listed[0].alert.id.unwrap(), listed[1].alert.id.unwrap());
    // Untouched alerts are open with nothing else set.
    assert!(listed.iter().all(|t| t.triage.is_untouched()));

    let at = ts(T0 + HOUR);
    let ack = AlertTriage::acknowledged(Some("looking".into()), Some("ana".into()), at);
    assert!(store.set_alert_triage(id1, &ack).unwrap());
    let closed = AlertTriage::closed(
        CloseReason::ExpectedTesting,
        Some("our pentest".into()),
        None,
        at,
    );
    assert!(store.set_alert_triage(id2, &closed).unwrap());
    assert!(!store.set_alert_triage(id2 + 100, &closed).unwrap());

    let by_status = |status| -> Vec<TriagedAlert> {
        store
            .triaged_alerts(&AlertFilter {
                status: Some(status),
                ..Default::default()
            })
            .unwrap()
    };
    let acknowledged = by_status(AlertStatus::Acknowledged);
    assert_eq!(acknowledged.len(), 1);
    assert_eq!(acknowledged[0].alert.id, Some(id1));
    assert_eq!(acknowledged[0].triage, ack);
    let closed_list = by_status(AlertStatus::Closed);
    assert_eq!(closed_list.len(), 1);
    assert_eq!(closed_list[0].triage, closed);
    assert!(by_status(AlertStatus::Open).is_empty());

    // The detector updates the acknowledged alert (same key and window): the triage stays.
    let mut again = grown(&a1);
    again.id = None;
    assert_eq!(store.upsert_alert(&mut again).unwrap(), AlertWrite::Updated);
    let after = by_status(AlertStatus::Acknowledged);
    assert_eq!(after[0].triage, ack);
    assert_eq!(after[0].alert.connections, again.connections);
    // The plain listing is the alerts alone, unchanged by triage.
    assert_eq!(
        store.alerts(&AlertFilter::default()).unwrap()[0],
        after[0].alert
    );

    // Re-opening clears what closing set.
    assert!(
        store
            .set_alert_triage(id2, &AlertTriage::default())
            .unwrap()
    );
    assert_eq!(by_status(AlertStatus::Open).len(), 1);
    assert!(by_status(AlertStatus::Closed).is_empty());

    // A host filter; alerts are all to 10.0.0.5 here.
    let to = |host: &str| {
        store
            .triaged_alerts(&AlertFilter {
                host: Some(ip(host)),
                ..Default::default()
            })
            .unwrap()
            .len()
    };
    assert_eq!(to("10.0.0.5"), 2);
    assert_eq!(to("::ffff:10.0.0.5"), 2);
    assert_eq!(to("10.0.0.6"), 0);

    // A status the store does not know reads as corrupt, naming the field.
    db.raw(&format!(
        "UPDATE alerts SET status = 'snoozed' WHERE id = {id1}"
    ));
    let err = db
        .open()
        .triaged_alerts(&AlertFilter::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("status") && err.contains("snoozed"), "{err}");
}

fn alerts_page_and_count(db: &mut TestDb) {
    let store = db.open();
    let mut alerts: Vec<Alert> = (0..7u8)
        .map(|i| {
            let severity = if i < 3 { Severity::High } else { Severity::Low };
            alert(&format!("203.0.113.{i}"), 22, T0, severity)
        })
        .collect();
    store.upsert_alerts(&mut alerts).unwrap();
    let ids: Vec<Option<i64>> = alerts.iter().map(|a| a.id).collect();
    let page = |limit, offset| -> Vec<Option<i64>> {
        store
            .alerts(&AlertFilter {
                limit,
                offset,
                ..Default::default()
            })
            .unwrap()
            .iter()
            .map(|a| a.id)
            .collect()
    };
    assert_eq!(page(None, 0), ids);
    assert_eq!(page(Some(3), 0), ids[..3]);
    assert_eq!(page(Some(3), 3), ids[3..6]);
    assert_eq!(page(Some(3), 6), ids[6..]);
    assert_eq!(page(Some(3), 9), []);
    assert_eq!(page(None, 5), ids[5..]);
    assert_eq!(page(Some(0), 0), []);
    // Pages by cursor: each starts after the last alert of the one before, whatever the depth.
    let stored = store.alerts(&AlertFilter::default()).unwrap();
    let mut by_cursor = Vec::new();
    let mut after = None;
    loop {
        let chunk = store
            .alerts(&AlertFilter {
                after,
                limit: Some(3),
                ..Default::default()
            })
            .unwrap();
        let Some(last) = chunk.last() else { break };
        after = AlertCursor::after(last);
        by_cursor.extend(chunk.iter().map(|a| a.id));
    }
    assert_eq!(by_cursor, ids);
    // Alerts that share their first connection are ordered by id across a page's end.
    let cut = AlertCursor {
        first_seen: stored[2].first_seen,
        id: stored[2].id.unwrap(),
    };
    let rest = store
        .alerts(&AlertFilter {
            after: Some(cut),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(rest.iter().map(|a| a.id).collect::<Vec<_>>(), ids[3..]);
    // A page of a filtered listing.
    let high = store
        .triaged_alerts(&AlertFilter {
            min_severity: Some(Severity::High),
            limit: Some(2),
            offset: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        high.iter().map(|t| t.alert.id).collect::<Vec<_>>(),
        ids[1..3]
    );

    let first = alerts[0].id.unwrap();
    let at = ts(T0);
    store
        .set_alert_triage(
            first,
            &AlertTriage::closed(CloseReason::FalsePositive, None, None, at),
        )
        .unwrap();
    let count = |severity, status| AlertCount {
        severity,
        status,
        count: 0,
    };
    let mut expected = vec![
        AlertCount {
            count: 1,
            ..count(Severity::High, AlertStatus::Closed)
        },
        AlertCount {
            count: 2,
            ..count(Severity::High, AlertStatus::Open)
        },
        AlertCount {
            count: 4,
            ..count(Severity::Low, AlertStatus::Open)
        },
    ];
    expected.sort_by_key(|c| (c.severity.as_str(), c.status.as_str()));
    assert_eq!(store.alert_counts().unwrap(), expected);
}
