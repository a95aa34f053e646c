"""A small engine-style reference executor for MoE models, written for moekit (no code from elsewhere).

    python3 benchmarks/gpu/e2e/ref_executor.py --model qwen3-30b-a3b --out OUT [--budget-s 90] [--quick]
    torchrun --standalone --nproc-per-node N benchmarks/gpu/e2e/ref_executor.py --model ... --out OUT

It reads the same config.json as hf_e2e.py, makes random bf16 weights directly on the GPU and runs:
* prefill: embeddings, then per layer norm -> one fused QKV GEMM -> RoPE -> K/V written into a static
  cache -> SDPA flash attention (causal, native GQA via enable_gqa) -> O GEMM -> residual -> norm ->
  router -> routed experts -> residual; final norm, LM head on the last token only, argmax;
* decode: the same with one new token per sequence against a static cache holding `context`
  tokens (random K/V), eager or as one CUDA graph per (batch, context), captured once and replayed.

Kernels and fusions (plain PyTorch, no custom kernels, no torch.compile):
* one QKV GEMM (q, k, v weights concatenated) and one gate+up GEMM per expert group;
* RMSNorm / LayerNorm through F.rms_norm / F.layer_norm; RoPE as one complex multiply over adjacent
  pairs (the RoPE tables' values do not change the work: YaRN / LongRoPE scaling is not applied);
* routed experts: router GEMM, softmax + top-k (gpt-oss: top-k then softmax; Phi-3.5-MoE: the
  inference form of its sparsemixer top-2), stable dispatch by sorting the (token, slot) pairs by
  expert id, per-expert counts by index_add_ and offsets by cumsum (no host sync, graph-safe), a
  gather, torch._grouped_mm for gate+up, SiLU*up (gpt-oss: its clamped SwiGLU with biases),
  torch._grouped_mm for down, the router weights, and an index_copy_ + sum over the top-k slots;
  prefills of more than 32768 tokens run the experts in chunks of 32768 tokens (memory only);
* shared experts (DeepSeek) and dense first layers (first_k_dense_replace) as gate_up/down GEMMs;
* attention: SDPA with the flash backend forced and enable_gqa=True (prefill causal; decode
  non-causal against the context+1 cached positions). gpt-oss: torch.ops.aten._flash_attention_forward
  (the same FlashAttention-2 kernel, which takes GQA, a sliding window and returns the
  log-sum-exp), with the attention sinks applied exactly as out * sigmoid(lse - sink); its sliding
  layers use a 128-token window in prefill and attend only to the last 128 cached positions in
  decode. If that op fails its self-check, the run falls back to SDPA flash without sinks and
  window and says so in attn_impl;
* MLA (DeepSeek-V2-Lite): the cache holds the compressed latent (kv_lora_rank + rope dims per token,
  one copy for all heads). Prefill expands K and V through kv_b_proj and runs SDPA flash with V
  zero-padded to the QK head dim (192). Decode is absorbed: q_nope is multiplied into the latent
  space (W_UK), scores and the weighted sum run directly on the latent cache, and W_UV maps the
  result back per head; no per-step re-expansion of the cache. The attention core of absorbed
  decode is SDPA (efficient backend; head dims 576/512 are beyond flash) if it passes its
  self-check, else two batched matmuls and a softmax; attn_impl says which.
* parallelism: world size W from torchrun. Attention is tensor-parallel (heads split over ranks,
  KV heads replicated when fewer than W; MLA latent projections replicated), dense and shared MLPs
  are tensor-parallel, routed experts are expert-parallel (E/W experts per rank). Tokens are
  replicated on every rank after the attention all-reduce, so expert parallelism needs no
  all-to-all: each rank runs its own experts for all tokens and one all-reduce per layer sums the
  routed, shared and dense partial outputs. The LM head is split over the vocabulary and its
  logits all-gathered. W = 1 skips every collective.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_common as C  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402

GMM = getattr(torch.nn.functional, "grouped_mm", None) or getattr(torch, "_grouped_mm", None)
MOE_CHUNK = 32768


# --------------------------------------------------------------------------- spec
class Spec:
    """The numbers of one model, normalised over the families' config.json spellings."""

    def __init__(self, d: dict):
        self.raw = d
        mt = d["model_type"]
        self.family = mt
        self.d = d["hidden_size"]
        self.L = d["num_hidden_layers"]
        self.V = d["vocab_size"]
        self.Hq = d["num_attention_heads"]
        self.Hkv = d.get("num_key_value_heads") or self.Hq
        self.Dh = d.get("head_dim") or self.d // self.Hq
        self.eps = d.get("rms_norm_eps", 1e-6)
        self.norm = "ln" if mt == "phimoe" else "rms"
        self.qkv_bias = bool(d.get("attention_bias", False))
        self.o_bias = bool(d.get("attention_bias", False))
        self.qk_norm = {"qwen3_moe": "head", "olmoe": "full"}.get(mt, "none")
        self.lm_head_bias = bool(d.get("lm_head_bias", False))
        self.rope_theta = float(
            d.get("rope_theta", (d.get("rope_parameters") or {}).get("rope_theta", 10000.0))
        )
        self.sinks = mt == "gpt_oss"
        lt = d.get("layer_types")
        sw = d.get("sliding_window")
        if mt == "gpt_oss":
            self.window = [sw if t == "sliding_attention" else None for t in lt]
        elif mt == "phimoe" and sw:
            self.window = [sw] * self.L  # 131072: wider than any context run here
        else:
            self.window = [None] * self.L
        # MLA
        self.mla = mt == "deepseek_v2"
        if self.mla:
            assert d.get("q_lora_rank") is None, "q_lora_rank is not implemented (DeepSeek-V2-Lite has none)"
            self.kv_lora = d["kv_lora_rank"]
            self.nope = d["qk_nope_head_dim"]
            self.rope_dim = d["qk_rope_head_dim"]
            self.vdim = d["v_head_dim"]
            self.qk_dim = self.nope + self.rope_dim
            sc = self.qk_dim**-0.5
            rs = d.get("rope_scaling") or {}
            if rs.get("mscale_all_dim") and rs.get("factor", 1) > 1:
                m = 0.1 * rs["mscale_all_dim"] * math.log(rs["factor"]) + 1.0
                sc = sc * m * m
            self.scale = sc
        else:
            self.scale = self.Dh**-0.5
        # MoE
        self.E = d.get("num_experts") or d.get("num_local_experts") or d.get("n_routed_experts")
        self.k = d.get("num_experts_per_tok") or d.get("experts_per_token")
        if mt in ("qwen3_moe", "deepseek_v2"):
            self.F = d["moe_intermediate_size"]
        else:
            self.F = d["intermediate_size"]
        self.router = {"gpt_oss": "topk_softmax", "phimoe": "sparsemixer"}.get(mt, "softmax_topk")
        self.renorm = {"mixtral": True, "gpt_oss": True}.get(mt, bool(d.get("norm_topk_prob", False)))
        self.router_bias = mt == "gpt_oss"
        self.expert_bias = mt == "gpt_oss"
        self.act = "gptoss" if mt == "gpt_oss" else "silu"
        self.routed_scale = float(d.get("routed_scaling_factor", 1.0)) if mt == "deepseek_v2" else 1.0
        self.shared_F = (
            d["moe_intermediate_size"] * d.get("n_shared_experts", 0) if mt == "deepseek_v2" else 0
        )
        self.dense_layers = d.get("first_k_dense_replace", 0) if mt == "deepseek_v2" else 0
        if mt == "qwen3_moe" and d.get("mlp_only_layers"):
            raise NotImplementedError("mlp_only_layers")
        self.dense_F = d["intermediate_size"]
        self.jitter = float(d.get("router_jitter_noise", 0.01))

    def kv_heads_local(self, W):
        return max(1, self.Hkv // W)


# --------------------------------------------------------------------------- distributed
class Dist:
    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            torch.cuda.set_device(self.local)
            self.device = torch.device("cuda", self.local)
        else:
            self.device = torch.device("cpu")
        if self.world > 1:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")

    def all_reduce(self, x):
        if self.world > 1:
            dist.all_reduce(x)
        return x

    def all_gather_last(self, x):
        if self.world == 1:
            return x
        parts = [torch.empty_like(x) for _ in range(self.world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=-1)


# --------------------------------------------------------------------------- weights
class Maker:
    """Random bf16 tensors on the device. Replicated tensors get the same values on every rank."""

    def __init__(self, device, rank, dtype=torch.bfloat16):
        self.device, self.rank, self.dtype = device, rank, dtype
        self.numel = 0

    def __call__(self, name, shape, std=0.02, replicated=False, fill=None):
        t = torch.empty(shape, device=self.device, dtype=self.dtype)
        if fill is not None:
            t.fill_(fill)
        else:
            seed = zlib.crc32(name.encode()) + (0 if replicated else 7919 * (self.rank + 1))
            g = torch.Generator(device=self.device).manual_seed(seed)
            t.normal_(0.0, std, generator=g)
        self.numel += t.numel()
        return t


def rope_table(dim, max_pos, theta, device):
    inv = 1.0 / (theta ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim))
    ang = torch.outer(torch.arange(max_pos, device=device, dtype=torch.float32), inv)
    return torch.polar(torch.ones_like(ang), ang)  # complex64 [max_pos, dim/2]


def apply_rope(x, freqs):
    """x [..., S, H, D] (bf16), freqs [S, D/2] complex -> rotated, same dtype. Adjacent pairs rotate."""
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    out = torch.view_as_real(xc * freqs.unsqueeze(-2)).flatten(-2)
    return out.to(x.dtype)


# --------------------------------------------------------------------------- attention cores
def sdpa_flash(q, k, v, causal):
    """q [B,S,Hq,D], k/v [B,Sk,Hkv,D] (any strides, last dim contiguous) -> [B,S,Hq,D]."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    qt, kt, vt = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    gqa = q.shape[2] != k.shape[2]
    if q.is_cuda:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            o = F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal, enable_gqa=gqa)
    else:
        o = F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal, enable_gqa=gqa)
    return o.transpose(1, 2)


def attn_sinks_math(q, k, v, sinks, scale, causal, window):
    """Exact reference (float32 math): softmax over [scores, sink] with causal / sliding mask."""
    B, S, Hq, D = q.shape
    Sk, Hkv = k.shape[1], k.shape[2]
    g = Hq // Hkv
    kk = k.float().repeat_interleave(g, dim=2)
    vv = v.float().repeat_interleave(g, dim=2)
    s = torch.einsum("bqhd,bkhd->bhqk", q.float(), kk) * scale
    qi = torch.arange(S, device=q.device)[:, None] + (Sk - S)  # bottom-right aligned positions
    ki = torch.arange(Sk, device=q.device)[None, :]
    mask = torch.ones(S, Sk, dtype=torch.bool, device=q.device)
    if causal:
        mask &= ki <= qi
    if window:
        mask &= qi - ki < window
    s = s.masked_fill(~mask, float("-inf"))
    snk = sinks.float().view(1, Hq, 1, 1).expand(B, Hq, S, 1)
    p = torch.softmax(torch.cat([s, snk], dim=-1), dim=-1)[..., :-1]
    return torch.einsum("bhqk,bkhd->bqhd", p, vv).to(q.dtype)


def attn_sinks_flash(q, k, v, sinks, scale, causal, window):
    """FlashAttention-2 through aten._flash_attention_forward: GQA, window, LSE -> sinks exactly."""
    q, k, v = (t if t.is_contiguous() else t.contiguous() for t in (q, k, v))
    S, Sk = q.shape[1], k.shape[1]
    wl = (window - 1) if window else None
    wr = 0 if window else None
    out, lse = torch.ops.aten._flash_attention_forward(
        q, k, v, None, None, S, Sk, 0.0, causal, False, scale=scale, window_size_left=wl, window_size_right=wr
    )[:2]
    # lse [B, Hq, S] (float32); sink adds exp(sink) to the softmax denominator
    corr = torch.sigmoid(lse - sinks.float().view(1, -1, 1)).transpose(1, 2).unsqueeze(-1)
    return out * corr.to(out.dtype)


def mla_core_bmm(qc, lat, vdim, scale):
    """qc [B,H,Dl], lat [B,Sk,Dl] -> [B,H,vdim]: latent-cache scores, softmax, sum of lat[..., :vdim]."""
    s = torch.bmm(qc, lat.transpose(1, 2))
    p = torch.softmax(s.float() * scale, dim=-1).to(qc.dtype)
    return torch.bmm(p, lat[..., :vdim])


def mla_core_sdpa(qc, lat, vdim, scale):
    """Same as mla_core_bmm through one SDPA call (the H heads as H query rows of one shared head)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q = qc.unsqueeze(1)  # [B,1,H,Dl]
    k = lat.unsqueeze(1)  # [B,1,Sk,Dl]
    v = lat[..., :vdim].unsqueeze(1)  # [B,1,Sk,vdim]
    with sdpa_kernel(SDPBackend.EFFICIENT_ATTENTION):
        o = F.scaled_dot_product_attention(q, k, v, scale=scale)
    return o.squeeze(1)


# --------------------------------------------------------------------------- model
class RefModel:
    def __init__(self, spec: Spec, D: Dist, max_pos: int):
        self.s, self.D = spec, D
        W, r = D.world, D.rank
        dev = D.device
        mk = Maker(dev, r)
        self.mk = mk
        s = spec
        if s.Hq % W:
            raise ValueError(f"{s.Hq} heads not divisible by world size {W}")
        if s.E % W:
            raise ValueError(f"{s.E} experts not divisible by world size {W}")
        self.hq = s.Hq // W
        self.hkv = s.kv_heads_local(W)
        self.E_loc = s.E // W
        self.e0 = r * self.E_loc
        self.V_loc = s.V // W
        if s.V % W:
            raise ValueError(f"vocab {s.V} not divisible by world size {W}")
        self.embed = mk("embed", (s.V, s.d), replicated=True)
        self.layers = []
        for i in range(s.L):
            p = {}
            nm = f"l{i}."
            p["ln1"] = mk(nm + "ln1", (s.d,), fill=1.0)
            p["ln2"] = mk(nm + "ln2", (s.d,), fill=1.0)
            if s.norm == "ln":
                p["ln1_b"] = mk(nm + "ln1b", (s.d,), replicated=True)
                p["ln2_b"] = mk(nm + "ln2b", (s.d,), replicated=True)
            if s.mla:
                p["wq"] = mk(nm + "wq", (self.hq * s.qk_dim, s.d))
                p["wkva"] = mk(nm + "wkva", (s.kv_lora + s.rope_dim, s.d), replicated=True)
                p["kva_norm"] = mk(nm + "kvan", (s.kv_lora,), fill=1.0)
                wkvb = mk(nm + "wkvb", (self.hq, s.nope + s.vdim, s.kv_lora))
                p["wkvb"] = wkvb.view(self.hq * (s.nope + s.vdim), s.kv_lora)
                p["w_uk"] = wkvb[:, : s.nope, :]  # [h, nope, lat] view
                p["w_uvT"] = wkvb[:, s.nope :, :].transpose(1, 2).contiguous()  # [h, lat, vdim]
                p["wo"] = mk(nm + "wo", (s.d, self.hq * s.vdim))
            else:
                p["wqkv"] = mk(nm + "wqkv", ((self.hq + 2 * self.hkv) * s.Dh, s.d))
                if s.qkv_bias:
                    p["bqkv"] = mk(nm + "bqkv", ((self.hq + 2 * self.hkv) * s.Dh,))
                p["wo"] = mk(nm + "wo", (s.d, self.hq * s.Dh))
                if s.o_bias:
                    p["bo"] = mk(nm + "bo", (s.d,), replicated=True)
                if s.qk_norm == "head":
                    p["qn"] = mk(nm + "qn", (s.Dh,), fill=1.0)
                    p["kn"] = mk(nm + "kn", (s.Dh,), fill=1.0)
                elif s.qk_norm == "full":
                    p["qn"] = mk(nm + "qn", (self.hq * s.Dh,), fill=1.0)
                    p["kn"] = mk(nm + "kn", (self.hkv * s.Dh,), fill=1.0)
                if s.sinks:
                    p["sinks"] = mk(nm + "sinks", (self.hq,), std=1.0)
            if i < s.dense_layers:
                f = s.dense_F // W
                p["w13"] = mk(nm + "w13", (2 * f, s.d))
                p["w2"] = mk(nm + "w2", (s.d, f))
            else:
                p["router"] = mk(nm + "router", (s.E, s.d), replicated=True)
                if s.router_bias:
                    p["router_b"] = mk(nm + "routerb", (s.E,), replicated=True)
                p["e13"] = mk(nm + "e13", (self.E_loc, 2 * s.F, s.d))  # [E, 2F, d]: gate rows, then up rows
                p["e2"] = mk(nm + "e2", (self.E_loc, s.d, s.F))  # [E, d, F]
                if s.expert_bias:
                    p["e13_b"] = mk(nm + "e13b", (self.E_loc, 2 * s.F))
                    p["e2_b"] = mk(nm + "e2b", (self.E_loc, s.d))
                if s.shared_F:
                    f = s.shared_F // W
                    p["s13"] = mk(nm + "s13", (2 * f, s.d))
                    p["s2"] = mk(nm + "s2", (s.d, f))
            self.layers.append(p)
        self.norm_f = mk("normf", (s.d,), fill=1.0)
        self.norm_f_b = mk("normfb", (s.d,), replicated=True) if s.norm == "ln" else None
        self.lm_head = mk("lm_head", (self.V_loc, s.d))
        self.lm_head_b = mk("lm_head_b", (self.V_loc,)) if s.lm_head_bias else None
        rd = s.rope_dim if s.mla else s.Dh
        self.freqs = rope_table(rd, max_pos, s.rope_theta, dev)
        self.attn_mode = "sdpa"  # gpt-oss: 'flash-sinks' | 'sdpa-nosinks' | 'math-sinks'
        self.mla_core = mla_core_bmm
        self.mla_core_name = "bmm-softmax"
        self.moe_chunk = MOE_CHUNK

    # ---------------------------------------------------------------- pieces
    def _norm(self, x, w, b=None):
        if self.s.norm == "ln":
            return F.layer_norm(x, (x.shape[-1],), w, b, self.s.eps)
        return F.rms_norm(x, (x.shape[-1],), w, self.s.eps)

    def attn_impl_name(self):
        s = self.s
        if s.mla:
            return f"mla(prefill:sdpa-flash-vpad;decode:absorbed-{self.mla_core_name})"
        if s.sinks:
            return {
                "flash-sinks": "aten._flash_attention_forward(gqa,window,sinks-via-lse)",
                "math-sinks": "math(gqa,window,sinks)",
                "sdpa-nosinks": "sdpa-flash(gqa;sinks,window DROPPED)",
            }[self.attn_mode]
        return "sdpa-flash(enable_gqa)" if self.D.device.type == "cuda" else "sdpa(cpu)"

    def _attn_core(self, i, q, k, v, causal, decode_window_slice=False):
        s, p = self.s, self.layers[i]
        win = s.window[i]
        if s.sinks:
            if decode_window_slice and win and k.shape[1] > win:
                k, v = k[:, -win:], v[:, -win:]
                win_arg = None
            else:
                win_arg = win
            if self.attn_mode == "flash-sinks":
                return attn_sinks_flash(q, k, v, p["sinks"], s.scale, causal, win_arg)
            if self.attn_mode == "math-sinks":
                return attn_sinks_math(q, k, v, p["sinks"], s.scale, causal, win_arg)
            return sdpa_flash(q, k, v, causal)
        return sdpa_flash(q, k, v, causal)

    def attention(self, i, x, cache, pos0, decode):
        """x [B,S,d] -> partial o-proj output [B,S,d]; writes the cache at pos0..pos0+S-1."""
        s, p = self.s, self.layers[i]
        B, S, _ = x.shape
        fr = self.freqs[pos0 : pos0 + S]
        if s.mla:
            return self._mla(i, x, cache, pos0, decode, fr)
        qkv = F.linear(x, p["wqkv"], p.get("bqkv"))
        hq, hkv, Dh = self.hq, self.hkv, s.Dh
        q, k, v = qkv.split([hq * Dh, hkv * Dh, hkv * Dh], dim=-1)
        if s.qk_norm == "full":
            q = F.rms_norm(q, (q.shape[-1],), p["qn"], s.eps)
            k = F.rms_norm(k, (k.shape[-1],), p["kn"], s.eps)
        q = q.view(B, S, hq, Dh)
        k = k.view(B, S, hkv, Dh)
        v = v.view(B, S, hkv, Dh)
        if s.qk_norm == "head":
            q = F.rms_norm(q, (Dh,), p["qn"], s.eps)
            k = F.rms_norm(k, (Dh,), p["kn"], s.eps)
        q = apply_rope(q, fr)
        k = apply_rope(k, fr)
        kc, vc = cache[i]
        kc[:, pos0 : pos0 + S] = k
        vc[:, pos0 : pos0 + S] = v
        if decode:
            o = self._attn_core(
                i, q, kc[:, : pos0 + S], vc[:, : pos0 + S], causal=False, decode_window_slice=True
            )
        else:
            o = self._attn_core(i, q, k, v, causal=True)
        o = o.reshape(B, S, hq * Dh)
        bo = p.get("bo") if self.D.rank == 0 else None
        return F.linear(o, p["wo"], bo)

    def _mla(self, i, x, cache, pos0, decode, fr):
        s, p = self.s, self.layers[i]
        B, S, _ = x.shape
        h = self.hq
        q = F.linear(x, p["wq"]).view(B, S, h, s.qk_dim)
        q_nope, q_pe = q.split([s.nope, s.rope_dim], dim=-1)
        q_pe = apply_rope(q_pe, fr)
        kva = F.linear(x, p["wkva"])
        c, k_pe = kva.split([s.kv_lora, s.rope_dim], dim=-1)
        c = F.rms_norm(c, (s.kv_lora,), p["kva_norm"], s.eps)
        k_pe = apply_rope(k_pe.unsqueeze(2), fr).squeeze(2)
        lat = cache[i][0]  # [B, Smax, kv_lora + rope]
        lat[:, pos0 : pos0 + S, : s.kv_lora] = c
        lat[:, pos0 : pos0 + S, s.kv_lora :] = k_pe
        if not decode:
            kv = F.linear(c, p["wkvb"]).view(B, S, h, s.nope + s.vdim)
            k_nope, v = kv.split([s.nope, s.vdim], dim=-1)
            k = torch.cat([k_nope, k_pe.unsqueeze(2).expand(B, S, h, s.rope_dim)], dim=-1)
            qf = torch.cat([q_nope, q_pe], dim=-1)
            vp = F.pad(v, (0, s.qk_dim - s.vdim))
            if x.is_cuda:
                from torch.nn.attention import SDPBackend, sdpa_kernel

                with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                    o = F.scaled_dot_product_attention(
                        qf.transpose(1, 2),
                        k.transpose(1, 2),
                        vp.transpose(1, 2),
                        is_causal=True,
                        scale=s.scale,
                    )
            else:
                o = F.scaled_dot_product_attention(
                    qf.transpose(1, 2), k.transpose(1, 2), vp.transpose(1, 2), is_causal=True, scale=s.scale
                )
            o = o.transpose(1, 2)[..., : s.vdim].reshape(B, S, h * s.vdim)
        else:
            assert S == 1
            qn = q_nope[:, 0].transpose(0, 1)  # [h, B, nope]
            q_abs = torch.bmm(qn, p["w_uk"]).transpose(0, 1)  # [B, h, lat]
            qc = torch.cat([q_abs, q_pe[:, 0]], dim=-1)  # [B, h, lat + rope]
            o_lat = self.mla_core(qc, lat[:, : pos0 + 1], s.kv_lora, s.scale)  # [B, h, lat]
            o = torch.bmm(o_lat.transpose(0, 1), p["w_uvT"])  # [h, B, vdim]
            o = o.transpose(0, 1).reshape(B, 1, h * s.vdim)
        return F.linear(o, p["wo"])

    def _route(self, p, x):
        s = self.s
        logits = F.linear(x, p["router"], p.get("router_b"))
        if s.router == "topk_softmax":
            tv, ti = torch.topk(logits, s.k, dim=-1)
            w = torch.softmax(tv.float(), dim=-1)
        elif s.router == "sparsemixer":
            w, ti = self._sparsemixer(logits.float())
        else:
            probs = torch.softmax(logits.float(), dim=-1)
            w, ti = torch.topk(probs, s.k, dim=-1)
            if s.renorm:
                w = w / w.sum(dim=-1, keepdim=True)
        if s.routed_scale != 1.0:
            w = w * s.routed_scale
        return w, ti

    def _sparsemixer(self, sc):
        """Inference form of Phi-3.5-MoE's sparsemixer (top-2): two masked softmaxes."""
        eps2 = 2 * self.s.jitter
        ws, ids = [], []
        cur = sc
        for _ in range(2):
            m, idx = cur.max(dim=-1, keepdim=True)
            factor = sc.abs().clamp(min=m)
            masked = cur.masked_fill((m - sc) / factor > eps2, float("-inf"))
            ws.append(torch.softmax(masked, dim=-1).gather(-1, idx))
            ids.append(idx)
            cur = cur.scatter(-1, idx, float("-inf"))
        return torch.cat(ws, -1), torch.cat(ids, -1)

    def _act(self, h, p, sorted_ids):
        s = self.s
        if s.act == "gptoss":
            if "e13_b" in p:
                h = h + p["e13_b"][sorted_ids]
            g, u = h.chunk(2, dim=-1)
            g = g.clamp(max=7.0)
            u = u.clamp(min=-7.0, max=7.0)
            return (u + 1) * (g * torch.sigmoid(g * 1.702))
        g, u = h.chunk(2, dim=-1)
        return F.silu(g) * u

    def _experts(self, p, x):
        """x [T,d] -> this rank's routed-expert partial output [T,d]."""
        s = self.s
        T = x.shape[0]
        w, ids = self._route(p, x)
        k = ids.shape[1]
        flat = ids.reshape(-1)
        W = self.D.world
        if W > 1:
            loc = flat - self.e0
            valid = (loc >= 0) & (loc < self.E_loc)
            loc = torch.where(valid, loc, torch.full_like(loc, self.E_loc))
        else:
            loc = flat
        sorted_ids, order = torch.sort(loc, stable=True)
        counts = torch.zeros(self.E_loc + 1, dtype=torch.int32, device=x.device)
        counts.index_add_(0, sorted_ids, torch.ones_like(sorted_ids, dtype=torch.int32))
        offs = torch.cumsum(counts[: self.E_loc], 0, dtype=torch.int32)
        xs = x.index_select(0, order // k)
        h = GMM(xs, p["e13"].transpose(1, 2), offs=offs)
        sid = sorted_ids.clamp(max=self.E_loc - 1) if W > 1 else sorted_ids
        a = self._act(h, p, sid)
        y = GMM(a, p["e2"].transpose(1, 2), offs=offs)
        if "e2_b" in p:
            y = y + p["e2_b"][sid]
        wy = w.reshape(-1)[order].to(y.dtype).unsqueeze(-1)
        if W > 1:  # rows of other ranks' experts lie past offs[-1] and are not written by grouped_mm
            y = torch.where(
                (sorted_ids < self.E_loc).unsqueeze(-1),
                y * wy,
                torch.zeros((), dtype=y.dtype, device=y.device),
            )
        else:
            y = y * wy
        out = torch.empty((T * k, s.d), dtype=y.dtype, device=y.device)
        out.index_copy_(0, order, y)
        return out.view(T, k, s.d).sum(dim=1)

    def _mlp(self, x, w13, w2):
        g, u = F.linear(x, w13).chunk(2, dim=-1)
        return F.linear(F.silu(g) * u, w2)

    def ffn(self, i, x):
        p = self.layers[i]
        B, S, d = x.shape
        x2 = x.reshape(B * S, d)
        if "w13" in p:
            return self._mlp(x2, p["w13"], p["w2"]).view(B, S, d)
        T = x2.shape[0]
        if T > self.moe_chunk:
            y = torch.cat([self._experts(p, x2[j : j + self.moe_chunk]) for j in range(0, T, self.moe_chunk)])
        else:
            y = self._experts(p, x2)
        if "s13" in p:
            y = y + self._mlp(x2, p["s13"], p["s2"])
        return y.view(B, S, d)

    # ---------------------------------------------------------------- whole model
    def forward(self, ids, cache, pos0, decode, return_logits=False, n_layers=None):
        s = self.s
        h = F.embedding(ids, self.embed)
        for i in range(n_layers or s.L):
            p = self.layers[i]
            a = self._norm(h, p["ln1"], p.get("ln1_b"))
            h = h + self.D.all_reduce(self.attention(i, a, cache, pos0, decode))
            a = self._norm(h, p["ln2"], p.get("ln2_b"))
            h = h + self.D.all_reduce(self.ffn(i, a))
        last = self._norm(h[:, -1], self.norm_f, self.norm_f_b)
        logits = self.D.all_gather_last(F.linear(last, self.lm_head, self.lm_head_b))
        nxt = logits.argmax(-1)
        return (nxt, logits) if return_logits else nxt

    def new_cache(self, B, Smax, random=False):
        s = self.s
        dev = self.D.device
        cache = []
        for _ in range(s.L):
            if s.mla:
                t = (torch.empty(B, Smax, s.kv_lora + s.rope_dim, device=dev, dtype=torch.bfloat16),)
            else:
                t = (
                    torch.empty(B, Smax, self.hkv, s.Dh, device=dev, dtype=torch.bfloat16),
                    torch.empty(B, Smax, self.hkv, s.Dh, device=dev, dtype=torch.bfloat16),
                )
            for x in t:
                if random:
                    x.normal_()
                else:
                    x.zero_()
            cache.append(t)
        return cache


# --------------------------------------------------------------------------- checks
def rel(a, b):
    return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-30))


