//! Limits on rendering a chat template. A template comes from a model
//! file and renders inside the host process (a C app, through
//! `minke_tokenizer_apply_chat_template`), so nothing in it may abort that
//! process (an allocation too large to make), overflow its stack (deep
//! nesting) or hang it (loops). Each limit here bounds one of these, and a
//! template that goes past one gets [`Error::TemplateLimit`] naming it.
//!
//! | limit | value | bounds |
//! |---|---|---|
//! | source | [`MAX_SOURCE_BYTES`] | parse time and memory |
//! | expression nesting | [`MAX_NESTING`] | stack of minijinja's parser, code generator and AST `Drop` |
//! | statement nesting | [`PARSER_NESTING`] (minijinja's parser) | the same |
//! | macro calls and recursive loops | [`RECURSION_LIMIT`] | stack of minijinja's VM |
//! | nesting of a value | [`MAX_VALUE_DEPTH`] | stack of printing, serializing and dropping it |
//! | fuel | [`FUEL`] | time and memory |
//! | output | [`MAX_OUTPUT_BYTES`] | the returned text |
//!
//! Fuel is minijinja's: every instruction costs one, and every 64 bytes of
//! data the template makes or writes one more. Its built-ins that allocate
//! from an argument (`indent`, the `format` filter, `batch`, `slice`,
//! `join`, `replace`, `*`, `+` and `~` on strings) check that the fuel can
//! pay before they allocate, so `"x"|indent(99999999999)` is an error, not
//! an abort. What minijinja leaves open is closed here:
//!
//! - **Nesting in the source.** minijinja's parser stops brackets and
//!   statements at 150 levels, but chains of `-` or `not` recurse in the
//!   parser without that guard, and chains of binary operators,
//!   attributes, calls and filters build left-deep trees that its code
//!   generator and `Drop` recurse through: 20,000 `-` overflow any stack.
//!   `template_scan.rs` scans the template's tokens (with minijinja's own
//!   lexer) before anything is parsed and refuses an expression that could
//!   nest deeper than [`MAX_NESTING`]. This is cheaper than parsing on a
//!   grown stack, and minijinja's `stacker` feature would not do it: it
//!   grows the stack only in the VM, not in the parser or code generator.
//! - **Nesting in values.** A namespace is the one mutable value, so
//!   `{% set ns.x = ns %}` makes a cycle that printing follows until the
//!   stack overflows, and `{% set ns.x = [ns.x] %}` in a loop nests one
//!   level deeper a turn; a chain of `{% set x = [x, x] %}` doubles what
//!   printing `x` walks at every step. So every `{% set %}` but one of a
//!   single literal is rewritten (`template_scan.rs`) to pass its value
//!   through [`set_value`] (walked, paid for, at most [`MAX_VALUE_DEPTH`]
//!   deep), or [`namespace_value`] when it assigns to a namespace (a copy
//!   as well: nothing a namespace holds reaches a namespace).
//! - **Serializing** (`tojson`, `pprint`, `string`, and `{{ }}` of a list
//!   or map): minijinja makes the text, then charges for it; here the value
//!   is walked and paid for first, so `[0] * 99999999` (a lazy list of 10^8
//!   items) or `tojson(indent=99999999999)` stops at once.
//! - **`str.format`** (minijinja-contrib's pycompat): field widths and
//!   precisions are paid for before formatting, as minijinja does for the
//!   `format` filter.
//! - **Splitting** (`split`, `lines`, `str.split`, `str.splitlines`) makes a
//!   value of about 30 bytes a piece: the pieces are counted and paid for
//!   first, or `("x" * 10**6).split("")` would make 30 bytes a byte.
//! - **Trimming a set of chars** (`trim`, `str.strip`, `lstrip`, `rstrip`)
//!   looks each char up in the set: a set given as a string takes time
//!   length × set size, so a long set is made a sorted one.
//! - **`strftime_now`** (ours) pays for its output first.
//! - **The output** is written through [`CappedWriter`].
//!
//! Not bounded: minijinja compares (`==`, `in`) and concatenates (`~`)
//! values by walking them with no fuel spent. A lazy `[0] * 99999999` walks
//! 10^8 items there (seconds), nested repetitions multiply, and values
//! shared through macro arguments (`f([x, x])` recursing) grow the same
//! way. Closing that needs minijinja to charge fuel in those walks.
//!
//! Each limit is far above what a real chat needs: the templates models
//! ship are at most about 16 KiB, nest a dozen deep, and render a turn of
//! a chat with some tens of fuel (DeepSeek-V3's about 65). The limits stay
//! the same whatever the conversation: about 15,000 turns, or
//! [`MAX_OUTPUT_BYTES`] of text (two million tokens, past any model's
//! context), is the most a chat can be.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use minijinja::value::{from_args, Kwargs, ObjectRepr, StringInput, Tuple};
use minijinja::{ErrorKind, Output, State, Value};

