//! Message identity by content (DESIGN §5): the key that survives a UIDVALIDITY change.
//!
//! The fingerprint hashes the normalised Message-ID, a few stable headers (Date, From, To, Cc, Subject) and
//! the size. It is computed from the header fields an IMAP summary fetch returns
//! (`BODY.PEEK[HEADER.FIELDS (...)]`), so neither dedupe nor verify needs to download bodies. Messages without
//! a Message-ID are still told apart by the other headers and their size; two byte-identical messages share
//! a fingerprint and are told apart by their ordinal within the folder (see the engine's journal).

use sha2::{Digest, Sha256};

/// The header fields that take part in the fingerprint, in the order they are hashed.
pub const FINGERPRINT_HEADERS: [&str; 6] = ["MESSAGE-ID", "DATE", "FROM", "TO", "CC", "SUBJECT"];

/// Header fields extracted from a message's header block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderFields {
    /// Normalised Message-ID: the part between `<` and `>`, without surrounding space; `None` when absent.
    pub message_id: Option<String>,
    /// Unfolded, whitespace-collapsed values of [`FINGERPRINT_HEADERS`] (empty when absent).
    pub values: [String; 6],
}

/// The end of the header block: the offset just past the first empty line, or the whole input.
pub fn header_end(raw: &[u8]) -> usize {
    let mut i = 0;
    while i < raw.len() {
        // An empty line is "\r\n" or "\n" at a line start.
        if raw[i..].starts_with(b"\r\n") {
            return i + 2;
        }
        if raw[i] == b'\n' {
            return i + 1;
        }
        match raw[i..].iter().position(|&b| b == b'\n') {
            Some(p) => i += p + 1,
            None => return raw.len(),
        }
    }
    raw.len()
}

/// Parse the fingerprint header fields out of raw bytes (a whole message or only its header block).
pub fn parse_headers(raw: &[u8]) -> HeaderFields {
    let head = &raw[..header_end(raw)];
    let text = String::from_utf8_lossy(head);
    let mut fields = HeaderFields::default();
    let mut current: Option<(String, String)> = None;
    let finish = |cur: Option<(String, String)>, fields: &mut HeaderFields| {
        if let Some((name, value)) = cur {
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            if let Some(idx) = FINGERPRINT_HEADERS
                .iter()
                .position(|h| h.eq_ignore_ascii_case(&name))
            {
                // First occurrence wins, as most clients read it.
                if fields.values[idx].is_empty() {
                    if idx == 0 {
                        fields.message_id = normalise_message_id(&value);
                    }
                    fields.values[idx] = value;
                }
            }
        }
    };
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = current.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        finish(current.take(), &mut fields);
        if let Some((name, value)) = line.split_once(':') {
            current = Some((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    finish(current.take(), &mut fields);
    fields
}

/// `<Abc@Example.COM>` → `Abc@Example.COM`; empty or missing → `None`.
pub fn normalise_message_id(value: &str) -> Option<String> {
    let v = value.trim();
    let inner = match (v.find('<'), v.rfind('>')) {
        (Some(a), Some(b)) if b > a => &v[a + 1..b],
        _ => v,
    };
    let inner = inner.trim();
    (!inner.is_empty()).then(|| inner.to_owned())
}

/// A content fingerprint: 32 hex characters.
pub fn fingerprint(fields: &HeaderFields, size: u64) -> String {
    let mut h = Sha256::new();
    h.update(fields.message_id.as_deref().unwrap_or("").as_bytes());
    for v in &fields.values[1..] {
        h.update([0u8]);
        h.update(v.as_bytes());
    }
    h.update([0u8]);
    h.update(size.to_le_bytes());
    let digest = h.finalize();
    let mut out = String::with_capacity(32);
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A hash of a message's exact bytes: 32 hex characters. It tells apart messages that share a fingerprint
/// (same headers and size) but not a body (issue 9, item 8); it needs the bytes, so it is computed for
/// messages Ferry copies and, when fingerprints collide, for the candidates on the other side.
pub fn content_hash(raw: &[u8]) -> String {
    let digest = Sha256::digest(raw);
    let mut out = String::with_capacity(32);
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Fingerprint of a whole raw message.
pub fn fingerprint_message(raw: &[u8]) -> String {
    fingerprint(&parse_headers(raw), raw.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"Message-ID:\r\n <abc@example.com>\r\nSubject: Hello\r\n  world\r\nFrom: a@b\r\n\r\nBody: not a header\r\n";

    #[test]
    fn parses_folded_headers_and_stops_at_body() {
        let f = parse_headers(MSG);
        assert_eq!(f.message_id.as_deref(), Some("abc@example.com"));
        assert_eq!(f.values[5], "Hello world");
        assert_eq!(f.values[2], "a@b");
    }

    #[test]
    fn header_block_alone_gives_same_fields_as_whole_message() {
        let end = header_end(MSG);
        assert_eq!(parse_headers(&MSG[..end]), parse_headers(MSG));
        assert_eq!(
            fingerprint(&parse_headers(&MSG[..end]), MSG.len() as u64),
            fingerprint_message(MSG)
        );
    }

    #[test]
    fn size_and_headers_change_the_fingerprint() {
        let f = parse_headers(MSG);
        assert_ne!(fingerprint(&f, 10), fingerprint(&f, 11));
        let no_id = b"Subject: x\r\n\r\nbody";
        assert_eq!(parse_headers(no_id).message_id, None);
        assert_ne!(
            fingerprint_message(no_id),
            fingerprint_message(b"Subject: y\r\n\r\nbody")
        );
    }

    #[test]
    fn same_headers_and_size_with_different_bodies_differ_only_in_content_hash() {
        let a = b"Message-ID: <x@y>\r\nSubject: s\r\n\r\nbody A\r\n";
        let b = b"Message-ID: <x@y>\r\nSubject: s\r\n\r\nbody B\r\n";
        assert_eq!(fingerprint_message(a), fingerprint_message(b));
        assert_ne!(content_hash(a), content_hash(b));
        assert_eq!(content_hash(a), content_hash(a));
        assert_eq!(content_hash(a).len(), 32);
    }

    #[test]
    fn lf_only_messages_parse() {
        let f = parse_headers(b"Message-Id: <x@y>\nSubject: s\n\nbody\n");
        assert_eq!(f.message_id.as_deref(), Some("x@y"));
        assert_eq!(f.values[5], "s");
    }
}
