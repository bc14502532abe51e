//! Sending without a WebSocket: `POST /api/rooms/{slug}/messages` with the same body and
//! `client_id` as the `send` frame, so a retry is stored once.

use super::{apply_error, deliver, room_api, schedule_resend, Command};
use crate::{
    chat::RoomState,
    protocol::{ApiErrorResponse, ChatMessage, ClientFrame, SendRequest},
};
use futures::channel::mpsc;

/// Posts one outbox frame; the answer (the stored message, or a refusal) updates the page.
pub(super) fn send(state: RoomState, frame: String, resend: mpsc::UnboundedSender<Command>) {
    let Ok(ClientFrame::Send { text, client_id }) = serde_json::from_str::<ClientFrame>(&frame)
    else {
        return;
    };
    leptos::task::spawn_local(async move {
        let body = SendRequest {
            text,
            client_id: client_id.clone(),
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
