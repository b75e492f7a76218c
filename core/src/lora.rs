//! LoRA adapters (Hu et al. 2021) in PEFT's format: `adapter_config.json`
//! and `adapter_model.safetensors` (f32/f16/bf16). A linear layer `W`
//! becomes `W + s · B A`, with `A: [r, in]`, `B: [out, r]` and
//! `s = lora_alpha / r` (`lora_alpha / √r` with `use_rslora`), times a
//! user scale.
//!
//! An adapter is either merged into the weights when a `.minke` file is
//! written (`minke quantize --lora`), or applied at run time on top of the
//! mapped base weights, per session ([`crate::Session::set_adapter`]).

use crate::file::st;
use crate::tensor::TensorStore;
use crate::{Error, Model, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// The projections an adapter may target: every linear layer of the
/// architectures minke runs.
const TARGETS: &[&str] = &[
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
    "q_a_proj",
    "q_b_proj",
    "kv_a_proj_with_mqa",
    "kv_b_proj",
];

/// One adapted linear layer: `delta = scale · B A`.
#[derive(Clone, Debug)]
pub struct LoraPair {
    /// `[r, in]`, row-major.
    pub a: Vec<f32>,
    /// `[out, r]`, row-major.
    pub b: Vec<f32>,
    pub r: usize,
    pub inp: usize,
    pub out: usize,
}

/// A loaded adapter.
#[derive(Clone, Debug)]
pub struct LoraAdapter {
    /// `lora_alpha / r` or `lora_alpha / √r` (rsLoRA).
    pub scale: f32,
    pub r: usize,
    /// Keyed by the base weight's name, e.g.
    /// `model.layers.0.self_attn.q_proj.weight`.
    pairs: HashMap<String, LoraPair>,
}

impl LoraAdapter {
    /// Reads a PEFT adapter folder.
    pub fn open(dir: impl AsRef<Path>) -> Result<LoraAdapter> {
        let dir = dir.as_ref();
        let cfg_path = dir.join("adapter_config.json");
        let file = cfg_path.display().to_string();
        let text = crate::file::read_text(&cfg_path)?;
        let c: Value = serde_json::from_str(&text)
            .map_err(|e| Error::format(&file, format!("not JSON: {e}")))?;
        let bad = |m: String| Error::format(&file, m);
        if let Some(t) = c.get("peft_type").and_then(Value::as_str) {
            if t != "LORA" {
                return Err(Error::Unsupported(format!(
                    "{file}: peft_type {t} (minke reads LORA)"
                )));
            }
        }
        let r = c
            .get("r")
            .and_then(Value::as_u64)
            .filter(|&r| r > 0)
            .ok_or_else(|| bad("`r` must be a positive integer".into()))? as usize;
        let alpha = c
            .get("lora_alpha")
            .and_then(Value::as_f64)
            .ok_or_else(|| bad("no `lora_alpha`".into()))? as f32;
        let rslora = c
            .get("use_rslora")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let unsupported = |what: &str| Err(Error::Unsupported(format!("{file}: {what}")));
        if c.get("fan_in_fan_out").and_then(Value::as_bool) == Some(true) {
            return unsupported("fan_in_fan_out = true");
        }
        if c.get("use_dora").and_then(Value::as_bool) == Some(true) {
            return unsupported("DoRA (use_dora = true)");
        }
        if c.get("bias")
            .and_then(Value::as_str)
            .is_some_and(|b| b != "none")
        {
            return unsupported("trained biases (bias != \"none\")");
        }
        for key in ["alpha_pattern", "rank_pattern"] {
            if c.get(key)
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
            {
                return unsupported(&format!("per-module `{key}`"));
            }
        }
        if c.get("modules_to_save").is_some_and(|m| !m.is_null()) {
            return unsupported("modules_to_save (fully trained extra modules)");
        }
        let targets: Vec<String> = match c.get("target_modules") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) => {
                return unsupported(&format!("target_modules given as a regex ({s:?})"))
            }
            _ => Vec::new(),
        };
        if let Some(t) = targets.iter().find(|t| !TARGETS.contains(&t.as_str())) {
            return Err(Error::Unsupported(format!(
                "{file}: target module `{t}` (minke adapts {})",
                TARGETS.join(", ")
            )));
        }
        let scale = if rslora {
            alpha / (r as f32).sqrt()
        } else {
            alpha / r as f32
        };

        let mut store = TensorStore::default();
        let weights = dir.join("adapter_model.safetensors");
        let f = st::map(&mut store, &weights, crate::Load::Map)?;
        f.add_tensors(&mut store, &HashMap::new())?;
        let wfile = weights.display().to_string();
        let mut pairs: HashMap<String, LoraPair> = HashMap::new();
        for name in store.names() {
            let base = name.strip_prefix("base_model.model.").unwrap_or(name);
            let (module, which) = if let Some(m) = base.strip_suffix(".lora_A.weight") {
                (m, 'A')
            } else if let Some(m) = base.strip_suffix(".lora_B.weight") {
                (m, 'B')
            } else {
                return Err(Error::Unsupported(format!(
                    "{wfile}: tensor `{name}` is not a LoRA A or B matrix"
                )));
            };
            let proj = module.rsplit('.').next().unwrap_or("");
            if !TARGETS.contains(&proj) {
                return Err(Error::Unsupported(format!(
                    "{wfile}: tensor `{name}` adapts unknown module `{proj}`"
                )));
            }
            let t = store.get(name).expect("listed");
            let (rows, cols) = match t.shape.as_slice() {
                [a, b] => (*a, *b),
                s => {
                    return Err(Error::format(
                        &wfile,
                        format!("tensor `{name}` has shape {s:?}, expected 2-D"),
                    ))
                }
            };
            let data = store.to_f32(t);
            let e = pairs.entry(format!("{module}.weight")).or_insert(LoraPair {
                a: vec![],
                b: vec![],
                r,
                inp: 0,
                out: 0,
            });
            if which == 'A' {
                if rows != r {
                    return Err(Error::format(
                        &wfile,
                        format!("`{name}` has rank {rows}, the config says r = {r}"),
                    ));
                }
                e.a = data;
                e.inp = cols;
            } else {
                if cols != r {
                    return Err(Error::format(
                        &wfile,
                        format!("`{name}` has rank {cols}, the config says r = {r}"),
                    ));
                }
                e.b = data;
                e.out = rows;
            }
        }
        if let Some((n, _)) = pairs.iter().find(|(_, p)| p.a.is_empty() || p.b.is_empty()) {
            return Err(Error::format(
                &wfile,
                format!("`{n}` has only one of lora_A and lora_B"),
            ));
        }
        if pairs.is_empty() {
            return Err(Error::format(&wfile, "no LoRA tensors"));
        }
        Ok(LoraAdapter { scale, r, pairs })
    }

    /// Checks that every adapted layer exists in `model` with matching
    /// shape.
    pub fn check(&self, model: &Model) -> Result<()> {
        let store = model.tensors();
        for (name, p) in &self.pairs {
            let t = store.get(name).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "the adapter adapts `{name}`, which the model does not have"
                ))
            })?;
            if t.shape != [p.out, p.inp] {
                return Err(Error::InvalidArgument(format!(
                    "the adapter's `{name}` is [{}, {}], the model's is {:?}",
                    p.out, p.inp, t.shape
                )));
            }
        }
        Ok(())
    }

    /// The pair adapting the weight `name`, if any.
    pub fn pair(&self, name: &str) -> Option<&LoraPair> {
        self.pairs.get(name)
    }

    /// Names of the adapted weights.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.keys().map(String::as_str)
    }
}

