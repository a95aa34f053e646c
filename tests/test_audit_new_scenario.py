"""A plan that is not a seed, Mixtral-8x7B on one H100 node (DP2-TP4-ETP4): right and wrong claims.

Hand figures: 46.70B total / 12.88B active params (HF config); weights 93.4 GB bf16, TP4 and
ETP4 split them 4 ways (DP2 replicates): 23.35 GB per GPU; KV per token 2 x 8 x 128 x 32 x 2 B
= 131,072 B = 0.131 MB (= 0.125 MiB); a decode step reads all weights at least once:
93.4 GB / (8 x 3.35 TB/s) = 3.5 ms, plus the KV cache.
"""

import pytest

from moekit.audit.scenario import load_scenario
from moekit.audit.verdicts import audit

EXPECTED = {
    "total_parameters": "ok",
    "active_parameters": "ok",
    "gpus_used": "ok",
    "weights_per_gpu": "ok",
    "weights_per_gpu_divided_by_dp": "model_error",
    "kv_cache_per_token": "model_error",
    "prefill_flops_per_token_claim": "model_error",
    "ttft": "ok",
    "tpot": "ok",
    "tpot_optimistic": "infeasible",
    "decode_throughput": "ok",
}


@pytest.fixture(scope="module")
def result():
    return audit(load_scenario("mixtral_8x7b_h100_dp2_tp4_etp4"))


@pytest.mark.parametrize(("claim_id", "verdict"), EXPECTED.items())
def test_mixtral_plan_verdicts(result, claim_id, verdict):
    v = result.verdict(claim_id)
    assert v.verdict == verdict, v.explanation


def test_mixtral_weights_halved_by_dp_are_reproduced(result):
    v = result.verdict("weights_per_gpu_divided_by_dp")
    assert v.recomputed_si == pytest.approx(23.35e9, rel=0.01)
    assert any("data-parallel" in r for r in v.reproduced_by)


def test_mixtral_kv_per_token_in_mib_printed_as_mb(result):
    v = result.verdict("kv_cache_per_token")
    assert v.recomputed_si == 131_072
    assert any("MiB figure printed as MB" in r for r in v.reproduced_by)


def test_mixtral_flops_per_token_counts_one_flop_per_mac(result):
    v = result.verdict("prefill_flops_per_token_claim")
    assert any("1 FLOP per multiply-add" in r for r in v.reproduced_by)


def test_mixtral_2ms_tpot_beats_the_weight_read_bound(result):
    v = result.verdict("tpot_optimistic")
    assert v.recomputed_si > 93.4e9 / (8 * 3.35e12)
