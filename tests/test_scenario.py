"""Scenario loading: bundled seed scenarios load; malformed files fail naming the field."""

import copy

import pytest
import yaml

from moekit.audit.claim_formula import evaluate_formula, parse_formula
from moekit.audit.scenario import bundled_names, load_scenario
from moekit.errors import SpecError


def test_seed000_loads_with_product_convention_and_its_claims():
    s = load_scenario("seed000_30b_ep64_tp8_pp2_dp2")
    assert s.source.endswith("000_b76fa9b3bf6e9f2b.txt")
    # product convention: attention dp = DP x EP = 2 x 64, GPUs = 64 x 8 x 2 x 2
    assert (s.strategy.dp, s.strategy.tp, s.strategy.pp, s.strategy.ep) == (128, 8, 2, 64)
    assert s.strategy.gpus == 2048 and s.strategy.notation == "EP64-TP8-PP2-DP2"
    assert s.claim("memory_per_gpu").value == 29.3 and s.claim("memory_per_gpu").unit == "MB"
    assert s.claim("memory_per_gpu").si_value == pytest.approx(29.3e6)


def test_every_bundled_scenario_loads():
    names = bundled_names()
    assert "seed000_30b_ep64_tp8_pp2_dp2" in names
    for name in names:
        assert load_scenario(name).claims


def test_unknown_scenario_names_the_bundled_ones():
    with pytest.raises(SpecError, match="seed000_30b_ep64_tp8_pp2_dp2"):
        load_scenario("no-such-scenario")


# --- malformed scenario files ----------------------------------------------------------------

GOOD = {
    "name": "t", "source": "tests", "model": "mixtral-8x7b", "hardware": "h100-sxm",
    "workload": {"batch": 8, "prompt_len": 1024},
    "strategy": {"notation": "TP8-ETP8", "convention": "folded"},
    "stated": {"doc_tp": 8},
    "claims": [{"id": "gpu_count", "quantity": "GPUs", "value": 8, "unit": "GPUs", "section": "s",
                "formula": "doc_tp", "model": "gpus"}],
}


def load(tmp_path, data):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return load_scenario(path)


def broken(change):
    data = copy.deepcopy(GOOD)
    change(data)
    return data


def test_good_scenario_loads(tmp_path):
    s = load(tmp_path, GOOD)
    assert s.claim("gpu_count").si_value == 8 and s.strategy.tp == 8 and s.strategy.etp == 8


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("source"), "missing key(s) source"),
    (lambda d: d["claims"][0].pop("unit"), "missing key(s) unit"),
    (lambda d: d.update(modle="x"), "unknown key(s) modle"),
    (lambda d: d["claims"][0].update(vaule=3), "unknown key(s) vaule"),
    (lambda d: d.update(claims="many"), "expected a list"),
    (lambda d: d["claims"][0].update(value="lots"), "claim gpu_count.value"),
    (lambda d: d["claims"][0].update(value=True), "claim gpu_count.value"),
    (lambda d: d["claims"][0].update(unit="furlongs"), "unknown unit 'furlongs'"),
    (lambda d: d["claims"][0].update(unit=3), "claim gpu_count.unit"),
    (lambda d: d["claims"][0].update(formula="__import__('os').system('true')"), "calls a function"),
    (lambda d: d["claims"][0].update(formula="sqrt(doc_tp)"), "calls a function"),
    (lambda d: d["claims"][0].update(formula="doc_tp.real"), "accesses attribute 'real'"),
    (lambda d: d["claims"][0].update(formula="doc_tp[0]"), "indexes a value"),
    (lambda d: d["claims"][0].update(formula="doc_tp if 1 else 2"), "uses IfExp"),
    (lambda d: d["claims"][0].update(formula="doc_tp +"), "cannot read formula"),
    (lambda d: d["claims"][0].update(formula="nonexistent * 2"), "unknown name(s) nonexistent"),
    (lambda d: d["claims"][0].update(model="not_a_moekit_formula"), "unknown name(s) not_a_moekit_formula"),
    (lambda d: d["claims"][0].update(mistakes=[{"mistake": "typo", "formula": "1"}]),
     "unknown mistake 'typo'"),
    (lambda d: d["claims"][0].update(assumptions=["nope"]), "'nope' is not among the scenario's assumptions"),
    (lambda d: d["claims"][0].update(missing=["nope"]), "'nope' is not among the scenario's missing"),
    (lambda d: d["claims"][0].update(tolerance=2), "claim gpu_count.tolerance"),
    (lambda d: d["claims"][0].update(bound="gpus"), "lower or an upper"),
    (lambda d: d["claims"][0].update(id="Bad Id"), "lower_snake_case"),
    (lambda d: d["claims"].append(dict(d["claims"][0])), "duplicate claim id(s) gpu_count"),
    (lambda d: d["claims"][0].update(id="ttft_s"), "are moekit formula names"),
    (lambda d: d["stated"].update(doc_tp="8 furlongs"), "stated.doc_tp"),
    (lambda d: d["workload"].update(batch="many"), "batch='many' must be an integer"),
    (lambda d: d.update(model="no-such-model"), "no such preset"),
    (lambda d: d.update(strategy={"notation": "TP8-XX3", "convention": "folded"}), "cannot read 'XX3'"),
    (lambda d: d.update(targets={"ttft_s": "10 furlongs"}), "targets.ttft_s"),
])
def test_malformed_scenario_names_the_field(tmp_path, change, message):
    with pytest.raises(SpecError) as info:
        load(tmp_path, broken(change))
    assert message in str(info.value)


