//! The store contract, run against both adapters: an SQLite file and a real PostgreSQL
//! (`PARLOR_TEST_POSTGRES_URL`, started by `scripts/test.sh`; each test gets a database of
//! its own). The same assertions on both: what the services rely on must not depend on the
//! backend.

use parlor::store::{
    Database, Deleter, Inserted, NewMessage, ReactionLimits, Refusal, RoomEvent, Store, StoreError,
};
use std::{
    ffi::OsStr,
    sync::atomic::{AtomicU32, Ordering},
};

/// A fresh, empty PostgreSQL database on the test server; its URL.
pub async fn fresh_postgres_database() -> String {
    let admin = std::env::var("PARLOR_TEST_POSTGRES_URL").expect(
        "PARLOR_TEST_POSTGRES_URL must name a PostgreSQL database the tests may create \
         databases from (scripts/test.sh starts one)",
    );
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "parlor_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let pool = sqlx::PgPool::connect(&admin)
        .await
        .expect("connect to the test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create a test database");
    pool.close().await;
    let mut url = url::Url::parse(&admin).expect("a URL");
    url.set_path(&name);
    url.to_string()
}

/// One backend under test, and what keeps it alive.
pub struct Backend {
    pub database: Database,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self {
            database: Database::Sqlite(dir.path().join("contract.db")),
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Self {
        Self {
            database: Database::Postgres(fresh_postgres_database().await),
            _dir: None,
        }
    }

    /// A new handle on the database (as another process would open it).
    pub async fn open(&self) -> Store {
        Store::open_and_migrate(&self.database)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", self.database))
    }
}

/// Runs one contract check on each backend, as two tests.
macro_rules! on_both_backends {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $check() { super::$check(super::Backend::sqlite().await).await; })*
        }
        mod postgres {
            $(#[tokio::test] async fn $check() { super::$check(super::Backend::postgres().await).await; })*
        }
    };
}

on_both_backends!(
    seqs_have_no_gaps_and_retries_are_stored_once,
    edits_deletions_and_reactions_are_numbered_events,
    search_finds_live_text_only,
    private_rooms_and_direct_messages,
    accounts_reads_and_mentions,
    concurrent_writers_on_two_handles_leave_no_gap_and_no_duplicate,
    one_key_raced_from_two_handles_is_stored_once,
);

fn draft(room_id: i64, author_id: i64, text: &str, client_id: Option<&str>) -> NewMessage {
    NewMessage {
        room_id,
        author_id,
        author_name: format!("user{author_id}"),
        text: text.to_owned(),
        client_id: client_id.map(str::to_owned),
        sent_at: 1_700_000_000_000,
        reply_to: None,
    }
}

async fn post(store: &Store, room: i64, author: i64, text: &str) -> i64 {
    let drafts = [draft(room, author, text, None)];
    let refs: Vec<&NewMessage> = drafts.iter().collect();
    store.insert_messages(&refs).await.expect("insert")[0]
        .record()
        .id
}

