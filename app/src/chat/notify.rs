//! Browser notifications for mentions: the `mention` frame on the lobby connection becomes a
//! system notification while the tab is hidden, once the user allowed it with the button in
//! the sidebar. Only the browser's own Notification API is used — nothing goes to any
//! third-party push service, and nothing is shown for a tab the user is looking at.

use leptos::prelude::*;

/// The browser's notification permission, as the button needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // read from the browser only
pub enum Permission {
    /// The browser has no Notification API (or it is not known yet: on the server, before
    /// hydration).
    Unsupported,
    /// Not asked yet: the button offers it.
    Default,
    /// Allowed.
    Granted,
    /// Refused (only the browser's site settings can change it).
    Denied,
}

/// "Notify me of mentions": shown to signed-in users while the browser has not been asked.
#[component]
pub fn NotifyToggle() -> impl IntoView {
    let viewer = expect_context::<crate::identity::ViewerContext>();
    let permission = RwSignal::new(Permission::Unsupported);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| permission.set(browser::permission()));
    let ask = move |_| {
        #[cfg(feature = "hydrate")]
        browser::request(move |answer| permission.set(answer));
    };
    move || {
        let account = viewer.viewer().is_some_and(|v| !v.guest);
        (account && permission.get() == Permission::Default).then(|| {
            view! {
                <button type="button" class="notify-toggle" on:click=ask
                    title="Show a notification when someone mentions you while this tab is hidden">
                    "🔔 Notify me of mentions"
                </button>
            }
        })
    }
}

#[cfg(feature = "hydrate")]
pub(super) use browser::show_mention;

#[cfg(feature = "hydrate")]
mod browser {
    use super::Permission;
    use wasm_bindgen::{closure::Closure, JsCast, JsValue};
    use web_sys::{Notification, NotificationOptions, NotificationPermission};

    /// Whether the page can use notifications at all (an insecure origin other than
    /// localhost, or an old browser, has no `Notification`).
    fn supported() -> bool {
        js_sys::Reflect::has(
            &leptos::prelude::window(),
            &JsValue::from_str("Notification"),
        )
        .unwrap_or(false)
    }

    pub(super) fn permission() -> Permission {
        if !supported() {
            return Permission::Unsupported;
        }
        match Notification::permission() {
            NotificationPermission::Granted => Permission::Granted,
            NotificationPermission::Denied => Permission::Denied,
            _ => Permission::Default,
        }
    }

    /// Asks the browser (it shows its own prompt) and reports the answer.
    pub(super) fn request(answered: impl Fn(Permission) + 'static) {
        let Ok(promise) = Notification::request_permission() else {
            return;
        };
        let done = Closure::<dyn FnMut(JsValue)>::new(move |_| answered(permission()));
        let _ = promise.then(&done);
        done.forget(); // called once by the promise; a few bytes per click
    }

    /// Shows "ann in General" with the excerpt, if the user allowed it and is not looking at
    /// this tab; clicking it brings the tab forward and opens the message.
    pub fn show_mention(room: &str, title: &str, message: &crate::protocol::LastMessage) {
        if permission() != Permission::Granted || !leptos::prelude::document().hidden() {
            return;
        }
        let options = NotificationOptions::new();
        options.set_body(&message.excerpt);
        // One notification per message, however many tabs or connections heard of it.
        options.set_tag(&format!("parlor-mention-{}", message.id));
        let heading = format!("{} in {}", message.author, title);
        let Ok(notification) = Notification::new_with_options(&heading, &options) else {
            return;
        };
        let target = format!("/rooms/{room}?at={}", message.id);
        let open = Closure::<dyn FnMut()>::new(move || {
            let window = leptos::prelude::window();
            let _ = window.focus();
            let _ = window.location().assign(&target);
        });
        notification.set_onclick(Some(open.as_ref().unchecked_ref()));
        open.forget(); // lives as long as the notification may be clicked
    }
}
