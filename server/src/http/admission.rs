//! Connection admission, once for every transport that holds a connection open (WebSocket,
//! SSE, a waiting long poll): the Origin rule, the room, and a slot.
//!
//! The slots cap how many such connections the process holds, and how many one client
//! address holds (so one client cannot take them all); they also let shutdown wait for every
//! one of them to say goodbye.

use super::{
    error::ApiError,
    gate::{Full, Gate, Pass},
    origin::{OriginCheck, OriginPolicy},
};
use crate::auth::Identity;
use crate::chat::{ChatService, Room};
use app::protocol::ErrorCode;
use axum::http::HeaderMap;
use std::{net::IpAddr, sync::Arc, time::Duration};

/// How strictly a transport checks `Origin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginRule {
    /// The header must name an allowed origin (WebSocket handshakes: browsers always send
    /// it, so a missing one is not a browser of ours).
    Required,
    /// Another site's origin is refused; no header passes (an `EventSource` or `fetch` from
    /// our own page sends none on GET).
    RefuseForeign,
}

/// A connection let in: its room and the slot it holds until it ends.
pub struct Admitted {
    /// The room it follows.
    pub room: Room,
    /// Released when the connection ends.
    pub slot: Pass,
}

/// The connection gate. Cheap to clone.
#[derive(Clone)]
pub struct Admission {
    /// Which origins may connect.
    origins: Arc<OriginPolicy>,
    /// One slot per open connection, capped per client address.
    slots: Gate,
}

/// How long a refused client should wait before trying again.
const RETRY_AFTER_SECS: u64 = 5;

impl Admission {
    /// At most `max` connections, `per_address` of them from one client address (0: no
    /// per-address cap).
    pub fn new(origins: Arc<OriginPolicy>, max: usize, per_address: u32) -> Self {
        Self {
            origins,
            slots: Gate::new(max, per_address),
        }
    }

    /// The origin policy (state-changing requests check it too).
    pub fn origins(&self) -> &Arc<OriginPolicy> {
        &self.origins
    }

    /// Checks the origin, resolves the room as `viewer` may see it and takes a slot, in
    /// that order (a foreign page learns nothing about rooms, a private room is not found
    /// by a non-member, and a refused request holds no slot).
    pub async fn admit(
        &self,
        chat: &ChatService,
        headers: &HeaderMap,
        client: Option<IpAddr>,
        (slug, viewer): (&str, Option<&Identity>),
        rule: OriginRule,
    ) -> Result<Admitted, ApiError> {
        self.check_origin(headers, rule)?;
        let room = chat.room(slug, viewer).await?;
        let slot = self.slots.enter(client).map_err(refusal)?;
        Ok(Admitted { room, slot })
    }

    /// The origin and a slot, for a stream that follows no room (the lobby).
    pub fn admit_stream(
        &self,
        headers: &HeaderMap,
        client: Option<IpAddr>,
        rule: OriginRule,
    ) -> Result<super::gate::Pass, ApiError> {
        self.check_origin(headers, rule)?;
        self.slots.enter(client).map_err(refusal)
    }

    /// The Origin rule alone (reads that hold nothing open check it too).
    pub fn check_origin(&self, headers: &HeaderMap, rule: OriginRule) -> Result<(), ApiError> {
        let allowed = match (self.origins.check(headers), rule) {
            (OriginCheck::Allowed, _) => true,
            (OriginCheck::Missing, OriginRule::RefuseForeign) => !cross_site(headers),
            (OriginCheck::Missing, OriginRule::Required) | (OriginCheck::Refused, _) => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(ApiError::bad_origin())
        }
    }

    /// How many admitted connections are open.
    pub fn open(&self) -> usize {
        self.slots.in_use()
    }

    /// Waits until every admitted connection has ended, or `within` passes; returns whether
    /// they all ended.
    pub async fn wait_all_closed(&self, within: Duration) -> bool {
        self.slots.wait_empty(within).await
    }
}

/// A browser's own word that another site made this request (`<img>`, `<script>` or a
/// fetch on a foreign page send no `Origin` on GET, but they send this).
pub fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .is_some_and(|value| value.as_bytes() == b"cross-site")
}

fn refusal(full: Full) -> ApiError {
    crate::telemetry::refused(match full {
        Full::Total => "streams_full",
        Full::PerAddress => "streams_per_ip",
    });
    let mut error = match full {
        Full::Total => ApiError::overloaded(),
        Full::PerAddress => ApiError::new(
            ErrorCode::RateLimited,
            "Too many open connections from your address; close some and retry.",
        ),
    };
    error.retry_after = Some(RETRY_AFTER_SECS);
    error
}