use crate::error::TemplateLimit;
use crate::Error;

/// The longest template source accepted. The longest templates models ship
/// (tool-calling ones) are about 16 KiB.
pub(super) const MAX_SOURCE_BYTES: usize = 256 * 1024;

/// How deep minijinja's parser lets brackets, statements and (some)
/// expressions nest together.
const PARSER_NESTING: usize = 150;

/// How deep one expression may nest, counted generously (see
/// `template_scan.rs`); real templates stay under 20.
pub(super) const MAX_NESTING: usize = 100;

/// minijinja's runtime recursion limit (its default is 500): a macro call
/// costs about 6 of it, so this allows about 30 nested macro calls (a
/// template that renders a JSON schema with a recursive macro nests as
/// deep as the schema).
pub(super) const RECURSION_LIMIT: usize = 200;

/// The fuel of one render: about a million instructions, which take tens
/// of milliseconds, or 64 MiB of data.
pub(super) const FUEL: u64 = 1_000_000;

/// The longest rendered text: 8 MiB, about two million tokens.
pub(super) const MAX_OUTPUT_BYTES: usize = 8 << 20;

/// One fuel pays for this many bytes (minijinja's `UNITS_PER_FUEL`).
const BYTES_PER_FUEL: u64 = 64;

/// What minijinja charges for a slot in a list, in bytes.
const SLOT_BYTES: u64 = 32;

/// A `chars` argument of trimming longer than this is looked up in a
/// sorted set instead of a list.
const SHORT_CHAR_SET: usize = 16;

/// An [`Error::TemplateLimit`].
pub(super) fn limit(limit: TemplateLimit, msg: String) -> Error {
    Error::TemplateLimit { limit, msg }
}

/// The error for a template's rendering, naming the limit it ran into if
/// it did: `output_full` says whether [`CappedWriter`] refused a write.
pub(super) fn render_error(e: minijinja::Error, output_full: bool) -> Error {
    let mut msg = e.to_string();
    let mut hit = None;
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        match s.downcast_ref::<LimitHit>() {
            Some(LimitHit(l)) => hit = Some(*l),
            None => msg.push_str(&format!(": {s}")),
        }
        src = s.source();
    }
    if let Some(mut l) = hit {
        if let TemplateLimit::Nesting { line, .. } = &mut l {
            *line = e.line().unwrap_or(0);
        }
        return limit(l, msg);
    }
    if output_full {
        return limit(
            TemplateLimit::Output {
                max: MAX_OUTPUT_BYTES,
            },
            msg,
        );
    }
    match e.kind() {
        ErrorKind::OutOfFuel => limit(TemplateLimit::Fuel { fuel: FUEL }, msg),
        ErrorKind::InvalidOperation if e.detail() == Some("recursion limit exceeded") => {
            limit(TemplateLimit::Recursion, msg)
        }
        ErrorKind::SyntaxError
            if e.detail() == Some("template exceeds maximum recursion limits") =>
        {
            let line = e.line().unwrap_or(0);
            limit(
                TemplateLimit::Nesting {
                    line,
                    max: PARSER_NESTING,
                },
                msg,
            )
        }
        _ => Error::Tokenizer(format!("chat template: {msg}")),
    }
}