impl LoraPair {
    /// Adds `scale · (B A)[row, :]` to `out` (`inp` values): merging.
    pub fn add_row(&self, row: usize, scale: f32, out: &mut [f32]) {
        let b = &self.b[row * self.r..(row + 1) * self.r];
        for (k, &bk) in b.iter().enumerate() {
            let s = scale * bk;
            for (o, &a) in out
                .iter_mut()
                .zip(&self.a[k * self.inp..(k + 1) * self.inp])
            {
                *o += s * a;
            }
        }
    }

    /// `y (n, out) += scale · B (A x)` for `n` input rows `x (n, inp)`,
    /// using `t` (`n * r` values) as scratch: applying at run time.
    pub fn apply(&self, x: &[f32], n: usize, scale: f32, t: &mut [f32], y: &mut [f32]) {
        let (r, inp, out) = (self.r, self.inp, self.out);
        for i in 0..n {
            let xi = &x[i * inp..(i + 1) * inp];
            for k in 0..r {
                let a = &self.a[k * inp..(k + 1) * inp];
                t[i * r + k] = a.iter().zip(xi).map(|(p, q)| p * q).sum::<f32>() * scale;
            }
            let ti = &t[i * r..(i + 1) * r];
            for (o, yo) in y[i * out..(i + 1) * out].iter_mut().enumerate() {
                let b = &self.b[o * r..(o + 1) * r];
                *yo += b.iter().zip(ti).map(|(p, q)| p * q).sum::<f32>();
            }
        }
    }
}

