//! The Content-Security-Policy of every server-rendered page.
//!
//! Only our own scripts run: the hydration script carries this response's nonce, the JS glue
//! and the WASM come from our origin (`'wasm-unsafe-eval'` lets the browser compile it), and
//! the page may only connect to our origin (its WebSocket included). No inline styles, no
//! plugins, no framing, and forms post only to us. Even if user text ever slipped past
//! escaping, a browser honouring this policy would not run it.

use leptos::prelude::use_context;

/// Sets the policy on the page being rendered (server side only).
pub fn set_content_security_policy() {
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let nonce = leptos::nonce::use_nonce().map(|nonce| nonce.to_string());
    let host = use_context::<http::request::Parts>().and_then(|parts| {
        parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    });
    let reload = std::env::var("LEPTOS_WATCH")
        .is_ok_and(|watch| watch == "true" || watch == "ON")
        .then(|| leptos::config::get_configuration(None).ok())
        .flatten()
        .map(|config| config.leptos_options.reload_port);
    let policy = policy(nonce.as_deref(), host.as_deref(), reload);
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The policy text. `host` adds explicit `ws:`/`wss:` sources for browsers whose `'self'`
/// does not cover WebSockets; `reload` allows `cargo leptos watch`'s live-reload socket.
pub fn policy(nonce: Option<&str>, host: Option<&str>, reload: Option<u32>) -> String {
    let scripts = match nonce {
        Some(nonce) => format!("'self' 'nonce-{nonce}' 'wasm-unsafe-eval'"),
        None => "'self' 'wasm-unsafe-eval'".to_owned(),
    };
    let mut connect = "'self'".to_owned();
    if let Some(host) = host.filter(|h| {
        h.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
    }) {
        connect.push_str(&format!(" ws://{host} wss://{host}"));
        if let Some(port) = reload {
            let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
            connect.push_str(&format!(" ws://{name}:{port}"));
        }
    }
    format!(
        "default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; \
         connect-src {connect}; font-src 'self'; object-src 'none'; base-uri 'self'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_our_scripts_and_sockets() {
        let policy = policy(Some("abc123"), Some("127.0.0.1:3000"), None);
        assert!(policy.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval'"));
        assert!(policy.contains("connect-src 'self' ws://127.0.0.1:3000 wss://127.0.0.1:3000;"));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(!policy.contains("unsafe-inline"));
        // A hostile Host header cannot inject sources.
        let hostile = super::policy(None, Some("evil.com; script-src *"), None);
        assert!(!hostile.contains("evil.com"));
    }
}
