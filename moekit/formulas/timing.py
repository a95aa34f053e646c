"""Time: roofline per op, expert load imbalance, stage time, TTFT, TPOT, throughput per GPU.

Per op: t = max(FLOPs / (P * eta_c), bytes / (W * eta_m)). Collectives add on top, minus the
share hidden under compute. PP does not shorten one batch's latency: a micro-batch passes
every stage; m micro-batches fill the pipeline, with bubble (pp-1)/(m+pp-1).

Legend (code name, input symbol: meaning [unit]):
    B                  batch: sequences in flight across the deployment [1]
    E                  num_experts: routed experts per MoE layer [1]
    O                  output_len: generated tokens per sequence [1]
    S                  prompt_len: prompt tokens per sequence [1]
    V                  vocab_size: vocabulary size [1]
    acc                accepted_tokens: tokens a decode step yields per sequence on average (1 + accepted
                        drafts) [1]
    attn_block_rows    attention_block_rows: query rows per block of the flash attention kernel; a block on
                        the causal diagonal computes its whole tile (0: exact causal FLOPs) [1]
    attn_block_time    attention_block_time: fixed time of one query block of the attention kernel on its
                        SM (load Q, final rescale, write O; 0: not modelled) [s]
    attn_bytes_half    attention_half_bytes: bytes at which the attention kernel reaches half its bandwidth
                        [B]
    attn_mfu           attention_mfu: achieved fraction of peak FLOP/s in the attention kernel (scores,
                        context) [1]
    attn_peak          attention_peak_flops: dense peak of one GPU in the attention kernel's precision
                        (bf16 in the engines even when the GEMMs run fp8) [FLOP/s]
    attn_rows_half     attention_half_rows: tokens at which the attention kernel reaches half its FLOP/s [1]
    attn_softmax_flops attention_softmax_flops: tensor-core FLOPs the softmax of one score costs (exp, max,
                        rescale beside the matrix products; 0: not modelled) [FLOP]
    attn_util          attention_hbm_utilization: achieved fraction of HBM bandwidth in the attention
                        kernel (KV reads) [1]
    attn_util_1w       attention_one_wave_hbm_utilization: achieved fraction of HBM bandwidth of an
                        attention kernel whose work items fit in one wave (one per SM) [1]
    b_a                activation_bytes: bytes per activation element [B]
    b_kv               kv_bytes: bytes per KV-cache element [B]
    b_w                weight_bytes: bytes per weight [B]
    b_we               expert_weight_bytes: bytes per routed-expert weight (block scales included) [B]
    bw_hbm             hbm_bandwidth: HBM bandwidth of one GPU [B/s]
    bytes_half         hbm_half_bytes: bytes at which a transfer reaches half of HBM bandwidth x
                        utilisation (0: flat) [B]
    ctx                attended_context: mean context a new token attends to ((S+1)/2 causal prefill, C
                        decode) [1]
    d                  d_model: hidden size (residual stream width) [1]
    d_h                head_dim: dimension of one attention head [1]
    d_nope             qk_nope_head_dim: MLA per-head q/k dimension without RoPE [1]
    d_rope             qk_rope_head_dim: MLA per-head q/k RoPE dimension [1]
    d_v                v_head_dim: MLA per-head value dimension [1]
    eager              eager_launch: 1 when this step's kernels are launched from the host one by one
                        (prefill; decode without a CUDA graph), 0 under a CUDA graph [1]
    ep                 ep: expert-parallel degree (experts split over GPUs) [1]
    ep_mask            ep_masked: 1 when expert parallelism masks instead of dispatching: every rank holds all
                        the tokens of its expert group and runs its fused-MoE kernels over all their routed
                        pairs (SGLang's and vLLM's EP without an all-to-all backend) [1]
    etp                etp: tensor-parallel degree inside each expert [1]
    ew_kernel          elementwise_kernel_time: fixed time of one elementwise kernel (launch, ramp, tail)
                        [s]
    ew_kernels         elementwise_kernels_per_layer: elementwise kernels per layer outside the experts
                        (norms, residual adds, router softmax/top-k, KV write) [1]
    ew_passes          elementwise_passes_per_layer: d-wide activation vectors each token reads or writes
                        in those kernels [1]
    ew_util            elementwise_hbm_utilization: achieved fraction of HBM bandwidth in separate
                        elementwise kernels (0: not modelled, assumed fused into the GEMMs) [1]
    exp_fixed          expert_dispatch_time: fixed time of one routed-expert op beyond its GEMM launch
                        (sort, gather, combine kernels) [s]
    exp_ep_ratio       ep_expert_mfu_ratio: fraction of expert_mfu an expert-parallel rank's fused-MoE
                        kernels reach (1: the same) [1]
    exp_mfu            expert_mfu: achieved fraction of peak FLOP/s in the routed-expert (grouped) GEMMs [1]
    exp_peak           expert_peak_flops: dense peak of one GPU in the routed-expert GEMMs' precision
                        (the activations' when the kernel dequantizes 4-bit weights) [FLOP/s]
    exp_rows_half      expert_half_rows: rows per expert at which the grouped expert GEMMs reach half their
                        FLOP/s [1]
    exp_width_half     expert_half_width: columns of an expert shard (f_e / etp) at which its grouped GEMMs
                        reach half their FLOP/s (0: flat) [1]
    exp_util           expert_hbm_utilization: achieved fraction of HBM bandwidth in the routed-expert
                        GEMMs [1]
    f_d                dense_ffn_dim: intermediate size of a dense FFN layer [1]
    f_e                expert_ffn_dim: intermediate size of one routed expert [1]
    f_s                shared_expert_ffn_dim: intermediate size of one shared expert [1]
    h                  num_heads: attention (query) heads [1]
    h_kv               num_kv_heads: key/value heads (GQA groups; = h for MHA) [1]
    imb_given          expert_imbalance_given: stated busiest/mean expert-GPU load (0: compute it) [1]
    k                  top_k: experts each token is routed to [1]
    kv_len             kv_read_len: KV-cache tokens read per sequence in this step [1]
    kv_regrow          kv_cache_regrown: 1 when each decode step copies the whole KV cache into a tensor
                        one token longer (transformers' DynamicCache: torch.cat per layer), 0 when the
                        cache is preallocated [1]
    kv_rep             gqa_kv_repeated: 1 when attention first copies each grouped K, V head once per query
                        head it serves (transformers' repeat_kv, whenever its SDPA gets a mask), 0 when the
                        kernel reads the grouped heads as they are [1]
    launch             kernel_overhead: fixed time per op (kernel launches; lower with CUDA graphs) [s]
    m                  microbatches: micro-batches that fill the pipeline [1]
    mask_mat           causal_mask_materialized: 1 when attention reads a materialised causal mask (one
                        byte per query-key pair), 0 when the kernel masks by position [1]
    mfu                mfu: achieved fraction of peak FLOP/s (model FLOPs utilisation) [1]
    mla_re             mla_reexpand: 1 when decode re-expands the MLA latent cache to full keys and values
                        every step (not absorbed), 0 when absorbed [1]
    moe_fused          moe_fused: 1 when the routed experts run as fused-MoE kernels (no permute copies; only
                        the activation and the top-k sum are separate kernels), 0 for grouped GEMMs with
                        separate permute and combine kernels [1]
    moe_tok            moe_token_time: GPU time per token routed on the GPU of one MoE layer's bookkeeping
                        kernels that no other term counts (transformers: three masked_fill kernels a layer)
                        [s]
    n_k                kernels_per_layer: kernels one transformer layer launches [1]
    n_mat              ffn_matrices: weight matrices per FFN: 3 gated (SwiGLU), 2 plain [1]
    n_q                queries_per_seq: new tokens per sequence in this step (S prefill, 1 decode) [1]
    n_s                num_shared_experts: shared experts per MoE layer [1]
    n_sm               sm_count: streaming multiprocessors of one GPU (0: occupancy not modelled) [1]
    overlap            comm_overlap: share of the shorter of a layer's compute and collectives hidden by
                        running them side by side (1: only the longer counts; two-batch overlap: 1/2) [1]
    peak               peak_flops: dense peak of one GPU in the compute precision [FLOP/s]
    pp                 pp: pipeline-parallel degree (layer stages) [1]
    r_kv               kv_lora_rank: MLA key/value latent rank [1]
    rows_half          gemm_half_rows: GEMM rows (tokens) at which achieved FLOP/s is half of peak x MFU
                        (0: flat) [1]
    sinks              attention_sinks: 1 when a learned logit per head joins every softmax (gpt-oss) [1]
    sinks_eager        sinks_run_eager: 1 when the stack runs a model with attention sinks through eager
                        attention (transformers: its SDPA path has no sinks), 0 when its kernel takes them [1]
    t_host             host_kernel_time: host time to launch one kernel from Python eagerly (a CUDA graph
                        replays them with none) [s]
    t_step             step_overhead: host time of one forward step outside the GPU kernels: scheduling,
                        input preparation, sampling, detokenisation [s]
    tp                 tp: tensor-parallel degree (heads and FFN columns split) [1]
    util_hbm           hbm_utilization: achieved fraction of HBM bandwidth [1]
"""

