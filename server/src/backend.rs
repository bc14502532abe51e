//! The server's implementation of the UI's port (`app::backend::Backend`): server functions
//! reach the same chat service and session code as the REST API.

use crate::{
    auth::{self, Identity},
    chat::{ChatError, ChatService},
    store::Store,
};
use app::{
    backend::Backend,
    domain::DisplayName,
    error::AppError,
    pages::RoomPageData,
    protocol::{ChatMessage, RoomSummary, Viewer},
};
use axum::http::request::Parts;
use tower_sessions::Session;

/// Server functions' view of the services.
pub struct ServerBackend {
    chat: ChatService,
    store: Store,
}

impl ServerBackend {
    /// A backend over these services.
    pub fn new(chat: ChatService, store: Store) -> Self {
        Self { chat, store }
    }

    async fn identity(&self, req: &Parts) -> Result<Option<Identity>, AppError> {
        let session = session_of(req)?;
        auth::identity(&session, &self.store)
            .await
            .map_err(internal)
    }
}

#[async_trait::async_trait]
impl Backend for ServerBackend {
    async fn viewer(&self, req: &Parts) -> Result<Option<Viewer>, AppError> {
        Ok(self.identity(req).await?.map(|i| i.viewer()))
    }

    async fn list_rooms(&self) -> Result<Vec<RoomSummary>, AppError> {
        Ok(self.chat.list_rooms().await?)
    }

    async fn create_room(
        &self,
        req: &Parts,
        slug: &str,
        title: &str,
    ) -> Result<RoomSummary, AppError> {
        let owner = self.identity(req).await?;
        let room = self.chat.create_room(owner.as_ref(), slug, title).await?;
        Ok(self.chat.summary(&room).await?)
    }

    async fn room_page(&self, slug: &str, limit: u32) -> Result<RoomPageData, AppError> {
        let room = self.chat.room(slug).await?;
        let messages = self.chat.history(&room, None, limit).await?;
        let room = self.chat.summary(&room).await?;
        Ok(RoomPageData { room, messages })
    }

    async fn start_guest(&self, req: &Parts, name: &str) -> Result<Viewer, AppError> {
        let name = DisplayName::parse(name)?;
        let session = session_of(req)?;
        let identity = auth::start_guest(&session, &self.store, &name)
            .await
            .map_err(internal)?;
        Ok(identity.viewer())
    }

    async fn post_message(
        &self,
        req: &Parts,
        slug: &str,
        text: &str,
        client_id: Option<&str>,
    ) -> Result<ChatMessage, AppError> {
        let author = self.identity(req).await?.ok_or(AppError::LoginRequired)?;
        let room = self.chat.room(slug).await?;
        Ok(self
            .chat
            .send(&author, &room, text, client_id)
            .await?
            .message)
    }
}

impl From<ChatError> for AppError {
    fn from(error: ChatError) -> Self {
        match error {
            ChatError::Invalid(invalid) => invalid.into(),
            ChatError::RoomExists(_) => AppError::Conflict {
                field: "slug".to_owned(),
                message: error.to_string(),
            },
            ChatError::RoomNotFound(_) => AppError::NotFound(error.to_string()),
            ChatError::LoginRequired => AppError::LoginRequired,
            ChatError::Forbidden(message) => AppError::Forbidden(message.to_owned()),
            ChatError::Store(_) | ChatError::Layer(_) | ChatError::WriterGone => internal(error),
        }
    }
}

fn session_of(req: &Parts) -> Result<Session, AppError> {
    req.extensions
        .get::<Session>()
        .cloned()
        .ok_or_else(|| internal("no session on the request"))
}

fn internal(error: impl std::fmt::Display) -> AppError {
    tracing::error!(%error, "server function failed");
    AppError::Internal
}
