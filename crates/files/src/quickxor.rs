//! QuickXorHash, the content hash OneDrive for Business and SharePoint report for every file
//! (`file.hashes.quickXorHash`), so a copy can be proven equal to its source without downloading it.
//!
//! From Microsoft's published description ("Code snippets: QuickXorHash algorithm", OneDrive developer
//! docs): the state is a 160-bit block; byte `i` of the input is XORed into the block rotated left by
//! `i * 11` bits (little-endian bit order: bit 0 is the lowest bit of the block's first byte); the
//! input length, as a 64-bit little-endian integer, is XORed into the block's last 8 bytes. Graph
//! carries the 20 bytes in base64; Ferry's listings carry them as lower-case hex like its other hashes
//! ([`to_hex`], [`base64_to_hex`]).
//!
//! Why not the `quickxorhash` crate: one 70-line unmaintained release; the algorithm is a dozen lines.

/// Bytes in a QuickXorHash.
pub const LEN: usize = 20;
const WIDTH_BITS: u64 = (LEN as u64) * 8;
const SHIFT: u64 = 11;

/// An incremental QuickXorHash.
#[derive(Clone, Debug, Default)]
pub struct QuickXor {
    block: [u8; LEN],
    /// Bytes hashed so far; also decides where the next byte lands (`len * 11 mod 160`).
    len: u64,
}

impl QuickXor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Hash more bytes.
    pub fn update(&mut self, data: &[u8]) {
        // Where the next byte goes, in bits; advanced by 11 per byte, kept below 160.
        let mut bit = (self.len % WIDTH_BITS) * SHIFT % WIDTH_BITS;
        for &b in data {
            let (idx, off) = ((bit / 8) as usize, (bit % 8) as u32);
            self.block[idx] ^= b << off;
            if off > 0 {
                // The bits that spill into the next byte, wrapping from the last byte to the first.
                self.block[(idx + 1) % LEN] ^= b >> (8 - off);
            }
            bit = (bit + SHIFT) % WIDTH_BITS;
        }
        self.len = self.len.wrapping_add(data.len() as u64);
    }

    /// The 20-byte digest.
    pub fn finish(&self) -> [u8; LEN] {
        let mut out = self.block;
        for (o, l) in out[LEN - 8..].iter_mut().zip(self.len.to_le_bytes()) {
            *o ^= l;
        }
        out
    }
}

/// The digest of `data` in one call.
pub fn digest(data: &[u8]) -> [u8; LEN] {
    let mut h = QuickXor::new();
    h.update(data);
    h.finish()
}

/// Lower-case hex, as [`ferry_core::file::FileEntry::hash`] carries hashes.
pub fn to_hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Graph's base64 form (`aCgDG9jwBhDc4Q1yawMZAAAAAAA=`) as lower-case hex; `None` if it is not the
/// base64 of 20 bytes (a hostile or broken answer is no hash, never a wrong one).
pub fn base64_to_hex(b64: &str) -> Option<String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    (raw.len() == LEN).then(|| to_hex(&raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn b64(d: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(d)
    }

    #[test]
    fn published_test_vectors_hash_as_published() {
        // "hello world": the vector published with the Python/C (flowerysong/quickxorhash) and Rust
        // (quickxorhash 0.1) implementations of Microsoft's algorithm, as bytes and in base64.
        let d = digest(b"hello world");
        assert_eq!(
            d,
            [
                104, 40, 3, 27, 216, 240, 6, 16, 220, 225, 13, 114, 107, 3, 25, 0, 0, 0, 0, 0
            ]
        );
        assert_eq!(b64(&d), "aCgDG9jwBhDc4Q1yawMZAAAAAAA=");
        // The empty input: no byte and a zero length leave the block zero.
        assert_eq!(b64(&digest(b"")), "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    }

    #[test]
    fn feeding_in_pieces_gives_the_same_digest_as_at_once() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let whole = digest(&data);
        for split in [1usize, 19, 20, 159, 160, 161, 1000] {
            let mut h = QuickXor::new();
            for chunk in data.chunks(split) {
                h.update(chunk);
            }
            assert_eq!(h.finish(), whole, "pieces of {split}");
        }
    }

    #[test]
    fn the_length_is_part_of_the_hash() {
        // Zero bytes XOR to nothing: only the length tells these apart.
        assert_ne!(digest(&[0u8; 3]), digest(&[0u8; 4]));
        assert_eq!(&digest(&[0u8; 3])[12..], &3u64.to_le_bytes());
    }

    #[test]
    fn graph_base64_becomes_hex_and_garbage_becomes_none() {
        assert_eq!(
            base64_to_hex("aCgDG9jwBhDc4Q1yawMZAAAAAAA=").as_deref(),
            Some(to_hex(&digest(b"hello world")).as_str())
        );
        assert_eq!(base64_to_hex("not base64!"), None);
        assert_eq!(base64_to_hex("aGVsbG8="), None);
    }
}
