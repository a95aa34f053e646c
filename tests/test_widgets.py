"""Widget panels: set a control, read what the panel displays, compare with the library."""

import dataclasses

import numpy as np
import pytest

from moekit.evaluate import evaluate
from moekit.spec.inputs import Strategy, Workload
from moekit.spec.presets import load_hardware, load_model
from moekit.ui import explain, widgets


def shown(panel, name) -> float:
    return float(panel.displayed(name).replace(",", ""))


def close(text_value: float, exact: float, digits: int = 4) -> bool:
    return text_value == pytest.approx(exact, rel=10 ** (1 - digits))


def test_explorer_shows_what_evaluate_computes_and_follows_the_batch_control():
    panel = widgets.StrategyExplorer(show_plots=False)
    model, hw = load_model("mixtral-8x7b"), load_hardware("h100-sxm")
    strategy = Strategy(dp=4, tp=2, ep=8)
    before = evaluate(model, hw, Workload(batch=64, prompt_len=2048, output_len=256), strategy)
    assert close(shown(panel, "tpot_ms"), before["tpot_s"] * 1e3)
    assert panel.displayed("tpot_ms") == widgets.format_value(before["tpot_s"] * 1e3)

    panel.controls["batch"].value = 256
    after = evaluate(model, hw, Workload(batch=256, prompt_len=2048, output_len=256), strategy)
    assert panel.displayed("tpot_ms") == widgets.format_value(after["tpot_s"] * 1e3)
    assert panel.displayed("ttft_ms") == widgets.format_value(after["ttft_s"] * 1e3)
    assert panel.displayed("decode_tps_gpu") == widgets.format_value(
        after["decode_tokens_per_s_per_gpu"])
    assert after["tpot_s"] != before["tpot_s"]


def test_explorer_mfu_and_degrees_reach_the_model():
    panel = widgets.StrategyExplorer(show_plots=False)
    panel.controls["mfu"].value = 0.3
    panel.controls["dp"].value = 1
    panel.controls["tp"].value = 8
    hw = dataclasses.replace(load_hardware("h100-sxm"), mfu=0.3)
    e = evaluate(load_model("mixtral-8x7b"), hw, Workload(batch=64, prompt_len=2048, output_len=256),
                 Strategy(dp=1, tp=8, ep=8))
    assert panel.displayed("gpus") == "8"
    assert panel.displayed("ttft_ms") == widgets.format_value(e["ttft_s"] * 1e3)
    assert panel.displayed("memory_gb") == widgets.format_value(e["memory_bytes_per_gpu"] / 1e9)


def test_explorer_shows_the_library_error_for_a_strategy_that_does_not_fold():
    panel = widgets.StrategyExplorer(show_plots=False)
    panel.controls["ep"].value = 128
    assert "ep*etp=128*1 must divide dp*tp=8" in panel.readout.value
    with pytest.raises(KeyError):
        panel.displayed("tpot_ms")
    panel.controls["ep"].value = 8
    assert panel.displayed("gpus") == "8"


def test_explorer_reads_a_config_json(tmp_path):
    panel = widgets.StrategyExplorer(show_plots=False)
    panel.controls["config"].value = "data/hf_configs/qwen3-30b-a3b.json"
    e = evaluate(load_model("qwen3-30b-a3b"), load_hardware("h100-sxm"),
                 Workload(batch=64, prompt_len=2048, output_len=256), Strategy(dp=4, tp=2, ep=8))
    assert panel.displayed("ttft_ms") == widgets.format_value(e["ttft_s"] * 1e3)


def test_explorer_says_when_memory_does_not_fit():
    panel = widgets.StrategyExplorer(model="deepseek-v3", strategy="DP1-TP8-EP8", batch=8,
                                     show_plots=False)
    assert panel.displayed("fits") == "NO"


def test_explorer_text_repr_lists_the_readings():
    panel = widgets.StrategyExplorer(show_plots=False)
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("Strategy explorer\n")
    assert "TPOT" in bundle["text/plain"]


def test_explorer_builds_its_figures():
    panel = widgets.StrategyExplorer(show_plots=True)
    _, figures = panel.compute()
    assert [f.axes[0].get_title() for f in figures][0].startswith("Memory on the busiest GPU")
    assert len(figures[1].axes) == 2


