"""The input symbols of the cost model: one table, each with a description and a unit."""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp


@dataclass(frozen=True)
class SymbolInfo:
    """An input symbol: its name in code, how it is printed, what it means and its unit."""

    name: str
    latex: str
    description: str
    unit: str
    symbol: sp.Symbol = field(compare=False, repr=False, default=None)


SYMBOLS: dict[str, SymbolInfo] = {}


def symbol(name: str, latex: str, description: str, unit: str) -> sp.Symbol:
    """Declare an input symbol (nonnegative real) and record it in the symbol table."""
    sym = sp.Symbol(name, nonnegative=True, real=True)
    SYMBOLS[name] = SymbolInfo(name, latex, description, unit, sym)
    return sym


# --- model ------------------------------------------------------------------------
L = symbol("num_layers", "L", "transformer layers", "1")
L_d = symbol("num_dense_layers", "L_{d}", "leading layers with a dense FFN instead of experts", "1")
d = symbol("d_model", "d", "hidden size (residual stream width)", "1")
V = symbol("vocab_size", "V", "vocabulary size", "1")
tie = symbol("tie_embeddings", r"\tau", "1 when the LM head shares the embedding matrix", "1")
h = symbol("num_heads", "h", "attention (query) heads", "1")
h_kv = symbol("num_kv_heads", "h_{kv}", "key/value heads (GQA groups; = h for MHA)", "1")
d_h = symbol("head_dim", "d_{h}", "dimension of one attention head", "1")
sinks = symbol("attention_sinks", r"\sigma_{sink}", "1 when a learned logit per head joins every "
               "softmax (gpt-oss)", "1")
qkv_bias = symbol("qkv_bias", r"\beta_{qkv}", "1 when q, k, v projections carry a bias", "1")
r_q = symbol("q_lora_rank", "r_{q}", "MLA query compression rank (0: no compression)", "1")
r_kv = symbol("kv_lora_rank", "r_{kv}", "MLA key/value latent rank", "1")
d_nope = symbol("qk_nope_head_dim", r"d_{nope}", "MLA per-head q/k dimension without RoPE", "1")
d_rope = symbol("qk_rope_head_dim", r"d_{rope}", "MLA per-head q/k RoPE dimension", "1")
d_v = symbol("v_head_dim", "d_{v}", "MLA per-head value dimension", "1")
E = symbol("num_experts", "E", "routed experts per MoE layer", "1")
k = symbol("top_k", "k", "experts each token is routed to", "1")
f_e = symbol("expert_ffn_dim", "f_{e}", "intermediate size of one routed expert", "1")
n_mat = symbol("ffn_matrices", "n_{mat}", "weight matrices per FFN: 3 gated (SwiGLU), 2 plain", "1")
n_s = symbol("num_shared_experts", "n_{s}", "shared experts per MoE layer", "1")
f_s = symbol("shared_expert_ffn_dim", "f_{s}", "intermediate size of one shared expert", "1")
f_d = symbol("dense_ffn_dim", "f_{d}", "intermediate size of a dense FFN layer", "1")

# --- hardware ---------------------------------------------------------------------
peak = symbol("peak_flops", "P", "dense peak of one GPU in the compute precision", "FLOP/s")
attn_peak = symbol("attention_peak_flops", "P^{peak}_{attn}", "dense peak of one GPU in the attention "
                   "kernel's precision (bf16 in the engines even when the GEMMs run fp8)", "FLOP/s")
exp_peak = symbol("expert_peak_flops", "P^{peak}_{exp}", "dense peak of one GPU in the routed-expert "
                  "GEMMs' precision (the activations' when the kernel dequantizes 4-bit weights)",
                  "FLOP/s")
mfu = symbol("mfu", r"\eta_{c}", "achieved fraction of peak FLOP/s (model FLOPs utilisation)", "1")
bw_hbm = symbol("hbm_bandwidth", "W", "HBM bandwidth of one GPU", "B/s")
util_hbm = symbol("hbm_utilization", r"\eta_{m}", "achieved fraction of HBM bandwidth", "1")
mem = symbol("memory_bytes", "M_{cap}", "memory of one GPU", "B")
gpn = symbol("gpus_per_node", "g", "GPUs in one node (NVLink domain)", "1")
bw_intra = symbol("intra_node_bandwidth", r"\beta_{intra}", "NVLink bandwidth per GPU per direction",
                  "B/s")
