//! How a list of messages reads like chat: consecutive messages of one author within five
//! minutes form a group under one name and avatar; an avatar's colour comes from the user
//! id; a message of emoji alone is shown larger; web addresses become links. Pure functions,
//! the same on the server and in the browser, so the server-rendered list and the hydrated
//! one agree.

use super::days::Calendar;
use crate::protocol::ChatMessage;

/// How far apart two messages of one author may be and still share a group.
pub const GROUP_WITHIN_MS: i64 = 5 * 60 * 1000;
/// Most emoji a message may hold and still be shown large.
pub const LARGE_EMOJI_MAX: usize = 3;

/// Milliseconds since the epoch of an RFC 3339 UTC time as the server writes them
/// (`2026-12-03T08:29:01.123Z`); `None` for anything else.
pub fn millis_of(rfc3339: &str) -> Option<i64> {
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = rfc3339.get(range)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let millis = match rfc3339.get(19..20) {
        Some(".") => number(20..23)?,
        _ => 0,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

/// Whether `next` continues `previous`'s group: same author, within [`GROUP_WITHIN_MS`].
pub fn continues(previous: &ChatMessage, next: &ChatMessage) -> bool {
    if previous.author_id == 0 || previous.author_id != next.author_id {
        return false;
    }
    match (millis_of(&previous.sent_at), millis_of(&next.sent_at)) {
        (Some(before), Some(after)) => (0..=GROUP_WITHIN_MS).contains(&(after - before)),
        _ => false,
    }
}

/// One row of the message list.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The message.
    pub message: ChatMessage,
    /// Whether it continues the group of the one before it (no name, no avatar).
    pub continued: bool,
    /// The day separator above it ("Today", "Yesterday", …): on the first message and
    /// wherever the day changes from the message before.
    pub day: Option<String>,
}

/// The list as rows: groups by author, and a day separator where the day changes (a new
/// day also starts a new group). Days are counted in `calendar`'s zone.
pub fn rows(messages: &[ChatMessage], calendar: &Calendar) -> Vec<Row> {
    let mut previous: Option<(&ChatMessage, Option<i64>)> = None;
    messages
        .iter()
        .map(|message| {
            let day = millis_of(&message.sent_at).map(|at| calendar.day(at));
            let number = day.map(|d| d.number);
            let new_day = previous.is_none_or(|(_, before)| before != number);
            let continued =
                !new_day && previous.is_some_and(|(before, _)| continues(before, message));
            previous = Some((message, number));
            Row {
                message: message.clone(),
                continued,
                day: day
                    .filter(|_| new_day)
                    .map(|d| d.label(calendar.today.as_ref())),
            }
        })
        .collect()
}

/// Avatar colours: classes `hue-0` … `hue-11` in the stylesheet (the page's CSP allows no
/// inline styles), each dark enough that white initials meet WCAG AA.
pub const AVATAR_HUES: i64 = 12;

/// The avatar's classes for a user: its colour follows the user id.
pub fn avatar_class(user_id: i64) -> String {
    format!("avatar hue-{}", user_id.rem_euclid(AVATAR_HUES))
}

/// The avatar's letter: the name's first character, upper-cased.
pub fn initial(name: &str) -> String {
    name.chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default()
}

/// Whether a text is one to [`LARGE_EMOJI_MAX`] emoji and nothing else (spaces aside).
/// A light check by code point ranges — the server validates reactions exactly; this only
/// chooses a font size.
pub fn is_emoji_only(text: &str) -> bool {
    let mut count = 0;
    let mut joined = false; // after a zero-width joiner: the next emoji is part of this one
    let mut half_flag = false; // after the first of a flag's two regional indicators
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        let code = c as u32;
        if code == 0x200D {
            joined = true;
            continue;
        }
        let modifier = matches!(code, 0xFE0E | 0xFE0F | 0x20E3)
            || (0x1F3FB..=0x1F3FF).contains(&code) // skin tones
            || (0xE0020..=0xE007F).contains(&code); // tags (subdivision flags)
        if modifier {
            continue;
        }
        if (0x1F1E6..=0x1F1FF).contains(&code) {
            half_flag = !half_flag;
            count += usize::from(half_flag);
            continue;
        }
        let emoji = (0x1F000..=0x1FAFF).contains(&code)
            || (0x2600..=0x27BF).contains(&code)
            || (0x2300..=0x23FF).contains(&code)
            || (0x2B00..=0x2BFF).contains(&code);
        if !emoji {
            return false;
        }
        if !std::mem::take(&mut joined) {
            count += 1;
        }
    }
    (1..=LARGE_EMOJI_MAX).contains(&count)
}