async fn seqs_have_no_gaps_and_retries_are_stored_once(backend: Backend) {
    let store = backend.open().await;
    let ann = store.create_guest("ann").await.expect("guest");
    let a = store.create_room("a", "A", None).await.expect("room a");
    let b = store.create_room("b", "B", None).await.expect("room b");
    let first = [
        draft(a.id, ann.id, "a1", None),
        draft(b.id, ann.id, "b1", Some("k1")),
        draft(a.id, ann.id, "a2", Some("k2")),
        draft(a.id, ann.id, "a2 again", Some("k2")),
    ];
    let written = store
        .write_messages(first.to_vec())
        .await
        .outcomes
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .expect("batch");
    let seqs: Vec<(&str, i64)> = written
        .iter()
        .map(|i| (i.record().text.as_str(), i.record().seq))
        .collect();
    assert_eq!(seqs, [("a1", 1), ("b1", 1), ("a2", 2), ("a2", 2)]);
    assert!(
        matches!(written[3], Inserted::Duplicate(_)),
        "a retry in the same batch"
    );
    assert_eq!(written[2].record().id, written[3].record().id);
    assert!(
        written[0].record().id < written[2].record().id,
        "ids grow with seqs"
    );

    // A retry in a later batch gets the earlier row; a message into a deleted room fails
    // alone.
    let gone = store.create_room("gone", "Gone", None).await.expect("room");
    assert!(store.delete_room(gone.id).await.expect("delete"));
    let second = store
        .write_messages(vec![
            draft(a.id, ann.id, "a2 once more", Some("k2")),
            draft(gone.id, ann.id, "nowhere", None),
            draft(a.id, ann.id, "a3", None),
        ])
        .await;
    assert!(matches!(&second.outcomes[0], Ok(Inserted::Duplicate(r)) if r.text == "a2"));
    assert!(second.outcomes[1]
        .as_ref()
        .is_err_and(StoreError::is_constraint));
    assert!(matches!(&second.outcomes[2], Ok(Inserted::New(r)) if r.seq == 3));
    let changed: Vec<(String, i64)> = second
        .rooms
        .iter()
        .map(|r| (r.slug.clone(), r.message_count))
        .collect();
    assert_eq!(
        changed,
        [("a".to_owned(), 3)],
        "the room list's new figures"
    );

    let head = store.room_head(a.id).await.expect("head");
    assert_eq!(head.seq, 3);
    let history = store
        .messages_before(a.id, None, 10)
        .await
        .expect("history");
    let texts: Vec<&str> = history.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["a1", "a2", "a3"]);
    assert_eq!(history.last().map(|m| m.id), Some(head.id));
    let after = store
        .messages_after(a.id, history[0].id, 10)
        .await
        .expect("after");
    assert_eq!(after.len(), 2);
    let older = store
        .messages_before(a.id, Some(history[2].id), 1)
        .await
        .expect("page");
    assert_eq!(older[0].text, "a2");
    let stats = store.room_stats(a.id).await.expect("stats").expect("room");
    assert_eq!(stats.message_count, 3);
    assert_eq!(stats.last_message_at, Some(1_700_000_000_000));
    let duplicate = store.create_room("a", "Again", None).await;
    assert!(
        matches!(duplicate, Err(StoreError::Duplicate)),
        "{duplicate:?}"
    );
}

