#!/usr/bin/env python3
"""Runs minke, llama.cpp and candle side by side on the same GGUF files and
prints a markdown table (called by run.sh, which builds everything first).

minke runs twice: on the GGUF file itself, and on the `.minke` file that
`minke quantize` makes of it (`--type auto`: the GGUF's own numbers, its
matrices regrouped into 16-row interleaved groups). The ratio cells give
both, "GGUF / .minke".

Every figure is the median over REPS rounds; within a round the three
programs run one after the other in an order that rotates from round to
round, so that a machine whose load drifts affects all three alike. Each
measurement is a fresh process:

  pp N      prompt processing, N tokens in one batch, tok/s (in-process timer)
  tg        generation: 128 tokens after a 32-token prompt, tok/s
  ttft      wall time from spawning the process to its exit after loading,
            a 32-token prompt and one generated token (page cache warm)
  rss       peak resident memory of the tg process (getrusage, same context)

Memory-read bandwidth is measured in the same run (bandwidth.c, with the
same thread count); "tg limit" is that bandwidth divided by the bytes of
weights one token reads, and "tg/limit" how close minke gets to it.

Standard library only.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def log(msg):
    print(f"compare: {msg}", file=sys.stderr, flush=True)


def run_proc(cmd, env_extra):
    """Runs `cmd`, returns (stdout, wall seconds, peak RSS MiB)."""
    env = dict(os.environ)
    env.update(env_extra)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {code}: {err.decode(errors='replace')[-2000:]}")
    return out.decode(), wall, ru.ru_maxrss / 1024.0


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON in output: {text[-500:]}")


class Tool:
    """How to run one program: `cmd(model, pp, tg, reps, threads)`; `file`
    picks which of a model's files ("gguf", "minke") it reads."""

    def __init__(self, name, cmd, env, file="gguf"):
        self.name, self.cmd, self.env, self.file = name, cmd, env, file

    def run(self, model, pp, tg, reps, threads):
        model = model[self.file]
        out, wall, rss = run_proc(self.cmd(model, pp, tg, reps, threads), self.env(threads))
        j = last_json(out)
        return j, wall, rss


def tools(a):
    minke_cmd = lambda m, pp, tg, r, t: [a.minke, "bench", "-m", m, "-p", str(pp), "-n", str(tg),
                                         "-r", str(r), "-t", str(t), "-b", str(max(pp, 1)), "--json"]
    minke = Tool("minke", minke_cmd, lambda t: {})
    minke_x16 = Tool("minke .minke", minke_cmd, lambda t: {}, file="minke")
    llama = Tool(
        "llama.cpp",
        lambda m, pp, tg, r, t: [a.llama, m, str(pp), str(tg), str(r), str(t)],
        lambda t: {},
    )
    candle = Tool(
        "candle",
        lambda m, pp, tg, r, t: [a.candle, m, str(pp), str(tg), str(r)],
        lambda t: {"RAYON_NUM_THREADS": str(t)},
    )
    return [minke, minke_x16, llama, candle]


def bandwidth(a, threads):
    out, _, _ = run_proc([a.bandwidth, str(threads), "5"], {})
    return last_json(out)["best_gb_s"]


def weight_bytes_per_token(a, model):
    """Bytes of weights one token reads, from `minke info` ("N MiB read per token")."""
    out, _, _ = run_proc([a.minke, "info", model], {})
    for line in out.splitlines():
        if "read per token" in line:
            mib = float(line.split(",")[-1].split("MiB")[0].strip())
            return mib * 1024 * 1024
    return None


