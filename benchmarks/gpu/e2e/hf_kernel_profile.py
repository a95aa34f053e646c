"""Per-layer kernel profile of Hugging Face transformers (torch.profiler), for the op terms of the
hf-transformers stacks: the kernels one layer launches, their GPU time, and the host time per layer.

    python3 benchmarks/gpu/e2e/hf_kernel_profile.py --out OUT [--models NAME ...] [--quick]

Each model is built as hf_e2e.py builds it (config.json of configs/, random bf16 weights) twice: with
its first 2 and its first 4 decoder layers. A layer's figures are (4-layer - 2-layer) / 2, so the
embedding, final norm, LM head and argmax drop out, and gpt-oss's alternating sliding/full layers
count one of each. Points: prefill 8 x 1024 and 1 x 4096 (use_cache=True, logits_to_keep=1) and a
decode step of batch 64 at context 4096 against a DynamicCache of random K/V (hf_e2e.py's), eager.

Rows (OUT/hf_kernel_profile.csv): one per (model, phase, batch, prompt_len, context, layers, kernel):
calls and GPU time summed over one step (the median step of 3 profiled), plus one row per step with
kernel "__step__": host wall time of a synchronised step (median of 5) and the step's GPU total.
Also OUT/gpt_oss_eager_attention.csv: transformers' gpt-oss eager_attention_forward alone, timed with
CUDA events at several sizes, its bytes per score against a device copy's bandwidth.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_common as C  # noqa: E402
import hf_e2e as H  # noqa: E402
import torch  # noqa: E402

MODELS = ["gpt-oss-20b", "deepseek-v2-lite", "phi-3.5-moe", "olmoe-1b-7b", "qwen3-30b-a3b", "mixtral-8x7b"]
POINTS = [("prefill", 8, 1024, 0), ("prefill", 1, 4096, 0), ("decode", 64, 4096, 4096)]
FIELDS = ["model", "phase", "batch", "prompt_len", "context", "layers", "kernel", "calls", "gpu_s", "wall_s",
          "gpu", "torch", "transformers", "run_id"]


def kernel_times(prof) -> dict:
    """{kernel name: (calls, GPU seconds)} of the device activities a profile recorded."""
    out: dict = {}
    for e in prof.events():
        if "cuda" not in str(getattr(e, "device_type", "")).lower():
            continue
        t = getattr(e, "device_time", None)
        if t is None:
            t = getattr(e, "cuda_time", 0.0)
        calls, total = out.get(e.name, (0, 0.0))
        out[e.name] = (calls + 1, total + t * 1e-6)
    return out


def profile_step(fn, pre, steps: int = 3) -> dict:
    """Kernel times of one step: the median-GPU-time step of `steps` profiled ones."""
    from torch.profiler import ProfilerActivity, profile

    found = []
    for _ in range(steps):
        pre()
        C.sync()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            fn()
            C.sync()
        found.append(kernel_times(prof))
    found.sort(key=lambda k: sum(t for _, t in k.values()))
    return found[len(found) // 2]


def wall_step(fn, pre, reps: int = 5) -> float:
    """Host wall time of a synchronised step (s), median of `reps`."""
    times = []
    for _ in range(reps):
        pre()
        C.sync()
        t0 = time.perf_counter()
        fn()
        C.sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_model(name, layers, args, out_rows, meta):
    model, cfg, d, info = H.build(name, args.quick, args.device, layers=layers)
    with torch.no_grad():
        for phase, b, s, ctx in POINTS:
            if phase == "prefill":
                ids = H.rand_ids(cfg.vocab_size, b, s, args.device)

                def fn(ids=ids, model=model):
                    model(input_ids=ids, use_cache=True, logits_to_keep=1).logits[:, -1].argmax(-1)

                pre = C.sync
            else:
                cache, restore = H.dynamic_cache_with_context(model, cfg, b, ctx, args.device)
                tok = H.rand_ids(cfg.vocab_size, b, 1, args.device)

                def fn(tok=tok, cache=cache, model=model):
                    model(input_ids=tok, past_key_values=cache, use_cache=True,
                          logits_to_keep=1).logits[:, -1].argmax(-1)

                pre = restore
            for _ in range(2):
                pre()
                fn()
            kernels = profile_step(fn, pre)
            wall = wall_step(fn, pre)
            base = {"model": name, "phase": phase, "batch": b, "prompt_len": s, "context": ctx,
                    "layers": layers, **meta}
            for k, (calls, t) in sorted(kernels.items(), key=lambda kv: -kv[1][1]):
                out_rows.append({**base, "kernel": k[:200], "calls": calls, "gpu_s": f"{t:.6e}",
                                 "wall_s": ""})
            gpu = sum(t for _, t in kernels.values())
            ncalls = sum(c for c, _ in kernels.values())
            out_rows.append({**base, "kernel": "__step__", "calls": ncalls, "gpu_s": f"{gpu:.6e}",
                             "wall_s": f"{wall:.6e}"})
            print(f"INFO {name} L={layers} {phase} b={b} s={s} ctx={ctx}: {ncalls} kernels, "
                  f"GPU {gpu * 1e3:.2f} ms, wall {wall * 1e3:.2f} ms", flush=True)
            if phase == "decode":
                del cache
            C.cleanup()
    del model
    C.cleanup()


def whole_model_decode(name, args, meta) -> list:
    """The full-depth model's decode step (batch 64, context 4096) timed as hf_e2e.py times it, under
    no_grad and under inference_mode, with its kernel count: a check on the per-layer figures."""
    model, cfg, d, info = H.build(name, args.quick, args.device)
    rows = []
    for mode, ctx_manager in (("no_grad", torch.no_grad), ("inference_mode", torch.inference_mode)):
        with ctx_manager():
            cache, restore = H.dynamic_cache_with_context(model, cfg, 64, 4096, args.device)
            tok = H.rand_ids(cfg.vocab_size, 64, 1, args.device)

            def fn(tok=tok, cache=cache, model=model):
                model(input_ids=tok, past_key_values=cache, use_cache=True,
                      logits_to_keep=1).logits[:, -1].argmax(-1)

            t = C.time_calls(fn, pre=restore, warmup=3, min_iters=5, max_iters=20, target_s=0.6)["measured_s"]
            restore()
            contiguous = all(layer.keys.is_contiguous() for layer in cache.layers)
            kernels = profile_step(fn, restore)
            cats = sum(c for k, (c, _) in kernels.items() if "Cat" in k)
            gpu = sum(g for _, g in kernels.values())
            rows.append({"model": name, "phase": "decode", "batch": 64, "prompt_len": 4096, "context": 4096,
                         "layers": d["num_hidden_layers"], "kernel": f"__whole__{mode}",
                         "calls": sum(c for c, _ in kernels.values()), "gpu_s": f"{gpu:.6e}",
                         "wall_s": f"{t:.6e}", **meta})
            print(f"INFO whole {name} {mode}: events {t * 1e3:.2f} ms, profiled GPU {gpu * 1e3:.2f} ms, "
                  f"{cats} cat kernels, cache contiguous after restore: {contiguous}", flush=True)
            del cache
            C.cleanup()
    del model
    C.cleanup()
    return rows


def copy_bandwidth(device) -> float:
    """Device-to-device copy bandwidth (bytes read + written per second), 2 GiB buffers."""
    a = torch.empty(2**30, dtype=torch.bfloat16, device=device).normal_()
    b = torch.empty_like(a)
    t = C.time_calls(lambda: b.copy_(a), warmup=3, min_iters=10, max_iters=20, target_s=0.2)["measured_s"]
    return 2 * a.numel() * a.element_size() / t


def gpt_oss_attention(args, meta, bw) -> list:
    """transformers' gpt-oss eager attention alone: time, scores, bytes per score at copy bandwidth."""
    from transformers.models.gpt_oss import modeling_gpt_oss as M

    class Module(torch.nn.Module):
        def __init__(self, heads, groups):
            super().__init__()
            self.num_key_value_groups = groups
            self.sinks = torch.nn.Parameter(torch.randn(heads, device=args.device, dtype=torch.bfloat16))

    rows = []
    heads, kvh, dh = 64, 8, 64
    mod = Module(heads, heads // kvh).eval()
    for b, s in [(8, 1024), (1, 4096), (2, 4096), (32, 1024)]:
        q = torch.randn(b, heads, s, dh, device=args.device, dtype=torch.bfloat16)
        k = torch.randn(b, kvh, s, dh, device=args.device, dtype=torch.bfloat16)
        v = torch.randn_like(k)
        mask = torch.full((s, s), float("-inf"), device=args.device).triu(1).to(torch.bfloat16)
        mask = mask[None, None].expand(b, 1, s, s).contiguous()

        def call(q=q, k=k, v=v, mask=mask):
            M.eager_attention_forward(mod, q, k, v, mask, scaling=dh**-0.5)

        with torch.no_grad():
            t = C.time_calls(call, warmup=2, min_iters=5, max_iters=30, target_s=0.5)["measured_s"]
        scores = b * heads * s * s
        rows.append({"batch": b, "seq": s, "heads": heads, "kv_heads": kvh, "head_dim": dh,
                     "time_s": f"{t:.6e}", "scores": scores, "copy_bandwidth_Bps": f"{bw:.4e}",
                     "bytes_per_score_at_copy_bw": f"{t * bw / scores:.2f}", **meta})
        print(f"INFO gpt-oss eager attention b={b} s={s}: {t * 1e3:.2f} ms, "
              f"{t * bw / scores:.1f} B/score at {bw / 1e12:.2f} TB/s", flush=True)
        del q, k, v, mask
        C.cleanup()
    return rows


def write_csv(path, fields, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--whole", nargs="*", default=[],
                    help="models whose full-depth decode step is also timed")
    ap.add_argument("--quick", action="store_true", help="tiny configs (CPU dry run)")
    args = ap.parse_args()
    args.device = "cuda" if torch.cuda.is_available() else "cpu"
    os.makedirs(args.out, exist_ok=True)
    v = C.versions()
    meta = {"gpu": v["gpu"], "torch": v["torch"], "transformers": v["transformers"],
            "run_id": os.environ.get("MOEKIT_RUN_ID", C.now_utc())}
    rows: list = []
    for name in args.models:
        for layers in (2, 4):
            try:
                run_model(name, layers, args, rows, meta)
            except Exception as e:  # noqa: BLE001
                print(f"SKIP {name} L={layers}: {e!r}"[:300], flush=True)
                C.cleanup()
        write_csv(os.path.join(args.out, "hf_kernel_profile.csv"), FIELDS, rows)  # after each model
    for name in args.whole:
        try:
            rows += whole_model_decode(name, args, meta)
        except Exception as e:  # noqa: BLE001
            print(f"SKIP whole {name}: {e!r}"[:300], flush=True)
            C.cleanup()
    write_csv(os.path.join(args.out, "hf_kernel_profile.csv"), FIELDS, rows)
    if args.device == "cuda" and args.models:
        att = gpt_oss_attention(args, meta, copy_bandwidth(args.device))
        write_csv(os.path.join(args.out, "gpt_oss_eager_attention.csv"), list(att[0]), att)


if __name__ == "__main__":
    main()
