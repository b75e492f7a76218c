//! Bad input is an error, never a crash: truncated and inconsistent model
//! files each give a clear message naming what is wrong.

mod common;

use common::*;
use minke::Model;
use std::path::{Path, PathBuf};

fn err(path: &Path) -> String {
    match Model::open(path) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e.to_string(),
    }
}

fn fixture(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(case)
}

#[test]
fn truncated_minke_files_are_errors_at_every_length() {
    let dir = TempDir::new("trunc");
    let good = dir.path("m.minke");
    write_random(&good, &tiny_config(), 5);
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path("cut.minke");
    // Every length in the header, then a spread through the data.
    let lengths = (0..2048.min(bytes.len())).chain((2048..bytes.len()).step_by(997));
    for n in lengths {
        std::fs::write(&cut, &bytes[..n]).unwrap();
        let e = err(&cut);
        assert!(e.contains("cut.minke"), "length {n}: {e}");
    }
}

#[test]
fn missing_tensor_is_named() {
    let dir = TempDir::new("missing");
    let c = tiny_config();
    let p = dir.path("m.minke");
    let shapes: Vec<_> = tensor_shapes(&c)
        .into_iter()
        .filter(|(n, _)| n != "lm_head.weight")
        .collect();
    write_random_shapes(&p, &c, &shapes, 6);
    let e = err(&p);
    assert!(e.contains("missing tensor `lm_head.weight`"), "{e}");
}

#[test]
fn shapes_that_disagree_with_the_config_are_named() {
    let dir = TempDir::new("shape");
    let ck = dir.path("ck");
    std::fs::create_dir_all(&ck).unwrap();
    let src = fixture("llama_gqa");
    std::fs::copy(src.join("model.safetensors"), ck.join("model.safetensors")).unwrap();
    let cfg = std::fs::read_to_string(src.join("config.json")).unwrap();
    std::fs::write(
        ck.join("config.json"),
        cfg.replace("\"intermediate_size\": 96", "\"intermediate_size\": 128"),
    )
    .unwrap();
    let e = err(&ck);
    assert!(
        e.contains("mlp.gate_proj.weight") && e.contains("[96, 64]") && e.contains("[128, 64]"),
        "{e}"
    );
}

#[test]
fn unknown_architecture_and_missing_files_are_clear() {
    let dir = TempDir::new("arch");
    let ck = dir.path("ck");
    std::fs::create_dir_all(&ck).unwrap();
    let src = fixture("llama_gqa");
    std::fs::copy(src.join("model.safetensors"), ck.join("model.safetensors")).unwrap();
    let cfg = std::fs::read_to_string(src.join("config.json")).unwrap();
    std::fs::write(
        ck.join("config.json"),
        cfg.replace("LlamaForCausalLM", "MambaForCausalLM"),
    )
    .unwrap();
    let e = err(&ck);
    assert!(e.contains("MambaForCausalLM"), "{e}");

    std::fs::remove_file(ck.join("config.json")).unwrap();
    let e = err(&ck);
    assert!(e.contains("config.json"), "{e}");

    let e = err(&dir.path("nope.minke"));
    assert!(e.contains("nope.minke"), "{e}");
}

#[test]
fn wrong_dtype_in_a_checkpoint_is_named() {
    let dir = TempDir::new("dtype");
    let ck = dir.path("ck");
    std::fs::create_dir_all(&ck).unwrap();
    let src = fixture("llama_gqa");
    std::fs::copy(src.join("config.json"), ck.join("config.json")).unwrap();
    // Rewrite one tensor's dtype F32 -> I32 (same width, header stays valid).
    let mut bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let head = String::from_utf8(bytes[8..8 + n].to_vec()).unwrap();
    let key = "\"model.norm.weight\":{\"dtype\":\"F32\"";
    let at = head.find(key).expect("norm entry") + key.len() - 4;
    bytes[8 + at..8 + at + 4].copy_from_slice(b"I32\"");
    std::fs::write(ck.join("model.safetensors"), bytes).unwrap();
    let e = err(&ck);
    assert!(e.contains("model.norm.weight") && e.contains("I32"), "{e}");
}

#[test]
fn a_minke_file_from_the_future_is_refused() {
    let dir = TempDir::new("version");
    let p = dir.path("m.minke");
    write_random(&p, &tiny_config(), 7);
    let bytes = std::fs::read(&p).unwrap();
    let s = unsafe_free_replace(
        &bytes,
        b"\"minke.version\":\"1\"",
        b"\"minke.version\":\"9\"",
    );
    std::fs::write(&p, s).unwrap();
    let e = err(&p);
    assert!(e.contains("version 9"), "{e}");
}

/// `src` rewritten to `dst` with the tensors `pick` selects planned as
/// `q4_0x16` (their q4_0 bytes regrouped, or the rows given as they are
/// when they do not fill whole groups).
fn rewrite_interleaved(src: &Path, dst: &Path, pick: impl Fn(&str) -> bool) {
    use minke::file::minke::{write, Planned};
    use minke::quant::formats::x16::interleave;
    use minke::quant::DType;
    let m = Model::open(src).unwrap();
    let store = m.tensors();
    let names = store.names().to_vec();
    let planned: Vec<Planned> = names
        .iter()
        .map(|n| {
            let t = store.get(n).unwrap();
            let dtype = if pick(n) {
                assert_eq!(t.dtype, DType::Q4_0, "{n}");
                DType::Q4_0x16
            } else {
                t.dtype
            };
            Planned {
                name: n.clone(),
                dtype,
                shape: t.shape.clone(),
            }
        })
        .collect();
    write(
        dst,
        &m.config,
        m.tokenizer_data(),
        &planned,
        |i, buf| {
            let t = store.get(&names[i]).unwrap();
            let bytes = store.bytes(t);
            let at = buf.len();
            buf.extend_from_slice(bytes);
            if planned[i].dtype == DType::Q4_0x16 && t.shape[0] % 16 == 0 {
                interleave(DType::Q4_0x16, bytes, t.shape[1], &mut buf[at..]);
            }
            Ok(())
        },
        |_, _| {},
    )
    .unwrap();
}

