//! Added tokens (`<|im_start|>`, `<｜begin▁of▁sentence｜>`, `<think>`...):
//! found in the text before pre-tokenization and emitted whole.
//!
//! Matching is leftmost-longest over all added tokens of one pass, as the
//! reference does, followed by its per-token rules: `single_word` (only
//! between non-word chars), `lstrip`/`rstrip` (swallow the white space on
//! that side).
//!
//! Which special tokens may match is the caller's choice ([`Allow`]): all
//! of them (text the app wrote), none (`parse_special = false`: text a
//! user wrote), or none that overlap given byte ranges (a rendered chat
//! prompt, whose message contents are a user's).

use std::collections::HashMap;

/// One added token.
#[derive(Debug, Clone)]
pub struct AddedToken {
    pub id: u32,
    pub content: String,
    pub special: bool,
    pub lstrip: bool,
    pub rstrip: bool,
    pub single_word: bool,
    /// Matched on normalized text (after the normalizer) rather than raw.
    pub normalized: bool,
}

/// Which special tokens a split may emit. Added tokens that are not
/// special always match: they are vocabulary, not control.
#[derive(Debug, Clone, Copy)]
pub enum Allow<'a> {
    /// Every one: special-token text becomes the token.
    All,
    /// None: special-token text is ordinary text. The reference does this
    /// with `encode_special_tokens` (transformers' `split_special_tokens`):
    /// it drops the match and searches on after its end.
    NonSpecial,
    /// Only those whose text overlaps none of these byte ranges (sorted,
    /// disjoint). A match wholly inside a range is dropped as with
    /// [`Allow::NonSpecial`]; one that only overlaps a range is dropped and
    /// the search goes on at the next char, so that a token starting just
    /// after the range can still match.
    Outside(&'a [(usize, usize)]),
}

/// What [`Allow`] says of a special token matched at `[i, end)`: `None`
/// if it may match, else where to search on.
fn refused(allow: Allow<'_>, text: &str, i: usize, end: usize) -> Option<usize> {
    match allow {
        Allow::All => None,
        Allow::NonSpecial => Some(end),
        Allow::Outside(ranges) => {
            let k = ranges.partition_point(|&(_, b)| b <= i);
            let &(a, b) = ranges.get(k)?;
            if a >= end {
                None
            } else if a <= i && end <= b {
                Some(end)
            } else {
                Some(i + text[i..].chars().next().map_or(1, char::len_utf8))
            }
        }
    }
}

/// A byte trie over a set of added tokens.
pub struct Matcher {
    /// `(node, byte)` to child node; node 0 is the root.
    edges: HashMap<(u32, u8), u32>,
    /// Index into `tokens` of the token that ends at each node.
    ends: Vec<Option<usize>>,
    /// Whether any token starts with this byte.
    first: Box<[bool; 256]>,
    tokens: Vec<AddedToken>,
}

impl Matcher {
    /// A matcher for `tokens` (empty contents are ignored).
    pub fn new(tokens: Vec<AddedToken>) -> Matcher {
        let mut m = Matcher {
            edges: HashMap::new(),
            ends: vec![None],
            first: Box::new([false; 256]),
            tokens: Vec::new(),
        };
        for (index, t) in tokens.iter().enumerate() {
            let bytes = t.content.as_bytes();
            let Some(&b0) = bytes.first() else { continue };
            m.first[b0 as usize] = true;
            let mut node = 0u32;
            for &b in bytes {
                let fresh = m.ends.len() as u32;
                node = *m.edges.entry((node, b)).or_insert(fresh);
                if node == fresh {
                    m.ends.push(None);
                }
            }
            m.ends[node as usize] = Some(index);
        }
        m.tokens = tokens;
        m
    }

    /// Whether there is nothing to match.
    pub fn is_empty(&self) -> bool {
        self.ends.len() == 1
    }

