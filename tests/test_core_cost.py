"""Memory, FLOPs, communication and time against hand calculations."""

import dataclasses

import pytest

import moekit
from moekit import Strategy, Workload, evaluate
from moekit.spec.stack import Stack

SEED = moekit.load_model("seed-30b-moe")
SEED_GPU = moekit.load_hardware("seed-gpu")
H100 = moekit.load_hardware("h100-sxm")


def seed_eval(strategy="TP2-EP2", batch=8, prompt=1024, output=1024, **workload):
    w = Workload(batch=batch, prompt_len=prompt, output_len=output, weight_dtype="fp16", **workload)
    return evaluate(SEED, SEED_GPU, w, Strategy.parse(strategy, "folded"))


def test_seed_weights_per_gpu_by_hand():
    r = seed_eval("TP2-EP2")
    attention = 16 * (4 * 1024**2 / 2 + 2 * 1024) * 2  # q,k,v,o split by tp=2; norms replicated
    experts = 16 * (64 / 2 * 2 * 1024 * 2048 + 1024 * 64) * 2  # 32 experts/GPU; router replicated
    embedding = 2 * 32_000 * 1024 / 2 * 2  # embedding + untied head, vocab split by tp
    assert r["attention_weight_bytes_per_gpu"] == attention
    assert r["expert_weight_bytes_per_gpu"] == experts
    assert r["embedding_weight_bytes_per_gpu"] == embedding
    assert r["weight_bytes_per_gpu"] == attention + experts + embedding


@pytest.mark.parametrize("overlap", [0.0, 0.5, 1.0])
def test_overlap_hides_a_share_of_the_shorter_of_compute_and_collectives(overlap):
    # EP over 8 GPUs: the layer's kernels K and collectives X; omega hides omega * min(K, X)
    work = Workload(batch=64, prompt_len=2048, comm_overlap=overlap)
    r = evaluate(moekit.load_model("mixtral-8x7b"), H100, work, Strategy.parse("TP1-EP8-DP8", "folded"))
    k, x = r["prefill_moe_layer_kernel_time_s"], r["prefill_moe_layer_collective_time_s"]
    assert x > 0 and k > 0
    assert r["prefill_moe_layer_time_s"] == pytest.approx(k + x - overlap * min(k, x))
    if overlap == 1.0:
        assert r["prefill_moe_layer_time_s"] == pytest.approx(max(k, x))


def test_dispatch_in_fp8_halves_the_dispatch_not_the_combine():
    strategy = Strategy.parse("TP1-EP8-DP8", "folded")
    model = moekit.load_model("mixtral-8x7b")
    bf16 = evaluate(model, H100, Workload(batch=64, prompt_len=2048), strategy)
    fp8 = evaluate(model, H100, Workload(batch=64, prompt_len=2048, dispatch_dtype="fp8"), strategy)
    # the two all-to-alls of a layer move 2 + 1 bytes per element instead of 2 + 2
    assert fp8["prefill_ep_alltoall_message_bytes"] == pytest.approx(
        bf16["prefill_ep_alltoall_message_bytes"] * 3 / 4)


def test_seed_kv_cache_by_hand():
    # 8 sequences x (1024 + 1024) tokens x 16 layers x K and V x 8 of 16 heads x 64 dims x 2 B
    r = seed_eval("TP2-EP2")
    assert r["kv_cache_bytes_per_gpu"] == 8 * 2048 * 16 * 2 * 8 * 64 * 2 == 2**29


def test_kv_heads_replicate_when_fewer_than_tp():
    # Mixtral has 8 KV heads: at tp=16... tp must divide 32 q heads; at tp=16 each GPU still
    # holds one whole KV head (2 heads' worth would be wrong, half a head impossible)
    mixtral = moekit.load_model("mixtral-8x7b")
    w = Workload(batch=16, prompt_len=1000, output_len=24)
    r8 = evaluate(mixtral, H100, w, Strategy(tp=8))
    r16 = evaluate(mixtral, H100, w, Strategy(tp=16))
    assert r8["kv_cache_bytes_per_gpu"] == 16 * 1024 * 32 * 2 * 1 * 128 * 2
    assert r16["kv_cache_bytes_per_gpu"] == r8["kv_cache_bytes_per_gpu"]