import sympy as sp

from moekit.formulas.communication import t_ep_a2a, t_pp, t_tp_ar
from moekit.formulas.core import formula
from moekit.formulas.flops import (
    F_attn_core,
    F_attn_proj,
    F_dense,
    F_experts,
    F_head,
    F_router,
    F_score,
    F_shared,
)
from moekit.formulas.parallel import (
    attention_width,
    dense_layers_per_stage,
    expected_experts_hit,
    expert_group_tokens,
    gpus,
    kv_elements_per_token_per_gpu,
    moe_layers_per_stage,
    seqs_per_rank,
    tokens_per_rank,
)
from moekit.formulas.parameters import P_attn, P_dense, P_expert, P_router, P_shared
from moekit.formulas.symbols import (
    B,
    E,
    O,
    S,
    V,
    acc,
    attn_block_rows,
    attn_block_time,
    attn_bytes_half,
    attn_mfu,
    attn_peak,
    attn_rows_half,
    attn_softmax_flops,
    attn_util,
    attn_util_1w,
    b_a,
    b_kv,
    b_w,
    b_we,
    bw_hbm,
    bytes_half,
    ctx,
    d,
    d_h,
    d_nope,
    d_rope,
    d_v,
    eager,
    ep,
    ep_mask,
    etp,
    ew_kernel,
    ew_kernels,
    ew_passes,
    ew_util,
    exp_ep_ratio,
    exp_fixed,
    exp_mfu,
    exp_peak,
    exp_rows_half,
    exp_util,
    exp_width_half,
    f_d,
    f_e,
    f_s,
    h,
    h_kv,
    imb_given,
    k,
    kv_len,
    kv_regrow,
    kv_rep,
    launch,
    m,
    mask_mat,
    mfu,
    mla_re,
    moe_fused,
    moe_tok,
    n_k,
    n_mat,
    n_q,
    n_s,
    n_sm,
    overlap,
    peak,
    pp,
    r_kv,
    rows_half,
    sinks,
    sinks_eager,
    t_host,
    t_step,
    tp,
    util_hbm,
)

