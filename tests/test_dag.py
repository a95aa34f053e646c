"""Deployment DAG: one forward step, hand-checked node and edge counts and GPU groups, DOT and JSON."""

from __future__ import annotations

import json
import re

import matplotlib
import pytest

from moekit.errors import SpecError
from moekit.plan.dag import Dag, deployment_dag
from moekit.plan.launch import Pool
from moekit.spec.inputs import Strategy
from moekit.spec.presets import load_model

matplotlib.use("Agg")
S = Strategy.parse
MIXTRAL = load_model("mixtral-8x7b")
DEEPSEEK = load_model("deepseek-v3")
QWEN = load_model("qwen3-30b-a3b")


def by_id(dag: Dag) -> dict:
    return {n.id: n for n in dag.nodes}


def agg(model, strategy: str, gpus: int) -> Dag:
    pool = Pool(S(strategy), gpus, 16)
    return deployment_dag(model, "agg", pool, pool)


@pytest.fixture(scope="module")
def deepseek_disagg() -> Dag:
    return deployment_dag(DEEPSEEK, "disagg", Pool(S("DP8-EP8"), 8, 16), Pool(S("DP16-EP16"), 16, 128),
                          kv_bytes_per_request=70e6)


def test_mixtral_tp2_ep2_two_copies_on_4_gpus():
    dag = agg(MIXTRAL, "TP2-EP2", 4)
    # embed, q/k/v, attention core, output projection, TP all-reduce, router, dispatch, experts,
    # combine, TP all-reduce, LM head: one chain (no dense layers, no shared experts, one stage)
    assert len(dag.nodes) == 11 and len(dag.edges) == 10
    nodes = by_id(dag)
    for name in ("moe.tp_ar_attn", "moe.tp_ar_ffn", "moe.dispatch", "moe.combine"):
        assert nodes[f"mixed.s0.{name}"].groups == ((0, 1), (2, 3))  # one group per copy
    assert nodes["mixed.s0.moe.dispatch"].collective == "all_to_all"
    assert nodes["mixed.s0.moe.tp_ar_attn"].collective == "all_reduce"
    assert nodes["mixed.s0.moe.experts"].gpus == (0, 1, 2, 3)
    assert {n.phase for n in dag.nodes} == {"mixed"}


def test_mixtral_dp2_tp2_ep4_all_to_all_spans_both_tp_groups():
    nodes = by_id(agg(MIXTRAL, "DP2-TP2-EP4", 4))
    assert nodes["mixed.s0.moe.tp_ar_attn"].groups == ((0, 1), (2, 3))
    assert nodes["mixed.s0.moe.dispatch"].groups == ((0, 1, 2, 3),)
    assert nodes["mixed.s0.moe.experts"].label.startswith("routed experts: 2 of 8 per GPU x32")


def test_pipeline_stages_are_joined_by_send_recv_pairs():
    dag = agg(MIXTRAL, "TP4-PP2-M2", 8)
    nodes = by_id(dag)
    assert len(dag.nodes) == 21  # 10 per stage (embed on 0, LM head on 1) + the send
    assert nodes["mixed.s0.pp_send"].groups == ((0, 4), (1, 5), (2, 6), (3, 7))
    assert nodes["mixed.s1.moe.qkv"].gpus == (4, 5, 6, 7)
    assert ("mixed.s0.pp_send", "mixed.s1.moe.qkv") in dag.edges
    assert "mixed.s1.embed" not in nodes and "mixed.s0.lm_head" not in nodes
    assert nodes["mixed.s1.moe.attn"].label == "attention core: 8 heads per GPU x16"


