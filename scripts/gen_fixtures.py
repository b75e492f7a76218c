#!/usr/bin/env python3
"""Generate minke's golden parity fixtures with Hugging Face transformers.

Each case builds a tiny random-weight model (float32, eager attention), saves
it as a Hugging Face folder (config.json + model.safetensors) under
tests/fixtures/<case>/, and records what transformers computes for it in
tests/fixtures/<case>/expected.safetensors. Everything is seeded, so a rerun
with the pinned versions of scripts/requirements-fixtures.txt rewrites the
same numbers.

    scripts/setup-python.sh && .venv/bin/python scripts/gen_fixtures.py [CASE...]

See tests/fixtures/README.md for the layout and tensor names.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.torch import load_file
from transformers import (
    DeepseekV2Config,
    DeepseekV2ForCausalLM,
    DeepseekV3Config,
    DeepseekV3ForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    Qwen2Config,
    Qwen2ForCausalLM,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

SEQ_LEN = 24  # tokens in the recorded forward pass
PROMPT_LEN = 6  # prompt length for greedy decoding
NEW_TOKENS = 10  # greedy tokens generated
GREEDY_MARGIN = 0.02  # smallest allowed top-1 vs top-2 logit gap on greedy steps
FORWARD_MARGIN = 1e-3  # the same over every position of the recorded forward
MIN_DISTINCT = 5  # greedy output must hold at least this many distinct ids

torch.set_num_threads(2)
transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
warnings.filterwarnings("ignore", category=FutureWarning)


# --------------------------------------------------------------------------
# helpers


def log(msg: str) -> None:
    print(msg, flush=True)


def fixed_tokens(seed: int, n: int, vocab: int, low: int = 3) -> torch.Tensor:
    """A fixed token sequence; ids below `low` (bos/eos/pad) are avoided."""
    rng = np.random.RandomState(seed)
    return torch.tensor(rng.randint(low, vocab, size=n), dtype=torch.int64)


@torch.no_grad()
def reinit(model: torch.nn.Module, seed: int, gains: dict[str, float] | None = None) -> None:
    """Overwrite every parameter with seeded values of a useful size.

    Matrices get N(0, gain^2 / fan_in) so activations stay of order 1; norm
    weights get 1 + N(0, 0.1^2) so a runtime that ignores them fails; biases
    get N(0, 0.2^2) so they matter. `gains` maps a name substring to a gain.
    """
    gains = gains or {}
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        gain = 1.0
        for key, val in gains.items():
            if key in name:
                gain = val
        if p.dim() == 1 and "norm" in name:
            p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
        elif p.dim() == 1:
            p.copy_(0.2 * gain * torch.randn(p.shape, generator=g))
        elif "embed_tokens" in name:
            p.copy_(0.5 * gain * torch.randn(p.shape, generator=g))
        else:
            fan_in = p.shape[-1]
            p.copy_(gain / math.sqrt(fan_in) * torch.randn(p.shape, generator=g))


def disable_eos(model) -> None:
    gc = model.generation_config
    gc.eos_token_id = None
    gc.bos_token_id = None
    gc.pad_token_id = 0
    gc.do_sample = False


@torch.no_grad()
def greedy_reference(model, prompt: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Greedy continuation by full forward passes (no cache), with its margin."""
    ids = prompt.clone()
    margin = float("inf")
    for _ in range(NEW_TOKENS):
        logits = model(ids[None], use_cache=False).logits[0, -1]
        top2 = torch.topk(logits, 2).values
        margin = min(margin, float(top2[0] - top2[1]))
        ids = torch.cat([ids, logits.argmax().view(1)])
    return ids[len(prompt) :], margin


@torch.no_grad()
def greedy_generate(model, prompt: torch.Tensor) -> torch.Tensor:
    out = model.generate(
        input_ids=prompt[None],
        attention_mask=torch.ones(1, len(prompt), dtype=torch.int64),
        do_sample=False,
        max_new_tokens=NEW_TOKENS,
        min_new_tokens=NEW_TOKENS,
        eos_token_id=None,
        pad_token_id=0,
    )
    return out[0, len(prompt) :]


def forward_margin(logits: torch.Tensor) -> float:
    top2 = torch.topk(logits, 2, dim=-1).values
    return float((top2[:, 0] - top2[:, 1]).min())