imbalance_computed = formula(
    "expert_imbalance_expected", "1",
    "expected busiest/mean load over ep GPUs for multinomial top-k routing (Gaussian max): "
    "1 + sqrt(2 ln(ep) (ep-1) / (T_ep k))",
    sp.Min(ep, 1 + sp.sqrt(2 * sp.log(ep) * (ep - 1) / sp.Max(expert_group_tokens * k, 1))),
    latex=r"\lambda_{exp}")
imbalance = formula(
    "expert_imbalance", "1", "busiest/mean expert-GPU load used: the stated one, else expected",
    sp.Piecewise((imb_given, imb_given >= 1), (imbalance_computed, True)), latex=r"\lambda")

GEMM_EFFICIENCY = (mfu, rows_half, util_hbm, bytes_half)


def _op(name: str, doc: str, flops, bytes_, rows, latex: str, launches=1,
        efficiency=GEMM_EFFICIENCY, fixed=0, kernel_flops=None, compute_fixed=0, peak_=peak, runs=1):
    """Register FLOPs, bytes and roofline time of one op on one GPU for one layer.

    Small GEMMs run below peak: achieved FLOP/s = P mfu rows / (rows + r_1/2); small transfers
    below bandwidth: (D + D_1/2) / (W eta_m). Both terms vanish for uncalibrated GPUs (0).
    `efficiency` = (eta_c, r_1/2, eta_m, D_1/2) of the op's kernels (attention and experts have
    their own; the spec gives them the GEMM figures unless measured); `fixed` adds seconds.
    `kernel_flops` (default: the op's FLOPs) is what the kernel executes at that rate, and
    `compute_fixed` seconds add to its compute time. `runs` (1 or 0) says whether the op's kernel
    runs at all on this stack and model.
    """
    eta_c, rows_half_op, eta_m, bytes_half_op = efficiency
    f = formula(f"{name}_flops_per_gpu", "FLOP", f"{doc}: FLOPs on one GPU", runs * flops,
                latex=f"F^{{GPU}}_{{{latex}}}")
    b = formula(f"{name}_bytes_per_gpu", "B", f"{doc}: HBM bytes moved on one GPU", runs * bytes_,
                latex=f"D^{{GPU}}_{{{latex}}}")
    r = formula(f"{name}_gemm_rows", "1", f"{doc}: rows (tokens) of its matrix products", rows,
                latex=f"r_{{{latex}}}")
    what = "FLOPs at achieved FLOP/s" if kernel_flops is None else (
        "the kernel's FLOPs at achieved FLOP/s plus its fixed block and tail time")
    tc = formula(f"{name}_compute_time_s", "s", f"{doc}: {what}",
                 (f if kernel_flops is None else kernel_flops) / (peak_ * eta_c)
                 * (1 + rows_half_op / sp.Max(r, 1)) + compute_fixed,
                 latex=f"t_{{{latex}}}^{{c}}")
    tm = formula(f"{name}_memory_time_s", "s", f"{doc}: bytes at achieved HBM bandwidth",
                 (b + bytes_half_op) / (bw_hbm * eta_m), latex=f"t_{{{latex}}}^{{m}}")
    return formula(f"{name}_time_s", "s", f"{doc}: roofline time on one GPU",
                   runs * (sp.Max(tc, tm) + launches * launch + fixed), latex=f"t_{{{latex}}}")


