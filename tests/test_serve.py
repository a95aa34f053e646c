"""The serving planner and published deployments: serving formulas against hand calculations,
Little's law, the frontier, the peer's own search, launch commands whose flags exist."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import moekit
from moekit.cli import main
from moekit.errors import SpecError
from moekit.plan.launch import check_flags
from moekit.plan.reproduce import reproduce, summary
from moekit.plan.serve import ServeQuery, _serving_fn, pareto, serve
from moekit.spec.stack import load_stack

QWEN, H200 = moekit.load_model("qwen3-30b-a3b"), moekit.load_hardware("h200")


@pytest.fixture(scope="module")
def plan():
    return serve(ServeQuery(QWEN, H200, load_stack("sglang"), 8, 4096, 512, 2.0, 0.05))


def test_a_step_admits_the_prompts_of_the_requests_that_finish():
    v = {"concurrency": 256.0, "isl": 4096, "osl": 512, "decode_step_s": 0.02, "chunk_prefill_s": 0.015,
         "step_host_s": 0.001, "gpus_per_instance": 2.0}
    assert _serving_fn("agg_chunk_tokens")(v) == 256 * 4096 / 512
    t = 0.02 + 0.015 - 0.001
    assert _serving_fn("agg_step_s")(v) == pytest.approx(t)
    assert _serving_fn("agg_ttft_s")(v) == pytest.approx(t * (0.5 + 4096 / 2048))
    assert _serving_fn("agg_tokens_per_s_per_gpu")(v) == pytest.approx(256 / t / 2)
    # Little's law: in flight = completion rate x time in the system (O steps)
    assert _serving_fn("agg_requests_per_s")(v) * 512 * t == pytest.approx(256)


def test_a_chunk_costs_the_busiest_attention_dp_rank_and_the_shared_experts():
    # 8 ranks, t_1 = 0.16 s for one prompt on every rank, of which 0.06 s routed experts, 1 ms host
    base = {"osl": 2048, "attention_dp": 8.0, "prompt_per_rank_prefill_s": 0.161,
            "prompt_per_rank_expert_s": 0.06, "step_host_s": 0.001, "attention_dp_balanced": 0.0}
    chunk = _serving_fn("agg_chunk_prefill_s")
    # 1024 in flight / 2048 output tokens: half a prompt per step, on one rank at a time (the others
    # wait for it), while the experts see only that half prompt's tokens, shared over 8 ranks
    assert chunk({**base, "concurrency": 1024.0}) == pytest.approx(0.5 * 0.1 + 0.5 / 8 * 0.06 + 0.001)
    # 32 prompts per step go round the 8 ranks: 4 each, everything scales with the rank's share
    assert chunk({**base, "concurrency": 65536.0}) == pytest.approx(4 * 0.16 + 0.001)
    # one rank: the two cases are the same
    one = {**base, "attention_dp": 1.0, "concurrency": 1024.0}
    assert chunk(one) == pytest.approx(0.5 * 0.16 + 0.001)


def test_disaggregated_pools_deliver_at_the_slower_pools_rate():
    v = {"prefill_batch": 8.0, "prefill_step_s": 0.5, "concurrency": 128.0, "osl": 512,
         "decode_step_s": 0.02, "prefill_instances": 3.0, "decode_instances": 1.0, "prefill_gpus": 1.0,
         "decode_gpus": 4.0}
    r_p, r_d = 8 / 0.5, 128 / (512 * 0.02)
    assert _serving_fn("disagg_requests_per_s")(v) == pytest.approx(min(3 * r_p, r_d))
    assert _serving_fn("prefill_instances_needed")(v) == pytest.approx(r_d / r_p)
    assert _serving_fn("disagg_tokens_per_s_per_gpu")(v) == pytest.approx(min(3 * r_p, r_d) * 512 / 7)


def test_the_frontier_holds_both_modes_and_no_row_is_dominated(plan):
    f = plan.frontier
    assert set(f["mode"]) == {"agg", "disagg"} and f.meets_sla.all()
    for mode, part in f.groupby("mode"):
        for _, r in part.iterrows():
            beaten = (part.tokens_per_s_per_user >= r.tokens_per_s_per_user) & (
                part.tokens_per_s_per_gpu > r.tokens_per_s_per_gpu)
            assert not beaten.any(), mode
    assert plan.best.meets_sla and plan.best.gpus <= 8
    assert plan.best.tokens_per_s_per_gpu == plan.frontier[plan.frontier.meets_sla].tokens_per_s_per_gpu.max()


def test_memory_caps_concurrency(plan):
    assert (plan.agg.memory_fraction <= 0.9).all()
    assert plan.agg.batch.max() < 1024 * 8  # the largest per-rank batches do not fit the KV cache


@pytest.fixture(scope="module")
def balanced():
    return serve(ServeQuery(QWEN, H200, load_stack("sglang"), 8, 4096, 512, 2.0, 0.05,
                            balanced_attention_dp=True))


def test_unbalanced_attention_dp_pays_for_the_busiest_ranks_prefill(plan, balanced):
    key = ["strategy", "batch"]
    both = plan.agg.merge(balanced.agg, on=key, suffixes=("", "_balanced"))
    dp = both.strategy.str.startswith("DP") & ~both.strategy.str.startswith("DP1-")
    assert (both.tpot_s[dp] > both.tpot_s_balanced[dp]).any()
    assert both.tpot_s[~dp].to_numpy() == pytest.approx(both.tpot_s_balanced[~dp].to_numpy())


def test_aggregated_best_agrees_with_the_peers_own_search(balanced):
    # aiconfigurator 0.12.0's SGLang search for the same question (data/peers/aiconfigurator_search.csv),
    # on its assumption that every attention-DP rank prefills in the same steps
    peer = pd.read_csv(moekit.resources.DATA_DIR / "peers" / "aiconfigurator_search.csv")
    peer = peer[(peer.backend == "sglang") & (peer["mode"] == "agg") & peer.meets_sla]
    agg = balanced.agg
    ours = agg[agg.ttft_s.le(2.0) & agg.tpot_s.le(0.05)].tokens_per_s_per_gpu.max()
    assert ours == pytest.approx(peer.tokens_per_s_per_gpu.max(), rel=0.25)


def test_pareto_keeps_the_upper_right_points():
    df = pd.DataFrame({"tokens_per_s_per_user": [10, 20, 30, 15],
                       "tokens_per_s_per_gpu": [300, 200, 100, 150]})
    assert list(pareto(df).index) == [0, 1, 2]


def test_serve_json_has_the_issue_shape_and_launch_flags_exist(capsys):
    assert main(["serve", "--model", "qwen3-30b-a3b", "--hardware", "h200", "--max-gpus", "8",
                 "--isl", "4096", "--osl", "512", "--ttft", "2 s", "--tpot", "50 ms", "--mode", "both",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"search_s", "frontier", "best"} <= set(out)
    row = out["frontier"][0]
    assert {"mode", "gpus", "prefill", "decode", "ttft_s", "tpot_s", "tokens_per_s_per_gpu",
            "tokens_per_s_per_user", "requests_per_s", "meets_sla"} <= set(row)
    assert set(row["decode"]) >= {"strategy", "gpus", "batch"}
    moekit.Strategy.parse(row["decode"]["strategy"])  # strings as `moekit evaluate --strategy` reads them
    launch = out["best"]["launch"]
    for engine, name in (("vllm", "vllm"), ("sglang", "sglang")):
        lines = launch[engine] if isinstance(launch[engine], list) else [launch[engine]]
        for line in lines:
            if line.startswith("#"):
                continue
            program = "sglang-router" if "sglang_router" in line else name
            assert check_flags(line, program) == [], line


@pytest.mark.parametrize(("field", "value"), [("mode", "mixed"), ("isl", 0), ("ttft_s", -1.0)])
def test_bad_serve_queries_name_the_field(field, value):
    kwargs = dict(model=QWEN, hardware=H200, stack=load_stack("none"), max_gpus=8, isl=128, osl=16)
    kwargs[field] = value
    with pytest.raises(SpecError, match=field):
        ServeQuery(**kwargs)


def test_reproduce_predicts_what_is_stated_and_says_why_not_otherwise():
    results = {r.name: r for r in reproduce()}
    lmsys = results["sglang-deepseek-v3-h100-96gpu-pd-ep"]
    assert set(lmsys.predicted) == {"input_tokens_per_s_per_node", "output_tokens_per_s_per_node", "tpot_s"}
    assert lmsys.ratio["tpot_s"] == pytest.approx(lmsys.predicted["tpot_s"] / 0.1)
    mlperf = results["mlperf-v4.1-nvidia-dgx-h100-mixtral-8x7b-offline"]
    assert not mlperf.predicted and all("not stated" in why for why in mlperf.not_predicted.values())
    s = summary(list(results.values()))
    assert s["figures"] == sum(len(r.predicted) for r in results.values()) and s["figures"] >= 10
    assert np.isfinite(s["median_abs_err"])


def test_reproduce_json_of_every_bundled_deployment(capsys):
    # dated sources (YAML dates) print as ISO dates
    assert main(["reproduce", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    dates = {d["source"].get("date") for d in out["deployments"]}
    assert "2025-05-05" in dates


def test_reproduce_json_shape(capsys):
    assert main(["reproduce", "trtllm-deepseek-r1-h200-max-throughput", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)["deployments"][0]
    assert {"name", "source", "published", "predicted", "ratio"} <= set(d)
    assert d["ratio"]["output_tokens_per_s_per_gpu"] == pytest.approx(
        d["predicted"]["output_tokens_per_s_per_gpu"] / d["published"]["output_tokens_per_s_per_gpu"])
