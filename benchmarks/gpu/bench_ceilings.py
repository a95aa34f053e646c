"""Family 1 -- ceilings: large GEMM FLOP/s (bf16, fp16, fp8) and HBM copy bandwidth.

GEMM: C[m,n] = A[m,k] @ W[n,k]^T (F.linear layout); flops = 2 m n k; bytes = minimal
(A and W read once, C written once). fp8 goes through torch._scaled_mm (e4m3 inputs,
tensor-wise fp32 scales, bf16 output), with and without fast accumulation.

Copy: dst.copy_(src) device to device; bytes = 2 x buffer (read + write); small buffers are
rotated so that the copy is not served from L2; small copies are also timed as graph replays.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

FP8 = getattr(torch, "float8_e4m3fn", None)


def gemm_callable(dtype_name, m, n, k, n_sets):
    if dtype_name in ("bf16", "fp16"):
        dt = torch.bfloat16 if dtype_name == "bf16" else torch.float16
        As = [C.rand((m, k), dt) for _ in range(n_sets)]
        Ws = [C.rand((n, k), dt) for _ in range(n_sets)]
        return (lambda i: F.linear(As[i], Ws[i])), (m * k + n * k + m * n) * 2
    fast = dtype_name == "fp8_e4m3_fastaccum"
    As = [C.rand((m, k), FP8) for _ in range(n_sets)]
    Ws = [C.rand((n, k), FP8) for _ in range(n_sets)]  # row-major [n,k] -> .t() is column-major
    one = torch.ones((), device=C.DEVICE, dtype=torch.float32)

    def f(i):
        return torch._scaled_mm(As[i], Ws[i].t(), scale_a=one, scale_b=one,
                                out_dtype=torch.bfloat16, use_fast_accum=fast)

    return f, (m * k + n * k) * 1 + m * n * 2


def check_gemm(dtype_name):
    """Relative error against a float64 reference on random inputs (METHOD.md)."""
    m, n, k = 256, 256, 512
    if dtype_name in ("bf16", "fp16"):
        dt = torch.bfloat16 if dtype_name == "bf16" else torch.float16
        a, w = C.rand((m, k), dt), C.rand((n, k), dt)
        return C.rel_err(F.linear(a, w), a.double() @ w.double().t())
    a, w = C.rand((m, k), FP8), C.rand((n, k), FP8)
    one = torch.ones((), device=C.DEVICE, dtype=torch.float32)
    out = torch._scaled_mm(a, w.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16,
                           use_fast_accum=dtype_name.endswith("fastaccum"))
    return C.rel_err(out, a.double() @ w.double().t())


def main():
    ap = C.base_parser(__doc__)
    args = ap.parse_args()
    meta = C.collect_metadata("ceilings")
    dl = C.Deadline(args.budget_s)
    rec = C.Recorder(args.out, "ceilings", ["m", "n", "k", "buffer_bytes"], meta,
                     extra_columns=["check_rel_err"])
    l2 = C.l2_bytes(meta)

    dtypes = ["bf16", "fp16"]
    if C.HAS_CUDA and FP8 is not None and hasattr(torch, "_scaled_mm"):
        dtypes += ["fp8_e4m3", "fp8_e4m3_fastaccum"]
    sizes = [(8192, 8192, 8192), (16384, 16384, 16384), (4096, 4096, 4096),
             (16384, 8192, 8192), (8192, 8192, 16384)]
    if args.quick:
        sizes = [(256, 256, 256), (128, 256, 512)]
    checks = {}
    if C.HAS_CUDA and not args.quick:
        # spin-up: ~1 s of large bf16 GEMMs so the clocks have left idle before the first row
        fn, _ = gemm_callable("bf16", 8192, 8192, 8192, 1)
        t_end = C.time.monotonic() + 1.0
        while C.time.monotonic() < t_end:
            for _ in range(20):
                fn(0)
            C.sync()
        fn = None
        C.cleanup()
    for dn in dtypes:
        try:
            checks[dn] = check_gemm(dn)
            C.log(f"check {dn}: rel err vs float64 = {checks[dn]:.2e}")
        except Exception as e:  # noqa: BLE001
            rec.error(f"gemm check {dn}", e)
            continue
        for (m, n, k) in sizes:
            if dl.passed():
                rec.error(f"gemm {dn} {m}x{n}x{k}: budget exhausted")
                continue
            try:
                fn, nbytes = gemm_callable(dn, m, n, k, 1)
                t = C.bench(fn, 1, rep_budget_s=0.3 if not args.quick else 0.01, min_reps=10,
                            max_reps=50)
                r = rec.row(op="gemm", impl="F.linear" if dn in ("bf16", "fp16") else "scaled_mm",
                            dtype=dn, shape=dict(m=m, n=n, k=k, buffer_bytes=""),
                            flops=2 * m * n * k, nbytes=nbytes, timing=t,
                            extra=dict(check_rel_err=f"{checks[dn]:.3e}"))
                C.log(f"gemm {dn:20s} {m}x{n}x{k}: {float(r['achieved_flops_per_s'])/1e12:8.1f} TFLOP/s")
            except Exception as e:  # noqa: BLE001
                rec.error(f"gemm {dn} {m}x{n}x{k}", e)
            finally:
                fn = None
                C.cleanup()

    # the first bf16 size again, after everything else: shows drift (clocks, temperature)
    dn, (m, n, k) = "bf16", sizes[0]
    if "bf16" in checks and not dl.passed():
        try:
            fn, nbytes = gemm_callable(dn, m, n, k, 1)
            t = C.bench(fn, 1, rep_budget_s=0.3 if not args.quick else 0.01, min_reps=10, max_reps=50)
            r = rec.row(op="gemm_repeat", impl="F.linear", dtype=dn,
                        shape=dict(m=m, n=n, k=k, buffer_bytes=""),
                        flops=2 * m * n * k, nbytes=nbytes, timing=t,
                        extra=dict(check_rel_err=f"{checks[dn]:.3e}"))
            C.log(f"gemm {dn:20s} {m}x{n}x{k} (repeat): "
                  f"{float(r['achieved_flops_per_s'])/1e12:8.1f} TFLOP/s")
        except Exception as e:  # noqa: BLE001
            rec.error(f"gemm repeat {m}x{n}x{k}", e)
        finally:
            fn = None
            C.cleanup()

    # HBM copy bandwidth against buffer size
    lo, hi = (16, 33) if not args.quick else (10, 20)
    for p in range(lo, hi):  # 64 KiB .. 4 GiB, x2 steps
        size = 1 << p
        n_elem = size // 2
        n_sets = C.n_sets_for(2 * size, l2, max_sets=256)
        modes = [False, True] if (C.HAS_CUDA and size <= (64 << 20)) else [False]
        try:
            src = [C.rand((n_elem,), torch.bfloat16) for _ in range(n_sets)]
            dst = [torch.empty_like(s) for s in src]
            ok = True
            dst[0].copy_(src[0])
            ok = bool(torch.equal(dst[0], src[0]))

            def f(i, src=src, dst=dst):
                dst[i].copy_(src[i])

            for g in modes:
                if dl.passed():
                    rec.error(f"copy {size} graph={g}: budget exhausted")
                    continue
                t = C.bench(f, n_sets, graph=g, rep_budget_s=args.rep_budget_s if not args.quick else 0.01,
                            min_reps=10)
                r = rec.row(op="copy", impl="Tensor.copy_", dtype="bf16",
                            shape=dict(m="", n="", k="", buffer_bytes=size), flops=0,
                            nbytes=2 * size, timing=t, extra=dict(check_rel_err=0.0 if ok else "FAIL"))
                C.log(f"copy {size:>12d} B {t['mode']:5s}: "
                      f"{float(r['achieved_bytes_per_s'])/1e12:6.3f} TB/s (read+write)")
        except Exception as e:  # noqa: BLE001
            rec.error(f"copy {size}", e)
        finally:
            src = dst = f = None
            C.cleanup()
    rec.close(extra_meta={"gemm_checks_rel_err": checks})


if __name__ == "__main__":
    C.run_main(main)
