//! `/search?q=`: the newest messages with every word of the query, in the rooms the viewer
//! may read, each linking to the message in its room (`/rooms/{slug}?at={id}`). Rendered on
//! the server, so it works before (and without) the WASM.

use crate::{protocol::ChatMessage, server_fns::search_messages};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The search page.
#[component]
pub fn SearchPage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let results = Resource::new(q, |q| async move {
        if q.trim().is_empty() {
            Ok(Vec::new())
        } else {
            search_messages(q).await
        }
    });
    view! {
        <Title text="Search — Parlor"/>
        <section class="search-page">
            <h1>"Search"</h1>
            <SearchBox value=q()/>
            <Suspense fallback=|| view! { <p class="loading">"Searching…"</p> }>
                {move || Suspend::new(async move {
                    let asked = !q().trim().is_empty();
                    match results.await {
                        Ok(found) if found.is_empty() && asked => {
                            view! { <p class="empty">"Nothing found."</p> }.into_any()
                        }
                        Ok(found) => view! { <Results found/> }.into_any(),
                        Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The search field: a plain GET form, so it works on every page and without WASM.
#[component]
pub fn SearchBox(#[prop(optional)] value: String) -> impl IntoView {
    view! {
        <form class="search-box" action="/search" method="get" role="search">
            <label class="visually-hidden" for="search-q">"Search messages"</label>
            <input id="search-q" type="search" name="q" value=value maxlength="200"
                placeholder="Search messages" autocomplete="off"/>
            <button type="submit">"Search"</button>
        </form>
    }
}

/// The matches, newest first.
#[component]
fn Results(found: Vec<ChatMessage>) -> impl IntoView {
    let items = found
        .into_iter()
        .map(|message| {
            let href = format!("/rooms/{}?at={}", message.room, message.id);
            view! {
                <li class="search-result" data-id=message.id>
                    <a href=href>
                        <span class="result-room">"#" {message.room.clone()}</span>
                        <span class="result-author">{message.author.clone()}</span>
                        <time datetime=message.sent_at.clone()>{message.sent_at.get(0..16).unwrap_or_default().replace('T', " ")}</time>
                        <span class="result-text">{message.text.clone()}</span>
                    </a>
                </li>
            }
        })
        .collect_view();
    view! { <ol class="search-results">{items}</ol> }.into_any()
}
