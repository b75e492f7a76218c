//! What the fuzz targets share: splitting one input into several files,
//! writing files for the APIs that open paths, the committed fixtures, and
//! a workout for any tokenizer a target manages to build.
//!
//! Every target's input format is described in the `//!` header of its
//! file under `fuzz_targets/`.

use minke::Tokenizer;
use std::path::{Path, PathBuf};

/// Separates the files of a multi-file input (tokenizer.json and
/// tokenizer_config.json, adapter config and weights, ...). 0xFF never
/// occurs in UTF-8, so JSON text cannot contain it; a binary part (a
/// safetensors file) always comes last and may.
pub const SEP: u8 = 0xFF;

/// The first `n - 1` parts of `data` cut at [`SEP`], and the rest as the
/// last part (which may contain [`SEP`]). Fewer parts when fewer cuts.
pub fn split(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n, |&b| b == SEP).collect()
}

/// `tests/fixtures/` of the repository this crate sits in.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// A folder for the files one fuzzing process writes: in `/dev/shm` where
/// there is one (files opened on every execution stay in memory), else the
/// temporary directory; unique to the process. libFuzzer exits without
/// running destructors, so the folder is left behind; the folders of
/// processes that are gone are removed here instead.
pub fn scratch_dir(target: &str) -> PathBuf {
    let base = Path::new("/dev/shm");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    remove_stale(&base);
    let dir = base.join(format!("minke-fuzz-{target}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Removes `minke-fuzz-<target>-<pid>` folders in `base` whose process
/// has ended (Linux: no `/proc/<pid>`; elsewhere nothing is removed).
fn remove_stale(base: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.starts_with("minke-fuzz-"))
            .and_then(|n| n.rsplit('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Writes `bytes` to `path` (the harness's own failure, not minke's, if
/// it cannot).
pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("writing a scratch file");
}

/// Texts every built tokenizer encodes: plain, special-token text,
/// invalid-UTF-8 stand-ins, digits, CJK, white-space runs.
pub const TEXTS: &[&str] = &[
    "Hello, world! It's 2024-05-01 and 12345 apples cost $3.50.",
    "<|im_start|>user\nhi<|im_end|>\n<|endoftext|><｜begin▁of▁sentence｜>",
    "  leading   and trailing   \r\n\n\t ",
    "深度求索 はい 안녕하세요 ẞ ǅ ﬁ Ω \u{fffd}\u{0}\u{1d}",
    "'s 'T 'Re x'LL 1 22 333 4444 ١٢٣",
];

/// Encodes `texts` (and [`TEXTS`]) with and without special tokens,
/// decodes the ids whole, one by one and as a stream, and looks every
/// piece up again: everything a caller does with a tokenizer that came
/// from outside. Returns nothing; a panic is the finding.
pub fn exercise_tokenizer(tok: &Tokenizer, texts: &[&str]) {
    let n = tok.vocab_size();
    for text in texts.iter().chain(TEXTS) {
        for special in [false, true] {
            let Ok(ids) = tok.encode(text, special) else {
                continue;
            };
            let _ = tok.decode(&ids);
            let mut stream = tok.stream_decoder();
            for (i, &id) in ids.iter().enumerate() {
                let _ = stream.push(id);
                // `token_to_id` builds a 256-entry table per call: a few
                // suffice.
                if i < 8 {
                    if let Some(t) = tok.id_to_token(id) {
                        let _ = tok.token_to_id(t);
                    }
                }
                let _ = tok.token_to_piece(id);
                let _ = tok.is_special(id);
            }
            let _ = stream.finish();
        }
    }
    // Ids at and past the edges of the vocabulary.
    let u = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    for id in [0, u(n.saturating_sub(1)), u(n), u32::MAX] {
        let _ = tok.decode(&[id]);
        let _ = tok.token_to_piece(id);
        let _ = tok.id_to_token(id);
        let _ = tok.is_special(id);
    }
    let _ = (tok.bos_id(), tok.eos_ids(), tok.pad_id(), tok.prefix_ids());
    if let Some(t) = tok.chat_template() {
        compile_template(t);
    }
}

/// Compiles (never renders) a chat template with the syntax minke renders
/// it with. Rendering is left out of fuzzing for now: its resource limits
/// (fuel, output size, indent/format widths) are being added to
/// `core/src/tokenizer/template.rs` under issue 19, and a template that
/// loops for ever or asks for a huge string is the known finding until
/// then.
pub fn compile_template(template: &str) {
    let mut env = minijinja::Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .expect("default syntax");
    env.set_syntax(syntax);
    let _ = env.template_from_str(template);
}
