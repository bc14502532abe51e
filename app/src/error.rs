//! The error type of every server function: serialisable, so it reaches the browser (or, with
//! JavaScript off, the re-rendered page through the redirect URL) with its field intact.

use crate::domain::Invalid;
use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// What a server function can fail with, in words a user can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// An input was refused; `field` says which, so the form can show it beside that field.
    #[error("{message}")]
    Invalid {
        /// The form field's name.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Something with that name exists already.
    #[error("{message}")]
    Conflict {
        /// The form field's name.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No such thing (room, …).
    #[error("{0}")]
    NotFound(String),
    /// The action needs an identity first.
    #[error("Log in first.")]
    LoginRequired,
    /// Wrong username or password.
    #[error("Wrong username or password.")]
    InvalidCredentials,
    /// Too many attempts.
    #[error("Too many attempts; try again in {retry_after} s.")]
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The identity may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The server failed; details are in its log, not here.
    #[error("Something went wrong on the server. Please try again.")]
    Internal,
    /// The server function machinery failed (network, decoding, …).
    #[error("{0}")]
    Transport(String),
}

impl AppError {
    /// The form field this error belongs to, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Invalid { field, .. } | AppError::Conflict { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl From<Invalid> for AppError {
    fn from(value: Invalid) -> Self {
        AppError::Invalid {
            field: value.field.to_owned(),
            message: value.message,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}
