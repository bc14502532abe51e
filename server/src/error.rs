//! The HTTP error type: every REST failure becomes `{"error":{"code","message"}}` with a
//! fitting status. Internal failures are logged here and reach the client only as a generic
//! message.

use crate::chat::ChatError;
use app::protocol::{codes, ApiErrorResponse, ErrorBody};
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use std::fmt::Display;

/// A failed HTTP request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A chat-service refusal or failure.
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// The request needs an identity.
    #[error("Log in first.")]
    LoginRequired,
    /// Wrong username or password.
    #[error("Wrong username or password.")]
    InvalidCredentials,
    /// Something with that name exists already.
    #[error("{0}")]
    Conflict(String),
    /// The identity may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A credential (the admin token) is missing or wrong.
    #[error("Missing or wrong credentials.")]
    Unauthorized,
    /// The request's Origin is not allowed.
    #[error("This origin may not make this request.")]
    BadOrigin,
    /// The request body is not what the endpoint takes.
    #[error("{0}")]
    BadRequest(String),
    /// The request body is over the limit.
    #[error("The request body is larger than {0} bytes.")]
    TooLarge(usize),
    /// Too many requests.
    #[error("Too many requests; retry in {retry_after} s.")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// Nothing here.
    #[error("{0}")]
    NotFound(String),
    /// The server is at its connection limit.
    #[error("The server is at capacity; retry shortly.")]
    Overloaded,
    /// Something failed on our side; the detail was logged.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// Logs an internal failure and returns the opaque error the client sees.
    pub fn internal(error: impl Display) -> Self {
        tracing::error!(%error, "request failed");
        ApiError::Internal
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Chat(chat) => {
                let status = match chat {
                    ChatError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    ChatError::RoomNotFound(_) => StatusCode::NOT_FOUND,
                    ChatError::RoomExists(_) => StatusCode::CONFLICT,
                    ChatError::LoginRequired => StatusCode::UNAUTHORIZED,
                    ChatError::Forbidden(_) => StatusCode::FORBIDDEN,
                    ChatError::Store(_) | ChatError::Layer(_) => StatusCode::INTERNAL_SERVER_ERROR,
                    ChatError::WriterGone => StatusCode::SERVICE_UNAVAILABLE,
                };
                (status, chat.code())
            }
            ApiError::LoginRequired => (StatusCode::UNAUTHORIZED, codes::LOGIN_REQUIRED),
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, codes::INVALID_CREDENTIALS),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, codes::CONFLICT),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, codes::FORBIDDEN),
            ApiError::BadOrigin => (StatusCode::FORBIDDEN, codes::BAD_ORIGIN),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, codes::BAD_FRAME),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, codes::TOO_LARGE),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, codes::RATE_LIMITED),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, codes::NOT_FOUND),
            ApiError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, codes::OVERLOADED),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL),
        }
    }

    /// The message the client may see.
    fn public_message(&self) -> String {
        match self {
            ApiError::Chat(chat) => {
                if chat.is_internal() {
                    tracing::error!(error = %chat, "request failed");
                }
                chat.public_message()
            }
            ApiError::Internal => "Something went wrong on the server.".to_owned(),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = ApiErrorResponse {
            error: ErrorBody::new(code, self.public_message()),
        };
        let unauthorized = matches!(self, ApiError::Unauthorized);
        let mut response = (status, Json(body)).into_response();
        if unauthorized {
            response.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        if let ApiError::RateLimited { retry_after } = self {
            if let Ok(value) = retry_after.to_string().parse() {
                response.headers_mut().insert("retry-after", value);
            }
        }
        response
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(error: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError;
        match error {
            AuthError::UsernameTaken(_) => ApiError::Conflict(error.to_string()),
            AuthError::InvalidCredentials => ApiError::InvalidCredentials,
            other => ApiError::internal(other),
        }
    }
}
