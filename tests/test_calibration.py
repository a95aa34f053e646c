"""Calibration against the H100/H200 measurements (CPU only, from data/measurements/*.csv)."""

import dataclasses

import numpy as np
import pytest

from moekit import calibration
from moekit.errors import SpecError
from moekit.evaluate import evaluate
from moekit.spec.inputs import Model, Strategy, Workload
from moekit.spec.presets import load_hardware, load_hardware_preset, load_model

GPUS = tuple(calibration.DEVICE_KINDS)


def test_fits_are_deterministic():
    first = calibration.fitted_parameters("h200", "graph")
    calibration.fitted_parameters.cache_clear()
    assert calibration.fitted_parameters("h200", "graph") == first


@pytest.mark.parametrize("mode", ["graph", "eager"])
@pytest.mark.parametrize("gpu", GPUS)
def test_fitted_parameters_are_physical(gpu, mode):
    p = calibration.fitted_parameters(gpu, mode)
    for name in calibration.FRACTIONS & p.keys():  # the micro-benchmarks fit no expert-quant kernels
        assert 0 < p[name] <= 1, name
    for name in ("intra_node_latency", "alltoall_latency", "p2p_latency", "kernel_overhead"):
        assert p[name] > 0, name
    for name in ("intra_node_bandwidth", "alltoall_bandwidth", "p2p_bandwidth"):
        assert 100e9 < p[name] < 450e9, name  # NVLink 4: 450 GB/s per direction at most
    assert 0.6 < p["mfu"] <= 0.85  # bf16 GEMMs reach 700-780 of 989 TFLOP/s
    assert p["gemm_half_rows"] >= 0 and p["attention_half_bytes"] >= 0


def test_held_out_rows_are_never_fitted():
    gemm = calibration.measurements("gemm")
    assert gemm.loc[gemm["m_tokens"] == 3 * 2**10, "held_out"].all()
    assert not gemm.loc[(gemm["m_tokens"] == 2**10) & (gemm["dtype"] == "bf16"), "held_out"].any()
    fp8 = gemm[gemm["dtype"].str.startswith("fp8")]  # fp8 ran on 2^p only: 2^(2p+1) held out
    assert fp8.loc[fp8["m_tokens"] == 2**11, "held_out"].all()
    assert not fp8.loc[fp8["m_tokens"] == 2**10, "held_out"].any()
    assert calibration.measurements("moe_layer")["held_out"].all()
    assert calibration.measurements("nccl").query("msg_bytes == 12288")["held_out"].all()


def _table(mode="graph"):
    t = calibration.accuracy_table(mode)
    return {(r.gpu, r.family): r.mape_calibrated_pct for r in t.itertuples()}


def test_calibration_meets_the_targets_on_held_out_gemm_ffn_and_collectives():
    errors = _table()
    for gpu in GPUS:
        assert errors[(gpu, "gemm")] <= 10
        assert errors[(gpu, "moe_ffn")] <= 10
    for family in ("all_reduce", "all_to_all", "send_recv"):
        assert errors[("h200", family)] <= 10


def test_calibration_beats_the_plain_presets_on_every_family():
    t = calibration.accuracy_table("graph")
    assert (t["mape_calibrated_pct"] < t["mape_plain_pct"]).all()


def test_honest_misses_are_pinned():
    # These miss their targets (README, "Calibration against H100/H200 measurements"):
    # - fp8 on the H200: one fp8_mfu (fitted on the 4^p-token fp8 GEMMs) cannot follow the
    #   shape-dependent kernels: small-k GEMMs (qwen3 down, k = 768) run 15% slower at large T,
    #   GEMV-like T <= 64 up to 30% faster than bytes / bandwidth + the bf16 kernel time.
    #   Not a kernel count (data/measurements/kernels.csv): both dtypes launch the same cuBLASLt
    #   kernels; the 4.4 us averages split-K and 8x64-tile choices that both dtypes share.
    errors = _table()
    pinned = {("h200", "gemm_fp8"): 10.25}
    for key, figure in pinned.items():
        assert errors[key] == pytest.approx(figure, abs=0.1), key


