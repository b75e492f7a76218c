//! Pre-tokenization: cutting text into the pieces that BPE then merges
//! within.
//!
//! Hugging Face tokenizers write these cuts as regexes (`Split` with
//! `behavior: Isolated`): every match is a piece and so is every stretch of
//! text between matches. Rather than run a backtracking regex engine, each
//! pattern the supported model families use is written here by hand as a
//! function that, given a position, returns where the pattern's match
//! starting there ends — the same answer the regex gives, alternative by
//! alternative, including the backtracking of `\s+(?!\S)` and `\s*[\r\n]+`.
//! A pattern that is not one of these is refused when the tokenizer is
//! built, so no text is ever split in a way the model was not trained on.
//!
//! DeepSeek-LLM and DeepSeek-Coder cut with a chain of small patterns
//! instead of one big one (`[\r\n]`, then `\s?` + a run of letters, of
//! punctuation, trailing white space, CJK runs, digits); those are
//! [`Splitter::LineBreak`], [`Splitter::SpaceRun`], [`Splitter::Run`] and
//! [`Splitter::TrailingSpace`] over the sets of [`CharSet`].

pub use super::charset::CharSet;
use super::unicode::{class, L, M, N, P, S, WS};
use crate::{Error, Result};

/// The GPT-2 pattern (also what `ByteLevel` with `use_regex` means).
pub const GPT2: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Llama-3's pattern as its tokenizer.json spells it.
pub const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama-3's pattern as llama.cpp spells it (ASCII case folding only).
const LLAMA3_ASCII: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's pattern: Llama-3's with single digits.
pub const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_ASCII: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// DeepSeek-V3's third split: words, punctuation runs and white space.
pub const DEEPSEEK_V3: &str = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
/// DeepSeek-LLM and -Coder's first split: each line-break char alone
/// (the JSON string `"[\r\n]"` holds the chars themselves).
pub const LINE_BREAK: &str = "[\r\n]";
/// DeepSeek-LLM's fourth split: the white space that ends a piece. `$` is
/// Oniguruma's, the reference's engine: the end, or just before a `\n`.
pub const TRAILING_SPACE: &str = r"\s+$";

/// One `Split`-style cut, written by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Splitter {
    /// [`GPT2`].
    Gpt2,
    /// [`LLAMA3`] (`max_digits` 3) or [`QWEN2`] (`max_digits` 1);
    /// `unicode_case` says whether the contractions fold case as `(?i:)`
    /// does (`'ſ` matches `'s`) or only in ASCII, as llama.cpp spells it.
    Llama3 {
        max_digits: usize,
        unicode_case: bool,
    },
    /// [`DEEPSEEK_V3`].
    DeepSeekV3,
    /// `\p{N}{1,max}`; `\p{N}` is `max` 1, `\p{N}+` and the `Digits`
    /// pre-tokenizer without `individual_digits` are `usize::MAX`.
    Numbers { max: usize },
    /// `[\r\n]` ([`LINE_BREAK`]).
    LineBreak,
    /// `\s?` then a run of the set, e.g. `\s?\p{L}+`.
    SpaceRun(CharSet),
    /// A run of the set, e.g. DeepSeek-V3's second split,
    /// `[一-龥぀-ゟ゠-ヿ]+` (CJK ideographs and kana).
    Run(CharSet),
    /// `\s+$` ([`TRAILING_SPACE`]).
    TrailingSpace,
    /// A literal string (`Split` with a `String` pattern).
    Literal(String),
}