def test_decode_flops_per_token_by_hand():
    r = seed_eval("TP1", batch=1, prompt=100, output=1, decode_context=100)
    per_layer = (2 * 4 * 1024**2  # projections
                 + 4 * 16 * 64 * 100  # scores and context against 100 tokens
                 + 2 * 1024 * 64  # router
                 + 2 * 2 * (2 * 1024 * 2048))  # top-2 experts, 2 matrices each
    expected = 16 * per_layer + 2 * 32_000 * 1024  # + LM head
    assert r["decode_flops_per_token"] == expected
    assert r["decode_step_flops_total"] == expected  # batch 1, one new token


def test_prefill_attention_keeps_the_quadratic_term():
    # causal prefill: token i attends to i tokens, mean (S+1)/2; sum over S tokens ~ S^2/2
    short, long_ = (seed_eval("TP1", batch=1, prompt=s, output=1) for s in (1024, 8192))
    per_rank = lambda r, s: r["prefill_attention_core_flops_per_gpu"]  # noqa: E731
    assert per_rank(short, 1024) == 1024 * 4 * 16 * 64 * (1024 + 1) / 2
    assert per_rank(long_, 8192) / per_rank(short, 1024) == pytest.approx(64, rel=0.01)


def test_decode_reads_only_the_experts_a_batch_hits():
    # batch 1, top-2 of 64: exactly 2 experts per layer are read
    one = seed_eval("TP1", batch=1, prompt=10, output=1)
    assert one["decode_expected_experts_hit"] == pytest.approx(2.0)
    # batch 128: 64 * (1 - (62/64)^128) = 63.03 experts expected
    many = seed_eval("TP1", batch=128, prompt=10, output=1)
    assert many["decode_expected_experts_hit"] == pytest.approx(64 * (1 - (62 / 64) ** 128))


def test_tp_allreduce_ring_volume():
    # decode, tp=8 inside a node: 2 (n-1)/n x (8 tokens x 1024 x 2 B) / 400 GB/s + 2 (n-1) x 3 us
    r = seed_eval("TP8", batch=8, prompt=10, output=1)
    message = 8 * 1024 * 2
    expected = 2 * 7 / 8 * message / 400e9 + 2 * 7 * SEED_GPU.intra_node_latency
    assert r["decode_tp_allreduce_time_s"] == pytest.approx(expected)


def test_ep_alltoall_across_nodes_pays_network_bandwidth():
    gpu = dataclasses.replace(SEED_GPU, gpus_per_node=8)
    w = Workload(batch=64, prompt_len=512, output_len=1, weight_dtype="fp16")
    inside = evaluate(SEED, gpu, w, Strategy(dp=8, ep=8))
    across = evaluate(SEED, gpu, w, Strategy(dp=16, ep=16))
    assert inside["ep_local_peers"] == 8 and across["ep_local_peers"] == 8
    # 8 of the 15 peers of the 16-way group sit on the other node: IB at 100 GB/s vs NVLink 400
    assert across["prefill_ep_alltoall_time_s"] > inside["prefill_ep_alltoall_time_s"]


def test_single_gpu_ttft_is_the_sum_of_op_times():
    r = seed_eval("TP1", batch=4, prompt=512, output=16)
    ops = r.ops
    prefill = ops[ops.phase == "prefill"].time_s.sum()
    assert r["ttft_s"] == pytest.approx(prefill, rel=1e-12)


def test_pipeline_does_not_shorten_one_batch_and_microbatches_fill_it():
    one = seed_eval("TP1", batch=64, prompt=4096)
    pp4 = seed_eval("PP4", batch=64, prompt=4096)
    pp4_m8 = seed_eval("PP4-M8", batch=64, prompt=4096)
    # PP4 with one micro-batch: 4 stages of 4 layers in series, plus sends -> not faster
    assert pp4["ttft_s"] >= one["ttft_s"] * 0.99
    assert pp4["pipeline_bubble"] == pytest.approx(3 / 4)
    assert pp4_m8["pipeline_bubble"] == pytest.approx(3 / 11)
    # compute-bound prefill: 8 micro-batches keep 4 stages busy 8/11 of the time instead of 1/4
    assert pp4_m8["prefill_tokens_per_s_per_gpu"] > 2 * pp4["prefill_tokens_per_s_per_gpu"]


def test_microbatches_cost_weight_rereads_when_memory_bound():
    # one 512-token prompt per micro-batch cannot amortise reading 4 layers of experts
    pp4 = seed_eval("PP4", batch=8, prompt=512)
    pp4_m8 = seed_eval("PP4-M8", batch=8, prompt=512)
    assert pp4_m8["prefill_tokens_per_s_per_gpu"] < pp4["prefill_tokens_per_s_per_gpu"]