lat_intra = symbol("intra_node_latency", r"\alpha_{intra}", "latency of one intra-node message", "s")
bw_inter = symbol("inter_node_bandwidth", r"\beta_{inter}",
                  "network (IB/RoCE) bandwidth per GPU per direction", "B/s")
lat_inter = symbol("inter_node_latency", r"\alpha_{inter}", "latency of one inter-node message", "s")
rows_half = symbol("gemm_half_rows", r"r_{1/2}",
                   "GEMM rows (tokens) at which achieved FLOP/s is half of peak x MFU (0: flat)", "1")
bytes_half = symbol("hbm_half_bytes", r"D_{1/2}",
                    "bytes at which a transfer reaches half of HBM bandwidth x utilisation (0: flat)",
                    "B")
launch = symbol("kernel_overhead", r"t_{k}", "fixed time per op (kernel launches; lower with CUDA "
                "graphs)", "s")
# per-op kernel efficiencies; the hardware spec falls back to the GEMM figures above when unset
attn_mfu = symbol("attention_mfu", r"\eta_{c,attn}",
                  "achieved fraction of peak FLOP/s in the attention kernel (scores, context)", "1")
attn_rows_half = symbol("attention_half_rows", r"r_{1/2,attn}",
                        "tokens at which the attention kernel reaches half its FLOP/s", "1")
attn_util = symbol("attention_hbm_utilization", r"\eta_{m,attn}",
                   "achieved fraction of HBM bandwidth in the attention kernel (KV reads)", "1")
attn_bytes_half = symbol("attention_half_bytes", r"D_{1/2,attn}",
                         "bytes at which the attention kernel reaches half its bandwidth", "B")
attn_util_1w = symbol("attention_one_wave_hbm_utilization", r"\eta_{m,attn,1w}",
                      "achieved fraction of HBM bandwidth of an attention kernel whose work items "
                      "fit in one wave (one per SM)", "1")
attn_block_rows = symbol("attention_block_rows", r"b_{attn}",
                         "query rows per block of the flash attention kernel; a block on the causal "
                         "diagonal computes its whole tile (0: exact causal FLOPs)", "1")
attn_softmax_flops = symbol("attention_softmax_flops", r"\phi_{sm}",
                            "tensor-core FLOPs the softmax of one score costs (exp, max, rescale "
                            "beside the matrix products; 0: not modelled)", "FLOP")
attn_block_time = symbol("attention_block_time", r"t_{blk}",
                         "fixed time of one query block of the attention kernel on its SM (load Q, "
                         "final rescale, write O; 0: not modelled)", "s")
n_sm = symbol("sm_count", "N_{SM}", "streaming multiprocessors of one GPU (0: occupancy not "
              "modelled)", "1")
exp_mfu = symbol("expert_mfu", r"\eta_{c,exp}",
                 "achieved fraction of peak FLOP/s in the routed-expert (grouped) GEMMs", "1")
exp_ep_ratio = symbol("ep_expert_mfu_ratio", r"\rho_{ep,exp}",
                      "fraction of expert_mfu an expert-parallel rank's routed-expert kernels reach "
                      "(1: the same; kernels tuned per expert count meet another local expert count; "
                      "weight-only kernels: 1)", "1")
exp_util = symbol("expert_hbm_utilization", r"\eta_{m,exp}",
                  "achieved fraction of HBM bandwidth in the routed-expert GEMMs", "1")
exp_fixed = symbol("expert_dispatch_time", r"t_{k,exp}",
                   "fixed time of one routed-expert op beyond its GEMM launch (sort, gather, "
                   "combine kernels)", "s")
exp_width_half = symbol("expert_half_width", r"w_{1/2,exp}",
                        "columns of an expert shard (f_e / etp) at which its grouped GEMMs reach half "
                        "their FLOP/s (0: flat)", "1")
exp_rows_half = symbol("expert_half_rows", r"r_{1/2,exp}",
                       "rows per expert at which the grouped expert GEMMs reach half their FLOP/s",
                       "1")