/// The rendered text, refusing to grow past [`MAX_OUTPUT_BYTES`].
/// minijinja writes whole `str`s, so what it holds is UTF-8.
#[derive(Default)]
pub(super) struct CappedWriter {
    pub buf: Vec<u8>,
    /// Set once a write was refused.
    pub full: bool,
}

impl io::Write for CappedWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.buf.len() + b.len() > MAX_OUTPUT_BYTES {
            self.full = true;
            return Err(io::Error::other("chat template output limit"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Fails with minijinja's out-of-fuel error unless the fuel left could
/// pay for `bytes` of data; spends nothing (minijinja charges a value
/// once it is made). `what` says what wanted them.
fn ensure_bytes(state: &State, bytes: u64, what: &str) -> Result<(), minijinja::Error> {
    let Some((_, left)) = state.fuel_levels() else {
        return Ok(());
    };
    if bytes / BYTES_PER_FUEL >= left {
        return Err(minijinja::Error::new(
            ErrorKind::OutOfFuel,
            format!("{what} would make {bytes} bytes, more than the fuel left pays for"),
        ));
    }
    Ok(())
}

/// Pays first for the pieces of splitting `s` by `sep` (by white space
/// when `None`), at most `max` of them.
fn ensure_split(
    state: &State,
    s: &str,
    sep: Option<&str>,
    max: Option<usize>,
    what: &str,
) -> Result<(), minijinja::Error> {
    // The count stops where the fuel would run out, so counting is
    // bounded too.
    let most = state
        .fuel_levels()
        .map_or(u64::MAX, |(_, left)| {
            left.saturating_mul(BYTES_PER_FUEL) / SLOT_BYTES
        })
        .min(max.unwrap_or(usize::MAX) as u64) as usize;
    let pieces = match sep {
        None => s.split_whitespace().take(most.saturating_add(1)).count(),
        Some(sep) => s.split(sep).take(most.saturating_add(1)).count(),
    };
    ensure_bytes(state, pieces as u64 * SLOT_BYTES, what)
}

/// `trim` with a set of chars, as minijinja's and pycompat's
/// (`str::trim_matches` with the chars as a list), but looking each char up
/// in a sorted set when the set is long.
fn trim_set<'a>(s: &'a str, chars: &str, start: bool, end: bool) -> &'a str {
    let mut set: Vec<char> = chars.chars().collect();
    let hit: Box<dyn Fn(char) -> bool + '_> = if chars.len() <= SHORT_CHAR_SET {
        Box::new(|c| set.contains(&c))
    } else {
        set.sort_unstable();
        set.dedup();
        Box::new(|c| set.binary_search(&c).is_ok())
    };
    let s = if start {
        s.trim_start_matches(&*hit)
    } else {
        s
    };
    if end {
        s.trim_end_matches(&*hit)
    } else {
        s
    }
}

/// The `trim` filter: minijinja's, with [`trim_set`] for a long set.
pub(super) fn trim_filter(value: StringInput<'_>, chars: Option<Cow<'_, str>>) -> Value {
    match chars {
        Some(chars) if chars.len() > SHORT_CHAR_SET => {
            let out = trim_set(value.as_str(), &chars, true, true).to_string();
            value.preserve_safety(out)
        }
        chars => minijinja::filters::trim(value, chars),
    }
}

/// The `split` filter, paying for its pieces first.
pub(super) fn split_filter(
    state: &State,
    value: &Value,
    sep: Option<Arc<str>>,
    maxsplits: Option<i64>,
) -> Result<Value, minijinja::Error> {
    if let Some(s) = value.as_str() {
        let max = maxsplits.and_then(|n| usize::try_from(n).ok().map(|n| n + 1));
        ensure_split(state, s, sep.as_deref(), max, "split")?;
    }
    minijinja::filters::split(value, sep, maxsplits)
}

