//! A session's state as bytes: what [`crate::Session::save_state`] writes
//! and [`crate::Session::restore_state`] reads back, so that a long prompt
//! processed once can be restored into many sessions, or a conversation
//! put aside and resumed.
//!
//! # Format (version 1, little-endian)
//!
//! | bytes | what |
//! |---|---|
//! | 8 | magic `MINKEST\0` |
//! | 4 | format version (1) |
//! | 4 | cache element type (0: f16, 1: f32, 2: q8_0) |
//! | 8 | fingerprint of the model (`model_fingerprint`) |
//! | 8 | fingerprint of the LoRA adapter in use and its scale (0: none) |
//! | 8 | `n_pos`: tokens in the cache |
//! | 8 | `n_out`: logits kept (the model's outputs, or 0 before any token) |
//! | 8 | bytes of cache that follow the logits |
//! | `4 n_pos` | the tokens, as u32 |
//! | `4 n_out` | the last position's logits, as f32 |
//! | … | the cache of positions `0..n_pos`, as the session stores it |
//! | 8 | checksum of everything before it ([`Hash64`]) |
//!
//! A state is refused whole, before the session is touched, when it is
//! truncated, damaged (checksum), of another format version, from another
//! model or adapter, of another cache type, or longer than the session's
//! context: [`crate::Error::State`] says which.

use crate::{Error, Model, Result};
use std::io::Write;

/// The first eight bytes of every state.
pub const MAGIC: [u8; 8] = *b"MINKEST\0";
/// The format version this library writes and reads.
pub const VERSION: u32 = 1;
/// Bytes before the tokens.
pub(crate) const HEADER: usize = 56;
/// Bytes of the checksum at the end.
pub(crate) const TRAILER: usize = 8;

/// A fast 64-bit hash of a byte stream: four independent lanes of
/// xor-multiply-rotate over 32-byte blocks (several GB/s), folded with the
/// length at the end. For detecting damage and telling files apart, not
/// for security.
#[derive(Clone)]
pub struct Hash64 {
    lanes: [u64; 4],
    tail: [u8; 32],
    n_tail: usize,
    len: u64,
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline(always)]
fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(K).rotate_left(31)
}

impl Default for Hash64 {
    fn default() -> Self {
        Hash64 {
            lanes: [1, 2, 3, 4].map(|i: u64| i.wrapping_mul(K)),
            tail: [0; 32],
            n_tail: 0,
            len: 0,
        }
    }
}

impl Hash64 {
    fn block(&mut self, b: &[u8]) {
        for (l, w) in self.lanes.iter_mut().zip(b.chunks_exact(8)) {
            *l = mix(*l, u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
    }

    /// Adds `bytes` to the stream.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.n_tail > 0 {
            let take = (32 - self.n_tail).min(bytes.len());
            self.tail[self.n_tail..self.n_tail + take].copy_from_slice(&bytes[..take]);
            self.n_tail += take;
            bytes = &bytes[take..];
            if self.n_tail < 32 {
                return;
            }
            let t = self.tail;
            self.block(&t);
            self.n_tail = 0;
        }
        let mut blocks = bytes.chunks_exact(32);
        for b in &mut blocks {
            self.block(b);
        }
        let rest = blocks.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.n_tail = rest.len();
    }

    /// The hash of everything added.
    pub fn finish(&self) -> u64 {
        let mut t = [0u8; 32];
        t[..self.n_tail].copy_from_slice(&self.tail[..self.n_tail]);
        let mut h = self.clone();
        h.block(&t);
        let mut x = self.len;
        for l in h.lanes {
            x = mix(x, l);
        }
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^ (x >> 32)
    }
}

/// A writer that hashes what passes through it.
pub(crate) struct Hashing<'a> {
    pub out: &'a mut dyn Write,
    pub hash: Hash64,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A model's identity for states: its configuration, and each tensor's
/// name, type, shape and first, middle and last 64 bytes. Two files of the
/// same architecture but other weights (another fine-tune, another
/// quantization) differ; reading the samples costs a few pages a tensor.
pub(crate) fn model_fingerprint(model: &Model) -> u64 {
    let mut h = Hash64::default();
    h.update(format!("{:?}", model.config).as_bytes());
    let store = model.tensors();
    let mut names: Vec<&String> = store.names().iter().collect();
    names.sort();
    for name in names {
        let Some(t) = store.get(name) else { continue };
        h.update(format!("{name}\0{}\0{:?}\0", t.dtype, t.shape).as_bytes());
        let b = store.bytes(t);
        let mid = b.len() / 2;
        for r in [
            0..b.len().min(64),
            mid.saturating_sub(32)..(mid + 32).min(b.len()),
            b.len().saturating_sub(64)..b.len(),
        ] {
            h.update(&b[r]);
        }
    }
    h.finish()
}

