"""Family 2 -- expert-shaped GEMMs over token counts.

Y[T, n] = X[T, k] @ W[n, k]^T for the up projection (k = d_model, n = d_ff) and the down
projection (k = d_ff, n = d_model) of real MoE expert shapes, T = 1, 2, 4, ..., 131072.
bf16 through F.linear; fp8 (e4m3, tensor-wise scales, bf16 out) through torch._scaled_mm
where it runs. flops = 2 T k n; bytes = minimal: X and W read once, Y written once.
Small problems rotate among several (X, W) sets so that W is not served from L2, and are
timed eagerly and as CUDA-graph replays (T <= --graph-max-tokens).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

FP8 = getattr(torch, "float8_e4m3fn", None)

# name: (d_model, d_ff of one expert)
SHAPES = {
    "mixtral_8x7b": (4096, 14336),
    "qwen3_30b_a3b": (2048, 768),
    "deepseek_v3": (7168, 2048),
    "seed_moe": (1024, 2048),
}
# dense projections of the layers measured in bench_moe_layer.py: (name, proj, k, n)
DENSE = [
    ("seed_moe_attn", "qkv", 1024, 3072),
    ("seed_moe_attn", "o", 1024, 1024),
    ("mixtral_8x7b_attn", "qkv", 4096, 6144),
    ("mixtral_8x7b_attn", "o", 4096, 4096),
]


def make(dtype, T, k, n, n_sets):
    if dtype == "bf16":
        Xs = [C.rand((T, k), torch.bfloat16) for _ in range(n_sets)]
        Ws = [C.rand((n, k), torch.bfloat16, scale=k ** -0.5) for _ in range(n_sets)]
        return (lambda i: F.linear(Xs[i], Ws[i])), (T * k + n * k + T * n) * 2
    Xs = [C.rand((T, k), FP8) for _ in range(n_sets)]
    Ws = [C.rand((n, k), FP8) for _ in range(n_sets)]
    one = torch.ones((), device=C.DEVICE, dtype=torch.float32)

    def f(i):
        return torch._scaled_mm(Xs[i], Ws[i].t(), scale_a=one, scale_b=one,
                                out_dtype=torch.bfloat16)

    return f, (T * k + n * k) + T * n * 2


def main():
    ap = C.base_parser(__doc__)
    ap.add_argument("--graph-max-tokens", type=int, default=4096)
    ap.add_argument("--max-log2-tokens", type=int, default=17)
    args = ap.parse_args()
    meta = C.collect_metadata("gemm")
    dl = C.Deadline(args.budget_s)
    rec = C.Recorder(args.out, "gemm", ["shape_name", "proj", "m_tokens", "k", "n"], meta)
    l2 = C.l2_bytes(meta)

    dtypes = ["bf16"]
    if C.HAS_CUDA and FP8 is not None and hasattr(torch, "_scaled_mm"):
        dtypes.append("fp8_e4m3")
    shapes = dict(SHAPES)
    tokens = [1 << p for p in range(0, args.max_log2_tokens + 1)]
    if args.quick:
        shapes = {"tiny": (64, 128)}
        tokens = [1, 4, 64, 256]
    # order: every shape at a coarse token grid first, then fill in -- a budget cut then
    # leaves gaps in the grid rather than losing whole shapes
    order = []
    coarse = [t for t in tokens if (t.bit_length() - 1) % 2 == 0]
    fine = [t for t in tokens if t not in coarse]
    # token counts off the power-of-two grid (3 x 2^p), bf16 only: held-out validation points
    odd = [3 << p for p in range(0, args.max_log2_tokens - 1)] if not args.quick else [3, 48]
    mats = []
    for name, (d, f) in shapes.items():
        mats += [(name, "up", d, f), (name, "down", f, d)]
    if not args.quick:
        mats += DENSE
    for tok_list, dts in ((coarse, dtypes), (fine, dtypes), (odd, ["bf16"])):
        for dtype in dts:
            for name, proj, k, n in mats:
                for T in tok_list:
                    order.append((dtype, name, proj, k, n, T))
    for dtype, name, proj, k, n, T in order:
        if dl.passed():
            rec.error(f"{dtype} {name} {proj} T={T}: budget exhausted")
            continue
        fn = None
        try:
            w_bytes = k * n * (2 if dtype == "bf16" else 1)
            n_sets = C.n_sets_for(w_bytes + T * (k + n) * 2, l2)
            fn, nbytes = make(dtype, T, k, n, n_sets)
            modes = [False] + ([True] if C.HAS_CUDA and T <= args.graph_max_tokens else [])
            for g in modes:
                t = C.bench(fn, n_sets, graph=g, rep_budget_s=args.rep_budget_s,
                            min_reps=5 if T < 16384 else 3)
                r = rec.row(op="linear", impl="F.linear" if dtype == "bf16" else "scaled_mm",
                            dtype=dtype, shape=dict(shape_name=name, proj=proj, m_tokens=T, k=k, n=n),
                            flops=2 * T * k * n, nbytes=nbytes, timing=t)
                C.log(f"{dtype:8s} {name:14s} {proj:4s} T={T:>6d} {t['mode']:5s} "
                      f"{t['time_s']*1e6:10.1f} us {float(r['achieved_flops_per_s'])/1e12:7.1f} TFLOP/s "
                      f"{float(r['achieved_bytes_per_s'])/1e12:6.2f} TB/s")
        except Exception as e:  # noqa: BLE001
            rec.error(f"{dtype} {name} {proj} T={T}", e)
        finally:
            fn = None
            C.cleanup()
    rec.close()


if __name__ == "__main__":
    C.run_main(main)