T = tokens_per_rank
t_proj = _op("attention_proj", "q, k, v, o projections of one layer",
             T * F_attn_proj / tp,
             P_attn / tp * b_w + T * (2 * d + attention_width / tp) * b_a, T, "proj")
attn_items = formula(
    "attention_work_items", "1",
    "thread blocks of the attention kernel on one GPU: sequences x kv heads x 128-row query "
    "blocks (GQA query heads packed per kv head)",
    seqs_per_rank * h_kv / tp * sp.ceiling(n_q * h / sp.Max(h_kv, 1) / 128), latex="n_{attn}")
attn_util_occ = formula(
    "attention_hbm_utilization_occupied", "1",
    "HBM fraction of the attention kernel: the one-wave figure when its blocks fit on the SMs "
    "one each, else the many-wave one",
    sp.Piecewise((attn_util_1w, (attn_items <= n_sm) & (n_sm > 0)), (attn_util, True)),
    latex=r"\eta_{m,attn}^{occ}")
attn_scores = formula(
    "attention_core_scores_per_gpu", "1",
    "query-key pairs x heads the flash kernel computes on one GPU: a block of b queries on the "
    "causal diagonal computes its whole b x b tile, (b-1)/2 keys more per query",
    T * h / tp * (ctx + sp.Max(sp.Min(n_q, attn_block_rows) - 1, 0) / 2), latex=r"n_{scores}")
attn_kernel_flops = formula(
    "attention_core_kernel_flops_per_gpu", "FLOP",
    "tensor-core FLOPs the flash kernel spends on one GPU: per computed score its QK^T and AV "
    "products and its softmax", attn_scores * (F_score + attn_softmax_flops),
    latex=r"F^{GPU}_{attn,kernel}")
attn_blocks_time = formula(
    "attention_core_block_time_s", "s",
    "fixed time of the attention kernel's query blocks (load Q, final rescale, write O), shared "
    "by the SMs (0 while sm_count is unset)",
    sp.Piecewise((attn_items * attn_block_time / n_sm, n_sm > 0), (0, True)),
    latex=r"t_{attn}^{blk}")
attn_tail_time = formula(
    "attention_core_tail_time_s", "s",
    "the kernel's longest query block (b queries against the whole KV) on one SM after the others "
    "finish: the list-scheduling tail (0 while sm_count or the block size is unset)",
    sp.Min(n_q, attn_block_rows) * kv_len * (F_score + attn_softmax_flops) * n_sm
    / (attn_peak * attn_mfu), latex=r"t_{attn}^{tail}")
t_core = _op("attention_core", "attention scores and context of one layer",
             T * F_attn_core / tp,
             (seqs_per_rank * kv_len + T) * kv_elements_per_token_per_gpu * b_kv
             + T * attention_width / tp * b_a, T, "attn",
             efficiency=(attn_mfu, attn_rows_half, attn_util_occ, attn_bytes_half),
             kernel_flops=attn_kernel_flops, compute_fixed=attn_blocks_time + attn_tail_time,
             peak_=attn_peak, runs=1 - sinks * sinks_eager)
t_router = _op("router", "router of one MoE layer (tokens split over tp ranks)",
               T / tp * F_router, P_router * b_w + T / tp * (d + E) * b_a, T / tp, "router")