/// The `lines` filter, paying for its lines first.
pub(super) fn lines_filter(state: &State, value: &Value) -> Result<Value, minijinja::Error> {
    if let Some(s) = value.as_str() {
        ensure_split(state, s, Some("\n"), None, "lines")?;
    }
    minijinja::filters::lines(value)
}

/// How deep a value given to a serializing filter (`tojson`, `pprint`,
/// `string`) may nest: minijinja's serializers recurse once per level, and
/// a namespace that holds itself nests forever.
pub(super) const MAX_VALUE_DEPTH: usize = 128;

/// A limit a filter ran into, carried to [`render_error`] as the source of
/// minijinja's error.
#[derive(Debug)]
struct LimitHit(TemplateLimit);

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for LimitHit {}

/// At most how many bytes serializing `value` makes, with `indent` spaces
/// a level (every byte of a string counted ten times, for escapes): walks
/// the value without recursion, paying one fuel an item as it meets it
/// (so a lazy `[0] * 99999999` stops at once), and fails past
/// [`MAX_VALUE_DEPTH`] levels.
fn serialized_bytes(state: &State, value: &Value, indent: u64) -> Result<u64, minijinja::Error> {
    let mut total = 0u64;
    let mut todo = vec![(value.clone(), 0usize)];
    while let Some((v, depth)) = todo.pop() {
        if depth > MAX_VALUE_DEPTH {
            return Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("a value nests deeper than {MAX_VALUE_DEPTH}"),
            )
            .with_source(LimitHit(TemplateLimit::Nesting {
                line: 0,
                max: MAX_VALUE_DEPTH,
            })));
        }
        // Brackets, a line break and the indent, then per item a separator,
        // a line break and the indent.
        let open = 3 + indent.saturating_mul(depth as u64);
        let item = 3 + indent.saturating_mul(depth as u64 + 1);
        let object = v.as_object().filter(|o| o.repr() != ObjectRepr::Plain);
        if let Some(obj) = object {
            total = total.saturating_add(open);
            if obj.repr() == ObjectRepr::Map {
                for (k, x) in obj.try_iter_pairs().into_iter().flatten() {
                    state.consume_fuel(1)?;
                    total = total.saturating_add(item);
                    todo.push((k, depth + 1));
                    todo.push((x, depth + 1));
                }
            } else {
                for x in obj.try_iter().into_iter().flatten() {
                    state.consume_fuel(1)?;
                    total = total.saturating_add(item);
                    todo.push((x, depth + 1));
                }
            }
        } else {
            let len = match v.as_str() {
                Some(s) => s.len(),
                None => v.to_string().len(),
            };
            total = total.saturating_add((len as u64).saturating_mul(10).saturating_add(2));
        }
    }
    Ok(total)
}

/// Fails unless the fuel left could pay for serializing `value` (minijinja
/// charges 16 units a serialized byte, a quarter of a fuel).
fn ensure_serialized(
    state: &State,
    value: &Value,
    indent: u64,
    what: &str,
) -> Result<(), minijinja::Error> {
    let bytes = serialized_bytes(state, value, indent)?;
    ensure_bytes(state, bytes.saturating_mul(4), what)
}

