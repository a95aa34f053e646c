"""Peer cross-check: regenerate data/peers/aiconfigurator_*.csv from NVIDIA aiconfigurator.

aiconfigurator (PyPI ``aiconfigurator``, Apache-2.0) predicts LLM serving performance from a
database of per-kernel timings measured on real GPUs with the engines' own kernels (SGLang,
vLLM, TensorRT-LLM). This script asks it two kinds of questions and writes its answers as CSV,
unchanged apart from ms -> s:

1. ``--estimates``: fixed configurations, one phase at a time, through its programmatic
   equivalent of ``aiconfigurator cli estimate``:
   ``aiconfigurator.cli.api.cli_estimate(..., mode="static_ctx" | "static_gen")``.
   * prefill row = ``static_ctx`` with ``isl=ISL, batch_size=B``: the context (prefill) forward
     pass of B x ISL tokens; ``measured_s`` = its TTFT (no queueing, no encoder).
   * decode row = ``static_gen`` with ``isl=C, osl=2, batch_size=B``: exactly ONE generation
     step (its stride loop runs once, at sequence length s = C + 1: C tokens already in the KV
     cache plus the new one); ``measured_s`` = its TPOT = that one step (nothing averaged).
   -> ``aiconfigurator_estimates.csv`` (+ ``aiconfigurator_estimates_ops.csv``: the per-op
   breakdown of every row, + ``aiconfigurator_skipped.csv``: points it refused or found OOM).
2. ``--search``: the SLA-driven serving search of moekit issue 9, by the real CLI
   (``aiconfigurator cli default``; agg vs disagg), parsed from its ``--save-dir`` CSVs
   -> ``aiconfigurator_search.csv`` (top-5 per mode and the whole Pareto frontier).

How to run (aiconfigurator lives in its own venv, never moekit's):

    python3 -m venv /tmp/aic && /tmp/aic/bin/pip install aiconfigurator==0.12.0
    /tmp/aic/bin/python benchmarks/peers/aiconfigurator_estimates.py --estimates   # ~1-2 min
    /tmp/aic/bin/python benchmarks/peers/aiconfigurator_estimates.py --search      # ~2.5 min per backend
    # options: --out DIR (default data/peers), --models qwen3-30b-a3b,deepseek-v3,
    #          --systems h200_sxm,h100_sxm, --backends sglang,vllm,trtllm,
    #          --search-backends sglang,vllm (default sglang,vllm,trtllm), --log-dir DIR

Run it on its own (the searches are CPU-heavy and single-threaded-ish); it is not part of CI.
See data/peers/README.md for what the columns and aiconfigurator's TTFT/TPOT mean.
"""
from __future__ import annotations

import argparse
import csv
import glob
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("AICONFIGURATOR_LOG_LEVEL", "ERROR")
warnings.filterwarnings("ignore")

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "data" / "peers"

SYSTEMS = ["h200_sxm", "h100_sxm"]
BACKENDS = ["sglang", "vllm", "trtllm"]

# moekit preset name -> aiconfigurator model ids, first choice first. A later id is used for a
# whole configuration only when the first does not fit in GPU memory (aiconfigurator's own
# memory model), e.g. the FP8 checkpoint of Qwen3-235B at TP4 on H100.
# "bundled:" = aiconfigurator ships this config.json (aiconfigurator_core/model_configs) but
# does not list the model in its support matrix or its default-model list, so it is passed as
# a local directory holding that very config.json (same architecture path: MixtralForCausalLM).
MODELS = {
    "qwen3-30b-a3b": ["Qwen/Qwen3-30B-A3B"],
    "deepseek-v3": ["deepseek-ai/DeepSeek-V3"],
    "qwen3-235b-a22b": ["Qwen/Qwen3-235B-A22B", "Qwen/Qwen3-235B-A22B-FP8"],
    "mixtral-8x7b": ["bundled:mistralai/Mixtral-8x7B-v0.1"],
    "mixtral-8x22b": ["bundled:mistralai/Mixtral-8x22B-v0.1"],
    "gpt-oss-20b": ["openai/gpt-oss-20b"],
    "gpt-oss-120b": ["openai/gpt-oss-120b"],
}