def test_malformed_yaml_names_file_and_line(tmp_path):
    with pytest.raises(SpecError, match=r"s.yaml: malformed YAML at line 4"):
        load(tmp_path, "name: t\nclaims:\n  - id: [unclosed\n")


def test_scenario_that_is_not_a_mapping(tmp_path):
    with pytest.raises(SpecError, match="expected a mapping"):
        load(tmp_path, "- just\n- a list\n")


# --- the document's own formulas ---------------------------------------------------------------

def test_seed004_written_formula_is_reevaluated_exactly():
    # "30B × 2 bytes / (4 TP × 2 DP) = 7.5GB", as the scenario records it
    s = load_scenario("seed004_30b_tp4_ep16_pp4_dp2")
    c = s.claim("params_memory")
    assert c.formula_written and "×" in c.formula.text
    assert evaluate_formula(c.formula.expr, {**s.stated, **c.inputs}, "t") == pytest.approx(7.5e9)


def test_formula_accepts_document_symbols_and_refuses_code():
    assert evaluate_formula(parse_formula("30 × 2 ÷ (4 × 2)", "f"), {}, "f") == 7.5
    assert evaluate_formula(parse_formula("d² * 4", "f"), {"d": 1024}, "f") == 4 * 1024**2
    for text, why in [("open('x')", "calls a function"), ("().__class__", "accesses attribute"),
                      ("lambda: 1", "Lambda"), ("a == b", "Compare"), ("'text'", "Constant"),
                      ("_private", "underscore")]:
        with pytest.raises(SpecError, match=why):
            parse_formula(text, "claim x.formula")


def test_formula_with_unknown_name_or_division_by_zero_fails_clearly():
    with pytest.raises(SpecError, match="unknown name"):
        evaluate_formula(parse_formula("a * b", "f"), {"a": 1}, "f")
    with pytest.raises(SpecError, match="division by zero"):
        evaluate_formula(parse_formula("a / b", "f"), {"a": 1, "b": 0}, "f")


def test_seed_scenarios_record_missing_inputs_and_named_assumptions():
    s = load_scenario("seed001_10b_ep16_tp2_pp4_dp2")
    assert {"d_model", "top_k", "vocab_size"} <= {m.name for m in s.missing}
    assert s.assumption("top_k_2").model
