//! The HTTP error type: every REST failure becomes `{"error":{"code","message"}}` with the
//! status its code stands for ([`ErrorCode::http_status`]). Core errors arrive through the
//! [`Fault`] trait, so this type keeps no table of them; internal failures are logged here,
//! once, and reach the client only as a generic message.

use crate::fault::{public_message_logged, Fault};
use app::protocol::{ApiErrorResponse, ErrorBody, ErrorCode};
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use std::fmt::Display;

/// A failed HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The protocol code (and so the status).
    pub code: ErrorCode,
    /// What the client may read.
    pub message: String,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Any core error, in HTTP terms.
    pub fn from_fault(fault: &dyn Fault) -> Self {
        Self {
            code: fault.code(),
            message: public_message_logged(fault, "request failed"),
            retry_after: fault.retry_after(),
        }
    }

    /// Logs an internal failure and returns the opaque error the client sees.
    pub fn internal(error: impl Display) -> Self {
        tracing::error!(%error, "request failed");
        Self::new(ErrorCode::Internal, "Something went wrong on the server.")
    }

    /// The request needs an identity.
    pub fn login_required() -> Self {
        Self::new(ErrorCode::LoginRequired, "Log in first.")
    }

    /// The request's Origin is not allowed.
    pub fn bad_origin() -> Self {
        Self::new(
            ErrorCode::BadOrigin,
            "This origin may not make this request.",
        )
    }

    /// The body or query is not what the endpoint takes.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadFrame, message)
    }

    /// The request body is over `limit` bytes.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::TooLarge,
            format!("The request body is larger than {limit} bytes."),
        )
    }

    /// Nothing here.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// A credential (the admin token) is missing or wrong.
    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "Missing or wrong credentials.")
    }

    /// The server is at its connection limit.
    pub fn overloaded() -> Self {
        Self::new(
            ErrorCode::Overloaded,
            "The server is at capacity; retry shortly.",
        )
    }
}

impl<E: Fault> From<E> for ApiError {
    fn from(fault: E) -> Self {
        Self::from_fault(&fault)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ApiErrorResponse {
            error: ErrorBody::new(self.code, self.message),
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if self.code == ErrorCode::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