async fn edits_deletions_and_reactions_are_numbered_events(backend: Backend) {
    let store = backend.open().await;
    let ann = store.create_guest("ann").await.expect("ann");
    let bob = store.create_guest("bob").await.expect("bob");
    let room = store
        .create_room("ev", "Events", Some(ann.id))
        .await
        .expect("room");
    let first = post(&store, room.id, ann.id, "hello").await;
    let second = post(&store, room.id, bob.id, "oops secret").await;
    let limits = ReactionLimits {
        distinct: 2,
        per_user: 2,
    };

    assert_eq!(
        store
            .edit_message(room.id, first, bob.id, "not mine", 1)
            .await
            .expect("edit"),
        Err(Refusal::NotYours)
    );
    let edited = store
        .edit_message(room.id, first, ann.id, "hello, world", 2)
        .await
        .expect("edit")
        .expect("allowed");
    assert_eq!(edited.seq, 3, "a refused change takes no seq");
    let reacted = store
        .toggle_reaction(room.id, first, bob.id, "👍", limits, 3)
        .await
        .expect("react")
        .expect("allowed");
    assert_eq!(
        (reacted.seq, reacted.on, reacted.user_name.as_str()),
        (4, true, "bob")
    );
    store
        .toggle_reaction(room.id, first, bob.id, "🎉", limits, 4)
        .await
        .expect("react")
        .expect("allowed");
    assert_eq!(
        store
            .toggle_reaction(room.id, first, ann.id, "🚀", limits, 5)
            .await
            .expect("react"),
        Err(Refusal::TooManyEmoji)
    );
    let off = store
        .toggle_reaction(room.id, first, bob.id, "🎉", limits, 6)
        .await
        .expect("unreact")
        .expect("allowed");
    assert_eq!((off.seq, off.on), (6, false));
    let deleted = store
        .delete_message(room.id, second, Deleter::Owner(ann.id), 7)
        .await
        .expect("delete")
        .expect("the owner may");
    assert_eq!(deleted.seq, 7);
    assert_eq!(
        store
            .delete_message(room.id, second, Deleter::Owner(ann.id), 8)
            .await
            .expect("again"),
        Err(Refusal::NoSuchMessage)
    );

    let events = store
        .events_between(room.id, 0, i64::MAX, 100)
        .await
        .expect("replay");
    let seqs: Vec<i64> = events.iter().map(RoomEvent::seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 7], "every seq once, in order");
    match &events[0] {
        RoomEvent::Message(m) => {
            assert_eq!(m.text, "hello, world", "a message replays as it is now");
            assert_eq!(m.edited_at, Some(2));
            let reactions: Vec<(&str, &str)> = m
                .reactions
                .0
                .iter()
                .map(|r| (r.emoji.as_str(), r.user_name.as_str()))
                .collect();
            assert_eq!(reactions, [("👍", "bob")]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&events[1], RoomEvent::Message(m) if m.text.is_empty() && m.deleted_at == Some(7))
    );
    assert!(
        matches!(&events[2], RoomEvent::Edited { message, .. } if message.text == "hello, world")
    );
    assert!(matches!(&events[3], RoomEvent::Reaction { on: true, emoji, .. } if emoji == "👍"));
    assert!(matches!(&events[6], RoomEvent::Deleted { message_id, .. } if *message_id == second));
    let tail = store
        .events_between(room.id, 5, i64::MAX, 1)
        .await
        .expect("tail");
    assert_eq!(tail.iter().map(RoomEvent::seq).collect::<Vec<_>>(), [6]);
    let history = store.earlier_texts(first).await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].text, "hello");
    let gone = store
        .message(room.id, second)
        .await
        .expect("read")
        .expect("tombstone");
    assert!(gone.text.is_empty());
    assert!(store
        .message(room.id + 1000, first)
        .await
        .expect("read")
        .is_none());
}

async fn search_finds_live_text_only(backend: Backend) {
    let store = backend.open().await;
    let ann = store.create_guest("ann").await.expect("ann");
    let room = store.create_room("s", "Search", None).await.expect("room");
    let lunch = post(&store, room.id, ann.id, "Lunch at noon?").await;
    let secret = post(&store, room.id, ann.id, "the password is hunter2").await;
    post(&store, room.id, ann.id, "dinner later").await;
    let found = |q: &'static str| {
        let store = store.clone();
        async move {
            let words: Vec<String> = q.split_whitespace().map(str::to_owned).collect();
            store
                .search_messages(&words, ann.id, None, 20)
                .await
                .expect("search")
                .into_iter()
                .map(|(m, slug)| (m.text, slug))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        found("lunc").await,
        [("Lunch at noon?".to_owned(), "s".to_owned())],
        "a prefix, any case"
    );
    assert_eq!(found("noon lunch").await.len(), 1, "all words, any order");
    assert!(found("lunch dinner").await.is_empty());
    assert!(found("\" OR * NEAR(").await.is_empty(), "syntax is literal");
    store
        .edit_message(room.id, lunch, ann.id, "Brunch instead", 1)
        .await
        .expect("edit")
        .expect("allowed");
    assert!(
        found("lunch").await.is_empty(),
        "edited-away text is not found"
    );
    assert_eq!(found("brunch").await.len(), 1);
    store
        .delete_message(room.id, secret, Deleter::Member(ann.id), 2)
        .await
        .expect("delete")
        .expect("allowed");
    assert!(
        found("hunter2").await.is_empty(),
        "deleted text is not found"
    );
}

