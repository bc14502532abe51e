//! `/transports`: the four ways a server can push a message to a browser, explained, and —
//! for a room picked with `?room=` — measured live: this page follows the room over all four
//! at once and counts requests, bytes per delivered message and delivery latency.

use crate::{
    chat::{ConnState, ConnectionBadge, RoomState, Transport, TransportStats},
    protocol::ErrorCode,
    server_fns::{list_rooms, room_page, PostMessage},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The page.
#[component]
pub fn TransportsPage() -> impl IntoView {
    let query = use_query_map();
    let slug = move || query.read().get("room");
    view! {
        <Title text="Transports — Parlor"/>
        <section class="transports">
            <h1>"Four ways to push a message"</h1>
            <p>
                "HTTP was made for the browser to ask and the server to answer. A chat needs the "
                "opposite: the server must tell the browser when someone else speaks. There are "
                "four ways to do it, and Parlor serves all four on the same rooms, so a person "
                "behind a proxy that breaks one can still talk with everyone else."
            </p>
            <dl class="transport-list">
                <dt>"Short polling"</dt>
                <dd>
                    "The browser asks every few seconds: anything new? Most answers are empty, "
                    "each costs a full request with its headers, and a message waits on average "
                    "half the interval before anyone sees it."
                </dd>
                <dt>"Long polling"</dt>
                <dd>
                    "The browser asks, and the server holds the question until there is an "
                    "answer (or a timeout), then the browser asks again at once. Messages arrive "
                    "almost immediately, but every delivery still costs a request and headers."
                </dd>
                <dt>"HTTP streaming (Server-Sent Events)"</dt>
                <dd>
                    "One response that never ends: the server writes each message as an event. "
                    "The browser reconnects by itself and says where it stopped "
                    "(Last-Event-ID). It only flows one way; sending is a separate POST."
                </dd>
                <dt>"WebSocket"</dt>
                <dd>
                    "One connection, upgraded from HTTP, carrying small frames both ways: a few "
                    "bytes of framing per message and no request per message. Parlor prefers it "
                    "and falls back to streaming, then long polling, when it does not get through."
                </dd>
            </dl>
            <h2>"Measured, live"</h2>
            {move || match slug() {
                Some(slug) => view! { <Comparison slug/> }.into_any(),
                None => view! { <RoomPicker/> }.into_any(),
            }}
        </section>
    }
}

/// Links to measure each room.
#[component]
fn RoomPicker() -> impl IntoView {
    let rooms = Resource::new(|| (), |_| list_rooms(None));
    view! {
        <p>"Pick a room to follow it over all four transports at once:"</p>
        <Suspense fallback=|| view! { <p class="loading">"Loading rooms…"</p> }>
            {move || Suspend::new(async move {
                match rooms.await.map(|list| list.rooms) {
                    Ok(rooms) if rooms.is_empty() => view! {
                        <p class="empty">"No rooms yet."</p>
                    }
                    .into_any(),
                    Ok(rooms) => view! {
                        <ul class="rooms">
                            {rooms
                                .into_iter()
                                .map(|room| view! {
                                    <li class="room-item">
                                        <a href=format!("/transports?room={}", room.slug)>
                                            {room.title}
                                        </a>
                                    </li>
                                })
                                .collect_view()}
                        </ul>
                    }
                    .into_any(),
                    Err(error) => view! { <p class="error">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

/// Follows one room over the four transports and tabulates what each costs.
#[component]
fn Comparison(slug: String) -> impl IntoView {
    let data = Resource::new(move || slug.clone(), room_page);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the room…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <Probes data/> }.into_any(),
                    Err(error) if error.code == ErrorCode::NotFound => view! {
                        <p class="error">"No such room." " " <a href="/transports">"Pick another"</a></p>
                    }
                    .into_any(),
                    Err(error) => view! { <p class="error">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

#[component]
fn Probes(data: crate::pages::RoomPageData) -> impl IntoView {
    // Each probe starts from the newest message, so only live deliveries are measured.
    let newest: Vec<_> = data.messages.last().cloned().into_iter().collect();
    let probes: Vec<(Transport, RoomState)> = Transport::ALL
        .into_iter()
        .map(|transport| {
            let state = RoomState::new(
                data.room.slug.clone(),
                data.room.title.clone(),
                newest.clone(),
            )
            .force(Some(transport));
            (transport, state)
        })
        .collect();

    #[cfg(feature = "hydrate")]
    {
        let started = probes.clone();
        Effect::new(move |_| {
            let connections: Vec<_> = started
                .iter()
                .map(|(_, state)| crate::chat::client::Connection::start(*state))
                .collect();
            let connections = StoredValue::new(connections);
            on_cleanup(move || connections.with_value(|c| c.iter().for_each(|c| c.stop())));
        });
    }

    let post = ServerAction::<PostMessage>::new();
    let slug = data.room.slug.clone();
    view! {
        <p>
            "Following " <a href=format!("/rooms/{slug}")>{data.room.title.clone()}</a>
            " over all four transports. Send a message (here or in the room) and watch."
        </p>
        <ActionForm action=post attr:class="composer probe-composer">
            <input type="hidden" name="room" value=slug.clone()/>
            <label for="probe-text">"Test message"</label>
            <input id="probe-text" name="text" autocomplete="off" placeholder="Hello, four ways"/>
            <button type="submit">"Send"</button>
            <span class="field-error" role="alert">
                {move || post.value().get().and_then(Result::err).map(|e| e.to_string())}
            </span>
        </ActionForm>
        <table class="transport-table">
            <thead>
                <tr>
                    <th>"Transport"</th>
                    <th>"State"</th>
                    <th>"Requests"</th>
                    <th>"Delivered"</th>
                    <th>"Bytes received"</th>
                    <th>"Bytes per message"</th>
                    <th>"Latency, mean / max"</th>
                </tr>
            </thead>
            <tbody>
                {probes
                    .into_iter()
                    .map(|(transport, state)| view! { <ProbeRow transport state/> })
                    .collect_view()}
            </tbody>
        </table>
        <p class="note">
            "Bytes count what the browser received: frames for the WebSocket, events for the "
            "stream, bodies and response headers for each poll. Latency is the arrival time "
            "minus the time the server stored the message."
        </p>
    }
    .into_any()
}

#[component]
fn ProbeRow(transport: Transport, state: RoomState) -> impl IntoView {
    let stats = state.stats;
    let cell = move |f: fn(&TransportStats) -> String| move || stats.with(f);
    view! {
        <tr data-transport=transport.token()>
            <th scope="row">{transport.label()}</th>
            <td>
                {move || match state.status.get() {
                    ConnState::Static => "waiting for the page to load".to_owned(),
                    _ => String::new(),
                }}
                <ConnectionBadge status=state.status transport=state.transport/>
            </td>
            <td class="requests">{cell(|s| s.requests.to_string())}</td>
            <td class="deliveries">{cell(|s| s.deliveries.to_string())}</td>
            <td class="bytes">{cell(|s| s.bytes.to_string())}</td>
            <td class="bytes-per-message">
                {cell(|s| s.bytes_per_delivery().map_or("–".to_owned(), |b| format!("{b:.0}")))}
            </td>
            <td class="latency">
                {cell(|s| match s.mean_latency_ms() {
                    Some(mean) => format!("{mean:.0} ms / {:.0} ms", s.latency_max_ms),
                    None => "–".to_owned(),
                })}
            </td>
        </tr>
    }
    .into_any()
}
