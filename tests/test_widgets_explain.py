"""Formula display and the worked numbers of the cost-model notebook (moekit.ui.explain)."""

import numpy as np
import pytest

from moekit.evaluate import evaluate
from moekit.spec.inputs import Strategy, Workload
from moekit.spec.presets import load_hardware, load_model
from moekit.ui import explain

MIXTRAL, H100 = load_model("mixtral-8x7b"), load_hardware("h100-sxm")
DECODE = Workload(batch=64, prompt_len=2048, output_len=256)


def test_formula_latex_uses_the_printed_symbol_names():
    assert explain.formula_latex("expected_experts_hit") == r"E_{hit} = p_{hit} \cdot E"
    assert r"\left(1 - \frac{k}{E}\right)^{T_{ep}}" in explain.formula_latex("expert_hit_probability")
    assert "TTFT = t_{stage}^{(prefill)}" in explain.formula_latex("ttft_s")


def test_symbols_of_lists_meaning_and_unit():
    table = explain.symbols_of("tp_allreduce_time_s")
    assert set(table["name"]) >= {"tp", "tp_link_bandwidth", "tp_allreduce_message_bytes"}
    assert table.set_index("name").loc["tp_link_bandwidth", "unit"] == "B/s"


def test_formula_markdown_shows_doc_unit_and_equation():
    text = explain.formula_markdown("expected_experts_hit")
    assert text.startswith("**expected_experts_hit** [1]: expected distinct experts")
    assert "$$E_{hit} = " in text


def test_sweep_equals_evaluate_at_each_point():
    batches = np.array([1, 64, 1024])
    v = explain.sweep(MIXTRAL, H100, DECODE, Strategy(tp=2, dp=4, ep=8), batch=batches)
    for i, b in enumerate(batches):
        e = evaluate(MIXTRAL, H100, Workload(batch=int(b), prompt_len=2048, output_len=256),
                     Strategy(tp=2, dp=4, ep=8))
        assert v["tpot_s"][i] == pytest.approx(e["tpot_s"])


def test_sweep_rejects_unknown_inputs():
    with pytest.raises(KeyError, match="unknown input"):
        explain.sweep(MIXTRAL, H100, DECODE, Strategy(), batchsize=3)


def test_expert_gemm_intensity_is_flops_over_bytes_of_the_experts_op():
    found = explain.expert_gemm_intensity(MIXTRAL, H100, DECODE)
    e = evaluate(MIXTRAL, H100, DECODE, Strategy())
    assert found.value == pytest.approx(e["decode_experts_flops_per_gpu"]
                                        / e["decode_experts_bytes_per_gpu"])
    assert "memory-bound" in found.meaning


def test_decode_turns_compute_bound_where_compute_time_first_exceeds_memory_time():
    found = explain.decode_compute_bound_batch(MIXTRAL, H100, DECODE)
    b = int(found.value)
    grid = explain.BATCH_GRID
    prev = grid[np.searchsorted(grid, b) - 1]
    at = evaluate(MIXTRAL, H100, Workload(batch=b, prompt_len=2048, output_len=256), Strategy())
    before = evaluate(MIXTRAL, H100, Workload(batch=int(prev), prompt_len=2048, output_len=256),
                      Strategy())
    assert at["decode_experts_compute_time_s"] >= at["decode_experts_memory_time_s"]
    assert before["decode_experts_compute_time_s"] < before["decode_experts_memory_time_s"]


def test_expected_experts_hit_is_e_times_one_minus_miss_probability():
    got = explain.expected_experts_hit(MIXTRAL, [1, 4, 100], num_experts=256, top_k=8)
    exact = 256 * (1 - (1 - 8 / 256) ** np.array([1, 4, 100]))
    assert got == pytest.approx(exact)


def test_tp_breakeven_rises_with_tp_and_never_comes_across_nodes():
    frame = explain.tp_allreduce_vs_compute(MIXTRAL, H100, DECODE, tps=(2, 8, 16))
    even = explain.tp_breakeven(frame).set_index("tp")["breakeven_tokens_per_rank"]
    assert even[2] < even[8]
    assert np.isnan(even[16])  # tp=16 spans two 8-GPU nodes: inter-node all-reduce never pays
