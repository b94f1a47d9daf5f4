//! The token on every route, the login form's session cookie, CSRF on every form.

use axum::http::StatusCode;
use picket_model::AlertStatus;
use picket_store::AlertFilter;
use picket_store::prelude::*;
use picket_web::{In, Method, RouteInfo, routes};

use crate::support::TOKEN;
use crate::{Answer, Harness, bearer, harness};

/// A concrete request for a route: its path with sample parameters.
pub fn concrete(route: &RouteInfo) -> String {
    let path = route
        .path
        .replace("{id}", "1")
        .replace("{ip}", "192.0.2.20")
        .replace("{net}", "not-a-network");
    let required: Vec<String> = route
        .params
        .iter()
        .filter(|p| p.required && p.location == In::Query)
        .map(|p| match p.name {
            "ip" => "ip=203.0.113.7".to_owned(),
            other => panic!("no sample value for the query parameter {other}"),
        })
        .collect();
    if required.is_empty() {
        path
    } else {
        format!("{path}?{}", required.join("&"))
    }
}

fn assert_unauthorized(a: &Answer, what: &str) {
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{what}: {}", a.body);
    assert!(
        a.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{what}: no bearer challenge"
    );
}

#[test]
fn every_route_answers_401_without_the_token() {
    let h = harness();
    let all = routes();
    assert!(all.len() >= 25, "{} routes", all.len());
    let forged = format!("{}=1800000000.00.00", picket_web::SESSION_COOKIE);
    let wrong = format!("Bearer {TOKEN}x");
    for route in &all {
        let uri = concrete(route);
        let method = route.method.as_str();
        let what = format!("{method} {uri}");
        assert_unauthorized(&h.call(method, &uri, &[], ""), &what);
        assert_unauthorized(
            &h.call(method, &uri, &[("authorization", &wrong)], ""),
            &what,
        );
        assert_unauthorized(
            &h.call(method, &uri, &[("authorization", "Basic dXNlcjpwYXNz")], ""),
            &what,
        );
        assert_unauthorized(&h.call(method, &uri, &[("cookie", &forged)], ""), &what);
    }
    // Routes nobody defined answer 401 too: nothing is learnt without the token.
    assert_unauthorized(&h.call("GET", "/api/v1/nothing", &[], ""), "unknown route");
    assert_unauthorized(&h.call("PUT", "/api/v1/runs", &[], ""), "unknown method");
}

