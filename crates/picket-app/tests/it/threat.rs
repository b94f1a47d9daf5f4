//! Threat pipelines through picket-app alone: a fixture-built store, Zeek logs read once (alerts
//! stored, then updated, never raised twice), and a followed log whose pipeline picks up a feed
//! and a suppression added to the store while it runs, and saves its checkpoint when stopped.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use picket_app::import;
use picket_app::options::{IntelAddOptions, PipelineOptions, SourceSpec, VulnImportOptions};
use picket_app::{Shutdown, threat};
use picket_detect::threat::ThreatSettings;
use picket_model::{Application, HomeNet, Suppression, Timestamp};
use picket_report::AlertChangeKind;

use crate::support::{Collect, Db, eventually, fixture, zeek_rows};
use picket_store::prelude::*;

/// Listed by IPsum (the fixture's first entry).
const BAD: &str = "77.90.185.20";
/// On no feed.
const CLEAN: &str = "192.0.2.77";
/// Runs OpenSSH 9.2p1 (CVE-2024-6387).
const SSH: &str = "10.1.2.3";
const T0: f64 = 1_763_640_000.0;

fn add_feed(db: &Db) {
    let opts = IntelAddOptions {
        name: "ipsum".into(),
        file: fixture("ipsum-head.txt"),
        load: picket_intel::LoadOptions::default(),
        allow_shrink: false,
    };
    let feed = import::load_feed(&opts).unwrap();
    import::store_feed(&db.open(), &opts, &feed).unwrap();
}

/// Vulnerability knowledge and the vulnerable OpenSSH in the inventory; with the feed when
/// `feed`.
fn prepared(feed: bool) -> Db {
    let db = Db::new();
    if feed {
        add_feed(&db);
    }
    let opts = VulnImportOptions::new(
        vec![fixture("CVE-2024-6387.json"), fixture("kev-slice.json")],
        None,
        false,
    )
    .unwrap();
    import::read_vuln(&opts).unwrap().store(&db.open()).unwrap();
    let mut app = Application::new("openssh".to_owned());
    app.version = Some("9.2p1".into());
    db.open()
        .upsert_application(SSH.parse().unwrap(), 22, &app, "manual", Timestamp::now())
        .unwrap();
    db
}

fn pipeline(log: &Path, follow: bool) -> PipelineOptions {
    let settings = ThreatSettings {
        window: Duration::from_secs(3600),
        min_feeds: 1,
    };
    let mut opts = PipelineOptions::new(
        vec![SourceSpec::File(log.to_owned())],
        None,
        follow,
        HomeNet::default(),
        settings,
        None,
    )
    .unwrap();
    opts.flush_every = Duration::from_millis(100);
    opts.knowledge_every = Duration::from_millis(100);
    opts
}

#[test]
fn a_log_read_once_raises_one_alert_and_a_second_read_only_updates_it() {
    let db = prepared(true);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("conn.log");
    zeek_rows(
        &log,
        &[
            (T0, BAD, SSH, 22),
            (T0 + 60.0, BAD, SSH, 22),
            (T0 + 90.0, CLEAN, SSH, 22),
        ],
    );
    let opts = pipeline(&log, false);
    for expected in [AlertChangeKind::New, AlertChangeKind::Update] {
        let sink = Collect::default();
        threat::run(&db.open(), &opts, &mut sink.clone(), &Shutdown::new()).unwrap();
        sink.seen(|seen| {
            assert_eq!(seen.alerts.len(), 1, "{:?}", seen.alerts);
            let (kind, alert) = &seen.alerts[0];
            assert_eq!(*kind, expected);
            assert_eq!(alert.client, BAD.parse::<IpAddr>().unwrap());
            assert_eq!(alert.connections, 2);
        });
    }
    let stored = db.open().alerts(&Default::default()).unwrap();
    assert_eq!(stored.len(), 1);
}

/// Follows `log` on a thread of its own until `shutdown`, handing what it does to `sink`.
fn follow(
    db: &Db,
    log: &Path,
    sink: &Collect,
    shutdown: &Shutdown,
) -> std::thread::JoinHandle<Result<(), picket_app::AppError>> {
    let (location, opts, mut sink, shutdown) = (
        db.location(),
        pipeline(log, true),
        sink.clone(),
        shutdown.clone(),
    );
    std::thread::spawn(move || {
        let store = picket_store::open(&location).unwrap();
        threat::run(&store, &opts, &mut sink, &shutdown)
    })
}

