"""Kernel- and collective-specific efficiencies: unset they change nothing; set they act on one op."""

import dataclasses

import pytest

from moekit.errors import SpecError
from moekit.evaluate import evaluate
from moekit.spec.inputs import Strategy, Workload
from moekit.spec.presets import load_hardware, load_model

MODEL = load_model("mixtral-8x7b")
# the SM-count terms are tested off (count unstated), then on: the preset states 132; the EP link
# figures are tested unset too (the preset's are fitted to measured NCCL)
H100 = dataclasses.replace(load_hardware("h100-sxm"), sm_count=0, alltoall_bandwidth=None,
                           alltoall_latency=None)
WORK = Workload(batch=8, prompt_len=2048, output_len=64)
EP2 = Strategy(dp=2, ep=2)


def _values(hw, strategy=EP2):
    return evaluate(MODEL, hw, WORK, strategy).values


def test_unset_kernel_efficiencies_fall_back_to_the_gemm_and_link_figures():
    explicit = dataclasses.replace(
        H100, attention_mfu=H100.mfu, attention_half_rows=0.0, attention_hbm_utilization=0.8,
        attention_half_bytes=0.0, expert_mfu=H100.mfu, expert_hbm_utilization=0.8,
        alltoall_bandwidth=H100.intra_node_bandwidth, alltoall_latency=H100.intra_node_latency,
        p2p_bandwidth=H100.intra_node_bandwidth, p2p_latency=H100.intra_node_latency)
    assert _values(explicit) == _values(H100)


def test_attention_mfu_slows_only_the_attention_core():
    before, after = _values(H100), _values(dataclasses.replace(H100, attention_mfu=0.25))
    assert after["prefill_attention_core_compute_time_s"] == pytest.approx(
        2 * before["prefill_attention_core_compute_time_s"])
    assert after["prefill_experts_time_s"] == before["prefill_experts_time_s"]
    assert after["prefill_attention_proj_time_s"] == before["prefill_attention_proj_time_s"]


def test_expert_dispatch_time_adds_once_per_expert_op():
    before = _values(H100)
    after = _values(dataclasses.replace(H100, expert_dispatch_time=50e-6))
    assert after["decode_experts_time_s"] - before["decode_experts_time_s"] == pytest.approx(50e-6)
    assert after["decode_attention_core_time_s"] == before["decode_attention_core_time_s"]


def test_alltoall_alpha_beta_acts_on_the_ep_alltoall_only():
    before = _values(H100)
    after = _values(dataclasses.replace(H100, alltoall_bandwidth=H100.intra_node_bandwidth / 2,
                                        alltoall_latency=0.0))
    assert after["prefill_ep_alltoall_time_s"] != before["prefill_ep_alltoall_time_s"]
    assert after["prefill_tp_allreduce_time_s"] == before["prefill_tp_allreduce_time_s"]


def test_p2p_alpha_beta_acts_on_the_pipeline_send():
    pp2 = Strategy(pp=2)
    before = _values(H100, pp2)
    after = _values(dataclasses.replace(H100, p2p_latency=1e-3), pp2)
    assert after["decode_pp_send_time_s"] - before["decode_pp_send_time_s"] == pytest.approx(
        1e-3 - H100.intra_node_latency)


def test_kernel_efficiency_above_one_is_refused():
    with pytest.raises(SpecError, match="attention_mfu=1.2 must be <= 1.0"):
        dataclasses.replace(H100, attention_mfu=1.2)


def test_elementwise_kernels_are_not_modelled_until_their_utilisation_is_set():
    v = _values(dataclasses.replace(H100, elementwise_kernels_per_layer=25,
                                    elementwise_passes_per_layer=42))
    assert v["decode_layer_elementwise_memory_time_s"] == 0
    assert v["prefill_experts_elementwise_time_s"] == 0
    assert v["decode_layer_elementwise_bytes_per_gpu"] > 0  # the bytes are there all the same


def test_layer_elementwise_time_is_its_bytes_at_the_elementwise_bandwidth_plus_its_kernels():
    hw = dataclasses.replace(H100, elementwise_hbm_utilization=0.5, elementwise_kernel_time=2e-6,
                             elementwise_kernels_per_layer=10, elementwise_passes_per_layer=4)
    before, v = _values(H100), _values(hw)
    tokens = v["decode_tokens_per_rank"]
    assert v["decode_layer_elementwise_bytes_per_gpu"] == pytest.approx(tokens * 4 * MODEL.d_model * 2)
    assert v["decode_layer_elementwise_time_s"] == pytest.approx(
        v["decode_layer_elementwise_bytes_per_gpu"] / (H100.hbm_bandwidth * 0.5) + 10 * 2e-6)
    assert v["decode_moe_layer_time_s"] - before["decode_moe_layer_time_s"] == pytest.approx(
        v["decode_layer_elementwise_time_s"] + v["decode_experts_elementwise_time_s"])


def test_expert_permute_bytes_count_gather_swiglu_and_combine_per_routed_copy():
    v = _values(dataclasses.replace(H100, elementwise_hbm_utilization=1.0))
    d, f, k = MODEL.d_model, MODEL.expert_ffn_dim, MODEL.top_k
    copies = v["prefill_tokens_per_rank"] * k * v["prefill_expert_imbalance"]
    assert v["prefill_experts_elementwise_bytes_per_gpu"] == pytest.approx(
        copies * (7 * d + d / k + 5 * f) * 2)
    assert v["prefill_experts_elementwise_time_s"] == pytest.approx(
        v["prefill_experts_elementwise_bytes_per_gpu"] / H100.hbm_bandwidth)


