//! The character sets that pre-tokenizer patterns cut runs of: Unicode
//! categories (`\p{L}`, `\p{P}`) and the bracket expressions DeepSeek's
//! tokenizers spell out range by range.
//!
//! DeepSeek-LLM's letters are not `\p{L}` but an explicit list of cased
//! letters (Latin, Greek, Cyrillic, Armenian, Georgian, Cherokee...; no
//! CJK, no Arabic, no Devanagari), and its punctuation is ASCII and
//! full-width punctuation *plus the ASCII letters* (`:-~` spans them). The
//! tables below keep each list in the order and spelling of the model's
//! `tokenizer.json`, so that [`CharSet::spelling`] gives back the exact
//! regex text a file must hold for minke to accept it.

use super::unicode::{L, P};

/// `(first, last)` code points of a bracket expression's items, in the
/// order the pattern writes them; `first == last` is a single char.
type Ranges = &'static [(u32, u32)];

/// DeepSeek-LLM's letter class, from its second `Split`
/// (`\s?[A-Za-zµÀ-ÖØ-ö...𞤀-𞥃]+`): sorted and disjoint (a test checks), so
/// it can be searched by halves.
#[rustfmt::skip]
const CASED_LETTERS: Ranges = &[
    (0x0041, 0x005A), (0x0061, 0x007A), (0x00B5, 0x00B5), (0x00C0, 0x00D6), (0x00D8, 0x00F6),
    (0x00F8, 0x01BA), (0x01BC, 0x01BF), (0x01C4, 0x0293), (0x0295, 0x02AF), (0x0370, 0x0373),
    (0x0376, 0x0376), (0x0377, 0x0377), (0x037B, 0x037D), (0x037F, 0x037F), (0x0386, 0x0386),
    (0x0388, 0x038A), (0x038C, 0x038C), (0x038E, 0x03A1), (0x03A3, 0x03F5), (0x03F7, 0x0481),
    (0x048A, 0x052F), (0x0531, 0x0556), (0x10A0, 0x10C5), (0x13A0, 0x13F5), (0x13F8, 0x13FD),
    (0x1C90, 0x1CBA), (0x1CBD, 0x1CBF), (0x1D00, 0x1D2B), (0x1D6B, 0x1D77), (0x1D79, 0x1D9A),
    (0x1E00, 0x1F15), (0x1F18, 0x1F1D), (0x1F20, 0x1F45), (0x1F48, 0x1F4D), (0x1F50, 0x1F57),
    (0x1F59, 0x1F59), (0x1F5B, 0x1F5B), (0x1F5D, 0x1F5D), (0x1F5F, 0x1F7D), (0x1F80, 0x1FB4),
    (0x1FB6, 0x1FBC), (0x1FBE, 0x1FBE), (0x1FC2, 0x1FC4), (0x1FC6, 0x1FCC), (0x1FD0, 0x1FD3),
    (0x1FD6, 0x1FDB), (0x1FE0, 0x1FEC), (0x1FF2, 0x1FF4), (0x1FF6, 0x1FFC), (0x2102, 0x2102),
    (0x2107, 0x2107), (0x210A, 0x2113), (0x2115, 0x2115), (0x2119, 0x211D), (0x2124, 0x2124),
    (0x2126, 0x2126), (0x2128, 0x2128), (0x212A, 0x212D), (0x212F, 0x2134), (0x2139, 0x2139),
    (0x213C, 0x213F), (0x2145, 0x2149), (0x214E, 0x214E), (0x2183, 0x2183), (0x2184, 0x2184),
    (0x2C00, 0x2C7B), (0x2C7E, 0x2CE4), (0x2CEB, 0x2CEE), (0x2CF2, 0x2CF2), (0x2CF3, 0x2CF3),
    (0xA640, 0xA66D), (0xA680, 0xA69B), (0xA722, 0xA76F), (0xA771, 0xA787), (0xA78B, 0xA78E),
    (0xAB70, 0xABBF), (0xFB00, 0xFB06), (0xFB13, 0xFB17), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A),
    (0x10400, 0x1044F), (0x104B0, 0x104D3), (0x104D8, 0x104FB), (0x10C80, 0x10CB2), (0x10CC0, 0x10CF2),
    (0x118A0, 0x118DF), (0x1E900, 0x1E943),
];

/// DeepSeek-LLM's punctuation, `[!-/:-~！-／：-～‘-‟　-。]`: ASCII `!` to `/`
/// and `:` to `~` (letters included), their full-width forms, curly quotes,
/// and the ideographic space, comma and full stop.
const LLM_PUNCT: Ranges = &[
    (0x0021, 0x002F),
    (0x003A, 0x007E),
    (0xFF01, 0xFF0F),
    (0xFF1A, 0xFF5E),
    (0x2018, 0x201F),
    (0x3000, 0x3002),
];

/// DeepSeek-V3's `[一-龥぀-ゟ゠-ヿ]`: CJK ideographs, hiragana, katakana.
const CJK_KANA: Ranges = &[(0x4E00, 0x9FA5), (0x3040, 0x309F), (0x30A0, 0x30FF)];

/// DeepSeek-LLM and -Coder's `[一-龥ࠀ-一가-퟿]`: CJK ideographs, everything
/// from U+0800 (Samaritan) up to them — Indic scripts, Thai, kana, CJK
/// punctuation and more — and Hangul syllables.
const CJK_HANGUL: Ranges = &[(0x4E00, 0x9FA5), (0x0800, 0x4E00), (0xAC00, 0xD7FF)];

