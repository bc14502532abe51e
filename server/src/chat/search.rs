//! Search: the newest messages with every word of a query, over the rooms the viewer may
//! read (one room when asked), as the viewer sees them.

use super::{to_wire_for, ChatError, ChatService};
use crate::{auth::Identity, store::MAX_SEARCH_WORDS};
use app::{domain::Invalid, protocol::ChatMessage};

/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

impl ChatService {
    /// Up to `limit` (1–100) messages matching every word of `query`, newest first, in the
    /// rooms `viewer` may read, or only in room `room` (not found for a non-member).
    pub async fn search(
        &self,
        viewer: Option<&Identity>,
        query: &str,
        room: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        let query = query.trim();
        if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
            return Err(ChatError::Invalid(Invalid {
                field: "q",
                message: format!("Search for 1 to {MAX_QUERY_CHARS} characters."),
            }));
        }
        let words: Vec<String> = query
            .split_whitespace()
            .take(MAX_SEARCH_WORDS)
            .map(str::to_owned)
            .collect();
        let room = match room.filter(|slug| !slug.is_empty()) {
            Some(slug) => Some(self.room(slug, viewer).await?),
            None => None,
        };
        let viewer_id = viewer.map(|v| v.user_id);
        let found = self
            .inner
            .store
            .search_messages(
                &words,
                viewer_id.unwrap_or(0),
                room.as_ref().map(|r| r.slug.as_str()),
                limit.clamp(1, 100),
            )
            .await?;
        Ok(found
            .iter()
            .map(|(record, slug)| to_wire_for(record, slug, viewer_id))
            .collect())
    }
}
