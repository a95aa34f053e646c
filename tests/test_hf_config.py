"""The config.json reader gives the hand-checked fields of every stored config, keys on fields (not
architecture names), and says what is wrong with a config it cannot read."""

import json
from pathlib import Path

import pytest
import yaml

from moekit.errors import SpecError
from moekit.spec.hf_config import FLAT_FIELDS, model_fields_from_hf_config, read_hf_config
from moekit.spec.presets import load_model_preset

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
    "deepseek-v2-lite": dict(num_layers=27, d_model=2048, attention="mla", num_heads=16, q_lora_rank=0,
                             kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
                             num_experts=64, top_k=6, expert_ffn_dim=1408, num_shared_experts=2,
                             shared_expert_ffn_dim=1408, num_dense_layers=1, dense_ffn_dim=10944,
                             vocab_size=102400),
    "olmoe-1b-7b": dict(num_layers=16, d_model=2048, attention="mha", num_heads=16,
                        num_kv_heads=16, head_dim=128, num_experts=64, top_k=8,
                        expert_ffn_dim=1024, vocab_size=50304),
    "gpt-oss-120b": dict(num_layers=36, d_model=2880, num_heads=64, num_kv_heads=8, head_dim=64,
                         num_experts=128, top_k=4, expert_ffn_dim=2880, qkv_bias=True,
                         vocab_size=201088),
    "gpt-oss-20b": dict(num_layers=24, num_experts=32, top_k=4, head_dim=64),
    "dbrx": dict(num_layers=40, d_model=6144, num_heads=48, num_kv_heads=8, head_dim=128,
                 num_experts=16, top_k=4, expert_ffn_dim=10752, vocab_size=100352),
    "phi-3.5-moe": dict(num_layers=32, d_model=4096, num_heads=32, num_kv_heads=8, head_dim=128,
                        num_experts=16, top_k=2, expert_ffn_dim=6400, vocab_size=32064,
                        qkv_bias=True, num_shared_experts=0, num_dense_layers=0),
    "glm-4.5": dict(num_layers=92, d_model=5120, num_heads=96, num_kv_heads=8, head_dim=128,
                    num_experts=160, top_k=8, expert_ffn_dim=1536, num_shared_experts=1,
                    shared_expert_ffn_dim=1536, num_dense_layers=3, dense_ffn_dim=12288,
                    vocab_size=151552, qkv_bias=True),
    "glm-4.5-air": dict(num_layers=46, d_model=4096, num_heads=96, num_kv_heads=8, head_dim=128,
                        num_experts=128, top_k=8, expert_ffn_dim=1408, num_shared_experts=1,
                        shared_expert_ffn_dim=1408, num_dense_layers=1, dense_ffn_dim=10944),
    "hunyuan-a13b": dict(num_layers=32, d_model=4096, num_heads=32, num_kv_heads=8, head_dim=128,
                         num_experts=64, top_k=8, expert_ffn_dim=3072, num_shared_experts=1,
                         shared_expert_ffn_dim=3072, num_dense_layers=0, vocab_size=128167,
                         tie_embeddings=True, qkv_bias=False),
    "kimi-k2": dict(num_layers=61, d_model=7168, attention="mla", num_heads=64, q_lora_rank=1536,
                    kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
                    num_experts=384, top_k=8, expert_ffn_dim=2048, num_shared_experts=1,
                    num_dense_layers=1, dense_ffn_dim=18432, vocab_size=163840),
    "llama-4-scout": dict(num_layers=48, d_model=5120, num_heads=40, num_kv_heads=8, head_dim=128,
                          num_experts=16, top_k=1, expert_ffn_dim=8192, num_shared_experts=1,
                          shared_expert_ffn_dim=8192, num_dense_layers=0, vocab_size=202048),
    "llama-4-maverick": dict(num_layers=48, num_experts=128, top_k=1, expert_ffn_dim=8192,
                             num_shared_experts=1, num_dense_layers=24, dense_ffn_dim=16384),
    "minimax-m2.5": dict(num_layers=62, d_model=3072, num_heads=48, num_kv_heads=8, head_dim=128,
                         num_experts=256, top_k=8, expert_ffn_dim=1536, num_shared_experts=0,
                         vocab_size=200064),
}  # fmt: skip
#: stored configs moekit refuses, and the field the refusal must name
REFUSED = {"qwen3-next-80b-a3b": "full_attention_interval=4"}


def config(stem: str) -> dict:
    return json.loads((DATA / "hf_configs" / f"{stem}.json").read_text())


