"""The config.json mapping gives the hand-checked fields of every stored config, and says what
is wrong with a config it cannot read."""

import json
from pathlib import Path

import pytest
import yaml

from moekit.errors import SpecError
from moekit.spec.hf_config import FLAT_FIELDS, model_fields_from_hf_config

DATA = Path(__file__).resolve().parents[1] / "data"
CONFIGS = sorted((DATA / "hf_configs").glob("*.json"))

# Hand-checked against each model's config.json, paper or model card.
EXPECTED = {
    "mixtral-8x7b": dict(num_layers=32, d_model=4096, attention="gqa", num_heads=32,
                         num_kv_heads=8, head_dim=128, num_experts=8, top_k=2,
                         expert_ffn_dim=14336, vocab_size=32000, num_dense_layers=0),
    "mixtral-8x22b": dict(num_layers=56, d_model=6144, num_heads=48, num_kv_heads=8,
                          head_dim=128, num_experts=8, top_k=2, expert_ffn_dim=16384),
    "qwen3-30b-a3b": dict(num_layers=48, d_model=2048, num_heads=32, num_kv_heads=4,
                          head_dim=128, num_experts=128, top_k=8, expert_ffn_dim=768,
                          num_dense_layers=0, dense_ffn_dim=0, qkv_bias=False),
    "qwen3-235b-a22b": dict(num_layers=94, d_model=4096, num_heads=64, num_kv_heads=4,
                            head_dim=128, num_experts=128, top_k=8, expert_ffn_dim=1536),
    "qwen2-57b-a14b": dict(num_layers=28, d_model=3584, num_heads=28, num_kv_heads=4,
                           head_dim=128, num_experts=64, top_k=8, expert_ffn_dim=2560,
                           num_shared_experts=1, shared_expert_ffn_dim=20480, qkv_bias=True),
    "deepseek-v2": dict(num_layers=60, d_model=5120, attention="mla", num_heads=128,
                        num_kv_heads=128, head_dim=0, q_lora_rank=1536, kv_lora_rank=512,
                        qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
                        num_experts=160, top_k=6, expert_ffn_dim=1536, num_shared_experts=2,
                        shared_expert_ffn_dim=1536, num_dense_layers=1, dense_ffn_dim=12288),
    "deepseek-v3": dict(num_layers=61, d_model=7168, attention="mla", q_lora_rank=1536,
                        kv_lora_rank=512, num_experts=256, top_k=8, expert_ffn_dim=2048,
                        num_shared_experts=1, shared_expert_ffn_dim=2048, num_dense_layers=3,
                        dense_ffn_dim=18432, vocab_size=129280),
    "olmoe-1b-7b": dict(num_layers=16, d_model=2048, attention="mha", num_heads=16,
                        num_kv_heads=16, head_dim=128, num_experts=64, top_k=8,
                        expert_ffn_dim=1024, vocab_size=50304),
    "gpt-oss-120b": dict(num_layers=36, d_model=2880, num_heads=64, num_kv_heads=8, head_dim=64,
                         num_experts=128, top_k=4, expert_ffn_dim=2880, qkv_bias=True,
                         vocab_size=201088),
    "gpt-oss-20b": dict(num_layers=24, num_experts=32, top_k=4, head_dim=64),
    "dbrx": dict(num_layers=40, d_model=6144, num_heads=48, num_kv_heads=8, head_dim=128,
                 num_experts=16, top_k=4, expert_ffn_dim=10752, vocab_size=100352),
}  # fmt: skip


def test_every_stored_config_has_hand_checked_expectations():
    assert {path.stem for path in CONFIGS} == set(EXPECTED)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_config_maps_to_the_hand_checked_fields(path):
    config = json.loads(path.read_text())
    assert config["_source"].startswith("https://")
    fields = model_fields_from_hf_config(config, path.stem)
    assert tuple(fields) == FLAT_FIELDS
    assert {key: fields[key] for key in EXPECTED[path.stem]} == EXPECTED[path.stem]
    assert fields["gated_ffn"] is True and fields["tie_embeddings"] is False


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_model_preset_agrees_with_its_config(path):
    preset = yaml.safe_load((DATA / "models" / f"{path.stem}.yaml").read_text())
    fields = model_fields_from_hf_config(json.loads(path.read_text()), path.stem)
    assert {key: preset[key] for key in FLAT_FIELDS} == fields


def test_qwen_dense_layers_count_mlp_only_layers_and_sparse_step():
    config = json.loads((DATA / "hf_configs" / "qwen3-30b-a3b.json").read_text())
    config.update(decoder_sparse_step=2, mlp_only_layers=[0])
    fields = model_fields_from_hf_config(config, "qwen-variant")
    # layers 0 (mlp_only) and 2, 4, ..., 46 ((i + 1) % 2 != 0) are dense: 24 in all
    assert fields["num_dense_layers"] == 24
    assert fields["dense_ffn_dim"] == 6144


def test_dense_llama_config_has_no_experts():
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
        "intermediate_size": 14336, "vocab_size": 128256,
    }  # fmt: skip
    fields = model_fields_from_hf_config(config, "llama-3.1-8b")
    assert fields["num_experts"] == 0 and fields["top_k"] == 0
    assert fields["num_dense_layers"] == 32 and fields["dense_ffn_dim"] == 14336
    assert fields["attention"] == "gqa" and fields["head_dim"] == 128


def test_architectures_are_used_when_model_type_is_unknown():
    config = json.loads((DATA / "hf_configs" / "mixtral-8x7b.json").read_text())
    config["model_type"] = "renamed"
    assert model_fields_from_hf_config(config, "m")["num_experts"] == 8


def test_unknown_architecture_names_it_and_the_supported_ones():
    config = {"model_type": "mamba", "architectures": ["MambaForCausalLM"]}
    with pytest.raises(SpecError) as error:
        model_fields_from_hf_config(config, "some-mamba")
    message = str(error.value)
    assert message.startswith("config.json of some-mamba:")
    assert "'mamba'" in message and "MambaForCausalLM" in message
    assert "mixtral" in message and "deepseek_v3" in message and "DbrxForCausalLM" in message


def test_missing_fields_are_all_named():
    config = json.loads((DATA / "hf_configs" / "deepseek-v3.json").read_text())
    del config["kv_lora_rank"], config["n_routed_experts"]
    with pytest.raises(SpecError, match="config.json of dsv3: missing fields") as error:
        model_fields_from_hf_config(config, "dsv3")
    assert "kv_lora_rank" in str(error.value) and "n_routed_experts" in str(error.value)


def test_missing_nested_dbrx_field_is_named_by_its_path():
    config = json.loads((DATA / "hf_configs" / "dbrx.json").read_text())
    del config["ffn_config"]["moe_top_k"]
    with pytest.raises(SpecError, match=r"ffn_config\.moe_top_k"):
        model_fields_from_hf_config(config, "dbrx")


def test_missing_dense_ffn_size_is_named_when_dense_layers_exist():
    config = json.loads((DATA / "hf_configs" / "deepseek-v2.json").read_text())
    del config["intermediate_size"]
    with pytest.raises(SpecError, match="intermediate_size"):
        model_fields_from_hf_config(config, "dsv2")
