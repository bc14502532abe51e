//! What every handler can reach: the core's services and the edge's own policies.

use super::admission::Admission;
use crate::{auth::Accounts, chat::ChatService};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The chat service: every message and room operation.
    pub chat: ChatService,
    /// Accounts, guests and sessions' identities.
    pub accounts: Accounts,
    /// The origin rule and the connection slots for sockets, streams and waiting polls.
    pub admission: Admission,
    /// The admin API's bearer token (`None`: the admin API is off).
    pub admin_token: Option<Arc<str>>,
    /// The bearer token for `/metrics` and the detailed `/healthz` on this listener (`None`:
    /// `/metrics` is not served here, `/healthz` says only ok or degraded).
    pub metrics_token: Option<Arc<str>>,
    /// Whether the client IP comes from `X-Forwarded-For` (behind a trusted proxy).
    pub trust_proxy: bool,
    /// Leptos' settings (site root, output name) for rendering and static files.
    pub leptos: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
