//! Light and dark: Parlor follows the system's colour scheme unless the user picks one with
//! the header's toggle. The choice is remembered in a `parlor_theme` cookie (not a secret;
//! readable by the page), so the server renders `<html data-theme>` already right and the
//! first paint never flashes the wrong colours.

use leptos::prelude::*;

/// The cookie that remembers the choice.
pub const THEME_COOKIE: &str = "parlor_theme";

/// A colour theme choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    /// Follow the system (`prefers-color-scheme`): no cookie.
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

impl Theme {
    /// The `data-theme` value (`None` for the system's).
    pub fn attribute(self) -> Option<&'static str> {
        match self {
            Theme::System => None,
            Theme::Light => Some("light"),
            Theme::Dark => Some("dark"),
        }
    }

    /// Reads a `data-theme` or cookie value; anything else is the system's.
    pub fn parse(value: &str) -> Self {
        match value {
            "light" => Theme::Light,
            "dark" => Theme::Dark,
            _ => Theme::System,
        }
    }

    /// The next one the toggle offers: system → light → dark → system.
    fn next(self) -> Self {
        match self {
            Theme::System => Theme::Light,
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::System,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Theme::System => "System",
            Theme::Light => "Light",
            Theme::Dark => "Dark",
        }
    }

    fn icon(self) -> &'static str {
        match self {
            Theme::System => "◐",
            Theme::Light => "☀",
            Theme::Dark => "☾",
        }
    }
}

/// The theme this request's cookie asks for (server side), for `<html data-theme>`.
#[cfg(feature = "ssr")]
pub fn requested() -> Theme {
    use_context::<http::request::Parts>()
        .and_then(|parts| {
            parts
                .headers
                .get_all(http::header::COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(';'))
                .find_map(|pair| {
                    let (name, value) = pair.trim().split_once('=')?;
                    (name == THEME_COOKIE).then(|| Theme::parse(value))
                })
        })
        .unwrap_or(Theme::System)
}

/// The theme the page was rendered with (browser side).
#[cfg(feature = "hydrate")]
fn rendered() -> Theme {
    document()
        .document_element()
        .and_then(|root| root.get_attribute("data-theme"))
        .map(|value| Theme::parse(&value))
        .unwrap_or(Theme::System)
}

/// The header's toggle: shows the current choice, a click moves to the next one.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    #[cfg(feature = "ssr")]
    let current = RwSignal::new(requested());
    #[cfg(feature = "hydrate")]
    let current = RwSignal::new(rendered());
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    let current = RwSignal::new(Theme::System);
    let choose = move |_| {
        let next = current.get_untracked().next();
        current.set(next);
        #[cfg(feature = "hydrate")]
        apply(next);
    };
    view! {
        <button type="button" class="theme-toggle link-button" on:click=choose
            aria-label=move || format!("Colour theme: {} (change)", current.get().label())
            data-theme-choice=move || current.get().label().to_lowercase()>
            <span aria-hidden="true">{move || current.get().icon()}</span>
            <span class="theme-label" aria-hidden="true">{move || current.get().label()}</span>
        </button>
    }
}

/// Sets `<html data-theme>` and remembers the choice for a year (or forgets it).
#[cfg(feature = "hydrate")]
fn apply(theme: Theme) {
    let document = document();
    if let Some(root) = document.document_element() {
        let _ = match theme.attribute() {
            Some(value) => root.set_attribute("data-theme", value),
            None => root.remove_attribute("data-theme"),
        };
    }
    let cookie = match theme.attribute() {
        Some(value) => format!("{THEME_COOKIE}={value}; Path=/; Max-Age=31536000; SameSite=Lax"),
        None => format!("{THEME_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax"),
    };
    let _ = js_sys::Reflect::set(
        &document,
        &wasm_bindgen::JsValue::from_str("cookie"),
        &wasm_bindgen::JsValue::from_str(&cookie),
    );
}
