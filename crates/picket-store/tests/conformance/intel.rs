//! Indicators looked up in the store by address: the same answer as the intel table built from
//! every stored indicator, from one indexed query.

use ipnet::IpNet;
use picket_intel::IntelTable;
use picket_model::{FeedFormat, Indicator};

use super::threat::{many_indicators, meta, quote};
use super::*;

conformance!(
    covering_indicators_match_the_intel_table,
    a_version_4_feed_is_keyed_on_upgrade,
    slices_of_the_indicators_put_together_are_every_indicator,
    a_kept_intel_table_serves_only_the_feeds_it_was_built_from,
    two_writers_keeping_the_same_table_at_once_both_succeed,
);

fn ind(net: &str, feed: &str) -> Indicator {
    Indicator::new(net.parse().unwrap(), feed)
}

/// Nested and repeated networks over three feeds, IPv4 and IPv6, a network written with host
/// bits set, an IPv4-mapped IPv6 network, and the whole of each family.
fn feeds() -> Vec<(&'static str, Vec<Indicator>)> {
    let mut scored = ind("10.1.2.3/32", "b");
    scored.score = Some(4.0);
    scored.comment = Some("seen scanning".into());
    vec![
        (
            "a",
            vec![
                ind("10.0.0.0/8", "a"),
                ind("10.1.0.0/16", "a"),
                ind("10.1.2.3/32", "a"),
                ind("2001:db8::/32", "a"),
                ind("2001:db8::1/128", "a"),
            ],
        ),
        (
            "b",
            vec![
                scored,
                ind("10.1.2.3/8", "b"),
                ind("0.0.0.0/0", "b"),
                ind("::/0", "b"),
                ind("::ffff:10.1.2.0/120", "b"),
                ind("10.1.0.0/16", "b"),
            ],
        ),
        ("c", vec![ind("10.1.2.0/24", "c"), ind("10.0.0.0/8", "c")]),
    ]
}

fn covering_indicators_match_the_intel_table(db: &mut TestDb) {
    let store = db.open();
    assert_eq!(store.indicators_covering(ip("10.1.2.3")).unwrap(), []);
    for (name, indicators) in feeds() {
        store
            .replace_feed(name, &meta(name, FeedFormat::Plain), &indicators, ts(T0))
            .unwrap();
    }
    // Many more, so that a lookup that scanned would show in the plan, not in the answer.
    store
        .replace_feed(
            "bulk",
            &meta("bulk", FeedFormat::Plain),
            &many_indicators("bulk", 2_000),
            ts(T0),
        )
        .unwrap();
    let table = IntelTable::build(store.indicators(None).unwrap()).unwrap();
    let mut addresses: Vec<IpAddr> = [
        "10.1.2.3",
        "::ffff:10.1.2.3",
        "10.1.2.4",
        "10.2.0.0",
        "11.0.0.5",
        "11.0.7.207",
        "192.0.2.1",
        "0.0.0.0",
        "255.255.255.255",
        "2001:db8::1",
        "2001:db8::2",
        "2001:db9::",
        "::1",
        "::ffff:10.1.2.9",
    ]
    .iter()
    .map(|a| ip(a))
    .collect();
    // And a spread of addresses around the listed ones.
    let mut x: u32 = 0x0a01_0203;
    for _ in 0..200 {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        addresses.push(IpAddr::from((0x0a00_0000 | (x >> 8)).to_be_bytes()));
        addresses.push(IpAddr::from((0x0b00_0000 | (x >> 21)).to_be_bytes()));
    }
    for addr in addresses {
        let expected: Vec<Indicator> = table.lookup(addr).map(|i| i.to_indicator()).collect();
        assert_eq!(
            store.indicators_covering(addr).unwrap(),
            expected,
            "indicators covering {addr}"
        );
    }
    let hits = store.indicators_covering(ip("::ffff:10.1.2.3")).unwrap();
    let nets: Vec<(String, &str)> = hits
        .iter()
        .map(|i| (i.network.to_string(), i.feed.as_str()))
        .collect();
    let expected: Vec<(String, &str)> = [
        ("0.0.0.0/0", "b"),
        ("10.0.0.0/8", "a"),
        ("10.1.2.3/8", "b"),
        ("10.0.0.0/8", "c"),
        ("10.1.0.0/16", "a"),
        ("10.1.0.0/16", "b"),
        ("10.1.2.0/24", "c"),
        ("10.1.2.3/32", "a"),
        ("10.1.2.3/32", "b"),
    ]
    .iter()
    .map(|(n, f)| (n.to_string(), *f))
    .collect();
    assert_eq!(nets, expected);
    assert_eq!(hits[8].score, Some(4.0));

    // A removed feed is gone from lookups too.
    store.remove_feed("b").unwrap();
    assert_eq!(store.indicators_covering(ip("10.1.2.3")).unwrap().len(), 5);
}

