"""Shared pieces of the whole-model (e2e) benchmarks: configs, grid, timing, CSV rows.

Both hf_e2e.py (Hugging Face transformers) and ref_executor.py (our own engine-style
executor) import this module, so that the two stacks are timed the same way and write the
same columns into e2e.csv.

Timing: every timed call sits between two CUDA events recorded on the current stream
(host clocks without CUDA). Work that must happen between calls but is not part of the
step (resetting a KV-cache length, cropping a cache) runs before the start event. After
warm-up calls, calls are repeated until a time target or an iteration cap is reached; the
row keeps the median and the 20th/80th percentiles of the per-call times.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback

# NVLink multicast must stay off on the lent machines (device KINDS.md). Force, never relax.
for _k, _v in {
    "NCCL_NVLS_ENABLE": "0",
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    "NVSHMEM_DISABLE_NVLS": "1",
}.items():
    os.environ[_k] = _v

try:
    import torch  # noqa: E402
except ImportError:  # `merge` needs only the standard library
    torch = None

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_DIR = os.path.join(HERE, "configs")
MODELS = ["olmoe-1b-7b", "qwen3-30b-a3b", "deepseek-v2-lite", "gpt-oss-20b", "phi-3.5-moe", "mixtral-8x7b"]

PREFILL_GRID = [(b, s) for b in (1, 8, 32) for s in (1024, 4096)]
DECODE_GRID = [(b, c) for b in (1, 8, 64) for c in (1024, 4096)]
QUICK_PREFILL_GRID = [(1, 16), (2, 32)]
QUICK_DECODE_GRID = [(1, 16), (3, 32)]

COLUMNS = [
    "source",
    "stack",
    "model",
    "phase",
    "batch",
    "prompt_len",
    "context",
    "gpus",
    "tp",
    "ep",
    "dtype",
    "attn_impl",
    "experts_impl",
    "graph",
    "measured_s",
    "p20_s",
    "p80_s",
    "iters",
    "gpu",
    "torch",
    "transformers",
    "cuda",
    "run_id",
    "notes",
]


def select(grid, points: str):
    """grid filtered to the 'BxN,BxN' points given (all of it when points is empty)."""
    if not points:
        return grid
    want = {tuple(int(v) for v in p.split("x")) for p in points.split(",") if p}
    return [g for g in grid if g in want]


# --------------------------------------------------------------------------- configs
def load_config(name: str) -> dict:
    """config.json of a model as a dict, without our provenance keys ('_*') and quantization."""
    path = name if name.endswith(".json") else os.path.join(CONFIG_DIR, f"{name}.json")
    with open(path) as f:
        d = json.load(f)
    return {k: v for k, v in d.items() if not k.startswith("_") and k != "quantization_config"}


def shrink_config(d: dict) -> dict:
    """A tiny config of the same family (CPU dry runs only): same structure, small sizes."""
    d = dict(d)
    mt = d["model_type"]
    d["hidden_size"] = 128
    d["vocab_size"] = 512
    mha = d.get("num_key_value_heads") in (None, d.get("num_attention_heads"))
    d["num_attention_heads"] = 4
    d["num_key_value_heads"] = 4 if mha else 2
    if "head_dim" in d:
        d["head_dim"] = 32
    d["intermediate_size"] = 96
    if "moe_intermediate_size" in d:
        d["moe_intermediate_size"] = 64
    for key in ("num_experts", "num_local_experts", "n_routed_experts"):
        if key in d:
            d[key] = 8
    d["num_experts_per_tok"] = min(d.get("num_experts_per_tok", 2), 4)
    if "experts_per_token" in d:
        d["experts_per_token"] = d["num_experts_per_tok"]
    d["num_hidden_layers"] = 3 if mt == "deepseek_v2" else 2
    if mt == "deepseek_v2":
        d.update(kv_lora_rank=64, qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32)
    if mt == "gpt_oss":
        d["layer_types"] = ["sliding_attention", "full_attention"]
        d["sliding_window"] = 8
    if mt == "qwen3_moe":
        d["mlp_only_layers"] = []
    return d


def family_of(d: dict) -> str:
    return d["model_type"]


# --------------------------------------------------------------------------- metadata
def versions() -> dict:
    try:
        import transformers

        tv = transformers.__version__
    except Exception:  # noqa: BLE001
        tv = ""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "gpu": gpu,
        "torch": torch.__version__,
        "transformers": tv,
        "cuda": torch.version.cuda or "",
        "run_id": os.environ.get("MOEKIT_RUN_ID", "local"),
        "python": platform.python_version(),
    }


def now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gpu_mem_note() -> str:
    if not torch.cuda.is_available():
        return ""
    return f"peak_mem_gib={torch.cuda.max_memory_allocated() / 2**30:.1f}"


# --------------------------------------------------------------------------- output
class Writer:
    """Appends rows to <out>/<name>.csv (flushed per row) and keeps a list of skipped points."""

    def __init__(self, out_dir: str, name: str):
        os.makedirs(out_dir, exist_ok=True)
        self.path = os.path.join(out_dir, f"{name}.csv")
        self.skip_path = os.path.join(out_dir, f"{name}.skipped.jsonl")
        new = not os.path.exists(self.path)
        self._fh = open(self.path, "a", newline="")
        self._w = csv.DictWriter(self._fh, fieldnames=COLUMNS, extrasaction="raise")
        if new:
            self._w.writeheader()
            self._fh.flush()
        self.v = versions()
        self.n = 0

    def row(self, **kw):
        r = {k: "" for k in COLUMNS}
        r.update({k: self.v[k] for k in ("gpu", "torch", "transformers", "cuda", "run_id")})
        r.update(kw)
        for k in ("measured_s", "p20_s", "p80_s"):
            r[k] = f"{float(r[k]):.6e}"
        self._w.writerow(r)
        self._fh.flush()
        self.n += 1
        print("ROW " + ",".join(str(r[c]) for c in COLUMNS[:18]), flush=True)

    def skip(self, **kw):
        kw["date_utc"] = now_utc()
        with open(self.skip_path, "a") as f:
            f.write(json.dumps(kw) + "\n")
        print("SKIP " + json.dumps(kw), flush=True)


def short_exc(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return f"{type(e).__name__}: {s[0][:300] if s else ''}"


def is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower()


def cleanup():
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------- timing
def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_calls(
    fn,
    *,
    pre=None,
    warmup: int = 2,
    min_iters: int = 3,
    max_iters: int = 50,
    target_s: float = 1.0,
    deadline: float | None = None,
) -> dict:
    """Time fn() per call with CUDA events. pre() runs before each call, outside the events."""
    for _ in range(warmup):
        if pre is not None:
            pre()
        fn()
    sync()
    cuda = torch.cuda.is_available()
    times = []
    spent = 0.0
    while len(times) < max_iters:
        if pre is not None:
            pre()
        if cuda:
            s = torch.cuda.Event(enable_timing=True)
            e = torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            e.synchronize()
            t = s.elapsed_time(e) * 1e-3
        else:
            t0 = time.perf_counter()
            fn()
            t = time.perf_counter() - t0
        times.append(t)
        spent += t
        if len(times) >= min_iters and (spent >= target_s or (deadline and time.monotonic() > deadline)):
            break
    times.sort()
    return {
        "measured_s": statistics.median(times),
        "p20_s": quantile(times, 0.2),
        "p80_s": quantile(times, 0.8),
        "iters": len(times),
    }


def quantile(xs, q):
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0]
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def iters_for(phase: str, graph: bool):
    """(warmup, min_iters, max_iters, target_s) per kind of measurement."""
    if phase == "prefill":
        return 1, 3, 20, 1.5
    if graph:
        return 2, 10, 100, 0.4
    return 3, 5, 50, 0.6


def system_txt(path: str):
    """nvidia-smi and versions, as in benchmarks/gpu/run_device.sh."""
    lines = [now_utc(), " ".join(platform.uname())]
    for cmd in (["nvidia-smi"], ["nvidia-smi", "topo", "-m"]):
        try:
            lines.append(subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout)
        except Exception as e:  # noqa: BLE001
            lines.append(f"{cmd}: {e}")
    v = versions()
    lines.append(json.dumps(v))
    try:
        lines.append(f"nccl {torch.cuda.nccl.version()}")
    except Exception:  # noqa: BLE001
        pass
    lines += [
        f"{k}={v}"
        for k, v in sorted(os.environ.items())
        if k.startswith(("NCCL", "TORCH", "NVSHMEM", "CUDA"))
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


STACK_ORDER = ["hf-transformers-eager", "hf-transformers-graph", "reference-eager", "reference-graph"]


def merge(run_dirs: list[str], dest: str) -> int:
    """Rows of e2e_hf.csv / e2e_ref.csv under run_dirs -> one CSV (sorted by model, stack, phase, size)."""
    rows = []
    for rd in run_dirs:
        for name in ("e2e_hf.csv", "e2e_ref.csv"):
            p = os.path.join(rd, name)
            if os.path.exists(p):
                with open(p, newline="") as f:
                    rows += list(csv.DictReader(f))

    def key(r):
        m = MODELS.index(r["model"]) if r["model"] in MODELS else 99
        return (
            m,
            r["model"],
            STACK_ORDER.index(r["stack"]),
            r["phase"] != "prefill",
            int(r["batch"]),
            int(r["prompt_len"]),
            int(r["context"]),
            r["run_id"],
        )

    rows.sort(key=key)
    with open(dest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    print(f"merged {len(rows)} rows into {dest}")
    summary = {}
    for r in rows:
        summary.setdefault((r["model"], r["stack"], r["phase"]), []).append(r)
    for (m, st, ph), rs in summary.items():
        pts = " ".join(
            f"{r['batch']}x{r['prompt_len'] if ph == 'prefill' else r['context']}="
            f"{float(r['measured_s']) * 1e3:.2f}ms"
            for r in rs
        )
        print(f"  {m:17s} {st:22s} {ph:7s} {len(rs):2d}: {pts}")
    return len(rows)


def main_guard(fn):
    try:
        fn()
    except SystemExit:
        raise
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "merge":
        merge(sys.argv[2:-1], sys.argv[-1])
    else:
        print("usage: e2e_common.py merge RUN_DIR [RUN_DIR ...] DEST.csv")
