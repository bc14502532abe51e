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
    /// No such message in this room, or it was deleted.
    #[error("There is no message {0} in this room (or it was deleted).")]
    MessageNotFound(i64),
    /// The slug is taken.
    #[error("A room named '{0}' already exists.")]
    RoomExists(String),
    /// The identity may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// A message carries as many emoji as it may (in all, or from this user).
    #[error("{0}")]
    TooManyReactions(&'static str),
    /// The user has created as many rooms as the quota allows (per hour or in all).
    #[error("{message}")]
    Quota {
        /// What the quota is.
        message: String,
        /// Seconds until the hourly quota allows another (`None`: the total is reached).
        retry_after: Option<u64>,
    },
    /// A room-list cursor that this server did not hand out.
    #[error("That cursor is not one of ours; start from the first page.")]
    BadCursor,
    /// The author is sending faster than the message rate.
    #[error("You are sending too fast; retry in {} s.", .0.retry_after)]
    RateLimited(#[from] Limited),
    /// The database failed.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// The channel layer failed.
    #[error("channel layer failed: {0}")]
    Layer(#[from] LayerError),
    /// The operating system gave no random bytes (for a private room's slug).
    #[error("The server could not draw a random name; try again.")]
    NoRandomness,
    /// The writer task is gone (the server is shutting down).
    #[error("The server is shutting down; retry in a moment.")]
    WriterGone,
}

impl Fault for ChatError {
    fn code(&self) -> ErrorCode {
        match self {
            ChatError::Invalid(_) => ErrorCode::Invalid,
            ChatError::RoomNotFound(_) | ChatError::MessageNotFound(_) => ErrorCode::NotFound,
            ChatError::RoomExists(_) => ErrorCode::Conflict,
            ChatError::Forbidden(_) => ErrorCode::Forbidden,
            ChatError::RateLimited(_) => ErrorCode::RateLimited,
            ChatError::Quota { .. } | ChatError::TooManyReactions(_) => ErrorCode::QuotaExceeded,
            ChatError::BadCursor => ErrorCode::Invalid,
            ChatError::Store(_) | ChatError::Layer(_) | ChatError::NoRandomness => {
                ErrorCode::Internal
            }
            ChatError::WriterGone => ErrorCode::Unavailable,
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            ChatError::Invalid(invalid) => Some(invalid.field),
            ChatError::RoomExists(_) => Some("slug"),
            ChatError::BadCursor => Some("cursor"),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ChatError::RateLimited(limited) => Some(limited.retry_after),
            ChatError::Quota { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
