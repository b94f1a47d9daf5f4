//! Picket's HTTP face: the JSON API under `/api/v1`, the dashboard at `/`, and `/metrics`, every
//! route behind the bearer token.
//!
//! The web layer reads the store itself and asks the running service, through [`Control`], for
//! what only the service knows (starting a scan now, its scheduled jobs, its metrics). It must
//! never run a workflow of its own, call the store on an async thread (go through
//! `Store::blocking`), or answer any route without the token.
//!
//! Every route is added through one table ([`routes`]), which also makes the OpenAPI document
//! (`/api/v1/openapi.json`); `auth.rs` stands in front of all of them (and of the fallback).

mod api;
mod auth;
mod control;
mod dashboard;
mod error;
mod headers;
mod openapi;
mod routes;

pub use auth::{SESSION_COOKIE, SESSION_LIFETIME};
pub use control::{Control, ControlError, JobStatus, ScanRequest};
pub use error::WebError;
pub use routes::{Answer, In, Method, Param, RouteInfo};

use std::sync::Arc;

use axum::Router;
use picket_store::Store;

/// What every handler shares.
#[derive(Clone)]
pub struct WebState {
    pub store: Store,
    pub token: Arc<str>,
    pub control: Arc<dyn Control>,
}

/// How the web layer is set up beyond [`WebState`]; [`router`] takes the defaults.
#[derive(Debug, Clone, Default)]
pub struct WebOptions {
    /// Whether the session cookie is `Secure`: `None` decides per request (TLS, or a proxy's
    /// `X-Forwarded-Proto: https`).
    pub secure_cookies: Option<bool>,
    /// Home networks (`--home-net` syntax) that no block may touch, besides the default private
    /// ranges and loopback, which are always protected.
    pub home_net: Vec<String>,
    /// More networks no block may touch (`--allow`).
    pub allow: Vec<String>,
}

/// The state behind the routes: the caller's, the keys of sessions and CSRF tokens, options.
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) web: WebState,
    pub(crate) keys: Arc<auth::Keys>,
    pub(crate) options: Arc<WebOptions>,
    pub(crate) pages: Arc<dashboard::Pages>,
}

/// Why the web layer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no randomness for the session key: {0}")]
    Random(getrandom::Error),
    #[error("a dashboard template does not compile: {0}")]
    Template(#[from] minijinja::Error),
}

/// The whole HTTP application: API, dashboard and metrics, behind the token, with the default
/// [`WebOptions`]. Panics only if the system has no randomness for the session key (use
/// [`router_with`] to get that as an error).
pub fn router(state: WebState) -> Router {
    match router_with(state, WebOptions::default()) {
        Ok(router) => router,
        Err(e) => panic!("{e}"),
    }
}

/// [`router`] with options.
pub fn router_with(state: WebState, options: WebOptions) -> Result<Router, BuildError> {
    let keys = auth::Keys::new(&state.token).map_err(BuildError::Random)?;
    let app = App {
        web: state,
        keys: Arc::new(keys),
        options: Arc::new(options),
        pages: Arc::new(dashboard::Pages::new()?),
    };
    let (router, _) = table();
    Ok(router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::require,
        ))
        // Outermost: the 401s of the auth layer carry these headers too.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            headers::add,
        ))
        .with_state(app))
}

/// Every route the router serves, as documented (the OpenAPI document lists the same).
pub fn routes() -> Vec<RouteInfo> {
    table().1
}

fn table() -> (Router<App>, Vec<RouteInfo>) {
    let r = routes::Routes::new();
    let r = api::add(r);
    let r = dashboard::add(r);
    r.finish()
}

async fn not_found() -> WebError {
    WebError::NotFound("no such route".into())
}

async fn method_not_allowed() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(error::ErrorBody {
            error: "the route does not take this method (see /api/v1/openapi.json)",
        }),
    )
        .into_response()
}