ew_util = symbol("elementwise_hbm_utilization", r"\eta_{m,ew}",
                 "achieved fraction of HBM bandwidth in separate elementwise kernels (0: not "
                 "modelled, assumed fused into the GEMMs)", "1")
ew_kernel = symbol("elementwise_kernel_time", r"t_{k,ew}",
                   "fixed time of one elementwise kernel (launch, ramp, tail)", "s")
ew_kernels = symbol("elementwise_kernels_per_layer", r"n_{k,ew}",
                    "elementwise kernels per layer outside the experts (norms, residual adds, "
                    "router softmax/top-k, KV write)", "1")
ew_passes = symbol("elementwise_passes_per_layer", r"n_{p,ew}",
                   "d-wide activation vectors each token reads or writes in those kernels", "1")
a2a_bw = symbol("alltoall_bandwidth", r"\beta_{a2a}",
                "intra-node all-to-all bandwidth per GPU per direction", "B/s")
a2a_lat = symbol("alltoall_latency", r"\alpha_{a2a}", "latency of one intra-node all-to-all step",
                 "s")
p2p_bw = symbol("p2p_bandwidth", r"\beta_{p2p}", "intra-node send/recv bandwidth per direction",
                "B/s")
p2p_lat = symbol("p2p_latency", r"\alpha_{p2p}", "latency of one intra-node send/recv", "s")
overhead = symbol("runtime_overhead_bytes", "M_{rt}", "runtime reserve: CUDA context, framework, "
                  "NCCL buffers", "B")

# --- stack: what the serving software does (moekit.spec.stack; 0 switches a term off) ---------
t_step = symbol("step_overhead", r"t_{step}", "host time of one forward step outside the GPU "
                "kernels: scheduling, input preparation, sampling, detokenisation", "s")
t_host = symbol("host_kernel_time", r"t_{host}", "host time to launch one kernel from Python "
                "eagerly (a CUDA graph replays them with none)", "s")
n_k = symbol("kernels_per_layer", r"n_{k}", "kernels one transformer layer launches", "1")
g_dec = symbol("cuda_graph_decode", r"\gamma_{dec}", "1 when decode steps replay a CUDA graph (no "
               "host launches), 0 when eager", "1")
mla_re = symbol("mla_reexpand", r"\rho_{mla}", "1 when decode re-expands the MLA latent cache to "
                "full keys and values every step (not absorbed), 0 when absorbed", "1")
ar_one_shot = symbol("allreduce_one_shot", r"\sigma_{AR}", "1 when small TP all-reduces run as one "
                     "shot (each GPU reads its peers' buffers at once: one latency, the engines' "
                     "custom all-reduce), 0 for NCCL's ring (2(n-1) latencies)", "1")
a2a_conc = symbol("alltoall_concurrent", r"\kappa_{A2A}", "1 when the expert dispatch sends to all "
                  "peers at once (DeepEP: one latency per all-to-all), 0 for one latency per peer", "1")
moe_fused = symbol("moe_fused", r"\phi_{moe}", "1 when the routed experts run as fused-MoE kernels "
                   "(the GEMMs read their rows through the sorted token list: no permute copies; only "
                   "the activation and the top-k sum are separate kernels), 0 for grouped GEMMs with "
                   "separate permute and combine kernels", "1")
ep_mask = symbol("ep_masked", r"\mu_{EP}", "1 when expert parallelism masks instead of dispatching: "
                 "every rank holds all the tokens of its expert group (all-gathered over attention "
                 "DP; TP attention already has them) and runs its fused-MoE kernels over all their "
                 "routed pairs, non-local experts' rows written as zeros, the outputs summed by "
                 "reduce-scatter (SGLang's and vLLM's EP without an all-to-all backend)", "1")
sinks_eager = symbol("sinks_run_eager", r"\epsilon_{sink}", "1 when the stack runs a model with "
                     "attention sinks through eager attention (transformers: its SDPA path has no sinks), "
                     "0 when its kernel takes them", "1")
kv_regrow = symbol("kv_cache_regrown", r"\gamma_{kv}", "1 when each decode step copies the whole KV "
                   "cache into a tensor one token longer (transformers' DynamicCache: torch.cat per "
                   "layer), 0 when the cache is preallocated", "1")
