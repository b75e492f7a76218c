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
        let d = cfg.head_dim;
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
        }
        Rope {
            inv_freq: inv_freq.into_iter().map(|f| f as f32).collect(),
            style: cfg.rope_style,
            mscale: 1.0,
        }
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
