//! DeepSeekMoE (Dai et al. 2024, "DeepSeekMoE"; DeepSeek-V2 and V3 technical
//! reports): a router picks `top_k` of `n_experts` small SwiGLU experts per
//! token, whose weighted outputs are summed, plus shared experts every token
//! passes through.
//!
//! Everything runs in buffers sized when the session is made ([`MoeBuffers`]).
//! A batch is grouped by expert, so each chosen expert's weights are read
//! once per batch and a single token (decode) reads only its own experts.
//! Per token, expert outputs are added in ascending expert order, whatever
//! the batch, so prefill and decode sum the same terms in the same order.

use crate::config::{DeepseekConfig, ScoringFunc, TopkMethod};
use crate::ops::ffn::{swiglu_ffn, FfnScratch};
use crate::ops::matmul::{linear, quantize_input, Ctx, Linear};

/// A SwiGLU MLP: `down(silu(gate(x)) * up(x))` (Shazeer 2020).
pub struct Mlp {
    /// `[inter, hidden]`
    pub gate: Linear,
    /// `[inter, hidden]`
    pub up: Linear,
    /// `[hidden, inter]`
    pub down: Linear,
}

impl Mlp {
    /// Bytes of its three matrices.
    pub fn bytes(&self) -> usize {
        self.gate.w.byte_len() + self.up.w.byte_len() + self.down.w.byte_len()
    }
}

/// `out (m, hidden) = mlp(x (m, hidden))`: the one SwiGLU path
/// ([`swiglu_ffn`]).
pub fn mlp_forward(
    ctx: &Ctx<'_>,
    mlp: &Mlp,
    x: &[f32],
    m: usize,
    s: FfnScratch<'_>,
    out: &mut [f32],
) {
    swiglu_ffn(ctx, &mlp.gate, &mlp.up, &mlp.down, x, m, s, out, || {});
}

/// How a token's experts are chosen and weighted.
#[derive(Clone, Copy, Debug)]
pub struct Routing {
    pub scoring: ScoringFunc,
    pub method: TopkMethod,
    pub n_experts: usize,
    pub n_group: usize,
    pub topk_group: usize,
    pub top_k: usize,
    /// Normalise the chosen weights to sum 1 (before scaling).
    pub norm: bool,
    /// `routed_scaling_factor`.
    pub scale: f32,
}

impl Routing {
    pub fn new(d: &DeepseekConfig) -> Routing {
        Routing {
            scoring: d.scoring_func,
            method: d.topk_method,
            n_experts: d.n_routed_experts,
            n_group: d.n_group,
            topk_group: d.topk_group,
            top_k: d.num_experts_per_tok,
            norm: d.norm_topk_prob,
            scale: d.routed_scaling_factor,
        }
    }

    /// Floats [`route`] needs as `work`.
    pub fn work_len(&self) -> usize {
        2 * self.n_experts + self.n_group
    }
}

/// Index of the largest value (the first one on ties), skipping `-inf`
/// and NaN; `None` when there is none.
fn argmax(x: &[f32]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &v) in x.iter().enumerate() {
        if v > f32::NEG_INFINITY && best.is_none_or(|b| v > x[b]) {
            best = Some(i);
        }
    }
    best
}

