"""Family 5 -- a whole MoE transformer layer, prefill and decode.

One pre-norm layer: RMSNorm -> fused QKV projection -> SDPA (flash; causal in prefill,
one query token against the KV cache in decode, which also writes the new K/V into the
cache) -> O projection -> residual -> RMSNorm -> router (linear, softmax in fp32, top-k,
renormalised) -> top-k gated-SwiGLU experts (sort-by-expert dispatch + torch._grouped_mm,
see moe_ops.py) -> residual. No RoPE, no biases, no shared experts. bf16 weights and
activations.

flops = attention projections (2 N d (hq+2hkv) dh + 2 N hq dh d) + attention core (prefill
4 b hq dh S(S+1)/2, decode 4 b hq dh (C+1)) + router (2 N d E) + experts (6 N k d f), N
tokens. bytes = minimal: attention + router weights, the experts actually hit (averaged
over the rotated sets), the KV cache read in decode (written in decode: one token), and
the layer input read and output written. Per-component columns are written too.
Decode is timed eagerly and as CUDA-graph replays; small decode problems rotate among
several independent layer instances (as the layers of a real model follow each other).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
import moe_ops as M  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

try:
    from torch.nn.attention import SDPBackend, sdpa_kernel
except Exception:  # noqa: BLE001
    SDPBackend = sdpa_kernel = None

# name: d_model, q heads, kv heads, head dim, experts, top-k, expert d_ff
CONFIGS = {
    "seed_moe": dict(d=1024, hq=16, hkv=16, dh=64, E=64, k=2, f=2048),
    "mixtral_8x7b": dict(d=4096, hq=32, hkv=8, dh=128, E=8, k=2, f=14336),
}
PREFILL = {
    "seed_moe": [(1, 1024), (2, 1024), (4, 1024), (8, 1024), (16, 1024), (32, 1024), (64, 1024),
                 (128, 1024), (1, 2048), (4, 2048), (1, 4096), (2, 4096), (4, 4096), (8, 4096),
                 (1, 10240), (2, 10240), (8, 10240)],
    "mixtral_8x7b": [(1, 1024), (2, 1024), (4, 1024), (16, 1024), (1, 2048), (1, 4096), (2, 4096),
                     (4, 4096), (8, 4096), (1, 8192), (2, 8192), (1, 16384)],
}
DECODE = {
    "seed_moe": [(b, c) for c in (1024, 2048, 4096, 10240) for b in (1, 2, 4, 8, 16, 32, 64, 128)],
    "mixtral_8x7b": [(b, c) for c in (1024, 4096, 16384, 32768)
                     for b in (1, 2, 4, 8, 16, 32, 64, 128)],
}


class Layer:
    def __init__(self, cfg, experts_fn, layout, device=None):
        dev = device or C.DEVICE
        d, hq, hkv, dh, E, f = (cfg[x] for x in ("d", "hq", "hkv", "dh", "E", "f"))
        self.cfg = cfg
        bf = torch.bfloat16
        self.ln1 = 1 + 0.1 * torch.randn(d, device=dev, dtype=bf)
        self.ln2 = 1 + 0.1 * torch.randn(d, device=dev, dtype=bf)
        self.Wqkv = C.rand(((hq + 2 * hkv) * dh, d), bf, scale=d ** -0.5)
        self.Wo = C.rand((d, hq * dh), bf, scale=(hq * dh) ** -0.5)
        self.Wr = C.rand((E, d), bf, scale=d ** -0.5)
        self.W13, self.W2 = M.make_expert_weights(E, d, f, dev, layout=layout)
        self.experts = experts_fn
        self.last_ids = None

    def weight_bytes_dense(self):
        return 2 * (self.Wqkv.numel() + self.Wo.numel() + self.Wr.numel() + 2 * self.ln1.numel())

    def weight_bytes_all(self):
        return self.weight_bytes_dense() + 2 * (self.W13.numel() + self.W2.numel())

    def _attn(self, q, k, v, causal):
        gqa = self.cfg["hq"] != self.cfg["hkv"]
        kw = dict(is_causal=causal)
        if gqa:
            kw["enable_gqa"] = True
        if sdpa_kernel is not None and C.HAS_CUDA:
            with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                return F.scaled_dot_product_attention(q, k, v, **kw)
        return F.scaled_dot_product_attention(q, k, v, **kw)

    def _moe(self, x1, keep_ids):
        c = self.cfg
        h2 = M.rmsnorm(x1, self.ln2)
        logits = F.linear(h2, self.Wr)
        w, ids = M.route(logits, c["k"])
        if keep_ids:
            self.last_ids = ids
        return x1 + self.experts(h2, w, ids, self.W13, self.W2)

    def prefill(self, x, keep_ids=False):
        c = self.cfg
        b, S, d = x.shape
        hq, hkv, dh = c["hq"], c["hkv"], c["dh"]
        h = M.rmsnorm(x, self.ln1)
        qkv = F.linear(h, self.Wqkv)
        q, k, v = qkv.split([hq * dh, hkv * dh, hkv * dh], dim=-1)
        q = q.view(b, S, hq, dh).transpose(1, 2)
        k = k.view(b, S, hkv, dh).transpose(1, 2)
        v = v.view(b, S, hkv, dh).transpose(1, 2)
        a = self._attn(q, k, v, True)
        o = F.linear(a.transpose(1, 2).reshape(b * S, hq * dh), self.Wo)
        x1 = x.view(b * S, d) + o
        return self._moe(x1, keep_ids).view(b, S, d)

    def decode(self, x, kc, vc, pos, keep_ids=False):
        """x [b, 1, d]; kc, vc [b, hkv, pos+1, dh]: the new token goes to slot pos."""
        c = self.cfg
        b, _, d = x.shape
        hq, hkv, dh = c["hq"], c["hkv"], c["dh"]
        h = M.rmsnorm(x, self.ln1)
        qkv = F.linear(h, self.Wqkv)
        q, k, v = qkv.split([hq * dh, hkv * dh, hkv * dh], dim=-1)
        q = q.view(b, 1, hq, dh).transpose(1, 2)
        kc[:, :, pos:pos + 1].copy_(k.view(b, 1, hkv, dh).transpose(1, 2))
        vc[:, :, pos:pos + 1].copy_(v.view(b, 1, hkv, dh).transpose(1, 2))
        a = self._attn(q, kc, vc, False)
        o = F.linear(a.transpose(1, 2).reshape(b, hq * dh), self.Wo)
        x1 = x.view(b, d) + o
        return self._moe(x1, keep_ids).view(b, 1, d)


def reference_check(cfg, experts_fn, layout):
    """Decode of token S against a cache filled by prefill of tokens 0..S-1 must equal the
    last row of prefill over S+1 tokens (same weights, fresh random inputs)."""
    small = dict(cfg)
    layer = Layer(small, experts_fn, layout)
    b, S = 2, 17
    x = C.rand((b, S + 1, cfg["d"]), torch.bfloat16)
    full = layer.prefill(x)
    hq, hkv, dh = cfg["hq"], cfg["hkv"], cfg["dh"]
    h = M.rmsnorm(x, layer.ln1)
    qkv = F.linear(h, layer.Wqkv)
    _, k, v = qkv.split([hq * dh, hkv * dh, hkv * dh], dim=-1)
    kc = k.view(b, S + 1, hkv, dh).transpose(1, 2).contiguous()
    vc = v.view(b, S + 1, hkv, dh).transpose(1, 2).contiguous()
    kc[:, :, S] = 7.0  # poison the slot decode must write
    vc[:, :, S] = 7.0
    dec = layer.decode(x[:, S:S + 1], kc, vc, S)
    return C.rel_err(dec[:, 0], full[:, S])


def main():
    ap = C.base_parser(__doc__)
    ap.add_argument("--max-set-bytes", type=float, default=24e9)
    args = ap.parse_args()
    meta = C.collect_metadata("moe_layer")
    dl = C.Deadline(args.budget_s)
    layout, notes = M.pick_grouped_layout(C.DEVICE)
    impl = "grouped_mm" if layout else "loop"
    experts_fn = M.experts_grouped if layout else M.experts_loop
    layout = layout or "row"
    C.log(f"experts impl {impl}, layout {layout}: {notes}")
    rec = C.Recorder(
        args.out, "moe_layer",
        ["config", "phase", "batch", "seq_len", "context_len", "tokens", "d_model", "n_heads_q",
         "n_heads_kv", "head_dim", "n_experts", "top_k", "d_ff"],
        meta,
        extra_columns=["flops_attn_proj", "flops_attn_core", "flops_router", "flops_experts",
                       "bytes_weights_dense", "bytes_weights_experts", "bytes_kv", "bytes_act",
                       "experts_hit_mean", "tokens_per_expert_max", "check_rel_err"])
    l2 = C.l2_bytes(meta)
    configs, prefill, decode = CONFIGS, PREFILL, DECODE
    if args.quick:
        configs = {"tiny": dict(d=64, hq=4, hkv=4, dh=16, E=8, k=2, f=96),
                   "tiny_gqa": dict(d=128, hq=8, hkv=2, dh=16, E=4, k=2, f=128)}
        prefill = {n: [(1, 64), (2, 128)] for n in configs}
        decode = {n: [(1, 128), (4, 256)] for n in configs}

    for name, cfg in configs.items():
        d, hq, hkv, dh, E, k, f = (cfg[x] for x in ("d", "hq", "hkv", "dh", "E", "k", "f"))
        try:
            chk = reference_check(cfg, experts_fn, layout)
            C.log(f"{name}: decode-vs-prefill rel err {chk:.2e}")
        except Exception as e:  # noqa: BLE001
            chk = float("nan")
            rec.error(f"{name} check", e)
        C.cleanup()
        jobs = [("decode", b, c) for b, c in decode[name]] + [("prefill", b, s) for b, s in prefill[name]]
        for phase, b, L in jobs:
            if dl.passed():
                rec.error(f"{name} {phase} b={b} L={L}: budget exhausted")
                continue
            N = b if phase == "decode" else b * L
            expert_bytes = 3 * d * f * 2
            exp_hit = E * (1 - (1 - k / E) ** N)
            kv_bytes = 2 * b * hkv * (L + 1) * dh * 2 if phase == "decode" else 0
            dense_bytes = 2 * ((hq + 2 * hkv) * dh * d + hq * dh * d + E * d + 2 * d)
            touched = dense_bytes + exp_hit * expert_bytes + kv_bytes + 2 * N * d * 2
            layer_bytes = dense_bytes + E * expert_bytes
            act_peak = N * (k * (3 * d + 3 * f) * 2 + 12 * d * 2 + (hq + 2 * hkv) * dh * 2)
            per_set = layer_bytes + kv_bytes + N * d * 2
            n_sets = C.n_sets_for(touched, l2, max_sets=8) if phase == "decode" else 1
            n_sets = max(1, min(n_sets, int(args.max_set_bytes // per_set)))
            if n_sets * per_set + act_peak * 1.5 > 0.85 * C.free_bytes():
                rec.error(f"{name} {phase} b={b} L={L}: ~{(per_set+act_peak)/2**30:.1f} GiB, over memory")
                continue
            sets = None
            try:
                sets = []
                for _ in range(n_sets):
                    layer = Layer(cfg, experts_fn, layout)
                    if phase == "decode":
                        x = C.rand((b, 1, d), torch.bfloat16)
                        kc = C.rand((b, hkv, L + 1, dh), torch.bfloat16)
                        vc = C.rand((b, hkv, L + 1, dh), torch.bfloat16)
                        sets.append((layer, x, kc, vc))
                    else:
                        sets.append((layer, C.rand((b, L, d), torch.bfloat16)))

                def call(i, keep=False, sets=sets, phase=phase, L=L):
                    s = sets[i]
                    if phase == "decode":
                        return s[0].decode(s[1], s[2], s[3], L, keep_ids=keep)
                    return s[0].prefill(s[1], keep_ids=keep)

                hits, tmax = [], 0
                for i in range(n_sets):
                    out = call(i, keep=True)
                    if not torch.isfinite(out).all():
                        raise RuntimeError("non-finite layer output")
                    cnt = torch.bincount(sets[i][0].last_ids.reshape(-1), minlength=E)
                    hits.append(int((cnt > 0).sum()))
                    tmax = max(tmax, int(cnt.max()))
                    sets[i][0].last_ids = None
                hit = sum(hits) / len(hits)
                fl = dict(
                    flops_attn_proj=2 * N * d * (hq + 2 * hkv) * dh + 2 * N * hq * dh * d,
                    flops_attn_core=(4 * b * hq * dh * L * (L + 1) // 2 if phase == "prefill"
                                     else 4 * b * hq * dh * (L + 1)),
                    flops_router=2 * N * d * E,
                    flops_experts=M.expert_ffn_flops(N, k, d, f),
                )
                by = dict(bytes_weights_dense=dense_bytes, bytes_weights_experts=int(hit * expert_bytes),
                          bytes_kv=kv_bytes, bytes_act=2 * N * d * 2)
                graphable = C.HAS_CUDA and phase == "decode" and impl == "grouped_mm"
                modes = [False] + ([True] if graphable else [])
                for g in modes:
                    t = C.bench(call, n_sets, graph=g, rep_budget_s=args.rep_budget_s * 1.5,
                                min_reps=5 if N < 16384 else 3, max_graph_calls=64)
                    rec.row(op="moe_layer", impl=f"sdpa_flash+{impl}", dtype="bf16",
                            shape=dict(config=name, phase=phase, batch=b,
                                       seq_len=L if phase == "prefill" else 1,
                                       context_len=L if phase == "decode" else 0, tokens=N,
                                       d_model=d, n_heads_q=hq, n_heads_kv=hkv, head_dim=dh,
                                       n_experts=E, top_k=k, d_ff=f),
                            flops=sum(fl.values()), nbytes=sum(by.values()), timing=t,
                            extra=dict(**fl, **by, experts_hit_mean=hit, tokens_per_expert_max=tmax,
                                       check_rel_err=f"{chk:.3e}"))
                    C.log(f"{name:13s} {phase:7s} b={b:>4d} L={L:>6d} {t['mode']:5s} sets={n_sets} "
                          f"{t['time_s']*1e3:9.3f} ms  {sum(fl.values())/t['time_s']/1e12:7.1f} TFLOP/s "
                          f"{sum(by.values())/t['time_s']/1e12:6.2f} TB/s hit={hit:.1f}")
            except Exception as e:  # noqa: BLE001
                rec.error(f"{name} {phase} b={b} L={L}", e)
            finally:
                sets = None
                C.cleanup()
    rec.close(extra_meta={"experts_impl": impl, "grouped_mm_check": notes})


if __name__ == "__main__":
    C.run_main(main)
