"""Audit behaviour: the seed findings that matter most, tolerance, verdict order, CLI output."""

import copy
import json

import pytest

from moekit.audit.scenario import load_scenario, scenario_from_mapping
from moekit.audit.verdicts import VERDICTS, audit
from moekit.cli import main


@pytest.fixture(scope="module")
def seed(request):
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = audit(load_scenario(name))
        return cache[name]
    return get


def test_seed000_memory_per_gpu_29mb_is_model_error_divided_by_all_gpus(seed):
    v = seed("seed000_30b_ep64_tp8_pp2_dp2").verdict("memory_per_gpu")
    assert v.verdict == "model_error"
    # moekit, product convention (tp 8, pp 2, ep 64, etp 8), FP16, vocab 32000:
    # attention 8 x (4*1024^2/8 + 2*1024) x 2 = 8,421,376 B; experts 8 x (2*1024*2048/8 + 1024*64)
    # x 2 = 9,437,184 B; embedding (pp > 1: one table per stage) 32000*1024/8 x 2 = 8,192,000 B
    assert v.recomputed_si == pytest.approx(8_421_376 + 9_437_184 + 8_192_000)
    assert any("data-parallel" in r for r in v.reproduced_by), v.reproduced_by
    assert "58.6 MB" in v.explanation  # 60 GB over the 1024 GPUs holding distinct shards


def test_seed000_strategy_is_read_in_product_convention_and_folded_reading_is_refused(seed):
    a = seed("seed000_30b_ep64_tp8_pp2_dp2")
    assert "product convention (2048 GPUs)" in a.convention_note
    assert "ep*etp=64*1 must divide dp*tp=16" in a.convention_note
    assert any("product_convention" in x for x in a.verdict("total_gpus").assumptions)


def test_seed002_attention_weights_are_4x_understated(seed):
    v = seed("seed002_30b_ep64_tp2_pp1").verdict("attention_weights_per_gpu")
    # 16 layers x (4 x 1024^2 / TP2 + 2 x 1024 norm) x 1 B (FP8) = 33,587,200 B
    assert v.recomputed_si == pytest.approx(33_587_200)
    assert v.ratio == pytest.approx(8.39e6 / 33_587_200)
    assert v.ratio == pytest.approx(0.25, abs=0.005)


def test_seed002_expert_weights_32mb_are_mib_printed_as_mb(seed):
    v = seed("seed002_30b_ep64_tp2_pp1").verdict("expert_weights_per_gpu")
    # 16 layers x 2 x 1024 x 2048 x 1 B / 2 = 33,554,432 B = 32.0 MiB
    assert v.verdict == "model_error"
    assert any("MiB" in r for r in v.reproduced_by)


def test_seed002_tflops_are_parameter_counts_printed_as_tflops(seed):
    a = seed("seed002_30b_ep64_tp2_pp1")
    for claim in ("attention_tflops", "expert_tflops", "total_tflops", "compute_utilization"):
        v = a.verdict(claim)
        assert v.verdict == "model_error"
        assert any("parameter count" in r for r in v.reproduced_by), claim


def test_seed001_12_tokens_per_ms_is_all_experts_of_a_10b_model(seed):
    v = seed("seed001_10b_ep16_tp2_pp4_dp2").verdict("throughput_theoretical")
    # its own arithmetic: 400e12 x 0.6 / (2 x 10e9) = 12,000 tokens/s
    arithmetic = next(f for f in v.findings if f.kind == "arithmetic")
    assert arithmetic.value_si == pytest.approx(12_000)
    assert any("every expert" in r for r in v.reproduced_by)


def test_seed004_tokens_per_second_is_tokens_per_millisecond(seed):
    v = seed("seed004_30b_tp4_ep16_pp4_dp2").verdict("tokens_per_second")
    assert v.verdict == "arithmetic_error"
    assert v.recomputed_si == pytest.approx(256 * 4096 / 0.027)
    assert any("milliseconds and seconds" in r for r in v.reproduced_by)


def test_seed004_sequences_per_second_divides_tokens_by_batch(seed):
    v = seed("seed004_30b_tp4_ep16_pp4_dp2").verdict("sequences_per_second")
    assert v.recomputed_si == pytest.approx(256 / 0.027)
    assert any("number of sequences" in r for r in v.reproduced_by)  # 38,000 / 256 = 148.4


def test_seed004_27ms_latency_is_infeasible_on_16_gpus_and_is_one_stage(seed):
    v = seed("seed004_30b_tp4_ep16_pp4_dp2").verdict("total_latency")
    assert v.verdict == "infeasible"
    assert v.recomputed_si > 0.027
    assert any("one stage's time" in r for r in v.reproduced_by)
    consistency = next(f for f in v.findings if f.kind == "consistency")
    assert consistency.value_si == pytest.approx(6.5e-3 * 16)  # per-layer x 16 layers


def test_seed004_activations_formula_gives_a_tenth_of_the_printed_value(seed):
    v = seed("seed004_30b_tp4_ep16_pp4_dp2").verdict("activations_memory")
    assert v.verdict == "arithmetic_error"
    assert v.recomputed_si == pytest.approx(256 * 4096 * 1024 * 2 / 16)  # 0.134 GB


