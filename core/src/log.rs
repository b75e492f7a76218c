//! The library's diagnostics: what it did (a model opened, a session
//! made) and what it chose for the caller (a context clamped, a tokenizer
//! it could not build), sent to one process-wide sink that the program
//! sets. Silent by default: the library never prints. The C API's
//! `minke_log_set()` sets a C callback as the sink; the `minke` command
//! prints warnings and errors to stderr.
//!
//! Nothing is logged in `prefill` or `decode`, which allocate nothing;
//! a message is formatted only when a sink wants its level.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::RwLock;

use crate::{Error, Result};

/// How much a message matters. Ordered: `Debug < Info < Warn < Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Detail for whoever debugs minke or a model file.
    Debug = 1,
    /// What the library did (a model opened, with what).
    Info = 2,
    /// A choice made for the caller that changes what it asked for, or a
    /// part of a model that cannot be used.
    Warn = 3,
    /// A failure (also returned as an error).
    Error = 4,
}

impl Level {
    /// Lower-case name: `"debug"`, `"info"`, `"warn"`, `"error"`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// The level a name stands for (as [`Level::name`] spells it).
    pub fn parse(s: &str) -> Option<Level> {
        [Level::Debug, Level::Info, Level::Warn, Level::Error]
            .into_iter()
            .find(|l| l.name() == s)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Receives each message: its level and its text, one line without a
/// newline. Called on the thread that logs, which may be any thread that
/// calls minke.
pub type Sink = Box<dyn Fn(Level, &str) + Send + Sync>;

/// The sink and the lowest level it takes.
static SINK: RwLock<Option<(Level, Sink)>> = RwLock::new(None);
/// The lowest level any sink takes, or `OFF`: checked before anything
/// else, so that a message nobody wants costs one atomic load.
static MIN_LEVEL: AtomicU8 = AtomicU8::new(OFF);
const OFF: u8 = u8::MAX;

thread_local! {
    /// Set while this thread runs the sink: a message the sink itself
    /// causes (by calling minke) is dropped instead of taking the lock
    /// again.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

/// Sends messages of level `min` and above to `sink` from now on,
/// replacing the sink before, if any. When it returns, the sink it
/// replaced is not running on any thread and is never called again (it
/// waits for calls in progress), so whatever that sink used may be freed.
/// A message logged while a sink runs on the same thread is dropped.
///
/// # Errors
/// [`Error::InvalidArgument`] when called by the sink itself, which
/// would wait for itself forever.
pub fn set_sink(min: Level, sink: Sink) -> Result<()> {
    replace(Some((min, sink)))
}

/// Silences the library again (the default); waits, as [`set_sink`] does,
/// for calls of the sink in progress.
///
/// # Errors
/// As [`set_sink`].
pub fn clear_sink() -> Result<()> {
    replace(None)
}

fn replace(new: Option<(Level, Sink)>) -> Result<()> {
    if IN_SINK.with(Cell::get) {
        return Err(Error::InvalidArgument(
            "the log sink cannot be changed from inside the sink".into(),
        ));
    }
    let level = new.as_ref().map_or(OFF, |(l, _)| *l as u8);
    let mut guard = SINK.write().unwrap_or_else(|p| p.into_inner());
    // Dropped after the lock is released: a sink's destructor may log.
    let _old = std::mem::replace(&mut *guard, new);
    MIN_LEVEL.store(level, Ordering::Relaxed);
    drop(guard);
    Ok(())
}

/// Whether a message of `level` would reach a sink.
pub fn enabled(level: Level) -> bool {
    level as u8 >= MIN_LEVEL.load(Ordering::Relaxed)
}

/// Formats `args` and hands it to the sink, if one takes `level`. Use the
/// `log_debug!`... macros, which call this.
#[doc(hidden)]
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) || IN_SINK.with(Cell::get) {
        return;
    }
    let guard = SINK.read().unwrap_or_else(|p| p.into_inner());
    let Some((min, sink)) = &*guard else { return };
    if level < *min {
        return;
    }
    let text = match args.as_str() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(args.to_string()),
    };
    IN_SINK.with(|f| f.set(true));
    // Cleared even if the sink panics (the panic goes on to the caller).
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            IN_SINK.with(|f| f.set(false));
        }
    }
    let _reset = Reset;
    sink(level, &text);
}

/// Logs at [`Level::Debug`]: `log_debug!("{n} tensors")`.
macro_rules! log_debug {
    ($($arg:tt)+) => { $crate::log::write($crate::log::Level::Debug, format_args!($($arg)+)) };
}
/// Logs at [`Level::Info`].
macro_rules! log_info {
    ($($arg:tt)+) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)+)) };
}
/// Logs at [`Level::Warn`].
macro_rules! log_warn {
    ($($arg:tt)+) => { $crate::log::write($crate::log::Level::Warn, format_args!($($arg)+)) };
}
pub(crate) use {log_debug, log_info, log_warn};

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// The sink is global: tests that set it take this lock first.
    pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

    /// Collects what is logged at `min` and above while `f` runs.
    pub(crate) fn capture(min: Level, f: impl FnOnce()) -> Vec<(Level, String)> {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        set_sink(
            min,
            Box::new(move |l, t| s.lock().unwrap().push((l, t.to_string()))),
        )
        .unwrap();
        f();
        clear_sink().unwrap();
        let v = seen.lock().unwrap().clone();
        v
    }

    #[test]
    fn levels_filter_and_silence_is_the_default() {
        let got = capture(Level::Info, || {
            log_debug!("not wanted");
            log_info!("opened {}", "x.gguf");
            log_warn!("clamped");
        });
        assert_eq!(
            got,
            [
                (Level::Info, "opened x.gguf".to_string()),
                (Level::Warn, "clamped".to_string())
            ]
        );
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        assert!(!enabled(Level::Error));
        assert_eq!(Level::parse("warn"), Some(Level::Warn));
        assert_eq!(Level::parse("loud"), None);
    }

    #[test]
    fn a_sink_that_calls_back_does_not_deadlock() {
        // A sink that logs, or changes the sink, from inside itself: the
        // message is dropped, the change refused.
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let count = Arc::new(Mutex::new(0));
        let c = Arc::clone(&count);
        set_sink(
            Level::Debug,
            Box::new(move |_, _| {
                *c.lock().unwrap() += 1;
                log_warn!("from inside the sink");
                assert!(matches!(clear_sink(), Err(Error::InvalidArgument(_))));
            }),
        )
        .unwrap();
        log_info!("once");
        clear_sink().unwrap();
        assert_eq!(*count.lock().unwrap(), 1);
    }

    #[test]
    fn sinks_are_called_from_many_threads() {
        let got = capture(Level::Debug, || {
            std::thread::scope(|s| {
                for i in 0..4 {
                    s.spawn(move || log_debug!("thread {i}"));
                }
            });
        });
        assert_eq!(got.len(), 4);
    }
}
