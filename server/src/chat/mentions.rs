//! Mentions reach the people they name. After a commit, every `@username` in a new message
//! that names an account able to read the room becomes a `mention` frame on that user's own
//! group — every tab, transport and process of theirs hears of it, and the browser turns it
//! into a notification when the tab is hidden. Authors are never told of their own
//! mentions, and a private room's mentions reach its members only.
//!
//! The badge counts in the sidebar come from the lobby feed; this is the push that lets a
//! user who is looking elsewhere know at once.

use super::encode;
use crate::{
    auth::user_group,
    layer::{ChannelLayer, Delivery},
    store::{Inserted, RoomWithStats, Store, StoreError},
};
use app::protocol::{mentioned_usernames, LastMessage, ServerFrame};
use std::collections::HashMap;

/// Most distinct people one message notifies: a message that names hundreds is noise, and
/// must not cost hundreds of deliveries.
pub const MAX_MENTIONS_NOTIFIED: usize = 20;

/// One stored message that names someone, with what its notification needs.
pub(super) struct Mentioning {
    room: String,
    title: String,
    /// A private room's members (`None`: public, any account may read it).
    members: Option<Vec<i64>>,
    author_id: i64,
    /// The lower-cased usernames it names (at most [`MAX_MENTIONS_NOTIFIED`]).
    keys: Vec<String>,
    message: LastMessage,
}

/// The new messages of a batch that mention anyone (usually none: no allocation then).
pub(super) fn collect(
    rooms: &[RoomWithStats],
    outcomes: &[Result<Inserted, StoreError>],
) -> Vec<Mentioning> {
    outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Ok(Inserted::New(record)) => Some(record),
            _ => None,
        })
        .filter_map(|record| {
            let room = rooms.iter().find(|room| room.id == record.room_id)?;
            let mut keys = mentioned_usernames(&record.text);
            keys.truncate(MAX_MENTIONS_NOTIFIED);
            (!keys.is_empty()).then(|| Mentioning {
                room: room.slug.clone(),
                title: room.title.clone(),
                members: room.members.clone(),
                author_id: record.author_id,
                keys,
                message: super::wire::last_message_of(record),
            })
        })
        .collect()
}

/// Resolves the batch's usernames in one read and publishes each `mention` frame. The
/// messages are stored whatever happens here: a failure is logged, and the sidebar's
/// mention badge (counted from the store) still shows it.
pub(super) async fn deliver(store: &Store, layer: &dyn ChannelLayer, batch: Vec<Mentioning>) {
    if batch.is_empty() {
        return;
    }
    let mut keys: Vec<String> = batch.iter().flat_map(|m| m.keys.iter().cloned()).collect();
    keys.sort_unstable();
    keys.dedup();
    let accounts: HashMap<String, i64> = match store.accounts_by_keys(&keys).await {
        Ok(rows) => rows.into_iter().map(|(id, key)| (key, id)).collect(),
        Err(error) => {
            tracing::warn!(%error, "resolving mentions failed; no mention frames for this batch");
            return;
        }
    };
    for mentioning in batch {
        let readers = mentioning
            .keys
            .iter()
            .filter_map(|key| accounts.get(key).copied())
            .filter(|&id| id != mentioning.author_id)
            .filter(|id| mentioning.members.as_ref().is_none_or(|m| m.contains(id)))
            .collect::<Vec<_>>();
        if readers.is_empty() {
            continue;
        }
        let frame = encode(&ServerFrame::Mention {
            room: mentioning.room,
            title: mentioning.title,
            message: mentioning.message,
        });
        for user_id in readers {
            if let Err(error) = layer
                .group_send(&user_group(user_id), Delivery::Frame(frame.clone()))
                .await
            {
                tracing::debug!(%error, user_id, "publishing a mention failed");
            }
        }
    }
}