# (label, tp, attention_dp, moe_tp, moe_ep). aiconfigurator requires
# tp * attention_dp == moe_tp * moe_ep (GPUs per worker, pp = 1 here).
#   TPn      attention TP n, experts tensor-parallel n (moe_tp = n)
#   TPn-EPn  attention TP n, experts expert-parallel n
#   DPn-EPn  attention data-parallel n (one rank per GPU, TP1), experts EP n
#   DPn-ETPn attention DP n, experts tensor-parallel n (aiconfigurator's best agg pick, issue 9)
def _cfg(label):
    if label.startswith("TP") and "-" not in label:
        n = int(label[2:])
        return (label, n, 1, n, 1)
    a, b = label.split("-")
    na, nb = int(a[2:]), int(b[3:] if b.startswith("ETP") else b[2:])
    tp, dp = (na, 1) if a.startswith("TP") else (1, na)
    moe_tp, moe_ep = (nb, 1) if b.startswith("ETP") else (1, nb)
    return (label, tp, dp, moe_tp, moe_ep)


CONFIGS = {
    "qwen3-30b-a3b": ["TP1", "TP2", "TP4", "TP8", "TP2-EP2", "TP4-EP4", "TP8-EP8",
                      "DP2-EP2", "DP4-EP4", "DP8-EP8", "DP2-ETP2"],
    "deepseek-v3": ["TP8", "TP8-EP8", "DP8-EP8"],
    "qwen3-235b-a22b": ["TP4", "TP8", "TP8-EP8", "DP8-EP8"],
    "mixtral-8x7b": ["TP1", "TP2", "TP4", "TP2-EP2"],
    "mixtral-8x22b": ["TP4", "TP8", "TP8-EP8"],
    # EP variants too: aic's trtllm mxfp4 MoE tables hold EP (moe_tp = 1) shapes only
    "gpt-oss-20b": ["TP1", "TP2", "TP4", "TP2-EP2", "TP4-EP4"],
    "gpt-oss-120b": ["TP1", "TP2", "TP4", "TP8", "TP2-EP2", "TP4-EP4", "TP8-EP8"],
}

PREFILL_BATCH = [1, 8, 32]
PREFILL_ISL = [1024, 4096]
DECODE_BATCH = [1, 8, 64, 256]
DECODE_CONTEXT = [1024, 4096]

EST_COLUMNS = ["source", "aic_version", "backend", "backend_version", "system", "model",
               "aic_model", "phase", "batch", "isl", "context", "tp", "pp", "attention_dp",
               "moe_tp", "moe_ep", "gpus", "gemm_quant", "kv_quant", "fmha_quant", "moe_quant",
               "measured_s", "command", "notes"]
OPS_COLUMNS = ["backend", "system", "model", "phase", "batch", "isl", "context", "tp", "pp",
               "attention_dp", "moe_tp", "moe_ep", "op", "latency_s", "data_source"]
SKIP_COLUMNS = ["backend", "backend_version", "system", "model", "aic_model", "config", "phase",
                "batch", "isl", "context", "reason"]

SEARCH_COLUMNS = [
    "source", "aic_version", "backend", "backend_version", "system", "model", "aic_model",
    "isl", "osl", "ttft_target_ms", "tpot_target_ms", "total_gpus", "table", "rank", "mode",
    "meets_sla", "replicas", "gpus_per_replica", "gpus_used",
    "prefill_workers", "prefill_tp", "prefill_pp", "prefill_attention_dp", "prefill_moe_tp",
    "prefill_moe_ep", "prefill_batch", "prefill_global_batch",
    "decode_workers", "decode_tp", "decode_pp", "decode_attention_dp", "decode_moe_tp",
    "decode_moe_ep", "decode_batch", "decode_global_batch", "agg_ctx_tokens",
    "tokens_per_s_per_gpu", "tokens_per_s_per_gpu_cluster", "tokens_per_s_per_user",
    "ttft_ms", "tpot_ms", "request_latency_ms", "concurrency_per_replica", "concurrency_total",
    "request_rate_per_replica", "gemm_quant", "kv_quant", "fmha_quant", "moe_quant",
    "search_wall_s", "command", "notes"]