def stats(name: str, logits: torch.Tensor) -> None:
    assert torch.isfinite(logits).all(), f"{name}: non-finite logits"
    std = float(logits.std())
    log(f"  {name}: logits std {std:.3f}, |max| {float(logits.abs().max()):.3f}")
    assert 0.3 < std < 8.0, f"{name}: logits std {std} out of range"


def check_greedy(name: str, greedy: torch.Tensor) -> None:
    distinct = len(set(greedy.tolist()))
    log(f"  {name}: greedy {greedy.tolist()} ({distinct} distinct)")
    assert distinct >= MIN_DISTINCT, f"{name}: greedy output hardly varies"


ST_DTYPES = {torch.float32: ("F32", np.float32), torch.int64: ("I64", np.int64)}


def write_expected(case_dir: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    """Write expected.safetensors byte-for-byte reproducibly.

    The safetensors library writes `__metadata__` in hash order, which
    changes from run to run; this writer sorts everything instead. The file
    is a plain safetensors file (little-endian, tensors back to back in name
    order, header padded with spaces to 8 bytes).
    """
    meta = dict(meta)
    meta["transformers"] = transformers.__version__
    meta["torch"] = torch.__version__.split("+")[0]
    header: dict = {"__metadata__": dict(sorted(meta.items()))}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        tag, np_dtype = ST_DTYPES[t.dtype]
        raw = t.numpy().astype(np_dtype, copy=False).astype(np.dtype(np_dtype).newbyteorder("<")).tobytes()
        header[name] = {"dtype": tag, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path = case_dir / "expected.safetensors"
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))
    # Read it back with the reference library.
    loaded = load_file(str(path))
    for name, t in tensors.items():
        assert torch.equal(loaded[name], t.detach().cpu()), f"{path}: {name} did not round-trip"


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def save_model(model, out: Path) -> None:
    model.save_pretrained(str(out), safe_serialization=True)
    # generation_config.json only repeats bos/eos; keep the folder minimal.
    gen = out / "generation_config.json"
    if gen.exists():
        gen.unlink()


def alt_spelling(config: dict) -> dict:
    """The same config in the legacy RoPE spelling (rope_theta + rope_scaling).

    transformers 5 writes `rope_parameters`; checkpoints made before it (most
    published ones) carry a top-level `rope_theta` and, when scaled, a
    `rope_scaling` dict. Llama-3-style checkpoints key the kind as
    `rope_type`; DeepSeek's own configs use `type`.
    """
    cfg = {k: v for k, v in config.items() if k != "rope_parameters"}
    rp = dict(config["rope_parameters"])
    cfg["rope_theta"] = rp.pop("rope_theta")
    kind = rp.pop("rope_type")
    if kind != "default":
        if config["model_type"].startswith("deepseek"):
            rp["type"] = kind
        else:
            rp["rope_type"] = kind
        cfg["rope_scaling"] = rp
    else:
        cfg["rope_scaling"] = None
    return dict(sorted(cfg.items()))


@torch.no_grad()
def check_alt_spelling(cls, case_dir: Path, alt: dict, ids: torch.Tensor, want: torch.Tensor) -> None:
    """Load the weights with the alternate config and demand identical logits."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(case_dir / "model.safetensors", Path(tmp) / "model.safetensors")
        (Path(tmp) / "config.json").write_text(json.dumps(alt, indent=2))
        m = cls.from_pretrained(tmp, attn_implementation="eager", dtype=torch.float32).eval()
        got = m(ids[None], use_cache=False).logits[0]
    diff = float((got - want).abs().max())
    assert diff == 0.0, f"{case_dir.name}: alternate-spelling config changes logits by {diff}"


@torch.no_grad()
def reload_check(cls, case_dir: Path, ids: torch.Tensor, want: torch.Tensor) -> None:
    m = cls.from_pretrained(str(case_dir), attn_implementation="eager", dtype=torch.float32).eval()
    got = m(ids[None], use_cache=False).logits[0]
    diff = float((got - want).abs().max())
    assert diff == 0.0, f"{case_dir.name}: saved model reloads with different logits ({diff})"


@torch.no_grad()
def logits_with_config(cls, model, ids: torch.Tensor, **overrides) -> torch.Tensor:
    """Logits of `model`'s weights under a config with some fields replaced."""
    cfg = copy.deepcopy(model.config)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    other = cls(cfg).eval()
    other.load_state_dict(model.state_dict())
    return other(ids[None], use_cache=False).logits[0]


