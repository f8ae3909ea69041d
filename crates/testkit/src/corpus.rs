//! Deterministic test messages: the same `(seed, i)` always gives the same bytes.
//!
//! Messages are RFC 5322 with CRLF line endings, lines under 78 characters, addresses in reserved domains
//! (`example.test`) and sizes close to what was asked for, so tests can make corpora of any shape without
//! checked-in files.

use crate::imap::SeedMessage;
use base64::Engine as _;

const WORDS: [&str; 32] = [
    "ferry", "mail", "harbour", "river", "crossing", "ticket", "report", "meeting", "budget",
    "draft", "quarter", "review", "invoice", "project", "deadline", "summary", "agenda", "notes",
    "update", "plan", "north", "south", "morning", "evening", "data", "folder", "archive",
    "message", "thanks", "regards", "Grüße", "café",
];

/// The Message-ID (without `<>`) that [`message`] gives `(seed, i)`.
pub fn message_id(seed: u64, i: usize) -> String {
    format!("ferry-{seed}-{i}@example.test")
}

/// The `Date:` header value of `(seed, i)`: one minute apart, starting 2021-03-01.
pub fn date_header(seed: u64, i: usize) -> String {
    let (d, h, m) = day_hour_minute(seed, i);
    format!("{:02} Mar 2021 {h:02}:{m:02}:00 +0100", d + 1)
}

/// An RFC 3501 internal date for `(seed, i)` (`01-Mar-2021 10:07:00 +0100`), matching [`date_header`].
pub fn internal_date(seed: u64, i: usize) -> String {
    let (d, h, m) = day_hour_minute(seed, i);
    format!("{:02}-Mar-2021 {h:02}:{m:02}:00 +0100", d + 1)
}

fn day_hour_minute(seed: u64, i: usize) -> (u64, u64, u64) {
    let minutes = (seed % 7) * 60 + i as u64;
    let d = (minutes / (24 * 60)) % 28;
    let h = (minutes / 60) % 24;
    (d, h, minutes % 60)
}

/// A plain-text message of about `size` bytes (never less than its headers), with a Message-ID.
pub fn message(seed: u64, i: usize, size: usize) -> Vec<u8> {
    build(seed, i, size, true)
}

/// Like [`message`] but without a `Message-ID` header (dedupe must fall back to other headers).
pub fn message_without_message_id(seed: u64, i: usize, size: usize) -> Vec<u8> {
    build(seed, i, size, false)
}

fn headers(seed: u64, i: usize, with_id: bool) -> String {
    let mut h = String::new();
    if with_id {
        h.push_str(&format!("Message-ID: <{}>\r\n", message_id(seed, i)));
    }
    h.push_str(&format!("Date: {}\r\n", date_header(seed, i)));
    h.push_str(&format!(
        "From: Sender {seed} <sender{seed}@example.test>\r\n"
    ));
    h.push_str(&format!("To: Recipient {i} <rcpt{i}@example.test>\r\n"));
    h.push_str(&format!("Subject: Test message {i} of corpus {seed}\r\n"));
    h.push_str("MIME-Version: 1.0\r\n");
    h
}

fn build(seed: u64, i: usize, size: usize, with_id: bool) -> Vec<u8> {
    let mut out = headers(seed, i, with_id);
    out.push_str(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    );
    let mut rng = fastrand::Rng::with_seed(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64);
    out.push_str(&format!("Message {i} of corpus {seed}.\r\n"));
    let mut line = String::new();
    while out.len() + line.len() + 2 < size {
        let w = WORDS[rng.usize(..WORDS.len())];
        if line.len() + w.len() + 1 > 70 {
            out.push_str(&line);
            out.push_str("\r\n");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    if !line.is_empty() {
        out.push_str(&line);
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// A `multipart/mixed` message with a text part and a base64 attachment of `attachment_size` pseudo-random
/// bytes (the encoded message is about 4/3 of that): for MB-sized messages and big literals.
pub fn message_with_attachment(seed: u64, i: usize, attachment_size: usize) -> Vec<u8> {
    let boundary = format!("ferry-boundary-{seed}-{i}");
    let mut out = headers(seed, i, true);
    out.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
    ));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    ));
    out.push_str(&format!(
        "See the attached file ({attachment_size} bytes).\r\n"
    ));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: application/octet-stream; name=\"data-{i}.bin\"\r\n\
         Content-Disposition: attachment; filename=\"data-{i}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ));
    let mut rng = fastrand::Rng::with_seed(seed ^ (i as u64).rotate_left(32));
    let data: Vec<u8> = (0..attachment_size).map(|_| rng.u8(..)).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out.into_bytes()
}

/// Flags cycling through the interesting cases: none, `\Seen`, `\Seen \Flagged`, `\Answered $Label1`,
/// `\Draft Work`.
pub fn flags_for(i: usize) -> Vec<String> {
    let f: &[&str] = match i % 5 {
        0 => &[],
        1 => &["\\Seen"],
        2 => &["\\Seen", "\\Flagged"],
        3 => &["\\Answered", "$Label1"],
        _ => &["\\Draft", "Work"],
    };
    f.iter().map(|s| (*s).to_owned()).collect()
}

/// `n` messages of about `size` bytes with varied flags ([`flags_for`]) and internal dates
/// ([`internal_date`]), ready for [`crate::dovecot::Dovecot::seed`].
pub fn seed_messages(seed: u64, n: usize, size: usize) -> Vec<SeedMessage> {
    (0..n)
        .map(|i| SeedMessage {
            bytes: message(seed, i, size),
            flags: flags_for(i),
            internal_date: Some(internal_date(seed, i)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_deterministic_crlf_and_about_the_size_asked() {
        let a = message(3, 7, 4_000);
        assert_eq!(a, message(3, 7, 4_000));
        assert_ne!(a, message(3, 8, 4_000));
        assert!((3_900..=4_100).contains(&a.len()), "{}", a.len());
        let text = String::from_utf8(a).expect("utf-8");
        assert!(text.contains("Message-ID: <ferry-3-7@example.test>\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'), "bare LF");
        assert!(!message_without_message_id(3, 7, 500).starts_with(b"Message-ID"));
    }

    #[test]
    fn attachments_are_base64_in_short_lines() {
        let m = message_with_attachment(1, 2, 100_000);
        assert!(m.len() > 133_000 && m.len() < 140_000, "{}", m.len());
        assert!(m.split(|&b| b == b'\n').all(|l| l.len() <= 78));
    }

    #[test]
    fn internal_dates_are_valid_rfc3501() {
        for i in [0, 59, 60, 1_500, 100_000] {
            assert!(
                crate::snapshot::parse_internal_date(&internal_date(9, i)).is_some(),
                "{}",
                internal_date(9, i)
            );
        }
    }
}