expert_tokens = formula(
    "expert_pairs_per_gpu", "1",
    "routed (token, expert) pairs the busiest GPU's expert shards compute, each f_e / etp wide: "
    "the expert group's T_ep k pairs over its ep ranks, at the busiest rank's load",
    expert_group_tokens * k / ep * imbalance, latex=r"P_{exp}")


def _hbm_time(bytes_):
    """Seconds to move `bytes_` through HBM at the GEMMs' achieved bandwidth."""
    return bytes_ / (bw_hbm * util_hbm)


def _elementwise_time(bytes_):
    """Seconds to move `bytes_` through HBM in separate elementwise kernels (0 when unmodelled)."""
    return sp.Piecewise((bytes_ / (bw_hbm * sp.Max(ew_util, 1e-12)), ew_util > 0), (0, True))


ew_expert_bytes = formula(
    "experts_elementwise_bytes_per_gpu", "B",
    "the routed experts' separate elementwise kernels: with grouped GEMMs, per routed pair the "
    "token permute (gather 2d), SwiGLU (3 n_mat - 4) f and weighted combine 7d + d/k; with fused-MoE "
    "kernels only the activation (read (n_mat - 1) f, write f) and the top-k sum (read d, write d/k)",
    expert_tokens * ((1 - moe_fused) * (7 * d + (3 * n_mat - 4) * f_e / etp)
                     + moe_fused * (n_mat * f_e / etp + d) + d / sp.Max(k, 1)) * b_a,
    latex=r"D^{GPU}_{exp,ew}")
t_ew_experts = formula(
    "experts_elementwise_time_s", "s",
    "routed-expert elementwise kernels at the elementwise HBM bandwidth (0: fused, not modelled)",
    _elementwise_time(ew_expert_bytes), latex=r"t_{exp,ew}")
expert_width_factor = formula(
    "experts_width_factor", "1",
    "narrow expert shards run below rate: each GEMM's expert dimension is f_e / etp columns, "
    "1 + w_1/2 / (f_e / etp)", 1 + exp_width_half / sp.Max(f_e / etp, 1), latex=r"\phi_{w,exp}")
masked_pairs = formula(
    "experts_masked_pairs_per_gpu", "1",
    "routed pairs of the expert group's tokens whose expert lives on another GPU, which a masking "
    "stack's fused-MoE kernels still pass over (0 when the tokens are dispatched)",
    ep_mask * sp.Max(expert_group_tokens * k - expert_tokens, 0), latex=r"P_{exp}^{mask}")
masked_bytes = formula(
    "experts_masked_bytes_per_gpu", "B",
    "HBM bytes of those pairs: zeros written for both GEMM outputs ((n_mat - 1) f_e / etp and d), "
    "the activation kernel's read and write (n_mat f_e / etp) and the top-k sum's read (d)",
    masked_pairs * ((2 * n_mat - 1) * f_e / etp + 2 * d) * b_a, latex=r"D^{GPU}_{exp,mask}")
t_masked = formula(
    "experts_masked_time_s", "s",
    "those bytes at the elementwise HBM bandwidth (0 when the stack dispatches, or unmodelled)",
    _elementwise_time(masked_bytes), latex=r"t_{exp,mask}")
t_experts = _op("experts", "routed experts of one MoE layer on the busiest expert GPU",
                expert_tokens * F_experts / (sp.Max(k, 1) * etp),
                expected_experts_hit / ep * P_expert / etp * b_we
                + expert_tokens * (2 * d + 2 * (n_mat - 1) * f_e / etp) * b_a,
                expert_tokens / sp.Max(expected_experts_hit / ep, 1), "experts",
                efficiency=(exp_mfu * sp.Piecewise((exp_ep_ratio, sp.And(ep > 1, moe_fused > 0)), (1, True)),
                            exp_rows_half, exp_util, bytes_half),
                fixed=exp_fixed + t_ew_experts + t_masked, peak_=exp_peak,
                kernel_flops=expert_tokens * F_experts / (sp.Max(k, 1) * etp) * expert_width_factor)
t_shared = _op("shared_experts", "shared experts of one MoE layer",
               T * F_shared / tp,
               P_shared / tp * b_w
               + sp.Min(n_s, 1) * T * (2 * d + 2 * (n_mat - 1) * n_s * f_s / tp) * b_a, T, "shared",
               launches=sp.Min(n_s, 1))
t_dense = _op("dense_ffn", "dense FFN of one dense layer",
              T * F_dense / tp,
              P_dense / tp * b_w + T * (2 * d + 2 * (n_mat - 1) * f_d / tp) * b_a, T, "ffn")
