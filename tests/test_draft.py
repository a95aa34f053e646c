"""The drafter's parts: numbers and units as plans print them, the plan's own arithmetic, strategy
notation in both conventions, the phrase table, the writer and `moekit draft`."""

import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from moekit.audit.claim_formula import names_in, parse_formula
from moekit.audit.scenario import scenario_from_mapping
from moekit.audit.verdicts import audit
from moekit.cli import main
from moekit.draft import Options, draft
from moekit.draft.arithmetic import find_formulas
from moekit.draft.document import read_document
from moekit.draft.notation import decide_convention, find_strategy
from moekit.draft.numbers import find_numbers
from moekit.draft.phrases import QUANTITIES, classify_label, model_for
from moekit.draft.writer import evaluation_names


def numbers(text):
    return [(n.printed, n.unit, n.kind) for n in find_numbers(text)]


# --- numbers and units ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("Single GPU Computing Power: 400 TFlops", [("400", "TFLOPS", "flops")]),
    ("VRAM Bandwidth: 1.8 TBps", [("1.8", "TB/s", "bandwidth")]),
    ("Memory: 29.3MB per GPU (within 64GB)", [("29.3", "MB", "bytes"), ("64", "GB", "bytes")]),
    ("Model Size: 30B parameters", [("30", "B parameters", "count")]),
    ("0.045% of memory, 2x faster", [("0.045", "%", "percent"), ("2", "x", "ratio")]),
    ("TTFT 0.472 seconds, TPOT 35 ms, recovery <5 minutes",
     [("0.472", "s", "seconds"), ("35", "ms", "seconds"), ("5", "min", "seconds")]),
    ("Throughput: 8,000 tokens/ms", [("8,000", "tokens/ms", "rate")]),
    ("16 heads, 2048 GPUs, 4 layers per stage",
     [("16", "heads", "count"), ("2048", "GPUs", "count"), ("4", "layers", "count")]),
])  # fmt: skip
def test_numbers_keep_their_printed_digits_and_unit(text, expected):
    assert numbers(text) == expected


def test_names_dates_versions_and_indices_are_not_plan_numbers():
    for text in (
        "Strategy EP64-TP8-PP2-DP2 at FP16 on H100",
        "Qwen3-30B-A3B and Mixtral-8x7B v0.1",
        "Task ID: 2025-12-22-10-42-54",
        "Generated: December 27, 2025",
        "Node 0-7 (Layers 0-7)",
        "dp_rank: [0,1]",
        "a 1:1 mapping at 10:42",
        "Pipeline Stage 0",
    ):
        assert numbers(text) == [], text


def test_ranges_give_both_ends_and_qualifiers_are_kept():
    low, high = find_numbers("Expected Throughput: 100-150 tokens/ms")
    assert (low.range_end, high.range_end, low.unit, high.si) == ("low", "high", "tokens/ms", 150e3)
    (approx,) = find_numbers("Total: ~11.6GB")
    (bound,) = find_numbers("can achieve 100+ tokens/ms")
    assert (approx.qualifier, bound.qualifier) == ("~", ">")


def test_si_values_follow_the_unit_table():
    assert [n.si for n in find_numbers("64GB, 80 GiB, 1.8 TB/s, 50 ms, 20%, 30B params")] == [
        64e9,
        80 * 2**30,
        1.8e12,
        0.05,
        0.2,
        30e9,
    ]


# --- the document's own arithmetic ------------------------------------------------------------


@pytest.mark.parametrize("text, expression", [
    ("Weights: 61 GB / 8 = 7.6 GB per GPU", "61000000000/8"),
    ("Total GPUs = EP × TP × PP × DP = 64 × 8 × 2 × 2 = 2048 GPUs", "64*8*2*2"),
    ("Total Model Memory: 60GB (30B params × 2 bytes)", "(30000000000*2)"),
    ("Attention: 256 × 4096 × 1024² × 4 / (400T × 0.6 × 4 TP) = 4.4ms",
     "256*4096*1024**2*4/(400000000000000*0.6*4)"),
    ("Model Weights: 0.078GB per GPU (20GB total / 256 GPUs)", "(20000000000/256)"),
])  # fmt: skip
def test_a_sentence_that_shows_its_arithmetic_gives_its_formula_in_si(text, expression):
    found = find_numbers(text)
    (formula,) = find_formulas(text, found)
    assert formula.expression == expression
    assert formula.result == len(found) - 1 or found[formula.result].unit  # the printed result


