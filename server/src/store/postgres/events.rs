//! Edits, deletions and reactions on PostgreSQL, and the replay of a room's events after a
//! seq. Each change takes the room's next seq with `UPDATE rooms … RETURNING`: the row lock
//! it takes serialises it with the message batches of every process, and a refused change
//! rolls the seq back with its transaction.

use super::{PgDb, COLUMNS};
use crate::store::{
    events::{merge_events, ChangeRow},
    Changed, Deleter, EarlierText, MessageRecord, ReactionChange, ReactionLimits, Refusal,
    RoomEvent, RoomHead, StoreError,
};
use sqlx::{Postgres, Transaction};
use std::collections::HashMap;

/// A change under way: its transaction (holding the room's lock), the seq it takes and the
/// message as it stood.
type OpenChange = (Transaction<'static, Postgres>, RoomHead, MessageRecord);

impl PgDb {
    /// Begins a change of a live message: takes the room's next seq and reads the message;
    /// a refusal rolls back (no seq used).
    async fn open_change(
        &self,
        room_id: i64,
        message_id: i64,
        may: impl FnOnce(&MessageRecord) -> bool,
    ) -> Result<Result<OpenChange, Refusal>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let head = sqlx::query_as::<_, (i64, i64)>(
            "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1
             RETURNING last_message_id, last_seq",
        )
        .bind(room_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, seq)) = head else {
            return Ok(Err(Refusal::NoSuchMessage));
        };
        let before = sqlx::query_as::<_, MessageRecord>(&format!(
            "SELECT {COLUMNS} FROM messages
              WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL"
        ))
        .bind(message_id)
        .bind(room_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(before) = before else {
            return Ok(Err(Refusal::NoSuchMessage));
        };
        if !may(&before) {
            return Ok(Err(Refusal::NotYours));
        }
        Ok(Ok((tx, RoomHead { id, seq }, before)))
    }

    /// Replaces the text of a message its author edits; keeps the earlier text.
    pub async fn edit_message(
        &self,
        room_id: i64,
        message_id: i64,
        editor_id: i64,
        text: &str,
        at: i64,
    ) -> Result<Result<Changed, Refusal>, StoreError> {
        let (mut tx, head, before) = match self
            .open_change(room_id, message_id, |m| m.author_id == editor_id)
            .await?
        {
            Ok(opened) => opened,
            Err(refusal) => return Ok(Err(refusal)),
        };
        sqlx::query("INSERT INTO message_edits (message_id, text, edited_at) VALUES ($1, $2, $3)")
            .bind(message_id)
            .bind(&before.text)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE messages SET text = $1, edited_at = $2 WHERE id = $3")
            .bind(text)
            .bind(at)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        record_event(&mut tx, room_id, head.seq, ("edit", message_id), at, None).await?;
        tx.commit().await?;
        Ok(Ok(Changed {
            seq: head.seq,
            newest_message: head.id,
            message: MessageRecord {
                text: text.to_owned(),
                edited_at: Some(at),
                ..before
            },
        }))
    }

    /// Deletes a message: its text, earlier texts and reactions go; a tombstone stays.
    pub async fn delete_message(
        &self,
        room_id: i64,
        message_id: i64,
        by: Deleter,
        at: i64,
    ) -> Result<Result<Changed, Refusal>, StoreError> {
        let may = |m: &MessageRecord| match by {
            Deleter::Owner(_) => true,
            Deleter::Member(user) => m.author_id == user,
        };
        let (mut tx, head, before) = match self.open_change(room_id, message_id, may).await? {
            Ok(opened) => opened,
            Err(refusal) => return Ok(Err(refusal)),
        };
        for statement in [
            "DELETE FROM message_edits WHERE message_id = $1",
            "DELETE FROM reactions WHERE message_id = $1",
        ] {
            sqlx::query(statement)
                .bind(message_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE messages SET text = '', deleted_at = $1 WHERE id = $2")
            .bind(at)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        record_event(&mut tx, room_id, head.seq, ("delete", message_id), at, None).await?;
        tx.commit().await?;
        Ok(Ok(Changed {
            seq: head.seq,
            newest_message: head.id,
            message: MessageRecord {
                text: String::new(),
                deleted_at: Some(at),
                ..before
            },
        }))
    }

    /// Puts an emoji on a message, or takes it off, within the limits.
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
        let taken_off = sqlx::query(
            "DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3",
        )
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
                        count(*) FILTER (WHERE user_id = $1),
                        count(*) FILTER (WHERE emoji = $2)
                   FROM reactions WHERE message_id = $3",
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
                "INSERT INTO reactions (message_id, emoji, user_id, at) VALUES ($1, $2, $3, $4)",
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
        let user_name: String = sqlx::query_scalar("SELECT display_name FROM users WHERE id = $1")
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

    /// The earlier texts of a message, oldest first.
    pub async fn earlier_texts(&self, message_id: i64) -> Result<Vec<EarlierText>, StoreError> {
        Ok(sqlx::query_as::<_, EarlierText>(
            "SELECT text, edited_at FROM message_edits WHERE message_id = $1
             ORDER BY edited_at, id",
        )
        .bind(message_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// One message of a room, deleted or not.
    pub async fn message(
        &self,
        room_id: i64,
        message_id: i64,
    ) -> Result<Option<MessageRecord>, StoreError> {
        Ok(sqlx::query_as::<_, MessageRecord>(&format!(
            "SELECT {COLUMNS} FROM messages WHERE id = $1 AND room_id = $2"
        ))
        .bind(message_id)
        .bind(room_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Up to `limit` events with `after < seq <= until`, in seq order: messages as they stand
    /// now, edits (a message deleted since replays as deleted), deletions, reactions.
    pub async fn events_between(
        &self,
        room_id: i64,
        after: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<RoomEvent>, StoreError> {
        let limit = i64::from(limit);
        let messages = sqlx::query_as::<_, MessageRecord>(&format!(
            "SELECT {COLUMNS} FROM messages WHERE room_id = $1 AND seq > $2 AND seq <= $3
             ORDER BY seq LIMIT $4"
        ))
        .bind(room_id)
        .bind(after)
        .bind(until)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let changes = sqlx::query_as::<_, ChangeRow>(
            "SELECT e.seq, e.kind, e.message_id, e.emoji, e.user_id, u.display_name AS user_name
               FROM room_events e LEFT JOIN users u ON u.id = e.user_id
              WHERE e.room_id = $1 AND e.seq > $2 AND e.seq <= $3
              ORDER BY e.seq LIMIT $4",
        )
        .bind(room_id)
        .bind(after)
        .bind(until)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let edited_ids: Vec<i64> = changes
            .iter()
            .filter(|change| change.kind == "edit")
            .map(|change| change.message_id)
            .collect();
        let edited: HashMap<i64, MessageRecord> = if edited_ids.is_empty() {
            HashMap::new()
        } else {
            sqlx::query_as::<_, MessageRecord>(&format!(
                "SELECT {COLUMNS} FROM messages WHERE id = ANY($1)"
            ))
            .bind(&edited_ids)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|message| (message.id, message))
            .collect()
        };
        Ok(merge_events(messages, changes, &edited, limit as usize))
    }
}

/// Records event `seq` of the room; a reaction also names who and which emoji.
async fn record_event(
    tx: &mut Transaction<'_, Postgres>,
    room_id: i64,
    seq: i64,
    (kind, message_id): (&str, i64),
    at: i64,
    reaction: Option<(i64, &str)>,
) -> Result<(), StoreError> {
    let (user_id, emoji) = reaction.unzip();
    sqlx::query(
        "INSERT INTO room_events (room_id, seq, kind, message_id, at, user_id, emoji)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(room_id)
    .bind(seq)
    .bind(kind)
    .bind(message_id)
    .bind(at)
    .bind(user_id)
    .bind(emoji)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