impl Splitter {
    /// The splitter that implements regex `pattern`, or an error naming it.
    pub fn from_regex(pattern: &str) -> Result<Splitter> {
        let gpt2_no_tail = GPT2.strip_suffix(r"|\s+").unwrap_or(GPT2);
        Ok(match pattern {
            p if p == GPT2 || p == gpt2_no_tail => Splitter::Gpt2,
            LLAMA3 => Splitter::Llama3 {
                max_digits: 3,
                unicode_case: true,
            },
            LLAMA3_ASCII => Splitter::Llama3 {
                max_digits: 3,
                unicode_case: false,
            },
            QWEN2 => Splitter::Llama3 {
                max_digits: 1,
                unicode_case: true,
            },
            QWEN2_ASCII => Splitter::Llama3 {
                max_digits: 1,
                unicode_case: false,
            },
            DEEPSEEK_V3 => Splitter::DeepSeekV3,
            LINE_BREAK | r"[\r\n]" => Splitter::LineBreak,
            TRAILING_SPACE => Splitter::TrailingSpace,
            r"\p{N}" | r"\d" => Splitter::Numbers { max: 1 },
            r"\p{N}{1,3}" => Splitter::Numbers { max: 3 },
            r"\p{N}+" => Splitter::Numbers { max: usize::MAX },
            p => {
                // `\s?SET+` and `SET+`, for each set minke knows.
                let run = p.strip_suffix('+').unwrap_or("");
                let spaced = run.strip_prefix(r"\s?");
                for set in CharSet::ALL {
                    let spelling = set.spelling();
                    if spaced == Some(spelling.as_str()) {
                        return Ok(Splitter::SpaceRun(set));
                    }
                    if run == spelling {
                        return Ok(Splitter::Run(set));
                    }
                }
                return Err(Error::Tokenizer(format!(
                    "unsupported Split regex {pattern:?}: minke implements the GPT-2, \
                     Llama-3, Qwen2, DeepSeek-LLM/Coder and DeepSeek-V3 pre-tokenizer patterns"
                )));
            }
        })
    }

    /// Where the match that starts at byte `i` of `s` ends, if one does.
    /// `i` is on a char boundary and `i < s.len()`.
    fn match_at(&self, s: &str, i: usize) -> Option<usize> {
        match self {
            Splitter::Gpt2 => gpt2(s, i),
            Splitter::Llama3 {
                max_digits,
                unicode_case,
            } => llama3(s, i, *max_digits, *unicode_case),
            Splitter::DeepSeekV3 => deepseek_v3(s, i),
            Splitter::Numbers { max } => {
                let c = char_at(s, i)?;
                (class(c) & N != 0).then(|| run(s, i, *max, |k, _| k & N != 0))
            }
            Splitter::LineBreak => matches!(s.as_bytes()[i], b'\r' | b'\n').then_some(i + 1),
            Splitter::SpaceRun(set) => {
                // `\s?` takes a white-space char only if the run follows it;
                // otherwise the run must start at `i`.
                let c = char_at(s, i)?;
                let next = i + c.len_utf8();
                let in_set = |k, c| set.contains(k, c);
                let k = class(c);
                if k & WS != 0 && char_at(s, next).is_some_and(|d| in_set(class(d), d)) {
                    return Some(run(s, next, usize::MAX, in_set));
                }
                in_set(k, c).then(|| run(s, i, usize::MAX, in_set))
            }
            Splitter::Run(set) => {
                let c = char_at(s, i)?;
                let in_set = |k, c| set.contains(k, c);
                in_set(class(c), c).then(|| run(s, i, usize::MAX, in_set))
            }
            Splitter::TrailingSpace => trailing_space(s, i)
                .filter(|&(start, _)| start == i)
                .map(|(_, end)| end),
            Splitter::Literal(lit) => {
                (!lit.is_empty() && s[i..].starts_with(lit.as_str())).then(|| i + lit.len())
            }
        }
    }

    /// The first match at or after byte `i` of `s`: `(start, end)`.
    fn find(&self, s: &str, mut i: usize) -> Option<(usize, usize)> {
        if matches!(self, Splitter::TrailingSpace) {
            // Found in one pass: trying each start in turn would rescan a
            // long run of spaces once per space.
            return trailing_space(s, i);
        }
        while i < s.len() {
            match self.match_at(s, i) {
                Some(e) if e > i => return Some((i, e)),
                _ => i += char_len(s.as_bytes()[i]),
            }
        }
        None
    }

    /// Splits `s[start..end]` into pieces (matches and the gaps between
    /// them), appending their byte ranges to `out`.
    pub fn split(&self, s: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
        let piece = &s[start..end];
        let mut gap = 0;
        while let Some((a, e)) = self.find(piece, gap) {
            if gap < a {
                out.push((start + gap, start + a));
            }
            out.push((start + a, start + e));
            gap = e;
        }
        if gap < piece.len() {
            out.push((start + gap, end));
        }
    }
}

