//! Helpers for black-box tests: a real Parlor on port 0 with a fresh SQLite file, HTTP
//! clients with their own cookie jars, and WebSocket clients speaking the wire protocol.

use futures::{SinkExt, StreamExt};
use parlor::{start, store::Database, RunningServer, Settings};
use reqwest::cookie::{CookieStore, Jar};
use serde_json::{json, Value};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, http::HeaderValue, Message},
    MaybeTlsStream, WebSocketStream,
};

/// The metrics token test servers and processes run with (detailed `/healthz`, `/metrics`).
pub const METRICS_TOKEN: &str = "test-metrics-token";

/// How long a test waits for something that should happen.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A running server with its own database.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The SQLite file.
    pub database: std::path::PathBuf,
    server: Option<RunningServer>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A server with guests allowed (most tests chat as guests), defaults otherwise.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Like [`start`](Self::start), with settings adjusted first.
    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = dir.path().join("parlor.db");
        let mut settings = Settings::new(Database::Sqlite(database.clone()));
        settings.serve.allow_guests = true;
        settings.serve.metrics_token = Some(METRICS_TOKEN.to_owned());
        adjust(&mut settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let server = start(settings, listener).await.expect("server starts");
        Self {
            addr: server.addr,
            database,
            server: Some(server),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client without identity.
    pub fn anonymous(&self) -> Client {
        Client::new(self)
    }

    /// A client whose session has a guest identity.
    pub async fn guest(&self, name: &str) -> Client {
        Client::guest_at(&self.url(""), name).await
    }

    /// A client logged in to a new account.
    pub async fn account(&self, username: &str, password: &str) -> Client {
        Client::account_at(&self.url(""), username, password).await
    }

    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// An HTTP client with its own cookie jar (one browser, in effect).
pub struct Client {
    pub http: reqwest::Client,
    jar: Arc<Jar>,
    base: String,
    pub origin: String,
}

impl Client {
    fn new(server: &TestServer) -> Self {
        Self::for_base(&server.url(""))
    }

    /// A client of the server at `base` (`http://host:port`).
    pub fn for_base(base: &str) -> Self {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .build()
            .expect("http client");
        Self {
            http,
            jar,
            base: base.trim_end_matches('/').to_owned(),
            origin: base.trim_end_matches('/').to_owned(),
        }
    }

    /// A client of `base` with a guest identity.
    pub async fn guest_at(base: &str, name: &str) -> Self {
        let client = Self::for_base(base);
        let response = client
            .post("/api/session/guest", &json!({ "name": name }))
            .await;
        assert_eq!(response.status(), 200, "guest session for {name}");
        client
    }

    /// A client of `base` logged in to a new account.
    pub async fn account_at(base: &str, username: &str, password: &str) -> Self {
        let client = Self::for_base(base);
        let response = client
            .post(
                "/api/signup",
                &json!({ "username": username, "password": password }),
            )
            .await;
        assert_eq!(response.status(), 201, "sign up {username}");
        client
    }

    /// The same browser talking to another server: shares this client's cookies.
    pub fn at(&self, base: &str) -> Self {
        let jar = self.jar.clone();
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .build()
            .expect("http client");
        Self {
            http,
            jar,
            base: base.trim_end_matches('/').to_owned(),
            origin: base.trim_end_matches('/').to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn create_room(&self, slug: &str, title: &str) {
        let response = self
            .post("/api/rooms", &json!({ "slug": slug, "title": title }))
            .await;
        assert_eq!(response.status(), 201, "create room {slug}");
    }

    pub async fn patch(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .patch(self.url(path))
            .json(body)
            .send()
            .await
            .expect("PATCH")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.http
            .delete(self.url(path))
            .send()
            .await
            .expect("DELETE")
    }

    /// The session cookie, as a `Cookie` header value.
    pub fn cookie(&self) -> Option<HeaderValue> {
        let url = self.base.parse().expect("url");
        self.jar
            .cookies(&url)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
    }

    /// Opens `/ws/rooms/{slug}` with this client's cookie and our own Origin.
    pub async fn connect(&self, slug: &str, after: Option<i64>) -> Ws {
        self.try_connect(slug, after, Some(&self.origin))
            .await
            .expect("WebSocket handshake")
    }

    pub async fn try_connect(
        &self,
        slug: &str,
        after: Option<i64>,
        origin: Option<&str>,
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let query = after.map(|a| format!("?after={a}")).unwrap_or_default();
        self.connect_path(&format!("/ws/rooms/{slug}{query}"), origin)
            .await
    }

    /// Opens the WebSocket at `path` (e.g. `/ws/lobby`) with this client's cookie.
    pub async fn connect_path(
        &self,
        path: &str,
        origin: Option<&str>,
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let url = format!("{}{path}", self.base.replace("http://", "ws://"));
        let mut request = url.into_client_request()?;
        if let Some(cookie) = self.cookie() {
            request.headers_mut().insert("cookie", cookie);
        }
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", HeaderValue::from_str(origin).expect("origin"));
        }
        let (stream, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Ws { stream })
    }
}

/// Presence frames (`presence`, `presence_diff`), which every connection of a named user
/// causes: the presence tests look at them, the others skip them.
pub fn is_presence(frame: &Value) -> bool {
    matches!(frame["type"].as_str(), Some("presence" | "presence_diff"))
}

/// A WebSocket client.
pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    pub async fn send_json(&mut self, frame: Value) {
        self.stream
            .send(Message::text(frame.to_string()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.expect("send");
    }

    /// Sends a chat message.
    pub async fn say(&mut self, text: &str, client_id: Option<&str>) {
        let mut frame = json!({ "type": "send", "text": text });
        if let Some(id) = client_id {
            frame["client_id"] = json!(id);
        }
        self.send_json(frame).await;
    }

    /// The next JSON frame (pings skipped); panics after [`PATIENCE`].
    pub async fn next_json(&mut self) -> Value {
        self.next_json_within(PATIENCE)
            .await
            .expect("a frame in time")
    }

    /// The next JSON frame that is not presence (tests of other things ignore who is
    /// here), or `None` if none arrives within `wait`.
    pub async fn next_json_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = self.next_any_within(deadline).await?;
            if !is_presence(&frame) {
                return Some(frame);
            }
        }
    }

    /// The next JSON frame of any type, presence included, until `deadline`.
    pub async fn next_any_within(&mut self, deadline: tokio::time::Instant) -> Option<Value> {
        loop {
            let message = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()?
                .expect("the socket is open")
                .expect("a valid frame");
            match message {
                Message::Text(text) => {
                    return Some(serde_json::from_str(text.as_str()).expect("JSON frame"))
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Close(_) => return None,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next `message` frame.
    pub async fn next_message(&mut self) -> Value {
        let frame = self.next_json().await;
        assert_eq!(frame["type"], "message", "expected a message, got {frame}");
        frame
    }

    /// Asserts no text frame arrives for a while.
    pub async fn expect_silence(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(Some(Ok(Message::Text(text))))
                    if serde_json::from_str::<Value>(text.as_str())
                        .is_ok_and(|frame| is_presence(&frame)) =>
                {
                    continue
                }
                Ok(other) => panic!("expected silence, got {other:?}"),
            }
        }
    }

    /// Waits for the server's Close frame and returns its code.
    pub async fn expect_close(&mut self) -> u16 {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.stream.next())
                .await
                .expect("close in time");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(Message::Close(None))) => return 1005,
                Some(Ok(_)) => continue,
                Some(Err(error)) => panic!("socket failed instead of closing: {error}"),
                None => panic!("socket ended without a Close frame"),
            }
        }
    }
}

/// One Server-Sent Event.
#[derive(Debug, Default)]
pub struct SseEvent {
    /// `id:`
    pub id: Option<String>,
    /// `event:`
    pub event: Option<String>,
    /// `data:` lines, joined.
    pub data: String,
}

/// Reads events from a `text/event-stream` response.
pub struct SseReader {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            stream: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// Reads until the stream ends (true) or `within` passes (false).
    pub async fn until_end(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// The next event with data (comments and keep-alives skipped), within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent::default();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("id:") {
                        event.id = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("event:") {
                        event.event = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        event.data.push_str(value.trim_start());
                    }
                }
                let presence = matches!(event.event.as_deref(), Some("presence" | "presence_diff"));
                if !event.data.is_empty() && !presence {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??
                .ok()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// Opens `GET /api/rooms/{slug}/events`, optionally resuming.
pub async fn open_events(
    client: &Client,
    slug: &str,
    after: Option<i64>,
    last_event_id: Option<&str>,
) -> reqwest::Response {
    let query = after.map(|a| format!("?after={a}")).unwrap_or_default();
    let mut request = client
        .http
        .get(client.url(&format!("/api/rooms/{slug}/events{query}")));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.send().await.expect("GET events")
}
