"""Whole-model prefill and decode times of Hugging Face transformers, as installed, with random weights.

    python3 benchmarks/gpu/e2e/hf_e2e.py --model qwen3-30b-a3b --out OUT [--budget-s 90] [--quick]

What runs:
* the model is AutoModelForCausalLM.from_config(config.json of configs/, dtype=bf16), built directly
  on the GPU under transformers' no_init_weights(); then every parameter is filled on the GPU with
  random normal values (std 0.02; norm weights 1), so no hub access and no slow init;
* attention and experts implementation: transformers' defaults for the family (sdpa and
  grouped_mm in 5.17; gpt-oss has no sdpa support and runs eager attention, set explicitly);
  the row records config._attn_implementation and config._experts_implementation;
* prefill: one forward over batch x prompt random token ids with use_cache=True (a DynamicCache,
  as generate() uses) and logits_to_keep=1, followed by the greedy argmax of the last logits:
  the time to the first token. A point that runs out of memory with the cache is retried with
  use_cache=False (noted); one that still does not fit is dropped and listed as skipped;
* decode eager (stack hf-transformers-eager): one forward of 1 new token per sequence against a
  DynamicCache that already holds `context` tokens per layer (random K/V, shaped as the model's
  own cache layers: for DeepSeek-V2 that is the compressed latent that transformers caches), plus
  the argmax. The cache is restored to `context` tokens between calls (Python only, untimed);
* decode graph (stack hf-transformers-graph): the same step with a StaticCache of exactly
  context+1 slots (random K/V, lengths set to `context`), captured once in a torch.cuda.CUDAGraph
  and replayed; the cache lengths are reset before each replay (untimed). A step that cannot be
  captured is listed as skipped with the reason. The graph output is checked against an eager
  call of the same static-cache step (notes: graph_check).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_common as C  # noqa: E402
import torch  # noqa: E402


def build(name: str, quick: bool, device, layers: int | None = None):
    """The model of configs/NAME.json on `device` with random weights; `layers` keeps its first
    decoder layers only (hf_kernel_profile.py)."""
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # older transformers
        from transformers.modeling_utils import no_init_weights

    d = C.load_config(name)
    if quick:
        d = C.shrink_config(d)
    if layers is not None:
        d["num_hidden_layers"] = layers
        if "layer_types" in d:
            d["layer_types"] = d["layer_types"][:layers]
    cfg = AutoConfig.for_model(**d)
    kw = {}
    if d["model_type"] == "gpt_oss":
        kw["attn_implementation"] = "eager"  # no sdpa in transformers for gpt-oss (sinks)
    with torch.device(device), no_init_weights():
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16, **kw)
    model.eval()
    fill_random(model)
    info = {
        "attn_impl": str(model.config._attn_implementation),
        "experts_impl": str(getattr(model.config, "_experts_implementation", "") or "n/a"),
        "params": sum(p.numel() for p in model.parameters()),
        "class": type(model).__name__,
        "transformers": transformers.__version__,
    }
    return model, cfg, d, info


@torch.no_grad()
def fill_random(model):
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(1234)
    for name, p in model.named_parameters():
        if p.dim() == 1 and "norm" in name.lower() and not name.endswith("bias"):
            p.fill_(1.0)
        else:
            p.normal_(0.0, 0.02, generator=gen)
    for name, b in model.named_buffers():
        if not torch.isfinite(b.float()).all():
            raise RuntimeError(f"buffer {name} is not finite after construction")


def rand_ids(vocab, b, s, device):
    return torch.randint(0, vocab, (b, s), device=device)


# --------------------------------------------------------------------------- caches
def dynamic_cache_with_context(model, cfg, b, ctx, device):
    """DynamicCache holding ctx random tokens per layer, shaped like the model's own cache layers."""
    from transformers import DynamicCache

    probe = DynamicCache(config=cfg)
    model(
        input_ids=rand_ids(cfg.vocab_size, b, 1, device),
        past_key_values=probe,
        use_cache=True,
        logits_to_keep=1,
    )
    cache = DynamicCache(config=cfg)
    for li, layer in enumerate(probe.layers):
        k, v = layer.keys, layer.values
        kk = torch.randn(k.shape[0], k.shape[1], ctx, k.shape[3], dtype=k.dtype, device=k.device)
        vv = torch.randn(v.shape[0], v.shape[1], ctx, v.shape[3], dtype=v.dtype, device=v.device)
        cache.update(kk, vv, li)
        del kk, vv
    del probe
    # After a step, each layer is cut back to the length it had (full layers keep their first
    # tokens, i.e. the original context; sliding-window layers their newest ones) and copied to a
    # contiguous tensor, as generation leaves it (its torch.cat output is contiguous); a strided
    # view would send the next step's cat down a slower path (OLMoE 64 x 4096: 122 ms a step
    # against ~3x less cat time). Non-tensor state (token counters of sliding-window layers) is
    # restored from a snapshot.
    lens = [layer.keys.shape[-2] for layer in cache.layers]
    snap = [{k: v for k, v in layer.__dict__.items() if not torch.is_tensor(v)} for layer in cache.layers]

    full = [type(layer).__name__ == "DynamicLayer" for layer in cache.layers]

    def restore():
        for layer, n, sn, f in zip(cache.layers, lens, snap, full, strict=True):
            if layer.keys.shape[-2] != n:
                sl = slice(0, n) if f else slice(-n, None)
                layer.keys = layer.keys[:, :, sl].contiguous()
                layer.values = layer.values[:, :, sl].contiguous()
            layer.__dict__.update(sn)

    return cache, restore