/// Chooses one token's experts from its router `logits` (`n_experts`),
/// with the score-correction `bias` for [`TopkMethod::NoauxTc`]. Writes
/// the experts in ascending order to `idx` and their weights (routed
/// scaling included) to `w` (`top_k` each). `work`: [`Routing::work_len`].
pub fn route(
    r: &Routing,
    logits: &[f32],
    bias: Option<&[f32]>,
    work: &mut [f32],
    idx: &mut [u32],
    w: &mut [f32],
) {
    let e = r.n_experts;
    let (scores, rest) = work.split_at_mut(e);
    let (choice, groups) = rest.split_at_mut(e);
    let groups = &mut groups[..r.n_group];
    scores.copy_from_slice(&logits[..e]);
    match r.scoring {
        ScoringFunc::Softmax => crate::ops::softmax(scores),
        ScoringFunc::Sigmoid => {
            for s in scores.iter_mut() {
                *s = 1.0 / (1.0 + (-*s).exp());
            }
        }
    }
    choice.copy_from_slice(scores);
    if let (TopkMethod::NoauxTc, Some(b)) = (r.method, bias) {
        crate::ops::add(choice, b);
    }
    // Group-limited choice: keep the `topk_group` best groups.
    let per = e / r.n_group;
    if r.method != TopkMethod::Greedy && r.topk_group < r.n_group {
        for (g, gs) in groups.iter_mut().enumerate() {
            let c = &choice[g * per..(g + 1) * per];
            *gs = match r.method {
                // V3: the sum of the group's two best biased scores.
                TopkMethod::NoauxTc => {
                    let (mut a, mut b) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
                    for &v in c {
                        if v > a {
                            b = a;
                            a = v;
                        } else if v > b {
                            b = v;
                        }
                    }
                    a + b
                }
                // V2: the group's best score.
                _ => c.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            };
        }
        // Mark kept groups with NaN (which argmax skips), drop the rest.
        for gs in groups.iter_mut() {
            if gs.is_nan() {
                *gs = f32::NEG_INFINITY;
            }
        }
        for _ in 0..r.topk_group {
            if let Some(g) = argmax(groups) {
                groups[g] = f32::NAN;
            }
        }
        for (g, &gs) in groups.iter().enumerate() {
            if !gs.is_nan() {
                choice[g * per..(g + 1) * per].fill(f32::NEG_INFINITY);
            }
        }
    }
    let k = r.top_k;
    for (slot, id) in idx[..k].iter_mut().enumerate() {
        let i = argmax(choice).unwrap_or(slot);
        choice[i] = f32::NEG_INFINITY;
        *id = i as u32;
    }
    idx[..k].sort_unstable();
    for (wi, &i) in w[..k].iter_mut().zip(idx.iter()) {
        *wi = scores[i as usize];
    }
    if r.norm {
        let sum: f32 = w[..k].iter().sum::<f32>() + 1e-20;
        for wi in &mut w[..k] {
            *wi /= sum;
        }
    }
    for wi in &mut w[..k] {
        *wi *= r.scale;
    }
}

/// A MoE block's weights and how it routes.
pub struct MoeWeights {
    pub routing: Routing,
    /// Router `[n_experts, hidden]`.
    pub router: Linear,
    /// Score-correction bias `(n_experts)` (V3).
    pub bias: Option<Vec<f32>>,
    pub experts: Vec<Mlp>,
    /// The shared experts, as one MLP of `moe_intermediate * n_shared`.
    pub shared: Option<Mlp>,
}

/// Buffers of the MoE blocks of one session.
pub struct MoeBuffers {
    /// `(n_batch, n_experts)` router logits.
    logits: Vec<f32>,
    /// [`Routing::work_len`] floats.
    work: Vec<f32>,
    /// `(n_batch, top_k)` chosen experts, ascending per token.
    idx: Vec<u32>,
    /// `(n_batch, top_k)` their weights.
    w: Vec<f32>,
    /// `(n_experts + 1)`: expert `e`'s entries are `order[starts[e]..starts[e + 1]]`.
    starts: Vec<usize>,
    /// `(n_batch * top_k)` entries `token * top_k + slot`, grouped by expert.
    order: Vec<u32>,
    /// `(n_batch, hidden)` the tokens one expert gets, gathered.
    xin: Vec<f32>,
    /// `(n_batch, hidden)` one expert's outputs.
    y: Vec<f32>,
}