def measure(a, model, threads, progs):
    """{tool: {figure: [values...]}} for one model ({"gguf": path,
    "minke": path}) and thread count."""
    res = {t.name: {k: [] for k in ("pp128", "pp512", "tg", "ttft", "rss")} for t in progs}
    bws = []
    for r in range(a.reps):
        order = progs[r % len(progs):] + progs[: r % len(progs)]
        bws.append(bandwidth(a, threads))
        for t in order:
            d = res[t.name]
            try:
                j, _, _ = t.run(model, 128, 0, a.inner, threads)
                d["pp128"].append(j["pp_tok_s"])
                j, _, _ = t.run(model, 512, 0, a.inner, threads)
                d["pp512"].append(j["pp_tok_s"])
                j, _, rss = t.run(model, 32, 128, a.inner, threads)
                d["tg"].append(j["tg_tok_s"])
                d["rss"].append(rss)
                _, wall, _ = t.run(model, 32, 1, 1, threads)
                d["ttft"].append(wall * 1e3)
            except RuntimeError as e:
                log(f"{t.name} failed on {model}: {e}")
        log(f"{os.path.basename(model['gguf'])} t={threads} round {r + 1}/{a.reps} done")
    med = {
        name: {k: (statistics.median(v) if v else None) for k, v in d.items()}
        for name, d in res.items()
    }
    return med, statistics.median(bws)


def fmt(v, digits=1):
    return "—" if v is None else f"{v:.{digits}f}"


def ratio(a, b, higher_is_better=True):
    if a is None or b is None or b == 0 or a == 0:
        return "—"
    return f"{a / b:.2f}×"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--minke", required=True)
    p.add_argument("--llama", required=True)
    p.add_argument("--candle", required=True)
    p.add_argument("--bandwidth", required=True)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--reps", type=int, default=3, help="alternating rounds")
    p.add_argument("--inner", type=int, default=2, help="in-process repetitions")
    p.add_argument("--skip", default="", help="comma-separated tools not to run")
    p.add_argument("models", nargs="+", help="LABEL=GGUF,MINKE (the .minke conversion)")
    a = p.parse_args()
    progs = [t for t in tools(a) if t.name not in a.skip.split(",")]
    rows = []
    for spec in a.models:
        label, paths = spec.split("=", 1)
        gguf, converted = paths.split(",", 1)
        model = {"gguf": gguf, "minke": converted}
        bpt = weight_bytes_per_token(a, gguf)
        for th in [int(x) for x in a.threads.split(",")]:
            med, bw = measure(a, model, th, progs)
            rows.append((label, th, med, bw, bpt))

    names = [t.name for t in progs]
    print()
    print("| model | t | figure | " + " | ".join(names) + " | minke/llama.cpp | minke/candle |")
    print("|---|---|---|" + "---|" * len(names) + "---|---|")
    figures = [
        ("pp128", "pp 128 tok/s", True),
        ("pp512", "pp 512 tok/s", True),
        ("tg", "tg 128 tok/s", True),
        ("ttft", "ttft ms", False),
        ("rss", "peak RSS MiB", False),
    ]
    for label, th, med, bw, bpt in rows:
        for key, title, _ in figures:
            vals = [med.get(n, {}).get(key) for n in names]
            mk = med.get("minke", {}).get(key)
            mx = med.get("minke .minke", {}).get(key)
            ll = med.get("llama.cpp", {}).get(key)
            ca = med.get("candle", {}).get(key)
            print(
                f"| {label} | {th} | {title} | "
                + " | ".join(fmt(v) for v in vals)
                + f" | {ratio(mk, ll)} / {ratio(mx, ll)} | {ratio(mk, ca)} / {ratio(mx, ca)} |"
            )
        if bpt:
            limit = bw * 1e9 / bpt
            share = lambda v: f"{100 * v / limit:.0f}%" if v else "—"
            mk = med.get("minke", {}).get("tg")
            mx = med.get("minke .minke", {}).get("tg")
            print(
                f"| {label} | {th} | read {bw:.1f} GB/s, {bpt / 2**20:.0f} MiB/token: "
                f"tg limit {limit:.1f} tok/s, minke at {share(mk)} (GGUF) / {share(mx)} (.minke) |"
                + " |" * (len(names) + 2)
            )
    print()
    print("Ratios are minke's figure over the peer's, as GGUF / .minke (ttft and RSS: lower is")
    print("better, so < 1 is a win). The .minke file is `minke quantize` of the same GGUF: the")
    print("same numbers, its matrices in 16-row interleaved groups.")


if __name__ == "__main__":
    main()
