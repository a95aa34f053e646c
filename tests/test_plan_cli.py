"""`moekit plan`: scenario or flags in, a table or JSON with best, pareto, binding out."""

import argparse
import json

import pytest

from moekit.cli import main
from moekit.cli.common import add_deployment_arguments


def test_deployment_arguments_can_be_optional_for_commands_that_read_a_scenario():
    parser = argparse.ArgumentParser()
    add_deployment_arguments(parser, strategy=False, required=False)
    args = parser.parse_args([])
    assert args.model is None and args.batch is None


def test_deployment_arguments_stay_required_by_default():
    parser = argparse.ArgumentParser()
    add_deployment_arguments(parser, strategy=False)
    try:
        parser.parse_args([])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("--model and friends should be required")

FLAGS = ["--model", "mixtral-8x7b", "--hardware", "h100-sxm", "--batch", "64", "--prompt", "1024",
         "--output", "128", "--gpus", "8"]


def run_json(capsys, argv):
    assert main(["plan", *argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_json_has_best_pareto_binding_with_evaluate_metric_names(capsys):
    out = run_json(capsys, [*FLAGS, "--tpot", "50 ms", "--compare", "TP8-EP8"])
    assert {"best", "pareto", "binding", "document_strategy"} <= set(out)
    assert main(["evaluate", *FLAGS[:-2], "--strategy", "TP8-EP8", "--format", "json"]) == 0
    evaluate_keys = set(json.loads(capsys.readouterr().out))
    assert evaluate_keys <= set(out["best"])
    assert out["best"]["gpus"] == 8 and out["best"]["tpot_s"] <= 0.05
    assert out["document_strategy"]["strategy"]["notation"] == "TP8-EP8"
    assert all({"strategy", "ttft_s", "decode_tokens_per_s_per_gpu", "gpus"} <= set(p)
               for p in out["pareto"])
    assert {b["constraint"] for b in out["binding"]} == {"memory", "tpot"}


def test_plan_says_plainly_when_no_strategy_meets(capsys):
    out = run_json(capsys, [*FLAGS, "--ttft", "1 us"])
    assert out["best"] is None and not out["feasible"]
    assert out["message"].startswith("No strategy meets the targets")
    assert out["nearest"] and "ttft misses by" in out["nearest"][0]["misses"]
    assert main(["plan", *FLAGS, "--ttft", "1 us"]) == 0
    assert "No strategy meets the targets" in capsys.readouterr().out


def test_plan_table_of_a_bundled_scenario_shows_the_document_strategy(capsys, tmp_path):
    from moekit.audit.scenario import bundled_names

    name = bundled_names()[0]
    deployment, diagram = tmp_path / "deploy.json", tmp_path / "placement.png"
    assert main(["plan", name, "--gpus", "64", "--top", "3", "--deployment", str(deployment),
                 "--diagram", str(diagram)]) == 0
    text = capsys.readouterr().out
    assert "beside the document's strategy" in text and "Pareto front" in text
    assert json.loads(deployment.read_text())["gpus"] == 64
    assert diagram.stat().st_size > 0


def test_plan_without_scenario_or_flags_names_what_is_missing(capsys):
    assert main(["plan", "--model", "mixtral-8x7b"]) == 2
    assert "--hardware, --batch, --prompt" in capsys.readouterr().err


@pytest.mark.parametrize("objective", ["ttft", "gpus"])
def test_plan_objective_flag(capsys, objective):
    out = run_json(capsys, [*FLAGS[:-2], "--max-gpus", "16", "--objective", objective])
    assert out["objective"]["name"] == objective and out["best"]["gpus"] <= 16


def test_a_scenario_is_planned_on_its_own_stack_unless_told_otherwise(capsys):
    assert run_json(capsys, ["seed003_10b_tp4_ep8_pp2"])["stack"] == "sglang"  # no `stack:`: the engine
    assert run_json(capsys, ["seed003_10b_tp4_ep8_pp2", "--stack", "none"])["stack"] == "none"
    assert run_json(capsys, ["mixtral_8x7b_h100_dp2_tp4_etp4"])["stack"] == "none"  # it states its own
    assert run_json(capsys, FLAGS)["stack"] == "none"  # from flags: the presets' efficiencies
