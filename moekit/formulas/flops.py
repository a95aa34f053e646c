"""Forward FLOPs per token, by component (2 FLOP per multiply-add).

Legend (code name, input symbol: meaning [unit]):
    E                  num_experts: routed experts per MoE layer [1]
    L                  num_layers: transformer layers [1]
    L_d                num_dense_layers: leading layers with a dense FFN instead of experts [1]
    V                  vocab_size: vocabulary size [1]
    ctx                attended_context: mean context a new token attends to ((S+1)/2 causal prefill, C
                        decode) [1]
    d                  d_model: hidden size (residual stream width) [1]
    d_h                head_dim: dimension of one attention head [1]
    d_nope             qk_nope_head_dim: MLA per-head q/k dimension without RoPE [1]
    d_rope             qk_rope_head_dim: MLA per-head q/k RoPE dimension [1]
    d_v                v_head_dim: MLA per-head value dimension [1]
    h                  num_heads: attention (query) heads [1]
    k                  top_k: experts each token is routed to [1]
"""

from moekit.formulas.core import formula
from moekit.formulas.parameters import P_attn, P_dense, P_expert, P_shared
from moekit.formulas.symbols import E, L, L_d, V, ctx, d, d_h, d_nope, d_rope, d_v, h, k

F_attn_proj = formula("attention_proj_flops_per_token", "FLOP",
                      "q, k, v, o projections of one layer for one token", 2 * P_attn,
                      latex="F_{proj}")
F_score = formula(
    "attention_flops_per_score", "FLOP",
    "QK^T and AV of one query-key pair in one head (2 FLOP per multiply-add)",
    variants={"gqa": 2 * 2 * d_h, "mla": 2 * (d_nope + d_rope + d_v)}, latex="F_{score}")
F_attn_core = formula(
    "attention_core_flops_per_token", "FLOP",
    "scores QK^T and context AV of one layer for one token attending to c tokens",
    h * F_score * ctx, latex="F_{attn}")
F_router = formula("router_flops_per_token", "FLOP", "router logits of one MoE layer", 2 * d * E,
                   latex="F_{router}")
F_experts = formula("expert_flops_per_token", "FLOP", "the k routed experts of one MoE layer",
                    2 * k * P_expert, latex="F_{experts}")
F_shared = formula("shared_expert_flops_per_token", "FLOP", "shared experts of one MoE layer",
                   2 * P_shared, latex="F_{shared}")
F_dense = formula("dense_ffn_flops_per_token", "FLOP", "dense FFN of one dense layer", 2 * P_dense,
                  latex="F_{ffn}")
F_head = formula("lm_head_flops_per_token", "FLOP", "logits over the vocabulary for one token",
                 2 * V * d, latex="F_{head}")

F_token = formula(
    "flops_per_token", "FLOP",
    "forward FLOPs of one token through the whole model, LM head included",
    L * (F_attn_proj + F_attn_core) + (L - L_d) * (F_router + F_experts + F_shared)
    + L_d * F_dense + F_head, latex="F_{token}")
