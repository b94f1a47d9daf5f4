//! The proofs that the store can be shared: many readers and a writer at once on one handle,
//! and a run with its findings stored all or nothing.

use std::sync::atomic::AtomicBool;
use std::thread;

use picket_model::FeedFormat;
use picket_store::ErrorKind;

use super::threat::{many_indicators, meta};
use super::*;

conformance!(
    readers_never_see_a_half_written_write,
    a_run_and_its_findings_are_all_or_nothing,
);

/// How many threads read while one writes.
const READERS: usize = 6;
/// The two sizes the writer's feed alternates between.
const SMALL: u32 = 3_000;
const LARGE: u32 = 5_000;

/// One writer replaces a feed again and again (alternating between two sizes) and begins and
/// finishes runs, while readers on the same handle (and its clones) list the feed and the
/// newest run: every read sees the old state or the new one, never a mix, and no read or write
/// fails (no busy or locked error reaches a caller).
fn readers_never_see_a_half_written_write(db: &mut TestDb) {
    let store = db.open();
    let feed = "shared";
    let sizes = [SMALL, LARGE];
    store
        .replace_feed(
            feed,
            &meta(feed, FeedFormat::Plain),
            &many_indicators(feed, SMALL),
            ts(T0),
        )
        .unwrap();
    let t = targets("192.0.2.0/29");
    let done = AtomicBool::new(false);
    let reads = AtomicU32::new(0);
    thread::scope(|scope| {
        for reader in 0..READERS {
            let store = store.clone();
            let (done, reads) = (&done, &reads);
            scope.spawn(move || {
                // Each reader reads at least a few times, even if the writer is quick.
                let mut mine = 0;
                while mine < 3 || !done.load(Ordering::Acquire) {
                    if reader % 2 == 0 {
                        let n = store.indicators(Some(feed)).unwrap().len() as u32;
                        assert!(
                            sizes.contains(&n),
                            "read {n} indicators: a half-written feed"
                        );
                        let listed = store.feeds().unwrap();
                        assert!(sizes.iter().any(|&n| u64::from(n) == listed[0].indicators));
                    } else if let Some(newest) = store.runs(1).unwrap().first() {
                        let run = store.run(newest.id).unwrap().unwrap();
                        let consistent = match run.status {
                            RunStatus::Running => run.hosts.is_empty(),
                            _ => run.hosts.len() == 3 && run.rechecks.len() == 2,
                        };
                        assert!(consistent, "run {} read half-written", run.id);
                    }
                    mine += 1;
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let writer = store.clone();
        let done = &done;
        scope.spawn(move || {
            for round in 0..8 {
                let n = sizes[(round + 1) % 2];
                let indicators = many_indicators(feed, n);
                writer
                    .replace_feed(feed, &meta(feed, FeedFormat::Plain), &indicators, ts(T0))
                    .unwrap();
                let id = writer.begin_run(&t, &profile(), ts(T0)).unwrap();
                writer.finish_run(&realistic_run(id, &t)).unwrap();
            }
            done.store(true, Ordering::Release);
        });
    });
    assert!(reads.load(Ordering::Relaxed) >= (3 * READERS) as u32);
    assert_eq!(store.runs(100).unwrap().len(), 8);
}

/// A failure injected between a run's rows and its findings, in the one transaction that
/// stores both (the database refuses the second finding after the run's hosts and the first
/// finding were written), leaves the run as it was before the finish (running, with only the
/// hosts streamed before) and no finding at all.
fn a_run_and_its_findings_are_all_or_nothing(db: &mut TestDb) {
    let store = db.open();
    let t = targets("192.0.2.0/29");
    let id = store.begin_run(&t, &profile(), ts(T0)).unwrap();
    let full = realistic_run(id, &t);
    store
        .save_hosts(id, std::slice::from_ref(&full.hosts[0]))
        .unwrap();
    let before = store.run(id).unwrap().unwrap();

    db.refuse("findings", "NEW.port = 23");
    let mut findings = vec![
        finding(id, FindingKind::NewOpenPort, "192.0.2.10", 22, T0),
        finding(id, FindingKind::NewOpenPort, "192.0.2.10", 23, T0),
    ];
    let err = store
        .finish_run_with_findings(&full, &mut findings)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused, "{err:?}");
    assert!(!err.is_retryable());
    assert!(findings.iter().all(|f| f.id.is_none()));
    assert_eq!(store.run(id).unwrap().unwrap(), before);
    assert_eq!(store.runs_for_targets(&t.key(), 10).unwrap(), []);
    assert_eq!(store.findings(&FindingFilter::default()).unwrap(), []);
    assert_eq!(db.raw_count("SELECT COUNT(*) FROM findings"), 0);

    // PostgreSQL tells a lost race from a refusal: the same failure as a serialization failure
    // is worth retrying, and again leaves nothing behind.
    if let Kind::Postgres { .. } = db.kind {
        db.raw(
            "CREATE OR REPLACE FUNCTION conflict_row() RETURNS trigger LANGUAGE plpgsql AS
             $f$ BEGIN RAISE EXCEPTION 'lost a race' USING ERRCODE = 'serialization_failure';
             END $f$;
             DROP TRIGGER refuse_findings ON findings;
             CREATE TRIGGER conflict_findings BEFORE INSERT ON findings
             FOR EACH ROW WHEN (NEW.port = 23) EXECUTE FUNCTION conflict_row();",
        );
        let err = store
            .finish_run_with_findings(&full, &mut findings)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err:?}");
        assert!(err.is_retryable());
        assert_eq!(store.run(id).unwrap().unwrap(), before);
        assert_eq!(db.raw_count("SELECT COUNT(*) FROM findings"), 0);
        db.raw("DROP TRIGGER conflict_findings ON findings");
    } else {
        db.raw("DROP TRIGGER refuse_findings_insert; DROP TRIGGER refuse_findings_update;");
    }

    findings.pop();
    store
        .finish_run_with_findings(&full, &mut findings)
        .unwrap();
    assert_eq!(store.run(id).unwrap().unwrap(), sorted(full));
    assert_eq!(store.findings(&FindingFilter::default()).unwrap(), findings);
}
