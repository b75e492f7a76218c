//! Tokenizers: text to token ids and back, and chat templates.
//!
//! One implementation, byte-level BPE as Hugging Face `tokenizer.json`
//! defines it, serves the Llama-3, Qwen2, DeepSeek-LLM/Coder, DeepSeek-V3
//! and GPT-2/SmolLM families. It is built either from `tokenizer.json` (+ optionally
//! `tokenizer_config.json`, see [`Tokenizer::from_json`]) or from the
//! `tokenizer.ggml.*` metadata of a GGUF file ([`Tokenizer::from_gguf_vocab`]);
//! [`Tokenizer::open`] takes it from any model file without its weights.
//!
//! Encoding runs the reference pipeline: added tokens are cut out of the
//! raw text; the rest is normalized, cut by the added tokens that match
//! normalized text, pre-tokenized (`pretok`) and merged (`bpe`). Special
//! tokens are cut out only of text the app vouches for
//! ([`EncodeOptions::parse_special`]); [`Tokenizer::encode_chat`] cuts them
//! out of a chat template's own text but never out of the messages.
//! Anything in a tokenizer file that minke does not implement is refused at
//! load with an error naming it, never approximated.

mod added;
mod bpe;
mod charset;
mod chat;
mod gguf_vocab;
mod json;
mod pretok;
mod stream;
mod template;
mod template_limits;
mod template_scan;
mod unicode;
mod unicode_table;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

pub use gguf_vocab::GgufVocab;
pub use stream::StreamDecoder;
pub use template::ChatMessage;

use crate::file::TokenizerData;
use crate::{Error, Result};
use added::{Allow, Matcher};
use bpe::{Bpe, Scratch};
use pretok::Splitter;

/// Text normalization applied before pre-tokenization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Normalizer {
    None,
    Nfc,
}

impl Normalizer {
    fn apply<'a>(&self, s: &'a str) -> Cow<'a, str> {
        match self {
            Normalizer::None => Cow::Borrowed(s),
            Normalizer::Nfc => match is_nfc_quick(s.chars()) {
                IsNormalized::Yes => Cow::Borrowed(s),
                _ => Cow::Owned(s.nfc().collect()),
            },
        }
    }
}

/// Token names that end a turn; generation stops on any of them.
const END_OF_TURN: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<｜end▁of▁sentence｜>",
    "<|eom_id|>",
];

/// How [`Tokenizer::encode_with`] treats the text. The default is the
/// choice for text a user wrote: no prefix, special-token text stays text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Put the model's BOS (and whatever else its post-processor adds)
    /// around the text, as for a prompt that starts a sequence.
    pub add_special: bool,
    /// Turn special-token text (`<|im_start|>`) into that token. Off, it
    /// is encoded as ordinary text, as Hugging Face `tokenizers` does with
    /// `encode_special_tokens` (transformers' `split_special_tokens=True`)
    /// and llama.cpp with `parse_special = false`; added tokens that are
    /// not special (DeepSeek-V3's `<think>`) still match. Turn it on only
    /// for text the app wrote: with it, a user who types `<|im_end|>` ends
    /// the turn.
    pub parse_special: bool,
}

/// A loaded tokenizer. Immutable and `Send + Sync`: share one between
/// sessions and threads.
pub struct Tokenizer {
    bpe: Bpe,
    normalizer: Normalizer,
    /// Applied in order, each to every piece the previous ones made.
    splitters: Vec<Splitter>,
    /// Added tokens matched on the raw text.
    raw_added: Matcher,
    /// Added tokens matched on normalized text.
    norm_added: Matcher,
    /// Ids put before / after the text when `add_special` is asked.
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    /// Each id's token as the vocabulary spells it (`None` for holes).
    tokens: Vec<Option<Box<str>>>,
    /// The bytes each id decodes to: `piece_bytes[piece_offs[i]..piece_offs[i + 1]]`.
    piece_bytes: Vec<u8>,
    piece_offs: Vec<u32>,
    /// Whether each id is a special (control) token.
    special: Vec<bool>,
    /// Added token content to id.
    added_ids: HashMap<String, u32>,
    byte_level: bool,
    bos: Option<u32>,
    eos: Vec<u32>,
    pad: Option<u32>,
    bos_token: Option<String>,
    eos_token: Option<String>,
    chat_template: Option<String>,
    /// `chat_template` checked and compiled, the first time it is used.
    chat_env: OnceLock<Result<minijinja::Environment<'static>>>,
    /// Parts of special tokens, for [`Tokenizer::encode_chat`], made the
    /// first time it is used.
    chat_edges: OnceLock<chat::Edges>,
}

