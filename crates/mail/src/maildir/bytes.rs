//! Byte helpers shared by the local connectors (Maildir and mbox): IMAP-style line endings, header
//! reading without the body, and a stable hash for `uid_validity`.
//!
//! Local stores keep messages with bare LF line endings (the Unix convention); IMAP presents them with CRLF
//! and reports RFC822.SIZE of the CRLF form. Ferry compares sizes and fingerprints across connectors, so the
//! local connectors present bytes exactly as Dovecot would serve them over IMAP.

use std::io::Read;

/// How much of a file is read at first to find the end of the header block.
const HEADER_CHUNK: usize = 16 * 1024;
/// A header block larger than this is cut: the fingerprint headers come first in every real message.
const HEADER_MAX: usize = 1024 * 1024;

/// Convert bare LF to CRLF; existing CRLF (and lone CR) are kept.
pub(crate) fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// Counts the CRLF size of a byte stream fed in chunks (a chunk may end between CR and LF).
#[derive(Default)]
pub(crate) struct CrlfCounter {
    size: u64,
    prev: u8,
}

impl CrlfCounter {
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if b == b'\n' && self.prev != b'\r' {
                self.size += 1;
            }
            self.size += 1;
            self.prev = b;
        }
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

/// The CRLF size of everything `reader` yields, read in chunks (bounded memory).
pub(crate) fn crlf_size_of(mut reader: impl Read) -> std::io::Result<u64> {
    let mut counter = CrlfCounter::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(counter.size());
        }
        counter.feed(&buf[..n]);
    }
}

/// Read the header block (up to and including the empty line) from `reader`, without the body. Returns the
/// header bytes as stored (line endings untouched).
pub(crate) fn read_header_block(mut reader: impl Read) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(HEADER_CHUNK);
    let mut chunk = vec![0u8; HEADER_CHUNK];
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            return Ok(buf);
        }
        // Scan the whole buffer again so an empty line split across two chunks is found.
        buf.extend_from_slice(&chunk[..n]);
        let end = ferry_core::fingerprint::header_end(&buf);
        if end < buf.len() || buf.len() >= HEADER_MAX {
            buf.truncate(end.min(HEADER_MAX));
            return Ok(buf);
        }
    }
}

/// A stable 32-bit hash (FNV-1a 64, folded), never 0 (IMAP forbids UIDVALIDITY 0). Stable across runs,
/// machines and Rust versions, unlike `std::hash`.
pub(crate) struct StableHash(u64);

impl StableHash {
    pub(crate) fn new() -> Self {
        StableHash(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator so ("ab", "c") and ("a", "bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }

    pub(crate) fn finish32(&self) -> u32 {
        let folded = (self.0 >> 32) as u32 ^ (self.0 as u32);
        if folded == 0 { 1 } else { folded }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_lf_becomes_crlf_and_crlf_is_kept() {
        assert_eq!(to_crlf(b"a\nb\r\nc\rd\n"), b"a\r\nb\r\nc\rd\r\n");
        let mut c = CrlfCounter::default();
        c.feed(b"a\r");
        c.feed(b"\nb\n");
        assert_eq!(c.size(), to_crlf(b"a\r\nb\n").len() as u64);
    }

    #[test]
    fn header_block_stops_at_the_empty_line_even_across_chunks() -> std::io::Result<()> {
        let mut msg = b"Subject: x\n".repeat(2000);
        msg.extend_from_slice(b"\nbody\n");
        let head = read_header_block(&msg[..])?;
        assert_eq!(head.len(), msg.len() - 5);
        assert_eq!(read_header_block(&b"no body"[..])?, b"no body");
        Ok(())
    }

    #[test]
    fn stable_hash_separates_fields_and_is_never_zero() {
        let h = |parts: &[&str]| {
            let mut h = StableHash::new();
            for p in parts {
                h.update(p.as_bytes());
            }
            h.finish32()
        };
        assert_ne!(h(&["ab", "c"]), h(&["a", "bc"]));
        assert_eq!(h(&["x"]), h(&["x"]));
        assert_ne!(h(&[]), 0);
    }
}
