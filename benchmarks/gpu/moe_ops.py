"""MoE building blocks shared by bench_moe_ffn.py and bench_moe_layer.py.

Expert weights are stored per expert as W13[E, d, 2f] (gate and up projections fused, as
serving engines do) and W2[E, f, d]. Tokens are dispatched by sorting their (token, slot)
pairs by expert id; the experts then run either as two grouped GEMMs (torch._grouped_mm,
no host synchronisation, so CUDA-graph capturable) or as a Python loop of per-expert
matmuls (needs the token counts on the host: eager only). The combine step un-permutes and
sums the top-k outputs weighted by the router probabilities.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

GROUPED_MM = getattr(torch, "_grouped_mm", None)


def route(logits: torch.Tensor, k: int, renormalize: bool = True):
    """Softmax router + top-k. Returns (topk weights [T,k] in x's dtype, topk ids [T,k] int64)."""
    probs = torch.softmax(logits.float(), dim=-1)
    w, ids = torch.topk(probs, k, dim=-1)
    if renormalize:
        w = w / w.sum(dim=-1, keepdim=True)
    return w, ids


def dispatch(ids: torch.Tensor, n_experts: int):
    """Sort (token, slot) pairs by expert. Returns order, token index per sorted row, offsets."""
    flat = ids.reshape(-1)
    order = torch.argsort(flat, stable=True)
    counts = torch.zeros(n_experts, dtype=torch.int32, device=ids.device)
    counts.index_add_(0, flat, torch.ones_like(flat, dtype=torch.int32))
    offs = torch.cumsum(counts, 0, dtype=torch.int32)
    return order, counts, offs


def combine(y_sorted, order, w, T, k, d):
    slots = torch.empty((T * k, d), dtype=y_sorted.dtype, device=y_sorted.device)
    slots.index_copy_(0, order, y_sorted)
    return (slots.view(T, k, d) * w.unsqueeze(-1).to(y_sorted.dtype)).sum(dim=1)


def experts_grouped(x, w, ids, W13, W2):
    """Top-k gated-SwiGLU experts through two grouped GEMMs. x [T,d] -> [T,d]."""
    T, d = x.shape
    k = ids.shape[1]
    E = W13.shape[0]
    order, _, offs = dispatch(ids, E)
    xs = x.index_select(0, order // k)
    h = GROUPED_MM(xs, W13, offs=offs)
    g, u = h.chunk(2, dim=-1)
    a = F.silu(g) * u
    y = GROUPED_MM(a, W2, offs=offs)
    return combine(y, order, w, T, k, d)


def experts_loop(x, w, ids, W13, W2):
    """Same function with one matmul pair per hit expert (host sync on the counts)."""
    T, d = x.shape
    k = ids.shape[1]
    E = W13.shape[0]
    order, counts, _ = dispatch(ids, E)
    xs = x.index_select(0, order // k)
    ys = torch.empty_like(xs)
    start = 0
    for e, c in enumerate(counts.tolist()):
        if c == 0:
            continue
        h = xs[start:start + c] @ W13[e]
        g, u = h.chunk(2, dim=-1)
        ys[start:start + c] = (F.silu(g) * u) @ W2[e]
        start += c
    return combine(ys, order, w, T, k, d)


def experts_reference(x, w, ids, W13, W2):
    """float64 reference, token by token (small T only)."""
    T, d = x.shape
    out = torch.zeros((T, d), dtype=torch.float64, device=x.device)
    xd = x.double()
    for t in range(T):
        for j in range(ids.shape[1]):
            e = int(ids[t, j])
            h = xd[t] @ W13[e].double()
            g, u = h.chunk(2)
            out[t] += float(w[t, j]) * ((F.silu(g) * u) @ W2[e].double())
    return out


def make_expert_weights(E, d, f, device, dtype=torch.bfloat16, layout="row"):
    """W13 [E, d, 2f] and W2 [E, f, d] (scaled so activations stay O(1)).

    layout "row": stored as such (last dim contiguous); "col": stored transposed and
    returned as transposed views (the other layout grouped GEMM kernels accept).
    """
    if layout == "row":
        W13 = torch.randn(E, d, 2 * f, device=device, dtype=dtype) * d ** -0.5
        W2 = torch.randn(E, f, d, device=device, dtype=dtype) * f ** -0.5
    else:
        W13 = (torch.randn(E, 2 * f, d, device=device, dtype=dtype) * d ** -0.5).transpose(1, 2)
        W2 = (torch.randn(E, d, f, device=device, dtype=dtype) * f ** -0.5).transpose(1, 2)
    return W13, W2


def grouped_mm_works(device, layout="row") -> tuple[bool, str]:
    if GROUPED_MM is None:
        return False, "torch._grouped_mm missing"
    try:
        E, d, f, T = 4, 64, 32, 40
        x = torch.randn(T, d, device=device, dtype=torch.bfloat16)
        W13, W2 = make_expert_weights(E, d, f, device, layout=layout)
        w, ids = route(torch.randn(T, E, device=device), 2)
        a = experts_grouped(x, w, ids, W13, W2)
        ref = experts_reference(x, w, ids, W13, W2)
        err = float((a.double() - ref).norm() / ref.norm())
        if not math.isfinite(err) or err > 2e-2:
            return False, f"grouped_mm wrong: rel err {err:.3e}"
        return True, f"rel err {err:.2e}"
    except Exception as e:  # noqa: BLE001
        return False, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"


def pick_grouped_layout(device):
    """First weight layout for which torch._grouped_mm runs and is right, or None."""
    notes = {}
    for layout in ("row", "col"):
        ok, note = grouped_mm_works(device, layout)
        notes[layout] = note
        if ok:
            return layout, notes
    return None, notes


def expert_ffn_flops(T, k, d, f):
    """gate+up (2 d 2f) and down (2 f d) per routed token copy."""
    return 6 * T * k * d * f


def rmsnorm(x, weight, eps=1e-6):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * weight
