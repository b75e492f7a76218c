//! Rotary position embeddings (Su et al. 2021, "RoFormer"), with the
//! frequency scalings of [`RopeScaling`], applied in place to q and k.

use crate::config::{ModelConfig, RopeScaling, RopeStyle};

/// Precomputed inverse frequencies for one model: `head_dim / 2` values.
pub struct Rope {
    inv_freq: Vec<f32>,
    style: RopeStyle,
    /// Multiplier on cos/sin (1 except for scalings that ask otherwise).
    mscale: f32,
}

impl Rope {
    /// Frequencies as transformers' `ROPE_INIT_FUNCTIONS` compute them.
    pub fn new(cfg: &ModelConfig) -> Rope {
        Rope::with_dim(cfg, cfg.head_dim)
    }

    /// As [`Rope::new`] for rotated parts of `d` values (DeepSeek rotates
    /// only `qk_rope_head_dim` of each head).
    pub fn with_dim(cfg: &ModelConfig, d: usize) -> Rope {
        let mut mscale = 1.0;
        let base = cfg.rope_theta as f64;
        let mut inv_freq: Vec<f64> = (0..d / 2)
            .map(|i| 1.0 / base.powf((2 * i) as f64 / d as f64))
            .collect();
        match cfg.rope_scaling {
            None => {}
            Some(RopeScaling::Linear { factor }) => {
                for f in &mut inv_freq {
                    *f /= factor as f64;
                }
            }
            Some(RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings: old_ctx,
            }) => {
                let (factor, lo, hi, old_ctx) = (
                    factor as f64,
                    low_freq_factor as f64,
                    high_freq_factor as f64,
                    old_ctx as f64,
                );
                let low_wavelen = old_ctx / lo;
                let high_wavelen = old_ctx / hi;
                for f in &mut inv_freq {
                    let wavelen = 2.0 * std::f64::consts::PI / *f;
                    if wavelen > low_wavelen {
                        *f /= factor;
                    } else if wavelen >= high_wavelen {
                        let smooth = (old_ctx / wavelen - lo) / (hi - lo);
                        *f = (1.0 - smooth) * *f / factor + smooth * *f;
                    }
                }
            }
            Some(RopeScaling::Yarn {
                factor,
                original_max_position_embeddings: old_ctx,
                beta_fast,
                beta_slow,
                mscale: m,
                mscale_all_dim: m_all,
                attention_factor,
                truncate,
            }) => {
                // transformers' `_compute_yarn_parameters`.
                let (factor, old_ctx) = (factor as f64, old_ctx as f64);
                let dim = d as f64;
                let correction_dim = |rotations: f64| {
                    dim * (old_ctx / (rotations * 2.0 * std::f64::consts::PI)).ln()
                        / (2.0 * base.ln())
                };
                let (mut low, mut high) = (
                    correction_dim(beta_fast as f64),
                    correction_dim(beta_slow as f64),
                );
                if truncate {
                    low = low.floor();
                    high = high.ceil();
                }
                let (low, mut high) = (low.max(0.0), high.min(dim - 1.0));
                if low == high {
                    high += 0.001;
                }
                for (i, f) in inv_freq.iter_mut().enumerate() {
                    // ramp 0: keep the frequency (extrapolate); 1: divide.
                    let ramp = ((i as f64 - low) / (high - low)).clamp(0.0, 1.0);
                    *f = *f / factor * ramp + *f * (1.0 - ramp);
                }
                mscale = match attention_factor {
                    Some(a) => a,
                    None if m != 0.0 && m_all != 0.0 => {
                        yarn_mscale(factor as f32, m) / yarn_mscale(factor as f32, m_all)
                    }
                    None => yarn_mscale(factor as f32, 1.0),
                };
            }
        }
        Rope {
            inv_freq: inv_freq.into_iter().map(|f| f as f32).collect(),
            style: cfg.rope_style,
            mscale,
        }
    }

    /// Rotated values per head (`2 * frequencies`).
    pub fn dim(&self) -> usize {
        2 * self.inv_freq.len()
    }

    /// Fills `cos_sin` (`head_dim` values: cosines then sines) for
    /// position `pos`. Computed once per token and shared by every layer.
    pub fn cos_sin(&self, pos: usize, cos_sin: &mut [f32]) {
        let half = self.inv_freq.len();
        let (cos, sin) = cos_sin[..2 * half].split_at_mut(half);
        for i in 0..half {
            // Angle in f64: positions reach 10^5 and f32 would lose the phase.
            let a = pos as f64 * self.inv_freq[i] as f64;
            cos[i] = a.cos() as f32 * self.mscale;
            sin[i] = a.sin() as f32 * self.mscale;
        }
    }

    /// Fills `cos_sin` (as [`Rope::cos_sin`]) for a rotation by `delta`
    /// positions, negative to go back, without the scaling's magnitude
    /// factor. Applied with [`Rope::rotate`] to a key already rotated to
    /// position `p`, it gives the key of position `p + delta`: in each
    /// plane `i` a rotation by `p θ_i` then by `delta θ_i` is one by `(p +
    /// delta) θ_i`, and every scaling here (linear, llama3, YaRN) fixes
    /// `θ_i` per dimension, whatever the position; YaRN's factor on the
    /// magnitude was applied once already. In floats the two rotations
    /// differ from one by a few ulp of the key's largest pair.
    pub fn cos_sin_delta(&self, delta: i64, cos_sin: &mut [f32]) {
        let half = self.inv_freq.len();
        let (cos, sin) = cos_sin[..2 * half].split_at_mut(half);
        for i in 0..half {
            let a = delta as f64 * self.inv_freq[i] as f64;
            cos[i] = a.cos() as f32;
            sin[i] = a.sin() as f32;
        }
    }

    /// Rotates each of the `x.len() / head_dim` heads of `x` by the angles
    /// in `cos_sin` (from [`Rope::cos_sin`]).
    pub fn rotate(&self, x: &mut [f32], cos_sin: &[f32]) {
        let half = self.inv_freq.len();
        let (cos, sin) = cos_sin[..2 * half].split_at(half);
        for head in x.chunks_exact_mut(2 * half) {
            match self.style {
                RopeStyle::Half => {
                    let (a, b) = head.split_at_mut(half);
                    for i in 0..half {
                        let (x0, x1) = (a[i], b[i]);
                        a[i] = x0 * cos[i] - x1 * sin[i];
                        b[i] = x1 * cos[i] + x0 * sin[i];
                    }
                }
                RopeStyle::Interleaved => {
                    for i in 0..half {
                        let (x0, x1) = (head[2 * i], head[2 * i + 1]);
                        head[2 * i] = x0 * cos[i] - x1 * sin[i];
                        head[2 * i + 1] = x1 * cos[i] + x0 * sin[i];
                    }
                }
            }
        }
    }
}