impl MoeBuffers {
    /// Buffers for batches of up to `n_batch` tokens.
    pub fn new(r: &Routing, n_batch: usize, hidden: usize) -> MoeBuffers {
        MoeBuffers {
            logits: vec![0.0; n_batch * r.n_experts],
            work: vec![0.0; r.work_len()],
            idx: vec![0; n_batch * r.top_k],
            w: vec![0.0; n_batch * r.top_k],
            starts: vec![0; r.n_experts + 1],
            order: vec![0; n_batch * r.top_k],
            xin: vec![0.0; n_batch * hidden],
            y: vec![0.0; n_batch * hidden],
        }
    }

    /// Bytes [`MoeBuffers::new`] allocates.
    pub fn bytes(r: &Routing, n_batch: usize, hidden: usize) -> usize {
        4 * (n_batch * r.n_experts + r.work_len() + 3 * n_batch * r.top_k + 2 * n_batch * hidden)
            + std::mem::size_of::<usize>() * (r.n_experts + 1)
    }

    /// The experts and weights chosen for token `t` by the last
    /// [`moe_forward`] (for tests and diagnostics).
    pub fn chosen(&self, r: &Routing, t: usize) -> (&[u32], &[f32]) {
        let k = r.top_k;
        (&self.idx[t * k..(t + 1) * k], &self.w[t * k..(t + 1) * k])
    }
}