    /// The longest token starting at byte `i` of `text`: `(token index, end)`.
    fn longest_at(&self, text: &[u8], i: usize) -> Option<(usize, usize)> {
        let mut node = 0u32;
        let mut best = None;
        for (j, &b) in text[i..].iter().enumerate() {
            match self.edges.get(&(node, b)) {
                Some(&n) => node = n,
                None => break,
            }
            if let Some(t) = self.ends[node as usize] {
                best = Some((t, i + j + 1));
            }
        }
        best
    }

    /// The contents of the special tokens.
    pub fn special_contents(&self) -> impl Iterator<Item = &str> {
        self.tokens
            .iter()
            .filter(|t| t.special)
            .map(|t| t.content.as_str())
    }

    /// Whether any token is special.
    pub fn has_special(&self) -> bool {
        self.tokens.iter().any(|t| t.special)
    }

    /// Splits `text` into runs of plain text (`None`) and added tokens
    /// (`Some(id)`), as byte ranges, appended to `out`; special tokens only
    /// where `allow` lets them match.
    pub fn split(&self, text: &str, allow: Allow<'_>, out: &mut Vec<(Option<u32>, usize, usize)>) {
        self.scan(text, allow, |t, _, _, start, stop| {
            out.push((t.map(|t| t.id), start, stop))
        });
    }

    /// The byte ranges of the special tokens in `text`, without the white
    /// space `lstrip`/`rstrip` would swallow, appended to `out`.
    pub fn special_spans(&self, text: &str, out: &mut Vec<(usize, usize)>) {
        self.scan(text, Allow::All, |t, i, end, _, _| {
            if t.is_some_and(|t| t.special) {
                out.push((i, end));
            }
        });
    }

