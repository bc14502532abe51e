//! Why the chat service refused or failed, and what each reason means to a client.

use crate::{fault::Fault, layer::LayerError, limits::Limited, store::StoreError};
use app::{domain::Invalid, protocol::ErrorCode};

/// Why the chat service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Input failed validation.
    #[error("{0}")]
    Invalid(#[from] Invalid),
    /// No room with that slug.
    #[error("There is no room named '{0}'.")]
    RoomNotFound(String),
    /// The slug is taken.
    #[error("A room named '{0}' already exists.")]
    RoomExists(String),
    /// The identity may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The author is sending faster than the message rate.
    #[error("You are sending too fast; retry in {} s.", .0.retry_after)]
    RateLimited(#[from] Limited),
    /// The database failed.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// The channel layer failed.
    #[error("channel layer failed: {0}")]
    Layer(#[from] LayerError),
    /// The writer task is gone (the server is shutting down).
    #[error("The server is shutting down; retry in a moment.")]
    WriterGone,
}

impl Fault for ChatError {
    fn code(&self) -> ErrorCode {
        match self {
            ChatError::Invalid(_) => ErrorCode::Invalid,
            ChatError::RoomNotFound(_) => ErrorCode::NotFound,
            ChatError::RoomExists(_) => ErrorCode::Conflict,
            ChatError::Forbidden(_) => ErrorCode::Forbidden,
            ChatError::RateLimited(_) => ErrorCode::RateLimited,
            ChatError::Store(_) | ChatError::Layer(_) => ErrorCode::Internal,
            ChatError::WriterGone => ErrorCode::Unavailable,
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            ChatError::Invalid(invalid) => Some(invalid.field),
            ChatError::RoomExists(_) => Some("slug"),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ChatError::RateLimited(limited) => Some(limited.retry_after),
            _ => None,
        }
    }
}
