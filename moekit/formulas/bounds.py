"""Speed-of-light bounds: no deployment on G GPUs can beat these, whatever its strategy.

A step needs at least its total FLOPs at full peak spread over all GPUs, and at least one
read of the weights it touches and the KV cache it attends to, at full HBM bandwidth.

Legend (code name, input symbol: meaning [unit]):
    B                  batch: sequences in flight across the deployment [1]
    E                  num_experts: routed experts per MoE layer [1]
    L                  num_layers: transformer layers [1]
    L_d                num_dense_layers: leading layers with a dense FFN instead of experts [1]
    S                  prompt_len: prompt tokens per sequence [1]
    V                  vocab_size: vocabulary size [1]
    b_kv               kv_bytes: bytes per KV-cache element [B]
    b_w                weight_bytes: bytes per weight [B]
    b_we               expert_weight_bytes: bytes per routed-expert weight (block scales included) [B]
    bw_hbm             hbm_bandwidth: HBM bandwidth of one GPU [B/s]
    d                  d_model: hidden size (residual stream width) [1]
    k                  top_k: experts each token is routed to [1]
    kv_len             kv_read_len: KV-cache tokens read per sequence in this step [1]
    n_q                queries_per_seq: new tokens per sequence in this step (S prefill, 1 decode) [1]
    peak               peak_flops: dense peak of one GPU in the compute precision [FLOP/s]
"""

import sympy as sp

from moekit.formulas.core import formula
from moekit.formulas.flops import F_head, F_token
from moekit.formulas.parallel import gpus, kv_elements_per_token
from moekit.formulas.parameters import P_attn, P_dense, P_expert, P_norm, P_router, P_shared
from moekit.formulas.symbols import (
    B,
    E,
    L,
    L_d,
    S,
    V,
    b_kv,
    b_w,
    b_we,
    bw_hbm,
    d,
    k,
    kv_len,
    n_q,
    peak,
)

step_flops = formula(
    "step_flops_total", "FLOP",
    "FLOPs of one step over the whole batch (LM head only for the last token of a sequence)",
    B * n_q * (F_token - F_head) + B * F_head, latex="F_{step}")
step_tokens_hit = sp.Piecewise((0, sp.Eq(E, 0)), (E * (1 - (1 - k / E) ** (B * n_q)), True))
step_min_bytes = formula(
    "step_min_bytes_total", "B",
    "bytes a step must read at least: touched weights once (embedding lookups aside), the KV "
    "cache attended to, the new KV written",
    b_w * (L * (P_attn + P_norm) + (L - L_d) * (P_router + P_shared) + L_d * P_dense + V * d)
    + b_we * (L - L_d) * step_tokens_hit * P_expert
    + B * (kv_len + n_q) * L * kv_elements_per_token * b_kv, latex="D_{step}")
step_time_bound = formula(
    "step_time_lower_bound_s", "s", "fastest possible step on G GPUs at full peak and bandwidth",
    sp.Max(step_flops / (gpus * peak), step_min_bytes / (gpus * bw_hbm)), latex="t_{step}^{min}")

ttft_bound = formula("ttft_lower_bound_s", "s", "no TTFT on these GPUs can be shorter",
                     sp.Symbol("prefill_step_time_lower_bound_s", nonnegative=True, real=True),
                     latex="TTFT^{min}")
tpot_bound = formula("tpot_lower_bound_s", "s", "no TPOT on these GPUs can be shorter",
                     sp.Symbol("decode_step_time_lower_bound_s", nonnegative=True, real=True),
                     latex="TPOT^{min}")
formula("prefill_tokens_per_s_per_gpu_upper_bound", "1/s", "most prompt tokens/s one GPU can do",
        B * S / (ttft_bound * gpus), latex="X_{prefill}^{max}")
formula("decode_tokens_per_s_per_gpu_upper_bound", "1/s",
        "most generated tokens/s one GPU can do at this batch", B / (tpot_bound * gpus),
        latex="X_{decode}^{max}")
