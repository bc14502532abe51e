//! Editing, deleting and reacting to a stored message: `PATCH` / `DELETE
//! /api/rooms/{slug}/messages/{id}` and `POST …/{id}/reactions` on every transport (a REST answer says clearly what was refused). The answer is the room
//! event everyone gets, applied here at once; the room's own copy, arriving in order, moves
//! the resume cursor.

use super::{apply_change, room_api};
use crate::{
    chat::RoomState,
    protocol::{ApiErrorResponse, EditRequest, ReactRequest, ServerFrame},
};
use gloo_net::http::{Request, RequestBuilder};
use leptos::prelude::*;

/// Replaces the text of one's own message `id`.
pub fn edit_message(state: RoomState, id: i64, text: String) {
    let url = format!("{}/messages/{id}", room_api(&state));
    leptos::task::spawn_local(async move {
        match Request::patch(&url).json(&EditRequest { text }) {
            Ok(request) => answer(state, request.send().await).await,
            Err(_) => state
                .notice
                .set(Some("This edit could not be sent.".to_owned())),
        }
    });
}

/// Deletes message `id` (one's own, or any as the room's owner).
pub fn delete_message(state: RoomState, id: i64) {
    let url = format!("{}/messages/{id}", room_api(&state));
    leptos::task::spawn_local(async move {
        let request: RequestBuilder = Request::delete(&url);
        answer(state, request.send().await).await;
    });
}

/// Puts `emoji` on message `id`, or takes the viewer's off.
pub fn react_to_message(state: RoomState, id: i64, emoji: String) {
    let url = format!("{}/messages/{id}/reactions", room_api(&state));
    leptos::task::spawn_local(async move {
        match Request::post(&url).json(&ReactRequest { emoji }) {
            Ok(request) => answer(state, request.send().await).await,
            Err(_) => state
                .notice
                .set(Some("This reaction could not be sent.".to_owned())),
        }
    });
}

/// Applies the event the server answered with, or says why it refused.
async fn answer(state: RoomState, sent: Result<gloo_net::http::Response, gloo_net::Error>) {
    let response = match sent {
        Ok(response) => response,
        Err(_) => {
            state.notice.set(Some(
                "The server could not be reached; try again when you are back online.".to_owned(),
            ));
            return;
        }
    };
    if response.ok() {
        if let Ok(frame) = response.json::<ServerFrame>().await {
            apply_change(&state, frame);
            state.notice.set(None);
        }
        return;
    }
    let reason = match response.json::<ApiErrorResponse>().await {
        Ok(refusal) => refusal.error.message,
        Err(_) => format!("The server refused the change ({}).", response.status()),
    };
    state.notice.set(Some(reason));
}
