//! LoRA adapters against transformers + peft on the committed fixture: run
//! time (per session, over one shared model) and merged into a `.minke`
//! file, plain and rsLoRA; and the errors bad adapters give.

mod common;

use common::TempDir;
use minke::lora::LoraAdapter;
use minke::quant::DType;
use minke::{KvType, Model, Session, SessionParams};
use safetensors::SafeTensors;
use std::path::PathBuf;
use std::sync::Arc;

fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/llama_lora")
        .join(sub)
}

struct Expected {
    tokens: Vec<u32>,
    base: Vec<f32>,
    lora: Vec<f32>,
    rslora: Vec<f32>,
}

fn expected() -> Expected {
    let bytes = std::fs::read(dir("expected.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let f32s = |n: &str| -> Vec<f32> {
        st.tensor(n)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let tokens = st
        .tensor("tokens")
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as u32)
        .collect();
    Expected {
        tokens,
        base: f32s("logits_base"),
        lora: f32s("logits"),
        rslora: f32s("logits_rslora"),
    }
}

fn logits(s: &mut Session<'_>, tokens: &[u32]) -> Vec<f32> {
    s.rewind(0).unwrap();
    let mut out = Vec::new();
    s.prefill_each(tokens, |_, l| out.extend_from_slice(l))
        .unwrap();
    out
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn params() -> SessionParams {
    SessionParams {
        n_ctx: 64,
        n_threads: 2,
        kv_type: KvType::F32,
        n_batch: 16,
        logits_all: true,
        allow_long_context: false,
    }
}

#[test]
fn runtime_adapters_match_peft_per_session() {
    let e = expected();
    let model = Model::open(dir("base")).unwrap();
    let plain = Arc::new(LoraAdapter::open(dir("adapter")).unwrap());
    let rs = Arc::new(LoraAdapter::open(dir("adapter_rslora")).unwrap());
    // Three sessions over one model: none, plain, rsLoRA.
    let mut s0 = Session::new(&model, params()).unwrap();
    let mut s1 = Session::new(&model, params()).unwrap();
    let mut s2 = Session::new(&model, params()).unwrap();
    s1.set_adapter(Some(plain.clone()), 1.0).unwrap();
    s2.set_adapter(Some(rs), 1.0).unwrap();
    let d0 = max_diff(&logits(&mut s0, &e.tokens), &e.base);
    let d1 = max_diff(&logits(&mut s1, &e.tokens), &e.lora);
    let d2 = max_diff(&logits(&mut s2, &e.tokens), &e.rslora);
    eprintln!("max |Δlogit|: base {d0:.2e}, lora {d1:.2e}, rslora {d2:.2e}");
    assert!(d0 < 1e-4 && d1 < 1e-4 && d2 < 1e-4);
    // The adapter really changes the output, and removing it restores the base.
    assert!(max_diff(&e.base, &e.lora) > 0.1);
    s1.set_adapter(None, 1.0).unwrap();
    assert!(max_diff(&logits(&mut s1, &e.tokens), &e.base) < 1e-4);
    // Scale 0 is the base model; scale 1 the adapter.
    s1.set_adapter(Some(plain), 0.0).unwrap();
    assert!(max_diff(&logits(&mut s1, &e.tokens), &e.base) < 1e-4);
}

#[test]
fn merged_adapters_match_peft() {
    let e = expected();
    let tmp = TempDir::new("lora-merge");
    for (adapter, want) in [("adapter", &e.lora), ("adapter_rslora", &e.rslora)] {
        let a = LoraAdapter::open(dir(adapter)).unwrap();
        let out = tmp.path(&format!("{adapter}.minke"));
        minke::quantize::quantize_with_lora(
            &dir("base"),
            &out,
            Some(DType::F32),
            true,
            Some((&a, 1.0)),
            |_, _| {},
        )
        .unwrap();
        let model = Model::open(&out).unwrap();
        let mut s = Session::new(&model, params()).unwrap();
        let d = max_diff(&logits(&mut s, &e.tokens), want);
        eprintln!("merged {adapter}: max |Δlogit| {d:.2e}");
        assert!(d < 1e-4);
    }
}

#[test]
fn runtime_adapter_on_quantized_weights_tracks_the_merged_one() {
    // Run time over q8_0 base weights vs the adapter merged before q8_0: both
    // are near the f32 reference, by the same order of error.
    let e = expected();
    let tmp = TempDir::new("lora-q8");
    let a = Arc::new(LoraAdapter::open(dir("adapter")).unwrap());
    let base_q = tmp.path("base-q8.minke");
    minke::quantize::quantize(&dir("base"), &base_q, DType::Q8_0, |_, _| {}).unwrap();
    let model = Model::open(&base_q).unwrap();
    let mut s = Session::new(&model, params()).unwrap();
    s.set_adapter(Some(a), 1.0).unwrap();
    let v = e.lora.len() / e.tokens.len();
    let got = logits(&mut s, &e.tokens);
    let (kl, top1) = common::kl_and_top1(&e.lora, &got, v);
    eprintln!(
        "runtime adapter on q8_0 weights: mean KL {kl:.2e}, top-1 {:.1}%",
        top1 * 100.0
    );
    assert!(kl < 5e-3 && top1 >= 0.8);
}

#[test]
fn bad_adapters_are_clear_errors() {
    let tmp = TempDir::new("lora-bad");
    let copy = |name: &str, edit: &dyn Fn(String) -> String| -> PathBuf {
        let d = tmp.path(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(
            dir("adapter/adapter_model.safetensors"),
            d.join("adapter_model.safetensors"),
        )
        .unwrap();
        let cfg = std::fs::read_to_string(dir("adapter/adapter_config.json")).unwrap();
        std::fs::write(d.join("adapter_config.json"), edit(cfg)).unwrap();
        d
    };
    let err = |p: PathBuf| LoraAdapter::open(p).unwrap_err().to_string();
    let e = err(copy("target", &|c| c.replace("\"q_proj\"", "\"lm_head\"")));
    assert!(e.contains("lm_head"), "{e}");
    let e = err(copy("rank", &|c| c.replace("\"r\": 4", "\"r\": 8")));
    assert!(e.contains("rank") && e.contains("r = 8"), "{e}");
    let e = err(copy("dora", &|c| {
        c.replace("\"use_dora\": false", "\"use_dora\": true")
    }));
    assert!(e.contains("DoRA"), "{e}");
    let e = err(tmp.path("missing"));
    assert!(e.contains("adapter_config.json"), "{e}");
    // An adapter for another model's shapes.
    let other =
        Model::open(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/llama_gqa"))
            .unwrap();
    let a = Arc::new(LoraAdapter::open(dir("adapter")).unwrap());
    let mut s = Session::new(&other, params()).unwrap();
    let e = s.set_adapter(Some(a), 1.0).unwrap_err().to_string();
    assert!(e.contains("the model's is"), "{e}");
}

/// Re-quantizing a q4_0 model for a q8_0 target keeps its q4_0 tensors at
/// q4_0 (no bytes for lost precision), but the tensors a merged adapter
/// changes take the target.
#[test]
fn merging_into_a_quantized_model_widens_only_the_adapted_tensors() {
    let tmp = TempDir::new("lora-widen");
    let a = LoraAdapter::open(dir("adapter")).unwrap();
    let q4 = tmp.path("base-q4.minke");
    minke::quantize::quantize(&dir("base"), &q4, DType::Q4_0, |_, _| {}).unwrap();
    let (plain, merged) = (tmp.path("plain-q8.minke"), tmp.path("merged-q8.minke"));
    for (out, lora) in [(&plain, None), (&merged, Some((&a, 1.0)))] {
        minke::quantize::quantize_with_lora(&q4, out, Some(DType::Q8_0), true, lora, |_, _| {})
            .unwrap();
    }
    let src = Model::open(&q4).unwrap();
    let (p, m) = (Model::open(&plain).unwrap(), Model::open(&merged).unwrap());
    let (mut q4_seen, mut adapted) = (0, 0);
    for name in src.tensors().names() {
        if src.tensors().get(name).unwrap().dtype.plain() != DType::Q4_0 {
            continue;
        }
        q4_seen += 1;
        let plain_dtype = p.tensors().get(name).unwrap().dtype.plain();
        assert_eq!(plain_dtype, DType::Q4_0, "{name}: no adapter, kept");
        let merged_dtype = m.tensors().get(name).unwrap().dtype.plain();
        if a.pair(name).is_some() {
            assert_eq!(merged_dtype, DType::Q8_0, "{name}: adapted");
            adapted += 1;
        } else {
            assert_eq!(merged_dtype, DType::Q4_0, "{name}: not adapted");
        }
    }
    assert!(
        q4_seen > 0 && adapted > 0,
        "q4_0 {q4_seen}, adapted {adapted}"
    );
}
