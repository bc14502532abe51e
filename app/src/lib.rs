//! Parlor's user interface and wire protocol, compiled twice: into the server (feature `ssr`,
//! which renders pages and runs server functions) and into the browser's WASM (feature
//! `hydrate`, which makes those pages live).
//!
//! A map of the crate:
//! - [`protocol`]: every JSON frame and body on the wire, and the one list of error codes
//!   (`ErrorCode`, with the HTTP status of each). The server, the browser, the tests and the
//!   load generator all use these types.
//! - [`domain`]: validated values (room slug, message text, …) with their rules.
//! - [`error`]: the error type of server functions (a code, a message, a form field).
//! - [`server_fns`]: the pages' calls into the server.
//! - `backend` (server only): the port the `server` crate implements for server functions,
//!   and the status each failure gets; `security` (server only): the pages' CSP.
//! - [`pages`]: one module per route; [`chat`]: the room component and, in WASM, its
//!   connection (WebSocket, SSE or polling); [`identity`]: the viewer and the account
//!   forms.
//!
//! Nothing here may depend on the `server` crate, sqlx, redis or tokio's networking: the
//! WASM build must stay small and the server's internals must stay swappable.

pub mod chat;
pub mod domain;
pub mod error;
pub mod focus;
pub mod identity;
pub mod pages;
pub mod protocol;
// `#[server]` generates an argument struct per function whose fields cannot carry docs; the
// functions themselves are documented.
#[allow(missing_docs)]
pub mod server_fns;
pub mod theme;

#[cfg(feature = "ssr")]
pub mod backend;
#[cfg(feature = "ssr")]
pub mod security;

use identity::{IdentityBar, ViewerContext};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};
use pages::{HomePage, LoginPage, NotFound, RoomPage, SearchPage, SignupPage, TransportsPage};

/// Whether the page has hydrated: false on the server and during hydration, true after.
/// Components that must render identically on both sides (e.g. times in the reader's zone)
/// switch on it.
#[derive(Clone, Copy)]
pub struct Hydrated(pub RwSignal<bool>);

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    security::set_content_security_policy();
    // The remembered theme, so the first paint has the right colours (none: the system's).
    #[cfg(feature = "ssr")]
    let theme = theme::requested().attribute();
    #[cfg(not(feature = "ssr"))]
    let theme: Option<&str> = None;
    view! {
        <!DOCTYPE html>
        <html lang="en" data-theme=theme>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1, interactive-widget=resizes-content"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                // The stylesheet's name carries its content hash when cargo-leptos hashes
                // the site's files (then browsers cache it for a year).
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: header, routes and shared context.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let hydrated = RwSignal::new(false);
    provide_context(Hydrated(hydrated));
    // Effects run only in the browser, after hydration: this marks the page live (tests wait
    // for `data-hydrated` before typing).
    Effect::new(move |_| hydrated.set(true));

    view! {
        <Title text="Parlor"/>
        <Router>
            <Layout hydrated/>
        </Router>
    }
}

/// Header and routes. Inside the router, so the session's actions can pick up an error the
/// server put in the URL after a plain (no-JavaScript) form post.
#[component]
fn Layout(hydrated: RwSignal<bool>) -> impl IntoView {
    // `<Routes>` does this for actions created in pages; the header's actions (log in, log
    // out, guest name) are created before it, so they need it here.
    let query = leptos_router::hooks::use_query_map();
    let failed = query.with_untracked(|q| q.get("__path").zip(q.get("__err")));
    if let Some((path, error)) = failed {
        provide_context(leptos::server::ServerActionError::new(&path, &error));
    }
    ViewerContext::provide();
    let lobby = chat::Lobby::provide();
    let location = leptos_router::hooks::use_location();
    let view_kind = move || {
        if location.pathname.get().starts_with("/rooms/") {
            "room"
        } else {
            "home"
        }
    };
    focus::restart_after_navigation(location.pathname);
    // The tab title carries the unread total: `(3) Parlor`.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let total = lobby.total_unread();
        let _ = location.pathname.get();
        request_animation_frame(move || {
            let document = document();
            let title = document.title();
            let bare = match title.strip_prefix('(').and_then(|t| t.split_once(") ")) {
                Some((count, rest)) if count.chars().all(|c| c.is_ascii_digit()) => rest.to_owned(),
                _ => title,
            };
            let wanted = if total > 0 {
                format!("({total}) {bare}")
            } else {
                bare
            };
            document.set_title(&wanted);
        });
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = lobby;
    view! {
        <div class="app" data-hydrated=move || hydrated.get().then_some("true") data-view=view_kind>
            <span id="page-top" tabindex="-1"></span>
            <header class="site-header">
                <a href="/" class="brand">"Parlor"</a>
                <a href="/transports" class="nav-link">"Transports"</a>
                <theme::ThemeToggle/>
                <IdentityBar/>
            </header>
            <div class="shell">
            <chat::Sidebar/>
            <main>
                // Async SSR: the HTML carries the data (room list, history) so the page is
                // complete without JavaScript.
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=HomePage ssr=SsrMode::Async/>
                    <Route path=path!("/rooms/:slug") view=RoomPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                    <Route path=path!("/signup") view=SignupPage ssr=SsrMode::Async/>
                    <Route path=path!("/transports") view=TransportsPage ssr=SsrMode::Async/>
                    <Route path=path!("/search") view=SearchPage ssr=SsrMode::Async/>
                </Routes>
            </main>
            </div>
        </div>
    }
}

/// A token unique enough for form idempotency keys (not a secret).
pub fn random_token() -> String {
    #[cfg(feature = "hydrate")]
    {
        let random = (js_sys::Math::random() * 2f64.powi(52)) as u64;
        format!("{:x}{random:x}", js_sys::Date::now() as u64)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::time::{SystemTime, UNIX_EPOCH};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("{nanos:x}{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
    }
}
