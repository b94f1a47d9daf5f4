//! The dashboard's pages over HTTP: their content, and third-party text always escaped.

use axum::http::StatusCode;

use crate::harness;
use crate::support::{HOSTILE_FEED, HOSTILE_HOSTNAME, HOSTILE_PRODUCT};

#[test]
fn pages_show_the_store() {
    let h = harness();
    let overview = h.get("/");
    assert_eq!(overview.status, StatusCode::OK);
    assert_eq!(
        overview.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    for text in [
        "Open ports over time",
        "<svg class=\"chart\"",
        "Findings by verdict",
        "Alerts by severity",
        "Feed freshness",
        "Scheduled jobs",
        "nightly",
        // minijinja's HTML escaping writes `/` as `&#x2f;` in values.
        "203.0.113.0&#x2f;24",
        "href=\"/hosts/192.0.2.10\"",
    ] {
        assert!(overview.body.contains(text), "overview lacks {text:?}");
    }
    let policy = overview.header("content-security-policy").unwrap();
    assert!(policy.contains("script-src 'sha256-") && policy.contains("default-src 'none'"));
    for a in [
        &overview,
        &h.get("/api/v1/runs"),
        &h.call("GET", "/api/v1/runs", &[], ""),
    ] {
        assert_eq!(a.header("cache-control"), Some("no-store"));
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(a.header("x-frame-options"), Some("DENY"));
    }
    let host = h.get("/hosts/192.0.2.20");
    assert_eq!(host.status, StatusCode::OK);
    for text in [
        "Port history",
        "8443/tcp",
        "run 6",
        "Remediation",
        "Verify:",
        "Re-check:",
    ] {
        assert!(host.body.contains(text), "host page lacks {text:?}");
    }
    assert!(
        host.body.contains("3 open alerts to this host"),
        "host page lacks its alerts"
    );
    let to_host = h.get("/alerts?host=192.0.2.20");
    assert_eq!(to_host.body.matches("<tr id=\"alert-").count(), 3);
    let alerts = h.get("/alerts?status=open");
    assert_eq!(alerts.body.matches("<tr id=\"alert-").count(), 5);
    assert!(alerts.body.contains("CVE-2024-6387"));
    assert!(
        h.get("/alerts?severity=high")
            .body
            .contains("checking with the web team")
    );
    let findings = h.get("/findings");
    assert_eq!(findings.body.matches("badge v-closed").count(), 1);
    assert_eq!(h.get("/hosts/nowhere").status, StatusCode::BAD_REQUEST);
    assert!(h.get("/blocks").body.contains("Block a network"));
    // A dry run from the form shows the plan, and the page keeps its own script.
    let dry = h.call(
        "POST",
        "/blocks",
        &[
            crate::bearer(),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "net=203.0.113.9&ttl=1h&dry_run=1",
    );
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert!(dry.body.contains("Dry run:") && dry.body.contains("<pre class=\"mono\">"));
    assert!(dry.body.contains("203.0.113.9"));
    assert!(dry.body.contains("document.documentElement.classList.add"));
}

#[test]
fn third_party_text_is_always_escaped() {
    let h = harness();
    for uri in [
        "/",
        "/hosts/192.0.2.20",
        "/findings",
        "/alerts",
        "/alerts?status=closed",
        "/blocks",
    ] {
        let page = h.get(uri);
        assert_eq!(page.status, StatusCode::OK, "{uri}");
        for hostile in [
            HOSTILE_HOSTNAME,
            HOSTILE_PRODUCT,
            HOSTILE_FEED,
            "<i>our</i>",
            "<b>web-tier</b>",
        ] {
            assert!(
                !page.body.contains(hostile),
                "{uri} shows {hostile:?} unescaped"
            );
        }
        assert!(!page.body.contains("<script>alert"), "{uri}");
        assert!(!page.body.contains("<img"), "{uri}");
    }
    assert!(
        h.get("/hosts/192.0.2.20")
            .body
            .contains("&lt;img src=x onerror=alert(1)&gt;")
    );
    assert!(h.get("/").body.contains("&lt;script&gt;feed&lt;"));
}
