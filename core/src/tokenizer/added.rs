//! Added tokens (`<|im_start|>`, `<｜begin▁of▁sentence｜>`, `<think>`...):
//! found in the text before pre-tokenization and emitted whole.
//!
//! Matching is leftmost-longest over all added tokens of one pass, as the
//! reference does, followed by its per-token rules: `single_word` (only
//! between non-word chars), `lstrip`/`rstrip` (swallow the white space on
//! that side).

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

    /// Splits `text` into runs of plain text (`None`) and added tokens
    /// (`Some(id)`), as byte ranges, appended to `out`.
    pub fn split(&self, text: &str, out: &mut Vec<(Option<u32>, usize, usize)>) {
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
                out.push((None, done, start));
            }
            out.push((Some(token.id), start, stop));
            done = stop;
            i = stop;
        }
        if done < bytes.len() {
            out.push((None, done, bytes.len()));
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
        m.split(s, &mut out);
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
}
