//! Who is browsing: the viewer resource every page shares, and the header's name picker.

use crate::{
    error::AppError,
    protocol::Viewer,
    server_fns::{get_viewer, StartGuest},
};
use leptos::prelude::*;

/// The session's identity, loaded once per page and refreshed whenever a name is picked.
#[derive(Clone, Copy)]
pub struct ViewerContext {
    /// The current viewer (`None` = anonymous).
    pub resource: Resource<Result<Option<Viewer>, AppError>>,
    /// Picks a display name; bumping its version refetches `resource`.
    pub pick_name: ServerAction<StartGuest>,
}

impl ViewerContext {
    /// Creates the context and provides it to every component below.
    pub fn provide() -> Self {
        let pick_name = ServerAction::<StartGuest>::new();
        let resource = Resource::new(move || pick_name.version().get(), |_| get_viewer());
        let context = Self {
            resource,
            pick_name,
        };
        provide_context(context);
        context
    }

    /// The viewer's id, if the session has an identity (tracked: re-runs when it changes).
    /// Read it inside a `<Suspense/>` or `<Transition/>`.
    pub fn id(&self) -> Option<i64> {
        self.key().map(|(id, _)| id)
    }

    /// The viewer's id and name: what a live connection stamps on messages, so a change of
    /// either must reconnect it.
    pub fn key(&self) -> Option<(i64, String)> {
        self.resource
            .get()
            .and_then(Result::ok)
            .flatten()
            .map(|viewer| (viewer.id, viewer.name))
    }
}

/// The identity corner of the header: the viewer's name, or a form to pick one.
#[component]
pub fn IdentityBar() -> impl IntoView {
    let context = expect_context::<ViewerContext>();
    view! {
        <div class="identity">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match context.resource.await {
                        Ok(Some(viewer)) => view! {
                            <span class="viewer">
                                "Chatting as " <strong class="viewer-name">{viewer.name}</strong>
                            </span>
                        }
                        .into_any(),
                        Ok(None) => view! { <NameForm/> }.into_any(),
                        Err(error) => view! { <span class="error">{error.to_string()}</span> }
                            .into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

/// Picks a display name. An `ActionForm`, so it posts and works before the WASM loads.
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
