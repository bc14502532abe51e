//! Keyboard focus across live updates. Keyed lists (the room links, the messages) re-create
//! a row when what it shows changes, and a re-created or moved element loses the focus: the
//! browser drops it on `<body>`, and a keyboard user's next Tab starts again from the top of
//! the page. Called just before such a list is patched, [`keep_across_update`] puts the focus
//! back on the same control of the same row afterwards.

/// Remembers the focused control inside a `row` (a CSS selector) keyed by its `key` attribute,
/// and after the next frame, if the update dropped the focus, focuses the control with the
/// same class (or tag, for a plain link) in the row with the same key. Never takes the focus
/// from wherever it went meanwhile.
pub fn keep_across_update(row: &'static str, key: &'static str) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::prelude::{document, request_animation_frame};
        use wasm_bindgen::JsCast;
        let Some(focused) = document().active_element() else {
            return;
        };
        let Some(key_value) = focused
            .closest(row)
            .ok()
            .flatten()
            .and_then(|row| row.get_attribute(key))
        else {
            return;
        };
        let control = match focused.class_list().item(0) {
            Some(class) => format!(".{class}"),
            None => focused.tag_name().to_lowercase(),
        };
        // Among several alike (the reaction chips of a message), the one that says the same.
        let label = |element: &web_sys::Element| {
            element
                .get_attribute("aria-label")
                .or_else(|| element.text_content())
        };
        let focused_label = label(&focused);
        request_animation_frame(move || {
            if !focus_is_lost() {
                return;
            }
            let Ok(rows) = document().query_selector_all(row) else {
                return;
            };
            let Some(row) = (0..rows.length())
                .filter_map(|i| rows.item(i)?.dyn_into::<web_sys::Element>().ok())
                .find(|element| element.get_attribute(key).as_deref() == Some(key_value.as_str()))
            else {
                return;
            };
            let Ok(controls) = row.query_selector_all(&control) else {
                return;
            };
            let controls: Vec<web_sys::HtmlElement> = (0..controls.length())
                .filter_map(|i| controls.item(i)?.dyn_into::<web_sys::HtmlElement>().ok())
                .collect();
            let target = controls
                .iter()
                .find(|element| label(element) == focused_label)
                .or(controls.first());
            if let Some(target) = target {
                // Without scrolling: the list may have moved on purpose (a jump to a quoted
                // message), and the focus must not drag it back.
                let options = web_sys::FocusOptions::new();
                options.set_prevent_scroll(true);
                let _ = target.focus_with_options(&options);
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (row, key);
}

/// After a client-side navigation that removed the focused control (a form that sent its
/// user to another page, a link in a part that re-rendered), the browser keeps its Tab
/// position where that control was, often past the end of the new page. Like a full page
/// load, the next Tab should start at the top: this moves the focus there, to the app's
/// start marker (`#page-top`, focusable from script only). A focus that survived the
/// navigation (the room switcher's link) stays where it is.
pub fn restart_after_navigation(pathname: leptos::prelude::Memo<String>) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::prelude::{document, request_animation_frame, Effect, Get};
        use wasm_bindgen::JsCast;
        Effect::new(move |previous: Option<String>| {
            let now = pathname.get();
            if previous.is_some_and(|previous| previous != now) {
                request_animation_frame(|| {
                    let lost = focus_is_lost();
                    let top = document()
                        .get_element_by_id("page-top")
                        .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok());
                    if let (true, Some(top)) = (lost, top) {
                        let _ = top.focus();
                    }
                });
            }
            now
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = pathname;
}

/// Whether nothing has the focus (the browser parks it on `<body>` when the focused element
/// goes away), so putting it back takes it from no one.
#[cfg(feature = "hydrate")]
fn focus_is_lost() -> bool {
    use leptos::prelude::document;
    document()
        .active_element()
        .is_none_or(|element| Some(element) == document().body().map(Into::into))
}