def test_no_formula_where_the_numbers_are_not_joined_by_arithmetic():
    text = "Batch 64, prompt 2048 tokens, 8 GPUs"
    assert find_formulas(text, find_numbers(text)) == []


# --- strategy notation ----------------------------------------------------------------------


def test_notation_in_either_spelling_and_degrees_one_by_one():
    written = find_strategy(read_document("## Optimal Parallel Strategy: EP64_TP2_PP1\n"))
    assert written.written() == "EP64_TP2_PP1"
    prose = find_strategy(
        read_document(
            "- Tensor Parallelism (TP): 4-way\n- EP degree: 8 GPUs\n"
            "- 2-way DP doubles capacity\n'pipeline_parallel_size': 2,\n"
        )
    )
    assert prose.written() == "TP4-EP8-DP2-PP2"


def test_the_convention_follows_what_the_plan_multiplies():
    plan = find_strategy(read_document("Strategy EP16-TP2-PP4-DP2"))
    assert decide_convention(plan, [256])[0] == "product"  # 16 x 2 x 4 x 2 = 256: EP as its own axis
    folded = find_strategy(read_document("Strategy DP2-TP4-EP8"))
    assert decide_convention(folded, [8])[0] == "folded"  # 8 GPUs, experts folded onto them


def test_context_parallel_is_reported_as_unresolved():
    result = draft("## Plan: TP8-CP2 on H100\n- TTFT: 300 ms\n", Options(model="mixtral-8x7b"))
    assert result.scenario["strategy"]["notation"] == "TP8"
    assert any("context/sequence parallelism" in u["reason"] for u in result.scenario["unresolved"])


# --- the phrase table -------------------------------------------------------------------------


def test_every_suggested_check_uses_names_moekit_has():
    names = evaluation_names()
    for q in QUANTITIES:
        for phase in ("prefill", "decode"):
            for convention in ("folded", "product"):
                expr = model_for(q, phase, convention, "layer expert")
                if expr:
                    assert names_in(parse_formula(expr, q.key)) <= names, (q.key, expr)


@pytest.mark.parametrize("label, unit, key", [
    ("weight memory per GPU", "GB", "weights_per_gpu"),
    ("memory per GPU", "GB", "memory_per_gpu"),
    ("time to first token", "s", "ttft"),
    ("throughput of the deployment", "tokens/s", "throughput_total"),
    ("throughput per GPU", "tokens/ms", "throughput_per_gpu"),
    ("GPUs of the deployment", "GPUs", "gpu_count"),
    ("KV-cache memory per GPU", "GB", "kv_cache_per_gpu"),
    ("TP all-reduce time", "ms", "allreduce_time"),
    ("EP all-to-all time", "ms", "alltoall_time"),
    ("expert load imbalance (busiest / mean - 1)", "%", "load_imbalance"),
])  # fmt: skip
def test_the_table_reads_scenario_labels_like_plan_sentences(label, unit, key):
    assert classify_label(label, unit).key == key


# --- the writer -------------------------------------------------------------------------------

PLAN = """# Mixtral on H100
- Model: Mixtral-8x7B, BF16
- Strategy: TP8 (8 GPUs)
- Batch: 32 sequences, prompt length 1024 tokens
- Weights per GPU: 93.4 GB / 8 = 11.7 GB
- TPOT: 0.1 ms
- The cluster has 3 spare racks.
"""


def test_a_short_plan_drafts_loads_and_audits():
    result = draft(PLAN)
    s = result.scenario
    assert (s["model"], s["hardware"], s["strategy"]["notation"]) == ("mixtral-8x7b", "h100-sxm", "TP8")
    report = audit(scenario_from_mapping(s, "plan"))
    assert report.verdict("weights_per_gpu").verdict == "ok"  # TP8 splits all 93.4 GB
    assert report.verdict("tpot").verdict == "infeasible"
    assert [u["value"] for u in s["unresolved"]] == ["3"]


