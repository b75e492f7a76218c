//! Character classes the pre-tokenizer patterns are written in: `\p{L}`,
//! `\p{M}`, `\p{N}`, `\p{P}`, `\p{S}` and `\s`.
//!
//! The classes come from a generated table ([`super::unicode_table`]) rather
//! than from `char` methods, because `char::is_alphabetic` is the Alphabetic
//! property (not the letter category) and the std tables follow a newer
//! Unicode than the regex engine the reference tokenizers were built with.

use super::unicode_table::RUNS;

/// Letter, `\p{L}`.
pub const L: u8 = 1;
/// Mark, `\p{M}`.
pub const M: u8 = 2;
/// Number, `\p{N}`.
pub const N: u8 = 4;
/// Punctuation, `\p{P}`.
pub const P: u8 = 8;
/// Symbol, `\p{S}`.
pub const S: u8 = 16;
/// White space, `\s` (the Unicode White_Space property).
pub const WS: u8 = 32;

/// Table class number (0 other, 1 L, 2 M, 3 N, 4 P, 5 S) to bit.
const BIT: [u8; 6] = [0, L, M, N, P, S];

/// Classes of the ASCII range, computed at compile time from the same table.
static ASCII: [u8; 128] = ascii_table();

const fn ascii_table() -> [u8; 128] {
    let mut t = [0u8; 128];
    let mut run = 0;
    let mut c = 0;
    while c < 128 {
        while run + 1 < RUNS.len() && RUNS[run + 1].0 <= c as u32 {
            run += 1;
        }
        t[c] = BIT[RUNS[run].1 as usize];
        if is_space(c as u32) {
            t[c] |= WS;
        }
        c += 1;
    }
    t
}

/// The White_Space property, which is what `\s` means in the reference
/// tokenizers' regex engine.
const fn is_space(c: u32) -> bool {
    matches!(
        c,
        0x09..=0x0D
            | 0x20
            | 0x85
            | 0xA0
            | 0x1680
            | 0x2000..=0x200A
            | 0x2028
            | 0x2029
            | 0x202F
            | 0x205F
            | 0x3000
    )
}

/// The class bits of `c` (one category bit, plus [`WS`] for white space).
#[inline]
pub fn class(c: char) -> u8 {
    let u = c as u32;
    if u < 128 {
        return ASCII[u as usize];
    }
    let run = RUNS.partition_point(|&(start, _)| start <= u) - 1;
    let mut k = BIT[RUNS[run].1 as usize];
    if is_space(u) {
        k |= WS;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_known_chars() {
        assert_eq!(class('a'), L);
        assert_eq!(class('Z'), L);
        assert_eq!(class('7'), N);
        assert_eq!(class('!'), P);
        assert_eq!(class('+'), S);
        assert_eq!(class(' '), WS);
        assert_eq!(class('\n'), WS);
        assert_eq!(class('\u{3000}'), WS);
        assert_eq!(class('\u{a0}'), WS);
        assert_eq!(class('中'), L);
        assert_eq!(class('あ'), L);
        assert_eq!(class('\u{301}'), M);
        assert_eq!(class('²'), N);
        assert_eq!(class('€'), S);
        assert_eq!(class('😀'), S);
        assert_eq!(class('\u{200d}'), 0);
        assert_eq!(class('。'), P);
        assert_eq!(class('\u{10FFFF}'), 0);
    }
}