t_head = _op("lm_head", "LM head for the last token of each sequence (vocab split by tp)",
             seqs_per_rank * F_head / tp,
             V * d / tp * b_w + seqs_per_rank * V / tp * b_a, seqs_per_rank, "head")

ew_layer_bytes = formula(
    "layer_elementwise_bytes_per_gpu", "B",
    "HBM bytes of one layer's norms, residual adds, router softmax/top-k and KV write: "
    "n_p,ew d-wide vectors per token",
    T * ew_passes * d * b_a, latex=r"D^{GPU}_{ew}")
formula("layer_elementwise_flops_per_gpu", "FLOP",
        "elementwise kernels of one layer: FLOPs on one GPU (counted as none)", sp.Integer(0),
        latex=r"F^{GPU}_{ew}")
formula("layer_elementwise_compute_time_s", "s",
        "elementwise kernels of one layer: compute time (memory-bound, none)", sp.Integer(0),
        latex=r"t_{ew}^{c}")
t_ew_layer_mem = formula(
    "layer_elementwise_memory_time_s", "s",
    "elementwise kernels of one layer: bytes at the elementwise HBM bandwidth (0: not modelled)",
    _elementwise_time(ew_layer_bytes), latex=r"t_{ew}^{m}")
t_ew_layer = formula(
    "layer_elementwise_time_s", "s",
    "norms, residual adds, router softmax/top-k and KV write of one layer: memory time plus a "
    "fixed time per kernel", t_ew_layer_mem + ew_kernels * ew_kernel, latex=r"t_{ew}")

# --- stack terms (moekit.spec.stack): each is 0 unless the serving software does it ---------
extra_kv = kv_len - n_q  # cached tokens beyond this step's own: 0 in prefill, C - 1 in decode
mla_re_flops = formula(
    "mla_reexpand_flops_per_gpu", "FLOP",
    "a stack that does not absorb MLA's up-projections multiplies the cached latent of every "
    "earlier token back to per-head keys and values in each decode step (0 for GQA)",
    variants={"gqa": sp.Integer(0),
              "mla": mla_re * seqs_per_rank * extra_kv * 2 * r_kv * h / tp * (d_nope + d_v)},
    latex=r"F^{GPU}_{mla,re}")
mla_re_gemm_bytes = formula(
    "mla_reexpand_gemm_bytes_per_gpu", "B",
    "HBM bytes of the re-expansion GEMM (kv_b_proj over the cache): the latent read, the per-head "
    "keys' no-rope part and values written (0 for GQA)",
    variants={"gqa": sp.Integer(0),
              "mla": mla_re * seqs_per_rank * extra_kv * (r_kv * b_kv + h / tp * (d_nope + d_v) * b_a)},
    latex=r"D^{GPU}_{mla,re,gemm}")
mla_re_copy_bytes = formula(
    "mla_reexpand_copy_bytes_per_gpu", "B",
    "HBM bytes after that GEMM, in separate kernels: the keys assembled by copies (the no-rope part "
    "read and written, the shared rope part read and written per head, as transformers 5.17's "
    "DeepseekV2Attention.expand_kv does) and the expanded keys and values read by attention "
    "(0 for GQA)",
    variants={"gqa": sp.Integer(0),
              "mla": mla_re * seqs_per_rank * extra_kv
              * (d_rope * b_kv + h / tp * (2 * d_nope + d_rope) * b_a
                 + h / tp * (d_nope + d_rope + d_v) * b_a)},
    latex=r"D^{GPU}_{mla,re,copy}")
mla_re_bytes = formula(
    "mla_reexpand_bytes_per_gpu", "B", "HBM bytes of the whole re-expansion (0 for GQA)",
    mla_re_gemm_bytes + mla_re_copy_bytes, latex=r"D^{GPU}_{mla,re}")
t_mla_re = formula(
    "mla_reexpand_time_s", "s",
    "MLA re-expansion of one layer: the GEMM's roofline time, then its copies at the HBM bandwidth "
    "(kernels in sequence, so the times add; 0 when absorbed)",
    sp.Max(mla_re_flops / (peak * mfu), _hbm_time(mla_re_gemm_bytes)) + _hbm_time(mla_re_copy_bytes),
    latex=r"t_{mla,re}")
mask_bytes = formula(
    "attention_mask_bytes_per_gpu", "B",
    "a materialised causal mask read by the attention kernel of one layer: one byte per query-key "
    "pair (0 when the kernel masks by position)",
    mask_mat * seqs_per_rank * n_q * kv_len, latex=r"D^{GPU}_{mask}")