def test_deepseek_disaggregated_prefill_dp8_ep8_and_decode_dp16_ep16(deepseek_disagg):
    dag = deepseek_disagg
    # per pool: embed, dense block (q/k/v, core, output, dense FFN), MoE block (q/k/v, core,
    # output, router, dispatch, experts, combine, shared experts), LM head = 14 nodes, 14 edges
    # (TP1: no all-reduce; shared experts branch off the output projection and join at the head)
    assert len(dag.nodes) == 2 * 14 + 1 and len(dag.edges) == 2 * 14 + 2
    nodes = by_id(dag)
    assert nodes["prefill.s0.moe.dispatch"].groups == (tuple(range(8)),)
    assert not nodes["prefill.s0.moe.dispatch"].inter_node
    assert nodes["decode.s0.moe.combine"].groups == (tuple(range(8, 24)),)
    assert nodes["decode.s0.moe.combine"].inter_node  # 16 GPUs: two 8-GPU nodes
    assert nodes["decode.s0.dense.ffn"].gpus == tuple(range(8, 24))
    assert ("prefill.s0.moe.out", "prefill.s0.moe.shared") in dag.edges
    assert ("prefill.s0.moe.shared", "prefill.s0.lm_head") in dag.edges
    assert ("prefill.s0.moe.combine", "prefill.s0.lm_head") in dag.edges
    transfer = nodes["kv_transfer"]
    assert transfer.kind == "transfer" and transfer.collective == "send_recv"
    assert transfer.groups == (tuple(range(8)), tuple(range(8, 24)))
    assert transfer.bytes_per_request == 70e6 and transfer.inter_node
    assert ("prefill.s0.lm_head", "kv_transfer") in dag.edges
    assert ("kv_transfer", "decode.s0.embed") in dag.edges


def test_decode_gpus_follow_the_prefill_pools_copies():
    dag = deployment_dag(QWEN, "disagg", Pool(S("TP1"), 4, 8), Pool(S("DP4-EP4"), 4, 64))
    nodes = by_id(dag)
    assert nodes["prefill.s0.moe.qkv"].gpus == (0, 1, 2, 3)  # four TP1 copies
    assert "prefill.s0.moe.dispatch" not in nodes  # one GPU holds all experts: no exchange
    assert nodes["decode.s0.moe.dispatch"].groups == ((4, 5, 6, 7),)
    assert [(p.phase, p.first_gpu, p.gpus, p.instances) for p in dag.pools] == [
        ("prefill", 0, 4, 4), ("decode", 4, 4, 1)]


def test_nodes_are_in_topological_order_with_unique_ids(deepseek_disagg):
    order = {n.id: i for i, n in enumerate(deepseek_disagg.nodes)}
    assert len(order) == len(deepseek_disagg.nodes)
    assert all(order[a] < order[b] for a, b in deepseek_disagg.edges)


def test_json_round_trips(deepseek_disagg):
    text = json.dumps(deepseek_disagg.to_json())
    back = Dag.from_json(json.loads(text))
    assert back == deepseek_disagg
    assert json.loads(text)["edges"][0] == {"src": "prefill.s0.embed", "dst": "prefill.s0.dense.qkv"}


def test_dot_is_a_digraph_with_a_cluster_per_pool_and_stage(deepseek_disagg):
    dot = agg(MIXTRAL, "TP4-PP2-M2", 8).to_dot()
    assert dot.startswith('digraph "mixtral-8x7b agg" {') and dot.endswith("}")
    assert dot.count("{") == dot.count("}") == 4  # graph, pool, two stages
    assert 'subgraph "cluster_mixed_s1"' in dot
    dot = deepseek_disagg.to_dot()
    body = re.sub(r'"(?:[^"\\]|\\.)*"', '""', dot)  # braces inside labels do not count
    assert body.count("{") == body.count("}") == 5  # graph, two pools, one stage each
    assert len(re.findall(r'^  "[^"]+" -> "[^"]+";$', dot, re.M)) == len(deepseek_disagg.edges)
    declared = re.findall(r'^\s+"([^"]+)" \[label=', dot, re.M)
    assert sorted(declared) == sorted(n.id for n in deepseek_disagg.nodes)
    assert 'subgraph "cluster_prefill"' in dot and 'subgraph "cluster_decode_s0"' in dot
    assert "70 MB per request" in dot


def test_figure_draws_every_node(deepseek_disagg):
    import matplotlib.pyplot as plt

    fig = deepseek_disagg.figure()
    ax = fig.axes[0]
    assert len(ax.patches) == len(deepseek_disagg.nodes)
    assert "deepseek-v3: one forward step (disagg)" in ax.get_title()
    plt.close(fig)


def test_bad_inputs_are_refused():
    pool = Pool(S("TP8"), 8, 16)
    with pytest.raises(SpecError, match="same Pool twice"):
        deployment_dag(MIXTRAL, "agg", pool, Pool(S("TP8"), 8, 32))
    with pytest.raises(SpecError, match="mode='both'"):
        deployment_dag(MIXTRAL, "both", pool, pool)
    bad = Pool(Strategy(tp=3), 3, 16)
    with pytest.raises(SpecError, match="tp=3 does not divide 32 attention heads"):
        deployment_dag(MIXTRAL, "agg", bad, bad)