/// An adapter attached to a session: the pairs keyed by where their base
/// weights live, and scratch for applying them (allocated when attached,
/// so decoding still allocates nothing).
pub struct SessionLora {
    adapter: std::sync::Arc<LoraAdapter>,
    /// `adapter.scale` times the user's scale.
    scale: f32,
    by_key: HashMap<(usize, usize), String>,
    scratch: std::sync::Mutex<Scratch>,
}

struct Scratch {
    /// `(n_batch, max in)`: int8 activations expanded back to f32.
    x: Vec<f32>,
    /// `(n_batch, r)`: `A x`.
    t: Vec<f32>,
}

impl SessionLora {
    pub(crate) fn new(
        adapter: std::sync::Arc<LoraAdapter>,
        scale: f32,
        model: &Model,
        n_batch: usize,
    ) -> Result<SessionLora> {
        adapter.check(model)?;
        if model.config.arch.is_deepseek()
            && adapter.names().any(|n| n.ends_with("kv_b_proj.weight"))
        {
            // Decoding folds kv_b_proj into the attention (absorbed MLA), so
            // a run-time delta on it would be skipped: merge it instead.
            return Err(Error::Unsupported(
                "a run-time adapter on kv_b_proj (MLA decodes with it absorbed); merge it with `minke quantize --lora`".into(),
            ));
        }
        if !scale.is_finite() {
            return Err(Error::InvalidArgument(format!("adapter scale {scale}")));
        }
        let store = model.tensors();
        let mut by_key = HashMap::new();
        let mut max_in = 0;
        for name in adapter.names() {
            let t = store.get(name).expect("checked above");
            by_key.insert(t.key(), name.to_string());
            max_in = max_in.max(t.rows_cols().1);
        }
        Ok(SessionLora {
            scale: adapter.scale * scale,
            by_key,
            scratch: std::sync::Mutex::new(Scratch {
                x: vec![0.0; n_batch * max_in],
                t: vec![0.0; n_batch * adapter.r],
            }),
            adapter,
        })
    }

    /// The scale its deltas are applied at (the adapter's own times the
    /// session's).
    pub(crate) fn applied_scale(&self) -> f32 {
        self.scale
    }

    /// The adapter.
    pub fn adapter(&self) -> &std::sync::Arc<LoraAdapter> {
        &self.adapter
    }

    /// Adds the adapter's contribution for weight `w` to `out (n, rows)`,
    /// given the layer's input `x` (f32, or int8 blocks for quantized
    /// weights, which are expanded back to f32 here).
    pub(crate) fn apply(
        &self,
        w: &crate::tensor::Tensor,
        x: minke_quant::Act<'_>,
        n: usize,
        out: &mut [f32],
    ) {
        let Some(name) = self.by_key.get(&w.key()) else {
            return;
        };
        let Some(pair) = self.adapter.pair(name) else {
            return;
        };
        let mut guard = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let Scratch { x: sx, t } = &mut *guard;
        let xs: &[f32] = match x {
            minke_quant::Act::F32(x) => x,
            minke_quant::Act::Q8(blocks) => {
                let dst = &mut sx[..n * pair.inp];
                for (d, b) in dst.chunks_exact_mut(minke_quant::QK).zip(blocks) {
                    for (v, &q) in d.iter_mut().zip(&b.qs) {
                        *v = b.d * q as f32;
                    }
                }
                dst
            }
        };
        pair.apply(xs, n, self.scale, t, out);
    }
}
