"""Read a Hugging Face config.json into moekit's flat model fields.

One table per model family maps each flat field to a rule:
- a string: a required config key (dots reach into nested dicts, e.g. DBRX's ``ffn_config``);
- a function ``(read, fields)``: computed from optional keys and the fields already read;
- anything else: a constant for the whole family.
String rules are read first, so every missing key is reported at once; computed rules run
after, in table order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moekit.errors import SpecError

FLAT_FIELDS = (
    "name", "num_layers", "d_model", "vocab_size", "tie_embeddings", "attention", "num_heads",
    "num_kv_heads", "head_dim", "qkv_bias", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim",
    "qk_rope_head_dim", "v_head_dim", "num_experts", "top_k", "expert_ffn_dim", "gated_ffn",
    "num_shared_experts", "shared_expert_ffn_dim", "num_dense_layers", "dense_ffn_dim",
)  # fmt: skip

_ABSENT = object()


class _Reader:
    """Looks up (possibly nested) keys of one config; JSON null counts as absent."""

    def __init__(self, config: dict):
        self.config = config
        self.missing: list[str] = []

    def req(self, path: str) -> Any:
        value = self.opt(path)
        if value is _ABSENT:
            self.missing.append(path)
        return value

    def opt(self, path: str, default: Any = _ABSENT) -> Any:
        node: Any = self.config
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                return default
        return node


Rule = str | Callable[[_Reader, dict], Any] | int | bool


def _dense_layers(is_moe_layer: Callable[[_Reader, dict, int], bool]) -> Callable:
    # moekit models dense layers as *leading* layers. A config whose dense layers are not
    # leading (e.g. Qwen decoder_sparse_step=2, or DeepSeek moe_layer_freq>1) still gets them
    # counted here, so parameter and FLOP totals are right; only a per-PP-stage split would
    # place them differently.
    def count(read: _Reader, fields: dict) -> int:
        return sum(not is_moe_layer(read, fields, i) for i in range(fields["num_layers"]))

    return count


def _qwen_moe_layer(read: _Reader, fields: dict, i: int) -> bool:
    # transformers Qwen2MoeDecoderLayer / Qwen3MoeDecoderLayer
    step = read.opt("decoder_sparse_step", 1)
    return (
        i not in read.opt("mlp_only_layers", [])
        and fields["num_experts"] > 0
        and (i + 1) % step == 0
    )


def _deepseek_moe_layer(read: _Reader, fields: dict, i: int) -> bool:
    # transformers DeepseekV2/V3DecoderLayer
    return i >= read.opt("first_k_dense_replace", 0) and i % read.opt("moe_layer_freq", 1) == 0


def _gqa_or_mha(read: _Reader, fields: dict) -> str:
    return "mha" if fields["num_kv_heads"] == fields["num_heads"] else "gqa"


def _if_dense(key: str) -> Callable:
    return lambda read, fields: read.req(key) if fields["num_dense_layers"] else 0


# Llama-style decoder: GQA/MHA attention, SwiGLU FFN. Every supported family's transformers
# config class defaults tie_word_embeddings to False.
_BASE: dict[str, Rule] = {
    "num_layers": "num_hidden_layers",
    "d_model": "hidden_size",
    "vocab_size": "vocab_size",
    "tie_embeddings": lambda read, f: bool(read.opt("tie_word_embeddings", False)),
    "num_heads": "num_attention_heads",
    "num_kv_heads": lambda read, f: read.opt("num_key_value_heads", f["num_heads"]),
    "head_dim": lambda read, f: read.opt("head_dim", f["d_model"] // f["num_heads"]),
    "attention": _gqa_or_mha,
    "qkv_bias": lambda read, f: bool(read.opt("attention_bias", False)),
    "q_lora_rank": 0,
    "kv_lora_rank": 0,
    "qk_nope_head_dim": 0,
    "qk_rope_head_dim": 0,
    "v_head_dim": 0,
    "num_experts": 0,
    "top_k": 0,
    "expert_ffn_dim": 0,
    "gated_ffn": True,
    "num_shared_experts": 0,
    "shared_expert_ffn_dim": 0,
    "num_dense_layers": lambda read, f: f["num_layers"] if f["num_experts"] == 0 else 0,
    "dense_ffn_dim": _if_dense("intermediate_size"),
}

_DENSE = {**_BASE, "dense_ffn_dim": "intermediate_size"}

_QWEN_MOE = {
    **_BASE,
    "num_experts": "num_experts",
    "top_k": "num_experts_per_tok",
    "expert_ffn_dim": "moe_intermediate_size",
    "num_shared_experts": lambda read, f: int(read.opt("shared_expert_intermediate_size", 0) > 0),
    "shared_expert_ffn_dim": lambda read, f: read.opt("shared_expert_intermediate_size", 0),
    "num_dense_layers": _dense_layers(_qwen_moe_layer),
}

_DEEPSEEK = {
    **_BASE,
    "attention": lambda read, f: "mla",
    "num_kv_heads": lambda read, f: f["num_heads"],
    "head_dim": 0,
    "q_lora_rank": lambda read, f: read.opt("q_lora_rank", 0),  # null in V2-Lite: no q LoRA
    "kv_lora_rank": "kv_lora_rank",
    "qk_nope_head_dim": "qk_nope_head_dim",
    "qk_rope_head_dim": "qk_rope_head_dim",
    "v_head_dim": "v_head_dim",
    "num_experts": "n_routed_experts",
    "top_k": "num_experts_per_tok",
    "expert_ffn_dim": "moe_intermediate_size",
    "num_shared_experts": lambda read, f: read.opt("n_shared_experts", 0),
    # DeepSeek fuses its shared experts into one MLP of n_shared * moe_intermediate_size.
    "shared_expert_ffn_dim": lambda read, f: f["expert_ffn_dim"] if f["num_shared_experts"] else 0,
    "num_dense_layers": _dense_layers(_deepseek_moe_layer),
}

FAMILIES: dict[str, dict[str, Rule]] = {
    "llama": _DENSE,
    "mistral": _DENSE,
    "qwen2": {**_DENSE, "qkv_bias": True},  # Qwen2Attention hard-codes bias on q, k, v
    "qwen3": _DENSE,
    "mixtral": {
        **_BASE,
        "num_experts": "num_local_experts",
        "top_k": "num_experts_per_tok",
        "expert_ffn_dim": "intermediate_size",
    },
    "qwen2_moe": {**_QWEN_MOE, "qkv_bias": True},
    "qwen3_moe": _QWEN_MOE,
    "deepseek_v2": _DEEPSEEK,
    "deepseek_v3": _DEEPSEEK,
    "olmoe": {
        **_BASE,
        "num_experts": "num_experts",
        "top_k": "num_experts_per_tok",
        "expert_ffn_dim": "intermediate_size",
    },
    "gpt_oss": {
        **_BASE,
        "head_dim": "head_dim",  # 64 heads x 64 != hidden 2880: never derive it
        "num_experts": "num_local_experts",
        "top_k": "num_experts_per_tok",
        "expert_ffn_dim": "intermediate_size",
    },
    "dbrx": {
        **_BASE,
        "num_layers": "n_layers",
        "d_model": "d_model",
        "num_heads": "n_heads",
        "num_kv_heads": "attn_config.kv_n_heads",
        "num_experts": "ffn_config.moe_num_experts",
        "top_k": "ffn_config.moe_top_k",
        "expert_ffn_dim": "ffn_config.ffn_hidden_size",  # GLU experts (w1, v1, w2)
    },
}

ARCHITECTURES = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "MixtralForCausalLM": "mixtral",
    "Qwen2MoeForCausalLM": "qwen2_moe",
    "Qwen3MoeForCausalLM": "qwen3_moe",
    "DeepseekV2ForCausalLM": "deepseek_v2",
    "DeepseekV3ForCausalLM": "deepseek_v3",
    "OlmoeForCausalLM": "olmoe",
    "GptOssForCausalLM": "gpt_oss",
    "DbrxForCausalLM": "dbrx",
}


def _family(config: dict, where: str) -> tuple[str, dict[str, Rule]]:
    model_type = config.get("model_type")
    if model_type in FAMILIES:
        return model_type, FAMILIES[model_type]
    architectures = config.get("architectures") or []
    for arch in architectures:
        if arch in ARCHITECTURES:
            return ARCHITECTURES[arch], FAMILIES[ARCHITECTURES[arch]]
    raise SpecError(
        where,
        f"unknown architecture (model_type={model_type!r}, architectures={architectures!r}); "
        f"supported model_type values: {', '.join(FAMILIES)}; "
        f"supported architectures: {', '.join(ARCHITECTURES)}",
    )


def _raise_if_missing(read: _Reader, where: str, model_type: str) -> None:
    if read.missing:
        raise SpecError(
            where,
            f"missing fields {', '.join(read.missing)} (needed for model_type {model_type!r})",
        )


def model_fields_from_hf_config(config: dict, name: str) -> dict:
    """Flat moekit model fields (see FLAT_FIELDS) from a Hugging Face config.json dict."""
    where = f"config.json of {name}"
    model_type, rules = _family(config, where)
    read = _Reader(config)
    fields = {field: read.req(rule) for field, rule in rules.items() if isinstance(rule, str)}
    _raise_if_missing(read, where, model_type)  # all plain keys at once, before any arithmetic
    for field, rule in rules.items():
        if not isinstance(rule, str):
            fields[field] = rule(read, fields) if callable(rule) else rule
    _raise_if_missing(read, where, model_type)
    return {"name": name, **{key: fields[key] for key in FLAT_FIELDS[1:]}}