def test_the_physical_terms_bring_attention_fp8_and_the_layer_within_target():
    errors = _table()
    for gpu in GPUS:
        assert errors[(gpu, "attention decode")] <= 10
        assert errors[(gpu, "attention prefill")] <= 5  # 11.4 / 10.6 before the flash terms
        assert errors[(gpu, "elementwise")] <= 10
        assert errors[(gpu, "moe_layer decode")] <= 15
        assert errors[(gpu, "moe_layer prefill")] <= 15
    assert errors[("h100-sxm", "gemm_fp8")] <= 10


@pytest.mark.parametrize("gpu", GPUS)
def test_flash_terms_fit_to_physical_sizes(gpu):
    p = calibration.fitted_parameters(gpu, "graph")
    # the softmax costs 20-30 head dims of tensor-core time per score: head_dim 64 runs at
    # 64 / (64 + d0) of the rate, 128 at 128 / (128 + d0) (measured: 313 and 352 TFLOP/s)
    assert 4 * 15 < p["attention_softmax_flops"] < 4 * 35
    assert 0.5e-6 < p["attention_block_time"] < 5e-6  # load Q, rescale, write O of one block
    assert load_hardware(f"{gpu}@calibrated").attention_block_rows == 128


def test_calibrated_presets_take_the_sm_count_and_the_torch_layer_counts():
    hw = load_hardware("h200@calibrated")
    assert hw.sm_count == 132 == calibration.sm_count("h100-sxm")
    assert hw.elementwise_kernels_per_layer == 25 and hw.elementwise_passes_per_layer == 42
    assert 0.6 < hw.fp8_mfu < hw.mfu  # fp8 reaches a lower share of its peak than bf16
    assert load_hardware_preset("h200@calibrated").source["fp8_mfu"].startswith(
        "measured: fitted by moekit.calibration.fit to data/measurements/gemm.csv (gemm_fp8 on-grid")
    assert "counted" in load_hardware_preset("h200@calibrated").assumed["elementwise_kernels_per_layer"]
    assert calibration.measurements("ceilings").query("op == 'copy' and buffer_bytes == 2**17")[
        "held_out"].all()


def test_calibrated_preset_loads_and_changes_predictions():
    model = load_model("mixtral-8x7b")
    work = Workload(batch=16, prompt_len=1024, output_len=64)
    plain = evaluate(model, load_hardware("h100-sxm"), work, Strategy(tp=2))
    calibrated_hw = load_hardware("h100-sxm@calibrated")
    calibrated = evaluate(model, calibrated_hw, work, Strategy(tp=2))
    assert calibrated_hw.name == "h100-sxm@calibrated"
    assert calibrated["tpot_s"] != plain["tpot_s"] and calibrated["ttft_s"] != plain["ttft_s"]
    assert load_hardware("h100-sxm@calibrated") is calibrated_hw  # cached
    assert dataclasses.replace(calibrated_hw, name="x").peak_flops == load_hardware("h100-sxm").peak_flops


def test_calibrated_preset_says_which_numbers_are_measured():
    preset = load_hardware_preset("h200@calibrated")
    assert preset.source["mfu"].startswith("measured")
    assert "mfu" not in preset.assumed
    assert preset.source["hbm_bandwidth"] == load_hardware_preset("h200").source["hbm_bandwidth"]
    assert "H200" in load_hardware_preset("h100-sxm@calibrated").assumed["intra_node_bandwidth"]


def test_eager_variant_has_larger_launch_overhead():
    assert (load_hardware("h200@calibrated-eager").kernel_overhead
            > 2 * load_hardware("h200@calibrated").kernel_overhead)


@pytest.mark.parametrize("name", ["h200@fast", "a100-80gb@calibrated"])
def test_unknown_variant_lists_the_available_ones(name):
    with pytest.raises(SpecError, match="h100-sxm@calibrated, h100-sxm@calibrated-eager, h200@calibrated"):
        load_hardware(name)


def test_predictions_go_through_the_registry_formulas():
    c = calibration.case("gemm", "h100-sxm")
    hw = load_hardware("h100-sxm")
    row = int(np.argmax(c.rows["m_tokens"].to_numpy() == 4096))
    r = c.rows.iloc[row]
    gemm = Model(name="g", num_layers=1, d_model=int(r.k), vocab_size=int(r.n), num_heads=1,
                 dense_ffn_dim=1)
    e = evaluate(gemm, hw, Workload(batch=4096, prompt_len=1), Strategy())
    assert calibration.predict(c, hw)[row] == pytest.approx(e["lm_head_time_s"])
