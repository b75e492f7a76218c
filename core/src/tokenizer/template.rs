//! Chat templates: the Jinja templates models ship, rendered with
//! `minijinja` the way transformers renders them.
//!
//! transformers compiles templates with `trim_blocks` and `lstrip_blocks`
//! on, and gives them `raise_exception`, `strftime_now`, the `bos_token`
//! and `eos_token` strings and Python's string methods (`.strip()`,
//! `.split()`...); the same environment is set up here.
//!
//! The template comes from a model file, so it renders within limits
//! (`template_limits.rs`, `template_scan.rs`): going past one is an
//! [`Error::TemplateLimit`], never an abort, a
//! stack overflow or a hang.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, ErrorKind, Value};

use super::template_limits as limits;
use crate::{Error, Result};

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// `"system"`, `"user"`, `"assistant"`...
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    /// A message from `role` with `content`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
}

fn template_error(e: minijinja::Error) -> Error {
    limits::render_error(e, false)
}

/// The name of the one template in an environment from [`compile`].
const NAME: &str = "chat";

/// Checks and compiles `template` (see `template_limits.rs`) into the
/// environment it renders in. A tokenizer does this once, the first time
/// its template is used: checking and compiling take several times longer
/// than a render.
pub(super) fn compile(template: &str) -> Result<Environment<'static>> {
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .map_err(template_error)?;
    let template = super::template_scan::prepare_source(template, &syntax)?.into_owned();
    let mut env = Environment::new();
    env.set_syntax(syntax);
    env.set_fuel(Some(limits::FUEL));
    env.set_recursion_limit(limits::RECURSION_LIMIT);
    env.set_unknown_method_callback(limits::method_callback);
    env.set_formatter(limits::formatter);
    env.add_filter("trim", limits::trim_filter);
    env.add_filter("split", limits::split_filter);
    env.add_filter("lines", limits::lines_filter);
    env.add_filter("tojson", limits::tojson_filter);
    env.add_filter("pprint", limits::pprint_filter);
    env.add_filter("string", limits::string_filter);
    env.add_function(
        "raise_exception",
        |msg: String| -> std::result::Result<Value, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
        },
    );
    env.add_function("strftime_now", limits::strftime_now);
    env.add_function("__minke_set_value", limits::set_value);
    env.add_filter("__minke_set_value", limits::set_value);
    env.add_function("__minke_namespace_value", limits::namespace_value);
    env.add_filter("__minke_namespace_value", limits::namespace_value);
    env.add_template_owned(NAME, template)
        .map_err(template_error)?;
    Ok(env)
}

/// The same error again, for a template whose compiling failed once and
/// is asked for again (only these two kinds come out of [`compile`]).
pub(super) fn error_again(e: &Error) -> Error {
    match e {
        Error::TemplateLimit { limit, msg } => Error::TemplateLimit {
            limit: *limit,
            msg: msg.clone(),
        },
        Error::Tokenizer(m) => Error::Tokenizer(m.clone()),
        e => Error::Tokenizer(e.to_string()),
    }
}

/// Renders the template of `env` (from [`compile`]) over `messages`,
/// within the limits of `template_limits.rs`.
pub(super) fn render(
    env: &Environment<'static>,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    bos_token: Option<&str>,
    eos_token: Option<&str>,
) -> Result<String> {
    let tmpl = env.get_template(NAME).map_err(template_error)?;
    let msgs: Vec<Value> = messages
        .iter()
        .map(|m| {
            let mut map = BTreeMap::new();
            map.insert("role".to_string(), Value::from(m.role.as_str()));
            map.insert("content".to_string(), Value::from(m.content.as_str()));
            Value::from(map)
        })
        .collect();
    let mut ctx = BTreeMap::new();
    ctx.insert("messages".to_string(), Value::from(msgs));
    ctx.insert(
        "add_generation_prompt".to_string(),
        Value::from(add_generation_prompt),
    );
    ctx.insert(
        "bos_token".to_string(),
        Value::from(bos_token.unwrap_or("")),
    );
    ctx.insert(
        "eos_token".to_string(),
        Value::from(eos_token.unwrap_or("")),
    );
    let mut out = limits::CappedWriter::default();
    tmpl.render_captured_to(Value::from(ctx), &mut out)
        .map_err(|e| limits::render_error(e, out.full))?;
    String::from_utf8(out.buf)
        .map_err(|_| Error::Tokenizer("chat template: the output is not UTF-8".into()))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Today's date (UTC) formatted with the `strftime` codes templates use:
/// `%Y %y %m %d %B %b %A %a %H %M %S %%`.
pub(super) fn strftime(fmt: &str) -> std::result::Result<String, minijinja::Error> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    let weekday = ((days + 3).rem_euclid(7)) as usize; // 1970-01-01 was a Thursday
    let (hh, mm, ss) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&y.to_string()),
            Some('y') => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('B') => out.push_str(MONTHS[m as usize - 1]),
            Some('b') => out.push_str(&MONTHS[m as usize - 1][..3]),
            Some('A') => out.push_str(DAYS[weekday]),
            Some('a') => out.push_str(&DAYS[weekday][..3]),
            Some('H') => out.push_str(&format!("{hh:02}")),
            Some('M') => out.push_str(&format!("{mm:02}")),
            Some('S') => out.push_str(&format!("{ss:02}")),
            Some('%') => out.push('%'),
            other => {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "strftime_now: unsupported format code %{}",
                        other.unwrap_or(' ')
                    ),
                ))
            }
        }
    }
    Ok(out)
}

/// Days since 1970-01-01 to `(year, month, day)` (proleptic Gregorian),
/// after Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_str(t: &str, msgs: &[ChatMessage]) -> Result<String> {
        render(&compile(t)?, msgs, false, None, None)
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn raise_exception_is_an_error() {
        let t = "{% if messages|length == 0 %}{{ raise_exception('no messages') }}{% endif %}";
        let e = render_str(t, &[]).unwrap_err().to_string();
        assert!(e.contains("no messages"), "{e}");
    }

    #[test]
    fn python_methods_and_trim_blocks() {
        let t = "{% for m in messages %}\n{{ m.content.strip() | upper }}|{{ m['role'] }}\n{% endfor %}";
        let msgs = [ChatMessage::new("user", "  hi  ")];
        assert_eq!(render_str(t, &msgs).unwrap(), "HI|user\n");
    }
}
