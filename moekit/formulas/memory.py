"""Memory per GPU (bytes): weight shards, KV cache, activations, dispatch buffers, runtime.

Inference only: no gradients, optimizer states or gradient accumulation. Data parallelism
replicates weights and never divides them.

Legend (code name, input symbol: meaning [unit]):
    E                  num_experts: routed experts per MoE layer [1]
    L                  num_layers: transformer layers [1]
    O                  output_len: generated tokens per sequence [1]
    S                  prompt_len: prompt tokens per sequence [1]
    b_a                activation_bytes: bytes per activation element [B]
    b_kv               kv_bytes: bytes per KV-cache element [B]
    b_w                weight_bytes: bytes per weight [B]
    b_we               expert_weight_bytes: bytes per routed-expert weight (block scales included) [B]
    cap                capacity_factor: MoE dispatch buffer size relative to the mean load [1]
    d                  d_model: hidden size (residual stream width) [1]
    ep                 ep: expert-parallel degree (experts split over GPUs) [1]
    etp                etp: tensor-parallel degree inside each expert [1]
    f_d                dense_ffn_dim: intermediate size of a dense FFN layer [1]
    f_e                expert_ffn_dim: intermediate size of one routed expert [1]
    f_s                shared_expert_ffn_dim: intermediate size of one shared expert [1]
    k                  top_k: experts each token is routed to [1]
    m                  microbatches: micro-batches that fill the pipeline [1]
    mem                memory_bytes: memory of one GPU [B]
    n_mat              ffn_matrices: weight matrices per FFN: 3 gated (SwiGLU), 2 plain [1]
    n_s                num_shared_experts: shared experts per MoE layer [1]
    overhead           runtime_overhead_bytes: runtime reserve: CUDA context, framework, NCCL buffers [B]
    pp                 pp: pipeline-parallel degree (layer stages) [1]
    r_exp              redundant_experts: EPLB replicas of hot experts per MoE layer (memory spent against
                        load imbalance) [1]
    tie                tie_embeddings: 1 when the LM head shares the embedding matrix [1]
    tp                 tp: tensor-parallel degree (heads and FFN columns split) [1]
"""

import sympy as sp

from moekit.formulas.core import formula
from moekit.formulas.parallel import (
    attention_width,
    dense_layers_per_stage,
    kv_elements_per_token,
    kv_elements_per_token_per_gpu,
    layers_per_stage,
    moe_layers_per_stage,
    seqs_per_rank,
)
from moekit.formulas.parameters import (
    P_attn,
    P_dense,
    P_embed,
    P_expert,
    P_norm,
    P_router,
    P_shared,
)
from moekit.formulas.symbols import (
    E,
    L,
    O,
    S,
    b_a,
    b_kv,
    b_w,
    b_we,
    cap,
    d,
    ep,
    etp,
    f_d,
    f_e,
    f_s,
    k,
    m,
    mem,
    n_mat,
    n_s,
    overhead,
    pp,
    r_exp,
    tie,
    tp,
)

attn_weights_gpu = formula(
    "attention_weight_bytes_per_gpu", "B", "attention and norm weights on one GPU (split by tp)",
    layers_per_stage * (P_attn / tp + P_norm) * b_w, latex="M_{attn}")
expert_weights_gpu = formula(
    "expert_weight_bytes_per_gpu", "B",
    "routed experts on one GPU: (E + r)/ep experts per layer (r EPLB replicas), each split by etp, "
    "in the experts' precision; router replicated",
    moe_layers_per_stage * ((E + r_exp) / ep * P_expert / etp * b_we + P_router * b_w),
    latex="M_{experts}")
shared_weights_gpu = formula(
    "shared_expert_weight_bytes_per_gpu", "B", "shared experts on one GPU (split by tp)",
    moe_layers_per_stage * P_shared / tp * b_w, latex="M_{shared}")
dense_weights_gpu = formula(
    "dense_ffn_weight_bytes_per_gpu", "B", "dense FFN layers on one GPU (split by tp)",
    dense_layers_per_stage * P_dense / tp * b_w, latex="M_{ffn}")
embed_weights_gpu = formula(
    "embedding_weight_bytes_per_gpu", "B",
    "embedding and LM head on one GPU, vocab split by tp; with pp > 1 they sit on different stages",
    sp.Piecewise((P_embed * (2 - tie), sp.Eq(pp, 1)), (P_embed, True)) / tp * b_w,
    latex="M_{emb}")
weights_gpu = formula(
    "weight_bytes_per_gpu", "B", "all weights on the busiest GPU",
    attn_weights_gpu + expert_weights_gpu + shared_weights_gpu + dense_weights_gpu
    + embed_weights_gpu, latex="M_{w}")

formula("kv_cache_bytes_per_token", "B", "KV cache of one token over all layers (whole model)",
        L * kv_elements_per_token * b_kv, latex="m_{kv}")
kv_cache_gpu = formula(
    "kv_cache_bytes_per_gpu", "B",
    "KV cache of the rank's sequences at full length S + O, all micro-batches, its stage's layers",
    seqs_per_rank * m * (S + O) * layers_per_stage * kv_elements_per_token_per_gpu * b_kv,
    latex="M_{kv}")

prefill_tokens_rank = seqs_per_rank * S
activation_width = formula(
    "activation_width_per_gpu", "1",
    "widest live activations per token in one layer on one GPU: residual, norm output and the "
    "larger of the attention intermediates and the FFN intermediate",
    4 * d + sp.Max(attention_width / tp, (n_mat - 1) * (k * f_e / etp + n_s * f_s / tp),
                   (n_mat - 1) * f_d / tp),
    latex="w_{act}")
activations_gpu = formula(
    "activation_bytes_per_gpu", "B",
    "activation working set of one prefill micro-batch passing one layer (forward only)",
    prefill_tokens_rank * activation_width * b_a, latex="M_{act}")
dispatch_buffers_gpu = formula(
    "dispatch_buffer_bytes_per_gpu", "B",
    "MoE all-to-all send and receive buffers for one prefill micro-batch (k copies per token)",
    sp.Piecewise((0, sp.Eq(ep, 1)), (2 * cap * prefill_tokens_rank / tp * k * d * etp * b_a, True)),
    latex="M_{a2a}")
memory_gpu = formula(
    "memory_bytes_per_gpu", "B", "everything on the busiest GPU",
    weights_gpu + kv_cache_gpu + activations_gpu + dispatch_buffers_gpu + overhead,
    latex="M_{GPU}")
memory_fraction = formula("memory_fraction", "1", "memory used over the GPU's capacity",
                          memory_gpu / mem, latex="u_{mem}")