def test_every_stored_config_has_hand_checked_expectations_or_a_refusal():
    assert {path.stem for path in CONFIGS} == set(EXPECTED) | set(REFUSED)


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_config_maps_to_the_hand_checked_fields(stem):
    data = config(stem)
    assert data["_source"].startswith("https://") and data.get("_source_note", "x")
    fields = model_fields_from_hf_config(data, stem)
    assert tuple(fields) == FLAT_FIELDS
    assert {key: fields[key] for key in EXPECTED[stem]} == EXPECTED[stem]
    assert fields["gated_ffn"] is True
    assert fields["tie_embeddings"] is EXPECTED[stem].get("tie_embeddings", False)


WITH_PRESET = sorted(p.stem for p in CONFIGS if (DATA / "models" / f"{p.stem}.yaml").exists())


@pytest.mark.parametrize("stem", WITH_PRESET)
def test_model_preset_agrees_with_its_config(stem):
    preset = yaml.safe_load((DATA / "models" / f"{stem}.yaml").read_text())
    assert {key: preset[key] for key in FLAT_FIELDS} == model_fields_from_hf_config(config(stem), stem)


@pytest.mark.parametrize("stem, field", sorted(REFUSED.items()))
def test_stored_config_that_moekit_cannot_model_is_refused_naming_the_field(stem, field):
    with pytest.raises(SpecError, match=f"config.json of {stem}: {field}: hybrid linear attention") as error:
        model_fields_from_hf_config(config(stem), stem)
    assert "would need a linear-attention layer type" in str(error.value)


def test_multimodal_llama_4_counts_its_language_model_and_says_the_vision_tower_is_left_out():
    reading = read_hf_config(config("llama-4-scout"), "llama-4-scout")
    assert any("vision encoder (34 layers, hidden 1408)" in note for note in reading.notes)


def test_what_the_count_leaves_out_is_in_the_notes():
    assert any("multi-token-prediction" in n for n in read_hf_config(config("glm-4.5"), "g").notes)
    assert any("sliding-window" in n for n in read_hf_config(config("gpt-oss-20b"), "g").notes)
    assert read_hf_config(config("mixtral-8x7b"), "m").notes == ()


def test_a_snapshot_folder_loads_as_its_config(tmp_path):
    folder = tmp_path / "GLM-4.5-Air"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config("glm-4.5-air")))
    preset = load_model_preset(folder)
    assert preset.spec.name == "GLM-4.5-Air" and preset.spec.num_experts == 128
    assert "multi-token-prediction" in preset.notes


# --- keyed on fields: a family name the reader has never seen reads like its look-alike ---------


def test_an_unknown_model_type_reads_by_its_fields():
    renamed = {**config("olmoe-1b-7b"), "model_type": "brand_new_moe",
               "architectures": ["BrandNewMoeForCausalLM"]}
    original = model_fields_from_hf_config(config("olmoe-1b-7b"), "x")
    assert model_fields_from_hf_config(renamed, "x") == original


def test_granite_moe_field_names_read_like_mixtral():
    # GraniteMoeConfig uses Mixtral's keys; granitemoeshared adds shared_intermediate_size
    mixtral = config("mixtral-8x7b")
    granite = {**mixtral, "model_type": "granitemoe", "architectures": ["GraniteMoeForCausalLM"]}
    assert model_fields_from_hf_config(granite, "g") == model_fields_from_hf_config(mixtral, "g")
    shared = model_fields_from_hf_config({**granite, "shared_intermediate_size": 1024}, "g")
    assert (shared["num_shared_experts"], shared["shared_expert_ffn_dim"]) == (1, 1024)


def test_ernie_field_names_give_the_same_model_as_qwen_names():
    # Qwen3-30B-A3B written with Ernie4_5_MoeConfig's keys (moe_num_experts, moe_k, layer range)
    qwen = config("qwen3-30b-a3b")
    qwen_keys = ("num_experts", "num_experts_per_tok", "decoder_sparse_step", "mlp_only_layers")
    ernie = {k: v for k, v in qwen.items() if k not in qwen_keys}
    ernie.update(model_type="ernie4_5_moe", moe_num_experts=128, moe_k=8, moe_layer_start_index=0,
                 moe_layer_end_index=-1, moe_layer_interval=1, moe_num_shared_experts=0)
    assert model_fields_from_hf_config(ernie, "e") == model_fields_from_hf_config(qwen, "e")
    ernie.update(moe_layer_start_index=2)  # layers 0 and 1 dense, as ERNIE-4.5-300B's start index 3
    assert model_fields_from_hf_config(ernie, "e")["num_dense_layers"] == 2
    del ernie["tie_word_embeddings"]  # Ernie4_5_MoeConfig defaults to tied embeddings
    assert model_fields_from_hf_config(ernie, "e")["tie_embeddings"] is True