AIC_BIN = Path(sys.executable).parent / "aiconfigurator"


def aic_version() -> str:
    return importlib.metadata.version("aiconfigurator")


# --------------------------------------------------------------------------- estimates
def _resolve_model(aic_id: str, tmp: Path) -> tuple[str, str, str]:
    """Return (model_path passed to aiconfigurator, aic_model column, note)."""
    if not aic_id.startswith("bundled:"):
        return aic_id, aic_id, ""
    hf_id = aic_id.split(":", 1)[1]
    import aiconfigurator_core

    src = Path(aiconfigurator_core.__file__).parent / "model_configs" / f"{hf_id.replace('/', '--')}_config.json"
    dst = tmp / hf_id.split("/")[1]
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst / "config.json")
    note = (f"not in aic support matrix; model_path = local dir with aic's bundled "
            f"aiconfigurator_core/model_configs/{src.name} as config.json")
    return str(dst), hf_id, note


def _fmt_call(kw: dict) -> str:
    head = f"cli_estimate({kw['model_path']!r}, {kw['system_name']!r}"
    rest = ", ".join(f"{k}={v!r}" for k, v in kw.items() if k not in ("model_path", "system_name"))
    return f"aiconfigurator.cli.api.{head}, {rest})"


def _source_note(lat: dict, src: dict) -> str:
    total = sum(lat.values()) or 1.0
    non = {k: v for k, v in lat.items() if v > 0 and src.get(k, "silicon") != "silicon"}
    share = sum(non.values()) / total
    tags = ",".join(f"{k.split('_', 1)[1]}:{src[k]}" for k in sorted(non))
    return f"non-silicon share {share:.1%}" + (f" ({tags})" if tags else "")


