//! Feed refresh over HTTP against a small server on 127.0.0.1: the first download is stored,
//! later ones ask with If-None-Match and a 304 keeps the data; an empty or cut-off download is
//! refused and the stored feed kept; a good new version replaces it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use picket_server::config::{FeedSource, Source};
use picket_server::metrics::Metrics;
use picket_server::refresh::Refresher;
use picket_store::prelude::*;

/// What the server serves now, and the If-None-Match of every request it got.
#[derive(Default)]
struct Served {
    etag: String,
    body: String,
    conditions: Vec<Option<String>>,
}

fn server(state: Arc<Mutex<Served>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feeds/level3.txt", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut condition = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("if-none-match")
                {
                    condition = Some(v.trim().to_owned());
                }
            }
            let mut s = state.lock().unwrap();
            s.conditions.push(condition.clone());
            let response = if condition.as_deref() == Some(s.etag.as_str()) {
                format!(
                    "HTTP/1.1 304 Not Modified\r\nETag: {}\r\nConnection: close\r\n\r\n",
                    s.etag
                )
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nETag: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    s.etag,
                    s.body.len(),
                    s.body
                )
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

fn addresses(n: u8) -> String {
    (1..=n).map(|i| format!("77.90.185.{i}\n")).collect()
}

#[test]
fn an_http_feed_is_refreshed_conditionally_and_a_bad_download_never_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = picket_store::open(dir.path().join("picket.db").to_str().unwrap()).unwrap();
    let state = Arc::new(Mutex::new(Served {
        etag: "\"v1\"".into(),
        body: addresses(10),
        ..Served::default()
    }));
    let url = server(state.clone());
    let feed = FeedSource {
        name: "remote".into(),
        source: Source::Url(url),
        format: None,
        keep_bogons: false,
        allow_shrink: false,
        refresh: Duration::ZERO,
    };
    let metrics = Metrics::new();
    let mut refresher = Refresher::new(store.clone(), &[feed], &[]);
    let stored = || {
        store
            .feeds()
            .unwrap()
            .into_iter()
            .find(|f| f.name == "remote")
            .map(|f| (f.indicators, f.loaded_at))
    };

    refresher.tick(&metrics);
    let (count, loaded_at) = stored().expect("the first download is stored");
    assert_eq!(count, 10);

    // Unchanged: a conditional request, a 304, the stored feed as it was.
    refresher.tick(&metrics);
    assert_eq!(stored(), Some((10, loaded_at)));

    // An empty download, then one cut off mid-line: both refused, the feed kept.
    {
        let mut s = state.lock().unwrap();
        s.etag = "\"v2\"".into();
        s.body = String::new();
    }
    refresher.tick(&metrics);
    assert_eq!(stored(), Some((10, loaded_at)));
    {
        let mut s = state.lock().unwrap();
        s.etag = "\"v3\"".into();
        s.body = addresses(9) + "77.90.18";
    }
    refresher.tick(&metrics);
    assert_eq!(stored(), Some((10, loaded_at)));

    // A good new version replaces it.
    {
        let mut s = state.lock().unwrap();
        s.etag = "\"v4\"".into();
        s.body = addresses(12);
    }
    refresher.tick(&metrics);
    assert_eq!(stored().map(|s| s.0), Some(12));

    let conditions = state.lock().unwrap().conditions.clone();
    assert_eq!(
        conditions,
        [
            None,
            Some("\"v1\"".into()),
            Some("\"v1\"".into()),
            Some("\"v1\"".into()),
            Some("\"v1\"".into()),
        ],
        "each request after the first asks with the ETag of the stored download"
    );
    let text = metrics.render(&store);
    for outcome in ["updated\"} 2", "unchanged\"} 1", "refused\"} 2"] {
        assert!(
            text.contains(&format!(
                "picket_source_refreshes_total{{kind=\"feed\",source=\"remote\",outcome=\"{outcome}"
            )),
            "{outcome} missing in\n{text}"
        );
    }
    assert!(
        text.contains("picket_feed_indicators{feed=\"remote\"} 12"),
        "{text}"
    );
}

#[test]
fn a_feed_file_is_read_again_only_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = picket_store::open(dir.path().join("picket.db").to_str().unwrap()).unwrap();
    let file = dir.path().join("feed.txt");
    std::fs::write(&file, addresses(4)).unwrap();
    let feed = FeedSource {
        name: "local".into(),
        source: Source::File(file.clone()),
        format: None,
        keep_bogons: false,
        allow_shrink: false,
        refresh: Duration::ZERO,
    };
    let metrics = Metrics::new();
    let mut refresher = Refresher::new(store.clone(), &[feed], &[]);
    let loaded = || store.feeds().unwrap()[0].loaded_at;
    refresher.tick(&metrics);
    let first = loaded();
    refresher.tick(&metrics);
    assert_eq!(loaded(), first, "an unchanged file is not imported again");
    std::fs::write(&file, addresses(5)).unwrap();
    refresher.tick(&metrics);
    assert_eq!(store.feeds().unwrap()[0].indicators, 5);
    // A file that went missing keeps the stored feed.
    std::fs::remove_file(&file).unwrap();
    refresher.tick(&metrics);
    assert_eq!(store.feeds().unwrap()[0].indicators, 5);
}

#[test]
fn a_vulnerability_file_is_imported_and_an_empty_catalogue_never_replaces_it() {
    use picket_server::config::VulnSource;
    let dir = tempfile::tempdir().unwrap();
    let store = picket_store::open(dir.path().join("picket.db").to_str().unwrap()).unwrap();
    let file = dir.path().join("known_exploited_vulnerabilities.json");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../picket/tests/fixtures/kev-slice.json");
    std::fs::copy(&fixture, &file).unwrap();
    let vuln = VulnSource {
        name: "kev".into(),
        source: Source::File(file.clone()),
        allow_shrink: false,
        refresh: Duration::ZERO,
    };
    let metrics = Metrics::new();
    let mut refresher = Refresher::new(store.clone(), &[], &[vuln]);
    let rows = || {
        store
            .vuln_sources(Some("kev"))
            .unwrap()
            .first()
            .map(|s| s.rows)
    };
    refresher.tick(&metrics);
    assert_eq!(rows(), Some(3));
    std::fs::write(
        &file,
        r#"{"title":"CISA Catalog of Known Exploited Vulnerabilities","catalogVersion":"2025.08.26","dateReleased":"2025-08-26T00:00:00Z","count":0,"vulnerabilities":[]}"#,
    )
    .unwrap();
    refresher.tick(&metrics);
    assert_eq!(rows(), Some(3), "the empty catalogue was refused");
    assert!(metrics.render(&store).contains(
        "picket_source_refreshes_total{kind=\"vuln\",source=\"kev\",outcome=\"refused\"} 1"
    ));
}
