//! picket-web's integration tests, one binary: the token on every route, the session and CSRF,
//! the API against the CLI's JSON, the pages' escaping, and the dashboard in headless Chromium.

mod api;
mod auth;
mod browser;
mod pages;
mod postgres;
#[path = "../support/mod.rs"]
mod support;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use picket_store::Store;
use tower::ServiceExt;

use support::{Stub, TOKEN};

/// A seeded store in a directory of its own, the router over it, and a runtime to call it on.
pub struct Harness {
    pub store: Store,
    pub router: Router,
    pub stub: Arc<Stub>,
    pub rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

pub fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("picket.db").display().to_string();
    harness_at(&location, dir)
}

/// The harness over the store at `location` (seeded here); `dir` lives as long as it.
pub fn harness_at(location: &str, dir: tempfile::TempDir) -> Harness {
    let store = picket_store::open(location).unwrap();
    support::seed(&store);
    let (state, stub) = support::state(&store);
    Harness {
        router: picket_web::router(state),
        store,
        stub,
        rt: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
        _dir: dir,
    }
}

/// What a request got back.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Harness {
    /// Sends one request; `headers` as given (add the token yourself, see [`bearer`]).
    pub fn call(&self, method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request.body(Body::from(body.to_owned())).unwrap();
        let router = self.router.clone();
        self.rt.block_on(async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            Answer {
                status,
                headers,
                body: String::from_utf8(bytes.to_vec()).unwrap(),
            }
        })
    }

    /// GET with the token.
    pub fn get(&self, uri: &str) -> Answer {
        self.call("GET", uri, &[bearer()], "")
    }

    /// POST of JSON with the token.
    pub fn post_json(&self, uri: &str, body: &str) -> Answer {
        self.call(
            "POST",
            uri,
            &[bearer(), ("content-type", "application/json")],
            body,
        )
    }
}

pub fn bearer() -> (&'static str, &'static str) {
    static VALUE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let value = VALUE.get_or_init(|| format!("Bearer {TOKEN}"));
    ("authorization", value.as_str())
}
