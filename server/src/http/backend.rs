//! The server's implementation of the UI's port (`app::backend::Backend`): server functions
//! reach the same services as the REST API — the account service with its rate limits, the
//! chat service with its message rate — and report their faults with the same codes.

use super::{
    extract::{client_ip, session_of},
    state::AppState,
};
use crate::{
    auth::Identity,
    fault::{public_message_logged, Fault},
};
use app::{
    backend::Backend,
    error::AppError,
    pages::RoomPageData,
    protocol::{ChatMessage, RoomList, RoomSummary, SessionInfo, Viewer},
    server_fns::ROOMS_ON_PAGE,
};
use axum::http::request::Parts;
use std::net::IpAddr;
use tower_sessions::Session;

/// Server functions' view of the services.
pub struct ServerBackend {
    state: AppState,
}

impl ServerBackend {
    /// A backend over the application's services.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    fn session(req: &Parts) -> Result<Session, AppError> {
        session_of(req).ok_or_else(|| {
            tracing::error!("no session on the request: is the session layer installed?");
            AppError::internal()
        })
    }

    /// The session and the client's address, for the account operations.
    fn session_and_client(&self, req: &Parts) -> Result<(Session, Option<IpAddr>), AppError> {
        Ok((Self::session(req)?, client_ip(req, self.state.trust_proxy)))
    }

    async fn identity(&self, req: &Parts) -> Result<Option<Identity>, AppError> {
        let session = Self::session(req)?;
        self.state.accounts.identity(&session).await.map_err(fault)
    }

    async fn require_identity(&self, req: &Parts) -> Result<Identity, AppError> {
        self.identity(req)
            .await?
            .ok_or_else(|| AppError::new(app::protocol::ErrorCode::LoginRequired, "Log in first."))
    }
}

/// Any core error as a server function's error.
fn fault<E: Fault>(error: E) -> AppError {
    let mut app = AppError::new(
        error.code(),
        public_message_logged(&error, "server function failed"),
    );
    app.field = error.field().map(str::to_owned);
    app.retry_after = error.retry_after();
    app
}

#[async_trait::async_trait]
impl Backend for ServerBackend {
    async fn session(&self, req: &Parts) -> Result<SessionInfo, AppError> {
        Ok(SessionInfo {
            viewer: self.identity(req).await?.map(|i| i.viewer()),
            guests_allowed: self.state.accounts.guests_allowed(),
        })
    }

    async fn sign_up(
        &self,
        req: &Parts,
        username: &str,
        password: &str,
    ) -> Result<Viewer, AppError> {
        let (session, client) = self.session_and_client(req)?;
        let accounts = &self.state.accounts;
        let identity = accounts.sign_up(&session, client, username, password).await;
        Ok(identity.map_err(fault)?.viewer())
    }

    async fn log_in(
        &self,
        req: &Parts,
        username: &str,
        password: &str,
    ) -> Result<Viewer, AppError> {
        let (session, client) = self.session_and_client(req)?;
        let accounts = &self.state.accounts;
        let identity = accounts.log_in(&session, client, username, password).await;
        Ok(identity.map_err(fault)?.viewer())
    }

    async fn log_out(&self, req: &Parts) -> Result<(), AppError> {
        let session = Self::session(req)?;
        self.state.accounts.log_out(&session).await.map_err(fault)
    }

    async fn list_rooms(&self, req: &Parts, cursor: Option<&str>) -> Result<RoomList, AppError> {
        let viewer = self.identity(req).await?;
        let chat = &self.state.chat;
        chat.list_rooms(viewer.as_ref(), ROOMS_ON_PAGE, cursor)
            .await
            .map_err(fault)
    }

    async fn create_room(
        &self,
        req: &Parts,
        slug: &str,
        title: &str,
        members: Option<Vec<String>>,
    ) -> Result<RoomSummary, AppError> {
        let owner = self.require_identity(req).await?;
        let chat = &self.state.chat;
        let room = match members {
            Some(members) => {
                chat.create_private_room(&owner, slug, title, &members)
                    .await
            }
            None => chat.create_room(&owner, slug, title).await,
        }
        .map_err(fault)?;
        chat.summary(&room).await.map_err(fault)
    }

    async fn search(&self, req: &Parts, query: &str) -> Result<Vec<ChatMessage>, AppError> {
        let viewer = self.identity(req).await?;
        let chat = &self.state.chat;
        chat.search(viewer.as_ref(), query, None, 50)
            .await
            .map_err(fault)
    }

    async fn open_direct(&self, req: &Parts, username: &str) -> Result<RoomSummary, AppError> {
        let who = self.require_identity(req).await?;
        let chat = &self.state.chat;
        let (room, _) = chat.open_direct(&who, username).await.map_err(fault)?;
        chat.summary(&room).await.map_err(fault)
    }

    async fn rename_room(
        &self,
        req: &Parts,
        slug: &str,
        title: &str,
    ) -> Result<RoomSummary, AppError> {
        let by = self.require_identity(req).await?;
        let chat = &self.state.chat;
        let room = chat.rename_room(&by, slug, title).await.map_err(fault)?;
        chat.summary(&room).await.map_err(fault)
    }

    async fn delete_room(&self, req: &Parts, slug: &str) -> Result<(), AppError> {
        let by = self.require_identity(req).await?;
        self.state.chat.delete_room(&by, slug).await.map_err(fault)
    }

    async fn room_page(
        &self,
        req: &Parts,
        slug: &str,
        limit: u32,
    ) -> Result<RoomPageData, AppError> {
        let viewer = self.identity(req).await?;
        let chat = &self.state.chat;
        let room = chat.room(slug, viewer.as_ref()).await.map_err(fault)?;
        let viewer = viewer.map(|v| v.user_id);
        let messages = chat
            .history(&room, None, limit, viewer)
            .await
            .map_err(fault)?;
        let room = chat.summary(&room).await.map_err(fault)?;
        Ok(RoomPageData { room, messages })
    }

    async fn start_guest(&self, req: &Parts, name: &str) -> Result<Viewer, AppError> {
        let (session, client) = self.session_and_client(req)?;
        let accounts = &self.state.accounts;
        let identity = accounts.start_guest(&session, client, name).await;
        Ok(identity.map_err(fault)?.viewer())
    }

    async fn post_message(
        &self,
        req: &Parts,
        slug: &str,
        text: &str,
        client_id: Option<&str>,
    ) -> Result<ChatMessage, AppError> {
        let author = self.require_identity(req).await?;
        let sent = self
            .state
            .chat
            .post(
                &author,
                slug,
                crate::chat::Draft {
                    text,
                    client_id,
                    reply_to: None,
                },
            )
            .await
            .map_err(fault)?;
        Ok(sent.message)
    }
}
