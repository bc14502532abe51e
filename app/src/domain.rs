//! Parse, don't validate: the user-supplied values Parlor accepts, each constructed once with
//! its rules beside it. Code that holds a `RoomSlug` or a `MessageText` never re-checks it.
//!
//! These live in `app` (not `server`) so the browser can show the same message the server
//! would, before a round trip; the server remains the authority and parses everything again.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value was refused, worded for the person who typed it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// Which input the message is about (`slug`, `title`, `name`, `text`, `client_id`), so a
    /// form can show it next to the right field.
    pub field: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Invalid {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Longest chat message, in characters (Unicode scalar values), after trimming.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// Longest room slug.
pub const MAX_SLUG_LEN: usize = 48;
/// Longest room title, in characters.
pub const MAX_TITLE_CHARS: usize = 80;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest idempotency key.
pub const MAX_CLIENT_ID_LEN: usize = 64;
/// Shortest and longest username, in characters.
pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=32;
/// Shortest password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password, in bytes: bounds the cost of hashing what a client sends.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A room's URL name: `[a-z0-9-]{1,48}`. Lower-case only so `/rooms/Lobby` and `/rooms/lobby`
/// can never be two rooms.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomSlug(String);

impl RoomSlug {
    /// Accepts `[a-z0-9-]{1,48}` exactly (no trimming: a slug is typed into a URL).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return Err(Invalid::new("slug", "The slug must not be empty."));
        }
        if raw.len() > MAX_SLUG_LEN {
            return Err(Invalid::new(
                "slug",
                format!("The slug must be at most {MAX_SLUG_LEN} characters."),
            ));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Invalid::new(
                "slug",
                "The slug may only contain lower-case letters a–z, digits and '-'.",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A room's human title: 1–80 characters after trimming, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomTitle(String);

impl RoomTitle {
    /// Trims, then checks length and characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        single_line("title", raw, MAX_TITLE_CHARS, "The title").map(Self)
    }

    /// The title as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name shown next to someone's messages: 1–32 characters after trimming, no control
/// characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    /// Trims, then checks length and characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        single_line("name", raw, MAX_NAME_CHARS, "The name").map(Self)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text of a chat message: trimmed, non-empty, at most 4,000 characters, and no control
/// characters except newline (`\r\n` and lone `\r` are normalised to `\n` first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageText(String);

impl MessageText {
    /// Normalises line endings, trims, then checks length and characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let normalised;
        let text = if raw.contains('\r') {
            normalised = raw.replace("\r\n", "\n").replace('\r', "\n");
            normalised.trim()
        } else {
            raw.trim()
        };
        if text.is_empty() {
            return Err(Invalid::new("text", "The message is empty."));
        }
        let chars = text.chars().count();
        if chars > MAX_MESSAGE_CHARS {
            return Err(Invalid::new(
                "text",
                format!(
                    "The message is {chars} characters long; the limit is {MAX_MESSAGE_CHARS}."
                ),
            ));
        }
        if let Some(bad) = text.chars().find(|c| c.is_control() && *c != '\n') {
            return Err(Invalid::new(
                "text",
                format!(
                    "The message contains a control character (U+{:04X}); only newlines are allowed.",
                    bad as u32
                ),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An account name: 3–32 letters (any script, Hangul included), digits, `_`, `.` or `-`.
/// Names are unique without regard to case: [`Username::key`] is what uniqueness uses.
/// Names are stored in Unicode NFC, so `한` typed as one syllable or as three jamo is the
/// same name (they look identical; two accounts would let one impersonate the other).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    /// Normalises to NFC, then checks length and characters (no trimming: a name with
    /// spaces is a typo to report).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        use unicode_normalization::UnicodeNormalization;
        let normalised: String = raw.nfc().collect();
        let raw = normalised.as_str();
        let chars = raw.chars().count();
        if !USERNAME_CHARS.contains(&chars) {
            return Err(Invalid::new(
                "username",
                format!(
                    "A username is {} to {} characters long.",
                    USERNAME_CHARS.start(),
                    USERNAME_CHARS.end()
                ),
            ));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(Invalid::new(
                "username",
                format!("A username may contain letters, digits, '_', '.' and '-', not {bad:?}."),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name as typed (shown next to messages).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive key that must be unique (Unicode lower case, so `Ann`, `ANN`
    /// and `ann` are one account).
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A password as typed: at least 8 characters, at most 1 KiB. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Checks length only: any character is allowed, and nothing is trimmed.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.chars().count() < MIN_PASSWORD_CHARS {
            return Err(Invalid::new(
                "password",
                format!("A password is at least {MIN_PASSWORD_CHARS} characters long."),
            ));
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(Invalid::new(
                "password",
                format!("A password is at most {MAX_PASSWORD_BYTES} bytes long."),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password, for hashing and verifying only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

/// A client-chosen idempotency key: 1–64 visible ASCII characters (a UUID fits).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    /// Checks length and that every byte is visible ASCII (no spaces).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > MAX_CLIENT_ID_LEN {
            return Err(Invalid::new(
                "client_id",
                format!("client_id must be 1–{MAX_CLIENT_ID_LEN} characters."),
            ));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid::new(
                "client_id",
                "client_id may only contain visible ASCII characters.",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Shared rule for one-line human text (titles, names).
fn single_line(
    field: &'static str,
    raw: &str,
    max_chars: usize,
    what: &str,
) -> Result<String, Invalid> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(Invalid::new(field, format!("{what} must not be empty.")));
    }
    if text.chars().count() > max_chars {
        return Err(Invalid::new(
            field,
            format!("{what} must be at most {max_chars} characters."),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(Invalid::new(
            field,
            format!("{what} must not contain control characters or line breaks."),
        ));
    }
    Ok(text.to_owned())
}

macro_rules! string_newtype_impls {
    ($($ty:ident),*) => {$(
        impl TryFrom<String> for $ty {
            type Error = Invalid;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }
        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )*};
}
string_newtype_impls!(
    RoomSlug,
    RoomTitle,
    DisplayName,
    MessageText,
    ClientId,
    Username
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_documented_pattern() {
        assert!(RoomSlug::parse("general").is_ok());
        assert!(RoomSlug::parse("rust-2026").is_ok());
        assert!(RoomSlug::parse(&"a".repeat(48)).is_ok());
        for bad in [
            "",
            "General",
            "with space",
            "ümlaut",
            "semi;colon",
            "a/b",
            "_x",
        ] {
            assert!(RoomSlug::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let err = RoomSlug::parse(&"a".repeat(49)).expect_err("too long");
        assert_eq!(err.field, "slug");
    }

    #[test]
    fn titles_and_names_are_trimmed_and_bounded() {
        assert_eq!(
            RoomTitle::parse("  Rust talk  ").map(String::from),
            Ok("Rust talk".into())
        );
        assert!(RoomTitle::parse("   ").is_err());
        assert!(RoomTitle::parse(&"é".repeat(80)).is_ok());
        assert!(RoomTitle::parse(&"é".repeat(81)).is_err());
        assert!(RoomTitle::parse("two\nlines").is_err());
        assert!(DisplayName::parse("민지").is_ok());
        assert!(DisplayName::parse(&"x".repeat(33)).is_err());
        assert_eq!(DisplayName::parse("").expect_err("empty").field, "name");
    }

    #[test]
    fn message_text_rules() {
        assert_eq!(
            MessageText::parse("  hello\nworld \n").map(String::from),
            Ok("hello\nworld".into())
        );
        assert_eq!(
            MessageText::parse("a\r\nb\rc").map(String::from),
            Ok("a\nb\nc".into())
        );
        assert!(MessageText::parse(" \n\t ").is_err());
        assert!(MessageText::parse("bell\u{7}").is_err());
        assert!(MessageText::parse("tab\there").is_err());
        assert!(MessageText::parse("nul\0").is_err());
        assert!(MessageText::parse(&"가".repeat(MAX_MESSAGE_CHARS)).is_ok());
        let err = MessageText::parse(&"a".repeat(MAX_MESSAGE_CHARS + 1)).expect_err("too long");
        assert!(err.message.contains("4000"), "{}", err.message);
        // Markup is just text: escaping is the renderer's job, never the validator's.
        assert!(MessageText::parse("<img src=x onerror=alert(1)>").is_ok());
    }

    #[test]
    fn client_ids_are_short_visible_ascii() {
        assert!(ClientId::parse("0f8e2a8c-5b1e-4c1e-9a8e-1c2b3d4e5f60").is_ok());
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse("has space").is_err());
        assert!(ClientId::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn usernames_allow_any_letters_and_a_few_marks() {
        for good in ["ann", "민수_01", "ｔａｒｏ", "jean-luc.p", "Ω_mega", "abc"] {
            assert!(Username::parse(good).is_ok(), "{good:?} should be accepted");
        }
        for bad in [
            "ab",
            "with space",
            "semi;colon",
            "emoji🙂x",
            &"x".repeat(33),
            "<img>",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be refused");
        }
        // 한글방, as three syllables and as eight jamo.
        let composed = Username::parse("\u{D55C}\u{AE00}\u{BC29}").expect("valid");
        let decomposed = Username::parse(
            "\u{1112}\u{1161}\u{11AB}\u{1100}\u{1173}\u{11AF}\u{1107}\u{1161}\u{11BC}",
        )
        .expect("valid");
        assert_eq!(composed, decomposed, "one name, however it was typed");
        let mixed = Username::parse("Ann.B").expect("valid");
        assert_eq!(mixed.key(), "ann.b");
        assert_eq!(Username::parse("ÄNN").expect("valid").key(), "änn");
    }

    #[test]
    fn passwords_have_a_floor_and_a_ceiling_and_stay_secret() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(
            Password::parse("비밀번호비밀번호").is_ok(),
            "eight characters"
        );
        assert!(Password::parse(&"x".repeat(1025)).is_err());
        let password = Password::parse("hunter2hunter2").expect("valid");
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn serde_goes_through_the_rules() {
        assert!(serde_json::from_str::<RoomSlug>(r#""Bad Slug""#).is_err());
        let slug: RoomSlug = serde_json::from_str(r#""ok-slug""#).expect("valid slug");
        assert_eq!(slug.as_str(), "ok-slug");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a client types, every parser answers: a value or a worded refusal.
        #[test]
        fn parsers_never_panic_and_refusals_say_why(raw in any::<String>()) {
            let refusals = [
                RoomSlug::parse(&raw).err(),
                RoomTitle::parse(&raw).err(),
                DisplayName::parse(&raw).err(),
                MessageText::parse(&raw).err(),
                ClientId::parse(&raw).err(),
                Username::parse(&raw).err(),
                Password::parse(&raw).err(),
            ];
            for refusal in refusals.into_iter().flatten() {
                prop_assert!(!refusal.message.is_empty());
                prop_assert!(!refusal.field.is_empty());
            }
        }

        /// An accepted message is trimmed, within the limit, and without control characters
        /// other than newlines; parsing it again changes nothing.
        #[test]
        fn accepted_text_keeps_its_rules(raw in "\\PC{0,50}[\\r\\n\\t ]{0,3}\\PC{0,50}") {
            if let Ok(text) = MessageText::parse(&raw) {
                let text = text.as_str();
                prop_assert_eq!(text, text.trim());
                prop_assert!(text.chars().count() <= MAX_MESSAGE_CHARS);
                prop_assert!(text.chars().all(|c| !c.is_control() || c == '\n'));
                let again = MessageText::parse(text).map(|t| t.as_str().to_owned());
                prop_assert_eq!(again, Ok(text.to_owned()));
            }
        }

        /// Slugs are exactly `[a-z0-9-]{1,48}`.
        #[test]
        fn slugs_match_their_pattern(raw in "[a-zA-Z0-9_-]{0,60}") {
            let expected = !raw.is_empty()
                && raw.len() <= MAX_SLUG_LEN
                && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            prop_assert_eq!(RoomSlug::parse(&raw).is_ok(), expected);
        }
    }
}
