"""Kernel- and collective-specific efficiencies: unset they change nothing; set they act on one op."""

import dataclasses

import pytest

from moekit.errors import SpecError
from moekit.evaluate import evaluate
from moekit.presets import load_hardware, load_model
from moekit.specs import Strategy, Workload

MODEL = load_model("mixtral-8x7b")
H100 = load_hardware("h100-sxm")
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
