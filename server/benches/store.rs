//! Store micro-benchmark: messages per second through `ChatService::send` (validate, queue,
//! group-commit in SQLite, publish to an empty group), with many senders at once, on a real
//! SQLite file in WAL mode with `synchronous = FULL`. Each send returns only after its row
//! is committed, as in production.
//!
//! `cargo bench -p server --bench store [-- SENDERS TOTAL]`; prints a table and a JSON line.
//! `PARLOR_BENCH_DATABASE=postgres://user@host/db` runs it on PostgreSQL instead (an empty
//! database: the bench creates its rooms `store-0` … `store-7`).

use parlor::{
    auth::Identity,
    chat::ChatService,
    layer::{memory::MemoryLayer, ChannelLayer},
    limits::{LimitSettings, Limits},
    store::{Database, Store},
};
use std::{sync::Arc, time::Instant};

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let senders: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(senders, total));
}

async fn run(senders: usize, total: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = match std::env::var("PARLOR_BENCH_DATABASE") {
        Ok(value) => Database::parse(&value).expect("PARLOR_BENCH_DATABASE"),
        Err(_) => Database::Sqlite(dir.path().join("bench.db")),
    };
    let backend = match database {
        Database::Sqlite(_) => "sqlite",
        Database::Postgres(_) => "postgres",
    };
    let store = Store::open_and_migrate(&database).await.expect("store");
    let layer: Arc<dyn ChannelLayer> = Arc::new(MemoryLayer::new(64));
    // No message rate: the benchmark measures the store, not the limiter.
    let limits = Arc::new(Limits::new(LimitSettings {
        message_rate: 0,
        ..LimitSettings::default()
    }));
    let chat = ChatService::start(store.clone(), layer, limits);
    let user = store.create_guest("bench").await.expect("user");
    let author = Identity::from(user);
    let rooms: Vec<_> = futures::future::join_all((0..8).map(|i| {
        let chat = chat.clone();
        let author = author.clone();
        async move {
            chat.create_room(&author, &format!("store-{i}"), "Store bench")
                .await
                .expect("room")
        }
    }))
    .await;

    let per_sender = total / senders;
    let started = Instant::now();
    let tasks: Vec<_> = (0..senders)
        .map(|s| {
            let chat = chat.clone();
            let author = author.clone();
            let room = rooms[s % rooms.len()].clone();
            tokio::spawn(async move {
                let text = format!("sender {s}: {}", "x".repeat(80));
                for n in 0..per_sender {
                    let client_id = format!("s{s}-{n}");
                    chat.send(&author, &room, &text, Some(&client_id))
                        .await
                        .expect("send");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("sender");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stored = per_sender * senders;
    let rate = stored as f64 / elapsed;
    println!("== store ({backend}): ChatService::send, {senders} concurrent senders ==");
    println!("  messages stored              {stored}");
    println!("  seconds                      {elapsed:.2}");
    println!("  messages/s                   {rate:.0}");
    println!(
        "JSON {}",
        serde_json::json!({
            "label": "store",
            "backend": backend,
            "senders": senders,
            "messages": stored,
            "seconds": (elapsed * 100.0).round() / 100.0,
            "messages_per_s": rate.round(),
        })
    );
}
