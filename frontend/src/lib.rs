//! The WASM entry point. Everything the browser runs lives in `app`; this crate only exists
//! so cargo-leptos has a `cdylib` to build, and so the server never links browser code.

/// Called by the hydration script that cargo-leptos injects into every server-rendered page.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
