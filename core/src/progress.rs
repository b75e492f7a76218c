//! Progress of a model load, for a caller's callback that shows it and
//! may stop it ([`crate::Model::open_with_progress`]).
//!
//! A load runs in steps: reading a file's bytes (without mmap, chunk by
//! chunk), checking and viewing each tensor, binding the weights to the
//! architecture, building the tokenizer. Each step owns a range of
//! `[0, 1]` that its loader sets ([`Progress::range`]), and reports how
//! far into it it is; the callback sees one fraction that never goes
//! back, 0 first and 1 last. The ranges are shares of the work, not of
//! the time (a read takes longer than the checks that follow it).

use crate::{Error, Result};

/// A load's progress reporter. [`Progress::none`] reports nothing.
pub(crate) struct Progress<'a> {
    f: Option<&'a mut dyn FnMut(f32) -> bool>,
    /// The file being loaded, for the message when the callback stops it.
    what: String,
    /// The current step's range of `[0, 1]`.
    lo: f32,
    hi: f32,
    /// The last fraction reported.
    last: f32,
}

impl<'a> Progress<'a> {
    /// Reports to `f` the progress of loading `what` (a path, for the
    /// message of [`Error::Aborted`]).
    pub fn new(what: impl Into<String>, f: &'a mut dyn FnMut(f32) -> bool) -> Progress<'a> {
        Progress {
            f: Some(f),
            what: what.into(),
            lo: 0.0,
            hi: 0.0,
            last: -1.0,
        }
    }

    /// Reports nothing, never stops.
    pub fn none() -> Progress<'static> {
        Progress {
            f: None,
            what: String::new(),
            lo: 0.0,
            hi: 0.0,
            last: -1.0,
        }
    }

    /// The next step covers `[lo, hi]` of the whole (clamped to what was
    /// already reported, so the fraction never goes back).
    pub fn range(&mut self, lo: f32, hi: f32) {
        self.lo = lo.max(self.last).clamp(0.0, 1.0);
        self.hi = hi.clamp(self.lo, 1.0);
    }

    /// Reports `done` of the current step's `total` units (bytes,
    /// tensors); [`Error::Aborted`] when the callback answers `false`.
    pub fn step(&mut self, done: u64, total: u64) -> Result<()> {
        let Some(f) = self.f.as_mut() else {
            return Ok(());
        };
        let part = if total == 0 {
            1.0
        } else {
            (done.min(total) as f64 / total as f64) as f32
        };
        let x = (self.lo + (self.hi - self.lo) * part).clamp(self.last.max(0.0), 1.0);
        self.last = x;
        if f(x) {
            Ok(())
        } else {
            Err(Error::Aborted(format!(
                "loading {}: the progress callback asked to stop at {:.0}%",
                self.what,
                x * 100.0
            )))
        }
    }

    /// The load is done: reports 1.
    pub fn finish(&mut self) -> Result<()> {
        self.range(1.0, 1.0);
        self.step(1, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_map_steps_and_never_go_back() {
        let mut seen = Vec::new();
        let mut f = |x: f32| {
            seen.push(x);
            true
        };
        let mut p = Progress::new("m.gguf", &mut f);
        p.range(0.0, 0.5);
        p.step(0, 4).unwrap();
        p.step(2, 4).unwrap();
        p.step(9, 4).unwrap(); // past the end: the step's end
        p.range(0.25, 0.75); // starts before what was reported: moved up
        p.step(0, 2).unwrap();
        p.step(1, 0).unwrap(); // nothing to do: the step's end
        p.finish().unwrap();
        assert_eq!(seen, [0.0, 0.25, 0.5, 0.5, 0.75, 1.0]);
    }

    #[test]
    fn false_stops_with_aborted() {
        let mut calls = 0;
        let mut f = |x: f32| {
            calls += 1;
            x < 0.5
        };
        let mut p = Progress::new("m.gguf", &mut f);
        p.range(0.0, 1.0);
        p.step(1, 4).unwrap();
        let e = p.step(3, 4).unwrap_err();
        assert!(matches!(e, Error::Aborted(_)), "{e}");
        assert!(e.to_string().contains("m.gguf"), "{e}");
        assert_eq!(calls, 2);
        assert!(Progress::none().step(1, 2).is_ok());
    }
}
