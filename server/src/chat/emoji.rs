//! What counts as a reaction: exactly one emoji, as Unicode's emoji list spells it (with
//! its skin tone, ZWJ sequence or flag), checked here on the server so the browser ships no
//! emoji tables.

use app::domain::Invalid;

/// The one emoji `input` is, spelled the way the emoji list spells it — so `❤` and `❤️`
/// are one reaction, not two — or why it is not one.
pub fn one_emoji(input: &str) -> Result<&'static str, Invalid> {
    let input = input.trim();
    let found = emojis::get(input)
        .or_else(|| emojis::get(input.trim_end_matches('\u{fe0f}')))
        .or_else(|| emojis::get(&format!("{input}\u{fe0f}")));
    // The list also finds some emoji from a part of them (`1` → `1️⃣`): only the whole
    // emoji, variation selectors aside, is that emoji.
    let bare = |s: &str| s.replace('\u{fe0f}', "");
    match found {
        Some(emoji) if !input.is_empty() && bare(emoji.as_str()) == bare(input) => {
            Ok(emoji.as_str())
        }
        _ => Err(Invalid {
            field: "emoji",
            message: "A reaction is one emoji, such as 👍 or 🎉.".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::one_emoji;

    #[test]
    fn one_emoji_of_any_kind_is_accepted() {
        for emoji in ["👍", "🎉", "👍🏽", "👨‍👩‍👧", "🇰🇷", "❤️", "1️⃣"]
        {
            assert!(one_emoji(emoji).is_ok(), "{emoji}");
        }
        assert_eq!(
            one_emoji("❤"),
            one_emoji("❤️"),
            "one heart, however spelled"
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for input in [
            "",
            " ",
            "a",
            "ok",
            "👍👍",
            "👍 🎉",
            "<b>",
            "1",
            "\u{fe0f}",
            "👍x",
        ] {
            let refused = one_emoji(input).expect_err(input);
            assert_eq!(refused.field, "emoji");
        }
    }
}