/// `out (n, hidden) = moe(x (n, hidden))`: the routed experts' weighted sum
/// plus the shared experts, as transformers adds them.
pub fn moe_forward(
    ctx: &Ctx<'_>,
    mw: &MoeWeights,
    x: &[f32],
    n: usize,
    b: &mut MoeBuffers,
    mut s: FfnScratch<'_>,
    out: &mut [f32],
) {
    let h = x.len() / n;
    let r = &mw.routing;
    let (e, k) = (r.n_experts, r.top_k);
    let x = &x[..n * h];
    let out = &mut out[..n * h];

    // Route every token.
    {
        let xa = quantize_input(ctx, &mw.router.w, x, s.xq);
        linear(ctx, &mw.router, xa, n, &mut b.logits, s.tmp);
    }
    for t in 0..n {
        route(
            r,
            &b.logits[t * e..(t + 1) * e],
            mw.bias.as_deref(),
            &mut b.work,
            &mut b.idx[t * k..(t + 1) * k],
            &mut b.w[t * k..(t + 1) * k],
        );
    }

    // Group (token, slot) entries by expert: a counting sort, so tokens
    // keep their order within an expert.
    b.starts.fill(0);
    for &i in &b.idx[..n * k] {
        b.starts[i as usize + 1] += 1;
    }
    for i in 0..e {
        b.starts[i + 1] += b.starts[i];
    }
    // `starts[e]` serves as the fill cursor and ends as the next start.
    for (entry, &i) in b.idx[..n * k].iter().enumerate() {
        let at = &mut b.starts[i as usize];
        b.order[*at] = entry as u32;
        *at += 1;
    }
    // Shift the cursors back into starts.
    for i in (1..=e).rev() {
        b.starts[i] = b.starts[i - 1];
    }
    b.starts[0] = 0;

    // Routed experts, ascending: gather, run, add weighted.
    out.fill(0.0);
    for (ex, mlp) in mw.experts.iter().enumerate() {
        let entries = &b.order[b.starts[ex]..b.starts[ex + 1]];
        let m = entries.len();
        if m == 0 {
            continue;
        }
        for (j, &entry) in entries.iter().enumerate() {
            let t = entry as usize / k;
            b.xin[j * h..(j + 1) * h].copy_from_slice(&x[t * h..(t + 1) * h]);
        }
        mlp_forward(ctx, mlp, &b.xin[..m * h], m, s.reborrow(), &mut b.y);
        for (j, &entry) in entries.iter().enumerate() {
            let t = entry as usize / k;
            let wt = b.w[entry as usize];
            for (o, &y) in out[t * h..(t + 1) * h]
                .iter_mut()
                .zip(&b.y[j * h..(j + 1) * h])
            {
                *o += wt * y;
            }
        }
    }

    // Shared experts, added to the routed sum.
    if let Some(sh) = &mw.shared {
        mlp_forward(ctx, sh, x, n, s.reborrow(), &mut b.y);
        crate::ops::add(out, &b.y[..n * h]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing(
        scoring: ScoringFunc,
        method: TopkMethod,
        n_group: usize,
        topk_group: usize,
    ) -> Routing {
        Routing {
            scoring,
            method,
            n_experts: 8,
            n_group,
            topk_group,
            top_k: 2,
            norm: false,
            scale: 1.0,
        }
    }

    #[test]
    fn greedy_softmax_picks_the_two_largest() {
        let r = routing(ScoringFunc::Softmax, TopkMethod::Greedy, 1, 1);
        let logits = [0.1, 3.0, -1.0, 0.0, 2.5, 0.3, 0.2, 0.1];
        let (mut work, mut idx, mut w) = (vec![0.0; r.work_len()], [0u32; 2], [0f32; 2]);
        route(&r, &logits, None, &mut work, &mut idx, &mut w);
        assert_eq!(idx, [1, 4]);
        let z: f32 = logits.iter().map(|l| l.exp()).sum();
        assert!((w[0] - 3f32.exp() / z).abs() < 1e-6);
        assert!((w[1] - 2.5f32.exp() / z).abs() < 1e-6);
    }

    #[test]
    fn group_limits_keep_only_the_best_groups() {
        // Groups of two: {0,1} {2,3} {4,5} {6,7}. Best singles: 1 (3.0), 4
        // (2.9), then 6 (2.8). With one group kept, only {0,1} remains.
        let logits = [2.7, 3.0, 0.0, 0.0, 2.9, 0.0, 2.8, 0.0];
        let r = routing(ScoringFunc::Softmax, TopkMethod::GroupLimitedGreedy, 4, 1);
        let (mut work, mut idx, mut w) = (vec![0.0; r.work_len()], [0u32; 2], [0f32; 2]);
        route(&r, &logits, None, &mut work, &mut idx, &mut w);
        assert_eq!(idx, [0, 1]);
        // Two groups kept: {0,1} and {4,5}; 6 (2.8) is out, 0 (2.7) in.
        let r = routing(ScoringFunc::Softmax, TopkMethod::GroupLimitedGreedy, 4, 2);
        let logits = [2.7, 3.0, 0.0, 0.0, 2.9, 0.0, 2.8, 0.0];
        route(&r, &logits, None, &mut work, &mut idx, &mut w);
        assert_eq!(idx, [1, 4]);
        let r = Routing { top_k: 3, ..r };
        let (mut idx3, mut w3) = ([0u32; 3], [0f32; 3]);
        route(&r, &logits, None, &mut work, &mut idx3, &mut w3);
        assert_eq!(idx3, [0, 1, 4]);
        // V3: groups ranked by the sum of their two best (biased) scores:
        // {4,5} has 2.9 + 0.0, {0,1} 2.7 + 3.0; the bias lifts expert 5.
        let mut r = routing(ScoringFunc::Sigmoid, TopkMethod::NoauxTc, 4, 1);
        r.norm = true;
        r.scale = 2.5;
        let bias = [0.0, 0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0];
        route(&r, &logits, Some(&bias), &mut work, &mut idx, &mut w);
        assert_eq!(idx, [4, 5]);
        // Weights are the unbiased sigmoids, normalised, then scaled.
        let sig = |x: f32| 1.0 / (1.0 + (-x).exp());
        let (a, b) = (sig(2.9), sig(0.0));
        assert!((w[0] - 2.5 * a / (a + b)).abs() < 1e-6);
        assert!((w[0] + w[1] - 2.5).abs() < 1e-6);
    }
}