/// A feed stored by schema version 4 (no key column) is keyed by the upgrade, a network written
/// with host bits set included.
fn a_version_4_feed_is_keyed_on_upgrade(db: &mut TestDb) {
    db.create_version(4);
    let feed_meta = serde_json::to_string(&meta("old", FeedFormat::Plain)).unwrap();
    db.raw(&format!(
        "INSERT INTO feeds (name, format, meta, indicator_count, loaded_at)
         VALUES ('old', 'plain', {}, 3, {T0});
         INSERT INTO indicators (feed_id, ordinal, network, extra) VALUES
         (1, 0, '198.51.100.0/24', NULL), (1, 1, '198.51.100.77/16', NULL),
         (1, 2, '2001:db8::/48', '{{\"score\":2.0}}');",
        quote(&feed_meta)
    ));
    let store = db.open();
    assert_eq!(
        db.raw_count("SELECT MAX(version) FROM schema_migrations"),
        crate::LATEST
    );
    let nets = |addr: &str| -> Vec<IpNet> {
        store
            .indicators_covering(ip(addr))
            .unwrap()
            .into_iter()
            .map(|i| i.network)
            .collect()
    };
    let net = |s: &str| s.parse::<IpNet>().unwrap();
    assert_eq!(
        nets("198.51.100.5"),
        [net("198.51.100.77/16"), net("198.51.100.0/24")]
    );
    assert_eq!(nets("198.51.7.7"), [net("198.51.100.77/16")]);
    let v6 = store.indicators_covering(ip("2001:db8::9")).unwrap();
    assert_eq!(v6.len(), 1);
    assert_eq!(v6[0].score, Some(2.0));
}

/// Read slice by slice and put together in order, the indicators are those
/// `each_indicator` streams, however many slices are asked for; an empty store has one empty
/// slice.
fn slices_of_the_indicators_put_together_are_every_indicator(db: &mut TestDb) {
    let store = db.open();
    let slices = store.indicator_slices(3).unwrap();
    assert_eq!(slices.len(), 1);
    let mut none = Vec::new();
    store
        .each_indicator_in(&slices[0], &mut |i| none.push(i))
        .unwrap();
    assert_eq!(none, []);

    // Feeds of different sizes, one replaced after the others (so feed ids are not in name
    // order), one with a single indicator.
    for (name, n) in [("big", 1_000), ("one", 1), ("mid", 257)] {
        let indicators = many_indicators(name, n);
        store
            .replace_feed(name, &meta(name, FeedFormat::Plain), &indicators, ts(T0))
            .unwrap();
    }
    let big = many_indicators("big", 700);
    store
        .replace_feed("big", &meta("big", FeedFormat::Plain), &big, ts(T0 + 1))
        .unwrap();
    let mut all = Vec::new();
    store.each_indicator(None, &mut |i| all.push(i)).unwrap();
    assert_eq!(all.len(), 958);
    for parts in [1, 2, 3, 4, 7, 958, 2_000] {
        let slices = store.indicator_slices(parts).unwrap();
        assert!(!slices.is_empty() && slices.len() <= parts, "{parts} parts");
        let mut joined = Vec::new();
        let mut sizes = Vec::new();
        for slice in &slices {
            let before = joined.len();
            store
                .each_indicator_in(slice, &mut |i| joined.push(i))
                .unwrap();
            sizes.push(joined.len() - before);
        }
        assert!(joined == all, "{parts} parts put together differ");
        // About the same size each: the cuts follow the count, not the feeds.
        if parts <= 4 {
            let (least, most) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(most - least <= 1, "{parts} parts of sizes {sizes:?}");
        }
    }
}