def test_dp_replicates_weights_and_never_divides_them():
    # the seeds' favourite mistake: DP does not shrink weight memory
    r1 = seed_eval("TP2-EP2")
    r4 = seed_eval("TP2-EP2-DP4", batch=8)
    assert r4["weight_bytes_per_gpu"] >= r1["weight_bytes_per_gpu"]


def test_expected_imbalance_matches_gaussian_max_of_multinomial():
    # ep=8, 1024 tokens x top-2 in the group: 1 + sqrt(2 ln 8 x 7 / 2048)
    import math

    w = Workload(batch=1, prompt_len=1024, output_len=1, weight_dtype="fp16")
    r = evaluate(SEED, SEED_GPU, w, Strategy(dp=8, ep=8))
    tokens_in_group = 8 * 1024
    assert r["prefill_expert_imbalance"] == pytest.approx(
        1 + math.sqrt(2 * math.log(8) * 7 / (tokens_in_group * 2)))


def test_stated_imbalance_overrides_the_expected_one():
    r = seed_eval("TP1-DP4-EP4", batch=8, expert_imbalance=1.5)
    assert r["decode_expert_imbalance"] == 1.5


def test_small_gemms_run_below_peak_when_calibrated():
    # r_1/2 = 64 rows: a 16-row GEMM reaches 16/80 of peak x MFU, so compute time is 5x
    flat = seed_eval("TP1", batch=16, prompt=10, output=1)
    gpu = dataclasses.replace(SEED_GPU, gemm_half_rows=64)
    w = Workload(batch=16, prompt_len=10, output_len=1, weight_dtype="fp16")
    curved = evaluate(SEED, gpu, w, Strategy())
    assert curved["decode_attention_proj_compute_time_s"] == pytest.approx(
        5 * flat["decode_attention_proj_compute_time_s"])


def test_kernel_overhead_adds_once_per_op():
    w = Workload(batch=16, prompt_len=10, output_len=1, weight_dtype="fp16")
    flat = evaluate(SEED, SEED_GPU, w, Strategy())
    slow = evaluate(SEED, dataclasses.replace(SEED_GPU, kernel_overhead=5e-6), w, Strategy())
    # per MoE layer: projections, attention, router, experts (no shared experts) = 4 ops; + LM head
    assert slow["decode_stage_time_s"] - flat["decode_stage_time_s"] == pytest.approx((16 * 4 + 1) * 5e-6)


def test_sharding_experts_with_etp_costs_a_dispatch():
    # ep=1, etp=8: every expert is split over 8 GPUs, so each GPU's tokens must reach all 8, once
    # each (one EP rank holds all the experts: its k = 2 picks travel as one copy)
    w = Workload(batch=64, prompt_len=512, output_len=1, weight_dtype="fp16")
    r = evaluate(SEED, SEED_GPU, w, Strategy(dp=8, ep=1, etp=8))
    message = 64 / 8 * 512 * 1 * 1024 * 8 * 2  # tokens/rank x EP ranks hit x d x etp x 2 B
    expected = message * 7 / 8 / 400e9 + 7 * SEED_GPU.intra_node_latency
    assert r["prefill_ep_alltoall_time_s"] == pytest.approx(expected)
    assert evaluate(SEED, SEED_GPU, w, Strategy(dp=8))["prefill_ep_alltoall_time_s"] == 0


def test_a_token_goes_once_to_each_ep_rank_its_experts_live_on():
    # ep=4, k=2: distinct ranks hit = 4 (1 - (3/4)^2) = 1.75 copies per token, not k = 2
    w = Workload(batch=64, prompt_len=512, output_len=1, weight_dtype="fp16")
    r = evaluate(SEED, SEED_GPU, w, Strategy(dp=4, ep=4))
    assert r["ep_ranks_hit_per_token"] == pytest.approx(1.75)
    assert r["prefill_ep_alltoall_message_bytes"] == pytest.approx(64 / 4 * 512 * 1.75 * 1024 * 2)


def test_comm_fraction_is_the_collectives_share_of_the_ops_table():
    mixtral = moekit.load_model("mixtral-8x7b")
    r = evaluate(mixtral, H100, Workload(batch=64, prompt_len=2048), Strategy(tp=8, pp=2, ep=2, dp=1))
    ops = r.ops
    for phase in ("prefill", "decode"):
        part = ops[ops.phase == phase]
        comm = part[part.bound == "communication"].time_s.sum()
        assert r[f"{phase}_comm_fraction"] == pytest.approx(comm / part.time_s.sum())
        assert part.time_s.sum() == pytest.approx(r[f"{phase}_stage_time_s"])