def test_flags_win_over_the_text_and_say_so():
    s = draft(PLAN, Options(model="olmoe-1b-7b", hardware="h200", batch=8, prompt=512, output=64)).scenario
    assert (s["model"], s["hardware"]) == ("olmoe-1b-7b", "h200")
    assert (s["workload"]["batch"], s["workload"]["prompt_len"], s["workload"]["output_len"]) == (8, 512, 64)
    assert {"model_given", "hardware_given"} <= {a["name"] for a in s["assumptions"]}


def test_an_unknown_model_and_gpu_are_unresolved_not_invented():
    s = draft("A plan with TTFT 2 s and 16 GPUs.").scenario
    assert s["model"] is None and s["hardware"] is None
    assert {u.get("what") for u in s["unresolved"]} >= {"model", "hardware"}


def test_the_architecture_the_plan_states_becomes_an_inline_model_with_its_guesses():
    s = draft(
        "Layers: 16\nHidden size: 1024\nAttention heads: 16\nExperts per layer: 64\n"
        "MoE hidden size: 2048\nTop-2 routing\nTotal GPUs: 64\n"
    ).scenario
    assert s["model"]["num_layers"] == 16 and s["model"]["num_experts"] == 64
    assert "vocab_size 32000" in next(a["text"] for a in s["assumptions"] if a["name"] == "plan_architecture")


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_the_drafter_never_crashes_on_arbitrary_text(text):
    result = draft(text)
    yaml.safe_load(result.to_yaml())
    json.loads(result.to_json())


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "# ",
                "- ",
                "**",
                "|",
                ":",
                " ",
                "=",
                "×",
                "/",
                "(",
                ")",
                "~",
                "<",
                "%",
                "GB",
                "ms",
                "TFLOPS",
                "tokens/s",
                "GPUs",
                "EP",
                "TP8",
                "-way",
                "B params",
                "per GPU",
                "TTFT",
                "memory",
                "12",
                "0.5",
                "1,024",
                "\n",
                "```",
                "2x",
            ]
        ),
        max_size=60,
    ).map("".join)
)
def test_the_drafter_never_crashes_on_plan_like_fragments(text):
    draft(text, Options(model="mixtral-8x7b", hardware="h100-sxm")).to_yaml()


# --- moekit draft -----------------------------------------------------------------------------


def test_cli_writes_a_scenario_that_moekit_audit_reads(tmp_path, capsys):
    plan = tmp_path / "My Plan.md"
    plan.write_text(PLAN)
    out = tmp_path / "out" / "plan.yaml"
    assert main(["draft", str(plan), "-o", str(out)]) == 0
    assert "claims" in capsys.readouterr().err
    data = yaml.safe_load(out.read_text())
    assert data["name"] == "my_plan" and data["source"] == "plan document My Plan.md"
    assert main(["audit", str(out), "--format", "json"]) == 0
    audited = json.loads(capsys.readouterr().out)
    assert {c["id"]: c["verdict"] for c in audited["documents"][0]["claims"]}["tpot"] == "infeasible"


def test_cli_json_to_stdout_and_its_flags(tmp_path, capsys):
    plan = tmp_path / "plan.txt"
    plan.write_text(PLAN)
    assert main(["draft", str(plan), "--format", "json", "--hardware", "h200", "--output", "128"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hardware"] == "h200" and data["workload"]["output_len"] == 128


def test_cli_errors_name_what_is_wrong(tmp_path, capsys):
    assert main(["draft", str(tmp_path / "missing.md")]) == 2
    assert "cannot read the plan" in capsys.readouterr().err
    plan = tmp_path / "plan.md"
    plan.write_text(PLAN)
    assert main(["draft", str(plan), "--batch", "0"]) == 2
    assert "--batch: 0 must be >= 1" in capsys.readouterr().err


def test_degrees_written_apart_on_one_line_are_one_strategy():
    found = find_strategy(read_document("We deploy it on 8 H100 GPUs with TP8 (experts EP8).\n"))
    assert found.written() == "TP8-EP8"
