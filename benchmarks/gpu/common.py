"""Shared harness for the moekit GPU benchmarks (issue 6).

Every family script imports this module. It provides:

* run metadata (machine kind, GPU, driver, CUDA, torch, NCCL versions) written once per
  script as JSON and repeated as columns on every CSV row;
* ``bench``: warm-up, CUDA-event timing, median and spread over many repeats, buffer
  rotation (the callable receives the index of the buffer set to use, so small operands
  are not served from L2), in eager mode or as CUDA-graph replays;
* a CSV writer that flushes each row as soon as it is measured, so a run cut short still
  leaves everything it measured;
* a deadline so that a family stays inside its share of the device lease.

Without CUDA everything falls back to the CPU (host timers, no graphs) so that a dry run
on a machine without a GPU exercises the same code paths with tiny shapes.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import traceback

import torch

# NVLink multicast must stay off on the lent machines (KINDS.md). Force, never relax.
NCCL_SAFE_ENV = {
    "NCCL_NVLS_ENABLE": "0",
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    "NVSHMEM_DISABLE_NVLS": "1",
}
for _k, _v in NCCL_SAFE_ENV.items():
    os.environ[_k] = _v

HAS_CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda", 0) if HAS_CUDA else torch.device("cpu")

# columns repeated on every row (the run's metadata JSON has more)
META_COLUMNS = [
    "run_id",
    "device_kind",
    "gpu_name",
    "gpu_index",
    "driver",
    "cuda",
    "torch",
    "nccl",
]
TIMING_COLUMNS = [
    "mode",
    "n_sets",
    "inner",
    "n_repeats",
    "time_s",
    "time_p10_s",
    "time_p90_s",
    "time_min_s",
    "time_max_s",
]


# --------------------------------------------------------------------------- metadata
def _smi(query: str, index: int = 0) -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits", f"-i={index}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return out.stdout.strip() if out.returncode == 0 else ""
    except Exception:
        return ""


def nccl_version() -> str:
    try:
        v = torch.cuda.nccl.version()
        if isinstance(v, tuple):
            return ".".join(str(x) for x in v)
        return str(v)
    except Exception:
        return ""


def physical_gpu_index() -> str:
    vis = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    if vis:
        return vis.split(",")[torch.cuda.current_device() if HAS_CUDA else 0]
    return str(torch.cuda.current_device()) if HAS_CUDA else "cpu"


def collect_metadata(family: str) -> dict:
    meta = {
        "run_id": os.environ.get("MOEKIT_RUN_ID", "local"),
        "device_kind": os.environ.get("MOEKIT_DEVICE_KIND", "local-cpu" if not HAS_CUDA else "unknown"),
        "family": family,
        "date_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hostname": socket.gethostname(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "",
        "cudnn": str(torch.backends.cudnn.version()) if HAS_CUDA else "",
        "nccl": nccl_version() if HAS_CUDA else "",
        "gpu_index": physical_gpu_index(),
        "env": {k: os.environ.get(k, "") for k in list(NCCL_SAFE_ENV) + ["CUDA_VISIBLE_DEVICES"]},
    }
    if HAS_CUDA:
        p = torch.cuda.get_device_properties(0)
        idx = int(meta["gpu_index"]) if str(meta["gpu_index"]).isdigit() else 0
        meta.update(
            gpu_name=p.name,
            gpu_count_visible=torch.cuda.device_count(),
            sm_count=p.multi_processor_count,
            l2_bytes=int(getattr(p, "L2_cache_size", 0)),
            gpu_mem_bytes=int(p.total_memory),
            compute_capability=f"{p.major}.{p.minor}",
            driver=_smi("driver_version", idx),
            smi_clocks=_smi(
                "clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.limit,temperature.gpu,"
                "pstate,persistence_mode,compute_mode",
                idx,
            ),
        )
    else:
        meta.update(gpu_name="cpu", gpu_count_visible=0, sm_count=0, l2_bytes=0, gpu_mem_bytes=0,
                    compute_capability="", driver="", smi_clocks="")
    return meta


def l2_bytes(meta: dict) -> int:
    # without CUDA pretend a small cache so that rotation logic still runs in dry runs
    return int(meta.get("l2_bytes") or 0) or (1 << 20)


# --------------------------------------------------------------------------- CLI / IO
def base_parser(desc: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=desc)
    ap.add_argument("--out", default=os.environ.get("MOEKIT_RESULTS", "bench_out"),
                    help="directory for the CSV and metadata JSON")
    ap.add_argument("--budget-s", type=float, default=120.0,
                    help="wall-clock budget for the whole family; later shapes are skipped")
    ap.add_argument("--quick", action="store_true",
                    help="tiny shapes and few repeats (CPU dry run)")
    ap.add_argument("--rep-budget-s", type=float, default=0.08,
                    help="target timed seconds per measurement (before min/max repeats)")
    return ap


class Deadline:
    def __init__(self, seconds: float):
        self.t0 = time.monotonic()
        self.seconds = seconds

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.t0)

    def passed(self) -> bool:
        return self.left() <= 0


class Recorder:
    """Writes rows of one family to <out>/<family>.csv as they are measured."""

    def __init__(self, out_dir: str, family: str, shape_columns: list[str], meta: dict,
                 extra_columns: list[str] | None = None):
        os.makedirs(out_dir, exist_ok=True)
        self.meta = meta
        self.family = family
        self.columns = (
            ["run_id", "family", "op", "impl", "dtype"]
            + shape_columns
            + ["flops", "bytes"]
            + (extra_columns or [])
            + TIMING_COLUMNS
            + ["achieved_flops_per_s", "achieved_bytes_per_s"]
            + META_COLUMNS[1:]
        )
        self.path = os.path.join(out_dir, f"{family}.csv")
        self._fh = open(self.path, "w", newline="")
        self._w = csv.DictWriter(self._fh, fieldnames=self.columns, extrasaction="raise")
        self._w.writeheader()
        self._fh.flush()
        self.n = 0
        self.errors: list[str] = []
        meta_path = os.path.join(out_dir, f"{family}.meta.json")
        with open(meta_path, "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)

    def row(self, *, op: str, impl: str, dtype: str, shape: dict, flops: float, nbytes: float,
            timing: dict, extra: dict | None = None) -> dict:
        r = {k: "" for k in self.columns}
        r.update(run_id=self.meta["run_id"], family=self.family, op=op, impl=impl, dtype=dtype)
        r.update(shape)
        r.update(extra or {})
        r.update(timing)
        r["flops"] = int(flops) if float(flops).is_integer() else flops
        r["bytes"] = int(nbytes) if float(nbytes).is_integer() else nbytes
        t = timing["time_s"]
        r["achieved_flops_per_s"] = f"{flops / t:.6g}" if t > 0 and flops else ""
        r["achieved_bytes_per_s"] = f"{nbytes / t:.6g}" if t > 0 and nbytes else ""
        for k in META_COLUMNS[1:]:
            r[k] = self.meta.get(k, "")
        for k in ("time_s", "time_p10_s", "time_p90_s", "time_min_s", "time_max_s"):
            r[k] = f"{timing[k]:.6e}"
        self._w.writerow(r)
        self._fh.flush()
        self.n += 1
        return r

    def error(self, what: str, exc: BaseException | None = None):
        msg = f"[{self.family}] SKIP {what}"
        if exc is not None:
            msg += f": {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        print(msg, flush=True)
        self.errors.append(msg)

    def close(self, extra_meta: dict | None = None):
        self._fh.close()
        meta = dict(self.meta)
        meta["rows"] = self.n
        meta["skipped"] = self.errors
        meta["date_utc_end"] = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta.update(extra_meta or {})
        with open(os.path.join(os.path.dirname(self.path), f"{self.family}.meta.json"), "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
        print(f"[{self.family}] wrote {self.n} rows to {self.path}; {len(self.errors)} skipped",
              flush=True)


# --------------------------------------------------------------------------- timing
def sync():
    if HAS_CUDA:
        torch.cuda.synchronize()


class _Events:
    """Pairs of CUDA events (or host clocks without CUDA)."""

    def __init__(self, n: int):
        self.n = n
        if HAS_CUDA:
            self.s = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
            self.e = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
        else:
            self.s = [0.0] * n
            self.e = [0.0] * n

    def start(self, i):
        if HAS_CUDA:
            self.s[i].record()
        else:
            self.s[i] = time.perf_counter()

    def stop(self, i):
        if HAS_CUDA:
            self.e[i].record()
        else:
            self.e[i] = time.perf_counter()

    def seconds(self) -> list[float]:
        sync()
        if HAS_CUDA:
            return [self.s[i].elapsed_time(self.e[i]) * 1e-3 for i in range(self.n)]
        return [self.e[i] - self.s[i] for i in range(self.n)]


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0]
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def bench(fn, n_sets: int = 1, *, graph: bool = False, rep_budget_s: float = 0.08,
          min_reps: int = 5, max_reps: int = 100, target_sample_s: float = 5e-4,
          max_graph_calls: int = 256, warmup: int = 3) -> dict:
    """Time ``fn(i)`` (i = index of the buffer set, 0..n_sets-1).

    One *sample* runs ``inner`` calls back to back between two events (calls cycle through
    the buffer sets); the per-call time of a sample is its elapsed time / inner. In graph
    mode the ``inner`` calls are captured once into one CUDA graph and each sample is one
    replay. Returns the median per-call time and spread over the samples.
    """
    if graph and not HAS_CUDA:
        raise RuntimeError("graph mode needs CUDA")
    n_sets = max(1, int(n_sets))
    # warm-up (module load, handles, autotuning, allocator) -- also in graph mode, before capture
    for i in range(n_sets):
        fn(i)
    sync()
    # rough per-call estimate from one pass over the sets
    ev = _Events(1)
    ev.start(0)
    for j in range(n_sets):
        fn(j)
    ev.stop(0)
    t_est = max(ev.seconds()[0] / n_sets, 1e-7)
    if t_est < 0.02:  # cheap: finish the warm-up; expensive calls are warm after two passes
        for _ in range(max(0, warmup - 2)):
            for i in range(n_sets):
                fn(i)
        sync()

    inner = max(1, math.ceil(target_sample_s / t_est))
    g = None
    if graph:
        inner = max(inner, n_sets)
        inner = min(inner, max(max_graph_calls, n_sets))
        inner = math.ceil(inner / n_sets) * n_sets
        # warm-up on a side stream as the CUDA-graph docs recommend, then capture
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for i in range(n_sets):
                fn(i)
        torch.cuda.current_stream().wait_stream(s)
        sync()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for j in range(inner):
                fn(j % n_sets)
        sync()
        for _ in range(2):
            g.replay()
        sync()
    reps = int(rep_budget_s / (inner * t_est))
    reps = max(min_reps, min(max_reps, reps))
    ev = _Events(reps)
    k = 0
    for r in range(reps):
        ev.start(r)
        if g is not None:
            g.replay()
        else:
            for _ in range(inner):
                fn(k % n_sets)
                k += 1
        ev.stop(r)
    per_call = [t / inner for t in ev.seconds()]
    if g is not None:
        del g
    return {
        "mode": "graph" if graph else "eager",
        "n_sets": n_sets,
        "inner": inner,
        "n_repeats": reps,
        "time_s": statistics.median(per_call),
        "time_p10_s": _quantile(per_call, 0.10),
        "time_p90_s": _quantile(per_call, 0.90),
        "time_min_s": min(per_call),
        "time_max_s": max(per_call),
    }


def n_sets_for(bytes_per_call: float, l2: int, factor: float = 4.0, max_sets: int = 64) -> int:
    """Buffer sets needed so that consecutive calls touch factor x L2 of distinct data."""
    if bytes_per_call <= 0:
        return 1
    return int(max(1, min(max_sets, math.ceil(factor * l2 / bytes_per_call))))


def free_bytes() -> int:
    if HAS_CUDA:
        return int(torch.cuda.mem_get_info()[0])
    return 8 << 30


def cleanup():
    import gc

    gc.collect()
    if HAS_CUDA:
        torch.cuda.empty_cache()


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def rand(shape, dtype, scale: float = 1.0, device=None) -> torch.Tensor:
    """Random normal data (never zeros: METHOD.md), cast to ``dtype``."""
    device = device or DEVICE
    if dtype in (getattr(torch, "float8_e4m3fn", None), getattr(torch, "float8_e5m2", None)):
        return (torch.randn(shape, device=device, dtype=torch.float32) * scale).to(dtype)
    return torch.randn(shape, device=device, dtype=dtype) * scale


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    out = out.double()
    ref = ref.double()
    if not torch.isfinite(out).all():
        return float("nan")
    return float((out - ref).norm() / ref.norm().clamp_min(1e-30))


def log(msg: str):
    print(msg, flush=True)


def run_main(main):
    """Run a family's main(); print the traceback and exit non-zero on failure."""
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
