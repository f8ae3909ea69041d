//! Modified UTF-7 for mailbox names (RFC 3501 §5.1.3), used by IMAP and on disk by Maildir++/Dovecot.
//!
//! Printable ASCII except `&` stands for itself; `&` is `&-`; other characters are UTF-16 encoded in a
//! modified base64 (`,` instead of `/`) between `&` and `-`.

use crate::{Error, Result};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encode a UTF-8 name to modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = match chunk.len() {
                1 => 2,
                2 => 3,
                _ => 4,
            };
            for i in 0..chars {
                let idx = (n >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[idx as usize]));
            }
        }
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decode a modified UTF-7 name to UTF-8. Malformed input is an error naming the name.
pub fn decode(name: &str) -> Result<String> {
    let bad = |why: &str| {
        Error::new(
            crate::ErrorKind::Protocol,
            format!("bad modified UTF-7 in {name:?}: {why}"),
        )
    };
    let mut out = String::with_capacity(name.len());
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'&' {
            if !(0x20..=0x7e).contains(&b) {
                // Some servers send raw UTF-8 (e.g. with UTF8=ACCEPT); keep it as it is.
                let rest = &name[i..];
                let c = rest.chars().next().ok_or_else(|| bad("truncated"))?;
                out.push(c);
                i += c.len_utf8();
                continue;
            }
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let end = name[i + 1..]
            .find('-')
            .ok_or_else(|| bad("unterminated '&'"))?
            + i
            + 1;
        let chunk = &bytes[i + 1..end];
        if chunk.is_empty() {
            out.push('&');
        } else {
            let mut bits: u32 = 0;
            let mut nbits = 0;
            let mut units: Vec<u16> = Vec::new();
            let mut acc: Vec<u8> = Vec::new();
            for &c in chunk {
                let v = ALPHABET
                    .iter()
                    .position(|&a| a == c)
                    .ok_or_else(|| bad("character outside the base64 alphabet"))?;
                bits = (bits << 6) | v as u32;
                nbits += 6;
                if nbits >= 8 {
                    nbits -= 8;
                    acc.push(((bits >> nbits) & 0xff) as u8);
                }
            }
            for pair in acc.chunks(2) {
                if pair.len() == 2 {
                    units.push(u16::from_be_bytes([pair[0], pair[1]]));
                }
            }
            let s = String::from_utf16(&units).map_err(|_| bad("invalid UTF-16"))?;
            out.push_str(&s);
        }
        i = end + 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc_examples_and_non_ascii() {
        // RFC 3501 §5.1.3 example.
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(
            decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(),
            "~peter/mail/台北/日本語"
        );
        for s in ["Entwürfe", "A&B", "Été 🚀 x", "plain", "&", "Ünïcödé/Sub"] {
            assert_eq!(decode(&encode(s)).unwrap(), s, "{s}");
        }
        assert_eq!(encode("A&B"), "A&-B");
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(decode("&unterminated").is_err());
        assert!(decode("&*-").is_err());
    }
}