def test_unverifiable_says_what_is_missing(seed):
    v = seed("seed004_30b_tp4_ep16_pp4_dp2").verdict("previous_latency")
    assert v.verdict == "unverifiable" and v.recomputed_si is None and v.ratio is None
    assert "initial strategy" in v.explanation


# --- tolerance and verdict order on a small scenario -----------------------------------------

BASE = {
    "name": "tolerance-test", "source": "tests", "model": "mixtral-8x7b", "hardware": "h100-sxm",
    "workload": {"batch": 8, "prompt_len": 1024, "weight_dtype": "bf16"},
    "strategy": {"notation": "TP8-ETP8", "convention": "folded"},
    "stated": {"gpu_count": 8}, "missing": [{"name": "why", "text": "nothing states it"}],
    "claims": [],
}


def run(*claims):
    data = copy.deepcopy(BASE)
    data["claims"] = list(claims)
    return audit(scenario_from_mapping(data, "test")).verdicts


def claim(value, unit="GPUs", **checks):
    return {"id": "c", "quantity": "q", "value": value, "unit": unit, "section": "s", **checks}


@pytest.mark.parametrize(("value", "verdict"), [(8, "ok"), (8.15, "ok"), (8.2, "model_error"),
                                                (7.85, "ok"), (7.8, "model_error")])
def test_default_tolerance_is_2_percent(value, verdict):
    # gpus = 8: 8.15 is 1.9% off (ok), 8.2 is 2.5% off
    assert run(claim(value, model="gpus"))[0].verdict == verdict


def test_a_claim_may_set_its_own_tolerance():
    assert run(claim(8.6, model="gpus", tolerance=0.1))[0].verdict == "ok"
    assert run(claim(8.6, model="gpus"))[0].verdict == "model_error"


def test_printed_decimals_widen_tolerance_only_for_values_printed_with_decimals():
    # "0.05" is good to +-0.005, so 0.0456 (9.6% off) rounds to it; an integer gets no such slack
    assert run(claim("0.05", unit="", model="0.0456"))[0].verdict == "ok"
    assert run(claim("0.05", unit="", model="0.0449"))[0].verdict == "model_error"
    assert run(claim(5, unit="", model="4.56"))[0].verdict == "model_error"
    assert run(claim(1, unit="", model="0.5"))[0].verdict == "model_error"
    # "0.000" printed: good to 0.0005, and 0.02 is far beyond it
    assert run(claim("0.000", unit="", model="0.02"))[0].verdict == "model_error"


def test_verdict_order_infeasible_before_arithmetic_before_inconsistent_before_model():
    v = run(claim(1, unit="ms", formula="gpu_count", model="tpot_s", consistency=["gpus"],
                  bound="tpot_lower_bound_s"))[0]
    assert v.verdict == "infeasible"
    v = run(claim(1, unit="GPUs", formula="gpu_count", model="gpus", consistency=["gpus"]))[0]
    assert v.verdict == "arithmetic_error"
    v = run(claim(8, unit="GPUs", formula="gpu_count", model="gpus * 2", consistency=["gpus * 3"]))[0]
    assert v.verdict == "inconsistent"
    v = run(claim(8, unit="GPUs", formula="gpu_count", model="gpus * 2"))[0]
    assert v.verdict == "model_error"


def test_claim_with_no_check_is_unverifiable_and_names_the_missing_input():
    v = run(claim(8, missing=["why"]))[0]
    assert v.verdict == "unverifiable" and "nothing states it" in v.explanation


def test_universal_slip_gib_printed_as_gb_is_found():
    # 2 GiB of something printed as "2.147 GB" is right; printed as "2 GB" is the slip
    v = run(claim(2, unit="GB", model="2**31"))[0]
    assert v.verdict == "model_error"
    assert any("GiB figure printed as GB" in r for r in v.reproduced_by)


# --- CLI ----------------------------------------------------------------------------------

def test_cli_json_has_exactly_the_documented_shape(capsys):
    assert main(["audit", "seed000_30b_ep64_tp8_pp2_dp2", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["documents"]
    doc = data["documents"][0]
    assert list(doc) == ["scenario", "source", "stack", "claims"]
    keys = ["id", "quantity", "claimed_value", "claimed_unit", "recomputed_value", "recomputed_unit",
            "ratio", "verdict", "explanation", "assumptions", "reproduced_by"]
    for c in doc["claims"]:
        assert list(c) == keys
        assert c["verdict"] in VERDICTS
    memory = next(c for c in doc["claims"] if c["id"] == "memory_per_gpu")
    assert (memory["claimed_value"], memory["claimed_unit"]) == (29.3, "MB")


def test_cli_without_arguments_audits_every_bundled_scenario(capsys):
    assert main(["audit"]) == 0
    out = capsys.readouterr().out
    for name in ("seed000", "seed001", "seed002", "seed003", "seed004", "mixtral_8x7b"):
        assert name in out
    assert "model_error" in out and "unverifiable" in out


def test_cli_markdown_is_a_report(capsys):
    assert main(["audit", "seed004_30b_tp4_ep16_pp4_dp2", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# moekit audit")
    assert "| claim | printed | recomputed | ratio | verdict | why |" in out
    assert "`infeasible`" in out and "**Reproduced by**" in out


def test_cli_bad_scenario_exits_2_with_the_field(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nsource: y\n")
    assert main(["audit", str(path)]) == 2
    assert "missing key(s)" in capsys.readouterr().err