def test_fp8_mfu_acts_on_fp8_compute_only():
    hw = dataclasses.replace(H100, fp8_mfu=0.25)
    bf16 = evaluate(MODEL, hw, WORK, EP2).values
    assert bf16 == _values(H100)
    fp8 = Workload(batch=8, prompt_len=2048, output_len=64, weight_dtype="fp8")
    assert fp8.compute_dtype == "fp8"
    slow, fast = evaluate(MODEL, hw, fp8, EP2), evaluate(MODEL, H100, fp8, EP2)
    assert slow["prefill_attention_proj_compute_time_s"] == pytest.approx(
        2 * fast["prefill_attention_proj_compute_time_s"])


def test_expert_half_rows_slows_only_the_experts():
    before = _values(H100)
    after = _values(dataclasses.replace(H100, expert_half_rows=1000.0))
    assert after["prefill_experts_compute_time_s"] > before["prefill_experts_compute_time_s"]
    assert after["prefill_attention_proj_time_s"] == before["prefill_attention_proj_time_s"]


def test_attention_that_fits_in_one_wave_uses_the_one_wave_bandwidth():
    hw = dataclasses.replace(H100, sm_count=132, attention_hbm_utilization=0.5,
                             attention_one_wave_hbm_utilization=0.9)
    few = evaluate(MODEL, hw, Workload(batch=4, prompt_len=2048, output_len=64), Strategy()).values
    many = evaluate(MODEL, hw, Workload(batch=64, prompt_len=2048, output_len=64), Strategy()).values
    assert few["decode_attention_work_items"] == 4 * MODEL.num_kv_heads  # 32 blocks <= 132 SMs
    assert few["decode_attention_hbm_utilization_occupied"] == 0.9
    assert many["decode_attention_work_items"] == 64 * MODEL.num_kv_heads  # 512 > 132
    assert many["decode_attention_hbm_utilization_occupied"] == 0.5
    assert few["prefill_attention_hbm_utilization_occupied"] == 0.5  # 4 x 8 x 16 query blocks
    unset = dataclasses.replace(hw, sm_count=0)
    assert _values(unset)["decode_attention_hbm_utilization_occupied"] == 0.5


MIXTRAL_S = WORK.prompt_len
FLASH = dict(sm_count=132, attention_block_rows=128)


def _outputs(hw):
    inputs = {"attention_block_time", "attention_block_rows"}
    return {k: v for k, v in _values(hw).items() if k not in inputs}


def test_flash_kernel_terms_change_nothing_until_set():
    # the block time needs the SM count; the tail needs it and the block size
    assert _outputs(dataclasses.replace(H100, attention_block_time=5e-6)) == _outputs(H100)
    assert _outputs(dataclasses.replace(H100, attention_block_rows=128, sm_count=132)) != _outputs(
        dataclasses.replace(H100, sm_count=132))
    assert _outputs(dataclasses.replace(H100, sm_count=132))["prefill_attention_core_tail_time_s"] == 0


def test_causal_diagonal_blocks_add_half_a_block_of_keys_to_each_prefill_query():
    before = _values(H100, Strategy())
    after = _values(dataclasses.replace(H100, attention_block_rows=128), Strategy())
    assert after["prefill_attention_core_compute_time_s"] == pytest.approx(
        before["prefill_attention_core_compute_time_s"] * (MIXTRAL_S + 1 + 127) / (MIXTRAL_S + 1))
    assert after["decode_attention_core_compute_time_s"] == before["decode_attention_core_compute_time_s"]
    assert after["prefill_attention_core_flops_per_gpu"] == before["prefill_attention_core_flops_per_gpu"]


def test_softmax_flops_cost_head_dims_of_tensor_core_time_per_score():
    before = _values(H100, Strategy())
    after = _values(dataclasses.replace(H100, attention_softmax_flops=4 * 32.0), Strategy())
    dh = MODEL.head_dim  # 128: efficiency dh / (dh + 32)
    assert after["prefill_attention_core_compute_time_s"] == pytest.approx(
        before["prefill_attention_core_compute_time_s"] * (dh + 32) / dh)


def test_query_blocks_and_the_longest_block_add_to_the_attention_compute_time():
    hw = dataclasses.replace(H100, attention_block_time=2e-6, **FLASH)
    v = _values(hw, Strategy())
    rate = H100.peak_flops["bf16"] * H100.mfu
    assert v["prefill_attention_core_block_time_s"] == pytest.approx(
        v["prefill_attention_work_items"] * 2e-6 / 132)
    assert v["prefill_attention_core_tail_time_s"] == pytest.approx(
        128 * MIXTRAL_S * 4 * MODEL.head_dim * 132 / rate)  # 128 queries x S keys on one SM
    assert v["prefill_attention_core_compute_time_s"] == pytest.approx(
        v["prefill_attention_core_kernel_flops_per_gpu"] / rate
        + v["prefill_attention_core_block_time_s"] + v["prefill_attention_core_tail_time_s"])