t_mask = formula("attention_mask_time_s", "s", "reading that mask at the HBM bandwidth",
                 _hbm_time(mask_bytes), latex=r"t_{mask}")
kv_repeat_bytes = formula(
    "attention_kv_repeat_bytes_per_gpu", "B",
    "a stack that copies the grouped K, V heads out to one per query head: per token attended the "
    "copy reads the grouped heads and writes h / tp heads, which attention then reads in their "
    "place (2 h / tp heads moved in all; 0 for MHA and MLA)",
    variants={"gqa": kv_rep * sp.Piecewise((1, h_kv < h), (0, True)) * seqs_per_rank * kv_len
              * 2 * d_h * 2 * h / tp * b_kv,
              "mla": sp.Integer(0)},
    latex=r"D^{GPU}_{kv,rep}")
t_kv_repeat = formula("attention_kv_repeat_time_s", "s", "that copy and re-read at the HBM bandwidth",
                      _hbm_time(kv_repeat_bytes), latex=r"t_{kv,rep}")
kv_regrow_bytes = formula(
    "kv_cache_regrow_bytes_per_gpu", "B",
    "a cache that grows by concatenation copies every cached token's K and V of one layer into a "
    "new tensor each decode step: read once and written once (0 in prefill and when preallocated)",
    kv_regrow * seqs_per_rank * extra_kv * 2 * kv_elements_per_token_per_gpu * b_kv,
    latex=r"D^{GPU}_{kv,grow}")
t_kv_regrow = formula("kv_cache_regrow_time_s", "s", "that copy at the HBM bandwidth",
                      _hbm_time(kv_regrow_bytes), latex=r"t_{kv,grow}")
t_moe_tok = formula(
    "experts_bookkeeping_time_s", "s",
    "a stack's per-token MoE bookkeeping kernels of one layer: the tokens its router sees on the GPU "
    "times their time per token (0 for the engines)",
    expert_group_tokens * moe_tok, latex=r"t_{moe,book}")
eager_scores = formula(
    "attention_eager_scores_per_gpu", "1",
    "scores an eager attention writes to HBM in one layer: every query against every key of the "
    "step, the masked ones too (a prompt's full square; in decode the keys the cache holds), per "
    "head on the GPU (0 unless the stack runs this model eagerly)",
    sinks * sinks_eager * seqs_per_rank * n_q * sp.Max(kv_len, n_q) * h / tp, latex=r"n_{scores}^{eager}")
EAGER_PASSES = 33
eager_bytes = formula(
    "attention_eager_bytes_per_gpu", "B",
    f"HBM bytes of those scores: {EAGER_PASSES} passes' worth. transformers 5.17's gpt-oss "
    "eager_attention_forward makes 14 (the QK^T product written; scale, mask add, sink concat, "
    "max-subtract and softmax each read and write; the mask add also reads the mask; the max reads; "
    "the PV product reads), but after the sink concat every row is one element long, and the kernels "
    "that follow run unvectorised: the function alone on an H200 moves 65 B per bf16 score at a "
    "device copy's bandwidth at large sizes, 80 B at small ones "
    "(data/measurements/gpt_oss_eager_attention.csv)",
    eager_scores * EAGER_PASSES * b_a, latex=r"D^{GPU}_{attn,eager}")
t_eager = formula(
    "attention_eager_time_s", "s",
    "eager attention in place of a flash kernel: its score passes as elementwise kernels, and its "
    "QK^T and PV products as GEMMs over every score (4 d_h FLOPs each)",
    _elementwise_time(eager_bytes) + eager_scores * 4 * d_h / (peak * mfu),
    latex=r"t_{attn,eager}")
t_host_layer = formula(
    "layer_host_time_s", "s",
    "host time to launch one layer's kernels eagerly; the GPU waits for it when it is longer than "
    "the kernels (0 under a CUDA graph)", eager * n_k * t_host, latex=r"t_{L}^{host}")

comm_share = 1 - overlap
moe_kernels = formula(
    "moe_layer_kernel_time_s", "s", "kernels of one MoE layer on the busiest GPU",
    t_proj + t_core + t_router + t_experts + t_shared + t_ew_layer + t_mla_re + t_mask + t_kv_repeat
    + t_eager + t_kv_regrow + t_moe_tok,
    latex=r"t_{L,moe}^{k}")
