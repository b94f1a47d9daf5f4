//! Who may ask: the bearer token on every route, and the dashboard's session cookie and CSRF
//! tokens. This module must never compare a secret in variable time, accept a cookie on the API
//! (`/api/*` and `/metrics` take the bearer header only, so no page of another site can make a
//! browser call them), or let a dashboard form change anything without its CSRF token.
//!
//! - **Token**: `Authorization: Bearer TOKEN`, compared as SHA-256 digests in constant time
//!   (so neither the token's bytes nor its length leak through timing).
//! - **Session**: the login form takes the token and sets `picket_session` (HttpOnly,
//!   SameSite=Strict, Path=/, Secure when the request came over TLS, or as configured) for
//!   [`SESSION_LIFETIME`]. Its value is `ISSUED.NONCE.MAC`, the MAC an HMAC-SHA-256 by a key made
//!   at start-up over the issue time, the nonce and the token's digest: a restart or a new token
//!   ends every session; logging out ends one (this process remembers it until it would have
//!   expired); nothing is stored.
//! - **CSRF**: every dashboard form carries `csrf`, the HMAC of the session cookie's value;
//!   a state-changing form without the right one is refused (403). Requests that came with the
//!   bearer header need none (a browser never adds that header by itself).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use picket_model::Timestamp;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::App;
use crate::error::ErrorBody;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "picket_session";
/// How long a dashboard session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

type HmacSha256 = Hmac<Sha256>;

/// How a request proved itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// The bearer header.
    Bearer,
    /// The dashboard's session cookie (its value).
    Session(String),
}

/// The per-process secret behind sessions and CSRF tokens, and the token's digest.
pub(crate) struct Keys {
    key: [u8; 32],
    token_digest: [u8; 32],
    /// Sessions ended by logging out, with when they would have expired (dropped then).
    ended: Mutex<HashMap<String, i64>>,
}

impl Keys {
    /// A fresh random key for `token`. Fails only when the system has no randomness to give.
    pub(crate) fn new(token: &str) -> Result<Self, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(Self {
            key,
            token_digest: digest(token.as_bytes()),
            ended: Mutex::new(HashMap::new()),
        })
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        // HMAC takes a key of any length: this cannot fail.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// Whether `given` is the token.
    pub(crate) fn token_matches(&self, given: &str) -> bool {
        digest(given.as_bytes()).ct_eq(&self.token_digest).into()
    }

    /// A new session cookie value, issued at `now`.
    pub(crate) fn new_session(&self, now: Timestamp) -> Result<String, getrandom::Error> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce)?;
        let issued = now.as_second().to_string();
        let nonce = hex(&nonce);
        let mac = self.session_mac(&issued, &nonce).finalize().into_bytes();
        Ok(format!("{issued}.{nonce}.{}", hex(&mac)))
    }

    fn session_mac(&self, issued: &str, nonce: &str) -> HmacSha256 {
        self.mac(&[
            b"session",
            issued.as_bytes(),
            nonce.as_bytes(),
            &self.token_digest,
        ])
    }

    /// Whether `value` is a session this process issued for the current token, not expired at
    /// `now`.
    pub(crate) fn session_valid(&self, value: &str, now: Timestamp) -> bool {
        let mut parts = value.split('.');
        let (Some(issued), Some(nonce), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let Ok(issued_s) = issued.parse::<i64>() else {
            return false;
        };
        let age = now.as_second().saturating_sub(issued_s);
        let lifetime = i64::try_from(SESSION_LIFETIME.as_secs()).unwrap_or(i64::MAX);
        // A minute of clock skew either way.
        if !(-60..=lifetime).contains(&age) {
            return false;
        }
        let Some(mac) = unhex(mac) else {
            return false;
        };
        self.session_mac(issued, nonce).verify_slice(&mac).is_ok()
            && !self
                .ended
                .lock()
                .is_ok_and(|ended| ended.contains_key(value))
    }

    /// Ends a session before it expires (logging out): this process refuses it from now on.
    pub(crate) fn end_session(&self, value: &str, now: Timestamp) {
        let Some(issued) = value.split('.').next().and_then(|s| s.parse::<i64>().ok()) else {
            return;
        };
        let lifetime = i64::try_from(SESSION_LIFETIME.as_secs()).unwrap_or(i64::MAX);
        if let Ok(mut ended) = self.ended.lock() {
            // Expired sessions are refused anyway: keep only those that would still pass.
            ended.retain(|_, expires| *expires >= now.as_second());
            ended.insert(value.to_owned(), issued.saturating_add(lifetime));
        }
    }

    /// The CSRF token of a session.
    pub(crate) fn csrf(&self, session: &str) -> String {
        hex(&self
            .mac(&[b"csrf", session.as_bytes()])
            .finalize()
            .into_bytes())
    }

    /// Whether a form may change state: a bearer request always, a session only with its CSRF
    /// token.
    pub(crate) fn csrf_ok(&self, auth: &Auth, given: &str) -> bool {
        match auth {
            Auth::Bearer => true,
            Auth::Session(session) => {
                let expected = self.csrf(session);
                expected.as_bytes().ct_eq(given.as_bytes()).into()
            }
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The bearer token of a request's `Authorization` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The session cookie's value, if the request carries one.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some(value)
        })
}