    /// The matching behind [`Matcher::split`]: `emit(token, i, end, start,
    /// stop)` for each run in order, where `[start, stop)` is the run and,
    /// for a token, `[i, end)` its text without stripped white space.
    fn scan<'s>(
        &'s self,
        text: &str,
        allow: Allow<'_>,
        mut emit: impl FnMut(Option<&'s AddedToken>, usize, usize, usize, usize),
    ) {
        let bytes = text.as_bytes();
        let mut done = 0; // end of the last emitted range
        let mut i = 0;
        while i < bytes.len() {
            if !self.first[bytes[i] as usize] || !text.is_char_boundary(i) {
                i += 1;
                continue;
            }
            let Some((t, end)) = self.longest_at(bytes, i) else {
                i += 1;
                continue;
            };
            let token = &self.tokens[t];
            if token.single_word
                && !(word_boundary_before(&text[..i]) && word_boundary_after(&text[end..]))
            {
                // The reference drops this match and searches on after it.
                i = end;
                continue;
            }
            if token.special {
                if let Some(next) = refused(allow, text, i, end) {
                    i = next;
                    continue;
                }
            }
            let mut start = i;
            let mut stop = end;
            if token.lstrip {
                let ws: usize = text[done..i]
                    .chars()
                    .rev()
                    .take_while(|c| c.is_whitespace())
                    .map(char::len_utf8)
                    .sum();
                start -= ws;
            }
            if token.rstrip {
                stop += text[end..]
                    .chars()
                    .take_while(|c| c.is_whitespace())
                    .map(char::len_utf8)
                    .sum::<usize>();
            }
            if start > done {
                emit(None, done, start, done, start);
            }
            emit(Some(token), i, end, start, stop);
            done = stop;
            i = stop;
        }
        if done < bytes.len() {
            emit(None, done, bytes.len(), done, bytes.len());
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn word_boundary_before(s: &str) -> bool {
    !s.chars().next_back().is_some_and(is_word_char)
}

fn word_boundary_after(s: &str) -> bool {
    !s.chars().next().is_some_and(is_word_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(id: u32, content: &str) -> AddedToken {
        AddedToken {
            id,
            content: content.into(),
            special: true,
            lstrip: false,
            rstrip: false,
            single_word: false,
            normalized: false,
        }
    }

    fn run(m: &Matcher, s: &str) -> Vec<(Option<u32>, String)> {
        let mut out = Vec::new();
        m.split(s, Allow::All, &mut out);
        out.into_iter()
            .map(|(id, a, b)| (id, s[a..b].to_string()))
            .collect()
    }

    #[test]
    fn longest_token_wins() {
        let m = Matcher::new(vec![tok(1, "<a>"), tok(2, "<a>b"), tok(3, "<b>")]);
        let got = run(&m, "x<a>b<a><b>y");
        let want = [
            (None, "x"),
            (Some(2), "<a>b"),
            (Some(1), "<a>"),
            (Some(3), "<b>"),
            (None, "y"),
        ];
        let want: Vec<_> = want.iter().map(|&(i, s)| (i, s.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn strips_and_single_word() {
        let mut t = tok(7, "<m>");
        t.lstrip = true;
        t.rstrip = true;
        let mut w = tok(8, "hi");
        w.single_word = true;
        let m = Matcher::new(vec![t, w]);
        let got = run(&m, "a  <m>  b chip hi");
        let want = [
            (None, "a"),
            (Some(7), "  <m>  "),
            (None, "b chip "),
            (Some(8), "hi"),
        ];
        let want: Vec<_> = want.iter().map(|&(i, s)| (i, s.to_string())).collect();
        assert_eq!(got, want);
    }

    fn run_allowing(m: &Matcher, s: &str, allow: Allow<'_>) -> Vec<(Option<u32>, String)> {
        let mut out = Vec::new();
        m.split(s, allow, &mut out);
        out.into_iter()
            .map(|(id, a, b)| (id, s[a..b].to_string()))
            .collect()
    }

    #[test]
    fn special_tokens_only_where_allowed() {
        let mut plain = tok(9, "<p>");
        plain.special = false;
        let m = Matcher::new(vec![tok(1, "<a>"), tok(2, "<a>b"), plain]);
        let s = "<a>b<p><a>";
        // None: the text stays text, but an added token that is not
        // special still matches.
        let got = run_allowing(&m, s, Allow::NonSpecial);
        let want = vec![
            (None, "<a>b".to_string()),
            (Some(9), "<p>".into()),
            (None, "<a>".into()),
        ];
        assert_eq!(got, want);
        // Outside a range: `<a>b` overlaps [2, 3) and is dropped; the
        // search goes on at the next char, where there is no token.
        let got = run_allowing(&m, s, Allow::Outside(&[(2, 3)]));
        assert_eq!(got[0], (None, "<a>b".to_string()));
        assert_eq!(got[2], (Some(1), "<a>".to_string()));
        // Ranges over both special tokens: as with none.
        let got = run_allowing(&m, s, Allow::Outside(&[(0, 4), (7, 10)]));
        assert_eq!(got, want);
        let got = run_allowing(&m, s, Allow::Outside(&[(8, 9)]));
        assert_eq!(
            got,
            vec![
                (Some(2), "<a>b".to_string()),
                (Some(9), "<p>".into()),
                (None, "<a>".into())
            ]
        );
    }

    #[test]
    fn a_token_starting_inside_a_dropped_one_can_match() {
        // `<a><b>` straddles the range's end: dropped; `<b>` after the
        // range is the template's and matches.
        let m = Matcher::new(vec![tok(1, "<a><b>"), tok(2, "<b>")]);
        let got = run_allowing(&m, "<a><b>", Allow::Outside(&[(0, 3)]));
        assert_eq!(
            got,
            vec![(None, "<a>".to_string()), (Some(2), "<b>".into())]
        );
        // Wholly inside: dropped, searching on after it, as the reference
        // does without special tokens.
        let got = run_allowing(&m, "<a><b>", Allow::Outside(&[(0, 6)]));
        assert_eq!(got, vec![(None, "<a><b>".to_string())]);
    }
}