/// An adapter's identity with the scale it is applied at (0: none).
pub(crate) fn adapter_fingerprint(lora: Option<(&crate::lora::LoraAdapter, f32)>) -> u64 {
    let Some((a, scale)) = lora else { return 0 };
    let mut h = Hash64::default();
    h.update(&scale.to_le_bytes());
    h.update(&a.scale.to_le_bytes());
    let mut names: Vec<&str> = a.names().collect();
    names.sort_unstable();
    for name in names {
        h.update(name.as_bytes());
        if let Some(p) = a.pair(name) {
            for v in [&p.a, &p.b] {
                h.update(bytemuck::cast_slice(v));
            }
        }
    }
    h.finish().max(1)
}

/// The fixed part of a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub kv_type: u32,
    pub model: u64,
    pub adapter: u64,
    pub n_pos: u64,
    pub n_out: u64,
    pub cache_bytes: u64,
}

impl Header {
    /// Bytes of the whole state it heads, or `None` on overflow.
    pub fn total(&self) -> Option<usize> {
        let t = self.n_pos.checked_mul(4)?;
        let l = self.n_out.checked_mul(4)?;
        let sum = (HEADER as u64 + TRAILER as u64)
            .checked_add(t)?
            .checked_add(l)?
            .checked_add(self.cache_bytes)?;
        usize::try_from(sum).ok()
    }

    pub fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(&MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        out.write_all(&self.kv_type.to_le_bytes())?;
        for v in [
            self.model,
            self.adapter,
            self.n_pos,
            self.n_out,
            self.cache_bytes,
        ] {
            out.write_all(&v.to_le_bytes())?;
        }
        Ok(())
    }

    /// Reads and checks the framing of a whole state: magic, version,
    /// length and checksum.
    pub fn read(data: &[u8]) -> Result<Header> {
        let bad = |m: String| Err(Error::State(format!("session state: {m}")));
        if data.len() < HEADER + TRAILER {
            return bad(format!(
                "{} bytes is too short for a session state (at least {})",
                data.len(),
                HEADER + TRAILER
            ));
        }
        if data[..8] != MAGIC {
            return bad("not a minke session state (bad magic bytes)".into());
        }
        let u32_at = |i: usize| u32::from_le_bytes(data[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(data[i..i + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != VERSION {
            return bad(format!(
                "state format version {version}; this library reads version {VERSION}"
            ));
        }
        let h = Header {
            kv_type: u32_at(12),
            model: u64_at(16),
            adapter: u64_at(24),
            n_pos: u64_at(32),
            n_out: u64_at(40),
            cache_bytes: u64_at(48),
        };
        match h.total() {
            Some(t) if t == data.len() => {}
            Some(t) if t > data.len() => {
                return bad(format!(
                    "truncated: the header announces {t} bytes and there are {}",
                    data.len()
                ))
            }
            _ => {
                return bad(format!(
                    "the header's sizes do not add up to the state's {} bytes",
                    data.len()
                ))
            }
        }
        let body = data.len() - TRAILER;
        let mut hash = Hash64::default();
        hash.update(&data[..body]);
        if hash.finish() != u64_at(body) {
            return bad("checksum mismatch: the state is damaged".into());
        }
        Ok(h)
    }
}

/// The code of a cache type in a state.
pub(crate) fn kv_code(kv: crate::KvType) -> u32 {
    match kv {
        crate::KvType::F16 => 0,
        crate::KvType::F32 => 1,
        crate::KvType::Q8_0 => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_does_not_depend_on_how_the_stream_is_split() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let mut whole = Hash64::default();
        whole.update(&data);
        for split in [1, 7, 31, 32, 33, 100, 999] {
            let mut h = Hash64::default();
            for c in data.chunks(split) {
                h.update(c);
            }
            assert_eq!(h.finish(), whole.finish(), "pieces of {split}");
        }
        let mut other = Hash64::default();
        other.update(&data[..999]);
        assert_ne!(other.finish(), whole.finish());
        let mut flipped = data.clone();
        flipped[500] ^= 1;
        let mut f = Hash64::default();
        f.update(&flipped);
        assert_ne!(f.finish(), whole.finish());
    }

    #[test]
    fn header_framing_errors_are_named() {
        let h = Header {
            kv_type: 0,
            model: 5,
            adapter: 0,
            n_pos: 2,
            n_out: 3,
            cache_bytes: 16,
        };
        let mut v = Vec::new();
        h.write(&mut v).unwrap();
        v.extend_from_slice(&[0u8; 8 + 12 + 16]);
        let mut hash = Hash64::default();
        hash.update(&v);
        v.extend_from_slice(&hash.finish().to_le_bytes());
        assert_eq!(Header::read(&v).unwrap(), h);
        let msg = |d: &[u8]| Header::read(d).unwrap_err().to_string();
        assert!(
            msg(&v[..v.len() - 1]).contains("truncated"),
            "{}",
            msg(&v[..v.len() - 1])
        );
        assert!(msg(&v[..20]).contains("too short"));
        let mut bad = v.clone();
        bad[0] = b'X';
        assert!(msg(&bad).contains("magic"));
        let mut bad = v.clone();
        bad[8] = 9;
        assert!(msg(&bad).contains("version 9"));
        let mut bad = v.clone();
        bad[70] ^= 4;
        assert!(msg(&bad).contains("checksum"));
        let mut bad = v.clone();
        bad[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(msg(&bad).contains("do not add up"), "{}", msg(&bad));
    }
}
