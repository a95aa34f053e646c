"""Read a Hugging Face config.json into moekit's flat model fields, keyed on the config's fields.

There is no table of architecture names. Each flat field is read from the keys that carry it in
the MoE families transformers has today (Mixtral, Phi-3.5-MoE, Qwen2/Qwen3-MoE, DeepSeek-V2/V3,
Kimi-K2, GLM-4.5, Llama-4, ERNIE-4.5, Hunyuan, Granite-MoE, OLMoE, gpt-oss, DBRX, MiniMax-M2...):
the first key present wins, JSON null counts as absent. So a new family that names its fields
like an old one reads without a code change.

- A multimodal config is read through its `text_config` (the language model); a vision tower is
  not counted, and the reading says so.
- What a family's modeling code fixes without a config key (Qwen2's q/k/v bias, Llama-4's shared
  expert, a config class's tie_word_embeddings default) is keyed on `model_type`, in the one
  small table CODE_FACTS.
- A config that uses something moekit does not model (linear or lightning attention, Mamba
  layers, cross-layer KV sharing, expert sizes that vary by layer...) raises SpecError naming
  the field and what moekit would need; it never returns a count that is silently wrong.
- What is left out but does not change the count much (multi-token-prediction modules, a
  sliding window, QK norms, biases outside q/k/v) is listed in `HfReading.notes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moekit.errors import SpecError

FLAT_FIELDS = (
    "name", "num_layers", "d_model", "vocab_size", "tie_embeddings", "attention", "num_heads",
    "num_kv_heads", "head_dim", "qkv_bias", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim",
    "qk_rope_head_dim", "v_head_dim", "num_experts", "top_k", "expert_ffn_dim", "gated_ffn",
    "num_shared_experts", "shared_expert_ffn_dim", "num_dense_layers", "dense_ffn_dim", "attention_sinks",
)  # fmt: skip

#: the keys each field is read from, first present wins (dots reach into nested dicts)
KEYS: dict[str, tuple[str, ...]] = {
    "num_layers": ("num_hidden_layers", "n_layers", "num_layers", "n_layer"),
    "d_model": ("hidden_size", "d_model", "n_embd"),
    "vocab_size": ("vocab_size", "padded_vocab_size"),
    "num_heads": ("num_attention_heads", "n_heads", "n_head"),
    "num_kv_heads": ("num_key_value_heads", "attn_config.kv_n_heads", "multi_query_group_num",
                     "n_head_kv", "num_kv_heads"),
    "head_dim": ("head_dim", "attention_head_dim", "kv_channels"),
    "qkv_bias": ("attention_bias", "qkv_bias", "use_bias", "add_qkv_bias"),
    "num_experts": ("num_local_experts", "n_routed_experts", "num_experts", "moe_num_experts",
                    "ffn_config.moe_num_experts"),
    "top_k": ("num_experts_per_tok", "moe_top_k", "ffn_config.moe_top_k", "moe_topk", "moe_k",
              "experts_per_token"),
    "expert_ffn_dim": ("moe_intermediate_size", "ffn_config.ffn_hidden_size", "intermediate_size"),
    "dense_ffn_dim": ("intermediate_size_mlp", "intermediate_size", "ffn_config.ffn_hidden_size"),
}

#: what a family's modeling code or config class fixes without a config key, by model_type
CODE_FACTS: dict[str, dict[str, Any]] = {
    "qwen2": {"qkv_bias": True},  # Qwen2Attention: bias=True on q, k, v, no config key
    "qwen2_moe": {"qkv_bias": True},
    # Llama4TextMoe adds one shared expert of intermediate_size to every MoE layer
    "llama4_text": {"shared_expert": "intermediate_size", "tie_word_embeddings": False},
    "ernie4_5_moe": {"tie_word_embeddings": True},  # Ernie4_5_MoeConfig default
    "gpt_oss": {"attention_sinks": True},  # GptOssAttention: a learned sink logit per head
}

_ABSENT = object()


@dataclass(frozen=True)
class HfReading:
    """The flat model fields of a config.json and what the reading left out or assumed."""

    fields: dict
    notes: tuple[str, ...] = ()


class _Config:
    """One config's keys (nested ones by dotted path); JSON null counts as absent."""

    def __init__(self, config: dict, where: str):
        self.config = config
        self.where = where

    def get(self, path: str, default: Any = None) -> Any:
        node: Any = self.config
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                return default
        return node

    def first(self, field: str, keys: tuple[str, ...] | None = None) -> tuple[str, Any]:
        """(key, value) of the first key present for `field`, or ('', _ABSENT)."""
        for key in keys or KEYS[field]:
            value = self.get(key, _ABSENT)
            if value is not _ABSENT:
                return key, value
        return "", _ABSENT

    def has(self, key: str) -> bool:
        return self.get(key, _ABSENT) is not _ABSENT

    def fail(self, message: str) -> SpecError:
        return SpecError(self.where, message)