#[test]
fn interleaved_tensors_need_whole_groups_and_a_row_free_use() {
    use minke::quant::DType;
    let dir = TempDir::new("x16");
    // DeepSeek-V2: the q4_0 conversion keeps kv_b_proj in rows.
    let q = dir.path("q.minke");
    minke::quantize::quantize_with_lora(
        &fixture("deepseek_v2"),
        &q,
        Some(DType::Q4_0),
        false,
        None,
        |_, _| {},
    )
    .unwrap();
    let m = Model::open(&q).unwrap();
    let kv_b = m
        .tensors()
        .names()
        .iter()
        .find(|n| n.ends_with("kv_b_proj.weight"))
        .expect("a kv_b_proj")
        .clone();
    let rows = m.tensors().get(&kv_b).unwrap().shape[0];
    drop(m);
    let bad = dir.path("kvb.minke");
    assert_eq!(rows % 16, 0, "the fixture's kv_b_proj fills whole groups");
    rewrite_interleaved(&q, &bad, |n| n == kv_b);
    let e = err(&bad);
    assert!(e.contains(&kv_b) && e.contains("read by rows"), "{e}");
    // A projection whose rows do not fill whole groups of 16.
    let odd = m_odd_rows(&q);
    rewrite_interleaved(&q, &bad, |n| n == odd);
    let e = err(&bad);
    assert!(e.contains(&odd) && e.contains("multiple of 16 rows"), "{e}");
}

/// A q4_0 tensor of `q` whose row count is not a multiple of 16.
fn m_odd_rows(q: &Path) -> String {
    let m = Model::open(q).unwrap();
    m.tensors()
        .names()
        .iter()
        .find(|n| {
            let t = m.tensors().get(n).unwrap();
            t.dtype == minke::quant::DType::Q4_0 && t.shape.len() == 2 && t.shape[0] % 16 != 0
        })
        .expect("a q4_0 matrix with rows not a multiple of 16")
        .clone()
}

fn unsafe_free_replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = hay
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    let mut out = hay.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

/// A checkpoint folder with `fixture(case)`'s weights and `config` as its
/// `config.json`.
fn checkpoint_with_config(dir: &TempDir, case: &str, config: &str) -> PathBuf {
    let ck = dir.path("ck");
    std::fs::create_dir_all(&ck).unwrap();
    std::fs::copy(
        fixture(case).join("model.safetensors"),
        ck.join("model.safetensors"),
    )
    .unwrap();
    std::fs::write(ck.join("config.json"), config).unwrap();
    ck
}

/// Found by the `config` fuzz target: MLA's query/key head size is the sum
/// of two sizes from the file, and was added before either was bounded
/// (an overflow panic in debug builds).
#[test]
fn mla_head_sizes_that_overflow_are_named() {
    let dir = TempDir::new("qk-overflow");
    let cfg = std::fs::read_to_string(fixture("deepseek_v3").join("config.json")).unwrap();
    let cfg = cfg.replace(
        "\"qk_nope_head_dim\": 16",
        "\"qk_nope_head_dim\": 18446744073709551615",
    );
    let e = err(&checkpoint_with_config(&dir, "deepseek_v3", &cfg));
    assert!(
        e.contains("qk_nope_head_dim (18446744073709551615) + qk_rope_head_dim (8) overflows"),
        "{e}"
    );
}

/// Found while fuzzing the tokenizer: the id tables are sized by the
/// largest id, so one added token (or vocabulary entry) numbered
/// 2,000,000,000 in an otherwise good tokenizer.json reserved 32 GB and
/// aborted. Now the tokenizer is refused, naming the id; the model still
/// opens and runs on ids.
#[test]
fn a_token_id_far_past_the_vocabulary_is_named() {
    let src = fixture("tokenizer/smollm2/tokenizer.json");
    let good: serde_json::Value = serde_json::from_slice(&std::fs::read(src).unwrap()).unwrap();
    let dir = TempDir::new("big-id");
    let config = std::fs::read_to_string(fixture("llama_gqa").join("config.json")).unwrap();
    let ck = checkpoint_with_config(&dir, "llama_gqa", &config);
    let mut added = good.clone();
    added["added_tokens"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"id": 2_000_000_000u32, "content": "<big>", "special": true}));
    let mut vocab = good.clone();
    vocab["model"]["vocab"]["zzzq"] = serde_json::json!(1_000_000_000u32);
    for (t, id) in [(added, "2000000000"), (vocab, "1000000000")] {
        std::fs::write(ck.join("tokenizer.json"), t.to_string()).unwrap();
        let m = Model::open(&ck).unwrap();
        let e = m.tokenizer().unwrap_err().to_string();
        let want = format!("token id {id} is far past the 49170 tokens listed");
        assert!(e.contains(&want), "{e}");
        let e = minke::Tokenizer::open(ck.join("tokenizer.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&want), "{e}");
    }
    // The fixture as it is builds.
    minke::Tokenizer::from_json(good.to_string().as_bytes()).unwrap();
}
