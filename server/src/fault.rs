//! What every refusal or failure of the core says about itself: its protocol
//! [`ErrorCode`], the text a client may see, and (for forms and rate limits) a field and a
//! retry delay. The edges turn any [`Fault`] into their answer — a REST error body, a
//! server function's `AppError`, a WebSocket error frame — in one generic way each, so no
//! edge keeps its own table of core errors; the HTTP status follows from the code
//! ([`ErrorCode::http_status`]).

use app::protocol::ErrorCode;

/// A core error as clients see it.
pub trait Fault: std::fmt::Display {
    /// The stable code.
    fn code(&self) -> ErrorCode;

    /// The input the refusal is about (`slug`, `username`, …), for forms.
    fn field(&self) -> Option<&'static str> {
        None
    }

    /// Seconds after which the same request may succeed (rate limits).
    fn retry_after(&self) -> Option<u64> {
        None
    }

    /// Whether this is the server's fault: logged with its detail, shown as a generic text.
    fn is_internal(&self) -> bool {
        matches!(self.code(), ErrorCode::Internal | ErrorCode::Unknown)
    }

    /// What the client may read: the error's own words, or a generic text for internal
    /// failures (whose detail stays in the log).
    fn public_message(&self) -> String {
        if self.is_internal() {
            "The server could not complete this; please retry.".to_owned()
        } else {
            self.to_string()
        }
    }
}

/// Logs an internal failure once, where it is turned into an answer, and returns the text the
/// client may see.
pub fn public_message_logged(fault: &dyn Fault, context: &'static str) -> String {
    if fault.is_internal() {
        tracing::error!(error = %fault, "{context}");
    }
    fault.public_message()
}
