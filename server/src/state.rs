//! What every handler can reach.

use crate::{chat::ChatService, origin::OriginPolicy, store::Store};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;
use tokio::sync::{watch, Semaphore};

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
    /// Becomes `true` when the server is shutting down; consumers close with 1001.
    pub shutdown: watch::Receiver<bool>,
    /// The admin API's bearer token (`None`: the admin API is off).
    pub admin_token: Option<Arc<str>>,
    /// Leptos' settings (site root, output name) for rendering and static files.
    pub leptos: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
