//! The first look at a chat template, before minijinja parses it (see
//! `template_limits.rs` for why): with minijinja's own lexer, refuse a
//! source too long or an expression that could nest too deep for the
//! parser's stack, and rewrite every `{% set %}` to pass its value through
//! the checks of `template_limits.rs`.

use std::borrow::Cow;

use minijinja::machinery::{tokenize, Token};
use minijinja::syntax::SyntaxConfig;

use super::template_limits::{limit, MAX_NESTING, MAX_SOURCE_BYTES};
use crate::error::TemplateLimit;
use crate::Error;

/// What a `{% set %}` tag has shown so far, for [`prepare_source`].
#[derive(Default)]
struct SetTag {
    /// A `.` in its target: it assigns to a namespace's attribute.
    dotted: bool,
    /// Where its `=` ends (none: the block form, `{% set x %}...`).
    assign: Option<usize>,
    /// What follows the `=`.
    rhs: Rhs,
}

/// What follows the `=` of a `{% set %}`.
#[derive(Default, Clone, Copy, PartialEq)]
enum Rhs {
    #[default]
    Empty,
    /// One literal: a string, a number, `true`, `false` or `none`.
    Literal,
    More,
}

/// Refuses a template whose source is too long or whose expressions could
/// nest deeper than [`MAX_NESTING`], before minijinja parses it.
///
/// The bound is computed from minijinja's own tokens. A node of a parsed
/// expression is a leaf (a name or a literal) or is made by an operator
/// token (`-`, `not`, `+`, `.`, `|`, `is`, `if`, an opening bracket...),
/// and a path from the root of an expression down to a leaf passes
/// through the operators of one element of each bracket it enters (the
/// items of a list, the arguments of a call, the keys and values of a map
/// are siblings, apart at commas and colons). So an element nests at most
/// as deep as its operators outside brackets, plus the deepest bracket in
/// it or a leaf. Two more allow for a tuple without brackets (`a, b`) at
/// the top of a tag. Statements nest through their own tags, which
/// minijinja's parser limits.
///
/// It also returns the source with every `{% set %}` (but one of a single
/// literal) routed through `set_value` or, when it assigns to a
/// namespace's attribute, through `namespace_value` (both in
/// `template_limits.rs`, which says why).
pub(super) fn prepare_source<'a>(
    source: &'a str,
    syntax: &SyntaxConfig,
) -> Result<Cow<'a, str>, Error> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(limit(
            TemplateLimit::Source {
                bytes: source.len(),
                max: MAX_SOURCE_BYTES,
            },
            String::new(),
        ));
    }
    #[derive(Default)]
    struct Element {
        /// Operator tokens of this element outside brackets.
        own: usize,
        /// The deepest bracket inside this element.
        inner: usize,
        /// The deepest earlier element of the same bracket.
        siblings: usize,
    }
    impl Element {
        fn depth(&self) -> usize {
            (self.own + self.inner.max(1)).max(self.siblings)
        }
    }
    // The open brackets of the current tag, outermost first; empty
    // between tags.
    let mut open: Vec<Element> = Vec::new();
    // Whether the next token is the first of a `{% %}` tag, and, in a
    // `set` tag, what it has shown so far.
    let mut first = true;
    let mut set: Option<SetTag> = None;
    // Text to insert, at byte offsets of `source`, ascending.
    let mut inserts: Vec<(usize, &'static str)> = Vec::new();
    for token in tokenize(source, false, syntax.clone()) {
        // A lexing error is the parser's to report, with its position; the
        // parser reads no further than the tokens checked so far.
        let Ok((token, span)) = token else { break };
        let too_deep = || {
            limit(
                TemplateLimit::Nesting {
                    line: span.start_line as usize,
                    max: MAX_NESTING,
                },
                String::new(),
            )
        };
        let top = open.len() == 1;
        if let Some(tag) = &mut set {
            match token {
                Token::Dot if top && tag.assign.is_none() => tag.dotted = true,
                Token::Assign if top && tag.assign.is_none() => {
                    tag.assign = Some(span.end_offset as usize)
                }
                Token::BlockEnd => {
                    let (f, filter) = match tag.dotted {
                        true => ("__minke_namespace_value((", "|__minke_namespace_value"),
                        false => ("__minke_set_value((", "|__minke_set_value"),
                    };
                    let end = span.start_offset as usize;
                    match tag.assign {
                        // One literal (`{% set ns.first = false %}`, the
                        // most common kind) has nothing to check.
                        Some(_) if tag.rhs == Rhs::Literal => {}
                        Some(at) => inserts.extend([(at, f), (end, "))")]),
                        None => inserts.push((end, filter)),
                    }
                }
                _ if tag.assign.is_some() => {
                    let literal = matches!(
                        token,
                        Token::Str(_)
                            | Token::String(_)
                            | Token::Int(_)
                            | Token::Int128(_)
                            | Token::Float(_)
                            | Token::Ident("true" | "false" | "none" | "True" | "False" | "None")
                    );
                    tag.rhs = match tag.rhs {
                        Rhs::Empty if literal => Rhs::Literal,
                        _ => Rhs::More,
                    };
                }
                _ => {}
            }
        }
        if std::mem::take(&mut first) {
            set = matches!(token, Token::Ident("set")).then(SetTag::default);
        }
        match token {
            Token::TemplateData(_) => {}
            Token::VariableStart | Token::BlockStart => {
                open.clear();
                open.push(Element::default());
                first = matches!(token, Token::BlockStart);
                set = None;
            }
            Token::VariableEnd | Token::BlockEnd => {
                let mut depth = 0;
                while let Some(mut e) = open.pop() {
                    e.inner = e.inner.max(depth);
                    depth = e.depth();
                }
                if depth + 2 > MAX_NESTING {
                    return Err(too_deep());
                }
            }
            Token::ParenOpen | Token::BracketOpen | Token::BraceOpen => {
                if let Some(e) = open.last_mut() {
                    e.own += 1;
                }
                open.push(Element::default());
                if open.len() > MAX_NESTING {
                    return Err(too_deep());
                }
            }
            Token::ParenClose | Token::BracketClose | Token::BraceClose => {
                // An unmatched closing bracket is the parser's to report.
                if open.len() > 1 {
                    let depth = open.pop().map_or(0, |e| e.depth());
                    if let Some(e) = open.last_mut() {
                        e.inner = e.inner.max(depth);
                    }
                }
            }
            Token::Comma | Token::Colon => {
                if let Some(e) = open.last_mut() {
                    e.siblings = e.depth();
                    e.own = 0;
                    e.inner = 0;
                }
            }
            Token::Ident("not" | "and" | "or" | "in" | "is" | "if" | "else") => {
                if let Some(e) = open.last_mut() {
                    e.own += 1;
                    if e.own > MAX_NESTING {
                        return Err(too_deep());
                    }
                }
            }
            // Leaves: they end a path.
            Token::Ident(_)
            | Token::Str(_)
            | Token::String(_)
            | Token::Int(_)
            | Token::Int128(_)
            | Token::Float(_) => {}
            _ => {
                if let Some(e) = open.last_mut() {
                    e.own += 1;
                    if e.own > MAX_NESTING {
                        return Err(too_deep());
                    }
                }
            }
        }
    }
    if inserts.is_empty() {
        return Ok(Cow::Borrowed(source));
    }
    let mut out = String::with_capacity(source.len() + 32 * inserts.len());
    let mut at = 0;
    for (offset, text) in inserts {
        out.push_str(&source[at..offset]);
        out.push_str(text);
        at = offset;
    }
    out.push_str(&source[at..]);
    Ok(Cow::Owned(out))
}
