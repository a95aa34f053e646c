"""Placement: every GPU holds a well-defined share; groups partition the ranks."""

import json

import pytest

from moekit.evaluate import evaluate
from moekit.plan.placement import (
    collective_groups,
    deployment_config,
    module_division,
    placement_figure,
    rank_map,
)
from moekit.spec.inputs import Model, Strategy, Workload
from moekit.spec.presets import load_hardware

HW = load_hardware("h100-sxm")
MODEL = Model(name="tiny-moe", num_layers=5, d_model=512, vocab_size=2000, num_heads=8,
              num_kv_heads=2, num_experts=8, top_k=2, expert_ffn_dim=1024, num_dense_layers=1,
              dense_ffn_dim=2048)
STRATEGIES = [Strategy(dp=4, tp=2, pp=2, ep=4, etp=2, microbatches=2),
              Strategy(dp=8, tp=4, pp=1, ep=8, etp=1), Strategy(dp=2, tp=1, pp=3, ep=2, etp=1),
              Strategy.parse("EP4-TP2-PP2-DP2", "product")]


@pytest.mark.parametrize("s", STRATEGIES, ids=lambda s: s.label)
def test_groups_of_each_collective_partition_the_ranks(s):
    sizes = {"tp_allreduce": s.tp, "pp_send_recv": s.pp, "dp_replicas": s.dp, "ep_alltoall": s.ep,
             "etp_allreduce": s.etp, "edp_replicas": s.edp}
    for name, groups in collective_groups(s).items():
        assert sorted(r for g in groups for r in g) == list(range(s.gpus)), name
        assert {len(g) for g in groups} == {sizes[name]}, name


@pytest.mark.parametrize("s", STRATEGIES, ids=lambda s: s.label)
def test_rank_map_covers_every_layer_head_and_expert(s):
    ranks = rank_map(s, MODEL, HW)
    assert len(ranks) == s.gpus
    stages = ranks.groupby("stage").first()
    assert stages.layers.sum() == MODEL.num_layers and stages.first_layer.iat[0] == 0
    assert stages.layers.max() - stages.layers.min() <= 1  # uneven split, shown per stage
    for group in collective_groups(s)["ep_alltoall"]:
        experts = set()
        for span in ranks.loc[group, "experts"]:
            a, _, b = span.partition("-")
            experts |= set(range(int(a), int(b or a) + 1))
        assert experts == set(range(MODEL.num_experts))
    for group in collective_groups(s)["tp_allreduce"]:
        assert ranks.loc[group, "node"].nunique() == 1  # TP inside a node
        assert ranks.loc[group, "heads"].nunique() == s.tp


@pytest.mark.parametrize("s", STRATEGIES, ids=lambda s: s.label)
def test_module_division_adds_up(s):
    division = module_division(s, MODEL)
    routed = division[division.module.str.startswith("routed")].iloc[0]
    # every routed-expert shard sits on `copies` GPUs; the busiest stage holds the most per GPU
    assert routed.parts == MODEL.num_moe_layers * MODEL.num_experts * s.etp
    assert routed.parts * routed.copies <= s.gpus * routed.parts_per_gpu


def test_deployment_json_holds_degrees_rank_map_groups_division_and_balance():
    s = STRATEGIES[0]
    workload = Workload(batch=16, prompt_len=256, output_len=16)
    config = deployment_config(MODEL, HW, workload, s, evaluate(MODEL, HW, workload, s))
    text = json.dumps(config, allow_nan=False)
    back = json.loads(text)
    assert back["degrees"]["ep"] == 4 and len(back["rank_map"]) == s.gpus
    assert set(back["groups"]) >= {"tp_allreduce", "ep_alltoall", "pp_send_recv"}
    assert 0 < back["load_balance"]["decode_load_balance"] <= 1
    assert back["stages"][0]["layers"] == 3 and back["stages"][1]["layers"] == 2


def test_placement_figure_is_titled_and_labelled():
    fig = placement_figure(STRATEGIES[0], MODEL, HW)
    ax = fig.axes[0]
    assert "DP4-TP2-PP2-EP4-ETP2-M2" in ax.get_title()
    assert ax.get_xlabel().startswith("GPU within stage")
    assert "stage 0: layers 0-2" in [t.get_text() for t in ax.get_yticklabels()]