#[test]
fn a_followed_log_sees_feeds_and_suppressions_added_while_it_runs_and_saves_its_checkpoint() {
    let db = prepared(false);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("conn.log");
    zeek_rows(&log, &[(T0, BAD, SSH, 22)]);
    let key = format!("follow:{}", std::fs::canonicalize(&log).unwrap().display());
    let read_to_end = || {
        let len = std::fs::metadata(&log).unwrap().len();
        db.open().checkpoint(&key).unwrap().is_some_and(|v| {
            serde_json::from_value::<threat::FollowState>(v)
                .unwrap()
                .reader
                .offset
                == len
        })
    };

    let (sink, shutdown) = (Collect::default(), Shutdown::new());
    let running = follow(&db, &log, &sink, &shutdown);
    eventually(20, "the first event read", read_to_end);
    assert!(
        sink.seen(|s| s.alerts.is_empty()),
        "no feed lists anyone yet"
    );

    // A feed loaded while the pipeline runs: the next connection of a listed client alerts.
    add_feed(&db);
    eventually(20, "the feed swapped in", || {
        sink.seen(|s| s.swaps.iter().any(|w| w.intel))
    });
    zeek_rows(&log, &[(T0 + 60.0, BAD, SSH, 22)]);
    eventually(20, "an alert for the listed client", || {
        sink.seen(|s| s.alerts.len() == 1)
    });
    sink.seen(|s| {
        assert_eq!(s.alerts[0].0, AlertChangeKind::New);
        assert_eq!(s.alerts[0].1.client, BAD.parse::<IpAddr>().unwrap());
    });

    // A suppression added while it runs: the client's connections in a new window raise nothing.
    db.open()
        .add_suppression(&Suppression {
            id: None,
            client: Some(format!("{BAD}/32").parse().unwrap()),
            port: None,
            application: None,
            reason: "our pentester".into(),
            created_at: Timestamp::now(),
            expires_at: None,
        })
        .unwrap();
    eventually(20, "the suppression swapped in", || {
        sink.seen(|s| s.swaps.iter().any(|w| w.suppressions))
    });
    zeek_rows(&log, &[(T0 + 7200.0, BAD, SSH, 22)]);
    eventually(20, "the suppressed event read", read_to_end);

    shutdown.trigger();
    running.join().unwrap().unwrap();
    sink.seen(|s| {
        assert_eq!(s.alerts.len(), 1, "suppressed, yet raised: {:?}", s.alerts);
        assert_eq!(
            s.suppressed,
            Some(1),
            "the summary counts the suppressed connection"
        );
    });
    assert!(
        read_to_end(),
        "the stopped pipeline saved its checkpoint at the end"
    );
}

/// The inventory's application has no known vulnerability when the pipeline starts; an NVD
/// import while it runs swaps the knowledge in, and the next connection of a listed client
/// alerts.
#[test]
fn a_followed_log_sees_vulnerability_knowledge_imported_while_it_runs() {
    let db = Db::new();
    add_feed(&db);
    let mut app = Application::new("openssh".to_owned());
    app.version = Some("9.2p1".into());
    db.open()
        .upsert_application(SSH.parse().unwrap(), 22, &app, "manual", Timestamp::now())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("conn.log");
    zeek_rows(&log, &[(T0, BAD, SSH, 22)]);

    let (sink, shutdown) = (Collect::default(), Shutdown::new());
    let running = follow(&db, &log, &sink, &shutdown);
    let key = format!("follow:{}", std::fs::canonicalize(&log).unwrap().display());
    eventually(20, "the first event read", || {
        db.open().checkpoint(&key).unwrap().is_some()
    });
    assert!(
        sink.seen(|s| s.alerts.is_empty()),
        "nothing known against OpenSSH 9.2p1 yet"
    );

    let opts = VulnImportOptions::new(vec![fixture("CVE-2024-6387.json")], None, false).unwrap();
    import::read_vuln(&opts).unwrap().store(&db.open()).unwrap();
    eventually(20, "the knowledge swapped in", || {
        sink.seen(|s| s.swaps.iter().any(|w| w.inventory))
    });
    zeek_rows(&log, &[(T0 + 60.0, BAD, SSH, 22)]);
    eventually(20, "an alert once the CVE is known", || {
        sink.seen(|s| s.alerts.len() == 1)
    });
    shutdown.trigger();
    running.join().unwrap().unwrap();
}