/// YaRN's magnitude correction `0.1 * m * ln(scale) + 1` (1 when `scale <= 1`).
pub fn yarn_mscale(scale: f32, m: f32) -> f32 {
    if scale <= 1.0 {
        1.0
    } else {
        0.1 * m * scale.ln() + 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(case: &str) -> ModelConfig {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let text = std::fs::read_to_string(dir.join(case).join("config.json")).unwrap();
        ModelConfig::from_hf_json(&text).unwrap()
    }

    /// A key rotated to position `p` and then by `-d` is the key rotated
    /// to `p - d`, for every scaling and both styles, to float rounding.
    #[test]
    fn a_rotation_by_delta_composes() {
        let mut cases: Vec<ModelConfig> = ["llama_gqa", "llama3_rope", "llama_linear_rope"]
            .iter()
            .map(|c| config(c))
            .collect();
        cases.push(config("deepseek_v2"));
        for mut cfg in cases {
            for style in [RopeStyle::Half, RopeStyle::Interleaved] {
                cfg.rope_style = style;
                let r = Rope::with_dim(&cfg, 32);
                let k: Vec<f32> = (0..32).map(|i| (i as f32 * 0.7).sin() * 3.0).collect();
                for (p, d) in [(5usize, 3usize), (700, 300), (4000, 2047)] {
                    let mut cs = vec![0f32; 32];
                    let mut shifted = k.clone();
                    r.cos_sin(p, &mut cs);
                    r.rotate(&mut shifted, &cs);
                    r.cos_sin_delta(-(d as i64), &mut cs);
                    r.rotate(&mut shifted, &cs);
                    let mut direct = k.clone();
                    r.cos_sin(p - d, &mut cs);
                    r.rotate(&mut direct, &cs);
                    for (a, b) in shifted.iter().zip(&direct) {
                        // A few ulp of the pairs' magnitude (about 4 here).
                        assert!((a - b).abs() < 4e-6 * 4.0, "{cfg:?} {p} {d}: {a} {b}");
                    }
                }
            }
        }
    }

    /// The numbers tests/fixtures/README.md gives for the DeepSeek cases.
    #[test]
    fn yarn_matches_transformers() {
        let r = Rope::with_dim(&config("deepseek_v2"), 8);
        let want = [1.0, 0.0625, 0.0025, 0.00025];
        for (a, b) in r.inv_freq.iter().zip(want) {
            assert!((a - b).abs() <= 1e-7 * b, "{:?}", r.inv_freq);
        }
        assert!((r.mscale - 1.036993).abs() < 1e-6, "{}", r.mscale);
        let r = Rope::with_dim(&config("deepseek_v3"), 8);
        assert_eq!(r.mscale, 1.0);
        assert!((yarn_mscale(4.0, 0.707).powi(2) - 1.205628).abs() < 1e-6);
        assert!((yarn_mscale(4.0, 1.0).powi(2) - 1.296477).abs() < 1e-6);
        assert_eq!(yarn_mscale(1.0, 1.0), 1.0);
    }
}
