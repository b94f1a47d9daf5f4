//! The headers every answer carries: no caching of what the token guards, no sniffing, no
//! framing, and for pages a Content-Security-Policy that allows only the embedded script (by
//! its hash) and styles, so that text that slipped past escaping still could not run. This
//! module must never loosen the policy to let outside resources in.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::App;

/// The policy of every page: the inline script by hash, inline styles (the bars' widths are
/// style attributes), forms to this site only, nothing else from anywhere.
pub(crate) fn page_policy(script: &str) -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes()));
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
         img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

pub(crate) async fn add(State(app): State<App>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if is_html && let Ok(policy) = HeaderValue::from_str(&app.pages.policy) {
        headers.insert(CONTENT_SECURITY_POLICY, policy);
    }
    response
}
