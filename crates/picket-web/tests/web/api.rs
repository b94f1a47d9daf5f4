//! The JSON API: the CLI's documents, alert pages and filters, triage, blocks behind the guard,
//! scans, jobs, metrics, the OpenAPI document, errors as JSON.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use picket_model::RunId;
use picket_report::Format;
use picket_store::prelude::*;
use picket_store::{AlertFilter, FindingFilter};
use picket_web::routes;
use serde_json::Value;

use crate::support::{self, HOSTILE_FEED};
use crate::{Answer, harness};

fn rendered(render: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    render(&mut out);
    String::from_utf8(out).unwrap()
}

fn ok(a: Answer) -> Answer {
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.header("content-type"), Some("application/json"));
    a
}

#[test]
fn reads_answer_the_cli_json_byte_for_byte() {
    let h = harness();
    let runs = h.store.runs(20).unwrap();
    assert_eq!(runs.len(), 6);
    let cli = rendered(|o| picket_report::runs(o, Format::Json, &runs).unwrap());
    assert_eq!(ok(h.get("/api/v1/runs")).body, cli);
    let two = rendered(|o| picket_report::runs(o, Format::Json, &runs[..2]).unwrap());
    assert_eq!(ok(h.get("/api/v1/runs?limit=2")).body, two);

    let findings = h.store.findings(&FindingFilter::default()).unwrap();
    let cli = rendered(|o| picket_report::findings(o, Format::Json, &findings).unwrap());
    assert_eq!(ok(h.get("/api/v1/findings")).body, cli);
    assert_eq!(
        ok(h.get("/api/v1/findings?host=192.0.2.10")).json(),
        Value::Array(vec![])
    );
    assert_eq!(
        ok(h.get("/api/v1/findings?kind=open-port-recheck&run=6"))
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let id = runs[0].id;
    let run = h.store.run(id).unwrap().unwrap();
    let of_run = h
        .store
        .findings(&FindingFilter {
            run: Some(id),
            ..FindingFilter::default()
        })
        .unwrap();
    let cli = rendered(|o| picket_report::scan(o, Format::Json, &run, &of_run).unwrap());
    let api = ok(h.get(&format!("/api/v1/runs/{id}")));
    assert_eq!(api.body, cli);
    assert!(
        api.json()["hosts"][0]["ports"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );

    let diff = picket_app::exposure::diff(&h.store, Some(RunId(5)), Some(RunId(6))).unwrap();
    let cli = rendered(|o| picket_report::diff(o, Format::Json, &diff).unwrap());
    assert_eq!(ok(h.get("/api/v1/diff?from=5&to=6")).body, cli);
    assert_eq!(ok(h.get("/api/v1/diff")).body, cli);

    let lookup = ok(h.get("/api/v1/intel/lookup?ip=203.0.113.7")).json();
    let feeds: BTreeSet<&str> = lookup
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["feed"].as_str())
        .collect();
    assert_eq!(feeds, BTreeSet::from(["ipsum", HOSTILE_FEED]));
    assert_eq!(ok(h.get("/api/v1/inventory")).json(), Value::Array(vec![]));
}

fn ids(a: &Answer) -> Vec<i64> {
    a.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn alerts_have_the_cli_fields_filters_and_pages() {
    let h = harness();
    let all = ok(h.get("/api/v1/alerts"));
    assert_eq!(ids(&all), [1, 2, 3, 4, 5, 6, 7]);
    // Every field of `picket alerts --format json`, and `triage` only where someone triaged.
    let stored = h.store.alerts(&AlertFilter::default()).unwrap();
    let cli: Value = serde_json::from_str(&rendered(|o| {
        picket_report::alerts(o, Format::Json, &stored).unwrap()
    }))
    .unwrap();
    for (api, cli) in all
        .json()
        .as_array()
        .unwrap()
        .iter()
        .zip(cli.as_array().unwrap())
    {
        let mut api = api.clone();
        let triage = api.as_object_mut().unwrap().remove("triage");
        assert_eq!(&api, cli);
        let id = api["id"].as_i64().unwrap();
        assert_eq!(triage.is_some(), id == 3 || id == 6, "alert {id}");
    }
    let acked = ok(h.get("/api/v1/alerts?status=acknowledged")).json();
    assert_eq!(acked[0]["triage"]["status"], "acknowledged");
    assert_eq!(acked[0]["triage"]["by"], "ana");
    assert_eq!(ids(&ok(h.get("/api/v1/alerts?status=closed"))), [6]);
    assert_eq!(
        ids(&ok(h.get("/api/v1/alerts?status=open"))),
        [1, 2, 4, 5, 7]
    );
    assert_eq!(ids(&ok(h.get("/api/v1/alerts?severity=high"))), [1, 2, 3]);
    assert_eq!(ids(&ok(h.get("/api/v1/alerts?host=192.0.2.20"))), [1, 4, 7]);
    assert_eq!(
        ids(&ok(h.get("/api/v1/alerts?client=::ffff:203.0.113.7"))),
        [1]
    );
    assert_eq!(
        ids(&ok(h.get("/api/v1/alerts?since=2026-05-06T10:04:00Z"))),
        [5, 6, 7]
    );
    assert_eq!(
        ids(&ok(h.get("/api/v1/alerts?since=1h"))),
        Vec::<i64>::new()
    );

    // Pages by offset, and the Link header's next page by cursor.
    let next = |a: &Answer| -> Option<String> {
        let link = a.header("link")?;
        let next = link.split(", ").find(|l| l.ends_with("rel=\"next\""))?;
        Some(next[1..next.find('>').unwrap()].to_owned())
    };
    let first = ok(h.get("/api/v1/alerts?severity=info&limit=3"));
    assert_eq!(ids(&first), [1, 2, 3]);
    let to_second = next(&first).unwrap();
    assert!(
        to_second.starts_with("/api/v1/alerts?severity=info&limit=3&after="),
        "{to_second}"
    );
    let second = ok(h.get(&to_second));
    assert_eq!(ids(&second), [4, 5, 6]);
    let by_offset = ok(h.get("/api/v1/alerts?severity=info&limit=3&offset=3"));
    assert_eq!(ids(&by_offset), [4, 5, 6]);
    let link = by_offset.header("link").unwrap();
    assert!(link.contains("offset=0>; rel=\"prev\""), "{link}");
    let last = ok(h.get(&next(&second).unwrap()));
    assert_eq!(ids(&last), [7]);
    assert_eq!(next(&last), None);
    assert_eq!(
        ids(&ok(h.get("/api/v1/alerts?severity=info&limit=3&offset=6"))),
        [7]
    );

    for (query, field) in [
        ("severity=urgent", "severity"),
        ("status=done", "status"),
        ("client=nobody", "client"),
        ("host=x", "host"),
        ("since=soon", "since"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("offset=-1", "offset"),
        ("after=12", "after"),
        ("after=x_1", "after"),
    ] {
        let a = h.get(&format!("/api/v1/alerts?{query}"));
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            a.json()["error"].as_str().unwrap().contains(field),
            "{query}: {}",
            a.body
        );
    }
}

#[test]
fn the_export_streams_every_alert_in_order() {
    let h = harness();
    support::many_alerts(&h.store, 4_500);
    let stored: Vec<Option<i64>> = h
        .store
        .alerts(&AlertFilter::default())
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(stored.len(), 4_507);
    let all = ok(h.get("/api/v1/alerts?limit=all"));
    let got: Vec<Option<i64>> = ids(&all).into_iter().map(Some).collect();
    assert_eq!(got, stored);
    let tail = ok(h.get("/api/v1/alerts?limit=all&offset=4500&severity=info"));
    assert!(ids(&tail).iter().all(|id| *id > 0));
    assert_eq!(
        ok(h.get("/api/v1/alerts")).json().as_array().unwrap().len(),
        100
    );
}

#[test]
fn alerts_are_triaged_with_lacework_reasons() {
    let h = harness();
    let a = ok(h.post_json(
        "/api/v1/alerts/2/acknowledge",
        r#"{"note": "looking", "by": "ops"}"#,
    ));
    assert_eq!(a.json()["triage"]["status"], "acknowledged");
    assert_eq!(a.json()["triage"]["by"], "ops");
    let empty = ok(h.call(
        "POST",
        "/api/v1/alerts/4/acknowledge",
        &[crate::bearer()],
        "",
    ));
    assert_eq!(empty.json()["triage"]["by"], "api");

    let bad = h.post_json("/api/v1/alerts/2/close", r#"{"reason": "resolved"}"#);
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.json()["error"]
            .as_str()
            .unwrap()
            .contains("malicious-unresolved")
    );
    let missing = h.post_json("/api/v1/alerts/2/close", "{}");
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let unknown = h.post_json(
        "/api/v1/alerts/2/close",
        r#"{"reason": "other", "extra": 1}"#,
    );
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let long = h.post_json(
        "/api/v1/alerts/2/close",
        &format!(r#"{{"reason": "other", "note": "{}"}}"#, "x".repeat(2001)),
    );
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    for reason in [
        "other",
        "false-positive",
        "not-enough-information",
        "malicious-resolved",
        "malicious-unresolved",
        "expected-testing",
    ] {
        let a = ok(h.post_json(
            "/api/v1/alerts/2/close",
            &format!(r#"{{"reason": "{reason}", "note": "why"}}"#),
        ));
        assert_eq!(a.json()["triage"]["close_reason"], reason);
    }
    let none = h.post_json("/api/v1/alerts/999/close", r#"{"reason": "other"}"#);
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(none.json()["error"], "no alert 999");
    let listed = ok(h.get("/api/v1/alerts?status=closed")).json();
    assert!(listed.as_array().unwrap().iter().any(|a| a["id"] == 2
        && a["triage"]["close_reason"] == "expected-testing"
        && a["triage"]["note"] == "why"));
}

#[test]
fn blocks_go_through_the_guard() {
    let h = harness();
    for net in [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.0/16",
        "::1",
        "0.0.0.0/0",
    ] {
        let a = h.post_json(
            "/api/v1/blocks",
            &format!(r#"{{"net": "{net}", "dry_run": true}}"#),
        );
        assert!(
            a.status == StatusCode::FORBIDDEN || a.status == StatusCode::BAD_REQUEST,
            "{net}: {} {}",
            a.status,
            a.body
        );
        assert!(a.json()["error"].is_string());
    }
    let plan = ok(h.post_json(
        "/api/v1/blocks",
        r#"{"net": "203.0.113.9", "ttl": "2h", "reason": "r", "dry_run": true}"#,
    ))
    .json();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["ttl_s"], 7200);
    assert!(
        plan["script"].as_str().unwrap().contains("203.0.113.9"),
        "{plan}"
    );
    let bad_ttl = h.post_json(
        "/api/v1/blocks",
        r#"{"net": "203.0.113.9", "ttl": "soon", "dry_run": true}"#,
    );
    assert_eq!(bad_ttl.status, StatusCode::BAD_REQUEST);
    let bad_net = h.call("DELETE", "/api/v1/blocks/nowhere", &[crate::bearer()], "");
    assert_eq!(bad_net.status, StatusCode::BAD_REQUEST);
}

#[test]
fn scans_jobs_and_metrics_ask_the_service() {
    let h = harness();
    let a = h.post_json(
        "/api/v1/scans",
        r#"{"targets": ["192.0.2.1"], "ports": "22"}"#,
    );
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    assert_eq!(a.json()["run_id"], 99);
    assert_eq!(a.header("location"), Some("/api/v1/runs/99"));
    assert_eq!(h.stub.started.lock().unwrap()[0].targets, ["192.0.2.1"]);
    assert_eq!(
        h.post_json("/api/v1/scans", r#"{"job": "nightly"}"#).status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        h.post_json("/api/v1/scans", r#"{"job": "weekly"}"#).status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.post_json("/api/v1/scans", "{}").status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.post_json("/api/v1/scans", "{").status,
        StatusCode::BAD_REQUEST
    );

    let jobs = ok(h.get("/api/v1/jobs")).json();
    assert_eq!(jobs[0]["name"], "nightly");
    assert_eq!(jobs[0]["last_run"], 6);

    // The service's workers, in the bytes of `picket workers --format json`.
    let workers = ok(h.get("/api/v1/workers"));
    let mut cli = Vec::new();
    picket_report::listings::workers(
        &mut cli,
        Format::Json,
        &picket_web::Control::workers(&support::Stub::default()).unwrap(),
        picket_model::Timestamp::now(),
    )
    .unwrap();
    assert_eq!(workers.body.as_bytes(), cli.as_slice());
    assert_eq!(workers.json()[0]["id"], "scanner-eu-1");

    let m = h.get("/metrics");
    assert_eq!(m.status, StatusCode::OK);
    assert_eq!(
        m.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(m.body.contains("picket_scans_running 1"));
}

#[test]
fn the_openapi_document_lists_every_route_and_no_other() {
    let h = harness();
    let doc = ok(h.get("/api/v1/openapi.json")).json();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.to_ascii_uppercase(), path.clone()));
            assert!(op["responses"]["401"].is_object(), "{method} {path}");
            // Every `{param}` of the path is a documented path parameter.
            let params: BTreeSet<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            let in_path: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            assert_eq!(params, in_path, "{method} {path}");
        }
    }
    let served: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, served);
    let ids: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|i| i.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    assert_eq!(ids.len(), served.len(), "operation ids are unique");
}

#[test]
fn errors_are_json_with_their_status() {
    let h = harness();
    for (uri, status, says) in [
        ("/api/v1/runs/999", StatusCode::NOT_FOUND, "no run 999"),
        ("/api/v1/runs/abc", StatusCode::BAD_REQUEST, "id"),
        ("/api/v1/runs?limit=x", StatusCode::BAD_REQUEST, "limit"),
        ("/api/v1/intel/lookup", StatusCode::BAD_REQUEST, "ip"),
        (
            "/api/v1/intel/lookup?ip=nope",
            StatusCode::BAD_REQUEST,
            "ip",
        ),
        ("/api/v1/findings?kind=odd", StatusCode::BAD_REQUEST, "kind"),
        (
            "/api/v1/diff?from=1",
            StatusCode::BAD_REQUEST,
            "two run ids",
        ),
        ("/api/v1/nothing", StatusCode::NOT_FOUND, "no such route"),
    ] {
        let a = h.get(uri);
        assert_eq!(a.status, status, "{uri}: {}", a.body);
        assert_eq!(a.header("content-type"), Some("application/json"), "{uri}");
        let error = a.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(says), "{uri}: {error}");
    }
    let put = h.call("PUT", "/api/v1/runs", &[crate::bearer()], "");
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(put.json()["error"].as_str().unwrap().contains("method"));
}