/// The length in bytes of the UTF-8 sequence that starts with `b`.
#[inline]
fn char_len(b: u8) -> usize {
    match b {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[inline]
fn char_at(s: &str, i: usize) -> Option<char> {
    s.get(i..)?.chars().next()
}

/// End of the longest run, at most `max` chars, of chars starting at `i`
/// for which `keep(class, char)` holds.
#[inline]
fn run(s: &str, i: usize, max: usize, keep: impl Fn(u8, char) -> bool) -> usize {
    let mut end = i;
    for (n, c) in s[i..].chars().enumerate() {
        if n >= max || !keep(class(c), c) {
            break;
        }
        end += c.len_utf8();
    }
    end
}

/// The first match of [`TRAILING_SPACE`] at or after byte `from` of `s`.
///
/// `\s+` is greedy and gives back chars until `$` holds, so a run of white
/// space matches from its first char to the last place in it where `$`
/// holds: the end of `s` if the run reaches it, else just before the run's
/// last `\n` (never before its first char, as `\s+` needs one). A run
/// with neither does not match at any of its chars.
fn trailing_space(s: &str, from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while let Some(c) = char_at(s, i) {
        if class(c) & WS == 0 {
            i += c.len_utf8();
            continue;
        }
        let mut end = i;
        let mut before_newline = None;
        for c in s[i..].chars() {
            if class(c) & WS == 0 {
                break;
            }
            if c == '\n' && end > i {
                before_newline = Some(end);
            }
            end += c.len_utf8();
        }
        if end == s.len() {
            return Some((i, end));
        }
        if let Some(e) = before_newline {
            return Some((i, e));
        }
        i = end;
    }
    None
}

/// `'s|'t|'re|'ve|'m|'ll|'d` after the apostrophe at `i`: the match end.
/// With `fold`, ASCII case is ignored; with `unicode`, `ſ` also counts as
/// `s` (Unicode simple case folding, as `(?i:)` does).
fn contraction(s: &str, i: usize, fold: bool, unicode: bool) -> Option<usize> {
    let rest = &s.as_bytes()[i + 1..];
    let lower = |k: usize| {
        rest.get(k)
            .map(|b| if fold { b.to_ascii_lowercase() } else { *b })
    };
    let two = |a: u8, b: u8| lower(0) == Some(a) && lower(1) == Some(b);
    match lower(0) {
        Some(b's' | b't' | b'm' | b'd') => Some(i + 2),
        _ if two(b'r', b'e') || two(b'v', b'e') || two(b'l', b'l') => Some(i + 3),
        _ if unicode && rest.starts_with("ſ".as_bytes()) => Some(i + 3),
        _ => None,
    }
}

/// The white-space alternatives shared by the patterns, for the white-space
/// run starting at `i`: `\s*[\r\n]+` when `newlines` (it wins if the run
/// holds a line break, and ends just after the last one), then
/// `\s+(?!\S)` (the run less its last char when a non-space follows), then
/// `\s+`.
fn spaces(s: &str, i: usize, newlines: bool) -> usize {
    let mut end = i;
    let mut last_start = i;
    let mut after_newline = None;
    for c in s[i..].chars() {
        if class(c) & WS == 0 {
            break;
        }
        last_start = end;
        end += c.len_utf8();
        if newlines && (c == '\r' || c == '\n') {
            after_newline = Some(end);
        }
    }
    if let Some(e) = after_newline {
        return e;
    }
    if end == s.len() || last_start == i {
        end
    } else {
        last_start
    }
}

/// [`GPT2`] at `i`.
fn gpt2(s: &str, i: usize) -> Option<usize> {
    let c = char_at(s, i)?;
    if c == '\'' {
        if let Some(e) = contraction(s, i, false, false) {
            return Some(e);
        }
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
    let j = if c == ' ' { i + 1 } else { i };
    if let Some(d) = char_at(s, j) {
        let k = class(d);
        if k & L != 0 {
            return Some(run(s, j, usize::MAX, |k, _| k & L != 0));
        }
        if k & N != 0 {
            return Some(run(s, j, usize::MAX, |k, _| k & N != 0));
        }
        if k & (WS | L | N) == 0 {
            return Some(run(s, j, usize::MAX, |k, _| k & (WS | L | N) == 0));
        }
    }
    // Only white space is left: `\s+(?!\S)|\s+`.
    Some(spaces(s, i, false))
}

/// [`LLAMA3`] / [`QWEN2`] at `i`.
fn llama3(s: &str, i: usize, max_digits: usize, unicode_case: bool) -> Option<usize> {
    let c = char_at(s, i)?;
    let k = class(c);
    if c == '\'' {
        if let Some(e) = contraction(s, i, true, unicode_case) {
            return Some(e);
        }
    }
    // `[^\r\n\p{L}\p{N}]?\p{L}+`
    let next = i + c.len_utf8();
    if k & L != 0 {
        return Some(run(s, next, usize::MAX, |k, _| k & L != 0));
    }
    let optional = c != '\r' && c != '\n' && k & N == 0;
    if optional && char_at(s, next).is_some_and(|d| class(d) & L != 0) {
        return Some(run(s, next, usize::MAX, |k, _| k & L != 0));
    }
    // `\p{N}{1,3}`
    if k & N != 0 {
        return Some(run(s, i, max_digits, |k, _| k & N != 0));
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    let other = |k: u8| k & (WS | L | N) == 0;
    let j = if c == ' ' { next } else { i };
    if char_at(s, j).is_some_and(|d| other(class(d))) {
        let e = run(s, j, usize::MAX, |k, _| other(k));
        return Some(run(s, e, usize::MAX, |_, c| c == '\r' || c == '\n'));
    }
    // `\s*[\r\n]+|\s+(?!\S)|\s+`
    Some(spaces(s, i, true))
}

/// [`DEEPSEEK_V3`] at `i`.
fn deepseek_v3(s: &str, i: usize) -> Option<usize> {
    let c = char_at(s, i)?;
    let k = class(c);
    let next = i + c.len_utf8();
    // `[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+`
    if c.is_ascii_punctuation() && char_at(s, next).is_some_and(|d| d.is_ascii_alphabetic()) {
        return Some(run(s, next, usize::MAX, |_, c| c.is_ascii_alphabetic()));
    }
    // `[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+`
    let optional = c != '\r' && c != '\n' && k & (L | P | S) == 0;
    let letter_next = char_at(s, next).is_some_and(|d| class(d) & (L | M) != 0);
    if k & (L | M) != 0 || (optional && letter_next) {
        return Some(run(s, next, usize::MAX, |k, _| k & (L | M) != 0));
    }
    // ` ?[\p{P}\p{S}]+[\r\n]*`
    let j = if c == ' ' { next } else { i };
    if char_at(s, j).is_some_and(|d| class(d) & (P | S) != 0) {
        let e = run(s, j, usize::MAX, |k, _| k & (P | S) != 0);
        return Some(run(s, e, usize::MAX, |_, c| c == '\r' || c == '\n'));
    }
    // `\s*[\r\n]+|\s+(?!\S)|\s+`; anything else is left to a gap.
    (k & WS != 0).then(|| spaces(s, i, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(sp: &Splitter, s: &str) -> Vec<String> {
        let mut out = Vec::new();
        sp.split(s, 0, s.len(), &mut out);
        out.iter().map(|&(a, b)| s[a..b].to_string()).collect()
    }

    #[test]
    fn gpt2_splits() {
        let p = pieces(&Splitter::Gpt2, "Hello world's  3.14\tx \n");
        assert_eq!(
            p,
            ["Hello", " world", "'s", " ", " 3", ".", "14", "\t", "x", " \n"]
        );
    }

    #[test]
    fn llama3_splits() {
        let sp = Splitter::from_regex(LLAMA3).unwrap();
        let p = pieces(&sp, "I'LL pay 12345 now.\r\n\n  ok");
        assert_eq!(
            p,
            ["I", "'LL", " pay", " ", "123", "45", " now", ".\r\n\n", " ", " ok"]
        );
    }

    #[test]
    fn deepseek_splits() {
        let sp = Splitter::DeepSeekV3;
        assert_eq!(
            pieces(&sp, "a.com x!! \n"),
            ["a", ".com", " x", "!!", " \n"]
        );
    }

    #[test]
    fn deepseek_llm_and_coder_splits() {
        let sp = |re: String| Splitter::from_regex(&re).unwrap();
        let letters = sp(format!(r"\s?{}+", CharSet::CasedLetter.spelling()));
        assert_eq!(letters, Splitter::SpaceRun(CharSet::CasedLetter));
        assert_eq!(
            pieces(&letters, "Hé 中x  Ωy"),
            ["Hé", " 中", "x", " ", " Ωy"]
        );
        let punct = sp(format!(r"\s?{}+", CharSet::LlmPunct.spelling()));
        assert_eq!(
            pieces(&punct, "é ab,c 0\u{3000}。"),
            ["é", " ab,c", " 0", "\u{3000}。"]
        );
        let coder = sp(r"\s?\p{P}+".into());
        assert_eq!(pieces(&coder, "a ..b+ !"), ["a", " ..", "b+", " !"]);
        assert_eq!(sp(LINE_BREAK.into()), Splitter::LineBreak);
        assert_eq!(sp(r"[\r\n]".into()), Splitter::LineBreak);
        assert_eq!(
            pieces(&Splitter::LineBreak, "a\r\n\nb"),
            ["a", "\r", "\n", "\n", "b"]
        );
        let cjk = sp(format!("{}+", CharSet::CjkHangul.spelling()));
        assert_eq!(pieces(&cjk, "a中文한국b"), ["a", "中文한국", "b"]);
    }

    /// `\s+$` as Oniguruma reads it: `$` also holds before each `\n`.
    #[test]
    fn trailing_space_splits() {
        let sp = Splitter::from_regex(TRAILING_SPACE).unwrap();
        assert_eq!(sp, Splitter::TrailingSpace);
        assert_eq!(pieces(&sp, "a  "), ["a", "  "]);
        assert_eq!(pieces(&sp, " a \n b "), [" a", " ", "\n b", " "]);
        assert_eq!(pieces(&sp, "x  \n\n  y"), ["x", "  \n", "\n  y"]);
        assert_eq!(pieces(&sp, "\n"), ["\n"]);
        assert_eq!(pieces(&sp, "a\u{85} b"), ["a\u{85} b"]);
        // A long run that does not end the text is scanned once, not once
        // per space (this would take minutes if it were quadratic).
        let long = format!("{}x", " ".repeat(200_000));
        assert_eq!(pieces(&sp, &long), [long.as_str()]);
        assert_eq!(Splitter::TrailingSpace.match_at(" a", 0), None);
        assert_eq!(Splitter::TrailingSpace.match_at("a  ", 1), Some(3));
    }

    /// Every pattern against the reference splits in `pretok.jsonl`.
    #[test]
    fn matches_reference_splits() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/tokenizer/pretok.jsonl"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let mut failures = Vec::new();
        let mut n = 0;
        let mut patterns = std::collections::BTreeSet::new();
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            patterns.insert(row["pattern"].as_str().unwrap().to_string());
            let sp = Splitter::from_regex(row["regex"].as_str().unwrap()).unwrap();
            let s = row["text"].as_str().unwrap();
            let want: Vec<&str> = row["pieces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            if pieces(&sp, s) != want {
                failures.push(format!(
                    "{} {s:?}: want {want:?} got {:?}",
                    row["pattern"],
                    pieces(&sp, s)
                ));
            }
            n += 1;
        }
        assert!(n > 1000, "only {n} cases");
        for p in [
            "deepseek_llm_letters",
            "deepseek_llm_punct",
            "trailing_space",
            "cjk_hangul",
        ] {
            assert!(patterns.contains(p), "no {p} rows");
        }
        assert!(
            failures.is_empty(),
            "{} of {n} differ:\n{}",
            failures.len(),
            failures[..failures.len().min(10)].join("\n")
        );
    }

    #[test]
    fn unknown_pattern_is_refused() {
        let e = Splitter::from_regex(r"\w+").unwrap_err().to_string();
        assert!(e.contains("unsupported Split regex"), "{e}");
    }
}
