//! The ceiling: the least a server must do to relay Parlor's frames. One tokio `broadcast`
//! channel per room; a `send` frame becomes a `message` frame (same shape as Parlor's, with an
//! id from a counter) encoded once and shared with every socket of the room. Same socket
//! settings and write batching as Parlor, so the difference is the work Parlor adds: storing,
//! sessions, validation, ordering guarantees.

use app::protocol::{ChatMessage, ClientFrame, ServerFrame};
use axum::serve::ListenerExt;
use axum::{
    extract::{
        ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
        Path, State,
    },
    response::Response,
    routing::get,
    Router,
};
use futures::{SinkExt, StreamExt};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, Mutex,
    },
};
use tokio::sync::broadcast;

/// `bench bare` flags.
#[derive(clap::Args)]
pub struct Options {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4000")]
    addr: SocketAddr,
    /// Frames a room buffers for a slow socket before it skips ahead.
    #[arg(long, default_value_t = 512)]
    capacity: usize,
}

#[derive(Clone)]
struct Rooms {
    rooms: Arc<Mutex<HashMap<String, broadcast::Sender<Utf8Bytes>>>>,
    next_id: Arc<AtomicI64>,
    capacity: usize,
}

impl Rooms {
    fn room(&self, slug: &str) -> broadcast::Sender<Utf8Bytes> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms
            .entry(slug.to_owned())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .clone()
    }
}

pub async fn run(options: Options) -> Result<(), String> {
    let rooms = Rooms {
        rooms: Arc::default(),
        next_id: Arc::new(AtomicI64::new(1)),
        capacity: options.capacity,
    };
    let app = Router::new()
        .route("/ws/rooms/{slug}", get(upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(rooms);
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.addr))?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    eprintln!("bare broadcast server on http://{}", options.addr);
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("server failed: {e}"))
}

async fn upgrade(
    upgrade: WebSocketUpgrade,
    State(rooms): State<Rooms>,
    Path(slug): Path<String>,
) -> Response {
    let room = rooms.room(&slug);
    let receiver = room.subscribe();
    upgrade
        .read_buffer_size(4096)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| relay(socket, slug, room, receiver, rooms.next_id))
}

async fn relay(
    socket: WebSocket,
    slug: String,
    room: broadcast::Sender<Utf8Bytes>,
    mut receiver: broadcast::Receiver<Utf8Bytes>,
    next_id: Arc<AtomicI64>,
) {
    let (mut sink, mut stream) = socket.split();
    let writer = async move {
        loop {
            let frame = match receiver.recv().await {
                Ok(frame) => frame,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if sink.feed(Message::Text(frame)).await.is_err() {
                return;
            }
            while let Ok(frame) = receiver.try_recv() {
                if sink.feed(Message::Text(frame)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    };
    let reader = async move {
        while let Some(Ok(message)) = stream.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let Ok(ClientFrame::Send {
                text, client_id, ..
            }) = serde_json::from_str::<ClientFrame>(text.as_str())
            else {
                continue;
            };
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            // The same shape as Parlor's frame, so both servers move the same bytes.
            let frame = ServerFrame::Message(ChatMessage {
                id,
                seq: id,
                room: slug.clone(),
                author_id: 1,
                author: "bench".to_owned(),
                text,
                client_id,
                sent_at: "1970-01-01T00:00:00.000Z".to_owned(),
                edited_at: None,
                deleted: false,
                reply_to: None,
                reactions: Vec::new(),
            });
            if let Ok(encoded) = serde_json::to_string(&frame) {
                let _ = room.send(Utf8Bytes::from(encoded));
            }
        }
    };
    tokio::select! {
        () = writer => {}
        () = reader => {}
    }
}
