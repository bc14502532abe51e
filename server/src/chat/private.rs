//! Private rooms and direct messages: a private room is visible only to its members (the
//! creator and the accounts invited); a direct-message room is the one private room of two
//! users, opened again rather than duplicated. Visibility itself is enforced where every
//! path resolves a room (`ChatService::room`) and in the room list's query.

use super::{lobby, ChatError, ChatService, Room};
use crate::{auth::Identity, store::StoreError};
use app::{
    domain::{Invalid, RoomSlug, RoomTitle, Username},
    protocol::MAX_INVITED,
};

/// The slugs of direct-message rooms begin so; nobody may create a room named like one.
pub(super) const DIRECT_PREFIX: &str = "dm-";

impl ChatService {
    /// Creates a room visible only to `owner` and the accounts named in `members`. Its slug
    /// is the one asked for with a random suffix (`plans` → `plans-k3x9qz`): slugs are one
    /// namespace, and a public room's "slug taken" must not reveal a private room's name.
    pub async fn create_private_room(
        &self,
        owner: &Identity,
        slug: &str,
        title: &str,
        members: &[String],
    ) -> Result<Room, ChatError> {
        if members.len() > MAX_INVITED {
            return Err(ChatError::Invalid(Invalid {
                field: "members",
                message: format!("Invite at most {MAX_INVITED} people at once."),
            }));
        }
        let mut ids = Vec::with_capacity(members.len());
        for name in members {
            let (id, _) = self.account(name, "members").await?;
            ids.push(id);
        }
        let slug = private_slug(slug)?;
        self.create_room_with(owner, &slug, title, Some(&ids)).await
    }

    /// The direct-message room of `who` and the account `username`, created on first use;
    /// whether it was created now.
    pub async fn open_direct(
        &self,
        who: &Identity,
        username: &str,
    ) -> Result<(Room, bool), ChatError> {
        let (other, other_name) = self.account(username, "username").await?;
        if other == who.user_id {
            return Err(ChatError::Invalid(Invalid {
                field: "username",
                message: "A direct conversation needs someone else.".to_owned(),
            }));
        }
        let (lo, hi) = (who.user_id.min(other), who.user_id.max(other));
        let slug = RoomSlug::parse(&format!("{DIRECT_PREFIX}{lo}-{hi}"))?;
        let title = direct_title(&who.name, &other_name)?;
        let (record, created) = self
            .inner
            .store
            .open_direct_room((who.user_id, other), slug.as_str(), title.as_str())
            .await?;
        if created {
            self.announce_room(slug.as_str()).await;
        }
        Ok((Room::from_record(record, slug), created))
    }

    /// Adds the account `username` to the private room `slug` (its owner only).
    pub async fn invite(&self, by: &Identity, slug: &str, username: &str) -> Result<(), ChatError> {
        let room = self.room(slug, Some(by)).await?;
        if !room.private {
            return Err(ChatError::Invalid(Invalid {
                field: "slug",
                message: "Everyone can already see a public room.".to_owned(),
            }));
        }
        if room.owner_id != Some(by.user_id) {
            return Err(ChatError::Forbidden(
                "Only the room's owner can invite people to it.",
            ));
        }
        let (id, _) = self.account(username, "username").await?;
        self.inner.store.add_room_member(room.id, id).await?;
        self.announce_room(room.slug.as_str()).await;
        Ok(())
    }

    /// The account named `username`: its id and display name (`field` names the input in
    /// the refusal when there is none).
    async fn account(
        &self,
        username: &str,
        field: &'static str,
    ) -> Result<(i64, String), ChatError> {
        let unknown = || {
            ChatError::Invalid(Invalid {
                field,
                message: format!("There is no account named '{username}'."),
            })
        };
        let name = Username::parse(username).map_err(|_| unknown())?;
        match self.inner.store.account_by_key(&name.key()).await? {
            Some((user, _)) => Ok((user.id, user.display_name)),
            None => Err(unknown()),
        }
    }

    /// Creates a room owned by `owner` (private to `members` and the owner when given),
    /// within the owner's room quota, and tells the lobby.
    pub(super) async fn create_room_with(
        &self,
        owner: &Identity,
        slug: &str,
        title: &str,
        members: Option<&[i64]>,
    ) -> Result<Room, ChatError> {
        let slug = RoomSlug::parse(slug)?;
        if slug.as_str().starts_with(DIRECT_PREFIX) {
            return Err(ChatError::Invalid(Invalid {
                field: "slug",
                message: format!(
                    "Slugs beginning with '{DIRECT_PREFIX}' are kept for direct messages."
                ),
            }));
        }
        let title = RoomTitle::parse(title)?;
        self.check_room_quota(owner).await?;
        let record = self
            .inner
            .store
            .create_room_with(slug.as_str(), title.as_str(), Some(owner.user_id), members)
            .await
            .map_err(|e| match e {
                StoreError::Duplicate => ChatError::RoomExists(slug.to_string()),
                other => ChatError::Store(other),
            })?;
        self.announce_room(slug.as_str()).await;
        Ok(Room::from_record(record, slug))
    }

    /// Tells every lobby that a room appeared or changed (each reads it as its viewer may
    /// see it, so a private room reaches its members alone).
    pub(super) async fn announce_room(&self, slug: &str) {
        let note = lobby::Note::Changed {
            slug: slug.to_owned(),
        };
        lobby::publish(self.inner.layer.as_ref(), &note).await;
    }
}

/// `slug` with a random suffix of six letters and digits (cut to fit a slug's length).
fn private_slug(slug: &str) -> Result<String, ChatError> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let slug = RoomSlug::parse(slug)?;
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|_| ChatError::NoRandomness)?;
    let suffix: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    let keep = app::domain::MAX_SLUG_LEN - suffix.len() - 1;
    let stem: String = slug.as_str().chars().take(keep).collect();
    Ok(format!("{}-{suffix}", stem.trim_end_matches('-')))
}

/// "ann & bo": a direct-message room's title (two display names of at most 32 characters
/// always make a valid one).
fn direct_title(a: &str, b: &str) -> Result<RoomTitle, Invalid> {
    RoomTitle::parse(&format!("{a} & {b}"))
}
