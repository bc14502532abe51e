//! The error type of every server function: serialisable, so it reaches the browser (or, with
//! JavaScript off, the re-rendered page through the redirect URL) with its code and field
//! intact. It carries the same [`ErrorCode`] as the REST API and the WebSocket, so the HTTP
//! status comes from one table ([`ErrorCode::http_status`]).

use crate::{domain::Invalid, protocol::ErrorCode};
use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// What a server function can fail with, in words a user can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    /// The machine-readable code (pages branch on it, e.g. `NotFound` renders the 404 page).
    pub code: ErrorCode,
    /// What went wrong, safe to show.
    pub message: String,
    /// The form field the error is about, so the form can show it beside that field.
    #[serde(default)]
    pub field: Option<String>,
    /// Seconds to wait before retrying (rate limits).
    #[serde(default)]
    pub retry_after: Option<u64>,
}

impl AppError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// The same error, about one form field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The form field this error belongs to, if any.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The opaque failure the user sees when the server broke (details stay in its log).
    pub fn internal() -> Self {
        Self::new(
            ErrorCode::Internal,
            "Something went wrong on the server. Please try again.",
        )
    }
}

impl From<Invalid> for AppError {
    fn from(value: Invalid) -> Self {
        AppError::new(ErrorCode::Invalid, value.message).with_field(value.field)
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    /// The call itself failed (arguments that do not decode, the network): a bad request.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::new(ErrorCode::BadFrame, value.to_string())
    }
}
