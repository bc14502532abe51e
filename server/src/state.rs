//! What every handler can reach.

use crate::{chat::ChatService, limits::Limits, origin::OriginPolicy, store::Store};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The chat service: every message and room operation.
    pub chat: ChatService,
    /// The store, for identities and sessions (messages go through `chat`).
    pub store: Store,
    /// Which origins may open sockets and post.
    pub origins: Arc<OriginPolicy>,
    /// One permit per live connection: caps connections, and lets shutdown wait for every
    /// connection to say goodbye.
    pub connections: Arc<Semaphore>,
    /// The admin API's bearer token (`None`: the admin API is off).
    pub admin_token: Option<Arc<str>>,
    /// Whether visitors may post under a display name without an account.
    pub allow_guests: bool,
    /// Whether the client IP comes from `X-Forwarded-For` (behind a trusted proxy).
    pub trust_proxy: bool,
    /// Rate limiters.
    pub limits: Arc<Limits>,
    /// Leptos' settings (site root, output name) for rendering and static files.
    pub leptos: LeptosOptions,
}

impl AppState {
    /// The client's IP for rate limits: the peer address, or behind a trusted proxy the last
    /// `X-Forwarded-For` entry (the one the proxy itself added).
    pub fn client_ip(&self, parts: &axum::http::request::Parts) -> Option<std::net::IpAddr> {
        if self.trust_proxy {
            // The last entry of the last header: the one our proxy wrote (a client can put
            // anything before it, in the same header or an earlier one).
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .next_back()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|ip| ip.trim().parse().ok());
            if forwarded.is_some() {
                return forwarded;
            }
        }
        parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip())
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
