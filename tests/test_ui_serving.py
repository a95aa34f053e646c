"""The serving views: the panel reads the planner's own numbers, controls change them, figures draw."""

from __future__ import annotations

import pytest

import moekit
from moekit.plan.reproduce import reproduce
from moekit.plan.serve import ServeQuery, serve
from moekit.spec.stack import load_stack
from moekit.ui.serving import ServingPanel, best_table, frontier_figure, ratio_figure, reproduction_table
from moekit.ui.widgets import format_value


def test_panel_shows_the_planners_best_and_follows_the_tpot_slider():
    panel = ServingPanel(show_plots=False)
    q = ServeQuery(moekit.load_model("qwen3-30b-a3b"), moekit.load_hardware("h200"), load_stack("sglang"),
                   8, 4096, 512, 2.0, 0.05)
    best = serve(q).best
    assert panel.displayed("tokens_per_s_per_gpu") == format_value(float(best.tokens_per_s_per_gpu))
    panel.controls["tpot"].value = 20
    tight = serve(ServeQuery(q.model, q.hardware, q.stack, 8, 4096, 512, 2.0, 0.02)).best
    assert panel.displayed("serve_tpot_ms") == format_value(float(tight.tpot_s) * 1e3)
    assert float(tight.tpot_s) <= 0.02


def test_panel_says_when_the_model_cannot_fit():
    panel = ServingPanel(model="deepseek-v3", hardware="h100-sxm", max_gpus=8, show_plots=False)
    assert "does not fit" in panel.error  # bf16 DeepSeek-V3 (1.34 TB) on 8 x 80 GB


def test_frontier_figure_and_best_table():
    plan = serve(ServeQuery(moekit.load_model("mixtral-8x7b"), moekit.load_hardware("h100-sxm"),
                            load_stack("vllm"), 8, 1024, 256, 2.0, 0.05))
    fig = frontier_figure(plan)
    assert "mixtral-8x7b" in fig.axes[0].get_title()
    table = best_table(plan)
    assert set(table["mode"]) <= {"agg", "disagg"} and (table["tokens/s/GPU"] > 0).all()


@pytest.fixture(scope="module")
def results():
    return reproduce()


def test_reproduction_table_has_a_row_per_published_figure(results, tmp_path):
    table = reproduction_table(results)
    assert len(table) == sum(len(r.published) for r in results)
    missing = table[table.ratio.isna()]
    assert (missing["not predicted because"] != "").all()
    ratio_figure(results).savefig(tmp_path / "r.png")
