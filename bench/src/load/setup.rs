//! Before the run: fresh rooms, and a guest identity (session cookie) for every sender.

use super::Options;
use app::protocol::{CreateRoomRequest, GuestRequest};
use std::time::{SystemTime, UNIX_EPOCH};

/// What the clients need.
pub struct Plan {
    /// Room slugs, unique to this run so old messages never count.
    pub rooms: Vec<String>,
    /// Per sender (room-major order): its session cookie (`None` for the bare server).
    pub sender_cookies: Vec<Option<String>>,
    /// Per client (room-major order), with `--typing-every-ms`: its own session cookie, so
    /// listeners are present and may type (empty otherwise; senders use their own).
    pub listener_cookies: Vec<Option<String>>,
}

pub async fn prepare(options: &Options, urls: &[String]) -> Result<Plan, String> {
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() % 100_000_000)
        .unwrap_or_default();
    let rooms: Vec<String> = (0..options.rooms)
        .map(|i| format!("bench-{run}-{}-{i}", std::process::id()))
        .collect();
    let senders = options.rooms * options.senders_per_room;
    if options.bare {
        return Ok(Plan {
            rooms,
            sender_cookies: vec![None; senders],
            listener_cookies: Vec::new(),
        });
    }
    let http = reqwest::Client::new();
    // Room creation needs an identity on servers that require one.
    let creator = guest(&http, &urls[0], "bench").await?;
    for slug in &rooms {
        let response = http
            .post(format!("{}/api/rooms", urls[0]))
            .header("cookie", &creator)
            .json(&CreateRoomRequest {
                slug: slug.clone(),
                title: format!("Benchmark {slug}"),
                private: false,
                members: Vec::new(),
            })
            .send()
            .await
            .map_err(|e| format!("create room {slug}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "create room {slug}: {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            ));
        }
    }
    let mut sender_cookies = Vec::with_capacity(senders);
    for i in 0..senders {
        // Sessions live in the shared database, so any server accepts any of them.
        let base = &urls[i % urls.len()];
        sender_cookies.push(Some(guest(&http, base, &format!("sender-{i}")).await?));
    }
    let mut listener_cookies = Vec::new();
    if options.typing_every_ms > 0 {
        for i in 0..options.rooms * options.clients_per_room {
            let member = i % options.clients_per_room;
            listener_cookies.push(if member < options.senders_per_room {
                None
            } else {
                let base = &urls[i % urls.len()];
                Some(guest(&http, base, &format!("listener-{i}")).await?)
            });
        }
    }
    Ok(Plan {
        rooms,
        sender_cookies,
        listener_cookies,
    })
}

/// A guest session; returns its `Cookie` header value.
async fn guest(http: &reqwest::Client, base: &str, name: &str) -> Result<String, String> {
    let response = http
        .post(format!("{base}/api/session/guest"))
        .json(&GuestRequest {
            name: name.to_owned(),
        })
        .send()
        .await
        .map_err(|e| format!("guest session at {base}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!(
            "guest session at {base}: {} {} (is the server started with --allow-guests?)",
            response.status(),
            response.text().await.unwrap_or_default()
        ));
    }
    response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| format!("no session cookie from {base}"))
}
