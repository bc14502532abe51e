//! Who is browsing: the session resource every page shares, the header's account corner,
//! and the forms that change who you are (log in, sign up, log out, guest name).

use crate::{
    error::AppError,
    protocol::{SessionInfo, Viewer},
    server_fns::{get_session, LogIn, LogOut, SignUp, StartGuest},
};
use leptos::prelude::*;
use leptos_router::hooks::use_location;

/// The session, loaded once per page and refreshed whenever someone logs in or out.
#[derive(Clone, Copy)]
pub struct ViewerContext {
    /// The session (viewer and what visitors may do).
    pub resource: Resource<Result<SessionInfo, AppError>>,
    /// Picks a guest display name.
    pub pick_name: ServerAction<StartGuest>,
    /// Logs in.
    pub log_in: ServerAction<LogIn>,
    /// Creates an account.
    pub sign_up: ServerAction<SignUp>,
    /// Logs out.
    pub log_out: ServerAction<LogOut>,
}

impl ViewerContext {
    /// Creates the context and provides it to every component below.
    pub fn provide() -> Self {
        let pick_name = ServerAction::<StartGuest>::new();
        let log_in = ServerAction::<LogIn>::new();
        let sign_up = ServerAction::<SignUp>::new();
        let log_out = ServerAction::<LogOut>::new();
        let resource = Resource::new(
            move || {
                (
                    pick_name.version().get(),
                    log_in.version().get(),
                    sign_up.version().get(),
                    log_out.version().get(),
                )
            },
            |_| get_session(),
        );
        let context = Self {
            resource,
            pick_name,
            log_in,
            sign_up,
            log_out,
        };
        provide_context(context);
        context
    }

    /// The viewer (tracked). Read it inside a `<Suspense/>` or `<Transition/>`.
    pub fn viewer(&self) -> Option<Viewer> {
        self.resource
            .get()
            .and_then(Result::ok)
            .and_then(|session| session.viewer)
    }

    /// The viewer's id, if the session has an identity.
    pub fn id(&self) -> Option<i64> {
        self.viewer().map(|viewer| viewer.id)
    }

    /// The viewer's id and name: what a live connection stamps on messages, so a change of
    /// either must reconnect it.
    pub fn key(&self) -> Option<(i64, String)> {
        self.viewer().map(|viewer| (viewer.id, viewer.name))
    }

    /// Whether visitors may chat under a display name.
    pub fn guests_allowed(&self) -> bool {
        self.resource
            .get()
            .and_then(Result::ok)
            .is_some_and(|session| session.guests_allowed)
    }
}

/// The path and query of this page, to come back to after logging in.
pub fn here() -> String {
    let location = use_location();
    let path = location.pathname.get_untracked();
    let search = location.search.get_untracked();
    if search.is_empty() {
        path
    } else {
        format!("{path}?{search}")
    }
}

/// `/login?next=…` for this page.
pub fn login_link() -> String {
    format!("/login?next={}", encode_component(&here()))
}

/// Percent-encodes a query value.
pub fn encode_component(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The account corner of the header.
#[component]
pub fn IdentityBar() -> impl IntoView {
    let context = expect_context::<ViewerContext>();
    view! {
        <div class="identity">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match context.resource.await {
                        Ok(SessionInfo { viewer: Some(viewer), .. }) => view! {
                            <span class="viewer">
                                {if viewer.guest { "Chatting as " } else { "Signed in as " }}
                                <strong class="viewer-name">{viewer.name}</strong>
                            </span>
                            <ActionForm action=context.log_out attr:class="logout-form">
                                <button type="submit" class="link-button">"Log out"</button>
                            </ActionForm>
                        }
                        .into_any(),
                        Ok(SessionInfo { viewer: None, guests_allowed }) => view! {
                            <nav class="account-links">
                                <a href=login_link()>"Log in"</a>
                                " · "
                                <a href="/signup">"Sign up"</a>
                            </nav>
                            <Show when=move || guests_allowed>
                                <NameForm/>
                            </Show>
                        }
                        .into_any(),
                        Err(error) => view! { <span class="error">{error.to_string()}</span> }
                            .into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

/// Picks a guest display name. An `ActionForm`, so it posts and works before the WASM loads.
#[component]
fn NameForm() -> impl IntoView {
    let context = expect_context::<ViewerContext>();
    let error = move || {
        context
            .pick_name
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
    };
    view! {
        <ActionForm action=context.pick_name attr:class="name-form" attr:novalidate=true>
            <label for="display-name">"Display name"</label>
            <input id="display-name" name="name" autocomplete="nickname" placeholder="Your name"/>
            <button type="submit">"Join"</button>
            <span class="field-error" role="alert">{error}</span>
        </ActionForm>
    }
}