/// A piece of plain text: as it is, or a web address to link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPiece<'a> {
    /// Text as it is.
    Text(&'a str),
    /// An `http://` or `https://` address (no other scheme is ever linked).
    Link(&'a str),
}

/// Splits `text` at its web addresses. An address runs to the next space; closing
/// punctuation at its end (`.`, `,`, `)` without an opening one, …) stays text.
pub fn link_pieces(text: &str) -> Vec<LinkPiece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = find_address(rest) {
        let tail = &rest[start..];
        let mut end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        while let Some(last) = tail[..end].chars().last() {
            let unbalanced_paren =
                last == ')' && tail[..end].matches('(').count() < tail[..end].matches(')').count();
            if ".,;:!?'\"]>".contains(last) || unbalanced_paren {
                end -= last.len_utf8();
            } else {
                break;
            }
        }
        let address = &tail[..end];
        let scheme_only = address.ends_with("://");
        if start > 0 {
            pieces.push(LinkPiece::Text(&rest[..start]));
        }
        if scheme_only {
            pieces.push(LinkPiece::Text(address));
        } else {
            pieces.push(LinkPiece::Link(address));
        }
        rest = &tail[end..];
        if end == 0 {
            // Cannot happen (an address is at least its scheme), but never loop forever.
            break;
        }
    }
    if !rest.is_empty() {
        pieces.push(LinkPiece::Text(rest));
    }
    pieces
}

/// Where the next `http://` or `https://` starts, at a word's beginning.
fn find_address(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("http") {
        let at = from + found;
        let after = &lower[at..];
        let is_scheme = after.starts_with("http://") || after.starts_with("https://");
        let at_word_start = text[..at]
            .chars()
            .last()
            .is_none_or(|c| !c.is_alphanumeric());
        if is_scheme && at_word_start {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: i64, author_id: i64, sent_at: &str) -> ChatMessage {
        ChatMessage {
            id,
            seq: id,
            room: "r".into(),
            author_id,
            author: format!("user{author_id}"),
            text: "hi".into(),
            client_id: None,
            sent_at: sent_at.into(),
            edited_at: None,
            deleted: false,
            reply_to: None,
            reactions: Vec::new(),
        }
    }

    #[test]
    fn parses_the_servers_timestamps() {
        assert_eq!(millis_of("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            millis_of("2026-12-03T08:29:01.123Z"),
            Some(1_796_286_541_123)
        );
        assert_eq!(millis_of("2000-02-29T12:00:00Z"), Some(951_825_600_000));
        assert_eq!(millis_of("not a time"), None);
        assert_eq!(millis_of("2026-13-03T08:29:01Z"), None);
    }

    #[test]
    fn groups_one_authors_run_within_five_minutes() {
        let list = [
            message(1, 7, "2026-12-03T08:00:00.000Z"),
            message(2, 7, "2026-12-03T08:04:59.000Z"),
            message(3, 7, "2026-12-03T08:10:00.000Z"), // 5 min 1 s after the last
            message(4, 8, "2026-12-03T08:10:01.000Z"), // someone else
            message(5, 7, "2026-12-03T08:10:02.000Z"),
        ];
        let flags: Vec<bool> = rows(&list, &Calendar::utc())
            .into_iter()
            .map(|row| row.continued)
            .collect();
        assert_eq!(flags, [false, true, false, false, false]);
    }

    #[test]
    fn a_new_day_gets_a_separator_and_starts_a_new_group() {
        let list = [
            message(1, 7, "2026-11-24T23:58:00.000Z"),
            message(2, 7, "2026-11-24T23:59:00.000Z"),
            message(3, 7, "2026-11-25T00:01:00.000Z"), // two minutes on, but the next day
            message(4, 7, "2026-11-25T00:02:00.000Z"),
        ];
        let rows = rows(&list, &Calendar::utc());
        let days: Vec<bool> = rows.iter().map(|row| row.day.is_some()).collect();
        assert_eq!(days, [true, false, true, false]);
        let flags: Vec<bool> = rows.iter().map(|row| row.continued).collect();
        assert_eq!(flags, [false, true, false, true]);
        assert!(rows[0].day.as_deref().is_some_and(|d| d.contains("24 Nov")));
        assert!(rows[2].day.as_deref().is_some_and(|d| d.contains("25 Nov")));
    }

    #[test]
    fn emoji_alone_are_large_and_anything_else_is_not() {
        for yes in ["🎉", "👍🏽", "🇰🇷", "🎉🎉🎉", " ❤️ ", "👨‍👩‍👧"]
        {
            assert!(is_emoji_only(yes), "{yes}");
        }
        for no in ["", "hi 🎉", "🎉🎉🎉🎉", "12", ":)", "ㅋㅋ"] {
            assert!(!is_emoji_only(no), "{no}");
        }
    }

    #[test]
    fn links_only_web_addresses_and_leaves_punctuation_out() {
        use LinkPiece::{Link, Text};
        assert_eq!(
            link_pieces("see https://example.com/a?b=1. Then (http://x.org/p)"),
            [
                Text("see "),
                Link("https://example.com/a?b=1"),
                Text(". Then ("),
                Link("http://x.org/p"),
                Text(")"),
            ]
        );
        assert_eq!(
            link_pieces("https://en.wikipedia.org/wiki/Rust_(programming_language)"),
            [Link(
                "https://en.wikipedia.org/wiki/Rust_(programming_language)"
            )]
        );
        assert_eq!(
            link_pieces("javascript:alert(1)"),
            [Text("javascript:alert(1)")]
        );
        assert_eq!(link_pieces("xhttps://no"), [Text("xhttps://no")]);
        assert_eq!(
            link_pieces("just https://"),
            [Text("just "), Text("https://")]
        );
        assert_eq!(
            link_pieces("HTTPS://LOUD.example"),
            [Link("HTTPS://LOUD.example")]
        );
        assert_eq!(link_pieces("plain"), [Text("plain")]);
    }
}
