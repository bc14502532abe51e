//! The server's implementation of the UI's port (`app::backend::Backend`): server functions
//! reach the same chat service, session code and limits as the REST API.

use crate::{
    auth::{self, AuthError, Identity},
    chat::ChatError,
    error::ApiError,
    state::AppState,
};
use app::{
    backend::Backend,
    domain::{DisplayName, Password, Username},
    error::AppError,
    pages::RoomPageData,
    protocol::{ChatMessage, RoomSummary, Viewer},
    server_fns::SessionInfo,
};
use axum::http::request::Parts;
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

    async fn identity(&self, req: &Parts) -> Result<Option<Identity>, AppError> {
        let session = session_of(req)?;
        auth::identity(&session, &self.state.store)
            .await
            .map_err(internal)
    }

    async fn require_identity(&self, req: &Parts) -> Result<Identity, AppError> {
        self.identity(req).await?.ok_or(AppError::LoginRequired)
    }
}

#[async_trait::async_trait]
impl Backend for ServerBackend {
    async fn session(&self, req: &Parts) -> Result<SessionInfo, AppError> {
        Ok(SessionInfo {
            viewer: self.identity(req).await?.map(|i| i.viewer()),
            guests_allowed: self.state.allow_guests,
        })
    }

    async fn sign_up(
        &self,
        req: &Parts,
        username: &str,
        password: &str,
    ) -> Result<Viewer, AppError> {
        let username = Username::parse(username)?;
        let password = Password::parse(password)?;
        let session = session_of(req)?;
        let identity = auth::sign_up(&session, &self.state.store, &username, &password)
            .await
            .map_err(auth_error)?;
        Ok(identity.viewer())
    }

    async fn log_in(
        &self,
        req: &Parts,
        username: &str,
        password: &str,
    ) -> Result<Viewer, AppError> {
        let (Ok(username), Ok(password)) = (Username::parse(username), Password::parse(password))
        else {
            return Err(AppError::InvalidCredentials);
        };
        let key = username.key();
        self.state.limits.login_allowed(&key).map_err(api_error)?;
        let session = session_of(req)?;
        let outcome = auth::log_in(&session, &self.state.store, &username, &password).await;
        self.state.limits.login_outcome(&key, outcome.is_ok());
        Ok(outcome.map_err(auth_error)?.viewer())
    }

    async fn log_out(&self, req: &Parts) -> Result<(), AppError> {
        let session = session_of(req)?;
        auth::log_out(&session).await.map_err(auth_error)
    }

    async fn list_rooms(&self) -> Result<Vec<RoomSummary>, AppError> {
        Ok(self.state.chat.list_rooms().await?)
    }

    async fn create_room(
        &self,
        req: &Parts,
        slug: &str,
        title: &str,
    ) -> Result<RoomSummary, AppError> {
        let owner = self.require_identity(req).await?;
        let room = self.state.chat.create_room(&owner, slug, title).await?;
        Ok(self.state.chat.summary(&room).await?)
    }

    async fn rename_room(
        &self,
        req: &Parts,
        slug: &str,
        title: &str,
    ) -> Result<RoomSummary, AppError> {
        let by = self.require_identity(req).await?;
        let room = self.state.chat.rename_room(&by, slug, title).await?;
        Ok(self.state.chat.summary(&room).await?)
    }

    async fn delete_room(&self, req: &Parts, slug: &str) -> Result<(), AppError> {
        let by = self.require_identity(req).await?;
        Ok(self.state.chat.delete_room(&by, slug).await?)
    }

    async fn room_page(&self, slug: &str, limit: u32) -> Result<RoomPageData, AppError> {
        let chat = &self.state.chat;
        let room = chat.room(slug).await?;
        let messages = chat.history(&room, None, limit).await?;
        let room = chat.summary(&room).await?;
        Ok(RoomPageData { room, messages })
    }

    async fn start_guest(&self, req: &Parts, name: &str) -> Result<Viewer, AppError> {
        if !self.state.allow_guests {
            return Err(AppError::Forbidden(
                "Guests are not allowed here: sign up or log in.".to_owned(),
            ));
        }
        if self.identity(req).await?.is_some_and(|i| !i.guest) {
            return Err(AppError::Forbidden(
                "You are logged in to an account; log out to chat as a guest.".to_owned(),
            ));
        }
        let name = DisplayName::parse(name)?;
        let session = session_of(req)?;
        let identity = auth::start_guest(&session, &self.state.store, &name)
            .await
            .map_err(auth_error)?;
        Ok(identity.viewer())
    }

    async fn post_message(
        &self,
        req: &Parts,
        slug: &str,
        text: &str,
        client_id: Option<&str>,
    ) -> Result<ChatMessage, AppError> {
        let author = self.require_identity(req).await?;
        self.state
            .limits
            .http_message(author.user_id)
            .map_err(api_error)?;
        let chat = &self.state.chat;
        let room = chat.room(slug).await?;
        Ok(chat.send(&author, &room, text, client_id).await?.message)
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

fn auth_error(error: AuthError) -> AppError {
    match error {
        AuthError::UsernameTaken(_) => AppError::Conflict {
            field: "username".to_owned(),
            message: error.to_string(),
        },
        AuthError::InvalidCredentials => AppError::InvalidCredentials,
        other => internal(other),
    }
}

fn api_error(error: ApiError) -> AppError {
    match error {
        ApiError::RateLimited { retry_after } => AppError::RateLimited { retry_after },
        other => internal(other),
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