def choose_kernels(model: RefModel, log):
    """Self-check the fast attention paths on small random inputs against exact math; pick what passes."""
    s, dev = model.s, model.D.device
    if s.sinks:
        model.attn_mode = "math-sinks" if dev.type == "cpu" else "flash-sinks"
        if dev.type == "cuda":
            try:
                errs = []
                for causal, S, Sk, win in (
                    (True, 300, 300, 128),
                    (True, 300, 300, None),
                    (False, 1, 257, None),
                ):
                    q = torch.randn(2, S, 8, s.Dh, device=dev, dtype=torch.bfloat16)
                    k = torch.randn(2, Sk, 2, s.Dh, device=dev, dtype=torch.bfloat16)
                    v = torch.randn(2, Sk, 2, s.Dh, device=dev, dtype=torch.bfloat16)
                    snk = torch.randn(8, device=dev, dtype=torch.bfloat16)
                    errs.append(
                        rel(
                            attn_sinks_flash(q, k, v, snk, s.scale, causal, win),
                            attn_sinks_math(q, k, v, snk, s.scale, causal, win),
                        )
                    )
                log(f"flash-sinks self-check rel errs {[f'{e:.1e}' for e in errs]}")
                if max(errs) > 2e-2:
                    raise RuntimeError(f"rel err {max(errs):.2e}")
            except Exception as e:  # noqa: BLE001
                log(
                    f"flash-sinks unusable ({C.short_exc(e)}); "
                    "falling back to SDPA flash without sinks/window"
                )
                model.attn_mode = "sdpa-nosinks"
    if s.mla and dev.type == "cuda":
        try:
            qc = torch.randn(4, model.hq, s.kv_lora + s.rope_dim, device=dev, dtype=torch.bfloat16)
            lat = torch.randn(4, 333, s.kv_lora + s.rope_dim, device=dev, dtype=torch.bfloat16)
            e = rel(mla_core_sdpa(qc, lat, s.kv_lora, s.scale), mla_core_bmm(qc, lat, s.kv_lora, s.scale))
            log(f"mla sdpa-efficient core self-check rel err {e:.1e}")
            if e > 2e-2:
                raise RuntimeError(f"rel err {e:.2e}")
            model.mla_core, model.mla_core_name = mla_core_sdpa, "sdpa-efficient"
        except Exception as e:  # noqa: BLE001
            log(f"mla sdpa core unusable ({C.short_exc(e)}); using bmm-softmax")


