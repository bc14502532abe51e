//! Full-text search on PostgreSQL: the `words` tsvector of each message (generated from its
//! text, so edits and deletions change it in the same statement) and its GIN index.

use super::{visible_to, PgDb, COLUMNS};
use crate::store::{search::search_terms, MessageRecord, StoreError};

impl PgDb {
    /// Messages with every word (as a prefix) in the rooms the user may read, newest first,
    /// with their rooms' slugs.
    pub async fn search_messages(
        &self,
        words: &[String],
        user_id: i64,
        slug: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(MessageRecord, String)>, StoreError> {
        let Some(query) = tsquery(words) else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM messages
              WHERE words @@ to_tsquery('simple', $1)
                AND deleted_at IS NULL
                AND room_id IN (SELECT r.id FROM rooms r
                                 WHERE {visible} AND ($3::TEXT IS NULL OR r.slug = $3))
              ORDER BY id DESC LIMIT $4",
            visible = visible_to("$2"),
        );
        let rows = sqlx::query_as::<_, MessageRecord>(&sql)
            .bind(&query)
            .bind(user_id)
            .bind(slug)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let room_ids: Vec<i64> = rows.iter().map(|m| m.room_id).collect();
        let slugs: std::collections::HashMap<i64, String> =
            sqlx::query_as::<_, (i64, String)>("SELECT id, slug FROM rooms WHERE id = ANY($1)")
                .bind(&room_ids)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .collect();
        Ok(rows
            .into_iter()
            .filter_map(|m| slugs.get(&m.room_id).cloned().map(|slug| (m, slug)))
            .collect())
    }
}

/// The tsquery for `words`: every piece as a quoted prefix (`'lunc':*`), all required. The
/// pieces hold letters, digits and marks only, so quoting them is enough.
fn tsquery(words: &[String]) -> Option<String> {
    let terms: Vec<String> = search_terms(words)
        .into_iter()
        .map(|piece| format!("'{}':*", piece.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" & "))
}
