//! Loading real feed samples and hand-written fixtures end to end: detection, parsing, the bogon
//! filter, the load report, and lookups across feeds.

use std::net::IpAddr;
use std::path::PathBuf;

use picket_intel::{
    FeedFormat, IntelTable, LoadOptions, LoadedFeed, bogon_ranges, load_bytes, load_file,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load(name: &str) -> LoadedFeed {
    let feed = name.split('.').next().unwrap();
    load_file(feed, &fixture(name), &LoadOptions::default()).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn networks(feed: &LoadedFeed) -> Vec<String> {
    feed.indicators
        .iter()
        .map(|i| i.network.to_string())
        .collect()
}

#[test]
fn every_fixture_is_detected_as_its_format() {
    let cases = [
        ("firehol_level1_sample.netset", FeedFormat::Firehol),
        ("feodo_sample.ipset", FeedFormat::Firehol),
        ("spamhaus_drop_sample.netset", FeedFormat::Firehol),
        ("tor_exits_sample.ipset", FeedFormat::Firehol),
        ("ipsum_sample.txt", FeedFormat::Ipsum),
        ("spamhaus_drop.txt", FeedFormat::SpamhausDrop),
        ("spamhaus_drop_v4.json", FeedFormat::SpamhausJson),
        ("tor_exit_addresses.txt", FeedFormat::TorExits),
        ("stix_bundle.json", FeedFormat::Stix),
        ("misp_attributes.csv", FeedFormat::MispCsv),
        ("misp_attributes.json", FeedFormat::MispJson),
        (
            "misp_event_search_citizenlab_taintedleaks.json",
            FeedFormat::MispJson,
        ),
        ("misp_event_pymisp_objects.json", FeedFormat::MispJson),
        ("zeek_intel.dat", FeedFormat::ZeekIntel),
        ("plain_list.txt", FeedFormat::Plain),
    ];
    for (name, want) in cases {
        let bytes = std::fs::read(fixture(name)).unwrap();
        // Detection must not depend on the file name for any of these.
        assert_eq!(FeedFormat::detect(&bytes, "download"), Some(want), "{name}");
        assert_eq!(load(name).meta.format, want, "{name}");
    }
}

#[test]
fn firehol_level1_leaves_out_its_bogons_and_counts_them() {
    let feed = load("firehol_level1_sample.netset");
    let nets = networks(&feed);
    for bogon in [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "127.0.0.0/8",
        "192.168.0.0/16",
        "224.0.0.0/3",
    ] {
        assert!(!nets.iter().any(|n| n == bogon), "{bogon} was loaded");
    }
    assert_eq!(feed.report.bogons_left_out, 13);
    assert_eq!(feed.report.duplicates, 0);
    assert!(
        feed.report.bad_lines.is_empty(),
        "{:?}",
        feed.report.bad_lines
    );
    // 147 lines: 34 of header, 113 entries, 13 of them bogons.
    assert_eq!(feed.report.accepted, 100);
    assert_eq!(
        feed.report.to_string(),
        "accepted 100, left out 13 bogon/private entries"
    );
    assert!(nets.contains(&"1.10.16.0/20".to_owned()));

    let table = IntelTable::from_feeds([feed]).unwrap();
    for addr in [
        "10.1.2.3",
        "224.0.0.1",
        "239.255.255.250",
        "255.255.255.255",
        "127.0.0.1",
    ] {
        assert_eq!(table.lookup(ip(addr)).count(), 0, "{addr}");
    }

    let kept = load_file(
        "firehol_level1",
        &fixture("firehol_level1_sample.netset"),
        &LoadOptions {
            keep_bogons: true,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(kept.report.bogons_left_out, 0);
    // 224.0.0.0/3 is wider than any feed entry may be, bogon or not.
    assert_eq!(kept.report.too_wide, 1);
    assert_eq!(kept.report.accepted, 112);
    let table = IntelTable::from_feeds([kept]).unwrap();
    let hits: Vec<String> = table
        .lookup(ip("10.1.2.3"))
        .map(|i| i.network.to_string())
        .collect();
    assert_eq!(hits, ["10.0.0.0/8"]);
}

#[test]
fn firehol_header_becomes_feed_metadata() {
    let meta = load("firehol_level1_sample.netset").meta;
    assert_eq!(meta.name, "firehol_level1_sample");
    assert_eq!(meta.header_name.as_deref(), Some("firehol_level1"));
    assert_eq!(meta.category.as_deref(), Some("attacks"));
    assert_eq!(meta.maintainer.as_deref(), Some("FireHOL"));
    assert_eq!(
        meta.maintainer_url.as_deref(),
        Some("http://iplists.firehol.org/")
    );
    assert_eq!(meta.version.as_deref(), Some("704"));
    assert_eq!(meta.update_frequency.as_deref(), Some("1 min"));
    assert_eq!(meta.source_url, None);
    assert_eq!(meta.file_date.unwrap().to_string(), "2015-11-13T17:18:59Z");
    assert_eq!(
        meta.source_file_date.unwrap().to_string(),
        "2015-11-13T17:17:05Z"
    );
    assert_eq!(meta.stated_entries, Some(6273));
    assert_eq!(meta.stated_unique_ips, Some(680_864_624));
    assert!(
        meta.description
            .as_deref()
            .unwrap()
            .starts_with("A firewall blacklist composed from IP lists"),
        "{:?}",
        meta.description
    );

    let tor = load("tor_exits_sample.ipset");
    assert_eq!(tor.meta.category.as_deref(), Some("anonymizers"));
    assert_eq!(
        tor.meta.source_url.as_deref(),
        Some("https://check.torproject.org/exit-addresses")
    );
    assert_eq!(tor.meta.stated_entries, Some(977));
    // The feed's category is given to its indicators.
    assert!(
        tor.indicators
            .iter()
            .all(|i| i.category.as_deref() == Some("anonymizers"))
    );
}

#[test]
fn ipsum_counts_are_scores() {
    let feed = load("ipsum_sample.txt");
    assert_eq!(feed.report.accepted, 43);
    assert_eq!(feed.indicators[0].network.to_string(), "77.90.185.20/32");
    assert_eq!(feed.indicators[0].score, Some(10.0));
    assert_eq!(
        feed.meta.file_date.unwrap().to_string(),
        "2026-08-22T01:00:29Z"
    );
}

#[test]
fn spamhaus_text_and_json() {
    let text = load("spamhaus_drop.txt");
    assert_eq!(text.report.accepted, 5);
    assert_eq!(text.indicators[1].comment.as_deref(), Some("SBL256894"));
    assert_eq!(
        text.meta.file_date.unwrap().to_string(),
        "2015-11-02T15:13:06Z"
    );

    let json = load("spamhaus_drop_v4.json");
    assert_eq!(
        networks(&json),
        [
            "1.4.0.0/17",
            "1.10.16.0/20",
            "5.8.62.0/24",
            "2a06:e480::/29"
        ]
    );
    assert_eq!(json.meta.stated_entries, Some(5));
    assert_eq!(
        json.meta.file_date.unwrap().to_string(),
        "2015-11-02T15:13:06Z"
    );
    let bad = &json.report.bad_lines;
    assert_eq!(bad.len(), 1);
    assert_eq!(
        bad[0].to_string(),
        format!(
            "{}:5: cidr: \"5.34.242.0/33\" is not a CIDR network",
            fixture("spamhaus_drop_v4.json").display()
        )
    );
}

#[test]
fn tor_exit_addresses() {
    let feed = load("tor_exit_addresses.txt");
    assert_eq!(
        networks(&feed),
        [
            "2.97.162.247/32",
            "5.9.10.117/32",
            "5.9.36.66/32",
            "2.111.64.26/32"
        ]
    );
    let second = &feed.indicators[2];
    assert_eq!(
        second.comment.as_deref(),
        Some("ExitNode 0098C475875ABC4AA864738B1D1079F711C38287")
    );
    assert_eq!(
        second.last_seen.unwrap().to_string(),
        "2015-11-15T00:12:40Z"
    );
    assert_eq!(second.category.as_deref(), Some("anonymizers"));
}

#[test]
fn stix_bundle() {
    let feed = load("stix_bundle.json");
    assert_eq!(
        networks(&feed),
        [
            "2.50.11.28/32",
            "1.10.16.0/20",
            "5.8.62.0/24",
            "2a06:e480::/29"
        ]
    );
    let first = &feed.indicators[0];
    assert_eq!(first.score, Some(85.0));
    assert_eq!(first.comment.as_deref(), Some("Feodo C2 server"));
    assert_eq!(first.category.as_deref(), Some("malicious-activity"));
    assert_eq!(
        first.first_seen.unwrap().to_string(),
        "2015-10-23T13:45:29Z"
    );
    assert_eq!(
        feed.indicators[1].comment.as_deref(),
        Some("Hijacked netblocks")
    );
    // The file hash and the AND pattern are skipped, the broken pattern is a bad line.
    assert_eq!(feed.report.skipped, 2);
    let bad = &feed.report.bad_lines;
    assert_eq!(bad.len(), 1);
    assert_eq!((bad[0].line, bad[0].field.as_str()), (62, "pattern"));
}

#[test]
fn misp_csv_and_json() {
    let csv = load("misp_attributes.csv");
    assert_eq!(networks(&csv), ["2.50.11.28/32", "5.39.222.172/32"]);
    assert_eq!(
        csv.indicators[0].comment.as_deref(),
        Some("Feodo C2, seen on 443")
    );
    assert_eq!(
        csv.indicators[0].category.as_deref(),
        Some("Network activity")
    );
    assert_eq!(
        csv.indicators[0].last_seen.unwrap().to_string(),
        "2015-10-23T00:00:00Z"
    );
    assert_eq!(csv.report.skipped, 2);
    assert_eq!(csv.report.bogons_left_out, 1);
    let bad = &csv.report.bad_lines;
    assert_eq!(
        (bad.len(), bad[0].line, bad[0].field.as_str()),
        (1, 7, "value")
    );

    let json = load("misp_attributes.json");
    assert_eq!(networks(&json), ["2.50.11.28/32", "2a06:e480::1/128"]);
    let first = &json.indicators[0];
    assert_eq!(
        first.first_seen.unwrap().to_string(),
        "2015-10-20T00:00:00Z"
    );
    assert_eq!(first.last_seen.unwrap().to_string(), "2015-10-23T13:45:29Z");
    assert_eq!(json.report.skipped, 1);
    let bad = &json.report.bad_lines;
    assert_eq!(
        (bad.len(), bad[0].line, bad[0].field.as_str()),
        (1, 24, "date")
    );
}

#[test]
fn misp_events_with_their_objects_and_to_ids() {
    // Citizen Lab's export of an event search: `{"response": [{"Event": {...}}]}`.
    let tainted = load("misp_event_search_citizenlab_taintedleaks.json");
    assert_eq!(
        networks(&tainted),
        ["89.40.181.119/32", "89.32.40.238/32", "80.255.12.237/32"]
    );
    assert!(tainted.report.bad_lines.is_empty(), "{:?}", tainted.report);
    assert_eq!(
        tainted.report.skipped, 9,
        "domains, URLs, emails and hashes"
    );
    assert_eq!(
        tainted.indicators[0].comment.as_deref(),
        Some("TAINTED LEAKS: Disinformation and Phishing With a Russian Nexus"),
        "an attribute without a comment carries its event's title"
    );
    assert_eq!(
        tainted.indicators[0].category.as_deref(),
        Some("Network activity")
    );
    // Two ip-dst attributes that the analysts did not flag for detection (to_ids false).
    let mayfly = load("misp_event_search_citizenlab_endlessmayfly.json");
    assert_eq!(networks(&mayfly), Vec::<String>::new());
    assert_eq!(mayfly.report.skipped, 6);
    // A single event (MISP's export and feed shape) whose attributes are all in objects.
    let objects = load("misp_event_pymisp_objects.json");
    assert_eq!(
        objects.report.skipped, 2,
        "a filename and a URL, from two objects"
    );
    assert!(objects.report.bad_lines.is_empty());
}

#[test]
fn zeek_intel() {
    let feed = load("zeek_intel.dat");
    assert_eq!(
        networks(&feed),
        ["2.50.11.28/32", "1.10.16.0/20", "2a06:e480::/29"]
    );
    assert_eq!(
        feed.indicators[0].comment.as_deref(),
        Some("feodo: Feodo C2 server")
    );
    assert_eq!(feed.report.skipped, 1);
    assert_eq!(feed.report.bogons_left_out, 1);
    assert_eq!(feed.report.bad_lines[0].line, 7);
}

#[test]
fn plain_list() {
    let feed = load("plain_list.txt");
    assert_eq!(
        networks(&feed),
        [
            "2.57.122.53/32",
            "45.154.244.0/24",
            "2a06:e480::/29",
            "77.90.185.20/32"
        ]
    );
    assert_eq!(
        feed.indicators[3].comment.as_deref(),
        Some("seen brute-forcing ssh")
    );
    assert_eq!(feed.report.bogons_left_out, 1);
    assert_eq!(feed.report.bad_lines[0].line, 8);
}

#[test]
fn a_lookup_returns_every_feed_that_lists_the_address() {
    let feeds = [
        "firehol_level1_sample.netset",
        "spamhaus_drop_sample.netset",
        "spamhaus_drop_v4.json",
        "stix_bundle.json",
        "zeek_intel.dat",
        "ipsum_sample.txt",
        "misp_attributes.json",
    ]
    .map(load);
    let table = IntelTable::from_feeds(feeds).unwrap();
    let hits: Vec<(String, String)> = table
        .lookup(ip("1.10.20.30"))
        .map(|i| (i.feed.to_owned(), i.network.to_string()))
        .collect();
    let mut feeds_hit: Vec<&str> = hits.iter().map(|(f, _)| f.as_str()).collect();
    feeds_hit.sort_unstable();
    assert_eq!(
        feeds_hit,
        [
            "firehol_level1_sample",
            "spamhaus_drop_sample",
            "spamhaus_drop_v4",
            "stix_bundle",
            "zeek_intel"
        ]
    );
    assert!(hits.iter().all(|(_, n)| n == "1.10.16.0/20"));

    // A /29 and the /128 inside it, from different feeds, both answer; widest first.
    let v6: Vec<String> = table
        .lookup(ip("2a06:e480::1"))
        .map(|i| i.network.to_string())
        .collect();
    assert_eq!(v6.first().map(String::as_str), Some("2a06:e480::/29"));
    assert_eq!(v6.last().map(String::as_str), Some("2a06:e480::1/128"));
    assert_eq!(v6.len(), 4);
    // An IPv4-mapped IPv6 address is looked up as IPv4.
    assert_eq!(table.lookup(ip("::ffff:1.10.20.30")).count(), 5);
    assert_eq!(table.lookup(ip("8.8.8.8")).count(), 0);
}

#[test]
fn loading_needs_a_format_it_can_tell() {
    let err = load_bytes(
        "x",
        "notes.md",
        b"# Notes\nnothing here\n",
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("notes.md: cannot tell"),
        "{err}"
    );
    let forced = load_bytes(
        "x",
        "notes.md",
        b"2.57.122.53\n",
        &LoadOptions {
            format: Some(FeedFormat::Plain),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(forced.report.accepted, 1);
    assert!(bogon_ranges().any(|(n, _)| n.to_string() == "10.0.0.0/8"));
}