def run_estimates(out: Path, models, systems, backends) -> dict:
    from aiconfigurator.cli.api import cli_estimate
    from aiconfigurator.sdk.perf_database import get_latest_database_version

    ver = aic_version()
    rows, ops_rows, skipped = [], [], []
    t_start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="aic_models_"))
    versions = {}
    for system in systems:
        for backend in backends:
            bver = get_latest_database_version(system=system, backend=backend)
            versions[(system, backend)] = bver
            for model in models:
                for label in CONFIGS[model]:
                    _, tp, dp, moe_tp, moe_ep = _cfg(label)
                    chosen = None
                    # pick the first checkpoint that fits (smallest decode point, not OOM)
                    for aic_id in MODELS[model]:
                        path, aic_name, mnote = _resolve_model(aic_id, tmp)
                        kw = dict(model_path=path, system_name=system, mode="static_gen",
                                  backend_name=backend, backend_version=bver, isl=1024, osl=2,
                                  batch_size=1, tp_size=tp, pp_size=1, attention_dp_size=dp,
                                  moe_tp_size=moe_tp, moe_ep_size=moe_ep)
                        try:
                            r = cli_estimate(**kw)
                        except Exception as e:  # unsupported by its database/rules
                            reason = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                            chosen = ("error", aic_name, reason)
                            break
                        if r.summary is not None and r.summary.check_oom():
                            chosen = ("oom", aic_name, f"OOM at decode batch 1 ctx 1024 "
                                      f"(memory {r.raw.get('memory', 0):.1f} GB/GPU)")
                            continue
                        chosen = ("ok", aic_name, (path, mnote))
                        break
                    if chosen[0] != "ok":
                        skipped.append(dict(backend=backend, backend_version=bver, system=system,
                                            model=model, aic_model=chosen[1], config=label,
                                            phase="all", batch="", isl="", context="",
                                            reason=chosen[2]))
                        print(f"skip {system} {backend} {model} {label}: {chosen[2][:120]}", flush=True)
                        continue
                    _, aic_name, (path, mnote) = chosen
                    points = [("prefill", b, s) for s in PREFILL_ISL for b in PREFILL_BATCH] + \
                             [("decode", b, c) for c in DECODE_CONTEXT for b in DECODE_BATCH]
                    n_ok = 0
                    for phase, gbatch, seq in points:
                        base = dict(backend=backend, backend_version=bver, system=system,
                                    model=model, aic_model=aic_name, config=label, phase=phase,
                                    batch=gbatch, isl=seq, context=0 if phase == "prefill" else seq)
                        if gbatch % dp:
                            skipped.append({**base, "reason": f"global batch {gbatch} not divisible "
                                            f"by attention_dp {dp} (aic batch_size is per DP rank)"})
                            continue
                        kw = dict(model_path=path, system_name=system,
                                  mode="static_ctx" if phase == "prefill" else "static_gen",
                                  backend_name=backend, backend_version=bver, isl=seq,
                                  osl=1 if phase == "prefill" else 2, batch_size=gbatch // dp,
                                  tp_size=tp, pp_size=1, attention_dp_size=dp,
                                  moe_tp_size=moe_tp, moe_ep_size=moe_ep)
                        try:
                            r = cli_estimate(**kw)
                        except Exception as e:
                            skipped.append({**base, "reason": f"{type(e).__name__}: "
                                            f"{str(e).splitlines()[0][:300]}"})
                            continue
                        s = r.summary
                        if s.check_oom():
                            skipped.append({**base, "reason": f"OOM (aic memory model: "
                                            f"{r.raw.get('memory', 0):.1f} GB/GPU)"})
                            continue
                        if s.check_kv_cache_oom():
                            skipped.append({**base, "reason": "KV cache exceeds the engine's default "
                                            "memory-fraction budget (aic check_kv_cache_oom)"})
                            continue
                        raw = r.raw
                        assert raw["global_bs"] == gbatch and raw["tp"] == tp and raw["dp"] == dp
                        if phase == "prefill":
                            ms, lat, src = r.ttft, s.get_context_latency_dict(), s.get_context_source_dict()
                        else:
                            ms, lat, src = r.tpot, s.get_generation_latency_dict(), s.get_generation_source_dict()
                        notes = [f"config {label}", f"aic batch_size={gbatch // dp} per attention-DP rank"
                                 if dp > 1 else "", ]
                        if phase == "decode":
                            notes.append(f"osl=2: one decode step at s=isl+1={seq + 1}")
                        notes += [f"memory {raw['memory']:.1f} GB/GPU", f"comm {raw['comm']}",
                                  "moe routing power_law_1.2 (aic default)", _source_note(lat, src)]
                        if r.moe_comm_fallbacks:
                            notes.append(f"moe_comm_fallbacks={r.moe_comm_fallbacks}")
                        if mnote:
                            notes.append(mnote)
                        rows.append(dict(
                            source="aiconfigurator", aic_version=ver, backend=backend,
                            backend_version=raw["version"], system=system, model=model,
                            aic_model=aic_name, phase=phase, batch=gbatch, isl=seq,
                            context=0 if phase == "prefill" else seq, tp=tp, pp=1,
                            attention_dp=dp, moe_tp=raw["moe_tp"], moe_ep=raw["moe_ep"],
                            gpus=raw["num_total_gpus"], gemm_quant=raw["gemm"],
                            kv_quant=raw["kvcache"], fmha_quant=raw["fmha"], moe_quant=raw["moe"],
                            measured_s=f"{ms / 1000:.6g}",
                            command=_fmt_call({**kw, "model_path": aic_name if not mnote else
                                               f"<dir holding {Path(mnote.split('model_configs/')[1].split(' ')[0])} as config.json>"}),
                            notes="; ".join(n for n in notes if n)))
                        for op, v in lat.items():
                            if v > 0:
                                ops_rows.append(dict(backend=backend, system=system, model=model,
                                                     phase=phase, batch=gbatch, isl=seq,
                                                     context=0 if phase == "prefill" else seq,
                                                     tp=tp, pp=1, attention_dp=dp, moe_tp=moe_tp,
                                                     moe_ep=moe_ep, op=op,
                                                     latency_s=f"{v / 1000:.6g}",
                                                     data_source=src.get(op, "")))
                        n_ok += 1
                    print(f"{system} {backend}={bver} {model} {label}: {n_ok} rows "
                          f"({time.monotonic() - t_start:.0f} s)", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "aiconfigurator_estimates.csv", EST_COLUMNS, rows)
    _write(out / "aiconfigurator_estimates_ops.csv", OPS_COLUMNS, ops_rows)
    _write(out / "aiconfigurator_skipped.csv", SKIP_COLUMNS, skipped)
    wall = time.monotonic() - t_start
    print(f"estimates: {len(rows)} rows, {len(ops_rows)} op rows, {len(skipped)} skipped, "
          f"{wall:.0f} s wall", flush=True)
    return {"rows": len(rows), "wall_s": wall, "versions": versions}


