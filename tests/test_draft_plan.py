"""A plan written for the tests (data/plans/, not a seed) drafts, loads and audits to its verdicts.

The plan serves Qwen3-30B-A3B on one H200 node (DP8-EP8). It names both, so the draft loads and
audits with no flag and no edit. Some of its numbers are right and some wrong on purpose; each
verdict below says why.
"""

from pathlib import Path

import pytest
import yaml

from moekit.audit.scenario import load_scenario
from moekit.audit.verdicts import audit
from moekit.draft import Options, draft

PLAN = Path(__file__).resolve().parent.parent / "data" / "plans" / "qwen3_30b_a3b_h200_dp8_ep8.md"

EXPECTED = {
    "gpu_count": "ok",  # Total GPUs: 8
    "experts_per_gpu": "ok",  # 128 experts / 8 = 16
    "sequences_per_gpu": "ok",  # 64 / 8 = 8 sequences per attention-DP rank
    "total_parameters": "ok",  # 30.5B, counted 30.53B
    "active_parameters": "ok",  # 3.3B, counted 3.35B
    "weights_total": "ok",  # 61 GB = 30.5B x 2 bytes
    "weights_total_2": "model_error",  # 56.9 "GB" is the 61 GB in GiB
    "weights_per_gpu": "model_error",  # 61 GB / 8: DP replicates attention, only experts split
    "kv_cache_per_token": "ok",  # 48 layers x 2 x 4 KV heads x 128 x 2 bytes = 98.3 KB
    "kv_cache_per_gpu": "arithmetic_error",  # 8 x 2304 x 98.3 KB is 1.81 GB, not 2.2
    "memory_per_gpu": "model_error",  # the weights alone
    "ttft": "infeasible",  # 40 ms: below what 8 H200s can do at all
    "tpot": "infeasible",  # 1 ms: below one read of the touched weights and KV cache
    "throughput_per_gpu": "infeasible",  # 12,000 tokens/s per GPU: above the bound
    "flops_per_token_claim": "model_error",  # one FLOP per active parameter
    "load_imbalance": "model_error",  # 0%: a router never balances a decode batch exactly
}


@pytest.fixture(scope="module")
def drafted():
    return draft(PLAN.read_text(), Options(name="qwen3_plan", source=f"plan document {PLAN.name}"))


@pytest.fixture(scope="module")
def report(drafted, tmp_path_factory):
    path = tmp_path_factory.mktemp("draft") / "plan.yaml"
    path.write_text(drafted.to_yaml())
    return audit(load_scenario(path))  # the YAML as written, with no edit


def test_the_plan_names_its_model_and_gpu_and_both_are_recognised(drafted):
    s = drafted.scenario
    assert (s["model"], s["hardware"]) == ("qwen3-30b-a3b", "h200")
    assert s["strategy"] == {"notation": "DP8-EP8", "convention": "folded"}
    assert s["workload"] == {
        "batch": 64,
        "prompt_len": 2048,
        "output_len": 256,
        "weight_dtype": "bf16",
        "kv_dtype": "bf16",
    }
    assert s["targets"] == {"ttft_s": "2 s", "tpot_s": "50 ms"}


def test_every_claim_gets_its_expected_verdict(report):
    assert {v.claim.id: v.verdict for v in report.verdicts} == EXPECTED


def test_known_mistakes_are_named(report):
    def reproduced(claim_id):
        return " ".join(report.verdict(claim_id).reproduced_by)

    assert "a GiB figure printed as GB" in reproduced("weights_total_2")
    assert "every GPU of the deployment" in reproduced("weights_per_gpu")
    assert "counting weights alone" in reproduced("memory_per_gpu")
    assert "1 FLOP per multiply-add" in reproduced("flops_per_token_claim")


def test_the_documents_own_arithmetic_is_its_formula(drafted, report):
    claims = {c["id"]: c for c in drafted.scenario["claims"]}
    assert claims["weights_per_gpu"]["formula"] == "61000000000/8"
    assert claims["kv_cache_per_gpu"]["formula"] == "8*2304*98300"
    assert claims["weights_total"]["formula"] == "(30500000000*2)"
    assert report.verdict("weights_per_gpu").findings[0].agrees  # 7.625 GB: its arithmetic holds


def test_claims_keep_their_line_and_sentence(drafted, report):
    claim = report.verdict("kv_cache_per_gpu").claim
    assert claim.line == 33 and PLAN.read_text().splitlines()[32].endswith("= 2.2 GB")
    assert claim.text == "KV cache per GPU: 8 sequences × 2304 tokens × 98.3 KB = 2.2 GB"
    assert claim.section == "Memory per GPU"


def test_every_mapping_is_marked_as_a_guess(drafted, report):
    assert all(
        "guess:" in c["note"] and c["assumptions"] == ["drafted_mapping"] for c in drafted.scenario["claims"]
    )
    assumptions = {a["name"]: a["text"] for a in drafted.scenario["assumptions"]}
    assert assumptions["model_recognised"].startswith("guess:")
    assert "guesses to confirm" in assumptions["drafted_mapping"]
    assert any(a.startswith("drafted_mapping:") for a in report.verdict("ttft").assumptions)


def test_what_cannot_be_mapped_is_listed_with_the_reason(drafted):
    (item,) = drafted.scenario["unresolved"]
    assert item["line"] == 46 and item["value"] == "30 min"
    assert item["reason"].startswith("no phrase of the table matches")


def test_every_number_of_the_plan_is_accounted_for(drafted):
    roles = {r.role for r in drafted.readings}
    assert roles <= {"claim", "input", "target", "operand", "unresolved"}
    assert all(r.claim_id for r in drafted.readings if r.role in ("claim", "input", "target"))


def test_the_draft_is_deterministic_and_its_yaml_safe():
    first = draft(PLAN.read_text(), Options(name="a", source="b")).to_yaml()
    assert draft(PLAN.read_text(), Options(name="a", source="b")).to_yaml() == first
    assert yaml.safe_load(first)["claims"]