def test_qwen_dense_layers_count_mlp_only_layers_and_sparse_step():
    data = {**config("qwen3-30b-a3b"), "decoder_sparse_step": 2, "mlp_only_layers": [0]}
    fields = model_fields_from_hf_config(data, "qwen-variant")
    # layers 0 (mlp_only) and 2, 4, ..., 46 ((i + 1) % 2 != 0) are dense: 24 in all
    assert fields["num_dense_layers"] == 24
    assert fields["dense_ffn_dim"] == 6144


def test_dense_llama_config_has_no_experts():
    data = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
        "intermediate_size": 14336, "vocab_size": 128256, "tie_word_embeddings": False,
    }  # fmt: skip
    fields = model_fields_from_hf_config(data, "llama-3.1-8b")
    assert fields["num_experts"] == 0 and fields["top_k"] == 0
    assert fields["num_dense_layers"] == 32 and fields["dense_ffn_dim"] == 14336
    assert fields["attention"] == "gqa" and fields["head_dim"] == 128


# --- refused: a count moekit cannot get right is an error naming the field ------------------------


@pytest.mark.parametrize("extra, named", [
    ({"layer_types": ["linear_attention", "full_attention"] * 16}, "layer_types has 'linear_attention'"),
    ({"attn_type_list": [0] * 7 + [1]}, "attn_type_list has 7 of 8 layers of lightning"),
    ({"layers_block_type": ["mamba", "attention"] * 16}, "layers_block_type="),
    ({"use_cla": True, "cla_share_factor": 2}, "use_cla=true"),
    ({"moe_intermediate_size": [3072] * 16 + [1536] * 16}, "moe_intermediate_size varies by layer"),
    ({"moe_num_experts": [8, 8]}, "moe_num_experts is a list of 2"),
    ({"swa_num_key_value_heads": 4}, "swa_num_key_value_heads=4"),
])  # fmt: skip
def test_unmodelled_feature_is_refused_naming_the_field(extra, named):
    base = {k: v for k, v in config("mixtral-8x7b").items() if not (k == "num_local_experts" and
                                                                    "moe_num_experts" in extra)}
    with pytest.raises(SpecError, match="config.json of m: ") as error:
        model_fields_from_hf_config({**base, **extra}, "m")
    assert named in str(error.value) and "moekit" in str(error.value)


def test_a_per_layer_list_of_one_value_is_that_value():
    fields = model_fields_from_hf_config(config("hunyuan-a13b"), "h")  # moe_topk: [8] * 32
    assert fields["top_k"] == 8


def test_missing_fields_are_all_named():
    data = config("deepseek-v3")
    del data["kv_lora_rank"], data["n_routed_experts"]
    with pytest.raises(SpecError, match="config.json of dsv3: missing fields") as error:
        model_fields_from_hf_config(data, "dsv3")
    assert "kv_lora_rank" in str(error.value) and "n_routed_experts" in str(error.value)


def test_missing_shape_names_every_key_that_would_do():
    with pytest.raises(SpecError, match="num_hidden_layers or n_layers") as error:
        model_fields_from_hf_config({"model_type": "mamba", "architectures": ["MambaForCausalLM"]}, "m")
    assert "model_type 'mamba' is not a transformer decoder" in str(error.value)


def test_mamba_config_is_refused_as_state_space():
    data = {"model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 24, "state_size": 16,
            "vocab_size": 50280}
    with pytest.raises(SpecError, match="state_size=16: Mamba / state-space layers"):
        model_fields_from_hf_config(data, "m")


def test_missing_nested_dbrx_field_is_named_by_its_path():
    data = config("dbrx")
    del data["ffn_config"]["moe_top_k"]
    with pytest.raises(SpecError, match=r"ffn_config\.moe_top_k"):
        model_fields_from_hf_config(data, "dbrx")


def test_missing_dense_ffn_size_is_named_when_dense_layers_exist():
    data = config("deepseek-v2")
    del data["intermediate_size"]
    with pytest.raises(SpecError, match="intermediate_size"):
        model_fields_from_hf_config(data, "dsv2")


def test_a_bad_value_is_named_with_the_key():
    with pytest.raises(SpecError, match=r"num_experts_per_tok='two' must be a whole number"):
        model_fields_from_hf_config({**config("mixtral-8x7b"), "num_experts_per_tok": "two"}, "m")
