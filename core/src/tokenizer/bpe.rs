//! The BPE model: a vocabulary, a ranked merge table, and the merge loop
//! that turns one pre-tokenized piece into token ids.
//!
//! Tokens are kept as the raw bytes they stand for. In a byte-level
//! vocabulary (GPT-2 style) the JSON spells every byte as a printable char
//! (`Ġ` for a space); [`byte_level_decode`] undoes that once, at load, so
//! that encoding works on the text's own bytes and never re-spells it.
//!
//! Merging follows the reference implementation exactly: repeatedly merge
//! the adjacent pair with the lowest rank, the leftmost one on ties.

use std::collections::{BinaryHeap, HashMap};
use std::hash::Hasher;

use crate::{Error, Result};

/// The hash of the merge table (`u64` pair keys) and the vocabulary (short
/// byte strings): a multiply per word, then a folded multiply with a key
/// drawn for each table. SipHash, the default, cost more than the rest of
/// a merge step. The keys come from the file, so the hash must not let a
/// crafted file pile them into one bucket: a plain multiplicative hash
/// maps equal low bits to equal low bits, the bits a table indexes by;
/// the folded multiply (the 128-bit product's halves xored, as foldhash
/// does) spreads every input bit into them, and the secret key keeps a
/// file from choosing colliding keys ahead of time.
#[derive(Clone, Copy)]
pub struct PairHashBuilder(u64);

impl Default for PairHashBuilder {
    fn default() -> Self {
        use std::hash::BuildHasher;
        // std's per-process random keys, advanced for each RandomState.
        PairHashBuilder(
            std::collections::hash_map::RandomState::new().hash_one(0x006d_696e_6b65_u64),
        )
    }
}

impl std::hash::BuildHasher for PairHashBuilder {
    type Hasher = PairHasher;
    fn build_hasher(&self) -> PairHasher {
        PairHasher {
            state: 0,
            key: self.0,
        }
    }
}

/// The hasher of [`PairHashBuilder`].
pub struct PairHasher {
    state: u64,
    key: u64,
}

const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        let m =
            u128::from(self.state ^ self.key) * u128::from((MUL ^ self.key.rotate_left(32)) | 1);
        (m as u64) ^ ((m >> 64) as u64)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.state = (self.state.rotate_left(5) ^ u64::from(b)).wrapping_mul(MUL);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.state = (self.state.rotate_left(5) ^ x).wrapping_mul(MUL);
    }
}

type PairMap = HashMap<u64, (u32, u32), PairHashBuilder>;

/// Token bytes to id, with the same hash (tokens are short).
pub type VocabMap = HashMap<Box<[u8]>, u32, PairHashBuilder>;

#[inline]
fn pair_key(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

/// GPT-2's printable spelling of each byte: printable Latin-1 bytes stand
/// for themselves, the others are shifted to U+0100 and up.
pub fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut shifted = 0u32;
    for (b, slot) in table.iter_mut().enumerate() {
        let printable = matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
        let cp = if printable {
            b as u32
        } else {
            shifted += 1;
            255 + shifted
        };
        *slot = char::from_u32(cp).unwrap_or('\0');
    }
    table
}

/// [`byte_to_char_table`] inverted, built once.
pub fn byte_level_inverse() -> &'static HashMap<char, u8> {
    static INVERSE: std::sync::OnceLock<HashMap<char, u8>> = std::sync::OnceLock::new();
    INVERSE.get_or_init(|| {
        byte_to_char_table()
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect()
    })
}

/// The bytes a byte-level spelled token stands for, or `None` if a char of
/// it is not in the byte alphabet.
pub fn byte_level_decode(token: &str, inverse: &HashMap<char, u8>) -> Option<Vec<u8>> {
    token.chars().map(|c| inverse.get(&c).copied()).collect()
}

/// A BPE vocabulary and merge table.
pub struct Bpe {
    /// Token bytes to id.
    vocab: VocabMap,
    /// `(left id, right id)` to `(rank, merged id)`.
    merges: PairMap,
    /// Id of each single byte (byte-level) or `<0xXX>` token (byte fallback).
    byte_ids: [Option<u32>; 256],
    /// Whether the initial symbols are bytes (byte-level) or chars.
    byte_level: bool,
    /// Whether unknown chars become their `<0xXX>` byte tokens.
    byte_fallback: bool,
    /// The unknown token, if the model has one.
    unk: Option<u32>,
    /// Llama-3: a piece that is itself a token is taken whole.
    ignore_merges: bool,
}

/// Reusable buffers for [`Bpe::encode_piece`].
#[derive(Default)]
pub struct Scratch {
    /// `(id, prev, next)` per symbol; `id == u32::MAX` marks a merged-away one.
    syms: Vec<(u32, u32, u32)>,
    /// Min-heap of `(rank, position, merged id)` candidates.
    heap: BinaryHeap<std::cmp::Reverse<(u32, u32, u32)>>,
}

const NONE: u32 = u32::MAX;