/// What the loaders ([`json`], [`gguf_vocab`]) hand to [`Tokenizer::assemble`].
struct Parts {
    bpe: Bpe,
    normalizer: Normalizer,
    splitters: Vec<Splitter>,
    added: Vec<added::AddedToken>,
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    /// `(id, spelling)` of every vocabulary token.
    vocab: Vec<(u32, String)>,
    byte_level: bool,
    /// Whether decoding maps the byte alphabet back to bytes (`ByteLevel`
    /// decoder); without it the spelling is the text.
    byte_level_decoder: bool,
    bos: Option<u32>,
    eos: Option<u32>,
    pad: Option<u32>,
    chat_template: Option<String>,
}

impl Tokenizer {
    /// Assembles the tables shared by both loaders.
    fn assemble(p: Parts) -> Result<Tokenizer> {
        let max_id = p
            .vocab
            .iter()
            .map(|(id, _)| *id)
            .chain(p.added.iter().map(|t| t.id))
            .max()
            .ok_or_else(|| Error::Tokenizer("the vocabulary is empty".into()))?;
        // The tables below are indexed by id, so their size is the largest
        // id, not the number of tokens: one token numbered 2,000,000,000
        // would reserve 32 GB. Ids may leave holes (they decode to
        // nothing), but not more holes than tokens.
        let listed = p.vocab.len() + p.added.len();
        let limit = listed.saturating_mul(2).saturating_add(256);
        if max_id as usize >= limit {
            return Err(Error::Tokenizer(format!(
                "token id {max_id} is far past the {listed} tokens listed \
                 (ids must stay below {limit})"
            )));
        }
        let n = max_id as usize + 1;
        let mut tokens: Vec<Option<Box<str>>> = vec![None; n];
        for (id, s) in &p.vocab {
            tokens[*id as usize] = Some(s.clone().into_boxed_str());
        }
        let mut special = vec![false; n];
        let mut added_ids = HashMap::new();
        for t in &p.added {
            tokens[t.id as usize] = Some(t.content.clone().into_boxed_str());
            special[t.id as usize] = t.special;
            added_ids.insert(t.content.clone(), t.id);
        }
        let byte_chars = bpe::byte_to_char_table();
        let inverse: HashMap<char, u8> = byte_chars
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect();
        let mut piece_bytes = Vec::new();
        let mut piece_offs = Vec::with_capacity(n + 1);
        piece_offs.push(0u32);
        for t in &tokens {
            if let Some(t) = t {
                match p
                    .byte_level_decoder
                    .then(|| bpe::byte_level_decode(t, &inverse))
                    .flatten()
                {
                    Some(bytes) => piece_bytes.extend_from_slice(&bytes),
                    None => piece_bytes.extend_from_slice(t.as_bytes()),
                }
            }
            let off = u32::try_from(piece_bytes.len())
                .map_err(|_| Error::Tokenizer("the vocabulary spells more than 4 GiB".into()))?;
            piece_offs.push(off);
        }
        let eos_token = p
            .eos
            .and_then(|id| tokens.get(id as usize)?.as_deref().map(str::to_string));
        let bos_token = p
            .bos
            .and_then(|id| tokens.get(id as usize)?.as_deref().map(str::to_string));
        let mut eos: Vec<u32> = p.eos.into_iter().collect();
        for t in &p.added {
            if t.special && END_OF_TURN.contains(&t.content.as_str()) && !eos.contains(&t.id) {
                eos.push(t.id);
            }
        }
        let (raw, norm): (Vec<_>, Vec<_>) = p
            .added
            .into_iter()
            .partition(|t| !t.normalized || p.normalizer == Normalizer::None);
        Ok(Tokenizer {
            bpe: p.bpe,
            normalizer: p.normalizer,
            splitters: p.splitters,
            raw_added: Matcher::new(raw),
            norm_added: Matcher::new(norm),
            prefix: p.prefix,
            suffix: p.suffix,
            tokens,
            piece_bytes,
            piece_offs,
            special,
            added_ids,
            byte_level: p.byte_level,
            bos: p.bos,
            eos,
            pad: p.pad,
            bos_token,
            eos_token,
            chat_template: p.chat_template,
            chat_env: OnceLock::new(),
            chat_edges: OnceLock::new(),
        })
    }