def test_intensity_panel_matches_explain_and_turns_compute_bound_with_batch():
    panel = widgets.IntensityPanel(show_plots=False)
    model, hw = load_model("mixtral-8x7b"), load_hardware("h100-sxm")
    found = explain.expert_gemm_intensity(model, hw, Workload(batch=64, prompt_len=2048,
                                                              output_len=256))
    assert panel.displayed("intensity") == widgets.format_value(found.value)
    assert panel.displayed("bound") == "memory"
    panel.controls["batch"].value = 4096
    assert panel.displayed("bound") == "compute"


def test_compute_bound_panel_moves_with_mfu():
    panel = widgets.ComputeBoundPanel()
    at_half = shown(panel, "experts_batch")
    panel.controls["mfu"].value = 0.25
    assert shown(panel, "experts_batch") < at_half  # a slower GEMM is compute-bound sooner
    assert panel.displayed("attention_core_batch").startswith("never")


def test_experts_hit_panel_is_the_registry_formula():
    panel = widgets.ExpertsHitPanel(show_plots=False)
    panel.controls["num_experts"].value = 64
    panel.controls["top_k"].value = 2
    panel.controls["batch"].value = 32
    exact = 64 * (1 - (1 - 2 / 64) ** 32)
    assert close(shown(panel, "experts_hit"), exact)
    assert panel.displayed("naive") == "64"


def test_experts_hit_panel_rejects_top_k_above_experts():
    panel = widgets.ExpertsHitPanel(show_plots=False)
    panel.controls["num_experts"].value = 8
    panel.controls["top_k"].value = 9
    assert "top-k=9 exceeds E=8" in panel.readout.value


def test_tp_panel_ratio_is_allreduce_over_split_compute():
    panel = widgets.TPAllReducePanel(show_plots=False)
    ratio = shown(panel, "ratio")
    assert close(ratio, shown(panel, "allreduce_ms") / shown(panel, "split_ms"), digits=3)
    panel.controls["tp"].value = 2
    assert shown(panel, "ratio") < ratio


def test_format_value():
    assert widgets.format_value(12345.6) == "12,346"
    assert widgets.format_value(7.4171) == "7.417"
    assert widgets.format_value(float("nan")) == "n/a"
    assert widgets.format_value(np.float64(2e-5)) == "2e-05"


def test_panel_figures_are_png_outputs_of_the_output_widget():
    panel = widgets.ExpertsHitPanel(show_plots=True)
    (output,) = panel.figures.outputs
    assert output["output_type"] == "display_data"
    assert output["data"]["image/png"].startswith("iVBOR")  # base64 of the PNG signature
    assert output["data"]["text/plain"] == "<Figure: Expected distinct experts read>"
    panel.controls["batch"].value = 64
    assert len(panel.figures.outputs) == 1


def test_scenario_panel_starts_at_the_documents_values_and_follows_its_knobs():
    from moekit.audit.scenario import load_scenario

    scenario = load_scenario("seed000_30b_ep64_tp8_pp2_dp2")
    panel = widgets.ScenarioPanel(scenario, show_plots=False)
    doc = evaluate(scenario.model, scenario.hardware, scenario.workload, scenario.strategy)
    assert panel.displayed("gpus") == "2,048"
    assert panel.displayed("tpot_ms") == widgets.format_value(doc["tpot_s"] * 1e3)
    panel.controls["mfu"].value = 0.3
    hw = dataclasses.replace(scenario.hardware, mfu=0.3)
    e = evaluate(scenario.model, hw, scenario.workload, scenario.strategy)
    assert panel.displayed("ttft_ms") == widgets.format_value(e["ttft_s"] * 1e3)


def test_audit_and_size_tables_show_every_claim_and_the_stated_size():
    from moekit.audit.scenario import load_scenario
    from moekit.audit.verdicts import audit

    scenario = load_scenario("seed000_30b_ep64_tp8_pp2_dp2")
    report = audit(scenario)
    table = explain.audit_table(report)
    assert list(table.index) == [c.id for c in scenario.claims]
    assert set(table.verdict) <= {"ok", "arithmetic_error", "model_error", "inconsistent",
                                  "infeasible", "unverifiable"}
    doc = evaluate(scenario.model, scenario.hardware, scenario.workload, scenario.strategy)
    sizes = explain.size_check(scenario, doc)
    assert sizes.loc["stated size", "parameters"] == "30 B"