# --------------------------------------------------------------------------
# causal LM cases


class Router:
    """Captures each MoE router's inputs and top-k choice during a forward."""

    def __init__(self, model):
        self.records: dict[int, dict] = {}
        self.handles = []
        for name, mod in model.named_modules():
            if type(mod).__name__.endswith("TopkRouter"):
                layer = int(name.split("layers.")[1].split(".")[0])
                self.handles.append(mod.register_forward_hook(self._hook(layer, mod)))

    def _hook(self, layer, mod):
        def hook(_m, args, out):
            _logits, weights, idx = out
            order = torch.argsort(idx, dim=-1)
            self.records[layer] = {
                "module": mod,
                "input": args[0].detach().reshape(-1, args[0].shape[-1]).clone(),
                "idx": torch.gather(idx, -1, order),
                "weights": torch.gather(weights, -1, order),
            }

        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def build_causal(case: str, cls, config, seed: int, gains=None, extra=None):
    """Build, seed and validate a causal LM; bump the seed until greedy is unambiguous."""
    for attempt in range(20):
        s = seed + 1000 * attempt
        torch.manual_seed(s)
        model = cls(config).eval()
        reinit(model, s, gains)
        if extra is not None:
            extra(model, s)
        disable_eos(model)
        ids = fixed_tokens(seed, SEQ_LEN, config.vocab_size)
        with torch.no_grad():
            logits = model(ids[None], use_cache=False).logits[0]
        ref, margin = greedy_reference(model, ids[:PROMPT_LEN])
        fmargin = forward_margin(logits)
        distinct = len(set(ref.tolist()))
        if margin >= GREEDY_MARGIN and fmargin >= FORWARD_MARGIN and distinct >= MIN_DISTINCT:
            return model, ids, logits, ref, margin, fmargin
        log(
            f"  {case}: seed {s} rejected (greedy margin {margin:.2e}, forward margin {fmargin:.2e}, "
            f"{distinct} distinct greedy ids); retrying"
        )
    raise RuntimeError(f"{case}: no seed gave an unambiguous, varied greedy run")


def causal_case(case: str, cls, config, seed: int, gains=None, extra=None, checks=None):
    log(f"{case}:")
    case_dir = fresh_dir(FIXTURES / case)
    model, ids, logits, ref, margin, fmargin = build_causal(case, cls, config, seed, gains, extra)
    greedy = greedy_generate(model, ids[:PROMPT_LEN])
    assert torch.equal(greedy, ref), f"{case}: cached generate {greedy} != no-cache greedy {ref}"
    stats(case, logits)
    check_greedy(case, greedy)
    log(f"  {case}: min top-1 margin greedy {margin:.3g}, forward {fmargin:.3g}")

    # Per-layer outputs, to localise a mismatch in the Rust port.
    layer_out = []
    hooks = [
        layer.register_forward_hook(lambda _m, _a, out: layer_out.append(out[0] if isinstance(out, tuple) else out))
        for layer in model.model.layers
    ]
    router = Router(model)
    with torch.no_grad():
        again = model(ids[None], use_cache=False).logits[0]
    for h in hooks:
        h.remove()
    router.remove()
    assert torch.equal(again, logits)

    tensors = {
        "tokens": ids,
        "logits": logits,
        "greedy": greedy,
        "greedy_prompt_len": torch.tensor([PROMPT_LEN], dtype=torch.int64),
        "embeddings": model.model.embed_tokens(ids),
        "layer_outputs": torch.stack([o.reshape(SEQ_LEN, -1) for o in layer_out]),
    }
    for layer, rec in sorted(router.records.items()):
        tensors[f"moe_topk_idx_layer{layer}"] = rec["idx"].to(torch.int64)
        tensors[f"moe_topk_weight_layer{layer}"] = rec["weights"].float()
        sets = {tuple(r) for r in rec["idx"].tolist()}
        used = sorted({e for r in rec["idx"].tolist() for e in r})
        log(f"  {case}: layer {layer} routes: {len(sets)} distinct expert sets over {SEQ_LEN} tokens, experts used {used}")
        assert len(sets) > 3, f"{case}: routing hardly varies across tokens"

    save_model(model, case_dir)
    reload_check(cls, case_dir, ids, logits)
    config_json = json.loads((case_dir / "config.json").read_text())
    alt = alt_spelling(config_json)
    if checks is not None:
        alt = checks(model, ids, logits, router, alt) or alt
    check_alt_spelling(cls, case_dir, alt, ids, logits)
    (case_dir / "config_alt_spelling.json").write_text(json.dumps(alt, indent=2) + "\n")
    write_expected(case_dir, tensors, {"case": case, "architecture": cls.__name__})