moe_tok = symbol("moe_token_time", r"t_{moe,tok}", "GPU time per token routed on the GPU of one MoE "
                 "layer's bookkeeping kernels that no other term counts (transformers: three masked_fill "
                 "kernels a layer, grown with the tokens, not with the experts, the width or the mask); "
                 "0 for the engines", "s")
kv_rep = symbol("gqa_kv_repeated", r"\rho_{kv}", "1 when attention first copies each grouped K, V head "
                "once per query head it serves (transformers' repeat_kv, whenever its SDPA gets a mask), "
                "0 when the kernel reads the grouped heads as they are", "1")
mask_mat = symbol("causal_mask_materialized", r"\mu_{mask}", "1 when attention reads a "
                  "materialised causal mask (one byte per query-key pair), 0 when the kernel masks "
                  "by position", "1")

# --- workload ---------------------------------------------------------------------
B = symbol("batch", "B", "sequences in flight across the deployment", "1")
S = symbol("prompt_len", "S", "prompt tokens per sequence", "1")
O = symbol("output_len", "O", "generated tokens per sequence", "1")
C = symbol("decode_context", "C", "context length at the measured decode step", "1")
b_w = symbol("weight_bytes", "b_{w}", "bytes per weight", "B")
b_we = symbol("expert_weight_bytes", "b_{w,exp}", "bytes per routed-expert weight (block scales "
              "included)", "B")
b_disp = symbol("dispatch_bytes", "b_{disp}", "bytes per element of the tokens dispatched to the "
                "experts (the combine returns activations)", "B")
b_kv = symbol("kv_bytes", "b_{kv}", "bytes per KV-cache element", "B")
b_a = symbol("activation_bytes", "b_{a}", "bytes per activation element", "B")
imb_given = symbol("expert_imbalance_given", r"\lambda_{0}",
                   "stated busiest/mean expert-GPU load (0: compute it)", "1")
cap = symbol("capacity_factor", "c_{f}", "MoE dispatch buffer size relative to the mean load", "1")
r_exp = symbol("redundant_experts", "r", "EPLB replicas of hot experts per MoE layer (memory "
               "spent against load imbalance)", "1")
n_draft = symbol("draft_tokens", "n_{d}", "speculative (MTP) tokens a decode step verifies per "
                 "sequence beside the real one", "1")
acc = symbol("accepted_tokens", r"\bar{a}", "tokens a decode step yields per sequence on average "
             "(1 + accepted drafts)", "1")
overlap = symbol("comm_overlap", r"\omega", "share of the shorter of a layer's compute and collectives "
                 "hidden by running them side by side (1: only the longer counts; two-batch overlap: "
                 "1/2)", "1")

# --- strategy ---------------------------------------------------------------------
dp = symbol("dp", "dp", "data-parallel degree of attention (replicas of the dense part)", "1")
tp = symbol("tp", "tp", "tensor-parallel degree (heads and FFN columns split)", "1")
pp = symbol("pp", "pp", "pipeline-parallel degree (layer stages)", "1")
ep = symbol("ep", "ep", "expert-parallel degree (experts split over GPUs)", "1")
etp = symbol("etp", "etp", "tensor-parallel degree inside each expert", "1")
m = symbol("microbatches", "m", "micro-batches that fill the pipeline", "1")

# --- step (prefill or decode) -------------------------------------------------------
n_q = symbol("queries_per_seq", "n_{q}", "new tokens per sequence in this step (S prefill, 1 decode)",
             "1")
ctx = symbol("attended_context", r"\bar{c}", "mean context a new token attends to "
             "((S+1)/2 causal prefill, C decode)", "1")
kv_len = symbol("kv_read_len", "c_{kv}", "KV-cache tokens read per sequence in this step", "1")
eager = symbol("eager_launch", r"\epsilon", "1 when this step's kernels are launched from the host "
               "one by one (prefill; decode without a CUDA graph), 0 under a CUDA graph", "1")

#: values of the step inputs in each phase
PHASES = {
    "prefill": {n_q: S, ctx: (S + 1) / 2, kv_len: S, eager: 1},
    "decode": {n_q: 1 + n_draft, ctx: C, kv_len: C, eager: 1 - g_dec},
}
