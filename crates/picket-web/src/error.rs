//! The web layer's one error type and how it answers: JSON `{"error": "..."}` with a status code
//! that says whose fault it was. It must never answer a store or workflow failure with a 2xx.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use picket_app::AppError;
use picket_respond::RespondError;
use picket_store::StoreError;
use serde::Serialize;

use crate::ControlError;

/// Why a request failed, by status code.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// 400: the request's parameters or body are not valid; the message names the field.
    #[error("{0}")]
    BadRequest(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 403: the guard refused (a block of an allowed network).
    #[error("{0}")]
    Forbidden(String),
    /// 409: the request conflicts with what runs now.
    #[error("{0}")]
    Conflict(String),
    /// 503: a dependency is missing or the service cannot take it now (nft not installed, the
    /// service shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// 500: the store or a workflow failed.
    #[error("{0}")]
    Internal(String),
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The JSON body of every error.
#[derive(Serialize)]
pub(crate) struct ErrorBody<'a> {
    pub(crate) error: &'a str,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self, "request failed");
        }
        let message = self.to_string();
        (status, Json(ErrorBody { error: &message })).into_response()
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<RespondError> for WebError {
    fn from(e: RespondError) -> Self {
        match e {
            RespondError::Allowed { .. } => WebError::Forbidden(e.to_string()),
            RespondError::TtlOutOfRange { .. } => WebError::BadRequest(e.to_string()),
            RespondError::NotFound { .. } => {
                WebError::Unavailable(format!("nftables is not available on this machine: {e}"))
            }
            RespondError::PartOf { .. } | RespondError::Overlap { .. } => {
                WebError::Conflict(e.to_string())
            }
            _ => WebError::Internal(e.to_string()),
        }
    }
}

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Option(o) => WebError::BadRequest(o.to_string()),
            AppError::Refused(why) => WebError::BadRequest(why),
            AppError::Respond(r) => r.into(),
            AppError::Store(s) => s.into(),
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<ControlError> for WebError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::UnknownJob(_) => WebError::NotFound(e.to_string()),
            ControlError::Invalid(_) => WebError::BadRequest(e.to_string()),
            ControlError::AlreadyRunning { .. } => WebError::Conflict(e.to_string()),
            ControlError::Unavailable(_) => WebError::Unavailable(e.to_string()),
        }
    }
}

impl From<picket_report::ReportError> for WebError {
    fn from(e: picket_report::ReportError) -> Self {
        WebError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_nft_says_so_with_503() {
        let e: WebError = RespondError::NotFound {
            command: "nft -j list table inet picket".into(),
            program: "nft".into(),
        }
        .into();
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.to_string().contains("nftables is not available"), "{e}");
        assert!(e.to_string().contains("install nftables"), "{e}");
        let refused: WebError = RespondError::Allowed {
            net: "10.0.0.0/8".parse().unwrap(),
            allowed_by: "10.0.0.0/8".parse().unwrap(),
        }
        .into();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }
}
