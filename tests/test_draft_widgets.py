"""The widgets of notebook 11: a plan in, editable claims, live verdicts, the scenario saved."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from moekit.audit.scenario import load_scenario
from moekit.ui.draft_widgets import PlanAuditor

PLAN = (
    Path(__file__).resolve().parent.parent / "data" / "plans" / "qwen3_30b_a3b_h200_dp8_ep8.md"
).read_text()


@pytest.fixture
def auditor():
    return PlanAuditor(PLAN, name="qwen3_plan")


def test_the_plan_is_drafted_and_audited_at_once(auditor):
    assert len(auditor.rows) == 16
    assert auditor.verdict("total_parameters") == "ok"
    assert auditor.verdict("ttft") == "infeasible"
    assert "16 claims" in auditor.text() and "1 unresolved" in auditor.text()


def test_a_new_quantity_brings_its_check_and_the_verdict_follows(auditor):
    auditor.row("total_parameters").quantity.value = "active_parameters"
    assert auditor.row("total_parameters").model.value == "active_params"
    assert auditor.verdict("total_parameters") == "model_error"  # 30.5B is not the active count
    auditor.row("total_parameters").quantity.value = "total_parameters"
    assert auditor.verdict("total_parameters") == "ok"


def test_an_edited_check_or_formula_is_audited(auditor):
    auditor.row("kv_cache_per_gpu").formula.value = ""  # drop the plan's arithmetic: the model remains
    assert auditor.verdict("kv_cache_per_gpu") == "model_error"  # 1.81 GB, not 2.2
    auditor.row("kv_cache_per_gpu").formula.value = "8 * 2304 * 98304 * 1.2"
    assert auditor.verdict("kv_cache_per_gpu") == "model_error"  # the arithmetic now holds (2.17 GB)
    auditor.row("tpot").model.value = "tpot_s / 10"
    assert auditor.verdict("tpot") == "infeasible"  # the bound still holds


def test_a_claim_left_out_is_not_audited(auditor):
    auditor.row("tpot").include.value = False
    with pytest.raises(KeyError, match="'tpot' is not shown"):
        auditor.verdict("tpot")
    assert "tpot" not in [c["id"] for c in auditor.scenario()["claims"]]


def test_a_bad_edit_shows_the_error_naming_the_field(auditor):
    auditor.row("ttft").model.value = "ttft_s +"
    assert "claim ttft.model" in auditor.error and "moekit-error" in auditor.verdicts_html.value
    auditor.row("ttft").model.value = "ttft_s"
    assert auditor.error == "" and auditor.verdict("ttft") == "infeasible"


def test_a_new_gpu_or_text_redrafts(auditor):
    auditor.hardware.value = "b200"
    assert auditor.result.scenario["hardware"] == "b200"
    auditor.plan.value = "## Plan\n- Mixtral-8x7B on H100 with TP8\n- TPOT: 0.1 ms\n"
    assert [r.claim["id"] for r in auditor.rows] == ["tpot"]
    assert auditor.result.scenario["model"] == "mixtral-8x7b"


def test_an_uploaded_file_replaces_the_text(auditor):
    auditor.upload.value = (
        {
            "name": "p.md",
            "type": "text/markdown",
            "size": 40,
            "content": memoryview(b"Mixtral-8x7B on H100, TP8: TTFT 1 ms"),
            "last_modified": datetime(2026, 1, 1, tzinfo=UTC),
        },
    )
    assert auditor.plan.value.startswith("Mixtral-8x7B")
    assert auditor.verdict("ttft") == "infeasible"


def test_text_without_model_says_what_is_missing_and_the_fields_supply_it():
    auditor = PlanAuditor("TTFT: 2 s on 16 GPUs")
    assert "model" in auditor.error and auditor.audit is None
    auditor.model.value = "mixtral-8x7b"
    auditor.hardware.value = "h100-sxm"
    assert auditor.verdict("ttft") == "unverifiable"  # no strategy: nothing to evaluate
    auditor.strategy.value = "TP8"
    assert auditor.verdict("ttft") == "model_error"  # 2 s for one default batch is far too slow


def test_the_saved_yaml_loads_with_the_edits(auditor, tmp_path):
    auditor.row("weights_total_2").include.value = False
    path = auditor.save(str(tmp_path / "plan.yaml"))
    scenario = load_scenario(path)
    assert "weights_total_2" not in [c.id for c in scenario.claims]
    assert yaml.safe_load(Path(path).read_text())["unresolved"][0]["line"] == 46
    assert "saved 15 claims" in auditor.status.value


def test_tables_for_the_notebook(auditor):
    assert list(auditor.claims_table()["id"])[:3] == ["gpu_count", "experts_per_gpu", "sequences_per_gpu"]
    assert (
        auditor.verdicts_table().set_index("id").loc["weights_total_2", "reproduced by"].startswith("mixing")
    )
    assert list(auditor.unresolved_table()["value"]) == ["30 min"]
