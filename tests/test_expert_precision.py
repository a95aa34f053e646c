"""Routed experts stored in their own precision: MXFP4 (gpt-oss), fp8 experts, weight-only kernels."""

import dataclasses
import json

import pytest

import moekit
from moekit import Strategy, Workload, evaluate
from moekit.errors import SpecError
from moekit.spec.inputs import DTYPE_BYTES

H200 = moekit.load_hardware("h200")


def test_mxfp4_is_four_bits_plus_a_shared_scale_per_32_elements():
    # OCP Microscaling Formats (MX) v1.0: E2M1 elements, blocks of 32 share one E8M0 (8-bit) scale
    assert DTYPE_BYTES["mxfp4"] == pytest.approx((32 * 4 + 8) / 32 / 8)


@pytest.mark.parametrize("model, published_gib", [("gpt-oss-120b", 60.8), ("gpt-oss-20b", 12.8)])
def test_gpt_oss_checkpoint_size_with_mxfp4_experts(model, published_gib):
    # gpt-oss model card (OpenAI, arXiv:2508.10925), Table 1: checkpoint sizes 60.8 GiB and 12.8 GiB
    # with the MoE weights in MXFP4 and everything else in bf16
    w = Workload(batch=1, prompt_len=1, weight_dtype="bf16", expert_dtype="mxfp4")
    r = evaluate(moekit.load_model(model), H200, w, Strategy())
    assert r["weight_bytes_per_gpu"] / 2**30 == pytest.approx(published_gib, rel=0.03)


def test_expert_weights_alone_change_precision():
    model = moekit.load_model("gpt-oss-20b")
    bf16 = evaluate(model, H200, Workload(batch=1, prompt_len=1), Strategy())
    mx = evaluate(model, H200, Workload(batch=1, prompt_len=1, expert_dtype="mxfp4"), Strategy())
    assert mx["attention_weight_bytes_per_gpu"] == bf16["attention_weight_bytes_per_gpu"]
    router = model.num_layers * model.d_model * model.num_experts * 2
    experts_bf16 = bf16["expert_weight_bytes_per_gpu"] - router
    assert mx["expert_weight_bytes_per_gpu"] - router == pytest.approx(experts_bf16 / 2 * DTYPE_BYTES["mxfp4"])


def test_dtype_defaults_and_weight_only_experts():
    plain = Workload(batch=1, prompt_len=1, weight_dtype="fp8")
    assert (plain.expert_dtype, plain.expert_compute_dtype, plain.expert_weight_only) == ("fp8", "fp8", False)
    mx = Workload(batch=1, prompt_len=1, expert_dtype="mxfp4")
    assert (mx.expert_compute_dtype, mx.expert_weight_only) == ("bf16", True)  # W4A16: dequantized
    fp8_experts = Workload(batch=1, prompt_len=1, expert_dtype="fp8")
    assert (fp8_experts.expert_compute_dtype, fp8_experts.expert_weight_only) == ("fp8", False)


def test_unknown_expert_dtype_names_the_field():
    with pytest.raises(SpecError, match="expert_dtype='nf3'"):
        Workload(batch=1, prompt_len=1, expert_dtype="nf3")


def test_expert_efficiency_follows_the_expert_kernel():
    gpu = dataclasses.replace(H200, expert_mfu=0.6, fp8_expert_mfu=0.3, weight_only_expert_mfu=0.2)
    assert gpu.efficiency("bf16")["expert_mfu"] == 0.6
    assert gpu.efficiency("fp8")["expert_mfu"] == 0.3
    assert gpu.efficiency("bf16", "bf16", expert_weight_only=True)["expert_mfu"] == 0.2
    unset = dataclasses.replace(H200, expert_mfu=0.6)
    assert unset.efficiency("fp8")["expert_mfu"] == 0.6  # no fp8 figure: the expert one
    assert unset.efficiency("bf16", "bf16", expert_weight_only=True)["expert_mfu"] == 0.6


def test_fp8_experts_beside_bf16_attention_run_at_the_fp8_peak():
    model = moekit.load_model("qwen3-30b-a3b")
    gpu = dataclasses.replace(H200, mfu=0.5, gemm_half_rows=0.0)
    w = Workload(batch=64, prompt_len=4096, expert_dtype="fp8")
    r = evaluate(model, gpu, w, Strategy())
    assert r["expert_peak_flops"] == H200.peak_for("fp8") and r["peak_flops"] == H200.peak_for("bf16")
    flops = r["prefill_experts_flops_per_gpu"]
    assert r["prefill_experts_compute_time_s"] == pytest.approx(flops / (H200.peak_for("fp8") * 0.5))


def test_decode_reads_four_bit_experts():
    # a memory-bound decode step reads each touched expert's weights once, in their precision
    model = moekit.load_model("gpt-oss-120b")
    bf16 = evaluate(model, H200, Workload(batch=1, prompt_len=1024), Strategy())
    mx = evaluate(model, H200, Workload(batch=1, prompt_len=1024, expert_dtype="mxfp4"), Strategy())
    weights_bf16 = bf16["decode_experts_bytes_per_gpu"] - mx["decode_experts_bytes_per_gpu"]
    per_expert = 3 * model.d_model * model.expert_ffn_dim
    assert weights_bf16 == pytest.approx(model.top_k * per_expert * (2 - DTYPE_BYTES["mxfp4"]))


def test_cli_expert_dtype_reaches_the_memory(capsys):
    from moekit.cli import main

    args = ["evaluate", "--model", "gpt-oss-20b", "--hardware", "h200", "--strategy", "TP1", "--batch", "1",
            "--prompt", "128", "--format", "json"]
    assert main(args) == 0
    bf16 = json.loads(capsys.readouterr().out)["memory_breakdown_bytes"]["expert_weight_bytes_per_gpu"]
    assert main(args + ["--expert-dtype", "mxfp4"]) == 0
    mx = json.loads(capsys.readouterr().out)["memory_breakdown_bytes"]["expert_weight_bytes_per_gpu"]
    assert mx < bf16 / 3.5  # 4.25 of 16 bits, the replicated bf16 router aside
