//! Streaming detokenization: ids in one at a time, text out only in whole
//! UTF-8 characters.
//!
//! A byte-level token can end in the middle of a character (an emoji is
//! often three or four tokens). The decoder holds such a tail back until the
//! bytes that complete it arrive, so what it emits can always be printed.
//! Bytes that can never become valid UTF-8 come out as U+FFFD rather than
//! stalling the stream.

use super::Tokenizer;
use crate::Result;

/// Incremental decoder; see [`Tokenizer::stream_decoder`].
#[derive(Debug)]
pub struct StreamDecoder<'a> {
    tok: &'a Tokenizer,
    /// Bytes of an incomplete character, at most 3.
    pending: Vec<u8>,
}

impl<'a> StreamDecoder<'a> {
    pub(super) fn new(tok: &'a Tokenizer) -> StreamDecoder<'a> {
        StreamDecoder {
            tok,
            pending: Vec::with_capacity(8),
        }
    }

    /// Adds token `id`; returns the text that is now complete (often
    /// empty while a character is still being spelled).
    pub fn push(&mut self, id: u32) -> Result<String> {
        let mut out = String::new();
        self.push_into(id, &mut out)?;
        Ok(out)
    }

    /// [`StreamDecoder::push`], appending to `out`.
    pub fn push_into(&mut self, id: u32, out: &mut String) -> Result<()> {
        self.pending.extend_from_slice(self.tok.token_bytes(id)?);
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(s) => {
                    out.push_str(s);
                    start = self.pending.len();
                    break;
                }
                Err(e) => {
                    let good = start + e.valid_up_to();
                    // `valid_up_to` marks checked UTF-8.
                    out.push_str(
                        std::str::from_utf8(&self.pending[start..good]).unwrap_or_default(),
                    );
                    match e.error_len() {
                        // An invalid sequence: replace it and go on.
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            start = good + n;
                        }
                        // A character cut short: keep it for the next id.
                        None => {
                            start = good;
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Ends the stream: any incomplete character left comes out as U+FFFD.
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }

    /// Whether bytes of an unfinished character are being held back.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}
