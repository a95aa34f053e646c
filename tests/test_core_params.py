"""Parameter counts: real models against their published figures, seed models by hand."""

import pytest
import yaml

import moekit
from moekit.evaluate import evaluate_arrays, model_inputs, model_only_inputs
from moekit.spec.presets import DATA_DIR

PUBLISHED = yaml.safe_load((DATA_DIR / "published_params.yaml").read_text())


def params(model):
    values = evaluate_arrays(model.attention, {**model_only_inputs(), **model_inputs(model)})
    return {k: float(values[k]) for k in ("total_params", "active_params", "embedding_params")}


def test_at_least_six_real_models_are_checked():
    assert len(PUBLISHED) >= 6


def check_published(name: str, key: str, counted: float, rel: float) -> None:
    """counted within `rel` of the published figure; skipped where none is published or where the
    entry says why the count differs (`<key>_differs`), which must then still be true."""
    entry = PUBLISHED[name]
    if entry.get(key) is None:
        pytest.skip(f"{name}: no published {key} count")
    if entry.get(f"{key}_differs"):
        assert counted != pytest.approx(float(entry[key]), rel=rel), f"{name}: drop {key}_differs"
        pytest.skip(f"{name}: {entry[f'{key}_differs']}")
    assert counted == pytest.approx(float(entry[key]), rel=rel), f"{name}: {counted / 1e9:.3f} B"


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_total_params_within_1_percent_of_published(name):
    check_published(name, "total", params(moekit.load_model(name))["total_params"], 0.01)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_active_params_match_published_rounding(name):
    """Active counts are published to 2 significant digits (37B, 3.3B): allow 2%."""
    model = moekit.load_model(name)
    p = params(model)
    counted = p["active_params"]
    if PUBLISHED[name].get("active_excludes_embedding"):
        counted -= p["embedding_params"]
    if PUBLISHED[name].get("active_excludes_embeddings"):  # the LM head too
        counted -= p["embedding_params"] * (1 if model.tie_embeddings else 2)
    check_published(name, "active", counted, 0.02)


def test_mixtral_8x7b_by_hand():
    # per layer: attention 4096*4096*2 (q, o) + 2*4096*1024 (k, v) = 41,943,040
    # experts 8 * 3 * 4096 * 14336 = 1,409,286,144; router 4096*8; norms 2*4096
    layer = 41_943_040 + 1_409_286_144 + 32_768 + 8_192
    total = 32 * layer + 2 * 32_000 * 4096 + 4096
    active_layer = 41_943_040 + 2 * 3 * 4096 * 14336 + 32_768 + 8_192
    active = 32 * active_layer + 2 * 32_000 * 4096 + 4096
    p = params(moekit.load_model("mixtral-8x7b"))
    assert p["total_params"] == total
    assert p["active_params"] == active


def test_seed_30b_architecture_holds_4_4_billion_not_30():
    # 16 layers; experts 64 * 2 * 1024 * 2048 (plain 2-matrix MLP, assumed); attention 4 * 1024^2;
    # router 1024 * 64; norms 2 * 1024; embedding + untied head 2 * 32000 * 1024 (vocab assumed)
    layer = 64 * 2 * 1024 * 2048 + 4 * 1024**2 + 1024 * 64 + 2 * 1024
    total = 16 * layer + 2 * 32_000 * 1024 + 1024
    assert params(moekit.load_model("seed-30b-moe"))["total_params"] == total
    assert total == pytest.approx(4.43e9, rel=1e-3)


def test_deepseek_v3_mla_attention_by_hand():
    # q: 7168*1536 + 1536 (norm) + 1536*128*(128+64); kv: 7168*(512+64) + 512 (norm)
    # + 512*128*(128+128); o: 128*128*7168
    attention = (7168 * 1536 + 1536 + 1536 * 128 * 192 + 7168 * 576 + 512 + 512 * 128 * 256
                 + 128 * 128 * 7168)
    model = moekit.load_model("deepseek-v3")
    values = evaluate_arrays("mla", {**model_only_inputs(), **model_inputs(model)})
    assert float(values["attention_params"]) == attention


def test_params_cli_json(capsys):
    from moekit.cli import main

    assert main(["params", "--model", "qwen3-30b-a3b", "--format", "json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"model", "total_params", "active_params"}
    assert out["total_params"] == pytest.approx(30.5e9, rel=0.01)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_config_json_gives_the_published_total_too(name):
    counted = params(moekit.load_model(DATA_DIR / "hf_configs" / f"{name}.json"))["total_params"]
    check_published(name, "total", counted, 0.01)