def selfcheck(model: RefModel, B=2, S=48, n_layers=None):
    """Decode of token S after a prefill of S tokens vs the last logits of a prefill of S+1 tokens.

    Over the whole model, bf16 rounding differences between the two paths can flip a top-k expert
    choice, which then changes the output by far more than rounding; over the first layer only
    (n_layers=1) the comparison shows the rounding-level agreement of cache, RoPE positions,
    attention (and MLA absorption)."""
    ids = torch.randint(0, model.s.V, (B, S + 1), device=model.D.device)
    if model.D.world > 1:
        dist.broadcast(ids, 0)
    c1 = model.new_cache(B, S + 1)
    _, ref = model.forward(ids, c1, 0, decode=False, return_logits=True, n_layers=n_layers)
    c2 = model.new_cache(B, S + 1)
    model.forward(ids[:, :S], c2, 0, decode=False, n_layers=n_layers)
    _, dec = model.forward(ids[:, S:], c2, S, decode=True, return_logits=True, n_layers=n_layers)
    return rel(dec, ref)


# --------------------------------------------------------------------------- benchmark
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", default="e2e_out")
    ap.add_argument("--budget-s", type=float, default=120.0)
    ap.add_argument("--quick", action="store_true", help="tiny config of the family (CPU dry run)")
    ap.add_argument("--phases", default="prefill,decode")
    ap.add_argument("--no-graph", action="store_true")
    ap.add_argument("--selfcheck-only", action="store_true", help="only the kernel and decode self-checks")
    args = ap.parse_args()
    t0 = time.monotonic()
    deadline = t0 + args.budget_s
    torch.set_grad_enabled(False)
    D = Dist()
    lead = D.rank == 0

    def log(msg):
        if lead:
            print(f"INFO {args.model}: {msg}", flush=True)

    d = C.load_config(args.model)
    if args.quick:
        d = C.shrink_config(d)
    spec = Spec(d)
    pgrid = C.QUICK_PREFILL_GRID if args.quick else C.PREFILL_GRID
    dgrid = C.QUICK_DECODE_GRID if args.quick else C.DECODE_GRID
    max_pos = max([s for _, s in pgrid] + [c + 1 for _, c in dgrid]) + 64
    torch.manual_seed(0)
    model = RefModel(spec, D, max_pos)
    if GMM is None:
        raise RuntimeError("torch._grouped_mm is missing")
    log(
        f"built {model.mk.numel / 1e9:.3f} B params on rank 0 "
        f"(world {D.world}) in {time.monotonic() - t0:.1f} s"
    )
    choose_kernels(model, log)
    err1 = selfcheck(model, n_layers=1)
    err = selfcheck(model)
    log(
        f"self-check (decode after prefill vs longer prefill) rel err: first layer {err1:.2e}, "
        f"whole model {err:.2e}"
    )
    if args.selfcheck_only:
        if lead:
            os.makedirs(args.out, exist_ok=True)
            with open(os.path.join(args.out, f"ref_{args.model}.selfcheck.json"), "w") as f:
                json.dump(
                    {
                        **C.versions(),
                        "model": args.model,
                        "attn_impl": model.attn_impl_name(),
                        "selfcheck_rel_err_first_layer": err1,
                        "selfcheck_rel_err_whole_model": err,
                        "date_utc": C.now_utc(),
                    },
                    f,
                    indent=1,
                )
        return
    W = C.Writer(args.out, "e2e_ref") if lead else None
    attn_impl = model.attn_impl_name()
    if lead:
        with open(os.path.join(args.out, f"ref_{args.model}.meta.json"), "w") as f:
            json.dump(
                {
                    **C.versions(),
                    "config": d,
                    "world": D.world,
                    "params_rank0": model.mk.numel,
                    "attn_impl": attn_impl,
                    "selfcheck_rel_err": err,
                    "selfcheck_rel_err_first_layer": err1,
                    "date_utc": C.now_utc(),
                },
                f,
                indent=1,
            )
    base = dict(
        source="reference",
        model=args.model,
        gpus=D.world,
        tp=D.world,
        ep=D.world,
        dtype="bf16",
        attn_impl=attn_impl,
        experts_impl="torch._grouped_mm(sort-dispatch)",
    )
    common_note = f"selfcheck_rel_err(layer1/all)={err1:.1e}/{err:.1e};argmax"

    def sync_all():
        C.sync()
        if D.world > 1:
            dist.barrier()

    def budget_left():
        ok = torch.tensor([1 if time.monotonic() < deadline else 0], device=D.device)
        if D.world > 1:
            dist.all_reduce(ok, op=dist.ReduceOp.MIN)
        return bool(ok.item())

    def skip(**kw):
        if lead:
            W.skip(model=args.model, **kw)

    # ---- prefill (eager)
    if "prefill" in args.phases:
        for b, sl in pgrid:
            pt = dict(stack="reference-eager", phase="prefill", batch=b, prompt_len=sl)
            if not budget_left():
                skip(**pt, reason="budget spent")
                continue
            cache = ids = None
            try:
                C.cleanup()
                if torch.cuda.is_available():
                    torch.cuda.reset_peak_memory_stats()
                ids = torch.randint(0, spec.V, (b, sl), device=D.device)
                cache = model.new_cache(b, sl)
                wu, mn, mx, tgt = C.iters_for("prefill", False)
                t = C.time_calls(
                    lambda ids=ids, cache=cache: model.forward(ids, cache, 0, decode=False),
                    pre=sync_all,
                    warmup=wu,
                    min_iters=mn,
                    max_iters=mx,
                    target_s=tgt,
                    deadline=deadline,
                )
                if lead:
                    W.row(
                        **base,
                        stack="reference-eager",
                        phase="prefill",
                        batch=b,
                        prompt_len=sl,
                        context=0,
                        graph=0,
                        **t,
                        notes=f"kv_cache_written;moe_chunk={MOE_CHUNK};{common_note};{C.gpu_mem_note()}",
                    )
            except Exception as e:  # noqa: BLE001
                skip(**pt, reason=("OOM: " if C.is_oom(e) else "") + C.short_exc(e))
            cache = ids = None
            C.cleanup()

    # ---- decode (eager and graph)
    if "decode" in args.phases:
        for b, ctx in dgrid:
            cache = g = None
            pt = dict(phase="decode", batch=b, context=ctx)
            if not budget_left():
                skip(**pt, stack="reference-eager", reason="budget spent")
                skip(**pt, stack="reference-graph", reason="budget spent")
                continue
            try:
                C.cleanup()
                if torch.cuda.is_available():
                    torch.cuda.reset_peak_memory_stats()
                cache = model.new_cache(b, ctx + 1, random=True)
                tok = torch.randint(0, spec.V, (b, 1), device=D.device)

                def step(tok=tok, cache=cache, ctx=ctx):
                    return model.forward(tok, cache, ctx, decode=True)

                wu, mn, mx, tgt = C.iters_for("decode", False)
                t = C.time_calls(
                    step,
                    pre=sync_all if D.world > 1 else None,
                    warmup=wu,
                    min_iters=mn,
                    max_iters=mx,
                    target_s=tgt,
                    deadline=deadline,
                )
                if lead:
                    W.row(
                        **base,
                        stack="reference-eager",
                        phase="decode",
                        batch=b,
                        prompt_len=ctx,
                        context=ctx,
                        graph=0,
                        **t,
                        notes=f"static_cache(context+1,random K/V);{common_note};{C.gpu_mem_note()}",
                    )
            except Exception as e:  # noqa: BLE001
                skip(**pt, stack="reference-eager", reason=("OOM: " if C.is_oom(e) else "") + C.short_exc(e))
                cache = None
                C.cleanup()
                continue
            if not torch.cuda.is_available() or args.no_graph:
                cache = None
                continue
            try:
                _, ref_logits = model.forward(tok, cache, ctx, decode=True, return_logits=True)
                ref_logits = ref_logits.float().clone()
                s_ = torch.cuda.Stream()
                s_.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(s_):
                    for _ in range(2):
                        model.forward(tok, cache, ctx, decode=True, return_logits=True)
                torch.cuda.current_stream().wait_stream(s_)
                sync_all()
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    g_tok, g_logits = model.forward(tok, cache, ctx, decode=True, return_logits=True)
                g.replay()
                sync_all()
                check = rel(g_logits, ref_logits)
                wu, mn, mx, tgt = C.iters_for("decode", True)
                t = C.time_calls(
                    g.replay,
                    pre=sync_all if D.world > 1 else None,
                    warmup=wu,
                    min_iters=mn,
                    max_iters=mx,
                    target_s=tgt,
                    deadline=deadline,
                )
                if lead:
                    W.row(
                        **base,
                        stack="reference-graph",
                        phase="decode",
                        batch=b,
                        prompt_len=ctx,
                        context=ctx,
                        graph=1,
                        **t,
                        notes=f"static_cache(context+1,random K/V);torch.cuda.CUDAGraph;"
                        f"graph_check_rel_err={check:.1e};{common_note};{C.gpu_mem_note()}",
                    )
            except Exception as e:  # noqa: BLE001
                skip(**pt, stack="reference-graph", reason=("OOM: " if C.is_oom(e) else "") + C.short_exc(e))
            g = cache = None
            C.cleanup()
    log(f"{W.n if lead else 0} rows in {time.monotonic() - t0:.1f} s")
    if D.world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    C.main_guard(main)
