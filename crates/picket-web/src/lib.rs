//! Picket's HTTP face: the JSON API under `/api/v1`, the dashboard at `/`, and `/metrics`, every
//! route behind the bearer token.
//!
//! The web layer reads the store itself and asks the running service, through [`Control`], for
//! what only the service knows (starting a scan now, its scheduled jobs, its metrics). It must
//! never run a workflow of its own, call the store on an async thread (go through
//! `Store::blocking`), or answer any route without the token.

mod control;

pub use control::{Control, ControlError, JobStatus, ScanRequest};

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

/// The whole HTTP application: API, dashboard and metrics, behind the token.
pub fn router(state: WebState) -> Router {
    Router::new().with_state(state)
}