def _one_value(cfg: _Config, key: str, value: Any, num_layers: int) -> Any:
    """A per-layer list with one value throughout is that value; anything else is refused."""
    if not isinstance(value, list):
        return value
    if len(value) != num_layers:
        raise cfg.fail(f"{key} is a list of {len(value)} ({value[:4]}...), not one value per layer "
                       f"({num_layers}); groups of experts (e.g. text and vision experts) are not "
                       "modelled; moekit needs one number of experts, size and top-k for every MoE layer")
    distinct = sorted(set(value), key=str)
    if len(distinct) > 1:
        raise cfg.fail(f"{key} varies by layer ({', '.join(map(str, distinct))}); moekit models one "
                       "value for every MoE layer and would need per-layer expert sizes for this")
    return distinct[0] if distinct else 0


def _integer(cfg: _Config, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        raise cfg.fail(f"{key}={value!r} must be a whole number >= 0")
    return int(value)


# --- what moekit cannot model ------------------------------------------------------------

_LINEAR_ATTENTION_KEYS = ("full_attention_interval", "linear_num_key_heads", "linear_num_value_heads",
                          "linear_key_head_dim", "linear_conv_kernel_dim")
_STATE_SPACE_KEYS = ("layers_block_type", "hybrid_override_pattern", "attn_layer_period",
                     "mamba_d_state", "mamba_expand", "mamba_d_conv", "ssm_state_size", "state_size",
                     "mamba_n_heads")
_SOFTMAX_LAYER_TYPES = {"full_attention", "sliding_attention", "chunked_attention", "attention"}


def _refuse_unmodelled(cfg: _Config) -> None:
    """SpecError for a feature that changes the count in a way moekit's layer does not follow."""
    for key in _LINEAR_ATTENTION_KEYS:
        if cfg.has(key):
            raise cfg.fail(
                f"{key}={cfg.get(key)!r}: hybrid linear attention (e.g. Gated DeltaNet on most layers, "
                "softmax attention on every few); moekit models softmax attention in every layer and "
                "would need a linear-attention layer type (its projections, and a fixed-size state in "
                "place of a KV cache)")
    attn_types = cfg.get("attn_type_list")
    if isinstance(attn_types, list) and any(t != 1 for t in attn_types):
        raise cfg.fail(
            f"attn_type_list has {sum(t != 1 for t in attn_types)} of {len(attn_types)} layers of "
            "lightning (linear) attention; moekit models softmax attention in every layer and would "
            "need a linear-attention layer type")
    layer_types = cfg.get("layer_types")
    if isinstance(layer_types, list):
        other = sorted(set(map(str, layer_types)) - _SOFTMAX_LAYER_TYPES)
        if other:
            raise cfg.fail(
                f"layer_types has {', '.join(repr(t) for t in other)} layers; moekit models softmax "
                "attention in every layer and would need a layer type for each of these")
    for key in _STATE_SPACE_KEYS:
        if cfg.has(key):
            raise cfg.fail(
                f"{key}={cfg.get(key)!r}: Mamba / state-space layers; moekit models transformer "
                "layers only and would need a state-space layer type (its projections and state)")
    if cfg.get("use_cla", False) is True:
        raise cfg.fail(
            f"use_cla=true (cross-layer attention, cla_share_factor={cfg.get('cla_share_factor')!r}): "
            "layers share K and V projections and KV cache; moekit counts them per layer and would "
            "need a KV-sharing factor")
    skipped = cfg.get("moe_layer_num_skipped", 0)
    if skipped:
        raise cfg.fail(f"moe_layer_num_skipped={skipped!r}: moekit does not know which layers this "
                       "skips; it needs the dense layers as a count or a list")
    for key in ("swa_num_attention_heads", "swa_num_key_value_heads", "swa_head_dim"):
        if cfg.has(key):
            raise cfg.fail(f"{key}={cfg.get(key)!r}: sliding-window layers with their own head shapes; "
                           "moekit models one attention shape for every layer and would need a second")


def _language_model(config: dict, notes: list[str]) -> dict:
    """The config of the language model: `text_config` merged over the top level, if there is one."""
    text = config.get("text_config")
    if not isinstance(text, dict):
        return config
    if isinstance(config.get("vision_config"), dict):
        vision = config["vision_config"]
        notes.append(f"multimodal checkpoint: the language model (text_config) is counted; the vision "
                     f"encoder ({vision.get('num_hidden_layers', '?')} layers, hidden "
                     f"{vision.get('hidden_size', '?')}) and its projector are not")
    top = {k: v for k, v in config.items() if k not in ("text_config", "vision_config")}
    return {**top, **text}


# --- the fields ----------------------------------------------------------------------------


def _required(cfg: _Config, missing: list[str], field: str) -> Any:
    key, value = cfg.first(field)
    if value is _ABSENT:
        missing.append(" or ".join(KEYS[field]))
        return 0
    return _integer(cfg, key, value)


_MLA_KEYS = ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")


def _attention(cfg: _Config, f: dict, missing: list[str]) -> None:
    f["q_lora_rank"] = f["kv_lora_rank"] = f["qk_nope_head_dim"] = f["qk_rope_head_dim"] = 0
    f["v_head_dim"] = 0
    key, kv_heads = cfg.first("num_kv_heads")
    f["num_kv_heads"] = _integer(cfg, key, kv_heads) if kv_heads is not _ABSENT else f["num_heads"]
    if any(cfg.has(k) for k in _MLA_KEYS):  # multi-head latent attention (DeepSeek-V2/V3, Kimi-K2)
        f["attention"], f["num_kv_heads"], f["head_dim"] = "mla", f["num_heads"], 0
        for name in _MLA_KEYS:
            if not cfg.has(name):
                missing.append(name)
            f[name] = _integer(cfg, name, cfg.get(name, 0))
        f["q_lora_rank"] = _integer(cfg, "q_lora_rank", cfg.get("q_lora_rank", 0))  # null: no q LoRA
        return
    key, head_dim = cfg.first("head_dim")
    if head_dim is _ABSENT:
        if f["num_heads"] and f["d_model"] % f["num_heads"]:
            missing.append(f"head_dim (hidden {f['d_model']} is not a multiple of {f['num_heads']} heads)")
        head_dim = f["d_model"] // f["num_heads"] if f["num_heads"] else 0
    f["head_dim"] = _integer(cfg, key or "head_dim", head_dim)
    f["attention"] = "mha" if f["num_kv_heads"] == f["num_heads"] else "gqa"


def _experts(cfg: _Config, f: dict, missing: list[str], facts: dict) -> None:
    key, experts = cfg.first("num_experts")
    experts = _integer(cfg, key, _one_value(cfg, key, experts, f["num_layers"])) \
        if experts is not _ABSENT else 0
    f["num_experts"], f["top_k"], f["expert_ffn_dim"] = experts, 0, 0
    f["num_shared_experts"], f["shared_expert_ffn_dim"] = 0, 0
    if not experts:
        if key == "" and (cfg.first("top_k")[0] or cfg.has("moe_intermediate_size")):
            missing.append(" or ".join(KEYS["num_experts"]))  # MoE keys but no expert count
        return
    for field in ("top_k", "expert_ffn_dim"):
        key, value = cfg.first(field)
        if value is _ABSENT:
            missing.append(" or ".join(KEYS[field]))
            continue
        f[field] = _integer(cfg, key, _one_value(cfg, key, value, f["num_layers"]))
    count, size = _shared_experts(cfg, f, facts)
    f["num_shared_experts"], f["shared_expert_ffn_dim"] = count, size if count else 0


def _shared_experts(cfg: _Config, f: dict, facts: dict) -> tuple[int, int]:
    """(count, size of each) of the shared experts of an MoE layer."""
    layers = f["num_layers"]
    for key in ("n_shared_experts", "moe_num_shared_experts"):  # DeepSeek/GLM/Kimi, ERNIE
        if cfg.has(key):  # fused into one MLP of count x expert size: the same weights
            return _integer(cfg, key, cfg.get(key)), f["expert_ffn_dim"]
    if cfg.has("num_shared_expert") and cfg.get("use_mixed_mlp_moe", True):  # Hunyuan
        count = _integer(cfg, "num_shared_expert", _one_value(cfg, "num_shared_expert",
                                                              cfg.get("num_shared_expert"), layers))
        return count, f["expert_ffn_dim"]
    for key in ("shared_expert_intermediate_size", "shared_intermediate_size"):  # Qwen-MoE, Granite
        if cfg.has(key):
            size = _integer(cfg, key, cfg.get(key))
            return int(size > 0), size
    if "shared_expert" in facts:
        key = facts["shared_expert"]
        return 1, _integer(cfg, key, cfg.get(key, 0))
    return 0, 0


def _is_moe_layer(cfg: _Config, f: dict, i: int) -> bool:
    """Whether layer i has routed experts, by every layer-placement field the config has."""
    def number(key: str, default: int) -> int:
        return _integer(cfg, key, cfg.get(key, default)) if cfg.get(key, default) != -1 else -1

    moe_layers = cfg.get("moe_layers")
    if isinstance(moe_layers, list):  # Llama-4, written out
        return i in moe_layers
    if i in (cfg.get("mlp_only_layers") or []):  # Qwen-MoE
        return False
    if (i + 1) % max(1, number("decoder_sparse_step", 1)) != 0:
        return False
    if i < number("first_k_dense_replace", 0):  # DeepSeek, GLM, Kimi
        return False
    if i % max(1, number("moe_layer_freq", 1)) != 0:
        return False
    if (i + 1) % max(1, number("interleave_moe_layer_step", 1)) != 0:  # Llama-4
        return False
    if cfg.has("moe_layer_start_index"):  # ERNIE-4.5: end -1 is the last layer
        end = number("moe_layer_end_index", -1)
        end = f["num_layers"] - 1 if end == -1 else end
        interval = max(1, number("moe_layer_interval", 1))
        return (i + 1) % interval == 0 and number("moe_layer_start_index", 0) <= i <= end
    return True


def _dense_layers(cfg: _Config, f: dict, missing: list[str]) -> None:
    # moekit models dense layers as *leading* layers. Dense layers placed elsewhere (Qwen's
    # decoder_sparse_step, Llama-4's interleaving) are counted too, so parameter and FLOP totals
    # are right; only a per-PP-stage split would place them differently.
    if f["num_experts"]:
        f["num_dense_layers"] = sum(not _is_moe_layer(cfg, f, i) for i in range(f["num_layers"]))
    else:
        f["num_dense_layers"] = f["num_layers"]
    f["dense_ffn_dim"] = 0
    if f["num_dense_layers"]:
        key, size = cfg.first("dense_ffn_dim")
        if size is _ABSENT:
            missing.append(" or ".join(KEYS["dense_ffn_dim"]))
        else:
            f["dense_ffn_dim"] = _integer(cfg, key, size)


def _tied(cfg: _Config, facts: dict, notes: list[str]) -> bool:
    value = cfg.get("tie_word_embeddings")
    if value is not None:
        return bool(value)
    default = facts.get("tie_word_embeddings")
    if default is None:
        notes.append("tie_word_embeddings is not stated; taken as false (an untied LM head), the "
                     "default of most MoE config classes")
        return False
    return default


def _notes(cfg: _Config, f: dict) -> list[str]:
    """What the count leaves out that the config holds."""
    notes = []
    mtp = cfg.get("num_nextn_predict_layers", 0) or (cfg.get("num_mtp_modules", 0)
                                                     if cfg.get("use_mtp", False) else 0)
    if mtp:
        notes.append(f"{mtp} multi-token-prediction module(s) not counted (the main model only, as "
                     "DeepSeek-V3's published 671B counts it)")
    window, longest = cfg.get("sliding_window"), cfg.get("max_position_embeddings")
    types = cfg.get("layer_types")
    sliding = isinstance(types, list) and "sliding_attention" in types
    if sliding or (isinstance(window, int) and cfg.get("use_sliding_window", True) is not False
                   and isinstance(longest, int) and window < longest):
        notes.append(f"sliding-window attention (window {window}) on some or all layers: parameters are "
                     "unaffected, but KV cache and attention FLOPs are counted at full context (an "
                     "upper bound)")
    if cfg.has("attention_chunk_size"):
        notes.append(f"chunked attention (chunks of {cfg.get('attention_chunk_size')}) on some layers: "
                     "KV cache and attention FLOPs are counted at full context (an upper bound)")
    if cfg.get("use_qk_norm", False) or cfg.get("qk_layernorm", False):
        notes.append("QK-norm weights (2 x head_dim per layer) are not counted")
    return notes


def read_hf_config(config: dict, name: str) -> HfReading:
    """Flat moekit model fields (see FLAT_FIELDS) from a Hugging Face config.json dict, with notes."""
    where = f"config.json of {name}"
    if not isinstance(config, dict):
        raise SpecError(where, f"expected a JSON object, got {type(config).__name__}")
    notes: list[str] = []
    cfg = _Config(_language_model(config, notes), where)
    _refuse_unmodelled(cfg)
    facts = CODE_FACTS.get(str(cfg.get("model_type", "")), {})
    missing: list[str] = []
    f: dict[str, Any] = {field: _required(cfg, missing, field)
                         for field in ("num_layers", "d_model", "vocab_size", "num_heads")}
    if missing:  # the shape itself: nothing else can be read without it
        kind = f"model_type {cfg.get('model_type')!r}" if cfg.has("model_type") else "this config"
        raise cfg.fail(f"missing fields {'; '.join(missing)}: {kind} is not a transformer decoder moekit "
                       "can read (it needs layers, hidden size, vocabulary and attention heads)")
    _attention(cfg, f, missing)
    key, bias = cfg.first("qkv_bias")
    f["qkv_bias"] = bool(facts.get("qkv_bias", bias if bias is not _ABSENT else False))
    _experts(cfg, f, missing, facts)
    _dense_layers(cfg, f, missing)
    if missing:
        raise cfg.fail(f"missing fields {'; '.join(missing)}")
    f["tie_embeddings"] = _tied(cfg, facts, notes)
    f["gated_ffn"] = True  # every MoE family moekit knows uses gated (SwiGLU/GLU) experts
    f["attention_sinks"] = bool(facts.get("attention_sinks", False))
    notes += _notes(cfg, f)
    return HfReading({"name": name, **{key: f[key] for key in FLAT_FIELDS[1:]}}, tuple(notes))


def model_fields_from_hf_config(config: dict, name: str) -> dict:
    """Flat moekit model fields (see FLAT_FIELDS) from a Hugging Face config.json dict."""
    return read_hf_config(config, name).fields