def llama_config(**kw) -> LlamaConfig:
    base = dict(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        rms_norm_eps=1e-5,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=None,
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        attn_implementation="eager",
    )
    base.update(kw)
    return LlamaConfig(**base)


def differs(case: str, what: str, a: torch.Tensor, b: torch.Tensor, floor: float = 0.05) -> None:
    d = float((a - b).abs().max())
    log(f"  {case}: {what} changes logits by up to {d:.3f}")
    assert d > floor, f"{case}: {what} does not matter enough ({d})"


def case_llama_mha_tied():
    cfg = llama_config(num_key_value_heads=4, tie_word_embeddings=True, num_hidden_layers=3)
    # Tied: the embedding is also the output head, so keep it smaller.
    causal_case("llama_mha_tied", LlamaForCausalLM, cfg, seed=11, gains={"embed_tokens": 0.4})


def case_llama_gqa():
    cfg = llama_config(num_attention_heads=4, num_key_value_heads=2, head_dim=32, vocab_size=320)
    causal_case("llama_gqa", LlamaForCausalLM, cfg, seed=12, gains={"lm_head": 1.5})


def case_llama3_rope():
    rope = {
        "rope_type": "llama3",
        "rope_theta": 10000.0,
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
    }
    cfg = llama_config(num_key_value_heads=2, rope_parameters=rope, head_dim=32, max_position_embeddings=512)

    def checks(model, ids, logits, _router, _alt):
        plain = logits_with_config(
            LlamaForCausalLM, model, ids, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}
        )
        differs("llama3_rope", "llama3 scaling vs plain RoPE", logits, plain)

    causal_case("llama3_rope", LlamaForCausalLM, cfg, seed=13, gains={"lm_head": 1.5}, checks=checks)


def case_llama_linear_rope():
    rope = {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0}
    cfg = llama_config(num_key_value_heads=2, rope_parameters=rope, head_dim=16)

    def checks(model, ids, logits, _router, _alt):
        plain = logits_with_config(
            LlamaForCausalLM, model, ids, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}
        )
        differs("llama_linear_rope", "linear scaling vs plain RoPE", logits, plain)

    causal_case("llama_linear_rope", LlamaForCausalLM, cfg, seed=14, gains={"lm_head": 1.5}, checks=checks)


def case_qwen2():
    cfg = Qwen2Config(
        vocab_size=288,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
        use_sliding_window=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        attn_implementation="eager",
    )

    def checks(model, ids, logits, _router, _alt):
        other = copy.deepcopy(model)
        with torch.no_grad():
            for layer in other.model.layers:
                for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                    assert proj.bias is not None
                    proj.bias.zero_()
            nobias = other(ids[None], use_cache=False).logits[0]
        differs("qwen2", "q/k/v bias", logits, nobias)

    causal_case("qwen2", Qwen2ForCausalLM, cfg, seed=15, gains={"lm_head": 1.5, "_proj.bias": 2.0}, checks=checks)


# --------------------------------------------------------------------------
# DeepSeek cases


def deepseek_common(**kw) -> dict:
    base = dict(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=4,
        q_lora_rank=None,
        kv_lora_rank=32,
        # Three different head sizes, so that mixing them up shows.
        qk_nope_head_dim=16,
        qk_rope_head_dim=8,
        v_head_dim=12,
        first_k_dense_replace=1,
        n_routed_experts=8,
        num_experts_per_tok=2,
        moe_intermediate_size=16,
        max_position_embeddings=1024,
        rms_norm_eps=1e-6,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
        attn_implementation="eager",
    )
    base.update(kw)
    return base


def yarn(mscale: float, mscale_all_dim: float) -> dict:
    return {
        "rope_type": "yarn",
        "rope_theta": 10000.0,
        "factor": 4.0,
        "original_max_position_embeddings": 256,
        "beta_fast": 32.0,
        "beta_slow": 1.0,
        "mscale": mscale,
        "mscale_all_dim": mscale_all_dim,
    }