async fn private_rooms_and_direct_messages(backend: Backend) {
    let store = backend.open().await;
    let ann = store.create_guest("ann").await.expect("ann");
    let bob = store.create_guest("bob").await.expect("bob");
    let eve = store.create_guest("eve").await.expect("eve");
    store
        .create_room("open", "Open", None)
        .await
        .expect("public");
    let private = store
        .create_room_with("inner", "Inner", Some(ann.id), Some(&[bob.id]))
        .await
        .expect("private");
    assert!(private.private);
    post(&store, private.id, bob.id, "members only").await;
    assert!(store
        .visible_room("inner", eve.id)
        .await
        .expect("q")
        .is_none());
    assert!(store
        .visible_room("inner", bob.id)
        .await
        .expect("q")
        .is_some());
    let public: Vec<String> = store
        .list_rooms(10, None)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.slug)
        .collect();
    assert_eq!(public, ["open"]);
    let for_eve: Vec<String> = store
        .list_rooms_for(eve.id, None, 10, None)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.room.slug)
        .collect();
    assert_eq!(for_eve, ["open"]);
    let for_ann = store
        .list_rooms_for(ann.id, None, 10, None)
        .await
        .expect("list");
    assert_eq!(for_ann[0].room.slug, "inner", "most active first");
    assert_eq!(for_ann[0].last_text.as_deref(), Some("members only"));
    assert_eq!(for_ann[0].unread.unread, 1);
    let words = vec!["members".to_owned()];
    assert!(store
        .search_messages(&words, eve.id, None, 10)
        .await
        .expect("search")
        .is_empty());
    let mut members = store.room_member_ids(private.id).await.expect("members");
    members.sort_unstable();
    assert_eq!(members, [ann.id, bob.id]);
    // The batch that posts into a private room names its members for the lobby.
    let written = store
        .write_messages(vec![draft(private.id, ann.id, "hi", None)])
        .await;
    let mut told = written.rooms[0].members.clone().expect("members");
    told.sort_unstable();
    assert_eq!(told, [ann.id, bob.id]);
    store
        .add_room_member(private.id, eve.id)
        .await
        .expect("add");
    store
        .add_room_member(private.id, eve.id)
        .await
        .expect("again");
    assert!(store
        .visible_room("inner", eve.id)
        .await
        .expect("q")
        .is_some());

    let (dm, created) = store
        .open_direct_room((ann.id, bob.id), "dm-ann-bob", "ann, bob")
        .await
        .expect("dm");
    assert!(created && dm.private);
    let (again, created) = store
        .open_direct_room((bob.id, ann.id), "dm-other-slug", "bob, ann")
        .await
        .expect("dm again");
    assert_eq!((again.id, created), (dm.id, false), "one room per pair");
    assert!(store
        .visible_room(&dm.slug, eve.id)
        .await
        .expect("q")
        .is_none());
}