/// The kept table is bytes that must come back bit for bit (NUL and non-UTF-8 bytes, a
/// mebibyte and more), and only for the very feeds it was built from: adding, replacing or
/// removing a feed deletes it, and a key read before a change can no longer keep one.
fn a_kept_intel_table_serves_only_the_feeds_it_was_built_from(db: &mut TestDb) {
    let store = db.open();
    let empty = store.intel_table_key().unwrap();
    assert_eq!(store.stored_intel_table(&empty).unwrap(), None);
    for (name, indicators) in feeds() {
        store
            .replace_feed(name, &meta(name, FeedFormat::Plain), &indicators, ts(T0))
            .unwrap();
    }
    let key = store.intel_table_key().unwrap();
    assert_ne!(key, empty);
    let body: Vec<u8> = (0..(1 << 20) + 7).map(|i| (i * 7 % 256) as u8).collect();
    assert!(
        !store.keep_intel_table(&empty, &[1]).unwrap(),
        "a stale key keeps nothing"
    );
    assert!(store.keep_intel_table(&key, &body).unwrap());
    assert_eq!(
        store.stored_intel_table(&key).unwrap().as_ref(),
        Some(&body)
    );
    assert_eq!(store.stored_intel_table(&empty).unwrap(), None);
    // Kept in parts: one lost is a corrupt table, never a shorter one.
    assert_eq!(db.raw_count("SELECT COUNT(*) FROM intel_tables"), 2);
    db.raw("DELETE FROM intel_tables WHERE part = 0");
    let err = store.stored_intel_table(&key).unwrap_err().to_string();
    assert!(
        err.contains("intel_tables") && err.contains("part"),
        "{err}"
    );
    assert!(store.keep_intel_table(&key, &body).unwrap());
    // Kept again: the one row is replaced.
    assert!(store.keep_intel_table(&key, &[0, 255, 0]).unwrap());
    assert_eq!(
        store.stored_intel_table(&key).unwrap(),
        Some(vec![0, 255, 0])
    );

    // The same feed, the same indicators, loaded again: a new key, and the old table is gone.
    let (name, indicators) = feeds().remove(0);
    store
        .replace_feed(
            name,
            &meta(name, FeedFormat::Plain),
            &indicators,
            ts(T0 + 1),
        )
        .unwrap();
    let replaced = store.intel_table_key().unwrap();
    assert_ne!(replaced, key);
    assert_eq!(store.stored_intel_table(&key).unwrap(), None);
    assert!(!store.keep_intel_table(&key, &[2]).unwrap());
    assert_eq!(store.stored_intel_table(&key).unwrap(), None);

    // A new feed and a removed one change the key and delete the table too.
    assert!(store.keep_intel_table(&replaced, &[3]).unwrap());
    let extra = [ind("192.0.2.0/24", "d")];
    store
        .replace_feed("d", &meta("d", FeedFormat::Plain), &extra, ts(T0 + 2))
        .unwrap();
    assert_eq!(store.stored_intel_table(&replaced).unwrap(), None);
    let added = store.intel_table_key().unwrap();
    assert_ne!(added, replaced);
    assert!(store.keep_intel_table(&added, &[4]).unwrap());
    assert!(!store.remove_feed("no-such-feed").unwrap());
    assert_eq!(store.stored_intel_table(&added).unwrap(), Some(vec![4]));
    assert!(store.remove_feed("d").unwrap());
    assert_eq!(store.stored_intel_table(&added).unwrap(), None);
    assert_ne!(store.intel_table_key().unwrap(), added);
}

/// Two nodes that built the table after the same feed change keep it at the same moment: in
/// PostgreSQL the second one's parts meet the first one's, which must not fail its keep, and
/// the table reads back whole.
fn two_writers_keeping_the_same_table_at_once_both_succeed(db: &mut TestDb) {
    let (a, b) = (db.open(), db.open());
    a.replace_feed(
        "a",
        &meta("a", FeedFormat::Plain),
        &[ind("192.0.2.0/24", "a")],
        ts(T0),
    )
    .unwrap();
    let key = a.intel_table_key().unwrap();
    let body: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
    for _ in 0..5 {
        let kept = std::thread::scope(|scope| {
            let other = scope.spawn(|| b.keep_intel_table(&key, &body));
            let mine = a.keep_intel_table(&key, &body);
            (mine, other.join().unwrap())
        });
        assert!(matches!(kept, (Ok(true), Ok(true))), "{kept:?}");
        assert_eq!(a.stored_intel_table(&key).unwrap().as_ref(), Some(&body));
    }
}