moe_collectives = formula(
    "moe_layer_collective_time_s", "s", "collectives of one MoE layer: two all-reduces, two all-to-alls",
    2 * (t_tp_ar + t_ep_a2a), latex=r"t_{L,moe}^{c}")
dense_kernels = formula(
    "dense_layer_kernel_time_s", "s", "kernels of one dense layer on the busiest GPU",
    t_proj + t_core + t_dense + t_ew_layer + t_mla_re + t_mask + t_kv_repeat
    + t_eager + t_kv_regrow, latex=r"t_{L,dense}^{k}")
dense_collectives = formula(
    "dense_layer_collective_time_s", "s", "collectives of one dense layer: two all-reduces",
    2 * t_tp_ar, latex=r"t_{L,dense}^{c}")


def _exposed(kernels, collectives):
    """Collective time left on the critical path: overlap hides a share of the shorter of the two
    (a collective hides only under compute that runs beside it; two micro-batches, as in two-batch
    overlap, leave half of the shorter exposed: omega = 1/2)."""
    return collectives - overlap * sp.Min(kernels, collectives)


t_moe_layer = formula(
    "moe_layer_time_s", "s",
    "one MoE layer on the busiest GPU: its kernels plus the collectives not hidden under them "
    "(omega of the shorter of the two is hidden), never less than the host's launches",
    sp.Max(moe_kernels + _exposed(moe_kernels, moe_collectives), t_host_layer), latex="t_{L,moe}")
t_dense_layer = formula(
    "dense_layer_time_s", "s",
    "one dense layer on the busiest GPU: its kernels plus the collectives not hidden under them, "
    "never less than the host's launches",
    sp.Max(dense_kernels + _exposed(dense_kernels, dense_collectives), t_host_layer),
    latex="t_{L,dense}")
stage_comm = formula(
    "stage_comm_time_s", "s", "collectives on the busiest stage's critical path (after overlap)",
    moe_layers_per_stage * _exposed(moe_kernels, moe_collectives)
    + dense_layers_per_stage * _exposed(dense_kernels, dense_collectives) + comm_share * t_pp,
    latex="t_{stage}^{comm}")
formula("expert_path_time_s", "s",
        "routed experts and their all-to-alls on the busiest stage: the part of a step that follows "
        "the tokens of the whole expert group, not one attention-DP rank's",
        moe_layers_per_stage * (t_experts + 2 * t_ep_a2a), latex="t_{stage}^{exp}")
t_stage = formula(
    "stage_time_s", "s", "one micro-batch through the busiest pipeline stage",
    moe_layers_per_stage * t_moe_layer + dense_layers_per_stage * t_dense_layer + t_head
    + comm_share * t_pp, latex="t_{stage}")
formula("comm_fraction", "1", "share of the stage time spent in collectives",
        stage_comm / t_stage, latex="f_{comm}")

t_stage_prefill = sp.Symbol("prefill_stage_time_s", nonnegative=True, real=True)
t_stage_decode = sp.Symbol("decode_stage_time_s", nonnegative=True, real=True)

ttft = formula("ttft_s", "s",
               "time to first token: the batch's prompts through all stages in m micro-batches, plus the "
               "stack's host time of one step",
               (m + pp - 1) * t_stage_prefill + t_step, latex="TTFT")
tpot = formula("tpot_s", "s",
               "time per output token at context C: a sequence's micro-batch comes round every "
               "max(m, pp) stage times, plus the stack's host time of one step, over the tokens a "
               "step yields (speculative / MTP decoding accepts more than one)",
               (sp.Max(m, pp) * t_stage_decode + t_step) / acc, latex="TPOT")
request_latency = formula("request_latency_s", "s", "TTFT plus O-1 decode steps",
                          ttft + (O - 1) * tpot, latex="t_{req}")
prefill_tps = formula("prefill_tokens_per_s_per_gpu", "1/s", "prompt tokens per second per GPU",
                      B * S / (ttft * gpus), latex="X_{prefill}")
decode_tps = formula("decode_tokens_per_s_per_gpu", "1/s", "generated tokens per second per GPU",
                     B / (tpot * gpus), latex="X_{decode}")
pipeline_bubble = formula("pipeline_bubble", "1", "idle share of a filled pipeline",
                          (pp - 1) / (m + pp - 1), latex="b_{pp}")
formula("ttft_flops_utilization", "1",
        "achieved share of peak FLOP/s over the prefill: step FLOPs / (G x P x TTFT)",
        sp.Symbol("prefill_step_flops_total", nonnegative=True, real=True) / (gpus * peak * ttft),
        latex="MFU_{prefill}")