# --------------------------------------------------------------------------- search
SEARCH = dict(model="qwen3-30b-a3b", aic_model="Qwen/Qwen3-30B-A3B", system="h200_sxm",
              total_gpus=8, isl=4096, osl=512, ttft=2000, tpot=50)


def _num(x):
    try:
        f = float(x)
    except (TypeError, ValueError):
        return x
    return int(f) if f.is_integer() else round(f, 3)


def run_search(out: Path, backends, log_dir: Path) -> list[dict]:
    ver = aic_version()
    log_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for backend in backends:
        save = Path(tempfile.mkdtemp(prefix=f"aic_search_{backend}_"))
        cmd = [str(AIC_BIN), "cli", "default", "--model-path", SEARCH["aic_model"],
               "--total-gpus", str(SEARCH["total_gpus"]), "--system", SEARCH["system"],
               "--backend", backend, "--isl", str(SEARCH["isl"]), "--osl", str(SEARCH["osl"]),
               "--ttft", str(SEARCH["ttft"]), "--tpot", str(SEARCH["tpot"]),
               "--no-color", "--save-dir", str(save)]
        shown = " ".join(c if c != str(save) else "<dir>" for c in cmd).replace(str(AIC_BIN), "aiconfigurator")
        env = {**os.environ, "AICONFIGURATOR_LOG_LEVEL": "INFO"}
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.monotonic() - t0
        log = proc.stdout + proc.stderr
        (log_dir / f"aiconfigurator_search_{backend}.log").write_text(
            "\n".join(l for l in log.splitlines() if "DeprecationWarning" not in l and "sys.exit(main())" not in l) + "\n")
        if proc.returncode != 0:
            print(f"search {backend} failed rc={proc.returncode}", flush=True)
            continue
        internal = ""
        for line in log.splitlines():
            if "All experiments completed in" in line:
                internal = line.split("completed in", 1)[1].strip()
        print(f"search {backend}: {wall:.0f} s wall ({internal} by its own clock)", flush=True)
        for mode in ("agg", "disagg"):
            for table, fname in (("top", "best_config_topn.csv"), ("pareto", "pareto.csv")):
                hits = glob.glob(str(save / "**" / mode / fname), recursive=True)
                if not hits:
                    continue
                with open(hits[0]) as f:
                    recs = list(csv.DictReader(f))
                for rank, rec in enumerate(recs, 1):
                    rows.append(_search_row(rec, mode, table, rank, backend, ver, wall, internal, shown))
        shutil.rmtree(save, ignore_errors=True)
    _write(out / "aiconfigurator_search.csv", SEARCH_COLUMNS, rows)
    return rows


