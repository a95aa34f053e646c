"""Family 3 -- grouped expert FFN with top-k routing (gated SwiGLU: gate, up, down).

Input: T tokens x [T, d], router top-k ids and weights (softmax of random logits, drawn
outside the timed region). Timed: dispatch (stable sort of the T*k (token, slot) pairs by
expert, per-expert counts and offsets, gather), the experts' gate+up GEMM, SiLU(gate)*up,
down GEMM, and the weighted combine back to [T, d].
impl "grouped_mm": torch._grouped_mm (no host sync; eager and graph for T <= 4096);
impl "loop": one matmul pair per hit expert (host sync on the counts; eager only).

flops = 6 T k d f (elementwise work not counted). bytes = minimal: weights of the experts
actually hit (3 d f x 2 B each, averaged over the rotated routing sets) + x read + out written.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
import moe_ops as M  # noqa: E402
import torch  # noqa: E402

# name: (n_experts, top_k, d_model, d_ff per expert)
CONFIGS = {
    "seed_moe": (64, 2, 1024, 2048),
    "mixtral_8x7b": (8, 2, 4096, 14336),
    "qwen3_30b_a3b": (128, 8, 2048, 768),
    "deepseek_v3": (256, 8, 7168, 2048),
}


def main():
    ap = C.base_parser(__doc__)
    ap.add_argument("--graph-max-tokens", type=int, default=4096)
    ap.add_argument("--max-log2-tokens", type=int, default=16)
    args = ap.parse_args()
    meta = C.collect_metadata("moe_ffn")
    dl = C.Deadline(args.budget_s)
    layout, notes = M.pick_grouped_layout(C.DEVICE)
    C.log(f"grouped_mm layout: {layout} {notes}")
    meta["grouped_mm_layout"] = layout
    meta["grouped_mm_check"] = notes
    rec = C.Recorder(
        args.out, "moe_ffn",
        ["config", "n_experts", "top_k", "d_model", "d_ff", "tokens", "routed_tokens",
         "tokens_per_expert_mean", "tokens_per_expert_max", "experts_hit_mean"],
        meta, extra_columns=["weight_bytes_touched", "check_rel_err"])
    l2 = C.l2_bytes(meta)
    configs = dict(CONFIGS)
    tokens = [1 << p for p in range(0, args.max_log2_tokens + 1)]
    # off-grid token counts (3 x 2^p): held-out validation points
    tokens = sorted(tokens + [3 << p for p in range(0, args.max_log2_tokens - 1)])
    if args.quick:
        configs = {"tiny": (8, 2, 64, 32), "tiny_k4": (16, 4, 64, 48)}
        tokens = [1, 4, 16, 64]
    impls = (["grouped_mm"] if layout else []) + ["loop"]

    for name, (E, k, d, f) in configs.items():
        if dl.passed():
            rec.error(f"{name}: budget exhausted")
            continue
        try:
            W13, W2 = M.make_expert_weights(E, d, f, C.DEVICE, layout=layout or "row")
        except Exception as e:  # noqa: BLE001
            rec.error(f"{name} weights", e)
            C.cleanup()
            continue
        expert_bytes = 3 * d * f * 2
        # correctness of both implementations on fresh random inputs, against float64
        check = {}
        try:
            x = C.rand((7, d), torch.bfloat16)
            w, ids = M.route(C.rand((7, E), torch.float32), k)
            ref = M.experts_reference(x, w, ids, W13, W2)
            for impl in impls:
                fn = M.experts_grouped if impl == "grouped_mm" else M.experts_loop
                check[impl] = C.rel_err(fn(x, w, ids, W13, W2), ref)
            C.log(f"{name}: check rel err {check}")
        except Exception as e:  # noqa: BLE001
            rec.error(f"{name} check", e)
        for T in tokens:
            act_bytes = T * k * (3 * d + 3 * f) * 2 + 2 * T * d * 2
            if act_bytes * 1.5 > C.free_bytes() * 0.8:
                rec.error(f"{name} T={T}: needs ~{act_bytes*1.5/2**30:.1f} GiB activations, skipped")
                continue
            exp_hit = E * (1 - (1 - k / E) ** T)
            n_sets = C.n_sets_for(exp_hit * expert_bytes + 2 * T * d * 2, l2, max_sets=16)
            sets = []
            try:
                for _ in range(n_sets):
                    x = C.rand((T, d), torch.bfloat16)
                    w, ids = M.route(C.rand((T, E), torch.float32), k)
                    sets.append((x, w, ids))
                counts = [torch.bincount(s[2].reshape(-1), minlength=E) for s in sets]
                hit = sum(int((c > 0).sum()) for c in counts) / n_sets
                tmax = max(int(c.max()) for c in counts)
                w_touched = hit * expert_bytes
                nbytes = w_touched + 2 * T * d * 2
                shape = dict(config=name, n_experts=E, top_k=k, d_model=d, d_ff=f, tokens=T,
                             routed_tokens=T * k, tokens_per_expert_mean=T * k / E,
                             tokens_per_expert_max=tmax, experts_hit_mean=hit)
                for impl in impls:
                    if impl == "loop" and (T & (T - 1) or (T.bit_length() - 1) % 2 == 1) \
                            and not args.quick:
                        continue  # loop variant on powers of 4 only (time budget)
                    fnc = M.experts_grouped if impl == "grouped_mm" else M.experts_loop

                    def call(i, fnc=fnc, sets=sets, W13=W13, W2=W2):
                        x, w, ids = sets[i]
                        return fnc(x, w, ids, W13, W2)

                    modes = [False]
                    if impl == "grouped_mm" and C.HAS_CUDA and T <= args.graph_max_tokens:
                        modes.append(True)
                    for g in modes:
                        if dl.passed():
                            rec.error(f"{name} T={T} {impl}: budget exhausted")
                            continue
                        try:
                            t = C.bench(call, n_sets, graph=g, rep_budget_s=args.rep_budget_s,
                                        min_reps=5 if T < 8192 else 3, max_graph_calls=128)
                        except Exception as e:  # noqa: BLE001
                            rec.error(f"{name} T={T} {impl} graph={g}", e)
                            C.cleanup()
                            continue
                        rec.row(op="expert_ffn", impl=impl, dtype="bf16", shape=shape,
                                flops=M.expert_ffn_flops(T, k, d, f), nbytes=nbytes, timing=t,
                                extra=dict(weight_bytes_touched=int(w_touched),
                                           check_rel_err=f"{check.get(impl, float('nan')):.3e}"))
                        C.log(f"{name:14s} T={T:>6d} {impl:10s} {t['mode']:5s} "
                              f"{t['time_s']*1e6:10.1f} us  hit={hit:.1f} max/expert={tmax}")
            except Exception as e:  # noqa: BLE001
                rec.error(f"{name} T={T}", e)
            finally:
                sets = None
                C.cleanup()
        W13 = W2 = None
        C.cleanup()
    rec.close(extra_meta={"grouped_mm_layout": layout, "grouped_mm_check": notes})


if __name__ == "__main__":
    C.run_main(main)