def static_cache_with_context(model, cfg, b, ctx, device):
    """StaticCache of ctx+1 slots, filled with random K/V, lengths at ctx; returns (cache, reset)."""
    from transformers import StaticCache

    cache = StaticCache(config=cfg, max_cache_len=ctx + 1)
    # one-token forward: lazily allocates every layer with its own shapes and dtype
    model(
        input_ids=rand_ids(cfg.vocab_size, b, 1, device),
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    for layer in cache.layers:
        layer.keys.normal_()
        layer.values.normal_()

    def reset():
        for layer in cache.layers:
            layer.cumulative_length.fill_(ctx)
            if hasattr(layer, "cumulative_length_int"):
                layer.cumulative_length_int = ctx

    reset()
    return cache, reset


# --------------------------------------------------------------------------- phases
def run_prefill(model, cfg, info, args, W, base, deadline):
    grid = C.select(C.QUICK_PREFILL_GRID if args.quick else C.PREFILL_GRID, args.points)
    for b, s in grid:
        if time.monotonic() > deadline:
            W.skip(
                model=args.model,
                stack="hf-transformers-eager",
                phase="prefill",
                batch=b,
                prompt_len=s,
                reason="budget spent",
            )
            continue
        ids = rand_ids(cfg.vocab_size, b, s, args.device)
        note = ""
        for use_cache in (True, False):

            def fn(uc=use_cache, ids=ids):
                out = model(input_ids=ids, use_cache=uc, logits_to_keep=1)
                out.logits[:, -1].argmax(-1)

            try:
                C.cleanup()
                if torch.cuda.is_available():
                    torch.cuda.reset_peak_memory_stats()
                wu, mn, mx, tgt = C.iters_for("prefill", False)
                t = C.time_calls(fn, warmup=wu, min_iters=mn, max_iters=mx, target_s=tgt, deadline=deadline)
                W.row(
                    **base,
                    stack="hf-transformers-eager",
                    phase="prefill",
                    batch=b,
                    prompt_len=s,
                    context=0,
                    graph=0,
                    **t,
                    notes=f"use_cache={int(use_cache)};logits_to_keep=1;argmax;{note}{C.gpu_mem_note()}",
                )
                break
            except Exception as e:  # noqa: BLE001
                C.cleanup()
                if C.is_oom(e) and use_cache:
                    note = "use_cache=True did not fit;"
                    continue
                W.skip(
                    model=args.model,
                    stack="hf-transformers-eager",
                    phase="prefill",
                    batch=b,
                    prompt_len=s,
                    reason=("OOM: " if C.is_oom(e) else "") + C.short_exc(e),
                )
                break
        del ids
        C.cleanup()


def run_decode(model, cfg, info, args, W, base, deadline):
    grid = C.select(C.QUICK_DECODE_GRID if args.quick else C.DECODE_GRID, args.points)
    graph_broken = None
    for b, ctx in grid:
        tok = rand_ids(cfg.vocab_size, b, 1, args.device)
        pt = dict(model=args.model, phase="decode", batch=b, context=ctx)
        # ---- eager, DynamicCache
        if time.monotonic() > deadline:
            W.skip(**pt, stack="hf-transformers-eager", reason="budget spent")
        else:
            try:
                C.cleanup()
                if torch.cuda.is_available():
                    torch.cuda.reset_peak_memory_stats()
                cache, restore = dynamic_cache_with_context(model, cfg, b, ctx, args.device)

                def step(tok=tok, cache=cache):
                    out = model(input_ids=tok, past_key_values=cache, use_cache=True, logits_to_keep=1)
                    return out.logits[:, -1].argmax(-1)

                wu, mn, mx, tgt = C.iters_for("decode", False)
                t = C.time_calls(
                    step, pre=restore, warmup=wu, min_iters=mn, max_iters=mx, target_s=tgt, deadline=deadline
                )
                W.row(
                    **base,
                    stack="hf-transformers-eager",
                    phase="decode",
                    batch=b,
                    prompt_len=ctx,
                    context=ctx,
                    graph=0,
                    **t,
                    notes=f"cache=DynamicCache(random K/V);logits_to_keep=1;argmax;{C.gpu_mem_note()}",
                )
            except Exception as e:  # noqa: BLE001
                W.skip(
                    **pt,
                    stack="hf-transformers-eager",
                    reason=("OOM: " if C.is_oom(e) else "") + C.short_exc(e),
                )
            cache = restore = None
            C.cleanup()
        # ---- CUDA graph, StaticCache
        if not torch.cuda.is_available() or args.no_graph:
            continue
        if time.monotonic() > deadline:
            W.skip(**pt, stack="hf-transformers-graph", reason="budget spent")
            continue
        if graph_broken:
            W.skip(
                **pt,
                stack="hf-transformers-graph",
                reason=f"not tried: capture failed at an earlier point of this model ({graph_broken})",
            )
            continue
        cache = g = None
        try:
            C.cleanup()
            torch.cuda.reset_peak_memory_stats()
            cache, reset = static_cache_with_context(model, cfg, b, ctx, args.device)

            def sstep(tok=tok, cache=cache):
                out = model(input_ids=tok, past_key_values=cache, use_cache=True, logits_to_keep=1)
                lg = out.logits[:, -1]
                return lg, lg.argmax(-1)

            # eager static-cache step: reference output, and a time for the log (not a CSV row)
            reset()
            ref_logits, _ = sstep()
            ref_logits = ref_logits.float().clone()
            reset()
            rep_logits, _ = sstep()
            rep = float((rep_logits.float() - ref_logits).norm() / ref_logits.norm().clamp_min(1e-30))
            wu, mn, mx, tgt = C.iters_for("decode", False)
            t_es = C.time_calls(lambda: sstep(), pre=reset, warmup=1, min_iters=3, max_iters=10, target_s=0.2)
            print(
                f"INFO {args.model} decode b={b} ctx={ctx} eager StaticCache step "
                f"{t_es['measured_s'] * 1e3:.3f} ms "
                f"(log only)",
                flush=True,
            )
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(2):
                    reset()
                    sstep()
            torch.cuda.current_stream().wait_stream(s)
            torch.cuda.synchronize()
            reset()
            try:
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    g_logits, g_tok = sstep()
                torch.cuda.synchronize()
            except Exception as e:  # noqa: BLE001
                graph_broken = C.short_exc(e)
                raise RuntimeError(f"CUDA graph capture failed: {graph_broken}") from e
            reset()
            g.replay()
            torch.cuda.synchronize()
            err = float((g_logits.float() - ref_logits).norm() / ref_logits.norm().clamp_min(1e-30))
            check = f"graph_check_rel_err={err:.2e};eager_repeat_rel_err={rep:.2e}"
            wu, mn, mx, tgt = C.iters_for("decode", True)
            t = C.time_calls(
                g.replay, pre=reset, warmup=wu, min_iters=mn, max_iters=mx, target_s=tgt, deadline=deadline
            )
            W.row(
                **base,
                stack="hf-transformers-graph",
                phase="decode",
                batch=b,
                prompt_len=ctx,
                context=ctx,
                graph=1,
                **t,
                notes=f"cache=StaticCache(max_cache_len=context+1,random K/V);torch.cuda.CUDAGraph;"
                f"logits_to_keep=1;argmax;{check};eager_static_step_s={t_es['measured_s']:.4e};{C.gpu_mem_note()}",
            )
        except Exception as e:  # noqa: BLE001
            W.skip(
                **pt, stack="hf-transformers-graph", reason=("OOM: " if C.is_oom(e) else "") + C.short_exc(e)
            )
        g = cache = None
        C.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", default="e2e_out")
    ap.add_argument("--budget-s", type=float, default=120.0)
    ap.add_argument("--quick", action="store_true", help="tiny config of the family (CPU dry run)")
    ap.add_argument("--phases", default="prefill,decode")
    ap.add_argument("--no-graph", action="store_true")
    ap.add_argument(
        "--points", default="", help="only these grid points, e.g. 64x4096,8x1024 (batch x prompt/context)"
    )
    args = ap.parse_args()
    t0 = time.monotonic()
    deadline = t0 + args.budget_s
    args.device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    W = C.Writer(args.out, "e2e_hf")
    torch.set_grad_enabled(False)
    model, cfg, d, info = build(args.model, args.quick, args.device)
    print(
        f"INFO {args.model}: {info['class']} {info['params'] / 1e9:.2f} B params, attn={info['attn_impl']}, "
        f"experts={info['experts_impl']}, built in {time.monotonic() - t0:.1f} s",
        flush=True,
    )
    with open(os.path.join(args.out, f"hf_{args.model}.meta.json"), "w") as f:
        json.dump({**info, **C.versions(), "config": d, "date_utc": C.now_utc()}, f, indent=1, default=str)
    base = dict(
        source="hf-transformers",
        model=args.model,
        gpus=1,
        tp=1,
        ep=1,
        dtype="bf16",
        attn_impl=info["attn_impl"],
        experts_impl=info["experts_impl"],
    )
    with torch.inference_mode():
        if "prefill" in args.phases:
            run_prefill(model, cfg, info, args, W, base, deadline)
        if "decode" in args.phases:
            run_decode(model, cfg, info, args, W, base, deadline)
    print(f"INFO {args.model}: {W.n} rows in {time.monotonic() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    C.main_guard(main)