/// A set of chars that a pattern matches runs of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharSet {
    /// `\p{L}`.
    Letter,
    /// `\p{P}`.
    Punct,
    /// DeepSeek-LLM's letters ([`CASED_LETTERS`]).
    CasedLetter,
    /// DeepSeek-LLM's punctuation ([`LLM_PUNCT`]).
    LlmPunct,
    /// DeepSeek-V3's ideographs and kana ([`CJK_KANA`]).
    CjkKana,
    /// DeepSeek-LLM and -Coder's ideographs, U+0800.. and Hangul
    /// ([`CJK_HANGUL`]).
    CjkHangul,
}

impl CharSet {
    /// Every set, for matching a pattern's text against each.
    pub const ALL: [CharSet; 6] = [
        CharSet::Letter,
        CharSet::Punct,
        CharSet::CasedLetter,
        CharSet::LlmPunct,
        CharSet::CjkKana,
        CharSet::CjkHangul,
    ];

    fn ranges(self) -> Option<Ranges> {
        match self {
            CharSet::Letter | CharSet::Punct => None,
            CharSet::CasedLetter => Some(CASED_LETTERS),
            CharSet::LlmPunct => Some(LLM_PUNCT),
            CharSet::CjkKana => Some(CJK_KANA),
            CharSet::CjkHangul => Some(CJK_HANGUL),
        }
    }

    /// Whether `c`, whose class bits ([`super::unicode::class`]) are
    /// `class`, is in the set.
    #[inline]
    pub fn contains(self, class: u8, c: char) -> bool {
        let u = c as u32;
        match self {
            CharSet::Letter => class & L != 0,
            CharSet::Punct => class & P != 0,
            CharSet::CasedLetter => {
                // The first range that ends at or after `u` is the only
                // one that can hold it.
                let i = CASED_LETTERS.partition_point(|&(_, last)| last < u);
                CASED_LETTERS.get(i).is_some_and(|&(first, _)| first <= u)
            }
            CharSet::LlmPunct | CharSet::CjkKana | CharSet::CjkHangul => self
                .ranges()
                .unwrap_or(&[])
                .iter()
                .any(|&(first, last)| (first..=last).contains(&u)),
        }
    }

    /// The set as a regex writes it: `\p{L}`, or a bracket expression in
    /// the model file's own spelling.
    pub fn spelling(self) -> String {
        match self {
            CharSet::Letter => r"\p{L}".into(),
            CharSet::Punct => r"\p{P}".into(),
            _ => {
                let mut s = String::from("[");
                for &(first, last) in self.ranges().unwrap_or(&[]) {
                    // Every table entry is a valid scalar value (a test
                    // checks); a bad one would only fail to match.
                    s.extend(char::from_u32(first));
                    if last != first {
                        s.push('-');
                        s.extend(char::from_u32(last));
                    }
                }
                s.push(']');
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::unicode::class;
    use super::*;

    #[test]
    fn tables_are_valid_and_cased_letters_sorted() {
        for set in CharSet::ALL {
            for &(a, b) in set.ranges().unwrap_or(&[]) {
                assert!(a <= b, "{set:?}: {a:#x}-{b:#x}");
                assert!(char::from_u32(a).is_some() && char::from_u32(b).is_some());
            }
        }
        for w in CASED_LETTERS.windows(2) {
            assert!(w[0].1 < w[1].0, "{:x?} then {:x?}", w[0], w[1]);
        }
    }

    #[test]
    fn membership() {
        let has = |set: CharSet, c: char| set.contains(class(c), c);
        for c in ['A', 'z', 'µ', 'é', 'Ω', 'Ж', 'Ա', 'K', '𐐀', '𞥃'] {
            assert!(has(CharSet::CasedLetter, c), "{c:?}");
        }
        for c in [
            '×',
            '÷',
            'ƻ',
            'ʔ',
            '中',
            'ا',
            'क',
            '1',
            ' ',
            '𞥄',
            '\u{10ffff}',
        ] {
            assert!(!has(CharSet::CasedLetter, c), "{c:?}");
        }
        for c in [
            '!', '/', ':', 'a', '~', '！', '～', '‘', '‟', '\u{3000}', '、', '。',
        ] {
            assert!(has(CharSet::LlmPunct, c), "{c:?}");
        }
        for c in ['0', '9', ' ', '«', '—', '「', '０'] {
            assert!(!has(CharSet::LlmPunct, c), "{c:?}");
        }
        for c in ['中', '龥', 'ࠀ', 'क', 'ก', 'あ', '가', '힣', '\u{d7ff}'] {
            assert!(has(CharSet::CjkHangul, c), "{c:?}");
        }
        for c in ['龦', 'ǅ', '\u{7ff}', '\u{e000}', '😀'] {
            assert!(!has(CharSet::CjkHangul, c), "{c:?}");
        }
        assert!(has(CharSet::Letter, '中') && !has(CharSet::Letter, '1'));
        assert!(has(CharSet::Punct, '。') && !has(CharSet::Punct, '+'));
    }

    #[test]
    fn spellings_are_the_model_files() {
        assert_eq!(CharSet::LlmPunct.spelling(), "[!-/:-~！-／：-～‘-‟　-。]");
        assert_eq!(CharSet::CjkHangul.spelling(), "[一-龥ࠀ-一가-퟿]");
        let cased = CharSet::CasedLetter.spelling();
        assert!(cased.starts_with("[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵ"));
        assert!(cased.ends_with("𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]"));
        // The Kelvin sign and the ohm sign, not K and Ω: a copy of the
        // pattern that went through NFC no longer matches.
        assert!(cased.contains("\u{2124}\u{2126}\u{2128}\u{212a}-\u{212d}"));
    }
}
