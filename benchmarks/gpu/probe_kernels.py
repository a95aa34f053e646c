"""Which CUDA kernels one expert-shaped GEMM launches: bf16 F.linear against fp8 torch._scaled_mm.

Question (README, "what misses"): on the H200, fp8 GEMMs of <= 64 tokens run up to 30% faster
than bytes / bandwidth + the per-kernel time fitted on bf16. Does bf16 launch more kernels than
fp8 (split-K + a reduction kernel, a memset, an epilogue kernel) so that its fixed time per op is
larger, or do both launch one kernel and the difference lies inside the kernels?

For every shape of bench_gemm.py (same make(): same operands, scales and rotation among buffer
sets) and token counts T, this script
* profiles `--calls` calls with torch.profiler (CPU + CUDA activities; every call synchronised,
  each on its own buffer set) and records per call the CUDA kernels launched (count, names in
  launch order, each one's GPU duration and their sum) and the memsets/memcpys, if any;
* times the call as CUDA-graph replays exactly as bench_gemm.py does (common.bench, graph mode,
  T <= --graph-max-tokens; eager above), so `time_s` is comparable with gemm.csv.
`gap_s` = time_s - kernel_time_s: what a call costs beyond its kernels' own GPU time.
A reference row `noop` (a one-element in-place add, one kernel) gives the floor of a kernel in a
graph replay.

One CSV row per (dtype, shape, T): <out>/kernels.csv, plus kernels.meta.json.
"""

import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_gemm as G  # noqa: E402
import common as C  # noqa: E402
import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

COLUMNS = ["calls_profiled", "kernels_per_call", "memops_per_call", "consistent", "kernel_names",
           "kernel_times_s", "kernel_time_s", "kernel_time_min_s", "gap_s"]


def _device_events(prof) -> list[tuple[int, int, str]]:
    """(start_ns, duration_ns, name) of every GPU-side event (kernels, memsets, memcpys)."""
    out = []
    try:
        for e in prof.profiler.kineto_results.events():
            if e.device_type() == torch.autograd.DeviceType.CUDA:
                out.append((int(e.start_ns()), int(e.duration_ns()), e.name()))
    except AttributeError:  # older/newer API: the parsed FunctionEvents
        for e in prof.events():
            if e.device_type == torch.autograd.DeviceType.CUDA:
                out.append((int(e.time_range.start * 1000), int(e.time_range.elapsed_us() * 1000),
                            e.name))
    return sorted(out)


def _is_memop(name: str) -> bool:
    return name.startswith("Memset") or name.startswith("Memcpy")


def profile_calls(fn, n_sets: int, calls: int) -> dict:
    """Kernels per call of `fn`, from `calls` synchronised calls under the profiler."""
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if C.HAS_CUDA else [])
    for i in range(n_sets):  # warm (handles, heuristics cache) outside the profile
        fn(i)
    C.sync()
    with profile(activities=acts) as prof:
        for j in range(calls):
            fn((j + 1) % n_sets)
            C.sync()
    ev = _device_events(prof)
    kernels = [e for e in ev if not _is_memop(e[2])]
    memops = [e for e in ev if _is_memop(e[2])]
    per = len(kernels) // calls if calls else 0
    groups = [kernels[j * per:(j + 1) * per] for j in range(calls)] if per else []
    consistent = bool(per) and len(kernels) == per * calls and all(
        [g[2] for g in grp] == [g[2] for g in groups[0]] for grp in groups)
    sums = [sum(d for _, d, _ in grp) * 1e-9 for grp in groups]
    first = groups[0] if groups else []
    return {
        "calls_profiled": calls,
        "kernels_per_call": f"{len(kernels) / calls:g}",
        "memops_per_call": f"{len(memops) / calls:g}",
        "consistent": int(consistent),
        "kernel_names": " | ".join(n for _, _, n in first),
        "kernel_times_s": " | ".join(f"{d * 1e-9:.4e}" for _, d, _ in first),
        "kernel_time_s": f"{statistics.median(sums):.6e}" if sums else "",
        "kernel_time_min_s": f"{min(sums):.6e}" if sums else "",
    }


