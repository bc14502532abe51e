//! Reactions: the emoji on each message (read with every message row, see
//! `messages::COLUMNS`) and the toggle that changes them — a room event with the room's next
//! seq, written in the same transaction as the change, like edits and deletions.

use super::events::Refusal;
use super::{events::record_event, sqlite::SqliteDb, RoomHead, StoreError};

/// One user's emoji on a message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Reacted {
    /// The emoji.
    pub emoji: String,
    /// Who put it there.
    pub user_id: i64,
    /// Their display name now.
    pub user_name: String,
}

/// Every reaction on one message, in the order they were put on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reactions(pub Vec<Reacted>);

impl TryFrom<String> for Reactions {
    type Error = serde_json::Error;

    /// Reads the `[[emoji, user id, name], …]` array the message columns aggregate.
    fn try_from(json: String) -> Result<Self, Self::Error> {
        if json == "[]" {
            return Ok(Self::default());
        }
        Ok(Self(serde_json::from_str(&json)?))
    }
}

/// What an accepted toggle did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReactionChange {
    /// The event's seq.
    pub seq: i64,
    /// True: the emoji was put on; false: taken off.
    pub on: bool,
    /// The reacting user's display name.
    pub user_name: String,
}

/// How many emoji a message may carry, and one user may put on one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReactionLimits {
    /// Different emoji per message.
    pub distinct: usize,
    /// Emoji per user and message.
    pub per_user: usize,
}

impl SqliteDb {
    /// Puts `emoji` (already validated) on message `message_id` of `room_id` for `user_id`,
    /// or takes it off if they had put it there. Refused for a missing or deleted message,
    /// or past `limits`; a refusal changes nothing and uses no seq.
    pub async fn toggle_reaction(
        &self,
        room_id: i64,
        message_id: i64,
        user_id: i64,
        emoji: &str,
        limits: ReactionLimits,
        at: i64,
    ) -> Result<Result<ReactionChange, Refusal>, StoreError> {
        let (mut tx, RoomHead { seq, .. }, _) =
            match self.open_change(room_id, message_id, |_| true).await? {
                Ok(opened) => opened,
                Err(refusal) => return Ok(Err(refusal)),
            };
        let taken_off =
            sqlx::query("DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?")
                .bind(message_id)
                .bind(emoji)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
        if !taken_off {
            let (distinct, mine, known) = sqlx::query_as::<_, (i64, i64, i64)>(
                "SELECT count(DISTINCT emoji),
                        coalesce(sum(user_id = ?), 0),
                        coalesce(max(emoji = ?), 0)
                   FROM reactions WHERE message_id = ?",
            )
            .bind(user_id)
            .bind(emoji)
            .bind(message_id)
            .fetch_one(&mut *tx)
            .await?;
            if known == 0 && distinct >= limits.distinct as i64 {
                return Ok(Err(Refusal::TooManyEmoji));
            }
            if mine >= limits.per_user as i64 {
                return Ok(Err(Refusal::TooManyOfYours));
            }
            sqlx::query(
                "INSERT INTO reactions (message_id, emoji, user_id, at) VALUES (?, ?, ?, ?)",
            )
            .bind(message_id)
            .bind(emoji)
            .bind(user_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        let kind = if taken_off { "unreact" } else { "react" };
        record_event(
            &mut tx,
            room_id,
            seq,
            (kind, message_id),
            at,
            Some((user_id, emoji)),
        )
        .await?;
        let user_name: String = sqlx::query_scalar("SELECT display_name FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(ReactionChange {
            seq,
            on: !taken_off,
            user_name,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::{test_support::temp_store, Deleter, NewMessage, RoomEvent};

    const LIMITS: ReactionLimits = ReactionLimits {
        distinct: 3,
        per_user: 2,
    };

    async fn post(store: &Store, room: i64, author: i64) -> i64 {
        let draft = NewMessage {
            room_id: room,
            author_id: author,
            author_name: "ann".into(),
            text: "hello".into(),
            client_id: None,
            sent_at: 1,
            reply_to: None,
        };
        store.insert_messages(&[&draft]).await.expect("insert")[0]
            .record()
            .id
    }

    async fn toggle(
        store: &Store,
        room: i64,
        id: i64,
        user: i64,
        emoji: &str,
    ) -> Result<ReactionChange, Refusal> {
        store
            .toggle_reaction(room, id, user, emoji, LIMITS, 2)
            .await
            .expect("store")
    }

    #[tokio::test]
    async fn a_toggle_puts_on_takes_off_and_is_read_with_the_message() {
        let (store, _dir) = temp_store().await;
        let ann = store.create_guest("ann").await.expect("guest").id;
        let bo = store.create_guest("bo").await.expect("guest").id;
        let room = store.create_room("r", "R", None).await.expect("room").id;
        let id = post(&store, room, ann).await;
        assert!(toggle(&store, room, id, bo, "👍").await.expect("on").on);
        assert!(toggle(&store, room, id, ann, "👍").await.expect("on").on);
        let off = toggle(&store, room, id, bo, "👍").await.expect("off");
        assert!(!off.on);
        assert_eq!(off.seq, 4, "every toggle is a room event");
        let message = store.message(room, id).await.expect("read").expect("there");
        assert_eq!(
            message.reactions.0,
            [Reacted {
                emoji: "👍".into(),
                user_id: ann,
                user_name: "ann".into()
            }]
        );
        let events = store
            .events_between(room, 1, i64::MAX, 10)
            .await
            .expect("replay");
        let toggles: Vec<(bool, i64)> = events
            .iter()
            .filter_map(|e| match e {
                RoomEvent::Reaction { on, user_id, .. } => Some((*on, *user_id)),
                _ => None,
            })
            .collect();
        assert_eq!(toggles, [(true, bo), (true, ann), (false, bo)]);
    }

    #[tokio::test]
    async fn limits_refuse_without_using_a_seq() {
        let (store, _dir) = temp_store().await;
        let ann = store.create_guest("ann").await.expect("guest").id;
        let bo = store.create_guest("bo").await.expect("guest").id;
        let room = store.create_room("r", "R", None).await.expect("room").id;
        let id = post(&store, room, ann).await;
        toggle(&store, room, id, ann, "👍").await.expect("1");
        toggle(&store, room, id, ann, "🎉").await.expect("2");
        assert_eq!(
            toggle(&store, room, id, ann, "👀").await,
            Err(Refusal::TooManyOfYours)
        );
        toggle(&store, room, id, bo, "👀").await.expect("3");
        assert_eq!(
            toggle(&store, room, id, bo, "🚀").await,
            Err(Refusal::TooManyEmoji)
        );
        toggle(&store, room, id, bo, "👍")
            .await
            .expect("an emoji already there is fine");
        assert_eq!(store.room_head(room).await.expect("head").seq, 5);
        // A deleted message takes no reactions, and loses the ones it had.
        store
            .delete_message(room, id, Deleter::Member(ann), 3)
            .await
            .expect("delete")
            .expect("allowed");
        assert_eq!(
            toggle(&store, room, id, bo, "🎉").await,
            Err(Refusal::NoSuchMessage)
        );
        let message = store.message(room, id).await.expect("read").expect("there");
        assert!(message.reactions.0.is_empty());
    }
}