/// Enough stored indicators for the table to be read in slices on several threads: the table
/// is the one built from every indicator read in one stream, indicator by indicator, whatever
/// the feeds' sizes, their labels and their optional fields.
#[test]
fn the_intel_table_read_in_slices_is_the_table_read_whole() {
    let db = Db::new();
    let store = db.open();
    for (f, (name, n)) in [("first", 9_000u32), ("tiny", 3), ("second", 14_000)]
        .into_iter()
        .enumerate()
    {
        let indicators: Vec<picket_model::Indicator> = (0..n)
            .map(|i| {
                let addr =
                    IpAddr::from((0x0b00_0000u32 + (f as u32) * 0x0100_0000 + i).to_be_bytes());
                let mut ind = picket_model::Indicator::new(
                    ipnet::IpNet::new(addr, 32 - (i % 9) as u8).unwrap().trunc(),
                    name,
                );
                if i % 3 == 0 {
                    ind.score = Some(f64::from(i % 7));
                }
                if i % 5 == 0 {
                    ind.category = Some(["attacks", "malware"][(i % 2) as usize].to_owned());
                }
                if i % 11 == 0 {
                    ind.comment = Some(format!("entry {i}"));
                }
                ind
            })
            .collect();
        let meta = picket_model::FeedMeta::new(name, picket_model::FeedFormat::Plain);
        store
            .replace_feed(name, &meta, &indicators, Timestamp::now())
            .unwrap();
    }
    assert_eq!(store.indicator_slices(2).unwrap().len(), 2);
    let key = store.intel_table_key().unwrap();
    assert_eq!(store.stored_intel_table(&key).unwrap(), None);
    let sliced = picket_app::knowledge::intel_table(&store).unwrap();
    let whole = picket_intel::IntelTable::build(store.indicators(None).unwrap()).unwrap();
    assert_eq!(sliced.len(), 23_003);
    same_table(&sliced, &whole);
    // The first build was kept: the next run reads it, and it is the same table.
    let kept = store
        .stored_intel_table(&key)
        .unwrap()
        .expect("the built table is kept");
    assert_eq!(kept, sliced.encode());
    same_table(&picket_app::knowledge::intel_table(&store).unwrap(), &whole);
}

fn same_table(got: &picket_intel::IntelTable, want: &picket_intel::IntelTable) {
    assert_eq!(got.len(), want.len());
    for id in 0..want.len() as u32 {
        assert_eq!(got.indicator(id), want.indicator(id), "indicator {id}");
    }
    for probe in [
        "11.0.0.5",
        "12.0.33.2",
        "13.0.54.200",
        "14.1.1.1",
        "192.0.2.1",
    ] {
        let addr: IpAddr = probe.parse().unwrap();
        assert_eq!(got.lookup_ids(addr), want.lookup_ids(addr), "{probe}");
    }
}

/// A kept table is never used once the feeds changed, and one that cannot be decoded (changed
/// in the database) is built again and kept anew: the run never sees a wrong table.
#[test]
fn a_kept_intel_table_follows_the_feeds_and_survives_damage() {
    let db = Db::new();
    let store = db.open();
    let feed = |name: &str, nets: &[&str]| {
        let indicators: Vec<picket_model::Indicator> = nets
            .iter()
            .map(|n| picket_model::Indicator::new(n.parse().unwrap(), name))
            .collect();
        let meta = picket_model::FeedMeta::new(name, picket_model::FeedFormat::Plain);
        store
            .replace_feed(name, &meta, &indicators, Timestamp::now())
            .unwrap();
    };
    let listed = |addr: &str| {
        picket_app::knowledge::intel_table(&store)
            .unwrap()
            .contains(addr.parse().unwrap())
    };
    feed("a", &["198.51.100.0/24"]);
    assert!(listed("198.51.100.7"));
    assert!(!listed("203.0.113.7"));
    feed("a", &["203.0.113.0/24"]);
    assert!(
        !listed("198.51.100.7"),
        "the table kept for the old feed is not used"
    );
    assert!(listed("203.0.113.7"));
    feed("b", &["192.0.2.0/24"]);
    assert!(listed("192.0.2.1"));

    let key = store.intel_table_key().unwrap();
    let mut damaged = store.stored_intel_table(&key).unwrap().unwrap();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x55;
    assert!(store.keep_intel_table(&key, &damaged).unwrap());
    assert!(listed("192.0.2.1") && listed("203.0.113.7"));
    let rebuilt = store.stored_intel_table(&key).unwrap().unwrap();
    assert!(
        picket_intel::IntelTable::decode(&rebuilt).is_ok(),
        "a good table is kept again"
    );
    // A part renumbered by hand reads as an error, not as a table: built again too.
    rusqlite::Connection::open(db.location())
        .unwrap()
        .execute("UPDATE intel_tables SET part = 7 WHERE part = 0", [])
        .unwrap();
    assert!(store.stored_intel_table(&key).is_err());
    assert!(listed("192.0.2.1") && listed("203.0.113.7"));
    assert!(store.stored_intel_table(&key).unwrap().is_some());
    assert!(store.remove_feed("b").unwrap());
    assert!(!listed("192.0.2.1"));
}
