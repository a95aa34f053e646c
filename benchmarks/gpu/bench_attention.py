"""Family 4 -- attention through torch SDPA: causal prefill and single-token decode.

Layout [batch, heads, seq, head_dim], bf16. GQA shapes pass enable_gqa=True (the kernel
reads each KV head once for its group of query heads).
prefill: q_len = kv_len = S, causal; flops = 4 b hq dh * S(S+1)/2 (QK^T and PV over the
causal pairs). decode: q_len = 1 against kv_len = C, not causal; flops = 4 b hq dh C.
bytes = minimal: q, k, v read once, o written once.
backend: "flash" (sdpa_kernel FLASH_ATTENTION), "efficient" (EFFICIENT_ATTENTION) for decode;
"math" only on the CPU dry run. Decode is timed eagerly and as graph replays; small KV
caches rotate among several sets so they are not served from L2.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

try:
    from torch.nn.attention import SDPBackend, sdpa_kernel
except Exception:  # noqa: BLE001
    SDPBackend = sdpa_kernel = None

# name: (q heads, kv heads, head dim)
SHAPES = {
    "seed_mha": (16, 16, 64),
    "mixtral_gqa": (32, 8, 128),
}

PREFILL = {
    "seed_mha": dict(seqs=[1024, 2048, 3072, 4096, 6144, 8192, 10240],
                     batches=[1, 2, 4, 16, 64, 128]),
    "mixtral_gqa": dict(seqs=[1024, 2048, 4096, 8192, 16384, 32768], batches=[1, 2, 4, 16, 64]),
}
DECODE = {
    "seed_mha": dict(ctx=[1024, 2048, 4096, 8192, 10240, 16384, 32768],
                     batches=[1, 2, 4, 8, 16, 32, 64, 128]),
    "mixtral_gqa": dict(ctx=[1024, 2048, 4096, 8192, 16384, 32768],
                        batches=[1, 2, 4, 8, 16, 32, 64, 128]),
}


def backend_ctx(name):
    if sdpa_kernel is None:
        import contextlib

        return contextlib.nullcontext()
    b = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
         "math": SDPBackend.MATH, "cudnn": getattr(SDPBackend, "CUDNN_ATTENTION", None)}[name]
    return sdpa_kernel([b])


def sdpa(q, k, v, causal, gqa):
    if gqa:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def check(backend, hq, hkv, dh, causal):
    """Backend against float64 math on fresh random inputs."""
    b, sq, skv = 2, (64 if causal else 1), 96 if not causal else 64
    q = C.rand((b, hq, sq, dh), torch.bfloat16)
    k = C.rand((b, hkv, skv, dh), torch.bfloat16)
    v = C.rand((b, hkv, skv, dh), torch.bfloat16)
    with backend_ctx(backend):
        out = sdpa(q, k, v, causal, hq != hkv)
    rep = hq // hkv
    kr, vr = k.double().repeat_interleave(rep, 1), v.double().repeat_interleave(rep, 1)
    s = (q.double() @ kr.transpose(-1, -2)) / dh ** 0.5
    if causal:
        mask = torch.ones(sq, skv, dtype=torch.bool, device=q.device).tril()
        s = s.masked_fill(~mask, float("-inf"))
    ref = torch.softmax(s, -1) @ vr
    return C.rel_err(out, ref)


def main():
    ap = C.base_parser(__doc__)
    ap.add_argument("--max-prefill-flops", type=float, default=6e13)
    ap.add_argument("--max-kv-bytes", type=float, default=12e9)
    args = ap.parse_args()
    meta = C.collect_metadata("attention")
    dl = C.Deadline(args.budget_s)
    rec = C.Recorder(args.out, "attention",
                     ["shape_name", "phase", "batch", "n_heads_q", "n_heads_kv", "head_dim",
                      "q_len", "kv_len", "causal", "backend"], meta,
                     extra_columns=["check_rel_err"])
    l2 = C.l2_bytes(meta)
    shapes, prefill, decode = SHAPES, PREFILL, DECODE
    if args.quick:
        shapes = {"tiny_mha": (4, 4, 32), "tiny_gqa": (8, 2, 64)}
        prefill = {n: dict(seqs=[64, 128], batches=[1, 2]) for n in shapes}
        decode = {n: dict(ctx=[128, 512], batches=[1, 4]) for n in shapes}
    pre_backends = ["flash"] if C.HAS_CUDA else ["math"]
    dec_backends = ["flash", "efficient"] if C.HAS_CUDA else ["math"]
    checks = {}
    # decode first (small, many graph rows), then prefill
    jobs = []
    for name, (hq, hkv, dh) in shapes.items():
        for C_ in decode[name]["ctx"]:
            for b in decode[name]["batches"]:
                jobs.append(("decode", name, hq, hkv, dh, b, 1, C_))
    for name, (hq, hkv, dh) in shapes.items():
        for S in prefill[name]["seqs"]:
            for b in prefill[name]["batches"]:
                jobs.append(("prefill", name, hq, hkv, dh, b, S, S))
    for phase, name, hq, hkv, dh, b, sq, skv in jobs:
        causal = phase == "prefill"
        if causal:
            flops = 4 * b * hq * dh * skv * (skv + 1) // 2
            if flops > args.max_prefill_flops:
                continue
        else:
            flops = 4 * b * hq * dh * skv
        nbytes = (2 * b * hq * sq * dh + 2 * b * hkv * skv * dh) * 2
        if nbytes > args.max_kv_bytes or nbytes * 1.3 > C.free_bytes():
            rec.error(f"{phase} {name} b={b} S={skv}: {nbytes/1e9:.1f} GB over the memory cap")
            continue
        for backend in (pre_backends if causal else dec_backends):
            key = (backend, name, causal)
            if key not in checks:
                try:
                    checks[key] = check(backend, hq, hkv, dh, causal)
                    C.log(f"check {key}: rel err {checks[key]:.2e}")
                except Exception as e:  # noqa: BLE001
                    checks[key] = None
                    rec.error(f"check {key}", e)
            if checks[key] is None:
                continue
            if dl.passed():
                rec.error(f"{phase} {name} b={b} S={skv} {backend}: budget exhausted")
                continue
            n_sets = C.n_sets_for(nbytes, l2, max_sets=32)
            sets = None
            try:
                sets = [(C.rand((b, hq, sq, dh), torch.bfloat16),
                         C.rand((b, hkv, skv, dh), torch.bfloat16),
                         C.rand((b, hkv, skv, dh), torch.bfloat16)) for _ in range(n_sets)]

                def call(i, backend=backend, sets=sets, causal=causal, hq=hq, hkv=hkv):
                    q, k, v = sets[i]
                    with backend_ctx(backend):
                        return sdpa(q, k, v, causal, hq != hkv)

                modes = [False] + ([True] if (C.HAS_CUDA and not causal) else [])
                for g in modes:
                    t = C.bench(call, n_sets, graph=g, rep_budget_s=args.rep_budget_s,
                                min_reps=5 if flops < 1e13 else 3)
                    rec.row(op="sdpa", impl="F.scaled_dot_product_attention", dtype="bf16",
                            shape=dict(shape_name=name, phase=phase, batch=b, n_heads_q=hq,
                                       n_heads_kv=hkv, head_dim=dh, q_len=sq, kv_len=skv,
                                       causal=int(causal), backend=backend),
                            flops=flops, nbytes=nbytes, timing=t,
                            extra=dict(check_rel_err=f"{checks[key]:.3e}"))
                    C.log(f"{phase:7s} {name:11s} b={b:>4d} S={skv:>6d} {backend:9s} {t['mode']:5s} "
                          f"{t['time_s']*1e6:11.1f} us {flops/t['time_s']/1e12:7.1f} TFLOP/s "
                          f"{nbytes/t['time_s']/1e12:6.2f} TB/s")
            except Exception as e:  # noqa: BLE001
                rec.error(f"{phase} {name} b={b} S={skv} {backend}", e)
            finally:
                sets = None
                C.cleanup()
    rec.close(extra_meta={"checks_rel_err": {"/".join(map(str, k)): v for k, v in checks.items()}})


if __name__ == "__main__":
    C.run_main(main)
