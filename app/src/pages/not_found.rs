//! The 404 page, for unknown paths and unknown rooms alike.

use leptos::prelude::*;
use leptos_meta::Title;

/// Says the thing is not here, with a real 404 status when rendered on the server.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found — Parlor"/>
        <section class="not-found">
            <h1>"Not found"</h1>
            <p>"There is no such room or page here. It may have been deleted, or the link is mistyped."</p>
            <p><a href="/">"Back to the rooms"</a></p>
        </section>
    }
}
