//! QuickXorHash, OneDrive's content hash (`file.hashes.quickXorHash`, base64), written from Microsoft's
//! published description ("Code Snippets: QuickXorHash Algorithm", learn.microsoft.com/onedrive/developer/
//! code-snippets/quickxorhash):
//!
//! - the state is a 160-bit block; byte `i` of the input is XORed into it rotated left by `i * 11` bits
//!   (bit positions are taken modulo 160, the block is little-endian: bit `k` is bit `k % 8` of byte `k / 8`);
//! - at the end the input length, as 8 little-endian bytes, is XORed into the block's last 8 bytes
//!   (bytes 12..20, "the least significant bits" of the reversed block of the description).
//!
//! Streaming: [`QuickXorHash::update`] may be called with any split of the input; the result is the same.

use base64::Engine as _;

const WIDTH_BITS: u64 = 160;
const SHIFT: u64 = 11;

/// An incremental QuickXorHash.
///
/// Byte `i` lands at bit `i * 11 mod 160`, which repeats every 160 bytes, so the bytes are first XORed into
/// 160 lanes by `i mod 160` (a plain byte loop) and the lanes are rotated into the block only when the
/// digest is asked for.
#[derive(Clone, Debug)]
pub struct QuickXorHash {
    lanes: [u8; 160],
    length: u64,
}

impl Default for QuickXorHash {
    fn default() -> QuickXorHash {
        QuickXorHash {
            lanes: [0; 160],
            length: 0,
        }
    }
}

impl QuickXorHash {
    pub fn new() -> QuickXorHash {
        QuickXorHash::default()
    }

    /// Add bytes.
    pub fn update(&mut self, data: &[u8]) {
        let start = (self.length % WIDTH_BITS) as usize;
        // Align to lane 0, then whole 160-byte rows.
        let head = ((160 - start) % 160).min(data.len());
        for (k, &b) in data[..head].iter().enumerate() {
            self.lanes[start + k] ^= b;
        }
        let mut rows = data[head..].chunks_exact(160);
        for row in &mut rows {
            for (lane, b) in self.lanes.iter_mut().zip(row) {
                *lane ^= b;
            }
        }
        for (lane, b) in self.lanes.iter_mut().zip(rows.remainder()) {
            *lane ^= b;
        }
        self.length = self.length.wrapping_add(data.len() as u64);
    }

    /// The 20-byte digest.
    pub fn digest(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        for (lane, &b) in self.lanes.iter().enumerate() {
            if b == 0 {
                continue;
            }
            let bit = (lane as u64 * SHIFT) % WIDTH_BITS;
            let byte = (bit / 8) as usize;
            let within = (bit % 8) as u32;
            let wide = u16::from(b) << within;
            out[byte] ^= (wide & 0xff) as u8;
            if within > 0 {
                out[(byte + 1) % 20] ^= (wide >> 8) as u8;
            }
        }
        for (i, b) in self.length.to_le_bytes().iter().enumerate() {
            out[12 + i] ^= b;
        }
        out
    }

    /// The digest as Graph shows it: standard base64 with padding.
    pub fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.digest())
    }
}

/// The base64 QuickXorHash of a byte string.
pub fn quick_xor_hash(data: &[u8]) -> String {
    let mut h = QuickXorHash::new();
    h.update(data);
    h.base64()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The description's pseudocode taken literally: a 160-bit block as an integer, rotate, xor.
    fn literal(data: &[u8]) -> [u8; 20] {
        let mut block = [false; 160];
        for (i, &b) in data.iter().enumerate() {
            for k in 0..8 {
                if b >> k & 1 == 1 {
                    let pos = (k + i * 11) % 160;
                    block[pos] = !block[pos];
                }
            }
        }
        let mut out = [0u8; 20];
        for (pos, set) in block.iter().enumerate() {
            if *set {
                out[pos / 8] |= 1 << (pos % 8);
            }
        }
        for (i, b) in (data.len() as u64).to_le_bytes().iter().enumerate() {
            out[12 + i] ^= b;
        }
        out
    }

    #[test]
    fn published_vectors_match() {
        // The empty input hashes to all zeros (no bytes, length 0).
        assert_eq!(quick_xor_hash(b""), "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        // The vector published with the reference implementations (`hello world`).
        assert_eq!(
            quick_xor_hash(b"hello world"),
            "aCgDG9jwBhDc4Q1yawMZAAAAAAA="
        );
    }

    #[test]
    fn the_fast_form_equals_the_literal_description_and_any_split() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7919 % 251) as u8).collect();
        for len in [0, 1, 19, 20, 21, 159, 160, 161, 320, 999] {
            let whole = {
                let mut h = QuickXorHash::new();
                h.update(&data[..len]);
                h.digest()
            };
            assert_eq!(whole, literal(&data[..len]), "length {len}");
            for split in [0, 1, 7, 159, 160, 161, len / 2, len] {
                let mut h = QuickXorHash::new();
                h.update(&data[..split.min(len)]);
                h.update(&data[split.min(len)..len]);
                assert_eq!(h.digest(), whole, "length {len} split {split}");
            }
        }
    }
}