    /// Loads a Hugging Face `tokenizer.json`.
    pub fn from_json(tokenizer_json: &[u8]) -> Result<Tokenizer> {
        json::load(tokenizer_json, None)
    }

    /// Loads `tokenizer.json` together with `tokenizer_config.json`, which
    /// gives `bos_token`, `eos_token`, `pad_token`, `chat_template` and, when
    /// present, `add_bos_token`/`add_eos_token` (these override the
    /// post-processor of `tokenizer.json`, as transformers does).
    pub fn from_json_with_config(
        tokenizer_json: &[u8],
        tokenizer_config_json: &[u8],
    ) -> Result<Tokenizer> {
        json::load(tokenizer_json, Some(tokenizer_config_json))
    }

    /// Builds a tokenizer from GGUF `tokenizer.ggml.*` metadata.
    pub fn from_gguf_vocab(vocab: GgufVocab) -> Result<Tokenizer> {
        gguf_vocab::load(vocab)
    }

    /// Builds the tokenizer a model file carries.
    pub fn from_data(data: &TokenizerData) -> Result<Tokenizer> {
        match data {
            TokenizerData::Json {
                tokenizer,
                config: Some(c),
            } => Tokenizer::from_json_with_config(tokenizer.as_bytes(), c.as_bytes()),
            TokenizerData::Json {
                tokenizer,
                config: None,
            } => Tokenizer::from_json(tokenizer.as_bytes()),
            TokenizerData::Gguf(g) => Tokenizer::from_gguf_vocab((**g).clone()),
        }
    }

    /// Opens the tokenizer of a model without loading the model: a GGUF
    /// file (also a vocabulary-only one, with no tensors), a `.minke` file,
    /// a Hugging Face checkpoint folder, or a `tokenizer.json`. The same
    /// tokenizer as [`crate::Model::tokenizer`] gives for that file.
    pub fn open(path: impl AsRef<Path>) -> Result<Tokenizer> {
        let path = path.as_ref();
        let data = crate::file::open_tokenizer(path)?.ok_or_else(|| {
            Error::Tokenizer(format!(
                "{} has no tokenizer (no tokenizer.json or tokenizer.ggml.* metadata)",
                path.display()
            ))
        })?;
        Tokenizer::from_data(&data).map_err(|e| match e {
            Error::Tokenizer(m) => Error::Tokenizer(format!("{}: {m}", path.display())),
            e => e,
        })
    }

