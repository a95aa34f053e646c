"""Bad input: each error names the field, the value and what is allowed."""

import json

import pytest

import moekit
from moekit import Hardware, Model, SpecError, Strategy, Targets, Workload, evaluate
from moekit.cli import main
from moekit.spec.presets import load_hardware, load_model

MIXTRAL = moekit.load_model("mixtral-8x7b")
H100 = moekit.load_hardware("h100-sxm")
BASE = dict(name="m", num_layers=4, d_model=256, vocab_size=1000, num_heads=8, num_experts=8,
            top_k=2, expert_ffn_dim=512)


def model(**changes):
    return Model(**{**BASE, **changes})


@pytest.mark.parametrize("build,match", [
    (lambda: model(num_layers=-2), r"num_layers=-2 must be >= 1"),
    (lambda: model(d_model=0), r"d_model=0 must be >= 1"),
    (lambda: model(num_layers=2.5), r"num_layers=2.5 must be an integer"),
    (lambda: model(top_k=9), r"top_k=9 exceeds num_experts=8"),
    (lambda: model(num_kv_heads=3), r"num_kv_heads=3 must divide num_heads=8"),
    (lambda: model(attention="sparse"), r"attention='sparse'; use one of mha, gqa, mla"),
    (lambda: model(attention="mla"), r"kv_lora_rank=0 must be >= 1"),
    (lambda: model(d_model=100, num_heads=8), r"head_dim is not given and d_model=100"),
    (lambda: model(gated_ffn="yes"), r"gated_ffn='yes' must be true or false"),
    (lambda: Model.from_dict({**BASE, "num_expert": 8}), r"unknown field\(s\) num_expert"),
    (lambda: Model.from_dict({"name": "x"}), r"missing field\(s\) d_model, num_heads, num_layers"),
    (lambda: Strategy(dp=2, tp=1, ep=4), r"ep\*etp=4\*1 must divide dp\*tp=2"),
    (lambda: Strategy(tp=0), r"tp=0 must be >= 1"),
    (lambda: Strategy.parse("EP8-XY2"), r"cannot read 'XY2'"),
    (lambda: Strategy.parse("TP2-TP4"), r"TP is given twice"),
    (lambda: Strategy.parse("TP2", convention="diagonal"), r"convention='diagonal'"),
    (lambda: Strategy(tp=3).check_fits(MIXTRAL),
     r"tp=3 does not divide 32 attention heads \(choose 1, 2, 4, 8, 16 or 32\)"),
    (lambda: Strategy(dp=3, ep=3).check_fits(MIXTRAL), r"ep=3 does not divide 8 experts"),
    (lambda: Strategy(pp=64).check_fits(MIXTRAL), r"pp=64 exceeds 32 layers"),
    (lambda: Workload(batch=0, prompt_len=10), r"batch=0 must be >= 1"),
    (lambda: Workload(batch=1, prompt_len=10, weight_dtype="fp12"), r"weight_dtype='fp12' is not a known"),
    (lambda: Workload(batch=1, prompt_len=10, comm_overlap=2), r"comm_overlap=2 must be between 0 and 1"),
    (lambda: Workload(batch=1, prompt_len=10, expert_imbalance=0.5), r"expert_imbalance=0.5 must be >= 1"),
    (lambda: Hardware.from_dict({"name": "g", "peak_flops": {"bf16": "1 PFLOP/s"},
                                 "hbm_bandwidth": "3 TB/s", "memory_bytes": "1.8 TB/s"}),
     r"memory_bytes: unit 'TB/s' in '1.8 TB/s' is not a unit of bytes"),
    (lambda: Hardware.from_dict({"name": "g", "peak_flops": {"bf16": "1 PFLOP/s"},
                                 "hbm_bandwidth": "3 TB/s", "memory_bytes": "80 GB", "mfu": 1.5}),
     r"mfu=1.5 must be <= 1.0"),
    (lambda: Hardware.from_dict({"name": "g", "peak_flops": {"bf16": "1 PFLOP/s"},
                                 "hbm_bandwidth": "three", "memory_bytes": "80 GB"}),
     r"hbm_bandwidth: cannot read 'three' as a quantity"),
    (lambda: evaluate(MIXTRAL, moekit.load_hardware("a100-80gb"),
                      Workload(batch=1, prompt_len=8, weight_dtype="fp8"), Strategy()),
     r"no peak FLOP/s for 'fp8'; it states"),
    (lambda: Targets.from_dict({"ttft_s": "10 GB"}), r"ttft_s: unit 'GB' .* is a unit of bytes"),
    (lambda: Targets(memory_headroom=1.2), r"memory_headroom=1.2 must be in \[0, 1\)"),
    (lambda: load_model("mixtral-9x9b"), r"model 'mixtral-9x9b': no such preset or file; presets: dbrx"),
    (lambda: load_hardware("tpu-v5"), r"hardware 'tpu-v5': no such preset"),
])
def test_bad_input_names_field_and_what_is_allowed(build, match):
    with pytest.raises(SpecError, match=match):
        build()


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nnum_layers: [1, 2\nd_model: 3\n")
    with pytest.raises(SpecError, match=r"broken.yaml: malformed YAML at line \d+"):
        load_model(path)


def test_yaml_is_never_executed(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo pwned']\nnum_layers: 1\n")
    with pytest.raises(SpecError, match="malformed YAML"):
        load_model(path)


def test_unknown_config_json_architecture(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "mamba", "hidden_size": 8}))
    with pytest.raises(SpecError, match=r"mamba"):
        load_model(path)


def test_malformed_config_json(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(SpecError, match=r"malformed JSON at line 1"):
        load_model(path)


def test_cli_reports_bad_input_in_one_line_with_exit_2(capsys):
    code = main(["evaluate", "--model", "mixtral-8x7b", "--hardware", "h100-sxm",
                 "--strategy", "TP3", "--batch", "8", "--prompt", "128"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "tp=3 does not divide 32 attention heads" in err