/// A request every route answers without 401, 404 or 405 when the token is given, and the
/// status it gives. Routes that would change the firewall get a request refused before it.
pub fn served(route: &RouteInfo) -> (&'static str, &'static str, u16) {
    match (route.method, route.path) {
        (Method::Get, "/login") => ("", "", 303),
        (Method::Post, "/login") => ("application/x-www-form-urlencoded", "token=wrong", 401),
        (Method::Post, "/logout") => ("application/x-www-form-urlencoded", "csrf=", 303),
        (Method::Post, "/alerts/{id}/acknowledge") => {
            ("application/x-www-form-urlencoded", "csrf=&note=n", 303)
        }
        (Method::Post, "/alerts/{id}/close") => (
            "application/x-www-form-urlencoded",
            "csrf=&reason=other&note=n",
            303,
        ),
        (Method::Post, "/blocks") => (
            "application/x-www-form-urlencoded",
            "csrf=&net=203.0.113.9&ttl=1h&dry_run=1",
            200,
        ),
        (Method::Post, "/blocks/remove") => (
            "application/x-www-form-urlencoded",
            "csrf=&net=not-a-network",
            400,
        ),
        (Method::Post, "/api/v1/alerts/{id}/acknowledge") => ("application/json", "{}", 200),
        (Method::Post, "/api/v1/alerts/{id}/close") => {
            ("application/json", r#"{"reason": "other"}"#, 200)
        }
        (Method::Post, "/api/v1/blocks") => (
            "application/json",
            r#"{"net": "203.0.113.9", "dry_run": true}"#,
            200,
        ),
        (Method::Delete, "/api/v1/blocks/{net}") => ("", "", 400),
        (Method::Post, "/api/v1/scans") => ("application/json", r#"{"job": "adhoc"}"#, 202),
        (Method::Get, _) => ("", "", 200),
        (method, path) => panic!("no request written for {} {path}", method.as_str()),
    }
}

#[test]
fn every_documented_route_is_served_with_the_token() {
    let h = harness();
    for route in routes() {
        let (content_type, body, expected) = served(&route);
        let uri = concrete(&route);
        let mut headers = vec![bearer()];
        if !content_type.is_empty() {
            headers.push(("content-type", content_type));
        }
        let a = h.call(route.method.as_str(), &uri, &headers, body);
        assert_eq!(
            a.status.as_u16(),
            expected,
            "{} {uri}: {}",
            route.method.as_str(),
            a.body
        );
    }
}

/// The session cookie's value from a login answer.
fn session_from(a: &Answer) -> String {
    let cookie = a.header("set-cookie").expect("a session cookie");
    cookie.split(';').next().unwrap().trim().to_owned()
}

/// The CSRF token of the first form on a page.
pub fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with csrf");
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn login(h: &Harness, extra: &[(&str, &str)], body: &str) -> Answer {
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    headers.extend_from_slice(extra);
    h.call("POST", "/login", &headers, body)
}

#[test]
fn the_login_form_sets_a_strict_http_only_cookie_and_forms_need_csrf() {
    let h = harness();
    let form = h.call("GET", "/", &[], "");
    assert_eq!(form.status, StatusCode::UNAUTHORIZED);
    assert!(form.body.contains("action=\"/login\""), "{}", form.body);

    let bad = login(&h, &[], "token=nope");
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.body.contains("That token is not valid"));
    assert!(bad.header("set-cookie").is_none());
    assert_eq!(login(&h, &[], "").status, StatusCode::UNAUTHORIZED);

    let ok = login(&h, &[], &format!("token={TOKEN}"));
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.header("location"), Some("/"));
    let set = ok.header("set-cookie").unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Secure"), "{set}");
    let tls = login(
        &h,
        &[("x-forwarded-proto", "https")],
        &format!("token={TOKEN}"),
    );
    assert!(tls.header("set-cookie").unwrap().contains("; Secure"));
    // Back to the page asked for, never to another site.
    let next = login(
        &h,
        &[],
        &format!("token={TOKEN}&next=%2Falerts%3Fstatus%3Dopen"),
    );
    assert_eq!(next.header("location"), Some("/alerts?status=open"));
    for away in [
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example",
        "%2F%5Cevil.example",
    ] {
        let a = login(&h, &[], &format!("token={TOKEN}&next={away}"));
        assert_eq!(a.header("location"), Some("/"), "{away}");
    }

    let cookie = session_from(&ok);
    let with = [("cookie", cookie.as_str())];
    let page = h.call("GET", "/alerts", &with, "");
    assert_eq!(page.status, StatusCode::OK);
    // The API never takes the cookie.
    assert_eq!(
        h.call("GET", "/api/v1/alerts", &with, "").status,
        StatusCode::UNAUTHORIZED
    );

    let id = 1;
    let form_headers = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let uri = format!("/alerts/{id}/acknowledge");
    for csrf in ["", "0000", &"a".repeat(64)] {
        let refused = h.call("POST", &uri, &form_headers, &format!("csrf={csrf}&note=x"));
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{csrf:?}");
    }
    let other = session_from(&login(&h, &[], &format!("token={TOKEN}")));
    let others_csrf = csrf_of(
        &h.call("GET", "/alerts", &[("cookie", other.as_str())], "")
            .body,
    );
    let refused = h.call("POST", &uri, &form_headers, &format!("csrf={others_csrf}"));
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let untouched = h.store.triaged_alerts(&AlertFilter::default()).unwrap();
    assert_eq!(untouched[0].triage.status, AlertStatus::Open);

    let csrf = csrf_of(&page.body);
    let done = h.call(
        "POST",
        &uri,
        &form_headers,
        &format!("csrf={csrf}&note=on+it"),
    );
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let triaged = h.store.triaged_alerts(&AlertFilter::default()).unwrap();
    assert_eq!(triaged[0].triage.status, AlertStatus::Acknowledged);
    assert_eq!(triaged[0].triage.note.as_deref(), Some("on it"));
    assert_eq!(triaged[0].triage.by.as_deref(), Some("dashboard"));

    let close = h.call(
        "POST",
        "/alerts/1/close",
        &form_headers,
        &format!("csrf={csrf}&reason=false-positive&note="),
    );
    assert_eq!(close.status, StatusCode::SEE_OTHER);
    let triaged = h.store.triaged_alerts(&AlertFilter::default()).unwrap();
    assert_eq!(triaged[0].triage.status, AlertStatus::Closed);

    let out = h.call("POST", "/logout", &form_headers, &format!("csrf={csrf}"));
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    // The session ended with the logout, even where the cookie was kept.
    assert_eq!(
        h.call("GET", "/alerts", &with, "").status,
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn a_bearer_request_needs_no_csrf_but_a_session_does() {
    let h = harness();
    let a = h.call(
        "POST",
        "/alerts/2/acknowledge",
        &[
            bearer(),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "note=scripted",
    );
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
}