def main():
    ap = C.base_parser(__doc__)
    ap.add_argument("--graph-max-tokens", type=int, default=4096)
    ap.add_argument("--calls", type=int, default=4)
    args = ap.parse_args()
    meta = C.collect_metadata("kernels")
    dl = C.Deadline(args.budget_s)
    rec = C.Recorder(args.out, "kernels", ["shape_name", "proj", "m_tokens", "k", "n"], meta,
                     extra_columns=COLUMNS)
    l2 = C.l2_bytes(meta)

    dtypes = ["bf16"]
    if C.HAS_CUDA and G.FP8 is not None and hasattr(torch, "_scaled_mm"):
        dtypes.append("fp8_e4m3")
    mats = []
    for name, (d, f) in G.SHAPES.items():
        mats += [(name, "up", d, f), (name, "down", f, d)]
    mats += G.DENSE
    # first the token counts the brief asks for, then fill-ins (a budget cut loses these first)
    first, later = [1, 4, 16, 64, 256, 4096], [8, 1024, 16384]
    if args.quick:
        mats, first, later = [("tiny", "up", 64, 128), ("tiny", "down", 128, 64)], [1, 4, 64], [256]

    order = [("noop", "", 1, 1, 1, "fp32")]
    for toks in (first, later):
        for name, proj, k, n in mats:
            for T in toks:
                for dtype in dtypes:  # bf16 and fp8 of one shape back to back
                    order.append((name, proj, k, n, T, dtype))
    for name, proj, k, n, T, dtype in order:
        if dl.passed():
            rec.error(f"{dtype} {name} {proj} T={T}: budget exhausted")
            continue
        fn = None
        try:
            if name == "noop":
                bufs = [torch.randn(1, device=C.DEVICE) for _ in range(4)]

                def fn(i, bufs=bufs):
                    return bufs[i].add_(1.0)

                n_sets, nbytes, flops, impl = 4, 8, 1, "add_"
            else:
                w_bytes = k * n * (2 if dtype == "bf16" else 1)
                n_sets = C.n_sets_for(w_bytes + T * (k + n) * 2, l2)
                fn, nbytes = G.make(dtype, T, k, n, n_sets)
                flops, impl = 2 * T * k * n, "F.linear" if dtype == "bf16" else "scaled_mm"
            prof = profile_calls(fn, n_sets, args.calls)
            graph = C.HAS_CUDA and T <= args.graph_max_tokens
            t = C.bench(fn, n_sets, graph=graph, rep_budget_s=args.rep_budget_s,
                        min_reps=5 if T < 16384 else 3)
            if prof["kernel_time_s"]:
                prof["gap_s"] = f"{t['time_s'] - float(prof['kernel_time_s']):.6e}"
            rec.row(op="linear" if name != "noop" else "noop", impl=impl, dtype=dtype,
                    shape=dict(shape_name=name, proj=proj, m_tokens=T, k=k, n=n), flops=flops,
                    nbytes=nbytes, timing=t, extra=prof)
            C.log(f"{dtype:8s} {name:17s} {proj:4s} T={T:>6d} {t['mode']:5s} "
                  f"{t['time_s'] * 1e6:8.2f} us  kernels/call {prof['kernels_per_call']:>3s} "
                  f"(mem {prof['memops_per_call']}) sum "
                  f"{float(prof['kernel_time_s'] or 0) * 1e6:8.2f} us  {prof['kernel_names'][:150]}")
        except Exception as e:  # noqa: BLE001
            rec.error(f"{dtype} {name} {proj} T={T}", e)
        finally:
            fn = None
            C.cleanup()
    rec.close()


if __name__ == "__main__":
    C.run_main(main)
