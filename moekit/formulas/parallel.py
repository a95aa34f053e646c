"""How the parallel degrees split the work: GPUs, layers per stage, tokens per GPU, expert hits.

Folded convention (DESIGN.md): attention runs dp x tp per stage; experts fold onto the
same dp*tp GPUs as ep x etp x edp. Per-GPU figures are for the busiest GPU.

Legend (code name, input symbol: meaning [unit]):
    B                  batch: sequences in flight across the deployment [1]
    E                  num_experts: routed experts per MoE layer [1]
    L                  num_layers: transformer layers [1]
    L_d                num_dense_layers: leading layers with a dense FFN instead of experts [1]
    d_h                head_dim: dimension of one attention head [1]
    d_nope             qk_nope_head_dim: MLA per-head q/k dimension without RoPE [1]
    d_rope             qk_rope_head_dim: MLA per-head q/k RoPE dimension [1]
    d_v                v_head_dim: MLA per-head value dimension [1]
    dp                 dp: data-parallel degree of attention (replicas of the dense part) [1]
    ep                 ep: expert-parallel degree (experts split over GPUs) [1]
    etp                etp: tensor-parallel degree inside each expert [1]
    h                  num_heads: attention (query) heads [1]
    h_kv               num_kv_heads: key/value heads (GQA groups; = h for MHA) [1]
    k                  top_k: experts each token is routed to [1]
    m                  microbatches: micro-batches that fill the pipeline [1]
    n_q                queries_per_seq: new tokens per sequence in this step (S prefill, 1 decode) [1]
    pp                 pp: pipeline-parallel degree (layer stages) [1]
    r_kv               kv_lora_rank: MLA key/value latent rank [1]
    tp                 tp: tensor-parallel degree (heads and FFN columns split) [1]
"""

import sympy as sp

from moekit.formulas.core import formula
from moekit.formulas.symbols import (
    B,
    E,
    L,
    L_d,
    d_h,
    d_nope,
    d_rope,
    d_v,
    dp,
    ep,
    etp,
    h,
    h_kv,
    k,
    m,
    n_q,
    pp,
    r_kv,
    tp,
)

gpus = formula("gpus", "1", "GPUs of the deployment", dp * tp * pp, latex="G")
edp = formula("expert_data_parallel", "1", "copies of each expert within a pipeline stage",
              dp * tp / (ep * etp), latex="edp")
layers_per_stage = formula("layers_per_stage", "1", "layers on the busiest pipeline stage",
                           sp.ceiling(L / pp), latex="L_{stage}")
moe_layers_per_stage = formula(
    "moe_layers_per_stage", "1", "MoE layers on the busiest stage (MoE layers assumed heaviest)",
    sp.Min(layers_per_stage, L - L_d), latex="L_{stage,moe}")
dense_layers_per_stage = formula(
    "dense_layers_per_stage", "1", "dense-FFN layers on the busiest stage",
    layers_per_stage - moe_layers_per_stage, latex="L_{stage,dense}")
seqs_per_rank = formula(
    "seqs_per_rank", "1", "sequences in one micro-batch on one attention data-parallel rank",
    sp.ceiling(B / (dp * m)), latex="B_{r}")
tokens_per_rank = formula(
    "tokens_per_rank", "1", "new tokens of one micro-batch on one attention data-parallel rank",
    seqs_per_rank * n_q, latex="T_{r}")
tokens_per_stage = formula("tokens_per_stage", "1", "new tokens of one micro-batch in one stage",
                           tokens_per_rank * dp, latex="T_{stage}")
expert_group_tokens = formula(
    "expert_group_tokens", "1", "tokens routed inside one expert-parallel group",
    tokens_per_stage / edp, latex="T_{ep}")
expert_hit_probability = formula(
    "expert_hit_probability", "1",
    "chance an expert receives at least one of T tokens routed top-k uniformly: 1-(1-k/E)^T",
    sp.Piecewise((0, sp.Eq(E, 0)), (1 - (1 - k / E) ** expert_group_tokens, True)),
    latex="p_{hit}")
expected_experts_hit = formula(
    "expected_experts_hit", "1", "expected distinct experts of one layer read by one EP group",
    E * expert_hit_probability, latex="E_{hit}")
kv_elements_per_token = formula(
    "kv_elements_per_token", "1", "KV-cache elements of one token in one layer (whole model width)",
    variants={"gqa": 2 * h_kv * d_h, "mla": r_kv + d_rope}, latex="n_{kv}")
kv_elements_per_token_per_gpu = formula(
    "kv_elements_per_token_per_gpu", "1",
    "KV-cache elements of one token in one layer on one GPU (KV heads replicate when h_kv < tp; "
    "the MLA latent replicates on every TP rank)",
    variants={"gqa": 2 * d_h * sp.ceiling(h_kv / tp), "mla": r_kv + d_rope}, latex="n_{kv,GPU}")
attention_width = formula(
    "attention_activation_width", "1",
    "activation elements per token that the attention projections write (q, k, v, context)",
    variants={"gqa": (2 * h + 2 * h_kv) * d_h,
              "mla": h * (d_nope + d_rope) + r_kv + d_rope + h * (d_nope + d_v) + h * d_v},
    latex="w_{attn}")