async fn accounts_reads_and_mentions(backend: Backend) {
    let store = backend.open().await;
    let ann = store
        .create_account("Ann", "ann", "$argon2id$hash")
        .await
        .expect("account");
    assert!(!ann.is_guest);
    let taken = store.create_account("ANN", "ann", "$argon2id$other").await;
    assert!(matches!(taken, Err(StoreError::Duplicate)), "{taken:?}");
    assert!(store.username_taken("ann").await.expect("q"));
    assert!(!store.username_taken("zed").await.expect("q"));
    let (found, hash) = store.account_by_key("ann").await.expect("q").expect("ann");
    assert_eq!((found.id, hash.as_str()), (ann.id, "$argon2id$hash"));
    assert_eq!(store.revoke_sessions(ann.id).await.expect("revoke"), 1);
    let keys = vec!["ann".to_owned(), "nobody".to_owned()];
    assert_eq!(
        store.accounts_by_keys(&keys).await.expect("keys"),
        [(ann.id, "ann".to_owned())]
    );
    let ops = store.system_user("Ops").await.expect("system");
    assert_eq!(store.system_user("Ops").await.expect("again").id, ops.id);
    let bob = store.create_guest("bob").await.expect("bob");
    let renamed = store.rename_user(bob.id, "Bobby").await.expect("rename");
    assert_eq!(renamed.map(|u| u.display_name).as_deref(), Some("Bobby"));
    assert_eq!(
        store
            .user_by_id(bob.id)
            .await
            .expect("q")
            .map(|u| u.display_name),
        Some("Bobby".to_owned())
    );

    let room = store
        .create_room("r", "Reads", Some(ann.id))
        .await
        .expect("room");
    let first = post(&store, room.id, bob.id, "hi @ann").await;
    let second = post(&store, room.id, bob.id, "anyone? 100%_").await;
    post(&store, room.id, ann.id, "my own").await;
    let unread = store
        .unread(ann.id, Some("ann"), room.id)
        .await
        .expect("unread");
    assert_eq!((unread.unread, unread.mentions), (2, 1));
    assert!(store.message_in_room(first, room.id).await.expect("q"));
    assert!(!store.message_in_room(first, room.id + 99).await.expect("q"));
    assert_eq!(
        store
            .mark_read(ann.id, room.id, second)
            .await
            .expect("read"),
        second
    );
    assert_eq!(
        store.mark_read(ann.id, room.id, first).await.expect("read"),
        second,
        "a marker never moves back"
    );
    let unread = store
        .unread(ann.id, Some("ann"), room.id)
        .await
        .expect("unread");
    assert_eq!(
        (unread.unread, unread.mentions, unread.up_to),
        (0, 0, second)
    );
    let listed = store
        .listed_room(ann.id, Some("ann"), "r")
        .await
        .expect("q")
        .expect("listed");
    assert_eq!(listed.last_text.as_deref(), Some("my own"));
    let anonymous = store
        .listed_room(0, None, "r")
        .await
        .expect("q")
        .expect("listed");
    assert_eq!(anonymous.unread.unread, 0);
    // A user made later has read everything that was there before.
    let late = store.create_guest("late").await.expect("late");
    assert_eq!(
        store
            .unread(late.id, None, room.id)
            .await
            .expect("q")
            .unread,
        0
    );
    assert_eq!(store.rooms_owned(ann.id, 0).await.expect("owned"), (1, 1));
    assert!(store.rename_room(room.id, "Renamed").await.expect("rename"));
    assert!(store.room_exists(room.id).await.expect("q"));
    store.ping().await.expect("ping");
}