    /// Encodes text the app wrote: special-token text in `text` (e.g.
    /// `<|im_start|>`) becomes that token. With `add_special`, the model's
    /// BOS (and whatever else its post-processor adds) goes around it. For
    /// text a user wrote, use [`Tokenizer::encode_with`]; for a chat,
    /// [`Tokenizer::encode_chat`].
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        self.encode_with(
            text,
            EncodeOptions {
                add_special,
                parse_special: true,
            },
        )
    }

    /// Encodes `text` as `opts` say.
    pub fn encode_with(&self, text: &str, opts: EncodeOptions) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 4);
        self.encode_into_with(text, opts, &mut out)?;
        Ok(out)
    }

    /// [`Tokenizer::encode`], appending to `out`.
    pub fn encode_into(&self, text: &str, add_special: bool, out: &mut Vec<u32>) -> Result<()> {
        let allow = Allow::All;
        self.encode_allowing(text, add_special, allow, out)
    }

    /// [`Tokenizer::encode_with`], appending to `out`.
    pub fn encode_into_with(
        &self,
        text: &str,
        opts: EncodeOptions,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        let allow = if opts.parse_special {
            Allow::All
        } else {
            Allow::NonSpecial
        };
        self.encode_allowing(text, opts.add_special, allow, out)
    }

    /// Encodes `text` with special tokens where `allow` lets them match.
    fn encode_allowing(
        &self,
        text: &str,
        add_special: bool,
        allow: Allow<'_>,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        if add_special {
            out.extend_from_slice(&self.prefix);
        }
        let mut scratch = Scratch::default();
        let mut pieces = Vec::new();
        let mut spare = Vec::new();
        let mut raw = Vec::new();
        self.raw_added.split(text, allow, &mut raw);
        if raw.is_empty() && !text.is_empty() {
            raw.push((None, 0, text.len()));
        }
        let mut norm_parts = Vec::new();
        let mut norm_ranges = Vec::new();
        for &(id, a, b) in &raw {
            if let Some(id) = id {
                out.push(id);
                continue;
            }
            norm_parts.clear();
            let seg = if self.norm_added.is_empty() {
                let seg = self.normalizer.apply(&text[a..b]);
                norm_parts.push((None, 0, seg.len()));
                seg
            } else {
                let (seg, allow) = self.normalize_allowing(text, a, b, allow, &mut norm_ranges);
                self.norm_added.split(&seg, allow, &mut norm_parts);
                seg
            };
            for &(id, a, b) in &norm_parts {
                match id {
                    Some(id) => out.push(id),
                    None => {
                        self.encode_plain(&seg[a..b], &mut pieces, &mut spare, &mut scratch, out)?
                    }
                }
            }
        }
        if add_special {
            out.extend_from_slice(&self.suffix);
        }
        Ok(())
    }

    /// Normalizes `text[a..b]` for the second pass of added tokens, with
    /// `allow` carried over to the normalized text. The ranges of
    /// [`Allow::Outside`] that fall in the segment are normalized apart
    /// from the text around them (into `ranges`), which may differ from
    /// normalizing it whole where a combining mark follows a range's edge.
    fn normalize_allowing<'r>(
        &self,
        text: &'r str,
        a: usize,
        b: usize,
        allow: Allow<'_>,
        ranges: &'r mut Vec<(usize, usize)>,
    ) -> (Cow<'r, str>, Allow<'r>) {
        let Allow::Outside(all) = allow else {
            let allow = match allow {
                Allow::NonSpecial => Allow::NonSpecial,
                _ => Allow::All,
            };
            return (self.normalizer.apply(&text[a..b]), allow);
        };
        ranges.clear();
        let mut seg = String::new();
        let mut at = a;
        for &(x, y) in all.iter().filter(|&&(x, y)| x < b && y > a) {
            let (x, y) = (x.max(a), y.min(b));
            seg.push_str(&self.normalizer.apply(&text[at..x]));
            let start = seg.len();
            seg.push_str(&self.normalizer.apply(&text[x..y]));
            ranges.push((start, seg.len()));
            at = y;
        }
        if ranges.is_empty() {
            return (self.normalizer.apply(&text[a..b]), Allow::All);
        }
        seg.push_str(&self.normalizer.apply(&text[at..b]));
        (Cow::Owned(seg), Allow::Outside(ranges))
    }

    /// Pre-tokenizes and merges text that holds no added token.
    fn encode_plain(
        &self,
        s: &str,
        pieces: &mut Vec<(usize, usize)>,
        spare: &mut Vec<(usize, usize)>,
        scratch: &mut Scratch,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        pieces.clear();
        pieces.push((0, s.len()));
        for sp in &self.splitters {
            spare.clear();
            for &(a, b) in pieces.iter() {
                sp.split(s, a, b, spare);
            }
            std::mem::swap(pieces, spare);
        }
        for &(a, b) in pieces.iter() {
            self.bpe.encode_piece(&s.as_bytes()[a..b], scratch, out)?;
        }
        Ok(())
    }

    /// Decodes ids to text; bytes that are not valid UTF-8 become U+FFFD.
    /// Special tokens are included as their text.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            bytes.extend_from_slice(self.token_bytes(id)?);
        }
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// The bytes token `id` stands for (may be part of a UTF-8 char).
    pub fn token_bytes(&self, id: u32) -> Result<&[u8]> {
        let i = id as usize;
        if i + 1 >= self.piece_offs.len() {
            return Err(Error::Tokenizer(format!(
                "token id {id} is out of range (vocabulary size {})",
                self.vocab_size()
            )));
        }
        Ok(&self.piece_bytes[self.piece_offs[i] as usize..self.piece_offs[i + 1] as usize])
    }

    /// The text of token `id` alone (lossy if it is part of a char).
    pub fn token_to_piece(&self, id: u32) -> Result<String> {
        Ok(String::from_utf8_lossy(self.token_bytes(id)?).into_owned())
    }

    /// Token `id` as the vocabulary spells it (`Ġhello`, `<|im_end|>`).
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize)?.as_deref()
    }

    /// The id of a token given as the vocabulary spells it, added and
    /// special tokens included (`"<|im_start|>"`).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        if let Some(&id) = self.added_ids.get(token) {
            return Some(id);
        }
        if self.byte_level {
            self.bpe
                .token_id(&bpe::byte_level_decode(token, bpe::byte_level_inverse())?)
        } else {
            self.bpe.token_id(token.as_bytes())
        }
    }

    /// Whether `id` is a special (control) token.
    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// One past the largest token id.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The beginning-of-sequence token, if the model has one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// Tokens that end generation: the EOS token first, then the model's
    /// other end-of-turn tokens (`<|im_end|>`, `<|eot_id|>`...).
    pub fn eos_ids(&self) -> &[u32] {
        &self.eos
    }

    /// The padding token, if the model has one.
    pub fn pad_id(&self) -> Option<u32> {
        self.pad
    }

    /// The token that ends a turn in the model's chat format
    /// (`<|im_end|>`, `<|eot_id|>`, `<｜end▁of▁sentence｜>`...): the first
    /// special token of the vocabulary among the end-of-turn names minke
    /// knows, in the order llama.cpp looks for them. One of
    /// [`Tokenizer::eos_ids`]; `None` if the vocabulary has none.
    pub fn eot_id(&self) -> Option<u32> {
        END_OF_TURN
            .iter()
            .filter_map(|name| self.added_ids.get(*name).copied())
            .find(|&id| self.is_special(id))
    }

    /// The ids [`Tokenizer::encode`] puts before the text with `add_special`.
    pub fn prefix_ids(&self) -> &[u32] {
        &self.prefix
    }

    /// The model's chat template (Jinja), if it has one.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// A decoder that turns ids into text as they are generated.
    pub fn stream_decoder(&self) -> StreamDecoder<'_> {
        StreamDecoder::new(self)
    }

    /// Renders the chat template over `messages`; with
    /// `add_generation_prompt`, ends with the header of the assistant's turn.
    ///
    /// The text holds the messages as they are: encoding it with special
    /// tokens on (as the template's own need) also turns special-token text
    /// in a message into control tokens. For messages a user wrote, encode
    /// with [`Tokenizer::encode_chat`] instead.
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        self.render_chat(messages, add_generation_prompt)
    }

    /// Renders `template`, a Jinja chat template given in place of the
    /// model's own, over `messages`, as [`Tokenizer::apply_chat_template`]
    /// renders the model's: the same environment (`bos_token`,
    /// `eos_token`, `raise_exception`...) and the same limits on its size,
    /// nesting, work and output. It is checked and compiled on every call
    /// (the model's is compiled once).
    pub fn apply_template(
        &self,
        template: &str,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        self.render_with(
            &template::compile(template)?,
            messages,
            add_generation_prompt,
        )
    }

    /// The model's chat template, checked and compiled the first time.
    fn chat_env(&self) -> Result<&minijinja::Environment<'static>> {
        let tpl = self
            .chat_template
            .as_deref()
            .ok_or_else(|| Error::Tokenizer("the model has no chat template".into()))?;
        self.chat_env
            .get_or_init(|| template::compile(tpl))
            .as_ref()
            .map_err(template::error_again)
    }

    /// Renders the chat template (compiled the first time).
    fn render_chat(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        self.render_with(self.chat_env()?, messages, add_generation_prompt)
    }

    /// Renders a compiled template with this tokenizer's special tokens.
    fn render_with(
        &self,
        env: &minijinja::Environment<'static>,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        template::render(
            env,
            messages,
            add_generation_prompt,
            self.bos_token.as_deref(),
            self.eos_token.as_deref(),
        )
    }
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("splitters", &self.splitters)
            .field("normalizer", &self.normalizer)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish_non_exhaustive()
    }
}