/// Pieces of at most this many symbols take [`Bpe::merge_short`].
const SHORT: usize = 32;

impl Bpe {
    /// Builds the model. `vocab` maps token bytes to ids; `merges` are pairs
    /// of token bytes, best first. `what` names the source in errors.
    pub fn new(
        vocab: VocabMap,
        merges: &[(Vec<u8>, Vec<u8>)],
        byte_level: bool,
        byte_fallback: bool,
        unk: Option<u32>,
        ignore_merges: bool,
        what: &str,
    ) -> Result<Bpe> {
        let mut table = PairMap::default();
        table.reserve(merges.len());
        let mut joined = Vec::new();
        for (rank, (a, b)) in merges.iter().enumerate() {
            let id = |t: &[u8]| {
                vocab.get(t).copied().ok_or_else(|| {
                    Error::Tokenizer(format!(
                        "{what}: merge {rank} ({:?} {:?}) uses {:?}, which is not in the vocabulary",
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b),
                        String::from_utf8_lossy(t)
                    ))
                })
            };
            let (ia, ib) = (id(a)?, id(b)?);
            joined.clear();
            joined.extend_from_slice(a);
            joined.extend_from_slice(b);
            let merged = id(&joined)?;
            // A pair listed twice keeps its last rank, as in the reference.
            table.insert(pair_key(ia, ib), (rank as u32, merged));
        }
        let mut byte_ids = [None; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            *slot = if byte_level {
                vocab.get(&[b as u8][..]).copied()
            } else {
                vocab.get(format!("<0x{b:02X}>").as_bytes()).copied()
            };
        }
        Ok(Bpe {
            vocab,
            merges: table,
            byte_ids,
            byte_level,
            byte_fallback,
            unk,
            ignore_merges,
        })
    }

    /// Id of a token given as its bytes.
    pub fn token_id(&self, bytes: &[u8]) -> Option<u32> {
        self.vocab.get(bytes).copied()
    }

    /// Encodes one pre-tokenized piece, appending its ids to `out`.
    pub fn encode_piece(
        &self,
        piece: &[u8],
        scratch: &mut Scratch,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        if piece.is_empty() {
            return Ok(());
        }
        if self.ignore_merges {
            if let Some(&id) = self.vocab.get(piece) {
                out.push(id);
                return Ok(());
            }
        }
        let syms = &mut scratch.syms;
        syms.clear();
        self.initial_symbols(piece, syms)?;
        if syms.len() <= SHORT {
            return self.merge_short(scratch, out);
        }
        self.merge(scratch);
        let mut i = if scratch.syms.is_empty() { NONE } else { 0 };
        while i != NONE {
            let (id, _, next) = scratch.syms[i as usize];
            out.push(id);
            i = next;
        }
        Ok(())
    }

    /// One symbol per byte (byte-level) or per char, linked as a list.
    /// Chars (or bytes) without a token and no unknown token to stand for
    /// them are dropped, as the reference does.
    fn initial_symbols(&self, piece: &[u8], syms: &mut Vec<(u32, u32, u32)>) -> Result<()> {
        let push = |id: u32, syms: &mut Vec<(u32, u32, u32)>| {
            let n = syms.len() as u32;
            syms.push((id, if n == 0 { NONE } else { n - 1 }, n + 1));
        };
        if self.byte_level {
            // A byte without a token (SmolLM2 has none for 0x1D) is dropped
            // when there is no unknown token, as the reference does.
            for &b in piece {
                if let Some(id) = self.byte_ids[b as usize].or(self.unk) {
                    push(id, syms);
                }
            }
        } else {
            let text = std::str::from_utf8(piece)
                .map_err(|_| Error::Tokenizer("a piece is not UTF-8".into()))?;
            for (i, c) in text.char_indices() {
                let bytes = &piece[i..i + c.len_utf8()];
                if let Some(&id) = self.vocab.get(bytes) {
                    push(id, syms);
                } else if self.byte_fallback
                    && bytes.iter().all(|&b| self.byte_ids[b as usize].is_some())
                {
                    for &b in bytes {
                        push(self.byte_ids[b as usize].unwrap_or(NONE), syms);
                    }
                } else if let Some(unk) = self.unk {
                    push(unk, syms);
                }
            }
        }
        if let Some(last) = syms.last_mut() {
            last.2 = NONE;
        }
        Ok(())
    }

    /// The merge loop for a short piece (most words): the same choice as
    /// [`Bpe::merge`] (lowest rank, leftmost on ties) by scanning an array
    /// of pair ranks, which beats a heap at this size.
    fn merge_short(&self, scratch: &mut Scratch, out: &mut Vec<u32>) -> Result<()> {
        let n = scratch.syms.len();
        let mut ids = [0u32; SHORT];
        // ranks[i]: (rank, merged id) of the pair (ids[i], ids[i + 1]).
        let mut ranks = [(NONE, NONE); SHORT];
        for (i, s) in scratch.syms.iter().enumerate() {
            ids[i] = s.0;
        }
        for i in 0..n.saturating_sub(1) {
            ranks[i] = self.rank(ids[i], ids[i + 1]).unwrap_or((NONE, NONE));
        }
        let mut n = n;
        while n > 1 {
            let mut best = 0;
            for i in 1..n - 1 {
                if ranks[i].0 < ranks[best].0 {
                    best = i;
                }
            }
            let (rank, id) = ranks[best];
            if rank == NONE {
                break;
            }
            ids[best] = id;
            ids.copy_within(best + 2..n, best + 1);
            ranks.copy_within(best + 2..n, best + 1);
            n -= 1;
            let pair = |i: usize| self.rank(ids[i], ids[i + 1]).unwrap_or((NONE, NONE));
            if best > 0 {
                ranks[best - 1] = pair(best - 1);
            }
            if best + 1 < n {
                ranks[best] = pair(best);
            }
        }
        out.extend_from_slice(&ids[..n]);
        Ok(())
    }

    #[inline]
    fn rank(&self, a: u32, b: u32) -> Option<(u32, u32)> {
        self.merges.get(&pair_key(a, b)).copied()
    }

    /// The merge loop over the linked symbols in `scratch`.
    fn merge(&self, scratch: &mut Scratch) {
        use std::cmp::Reverse;
        let Scratch { syms, heap } = scratch;
        heap.clear();
        for i in 0..syms.len() - 1 {
            if let Some((rank, id)) = self.rank(syms[i].0, syms[i + 1].0) {
                heap.push(Reverse((rank, i as u32, id)));
            }
        }
        while let Some(Reverse((_, pos, new_id))) = heap.pop() {
            let (left, prev, next) = syms[pos as usize];
            if left == NONE || next == NONE {
                continue;
            }
            let right = syms[next as usize].0;
            // Skip candidates made stale by an earlier merge.
            if self.rank(left, right).map(|(_, id)| id) != Some(new_id) {
                continue;
            }
            let after = syms[next as usize].2;
            syms[pos as usize] = (new_id, prev, after);
            syms[next as usize].0 = NONE;
            if after != NONE {
                syms[after as usize].1 = pos;
            }
            if prev != NONE {
                if let Some((rank, id)) = self.rank(syms[prev as usize].0, new_id) {
                    heap.push(Reverse((rank, prev, id)));
                }
            }
            if after != NONE {
                if let Some((rank, id)) = self.rank(new_id, syms[after as usize].0) {
                    heap.push(Reverse((rank, pos, id)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pair keys that agree in their low 32 bits (one right-hand token,
    /// left-hand ids 8192 apart) all fell in one bucket of the merge
    /// table under the plain multiplicative hash; they must spread.
    #[test]
    fn crafted_pair_keys_do_not_share_a_bucket() {
        use std::hash::BuildHasher;
        let b = PairHashBuilder::default();
        let buckets: std::collections::HashSet<u64> = (0..4096u32)
            .map(|i| b.hash_one(pair_key(i << 13, 7)) & 0xfff)
            .collect();
        // 4096 keys into 4096 buckets at random fill about 63% of them.
        assert!(buckets.len() > 2300, "{} buckets of 4096", buckets.len());
    }

    fn toy() -> Bpe {
        let words = ["a", "b", "c", "ab", "bc", "abc", "aa"];
        let vocab: VocabMap = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.as_bytes().to_vec().into_boxed_slice(), i as u32))
            .collect();
        let m = |a: &str, b: &str| (a.as_bytes().to_vec(), b.as_bytes().to_vec());
        let merges = [m("b", "c"), m("a", "b"), m("a", "bc"), m("a", "a")];
        Bpe::new(vocab, &merges, true, false, None, false, "toy").unwrap()
    }

    fn enc(bpe: &Bpe, s: &str) -> Vec<u32> {
        let mut out = Vec::new();
        bpe.encode_piece(s.as_bytes(), &mut Scratch::default(), &mut out)
            .unwrap();
        out
    }

    #[test]
    fn merges_by_rank_then_leftmost() {
        let bpe = toy();
        assert_eq!(enc(&bpe, "abc"), [5]); // b+c first, then a+bc
        assert_eq!(enc(&bpe, "aaa"), [6, 0]); // leftmost of equal ranks
        assert_eq!(enc(&bpe, "cab"), [2, 3]);
    }

    #[test]
    fn unknown_merge_token_is_an_error() {
        let vocab = [(b"a".to_vec().into_boxed_slice(), 0)]
            .into_iter()
            .collect();
        let merges = [(b"a".to_vec(), b"q".to_vec())];
        let e = Bpe::new(vocab, &merges, true, false, None, false, "t.json")
            .err()
            .unwrap();
        assert!(e.to_string().contains("not in the vocabulary"), "{e}");
    }

    #[test]
    fn byte_table_is_gpt2s() {
        let t = byte_to_char_table();
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[b'a' as usize], 'a');
        assert_eq!(t[0xAD], 'Ń');
    }
}