/// The `tojson` filter, paying for its text first.
pub(super) fn tojson_filter(
    state: &State,
    value: &Value,
    indent: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, minijinja::Error> {
    let width = match indent
        .clone()
        .or_else(|| kwargs.peek::<Option<Value>>("indent").ok().flatten())
    {
        None => 0,
        Some(v) => match bool::try_from(v.clone()) {
            Ok(b) => 2 * u64::from(b),
            Err(_) => u64::try_from(v).unwrap_or(0),
        },
    };
    ensure_serialized(state, value, width, "tojson")?;
    minijinja::filters::tojson(value, indent, kwargs)
}

/// The `pprint` filter (Rust's pretty debug format, 4 spaces a level),
/// paying for its text first.
pub(super) fn pprint_filter(state: &State, value: &Value) -> Result<String, minijinja::Error> {
    ensure_serialized(state, value, 4, "pprint")?;
    Ok(minijinja::filters::pprint(value))
}

/// The `string` filter, paying for a container's text first.
pub(super) fn string_filter(state: &State, value: &Value) -> Result<Value, minijinja::Error> {
    if value.as_object().is_some() {
        ensure_serialized(state, value, 0, "string")?;
    }
    minijinja::filters::string(state, value)
}

/// Writes `{{ value }}`: a container is paid for before it is written.
/// Writing one stops at [`MAX_OUTPUT_BYTES`], but minijinja's formatter
/// walks the rest of it all the same, and `[0] * 99999999` is 10^8 items.
pub(super) fn formatter(
    out: &mut Output,
    state: &mut State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    if value.as_object().is_some() {
        ensure_serialized(state, value, 0, "writing a container")?;
    }
    minijinja::escape_formatter(out, state, value)
}

/// A value nesting past [`MAX_VALUE_DEPTH`], as an error.
fn too_deep_value() -> minijinja::Error {
    minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("a value nests deeper than {MAX_VALUE_DEPTH}"),
    )
    .with_source(LimitHit(TemplateLimit::Nesting {
        line: 0,
        max: MAX_VALUE_DEPTH,
    }))
}