/// Two handles on one database, as two machines would hold: four writers posting batches
/// into three rooms at once, and edits taking seqs between them. Every room's events are
/// numbered 1, 2, 3, … with nothing missing or taken twice, and ids grow with seqs.
async fn concurrent_writers_on_two_handles_leave_no_gap_and_no_duplicate(backend: Backend) {
    let one = backend.open().await;
    let two = backend.open().await;
    let ann = one.create_guest("ann").await.expect("ann");
    let mut rooms = Vec::new();
    for slug in ["c1", "c2", "c3"] {
        rooms.push(one.create_room(slug, slug, None).await.expect("room").id);
    }
    let seed = post(&one, rooms[0], ann.id, "seed").await;
    let mut writers = Vec::new();
    for writer in 0..4_i64 {
        let store = if writer % 2 == 0 {
            one.clone()
        } else {
            two.clone()
        };
        let rooms = rooms.clone();
        writers.push(tokio::spawn(async move {
            for round in 0..25_i64 {
                let batch = (0..5_i64)
                    .map(|i| {
                        let room = rooms[((writer + round + i) % 3) as usize];
                        let key = format!("w{writer}-r{round}-m{i}");
                        // Every fifth message is sent twice: a retry racing its original.
                        let key = if i == 4 {
                            format!("w{writer}-r{round}-m0")
                        } else {
                            key
                        };
                        let room = if i == 4 {
                            rooms[((writer + round) % 3) as usize]
                        } else {
                            room
                        };
                        draft(room, ann.id, &format!("{writer}/{round}/{i}"), Some(&key))
                    })
                    .collect();
                for outcome in store.write_messages(batch).await.outcomes {
                    outcome.expect("every message is stored");
                }
                if round % 5 == 0 {
                    store
                        .edit_message(
                            rooms[0],
                            seed,
                            ann.id,
                            &format!("edit {writer}/{round}"),
                            round,
                        )
                        .await
                        .expect("edit")
                        .expect("allowed");
                }
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let mut total = 0;
    for room in rooms {
        let events = two
            .events_between(room, 0, i64::MAX, 10_000)
            .await
            .expect("replay");
        let seqs: Vec<i64> = events.iter().map(RoomEvent::seq).collect();
        let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(seqs, expected, "room {room}: no gap, no duplicate");
        let head = one.room_head(room).await.expect("head");
        assert_eq!(head.seq, seqs.len() as i64);
        let ids: Vec<i64> = events
            .iter()
            .filter_map(|e| match e {
                RoomEvent::Message(m) => Some(m.id),
                _ => None,
            })
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow with seqs");
        total += ids.len();
    }
    // 4 writers × 25 rounds × 4 distinct messages, plus the seed.
    assert_eq!(total, 4 * 25 * 4 + 1);
}

/// Parlor as deployed on many machines, in miniature: two `parlor serve` processes on one
/// PostgreSQL and one Redis; every client sees every message once, in the store's order.
#[tokio::test]
async fn two_processes_on_postgres_deliver_every_message_once_in_order() {
    let url = fresh_postgres_database().await;
    crate::multiprocess::two_processes_deliver_every_message_once_in_order(OsStr::new(&url)).await;
}

/// Two handles send batches with the same `(author, client_id)` keys at the same moment, into
/// different rooms, so neither waits on the other's room lock: a key is stored once, and the
/// handle that lost the race answers with that row (PostgreSQL: its insert meets the unique
/// index, the batch is rolled back and tried again).
async fn one_key_raced_from_two_handles_is_stored_once(backend: Backend) {
    let one = backend.open().await;
    let two = backend.open().await;
    let ann = one.create_guest("ann").await.expect("ann");
    let left = one
        .create_room("left", "left", None)
        .await
        .expect("room")
        .id;
    let right = one
        .create_room("right", "right", None)
        .await
        .expect("room")
        .id;
    for round in 0..20 {
        let batch = |room| -> Vec<NewMessage> {
            (0..8)
                .map(|i| {
                    let key = format!("race-{round}-{i}");
                    draft(room, ann.id, &key, Some(&key))
                })
                .collect()
        };
        let (a, b) = tokio::join!(
            one.write_messages(batch(left)),
            two.write_messages(batch(right))
        );
        for (x, y) in a.outcomes.into_iter().zip(b.outcomes) {
            let x = x.expect("the first handle's send is answered");
            let y = y.expect("the second handle's send is answered");
            assert_eq!(
                x.record().id,
                y.record().id,
                "round {round}: both answers name the one stored row"
            );
            assert!(
                matches!(
                    (&x, &y),
                    (Inserted::New(_), Inserted::Duplicate(_))
                        | (Inserted::Duplicate(_), Inserted::New(_))
                ),
                "round {round}: stored once, the other answer a duplicate"
            );
        }
    }
    let stored = one.room_head(left).await.expect("head").seq
        + one.room_head(right).await.expect("head").seq;
    assert_eq!(
        stored,
        20 * 8,
        "every key stored once, in one room or the other"
    );
}
