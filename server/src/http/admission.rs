//! Connection admission, once for every transport that holds a connection open (WebSocket,
//! SSE, a waiting long poll): the Origin rule, the room, and a connection slot.
//!
//! The slots cap how many such connections the process holds, and let shutdown wait for
//! every one of them to say goodbye.

use super::{
    error::ApiError,
    origin::{OriginCheck, OriginPolicy},
};
use crate::chat::{ChatService, Room};
use axum::http::HeaderMap;
use std::{sync::Arc, time::Duration};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    pub slot: OwnedSemaphorePermit,
}

/// The connection gate. Cheap to clone.
#[derive(Clone)]
pub struct Admission {
    /// Which origins may connect.
    origins: Arc<OriginPolicy>,
    /// One permit per open connection.
    slots: Arc<Semaphore>,
    /// How many permits there are.
    max: u32,
}

impl Admission {
    /// A gate for at most `max` connections.
    pub fn new(origins: Arc<OriginPolicy>, max: usize) -> Self {
        let max = u32::try_from(max)
            .unwrap_or(u32::MAX)
            .min(Semaphore::MAX_PERMITS as u32);
        Self {
            origins,
            slots: Arc::new(Semaphore::new(max as usize)),
            max,
        }
    }

    /// The origin policy (state-changing requests check it too).
    pub fn origins(&self) -> &Arc<OriginPolicy> {
        &self.origins
    }

    /// Checks the origin, resolves the room and takes a slot, in that order (a foreign page
    /// learns nothing about rooms, and a refused request holds no slot).
    pub async fn admit(
        &self,
        chat: &ChatService,
        headers: &HeaderMap,
        slug: &str,
        rule: OriginRule,
    ) -> Result<Admitted, ApiError> {
        let allowed = match (self.origins.check(headers), rule) {
            (OriginCheck::Allowed, _) => true,
            (OriginCheck::Missing, OriginRule::RefuseForeign) => true,
            (OriginCheck::Missing, OriginRule::Required) | (OriginCheck::Refused, _) => false,
        };
        if !allowed {
            return Err(ApiError::bad_origin());
        }
        let room = chat.room(slug).await?;
        let slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::overloaded())?;
        Ok(Admitted { room, slot })
    }

    /// Waits until every admitted connection has ended, or `within` passes; returns whether
    /// they all ended.
    pub async fn wait_all_closed(&self, within: Duration) -> bool {
        let all = self.slots.acquire_many(self.max);
        matches!(tokio::time::timeout(within, all).await, Ok(Ok(_)))
    }
}
