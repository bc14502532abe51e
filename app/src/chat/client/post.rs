//! Sending without a WebSocket: `POST /api/rooms/{slug}/messages` with the same body and
//! `client_id` as the `send` frame, so a retry is stored once.

use super::{apply_error, deliver, room_api, schedule_resend, Command};
use crate::{
    chat::RoomState,
    protocol::{ApiErrorResponse, ChatMessage, ClientFrame, SendRequest},
};
use futures::channel::mpsc;

/// Posts one frame: a send from the outbox (the answer, the stored message or a refusal,
/// updates the page), a typing or read signal, or an edit or deletion (their REST forms).
pub(super) fn send(state: RoomState, frame: String, resend: mpsc::UnboundedSender<Command>) {
    let (text, client_id, reply_to) = match serde_json::from_str::<ClientFrame>(&frame) {
        Ok(ClientFrame::Send {
            text,
            client_id,
            reply_to,
        }) => (text, client_id, reply_to),
        Ok(ClientFrame::Typing) => return signal(&state, "typing", None),
        Ok(ClientFrame::Read { up_to }) => {
            return signal(&state, "read", Some(crate::protocol::ReadRequest { up_to }))
        }
        Ok(ClientFrame::Edit { id, text }) => return super::edit_message(state, id, text),
        Ok(ClientFrame::Delete { id }) => return super::delete_message(state, id),
        Ok(ClientFrame::React { id, emoji }) => return super::react_to_message(state, id, emoji),
        Err(_) => return,
    };
    leptos::task::spawn_local(async move {
        let body = SendRequest {
            text,
            client_id: client_id.clone(),
            reply_to,
        };
        let Ok(request) =
            gloo_net::http::Request::post(&format!("{}/messages", room_api(&state))).json(&body)
        else {
            return;
        };
        match request.send().await {
            Ok(response) if response.ok() => {
                if let Ok(message) = response.json::<ChatMessage>().await {
                    deliver(&state, message);
                }
            }
            Ok(response) => match response.json::<ApiErrorResponse>().await {
                Ok(mut refusal) => {
                    refusal.error.client_id = client_id;
                    apply_error(&state, refusal.error, &resend);
                }
                Err(_) => retry(&state, client_id, resend),
            },
            // The network failed: the outbox keeps it; try again shortly.
            Err(_) => retry(&state, client_id, resend),
        }
    });
}

fn retry(state: &RoomState, client_id: Option<String>, resend: mpsc::UnboundedSender<Command>) {
    if let Some(client_id) = client_id {
        schedule_resend(state, client_id, resend);
    }
}

/// `POST /api/rooms/{slug}/{action}` for a signal; failures are dropped (the next signal
/// says the same, newer).
fn signal(state: &RoomState, action: &'static str, body: Option<crate::protocol::ReadRequest>) {
    let url = format!("{}/{action}", room_api(state));
    leptos::task::spawn_local(async move {
        let request = gloo_net::http::Request::post(&url);
        let sent = match body {
            Some(body) => match request.json(&body) {
                Ok(request) => request.send().await,
                Err(_) => return,
            },
            None => request.send().await,
        };
        drop(sent);
    });
}