def deepseek_checks(case: str, cls, bias_check: bool = False):
    def checks(model, ids, logits, router, alt):
        attn = model.model.layers[0].self_attn
        plain_scale = attn.qk_head_dim**-0.5
        log(f"  {case}: softmax scale {attn.scaling:.6f} = qk_head_dim^-0.5 x {attn.scaling / plain_scale:.6f}")
        rot = model.model.rotary_emb
        log(f"  {case}: yarn cos/sin factor {rot.attention_scaling:.6f}, inv_freq {[round(float(x), 6) for x in rot.inv_freq]}")
        assert abs(attn.scaling / plain_scale - 1.0) > 1e-3, f"{case}: yarn mscale does not change the softmax scale"
        # Softmax scale back to qk_head_dim^-0.5: must change the logits.
        other = copy.deepcopy(model)
        for layer in other.model.layers:
            layer.self_attn.scaling = plain_scale
        with torch.no_grad():
            unscaled = other(ids[None], use_cache=False).logits[0]
        differs(case, "yarn mscale_all_dim softmax scale", logits, unscaled, floor=0.01)
        plain = logits_with_config(cls, model, ids, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
        differs(case, "yarn vs plain RoPE", logits, plain)

        if bias_check:
            for layer, rec in sorted(router.records.items()):
                mod = rec["module"]
                saved = mod.e_score_correction_bias.clone()
                with torch.no_grad():
                    mod.e_score_correction_bias.zero_()
                    _l, _w, idx0 = mod(rec["input"])
                    mod.e_score_correction_bias.copy_(saved)
                idx0 = torch.sort(idx0, dim=-1).values
                changed = int((idx0 != rec["idx"]).any(-1).sum())
                log(f"  {case}: layer {layer}: e_score_correction_bias changes the experts of {changed}/{SEQ_LEN} tokens")
                assert changed >= 3, f"{case}: correction bias hardly changes routing"

        # The alternate spelling follows the published DeepSeek configs:
        # legacy rope keys, no derived head_dim/qk_head_dim, and the
        # gating fields those configs carry (transformers ignores them).
        alt = {k: v for k, v in alt.items() if k not in ("head_dim", "qk_head_dim")}
        if cls is DeepseekV3ForCausalLM:
            alt.update(scoring_func="sigmoid", topk_method="noaux_tc", moe_layer_freq=1)
        else:
            alt.update(scoring_func="softmax", moe_layer_freq=1)
        return dict(sorted(alt.items()))

    return checks


def deepseek_extra(model, seed: int) -> None:
    """Router weights a bit sharper than other matrices so routing varies."""
    g = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        for layer in model.model.layers:
            gate = getattr(layer.mlp, "gate", None)
            if gate is not None:
                gate.weight.copy_(2.0 / math.sqrt(gate.weight.shape[1]) * torch.randn(gate.weight.shape, generator=g))
                bias = getattr(gate, "e_score_correction_bias", None)
                if bias is not None:
                    bias.copy_(0.15 * torch.randn(bias.shape, generator=g))


def case_deepseek_v2():
    cfg = DeepseekV2Config(
        **deepseek_common(
            n_shared_experts=2,
            topk_method="group_limited_greedy",
            n_group=4,
            topk_group=2,
            routed_scaling_factor=2.0,
            norm_topk_prob=False,
            rope_parameters=yarn(mscale=1.0, mscale_all_dim=0.707),
        )
    )
    causal_case(
        "deepseek_v2",
        DeepseekV2ForCausalLM,
        cfg,
        seed=21,
        gains={"lm_head": 1.5},
        extra=deepseek_extra,
        checks=deepseek_checks("deepseek_v2", DeepseekV2ForCausalLM),
    )


def case_deepseek_v2_qlora():
    cfg = DeepseekV2Config(
        **deepseek_common(
            q_lora_rank=24,
            n_shared_experts=1,
            topk_method="greedy",
            n_group=1,
            topk_group=1,
            routed_scaling_factor=1.0,
            norm_topk_prob=False,
            rope_parameters=yarn(mscale=0.707, mscale_all_dim=0.707),
        )
    )
    causal_case(
        "deepseek_v2_qlora",
        DeepseekV2ForCausalLM,
        cfg,
        seed=22,
        gains={"lm_head": 1.5},
        extra=deepseek_extra,
        checks=deepseek_checks("deepseek_v2_qlora", DeepseekV2ForCausalLM),
    )


def case_deepseek_v3():
    cfg = DeepseekV3Config(
        **deepseek_common(
            q_lora_rank=24,
            n_shared_experts=1,
            n_group=4,
            topk_group=2,
            norm_topk_prob=True,
            routed_scaling_factor=2.5,
            rope_interleave=True,
            num_nextn_predict_layers=0,
            rope_parameters=yarn(mscale=1.0, mscale_all_dim=1.0),
        )
    )
    causal_case(
        "deepseek_v3",
        DeepseekV3ForCausalLM,
        cfg,
        seed=23,
        gains={"lm_head": 1.5},
        extra=deepseek_extra,
        checks=deepseek_checks("deepseek_v3", DeepseekV3ForCausalLM, bias_check=True),
    )


# --------------------------------------------------------------------------
# LoRA adapters


LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@torch.no_grad()
def make_adapter(base, seed: int, r: int, alpha: float, rslora: bool):
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(
        r=r,
        lora_alpha=alpha,
        use_rslora=rslora,
        target_modules=LORA_TARGETS,
        lora_dropout=0.0,
        bias="none",
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(copy.deepcopy(base), cfg).eval()
    g = torch.Generator().manual_seed(seed)
    scale = alpha / math.sqrt(r) if rslora else alpha / r
    for name, p in sorted(peft_model.named_parameters(), key=lambda kv: kv[0]):
        if "lora_A" in name:
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
        elif "lora_B" in name:
            # Sized so that scale * B @ A is a perturbation of ~0.3 of W.
            p.copy_(0.3 / scale * torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
    return peft_model


@torch.no_grad()
def case_llama_lora():
    from peft import PeftModel

    case = "llama_lora"
    log(f"{case}:")
    case_dir = fresh_dir(FIXTURES / case)
    cfg = llama_config(num_key_value_heads=2, head_dim=16, vocab_size=256)
    base, ids, base_logits, _ref, _m, _fm = build_causal(case, LlamaForCausalLM, cfg, seed=31, gains={"lm_head": 1.5})
    stats(f"{case} base", base_logits)
    save_model(base, case_dir / "base")
    (case_dir / "base" / "config_alt_spelling.json").write_text(
        json.dumps(alt_spelling(json.loads((case_dir / "base" / "config.json").read_text())), indent=2) + "\n"
    )

    tensors = {
        "tokens": ids,
        "logits_base": base_logits,
        "greedy_prompt_len": torch.tensor([PROMPT_LEN], dtype=torch.int64),
    }
    variants = [("adapter", 41, 4, 8, False, ""), ("adapter_rslora", 42, 8, 4, True, "_rslora")]
    for sub, seed, r, alpha, rslora, suffix in variants:
        for attempt in range(20):
            pm = make_adapter(base, seed + 1000 * attempt, r, alpha, rslora)
            logits = pm(input_ids=ids[None], use_cache=False).logits[0]
            ref, margin = greedy_reference(pm, ids[:PROMPT_LEN])
            fm = forward_margin(logits)
            if margin >= GREEDY_MARGIN and fm >= FORWARD_MARGIN and len(set(ref.tolist())) >= MIN_DISTINCT:
                break
            log(f"  {case} {sub}: adapter seed {seed + 1000 * attempt} rejected (margins {margin:.2e}, {fm:.2e})")
        else:
            raise RuntimeError(f"{case} {sub}: no adapter seed gave an unambiguous greedy run")
        stats(f"{case} {sub}", logits)
        differs(case, f"{sub} (r={r}, alpha={alpha}, rslora={rslora})", logits, base_logits, floor=0.1)
        greedy = greedy_generate(pm, ids[:PROMPT_LEN])
        assert torch.equal(greedy, ref), f"{case} {sub}: cached generate differs from no-cache greedy"
        check_greedy(f"{case} {sub}", greedy)
        pm.save_pretrained(str(case_dir / sub), safe_serialization=True)
        readme = case_dir / sub / "README.md"
        if readme.exists():
            readme.unlink()
        # PEFT writes target_modules from a set: sort it so reruns are byte-identical.
        acfg_path = case_dir / sub / "adapter_config.json"
        acfg = json.loads(acfg_path.read_text())
        acfg["target_modules"] = sorted(acfg["target_modules"])
        acfg_path.write_text(json.dumps(acfg, indent=2, sort_keys=True) + "\n")
        # Reload base + adapter from disk: must reproduce the logits exactly.
        fresh = LlamaForCausalLM.from_pretrained(str(case_dir / "base"), attn_implementation="eager").eval()
        loaded = PeftModel.from_pretrained(fresh, str(case_dir / sub)).eval()
        got = loaded(input_ids=ids[None], use_cache=False).logits[0]
        assert float((got - logits).abs().max()) == 0.0, f"{case} {sub}: reloaded adapter differs"
        tensors[f"logits{suffix}"] = logits
        tensors[f"greedy{suffix}"] = greedy
    write_expected(case_dir, tensors, {"case": case, "architecture": "LlamaForCausalLM+LoRA"})


# --------------------------------------------------------------------------
# reward model


@torch.no_grad()
def case_llama_reward():
    case = "llama_reward"
    log(f"{case}:")
    case_dir = fresh_dir(FIXTURES / case)
    pad = 0
    cfg = llama_config(num_key_value_heads=2, head_dim=16, num_labels=1, pad_token_id=pad)
    torch.manual_seed(51)
    model = LlamaForSequenceClassification(cfg).eval()
    reinit(model, 51, {"score": 1.0})

    lengths = [SEQ_LEN, 15, 9]
    rows, masks = [], []
    for i, n in enumerate(lengths):
        toks = fixed_tokens(60 + i, n, cfg.vocab_size, low=1)  # never the pad id
        rows.append(torch.cat([toks, torch.full((SEQ_LEN - n,), pad, dtype=torch.int64)]))
        masks.append(torch.cat([torch.ones(n, dtype=torch.int64), torch.zeros(SEQ_LEN - n, dtype=torch.int64)]))
    tokens = torch.stack(rows)
    mask = torch.stack(masks)

    rewards = model(input_ids=tokens, attention_mask=mask).logits[:, 0]
    token_scores = torch.zeros(len(lengths), SEQ_LEN)
    for i, n in enumerate(lengths):
        alone = model(input_ids=tokens[i : i + 1, :n]).logits[0, 0]
        assert abs(float(alone - rewards[i])) < 1e-5, f"{case}: padded reward differs from unpadded"
        hidden = model.model(input_ids=tokens[i : i + 1, :n]).last_hidden_state[0]
        token_scores[i, :n] = model.score(hidden)[:, 0]
        assert abs(float(token_scores[i, n - 1] - alone)) < 1e-5
    # Without the mask the padded rows read the same position (last non-pad id).
    nomask = model(input_ids=tokens).logits[:, 0]
    assert torch.allclose(nomask, rewards, atol=1e-5)
    log(f"  {case}: rewards {[round(float(x), 5) for x in rewards]}")
    log(f"  {case}: per-token score std {float(token_scores[0].std()):.3f}")
    assert len({round(float(x), 3) for x in rewards}) == len(lengths)

    save_model(model, case_dir)
    config_json = json.loads((case_dir / "config.json").read_text())
    (case_dir / "config_alt_spelling.json").write_text(json.dumps(alt_spelling(config_json), indent=2) + "\n")
    re = LlamaForSequenceClassification.from_pretrained(str(case_dir), attn_implementation="eager").eval()
    assert torch.equal(re(input_ids=tokens, attention_mask=mask).logits[:, 0], rewards)
    write_expected(
        case_dir,
        {
            "tokens": tokens,
            "attention_mask": mask,
            "lengths": torch.tensor(lengths, dtype=torch.int64),
            "rewards": rewards,
            "token_scores": token_scores,
        },
        {"case": case, "architecture": "LlamaForSequenceClassification", "pad_token_id": str(pad)},
    )


# --------------------------------------------------------------------------

CASES = {
    "llama_mha_tied": case_llama_mha_tied,
    "llama_gqa": case_llama_gqa,
    "llama3_rope": case_llama3_rope,
    "llama_linear_rope": case_llama_linear_rope,
    "qwen2": case_qwen2,
    "deepseek_v2": case_deepseek_v2,
    "deepseek_v2_qlora": case_deepseek_v2_qlora,
    "deepseek_v3": case_deepseek_v3,
    "llama_lora": case_llama_lora,
    "llama_reward": case_llama_reward,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*", help=f"cases to generate (default: all): {', '.join(CASES)}")
    args = ap.parse_args()
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s): {', '.join(unknown)}")
    log(f"transformers {transformers.__version__}, torch {torch.__version__}")
    for name in args.cases or CASES:
        CASES[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
