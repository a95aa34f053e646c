"""The `moekit evaluate` command and the unit parser at the edges."""

import json

import pytest

from moekit import SpecError, Strategy
from moekit.cli import main
from moekit.spec.units import format_bytes, parse_quantity


def run_json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_evaluate_json_carries_the_documented_keys(capsys):
    out = run_json(capsys, "evaluate", "--model", "mixtral-8x7b", "--hardware", "h100-sxm",
                   "--strategy", "TP4-EP4-DP2", "--batch", "64", "--prompt", "2048",
                   "--output", "128", "--format", "json")
    for key in ("total_params", "active_params", "gpus", "memory_per_gpu_bytes",
                "memory_breakdown_bytes", "ttft_s", "tpot_s", "decode_tokens_per_s_per_gpu",
                "prefill_tokens_per_s_per_gpu", "lower_bounds", "efficiency_inputs"):
        assert key in out, key
    assert out["gpus"] == 8
    assert out["memory_per_gpu_bytes"] == pytest.approx(sum(out["memory_breakdown_bytes"].values()))
    assert out["ttft_s"] >= out["lower_bounds"]["ttft_s"]
    assert out["strategy"]["convention"] == "folded"


def test_evaluate_reads_seed_notation_as_product_and_says_so(capsys):
    out = run_json(capsys, "evaluate", "--model", "seed-30b-moe", "--hardware", "seed-gpu",
                   "--strategy", "EP64-TP8-PP2-DP2", "--batch", "128", "--prompt", "1024",
                   "--dtype", "fp16", "--format", "json")
    assert out["gpus"] == 2048  # 64 x 8 x 2 x 2, as the document counts
    assert out["strategy"]["convention"] == "product"
    assert (out["strategy"]["dp"], out["strategy"]["etp"]) == (128, 8)


def test_evaluate_table_names_units(capsys):
    assert main(["evaluate", "--model", "olmoe-1b-7b", "--hardware", "h200", "--batch", "4",
                 "--prompt", "512"]) == 0
    text = capsys.readouterr().out
    assert "GB (" in text and "GiB)" in text and "tokens/s/GPU" in text and "MFU 0.5" in text


def test_product_and_folded_readings_differ():
    folded = Strategy.parse("TP4-EP4-DP2")
    assert (folded.convention, folded.gpus) == ("folded", 8)
    product = Strategy.parse("TP4-EP4-DP2", convention="product")
    assert (product.gpus, product.dp, product.etp) == (32, 8, 4)
    assert Strategy.parse("EP64_TP2_PP1").convention == "product"  # 64 does not fold into 2


@pytest.mark.parametrize("text,kind,si", [
    ("64 GB", "bytes", 64e9), ("64 GiB", "bytes", 64 * 2**30), ("29.3MB", "bytes", 29.3e6),
    ("1.8 TB/s", "bandwidth", 1.8e12), ("1.8 TBps", "bandwidth", 1.8e12),
    ("400 Gb/s", "bandwidth", 50e9), ("400 TFLOP/s", "flops", 400e12),
    ("400 TFLOPS", "flops", 400e12), ("8.5 s", "seconds", 8.5), ("27ms", "seconds", 0.027),
    ("3 us", "seconds", 3e-6), ("100 tokens/ms", "rate", 1e5), ("30B", "count", 30e9), (7, "bytes", 7.0),
])
def test_quantities_convert_to_si(text, kind, si):
    assert parse_quantity(text, kind, "x") == pytest.approx(si)


def test_format_bytes_states_both_units():
    assert format_bytes(2**30) == "1.07 GB (1 GiB)"


@pytest.mark.parametrize("text,match", [("5 parsecs", "unit 'parsecs'"), (True, "expected a number"),
                                        ("nan GB", "cannot read"), (float("inf"), "not a finite")])
def test_bad_quantities(text, match):
    with pytest.raises(SpecError, match=match):
        parse_quantity(text, "bytes", "field")


def test_formulas_lists_every_formula_and_shows_latex(capsys):
    from moekit.formulas import REGISTRY

    rows = run_json(capsys, "formulas", "--format", "json")
    assert [r["name"] for r in rows] == list(REGISTRY)
    (row,) = run_json(capsys, "formulas", "expert_flops_per_token", "--latex", "--format", "json")
    assert row["unit"] == "FLOP"
    lhs, rhs = row["latex"].split(" = ")
    assert "F_{experts}" in lhs and rhs == r"2 \cdot P_{e} \cdot k"


def test_formulas_rejects_unknown_names(capsys):
    assert main(["formulas", "ttft"]) == 2
    assert "unknown formula(s) ttft" in capsys.readouterr().err


def test_evaluate_says_when_memory_does_not_fit(capsys):
    assert main(["evaluate", "--model", "mixtral-8x7b", "--hardware", "h100-sxm", "--batch", "1",
                 "--prompt", "16"]) == 0
    assert "of 80 GB (74.5 GiB): DOES NOT FIT" in capsys.readouterr().out  # 93 GB of weights


def test_plan_writes_diagram_and_deployment_into_new_folders(tmp_path, capsys):
    diagram, deployment = tmp_path / "a" / "p.png", tmp_path / "b" / "d.json"
    assert main(["plan", "--model", "olmoe-1b-7b", "--hardware", "h100-sxm", "--batch", "8",
                 "--prompt", "256", "--gpus", "2", "--diagram", str(diagram),
                 "--deployment", str(deployment)]) == 0
    assert diagram.stat().st_size > 0
    assert json.loads(deployment.read_text())


def test_plain_tp_splits_experts_too_unless_ep_is_written():
    assert Strategy.parse("TP8").etp == 8  # as Megatron and vLLM shard experts under plain TP
    assert Strategy.parse("TP8-EP8").etp == 1  # expert parallel: whole experts per GPU
    assert Strategy.parse("TP8-ETP2").etp == 2  # written ETP wins
    assert Strategy(tp=8).etp == 1  # the dataclass takes degrees as given


def test_mixtral_on_eight_h100s_with_tp8_fits(capsys):
    out = run_json(capsys, "evaluate", "--model", "mixtral-8x7b", "--hardware", "h100-sxm",
                   "--strategy", "TP8", "--batch", "8", "--prompt", "512", "--format", "json")
    assert out["fits"] and out["strategy"]["etp"] == 8
    assert out["memory_breakdown_bytes"]["expert_weight_bytes_per_gpu"] == pytest.approx(
        32 * (8 * 3 * 4096 * 14336 / 8 + 4096 * 8) * 2)  # experts split 8 ways, router replicated