/// What every `{% set x = ... %}` assigns goes through this: it walks the
/// value, paying one fuel an item, and refuses one that nests deeper than
/// [`MAX_VALUE_DEPTH`]. A chain of `{% set x = [x, x] %}` would otherwise
/// build a value whose printing or comparing takes time exponential in the
/// chain, or one so deep that dropping it overflows the stack.
pub(super) fn set_value(state: &State, value: Value) -> Result<Value, minijinja::Error> {
    fn walk(state: &State, v: &Value, depth: usize) -> Result<(), minijinja::Error> {
        let Some(obj) = v.as_object() else {
            return Ok(());
        };
        if depth >= MAX_VALUE_DEPTH {
            return Err(too_deep_value());
        }
        match obj.repr() {
            ObjectRepr::Map => {
                for (k, x) in obj.try_iter_pairs().into_iter().flatten() {
                    state.consume_fuel(1)?;
                    walk(state, &k, depth + 1)?;
                    walk(state, &x, depth + 1)?;
                }
            }
            ObjectRepr::Seq | ObjectRepr::Iterable => {
                for x in obj.try_iter().into_iter().flatten() {
                    state.consume_fuel(1)?;
                    walk(state, &x, depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    walk(state, &value, 0)?;
    Ok(value)
}

/// What `{% set ns.attr = ... %}` assigns goes through this: a copy made
/// of plain lists, tuples and maps (a namespace or a lazy sequence in it is
/// copied as it is now), as [`set_value`] checks and pays for it. A
/// namespace is minijinja's only mutable value: without the copy,
/// `{% set ns.x = ns %}` or `{% set ns.x = [ns] %}` makes a cycle that
/// printing follows until the stack overflows, and
/// `{% set ns.x = [ns.x] %}` in a loop nests a value one level deeper each
/// turn. With it, nothing a namespace holds can reach a namespace.
pub(super) fn namespace_value(state: &State, value: Value) -> Result<Value, minijinja::Error> {
    fn copy(state: &State, v: &Value, depth: usize) -> Result<Value, minijinja::Error> {
        let Some(obj) = v.as_object() else {
            return Ok(v.clone());
        };
        if depth >= MAX_VALUE_DEPTH {
            return Err(too_deep_value());
        }
        Ok(match obj.repr() {
            ObjectRepr::Map => {
                let mut map = BTreeMap::new();
                for (k, x) in obj.try_iter_pairs().into_iter().flatten() {
                    state.consume_fuel(1)?;
                    map.insert(copy(state, &k, depth + 1)?, copy(state, &x, depth + 1)?);
                }
                Value::from_object(map)
            }
            ObjectRepr::Seq | ObjectRepr::Iterable => {
                let mut items = Vec::new();
                for x in obj.try_iter().into_iter().flatten() {
                    state.consume_fuel(1)?;
                    items.push(copy(state, &x, depth + 1)?);
                }
                if obj.downcast_ref::<Tuple>().is_some() {
                    Value::from_object(Tuple::from(items))
                } else {
                    Value::from(items)
                }
            }
            _ => v.clone(),
        })
    }
    copy(state, &value, 0)
}

/// Python's methods on values (minijinja-contrib's pycompat), with the
/// guards above on the ones that need them.
pub(super) fn method_callback(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, minijinja::Error> {
    if let Some(s) = value.as_str() {
        match method {
            "format" => ensure_bytes(state, str_format_bytes(s), "str.format")?,
            "split" => {
                let (sep, max): (Option<&str>, Option<i64>) = from_args(args)?;
                let max = max.and_then(|n| usize::try_from(n).ok().map(|n| n + 1));
                ensure_split(state, s, sep, max, "str.split")?;
            }
            "splitlines" => ensure_split(state, s, Some("\n"), None, "str.splitlines")?,
            "strip" | "lstrip" | "rstrip" => {
                let (chars,): (Option<&str>,) = from_args(args)?;
                if let Some(chars) = chars.filter(|c| c.len() > SHORT_CHAR_SET) {
                    let (start, end) = (method != "rstrip", method != "lstrip");
                    return Ok(Value::from(trim_set(s, chars, start, end)));
                }
            }
            _ => {}
        }
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// At least the bytes that `s.format(...)` makes: the format string, plus
/// every number in a field's format spec (its width and precision pad or
/// extend the value to that many bytes).
fn str_format_bytes(s: &str) -> u64 {
    let mut total = s.len() as u64;
    let mut in_spec = false;
    let mut number = 0u64;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10).filter(|_| in_spec) {
            number = number.saturating_mul(10).saturating_add(u64::from(d));
            continue;
        }
        total = total.saturating_add(number);
        number = 0;
        match c {
            ':' => in_spec = true,
            '{' | '}' => in_spec = false,
            _ => {}
        }
    }
    total.saturating_add(number)
}

/// `strftime_now(fmt)`: pays for the longest text `fmt` can make (a code
/// of two bytes makes at most nine) before making it.
pub(super) fn strftime_now(state: &State, fmt: String) -> Result<String, minijinja::Error> {
    ensure_bytes(state, (fmt.len() as u64).saturating_mul(5), "strftime_now")?;
    super::template::strftime(&fmt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_format_bytes_counts_widths_and_precisions() {
        assert_eq!(str_format_bytes("{}"), 2);
        assert_eq!(str_format_bytes("{0} {1}"), 7);
        assert_eq!(str_format_bytes("{:>10}"), 6 + 10);
        assert_eq!(str_format_bytes("{:08.3f}"), 8 + 8 + 3);
        assert_eq!(str_format_bytes("{:>99999999999}"), 15 + 99_999_999_999);
        assert_eq!(str_format_bytes("{:9999999999999999999999}"), u64::MAX);
    }

    #[test]
    fn trim_set_matches_trim_matches() {
        let long = "abcdefghijklmnopqrstuvwxyz ";
        for s in ["", "  x  ", "abcxyzcba", "zz top zz", "—ab—"] {
            for chars in [" ", "ab", long, "—"] {
                let list: Vec<char> = chars.chars().collect();
                assert_eq!(trim_set(s, chars, true, true), s.trim_matches(&list[..]));
                assert_eq!(
                    trim_set(s, chars, true, false),
                    s.trim_start_matches(&list[..])
                );
                assert_eq!(
                    trim_set(s, chars, false, true),
                    s.trim_end_matches(&list[..])
                );
            }
        }
    }
}
