"""Figures carry titles, axis units, legends and log scales where the range asks."""

from moekit.evaluate import evaluate
from moekit.spec.inputs import Strategy, Workload
from moekit.spec.presets import load_hardware, load_model
from moekit.ui import plots

E = evaluate(load_model("mixtral-8x7b"), load_hardware("h100-sxm"),
             Workload(batch=64, prompt_len=2048, output_len=256), Strategy(dp=4, tp=2, ep=8))


def test_memory_bar_stacks_components_under_the_capacity_line():
    fig = plots.memory_bar({"a": E, "b": E})
    ax = fig.axes[0]
    assert "GB" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "GPU capacity 80 GB" in labels and "KV cache" in labels
    assert ax.get_title()


def test_memory_bar_zooms_in_when_usage_is_a_sliver_of_capacity():
    tiny = evaluate(load_model("olmoe-1b-7b"), load_hardware("h200"), Workload(batch=1, prompt_len=16),
                    Strategy(tp=8, dp=8, ep=64))
    assert tiny["memory_bytes_per_gpu"] < 0.05 * tiny.hardware.memory_bytes
    assert len(plots.memory_bar(tiny).axes[0].child_axes) == 1  # the bars again, zoomed
    assert not plots.memory_bar(E).axes[0].child_axes


def test_time_breakdown_is_log_scale_per_phase():
    fig = plots.time_breakdown(E)
    assert [ax.get_xscale() for ax in fig.axes] == ["log", "log"]
    assert fig.axes[0].get_title().startswith("prefill (TTFT")
    assert "ms" in fig.axes[1].get_xlabel()


def test_communication_has_one_bar_group_per_dimension():
    fig = plots.communication(E)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["TP all-reduce", "EP all-to-all",
                                                             "PP send/recv"]
    assert ax.get_yscale() == "log"


def test_roofline_marks_points_and_the_ridge():
    fig = plots.roofline(E.hardware, {"x": 10.0})
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert any("ridge" in t.get_text() for t in ax.get_legend().get_texts())