/// Whether the API is asked (bearer header only) rather than the dashboard.
fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/api" || path == "/metrics"
}

/// The layer in front of every route: lets a request through with what proved it (an [`Auth`]
/// extension), or answers 401.
pub(crate) async fn require(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    if bearer(headers).is_some_and(|t| app.keys.token_matches(t)) {
        request.extensions_mut().insert(Auth::Bearer);
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    if is_api(&path) {
        return unauthorized_json();
    }
    if let Some(session) = session_cookie(headers)
        && app.keys.session_valid(session, Timestamp::now())
    {
        let session = session.to_owned();
        request.extensions_mut().insert(Auth::Session(session));
        return next.run(request).await;
    }
    if request.method() == Method::POST && path == "/login" {
        // The login form carries the token: its handler checks it (and answers 401 without).
        return next.run(request).await;
    }
    // After logging in, back to the page asked for (a form's target is no page to return to).
    let next = if request.method() == Method::GET {
        request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned()
    } else {
        "/".to_owned()
    };
    crate::dashboard::login_page(&app, None, &next)
}

/// 401 for the API.
fn unauthorized_json() -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(ErrorBody {
            error: "a bearer token is required (Authorization: Bearer TOKEN)",
        }),
    )
        .into_response();
    challenge(&mut response);
    response
}

/// Adds `WWW-Authenticate: Bearer` to a 401.
pub(crate) fn challenge(response: &mut Response) {
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"picket\""),
    );
}

/// Whether the cookie should be `Secure`: as configured, else when the request came over TLS
/// (directly, or as a proxy in front says with `X-Forwarded-Proto: https`).
pub(crate) fn secure(app: &App, headers: &HeaderMap, scheme_https: bool) -> bool {
    app.options.secure_cookies.unwrap_or_else(|| {
        scheme_https
            || headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https"))
    })
}

/// The `Set-Cookie` value that starts a session (`Some`) or ends it (`None`).
pub(crate) fn set_cookie(value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(v) => format!(
            "{SESSION_COOKIE}={v}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            SESSION_LIFETIME.as_secs()
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn tokens_match_only_exactly() {
        let keys = Keys::new("s3cret-token").unwrap();
        assert!(keys.token_matches("s3cret-token"));
        assert!(!keys.token_matches("s3cret-toke"));
        assert!(!keys.token_matches("s3cret-token "));
        assert!(!keys.token_matches(""));
    }

    #[test]
    fn sessions_expire_and_die_with_the_key_or_token() {
        let keys = Keys::new("t").unwrap();
        let now = at(1_800_000_000);
        let session = keys.new_session(now).unwrap();
        assert!(keys.session_valid(&session, now));
        assert!(keys.session_valid(&session, at(1_800_000_000 + 12 * 3600)));
        assert!(!keys.session_valid(&session, at(1_800_000_000 + 12 * 3600 + 1)));
        // Logged out: refused from then on, other sessions not.
        let other = keys.new_session(now).unwrap();
        keys.end_session(&session, now);
        assert!(!keys.session_valid(&session, now));
        assert!(keys.session_valid(&other, now));
        let session = other;
        // Another process (key), or the same key with another token.
        assert!(!Keys::new("t").unwrap().session_valid(&session, now));
        // Tampered: a later issue time with the old MAC.
        let forged = session.replacen("1800000000", "1800000100", 1);
        assert!(!keys.session_valid(&forged, now));
        for junk in ["", "a.b", "1.2.3.4", "x.y.zz", "1800000000.00.zz"] {
            assert!(!keys.session_valid(junk, now), "{junk}");
        }
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let keys = Keys::new("t").unwrap();
        let now = at(1_800_000_000);
        let (a, b) = (
            keys.new_session(now).unwrap(),
            keys.new_session(now).unwrap(),
        );
        assert_ne!(a, b);
        let token = keys.csrf(&a);
        assert!(keys.csrf_ok(&Auth::Session(a.clone()), &token));
        assert!(!keys.csrf_ok(&Auth::Session(b), &token));
        assert!(!keys.csrf_ok(&Auth::Session(a), ""));
        assert!(keys.csrf_ok(&Auth::Bearer, ""));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_on_tls() {
        let c = set_cookie(Some("v"), true);
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Secure",
            "Max-Age=43200",
        ] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!set_cookie(Some("v"), false).contains("Secure"));
        assert!(set_cookie(None, false).contains("Max-Age=0"));
    }

    #[test]
    fn cookie_header_is_parsed() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; picket_session=x.y.z; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("x.y.z"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("bearer  tok "));
        assert_eq!(bearer(&h), Some("tok"));
    }
}