def test_the_op_table_shows_the_collectives_overlap_leaves_exposed():
    work = Workload(batch=64, prompt_len=2048, comm_overlap=0.5)
    r = evaluate(moekit.load_model("mixtral-8x7b"), H100, work, Strategy.parse("TP1-EP8-DP8", "folded"))
    ops = r.ops[(r.ops.phase == "prefill") & (r.ops.bound == "communication")]
    assert ops.time_s.sum() == pytest.approx(r["prefill_stage_comm_time_s"])


def test_sharded_experts_compute_a_column_shard_of_every_pair():
    # tp=8 attention, ep=1, etp=8: each GPU computes f/8 columns of all T k routed pairs, so its
    # pairs are T k (not T k / 8), each 1/8 of an expert's FLOPs, and the GEMM rows per expert grow
    w = Workload(batch=8, prompt_len=512, output_len=1, weight_dtype="fp16")
    r = evaluate(SEED, SEED_GPU, w, Strategy(tp=8, ep=1, etp=8))
    tokens, k, d, f = 8 * 512, 2, 1024, 2048
    assert r["prefill_expert_pairs_per_gpu"] == pytest.approx(tokens * k)
    assert r["prefill_experts_flops_per_gpu"] == pytest.approx(tokens * k * 2 * 2 * d * f / 8)
    assert r["prefill_experts_gemm_rows"] == pytest.approx(tokens * k / 64)  # all 64 experts hit
    balanced = dataclasses.replace(w, expert_imbalance=1.0)  # EP at even load: the same FLOPs
    ep8 = evaluate(SEED, SEED_GPU, balanced, Strategy(tp=8, ep=8, etp=1))
    assert ep8["prefill_experts_flops_per_gpu"] == pytest.approx(r["prefill_experts_flops_per_gpu"])


def test_a_masking_stack_passes_over_every_pair_of_its_expert_group():
    # SGLang/vLLM EP without an all-to-all backend: TP attention already holds the T tokens, so no
    # dispatch; each of the ep = 8 ranks still writes zeros for and sums the pairs of the other 7
    masked = Stack(name="masked", all_to_all="allgather",
                          efficiency={"elementwise_hbm_utilization": 0.5})
    w = Workload(batch=8, prompt_len=512, output_len=1, weight_dtype="fp16", expert_imbalance=1.0)
    r = evaluate(SEED, SEED_GPU, w, Strategy(tp=8, ep=8, etp=1), stack=masked)
    tokens, k, d, f = 8 * 512, 2, 1024, 2048
    assert r["prefill_experts_masked_pairs_per_gpu"] == pytest.approx(tokens * k * 7 / 8)
    per_pair = (2 * 2 - 1) * f + 2 * d  # non-gated: zeros f and d, activation read f write f, sum d
    assert r["prefill_experts_masked_bytes_per_gpu"] == pytest.approx(tokens * k * 7 / 8 * per_pair * 2)
    assert r["prefill_experts_masked_time_s"] == pytest.approx(
        r["prefill_experts_masked_bytes_per_gpu"] / (SEED_GPU.hbm_bandwidth * 0.5))
    assert r["prefill_ep_alltoall_time_s"] == 0
    nccl = evaluate(SEED, SEED_GPU, w, Strategy(tp=8, ep=8, etp=1),
                    stack=dataclasses.replace(masked, all_to_all="nccl"))
    assert nccl["prefill_experts_masked_pairs_per_gpu"] == 0 and nccl["prefill_ep_alltoall_time_s"] > 0


def test_a_masking_stack_all_gathers_the_tokens_of_attention_dp_ranks():
    # dp=8 attention ranks, ep=8: each GPU receives the other 7 ranks' tokens, d wide
    masked = Stack(name="masked", all_to_all="allgather")
    w = Workload(batch=64, prompt_len=512, output_len=1, weight_dtype="fp16")
    r = evaluate(SEED, SEED_GPU, w, Strategy(dp=8, ep=8), stack=masked)
    message = 7 * 64 / 8 * 512 * 1024 * 2
    assert r["prefill_ep_allgather_message_bytes"] == pytest.approx(message)
    assert r["prefill_ep_alltoall_time_s"] == pytest.approx(message / 400e9 + 7 * SEED_GPU.intra_node_latency)
