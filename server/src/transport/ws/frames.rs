//! The frames and close codes the WebSocket transport answers with.

use crate::{
    chat::encode,
    fault::{public_message_logged, Fault},
    layer::{CloseReason, Frame},
};
use app::protocol::{close_codes, ErrorBody, ErrorCode, ServerFrame};

/// An error frame, echoing the refused send's `client_id`.
pub(super) fn error_frame(code: ErrorCode, message: &str, client_id: Option<String>) -> Frame {
    encode(&ServerFrame::Error(ErrorBody {
        code,
        message: message.to_owned(),
        client_id,
    }))
}

/// A core error as an error frame (internal ones are logged here, once).
pub(super) fn fault_frame(fault: &dyn Fault, client_id: Option<String>) -> Frame {
    let message = public_message_logged(fault, "WebSocket request failed");
    error_frame(fault.code(), &message, client_id)
}

/// The WebSocket close code and reason text for a reason the server ends a connection.
pub(super) fn close_for(reason: CloseReason) -> (u16, &'static str) {
    match reason {
        CloseReason::RoomDeleted => (close_codes::ROOM_DELETED, "room deleted"),
        CloseReason::TooLarge => (close_codes::TOO_LARGE, "message too large"),
        CloseReason::TooFast => (close_codes::POLICY, "too many messages"),
        CloseReason::InvalidText => (close_codes::INVALID_TEXT, "text frames must be UTF-8"),
        CloseReason::ProtocolError => (close_codes::PROTOCOL, "protocol error"),
        CloseReason::SessionEnded => (close_codes::SESSION_ENDED, "logged out"),
    }
}

/// Says precisely what is wrong with a frame that did not decode.
pub(super) fn describe_bad_frame(text: &str, error: &serde_json::Error) -> Frame {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "type")]
        kind: Option<serde_json::Value>,
    }
    let bad = |message: &str| error_frame(ErrorCode::BadFrame, message, None);
    match serde_json::from_str::<Probe>(text) {
        Err(_) if serde_json::from_str::<serde_json::Value>(text).is_err() => {
            error_frame(ErrorCode::BadJson, "The frame is not valid JSON.", None)
        }
        Err(_) => bad("A frame must be a JSON object."),
        Ok(Probe { kind: None }) => bad("The frame has no \"type\" field."),
        Ok(Probe {
            kind: Some(serde_json::Value::String(kind)),
        }) if kind == "send" => bad(&format!("Bad \"send\" frame: {error}.")),
        Ok(Probe { kind: Some(kind) }) => error_frame(
            ErrorCode::UnknownType,
            &format!("Unknown frame type {kind}; the server understands \"send\"."),
            None,
        ),
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every frame a client sends that does not decode gets a worded error frame.
        #[test]
        fn undecodable_frames_are_described(raw in any::<String>()) {
            if let Err(error) = serde_json::from_str::<app::protocol::ClientFrame>(&raw) {
                let frame = describe_bad_frame(&raw, &error);
                let body: serde_json::Value =
                    serde_json::from_str(frame.as_str()).expect("an error frame is JSON");
                prop_assert_eq!(&body["type"], "error");
                prop_assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
            }
        }
    }
}
