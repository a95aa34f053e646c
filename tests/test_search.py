"""The search: one vectorised evaluation agrees with evaluate() one strategy at a time."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moekit.evaluate import evaluate
from moekit.plan.search import OBJECTIVES, comparison, constraints_for, pareto_mask, search
from moekit.plan.space import enumerate_space, violations
from moekit.spec.inputs import Model, Strategy, Targets, Workload
from moekit.spec.presets import load_hardware

HW = load_hardware("h100-sxm")
MODEL = Model(name="tiny-moe", num_layers=4, d_model=512, vocab_size=2000, num_heads=8,
              num_kv_heads=2, num_experts=8, top_k=2, expert_ffn_dim=1024)
WORKLOAD = Workload(batch=16, prompt_len=512, output_len=64)


def brute_force(model, hardware, workload, targets, objective):
    """(best objective value, values per strategy) by evaluate() on every candidate."""
    o = OBJECTIVES[objective]
    constraints = constraints_for(targets, hardware)
    best, rows = None, []
    for row in enumerate_space(model, hardware, workload, targets).itertuples():
        s = Strategy(dp=row.dp, tp=row.tp, pp=row.pp, ep=row.ep, etp=row.etp,
                     microbatches=row.microbatches)
        v = evaluate(model, hardware, workload, s).values
        v = {**v, "memory_per_gpu_bytes": v["memory_bytes_per_gpu"],
             "load_balance": 1 / max(v["prefill_expert_imbalance"], v["decode_expert_imbalance"])}
        ok = all((v[c.column] <= c.limit) if c.upper else (v[c.column] >= c.limit)
                 for c in constraints)
        rows.append((s, v, ok))
        if ok:
            score = -v[o.column] if o.maximize else v[o.column]
            best = score if best is None else min(best, score)
    return best, rows


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_optimum_matches_brute_force_evaluation_of_every_candidate(objective):
    targets = Targets(gpus=8, tpot_s=0.02, memory_headroom=0.1)
    plan = search(MODEL, HW, WORKLOAD, targets, objective)
    best, rows = brute_force(MODEL, HW, WORKLOAD, targets, objective)
    o = OBJECTIVES[objective]
    assert plan.feasible and best is not None
    found = plan.best[o.column]
    assert (-found if o.maximize else found) == pytest.approx(best, rel=1e-9)
    assert int(plan.table.meets_targets.sum()) == sum(ok for _, _, ok in rows)


def test_every_candidate_metric_matches_evaluate():
    plan = search(MODEL, HW, WORKLOAD, Targets(gpus=4))
    for row in plan.table.sample(20, random_state=0).itertuples():
        s = Strategy(dp=row.dp, tp=row.tp, pp=row.pp, ep=row.ep, etp=row.etp,
                     microbatches=row.microbatches)
        e = evaluate(MODEL, HW, WORKLOAD, s)
        for column, name in (("ttft_s", "ttft_s"), ("tpot_s", "tpot_s"),
                             ("memory_per_gpu_bytes", "memory_bytes_per_gpu"),
                             ("decode_tokens_per_s_per_gpu", "decode_tokens_per_s_per_gpu")):
            assert getattr(row, column) == pytest.approx(e[name], rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(gpus=st.sampled_from([0, 1, 2, 4, 8, 16]), ttft=st.floats(1e-3, 10),
       tpot=st.floats(1e-4, 1), headroom=st.floats(0, 0.9), balance=st.floats(0.3, 1),
       objective=st.sampled_from(list(OBJECTIVES)))
def test_a_returned_plan_never_violates_a_constraint(gpus, ttft, tpot, headroom, balance, objective):
    targets = Targets(gpus=gpus, max_gpus=32, ttft_s=ttft, tpot_s=tpot, memory_headroom=headroom,
                      min_load_balance=balance)
    plan = search(MODEL, HW, WORKLOAD, targets, objective)
    if not plan.feasible:
        assert plan.why().startswith("No strategy meets the targets")
        assert len(plan.nearest) > 0
        return
    s = plan.best_strategy
    assert violations(s, MODEL, HW, WORKLOAD, targets) == []
    e = evaluate(MODEL, HW, WORKLOAD, s)
    assert e["ttft_s"] <= ttft and e["tpot_s"] <= tpot
    assert e["memory_bytes_per_gpu"] <= HW.memory_bytes * (1 - headroom)
    assert 1 / max(e["prefill_expert_imbalance"], e["decode_expert_imbalance"]) >= balance
    assert plan.table.meets_targets.iloc[: int(plan.table.meets_targets.sum())].all()


def test_infeasible_targets_say_so_and_list_the_nearest_with_how_far_they_miss():
    plan = search(MODEL, HW, WORKLOAD, Targets(gpus=8, ttft_s=1e-6))
    assert not plan.feasible and plan.best is None
    assert plan.why().startswith("No strategy meets the targets")
    near = plan.nearest
    assert len(near) == 5 and near.worst_miss.is_monotonic_increasing
    assert near.misses.str.contains("ttft misses by").all()
    ttft = plan.binding.set_index("constraint").loc["ttft"]
    assert ttft.binding and ttft.met_alone_by == 0


def test_memory_binds_when_it_excludes_the_fastest_strategy():
    big = Model(name="big", num_layers=8, d_model=4096, vocab_size=32000, num_heads=32,
                num_experts=8, top_k=2, expert_ffn_dim=14336)
    plan = search(big, HW, Workload(batch=8, prompt_len=128, output_len=8),
                  Targets(gpus=8, memory_headroom=0.1), "tpot")
    unconstrained = plan.table.tpot_s.min()
    memory = plan.binding.set_index("constraint").loc["memory"]
    if unconstrained < plan.best.tpot_s:
        assert memory.binding and "memory" in plan.why()
    assert plan.best.memory_per_gpu_bytes <= HW.memory_bytes * 0.9


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6), st.sampled_from([1, 2, 4])),
                min_size=1, max_size=40))
def test_pareto_mask_keeps_exactly_the_undominated_points(points):
    lat, thr, gpus = (np.array(c, dtype=float) for c in zip(*points, strict=True))
    mask = pareto_mask(lat, thr, gpus)
    for i in range(len(points)):
        dominated = any(lat[j] <= lat[i] and thr[j] >= thr[i] and gpus[j] <= gpus[i]
                        and (lat[j], thr[j], gpus[j]) != (lat[i], thr[i], gpus[i])
                        for j in range(len(points)))
        duplicate_before = any((lat[j], thr[j], gpus[j]) == (lat[i], thr[i], gpus[i]) and mask[j]
                               for j in range(len(points)) if j != i)
        assert mask[i] == (not dominated and not duplicate_before)


def test_document_strategy_is_evaluated_beside_the_plan():
    doc = Strategy.parse("EP4-TP2-PP1-DP1", "product")
    plan = search(MODEL, HW, WORKLOAD, Targets(gpus=8), document=doc)
    e = evaluate(MODEL, HW, WORKLOAD, doc)
    assert plan.document.ttft_s == pytest.approx(e["ttft_s"], rel=1e-12)
    assert plan.document.violations == ""
    table = comparison(plan)
    assert list(table.columns) == ["moekit plan", "document"]
    assert table.loc["product_notation", "document"] == "EP4-TP2-PP1-DP1"


def test_document_strategy_outside_the_space_is_evaluated_with_its_violations():
    doc = Strategy.parse("EP8-TP2-PP1-DP2", "product")  # 32 GPUs against a budget of 8
    plan = search(MODEL, HW, WORKLOAD, Targets(gpus=8), document=doc)
    assert "budget is 8" in plan.document.violations
    assert np.isfinite(plan.document.tpot_s)
