//! What a report shows of a message so people can find it in their mail client (issue 9, item 17): the
//! sender and subject as the message's header gives them, made safe to print.
//!
//! Header values come from the source and are untrusted: control characters (which could move a terminal's
//! cursor or forge report lines) and bidirectional overrides (which reorder what is shown) are removed,
//! runs of white space become one space, and long values are cut at a character boundary with `…`.

/// Longest subject kept, in characters.
pub const SUBJECT_CHARS: usize = 120;
/// Longest sender kept, in characters.
pub const SENDER_CHARS: usize = 80;

/// `raw` made safe to print and at most `max` characters long (`…` included); `None` when nothing is left.
pub fn clean(raw: &str, max: usize) -> Option<String> {
    let mut out = String::with_capacity(raw.len().min(max * 4));
    let mut pending_space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if c.is_control() || is_bidi_control(c) {
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    if out.is_empty() || max == 0 {
        return None;
    }
    if out.chars().count() > max {
        let mut cut: String = out.chars().take(max - 1).collect();
        cut.truncate(cut.trim_end().len());
        cut.push('…');
        return Some(cut);
    }
    Some(out)
}

/// Unicode bidirectional embedding, override and isolate controls (and the marks).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_removed_and_long_values_cut() {
        assert_eq!(
            clean("Invoice\u{7}\u{1b}[2J for\r\n\t March", 50).as_deref(),
            Some("Invoice[2J for March")
        );
        assert_eq!(
            clean("evil\u{202E}txt.exe", 50).as_deref(),
            Some("eviltxt.exe")
        );
        assert_eq!(clean("  \u{0} ", 50), None);
        let long = "word ".repeat(40);
        let c = clean(&long, 20).unwrap_or_default();
        assert_eq!(c.chars().count(), 20, "{c}");
        assert!(c.ends_with('…'), "{c}");
        assert_eq!(
            clean("Grüße aus Köln", 14).as_deref(),
            Some("Grüße aus Köln")
        );
    }
}