def _search_row(rec, mode, table, rank, backend, ver, wall, internal, shown):
    g = lambda k: _num(rec.get(k))
    n_gpu = int(float(rec["num_total_gpus"]))
    replicas = SEARCH["total_gpus"] // n_gpu
    if mode == "agg":
        p = d = {k: g(k) for k in ("tp", "pp", "dp", "moe_tp", "moe_ep", "bs", "global_bs")}
        pw = dw = 1
        quant = {k: rec[k] for k in ("gemm", "kvcache", "fmha", "moe")}
        bver = rec["version"]
    else:
        p = {k: g(f"(p){k}") for k in ("tp", "pp", "dp", "moe_tp", "moe_ep", "bs", "global_bs")}
        d = {k: g(f"(d){k}") for k in ("tp", "pp", "dp", "moe_tp", "moe_ep", "bs", "global_bs")}
        pw, dw = g("(p)workers"), g("(d)workers")
        quant = {k: rec[f"(d){k}"] for k in ("gemm", "kvcache", "fmha", "moe")}
        bver = rec["(p)version"]
    ttft, tpot = float(rec["ttft"]), float(rec["tpot"])
    conc = g("concurrency")
    notes = (f"search wall {wall:.1f} s (aic's own clock: {internal}); "
             "batch = per attention-DP rank, global_batch = batch x attention_dp; "
             + ("agg: one worker per replica, prefill and decode share it (IFB, ctx_tokens chunk); "
                if mode == "agg" else
                "disagg: TTFT includes aic's x1.8 autoscale TTFT correction; rate-matched with "
                "prefill x0.9 / decode x0.92 degradation factors; ")
             + f"table={table} (top = its best-5 under SLA; pareto = its frontier, may break TPOT)")
    return dict(
        source="aiconfigurator", aic_version=ver, backend=backend, backend_version=bver,
        system=SEARCH["system"], model=SEARCH["model"], aic_model=SEARCH["aic_model"],
        isl=SEARCH["isl"], osl=SEARCH["osl"], ttft_target_ms=SEARCH["ttft"],
        tpot_target_ms=SEARCH["tpot"], total_gpus=SEARCH["total_gpus"], table=table, rank=rank,
        mode=mode, meets_sla=ttft <= SEARCH["ttft"] and tpot <= SEARCH["tpot"],
        replicas=replicas, gpus_per_replica=n_gpu, gpus_used=replicas * n_gpu,
        prefill_workers=pw, prefill_tp=p["tp"], prefill_pp=p["pp"], prefill_attention_dp=p["dp"],
        prefill_moe_tp=p["moe_tp"], prefill_moe_ep=p["moe_ep"], prefill_batch=p["bs"],
        prefill_global_batch=p["global_bs"],
        decode_workers=dw, decode_tp=d["tp"], decode_pp=d["pp"], decode_attention_dp=d["dp"],
        decode_moe_tp=d["moe_tp"], decode_moe_ep=d["moe_ep"], decode_batch=d["bs"],
        decode_global_batch=d["global_bs"],
        agg_ctx_tokens=g("ctx_tokens") if mode == "agg" else "",
        tokens_per_s_per_gpu=g("tokens/s/gpu"), tokens_per_s_per_gpu_cluster=g("tokens/s/gpu_cluster"),
        tokens_per_s_per_user=g("tokens/s/user"), ttft_ms=_num(ttft), tpot_ms=_num(tpot),
        request_latency_ms=g("request_latency"), concurrency_per_replica=conc,
        concurrency_total=conc * replicas if isinstance(conc, (int, float)) else "",
        request_rate_per_replica=g("request_rate"), gemm_quant=quant["gemm"],
        kv_quant=quant["kvcache"], fmha_quant=quant["fmha"], moe_quant=quant["moe"],
        search_wall_s=round(wall, 1), command=shown, notes=notes)


def _write(path: Path, cols, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in cols})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--estimates", action="store_true")
    ap.add_argument("--search", action="store_true")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--search-backends", default="sglang,vllm,trtllm")
    ap.add_argument("--log-dir", type=Path, default=Path(tempfile.gettempdir()) / "aic_search_logs",
                    help="where the search CLI logs go (not the repo)")
    a = ap.parse_args(argv)
    if not (a.estimates or a.search):
        ap.error("give --estimates and/or --search")
    a.out.mkdir(parents=True, exist_ok=True)
    meta = {"aiconfigurator": aic_version(),
            "aiconfigurator_core": importlib.metadata.version("aiconfigurator-core")}
    if a.estimates:
        res = run_estimates(a.out, a.models.split(","), a.systems.split(","), a.backends.split(","))
        meta["estimates_wall_s"] = round(res["wall_s"], 1)
        meta["backend_versions"] = {f"{s}/{b}": v for (s, b), v in res["versions"].items()}
    if a.search:
        t0 = time.monotonic()
        run_search(a.out, a.search_backends.split(","), a.log_dir)
        meta["search_wall_s"] = round(time.monotonic() - t0, 1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
