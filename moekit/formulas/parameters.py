"""Parameter counts (elements): embeddings, attention, router, experts, dense FFN; total, active.

Legend (code name, input symbol: meaning [unit]):
    E                  num_experts: routed experts per MoE layer [1]
    L                  num_layers: transformer layers [1]
    L_d                num_dense_layers: leading layers with a dense FFN instead of experts [1]
    V                  vocab_size: vocabulary size [1]
    d                  d_model: hidden size (residual stream width) [1]
    d_h                head_dim: dimension of one attention head [1]
    d_nope             qk_nope_head_dim: MLA per-head q/k dimension without RoPE [1]
    d_rope             qk_rope_head_dim: MLA per-head q/k RoPE dimension [1]
    d_v                v_head_dim: MLA per-head value dimension [1]
    f_d                dense_ffn_dim: intermediate size of a dense FFN layer [1]
    f_e                expert_ffn_dim: intermediate size of one routed expert [1]
    f_s                shared_expert_ffn_dim: intermediate size of one shared expert [1]
    h                  num_heads: attention (query) heads [1]
    h_kv               num_kv_heads: key/value heads (GQA groups; = h for MHA) [1]
    k                  top_k: experts each token is routed to [1]
    n_mat              ffn_matrices: weight matrices per FFN: 3 gated (SwiGLU), 2 plain [1]
    n_s                num_shared_experts: shared experts per MoE layer [1]
    qkv_bias           qkv_bias: 1 when q, k, v projections carry a bias [1]
    r_kv               kv_lora_rank: MLA key/value latent rank [1]
    r_q                q_lora_rank: MLA query compression rank (0: no compression) [1]
    tie                tie_embeddings: 1 when the LM head shares the embedding matrix [1]
"""

import sympy as sp

from moekit.formulas.core import formula
from moekit.formulas.symbols import (
    E,
    L,
    L_d,
    V,
    d,
    d_h,
    d_nope,
    d_rope,
    d_v,
    f_d,
    f_e,
    f_s,
    h,
    h_kv,
    k,
    n_mat,
    n_s,
    qkv_bias,
    r_kv,
    r_q,
    tie,
)

q_head = d_nope + d_rope

P_attn = formula(
    "attention_params", "1", "attention weights of one layer: q, k, v, o projections",
    variants={
        "gqa": d * h * d_h + 2 * d * h_kv * d_h + h * d_h * d + qkv_bias * (h + 2 * h_kv) * d_h,
        # MLA: q (optionally through a rank-r_q bottleneck with its norm), joint kv latent
        # plus the shared RoPE key, per-head up-projections of the latent, output projection
        "mla": sp.Piecewise((d * h * q_head, sp.Eq(r_q, 0)), (d * r_q + r_q + r_q * h * q_head, True))
        + d * (r_kv + d_rope) + r_kv + r_kv * h * (d_nope + d_v) + h * d_v * d,
    },
    latex="P_{attn}",
)
P_norm = formula("norm_params", "1", "RMSNorm weights of one layer (before attention and FFN)",
                 2 * d, latex="P_{norm}")
P_router = formula("router_params", "1", "router (gate) weights of one MoE layer", d * E,
                   latex="P_{router}")
P_expert = formula("expert_params", "1", "weights of one routed expert", n_mat * d * f_e,
                   latex="P_{e}")
P_shared = formula("shared_expert_params", "1", "weights of all shared experts of one layer",
                   n_s * n_mat * d * f_s, latex="P_{s}")
P_dense = formula("dense_ffn_params", "1", "weights of one dense FFN", n_mat * d * f_d,
                  latex="P_{ffn}")
P_embed = formula("embedding_params", "1", "token embedding table", V * d, latex="P_{emb}")
P_head = formula("lm_head_params", "1", "LM head weights not shared with the embedding",
                 V * d * (1 - tie), latex="P_{head}")

P_moe_layer = formula("moe_layer_params", "1", "all weights of one MoE layer",
                      P_attn + P_norm + P_router + E * P_expert + P_shared, latex="P_{L,moe}")
P_dense_layer = formula("dense_layer_params", "1", "all weights of one dense layer",
                        P_attn + P_norm + P_dense, latex="P_{L,dense}")
P_moe_active = formula("moe_layer_active_params", "1",
                       "weights of one MoE layer a single token uses (top-k experts)",
                       P_attn + P_norm + P_router + k * P_expert + P_shared, latex="P_{L,act}")

total_params = formula(
    "total_params", "1", "all weights of the model",
    P_embed + P_head + L_d * P_dense_layer + (L - L_d) * P_moe_layer + d, latex="P_{total}")
active_params = formula(
    "active_params", "1", "weights one token uses in a forward pass (embeddings included)",
    P_embed + P_head + L_d * P_dense_layer + (L - L_d) * P_moe_active + d, latex="P_{active}")
