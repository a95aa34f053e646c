"""Validated inputs: Model, Hardware, Workload, Strategy. Frozen, checked at construction.

Units are SI throughout (bytes, seconds, FLOP/s, bytes/s). Every error names the field,
the value and what would be allowed, so nothing downstream re-checks its inputs.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from moekit.errors import SpecError
from moekit.spec.units import parse_quantity

#: bytes per element of each precision moekit knows
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "tf32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "fp4": 0.5,
    "int4": 0.5,
    # OCP Microscaling (MX) v1.0: 4-bit E2M1 elements in blocks of 32 sharing one 8-bit E8M0 scale
    "mxfp4": 4.25 / 8,
}
#: weight precisions a GPU does not multiply in: kernels dequantize them to the activations'
#: precision (weight-only quantization, e.g. W4A16 MoE kernels)
WEIGHT_ONLY_DTYPES = ("int4", "fp4", "mxfp4")

ATTENTION_KINDS = ("mha", "gqa", "mla")
CONVENTIONS = ("folded", "product")


def divisors(n: int) -> list[int]:
    """All positive divisors of n, ascending."""
    return [d for d in range(1, n + 1) if n % d == 0]


def _check_int(where: str, name: str, value: Any, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(where, f"{name}={value!r} must be an integer")
    if value < minimum:
        raise SpecError(where, f"{name}={value} must be >= {minimum}")


def _check_positive(where: str, name: str, value: Any, upper: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(where, f"{name}={value!r} must be a finite number")
    if value <= 0:
        raise SpecError(where, f"{name}={value} must be > 0")
    if upper is not None and value > upper:
        raise SpecError(where, f"{name}={value} must be <= {upper}")


def _check_dtype(where: str, name: str, value: Any) -> None:
    if value not in DTYPE_BYTES:
        raise SpecError(where, f"{name}={value!r} is not a known precision; use one of "
                        f"{', '.join(DTYPE_BYTES)}")


def _from_mapping(cls, data: dict, where: str, converters: dict | None = None):
    """Build a dataclass from a mapping, rejecting unknown keys and naming missing ones."""
    if not isinstance(data, dict):
        raise SpecError(where, f"expected a mapping of fields, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise SpecError(where, f"unknown field(s) {', '.join(unknown)}; allowed: "
                        f"{', '.join(sorted(names))}")
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    missing = sorted(required - set(data))
    if missing:
        raise SpecError(where, f"missing field(s) {', '.join(missing)}")
    values = dict(data)
    for key, convert in (converters or {}).items():
        if key in values:
            values[key] = convert(values[key], f"{where}.{key}")
    return cls(**values)


@dataclass(frozen=True)
class Model:
    """A transformer, dense or MoE, with MHA/GQA or MLA attention. Sizes are element counts."""

    name: str
    num_layers: int
    d_model: int
    vocab_size: int
    num_heads: int
    attention: str = "gqa"
    num_kv_heads: int = 0  # 0: same as num_heads
    head_dim: int = 0  # 0: d_model / num_heads (not used by MLA)
    tie_embeddings: bool = False
    qkv_bias: bool = False
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    num_experts: int = 0
    top_k: int = 0
    expert_ffn_dim: int = 0
    gated_ffn: bool = True
    num_shared_experts: int = 0
    shared_expert_ffn_dim: int = 0
    num_dense_layers: int = 0
    dense_ffn_dim: int = 0
    attention_sinks: bool = False  # a learned logit per head joins every softmax (gpt-oss)

    def __post_init__(self):
        where = f"model {self.name!r}"
        for name in ("num_layers", "d_model", "vocab_size", "num_heads"):
            _check_int(where, name, getattr(self, name), minimum=1)
        for name in ("num_kv_heads", "head_dim", "q_lora_rank", "kv_lora_rank",
                     "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "num_experts", "top_k",
                     "expert_ffn_dim", "num_shared_experts", "shared_expert_ffn_dim",
                     "num_dense_layers", "dense_ffn_dim"):
            _check_int(where, name, getattr(self, name), minimum=0)
        for name in ("tie_embeddings", "qkv_bias", "gated_ffn", "attention_sinks"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(where, f"{name}={getattr(self, name)!r} must be true or false")
        if self.attention not in ATTENTION_KINDS:
            raise SpecError(where, f"attention={self.attention!r}; use one of {', '.join(ATTENTION_KINDS)}")
        if self.num_kv_heads == 0 or self.attention in ("mha", "mla"):
            object.__setattr__(self, "num_kv_heads", self.num_heads)
        if self.attention != "mla" and self.head_dim == 0:
            if self.d_model % self.num_heads:
                raise SpecError(where, f"head_dim is not given and d_model={self.d_model} is not a "
                                f"multiple of num_heads={self.num_heads}; give head_dim")
            object.__setattr__(self, "head_dim", self.d_model // self.num_heads)
        if self.num_heads % self.num_kv_heads:
            raise SpecError(where, f"num_kv_heads={self.num_kv_heads} must divide "
                            f"num_heads={self.num_heads} (choose one of {divisors(self.num_heads)})")
        if self.attention == "mla":
            for name in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
                _check_int(where, name, getattr(self, name), minimum=1)
        if self.num_dense_layers > self.num_layers:
            raise SpecError(where, f"num_dense_layers={self.num_dense_layers} exceeds "
                            f"num_layers={self.num_layers}")
        if self.num_experts:
            _check_int(where, "top_k", self.top_k, minimum=1)
            _check_int(where, "expert_ffn_dim", self.expert_ffn_dim, minimum=1)
            if self.top_k > self.num_experts:
                raise SpecError(where, f"top_k={self.top_k} exceeds num_experts={self.num_experts}")
        elif self.num_dense_layers != self.num_layers:
            # a dense model: every layer has a dense FFN
            object.__setattr__(self, "num_dense_layers", self.num_layers)
        if self.num_dense_layers and self.dense_ffn_dim < 1:
            raise SpecError(where, f"dense_ffn_dim={self.dense_ffn_dim} must be >= 1 when there are "
                            f"{self.num_dense_layers} dense layers")
        if self.num_shared_experts and self.shared_expert_ffn_dim < 1:
            raise SpecError(where, "shared_expert_ffn_dim must be >= 1 when num_shared_experts > 0")

    @property
    def num_moe_layers(self) -> int:
        return self.num_layers - self.num_dense_layers if self.num_experts else 0

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @classmethod
    def from_dict(cls, data: dict, where: str = "model") -> Model:
        return _from_mapping(cls, data, where)


def _peak_flops(value, where):
    if not isinstance(value, dict) or not value:
        raise SpecError(where, "expected a mapping dtype -> FLOP/s, e.g. {bf16: '989 TFLOP/s'}")
    out = {}
    for dtype, v in value.items():
        _check_dtype(where, "dtype", dtype)
        out[dtype] = parse_quantity(v, "flops", f"{where}.{dtype}")
    return out


@dataclass(frozen=True)
class Hardware:
    """One GPU type and how GPUs are linked. Bandwidths are per GPU, per direction."""

    name: str
    peak_flops: dict  # dtype -> dense FLOP/s
    hbm_bandwidth: float  # bytes/s
    memory_bytes: float
    mfu: float = 0.5  # achieved fraction of peak FLOP/s on GEMMs (an input, always shown)
    hbm_utilization: float = 0.8  # achieved fraction of HBM bandwidth
    gpus_per_node: int = 8
    intra_node_bandwidth: float = 450e9
    intra_node_latency: float = 3e-6
    inter_node_bandwidth: float = 50e9
    inter_node_latency: float = 10e-6
    runtime_overhead_bytes: float = 0.0
    gemm_half_rows: float = 0.0  # rows at which a GEMM reaches half of peak*mfu (0: flat)
    hbm_half_bytes: float = 0.0  # bytes at which a transfer reaches half bandwidth (0: flat)
    kernel_overhead: float = 0.0  # fixed seconds per op (launches)
    # Kernel-specific efficiencies, from measurements (moekit.calibration.fit). None: the GEMM figure
    # above (mfu, gemm_half_rows, hbm_utilization, hbm_half_bytes) or the intra-node link.
    attention_mfu: float | None = None
    attention_half_rows: float | None = None
    attention_hbm_utilization: float | None = None
    attention_half_bytes: float | None = None
    expert_mfu: float | None = None
    expert_hbm_utilization: float | None = None
    expert_dispatch_time: float = 0.0  # fixed seconds per routed-expert op (sort, gather, combine)
    # attention kernels that fit in one wave (work items <= sm_count) run alone on their SMs and
    # stream faster: their HBM fraction (None: attention_hbm_utilization); sm_count 0: not modelled
    attention_one_wave_hbm_utilization: float | None = None
    sm_count: int = 0
    # the flash kernel's own costs (0: not modelled): query rows per block (a causal diagonal block
    # computes its whole tile), softmax FLOPs per score, fixed seconds per query block
    attention_block_rows: float = 0.0
    attention_softmax_flops: float = 0.0
    attention_block_time: float = 0.0
    expert_half_rows: float | None = None  # rows per expert at which grouped GEMMs reach half rate
    expert_half_width: float = 0.0  # expert-shard columns (f_e / etp) at which they reach half rate (0: flat)
    fp8_mfu: float | None = None  # achieved fraction of the fp8 peak on fp8 GEMMs (None: mfu)
    fp8_expert_mfu: float | None = None  # ... on fp8 grouped expert GEMMs (None: expert_mfu)
    # achieved fraction of the activations' peak in expert GEMMs whose weights are dequantized in
    # the kernel (W4A16, WEIGHT_ONLY_DTYPES; None: expert_mfu)
    weight_only_expert_mfu: float | None = None
    # an expert-parallel rank's routed-expert kernels run at this fraction of expert_mfu (None: 1):
    # kernels tuned per expert count (the engines' fused-MoE configs, keyed by experts and width)
    # meet another local expert count; not the weight-only (dequantizing) kernels
    ep_expert_mfu_ratio: float | None = None
    # Separate memory-bound (elementwise) kernels: norms, residual adds, router softmax/top-k and
    # the token permute/activation/unpermute of the experts. 0 utilisation: not modelled (assumed
    # fused into the GEMMs), so every elementwise term below is 0.
    elementwise_hbm_utilization: float = 0.0
    elementwise_kernel_time: float = 0.0  # fixed seconds per elementwise kernel
    elementwise_kernels_per_layer: float = 0.0  # elementwise kernels per layer outside the experts
    elementwise_passes_per_layer: float = 0.0  # d-wide activation vectors each token moves per layer
    alltoall_bandwidth: float | None = None  # intra-node, bytes/s per direction
    alltoall_latency: float | None = None
    p2p_bandwidth: float | None = None
    p2p_latency: float | None = None

    def __post_init__(self):
        where = f"hardware {self.name!r}"
        for name in ("attention_mfu", "attention_hbm_utilization", "expert_mfu",
                     "expert_hbm_utilization", "fp8_mfu", "attention_one_wave_hbm_utilization",
                     "fp8_expert_mfu", "weight_only_expert_mfu", "ep_expert_mfu_ratio"):
            if getattr(self, name) is not None:
                _check_positive(where, name, getattr(self, name), upper=1.0)
        for name in ("alltoall_bandwidth", "p2p_bandwidth"):
            if getattr(self, name) is not None:
                _check_positive(where, name, getattr(self, name))
        for name in ("attention_half_rows", "attention_half_bytes", "alltoall_latency", "p2p_latency",
                     "expert_dispatch_time", "expert_half_rows", "elementwise_kernel_time",
                     "attention_block_rows", "attention_softmax_flops", "attention_block_time",
                     "elementwise_kernels_per_layer", "elementwise_passes_per_layer"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or value < 0):
                raise SpecError(where, f"{name}={value!r} must be a number >= 0")
        for dtype, value in self.peak_flops.items():
            _check_dtype(where, "peak_flops key", dtype)
            _check_positive(where, f"peak_flops[{dtype}]", value)
        for name in ("hbm_bandwidth", "memory_bytes", "intra_node_bandwidth", "inter_node_bandwidth"):
            _check_positive(where, name, getattr(self, name))
        for name in ("mfu", "hbm_utilization"):
            _check_positive(where, name, getattr(self, name), upper=1.0)
        for name in ("intra_node_latency", "inter_node_latency", "runtime_overhead_bytes",
                     "gemm_half_rows", "hbm_half_bytes", "kernel_overhead", "expert_half_width"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise SpecError(where, f"{name}={value!r} must be a number >= 0")
        if not 0 <= self.elementwise_hbm_utilization <= 1:
            raise SpecError(where, f"elementwise_hbm_utilization={self.elementwise_hbm_utilization!r}"
                            " must be in [0, 1] (0: elementwise kernels not modelled)")
        _check_int(where, "gpus_per_node", self.gpus_per_node, minimum=1)
        _check_int(where, "sm_count", self.sm_count, minimum=0)

    def peak_for(self, dtype: str) -> float:
        """Dense peak FLOP/s for computing in `dtype`."""
        if dtype not in self.peak_flops:
            raise SpecError(f"hardware {self.name!r}", f"no peak FLOP/s for {dtype!r}; it states "
                            f"{', '.join(self.peak_flops)}")
        return self.peak_flops[dtype]

    @classmethod
    def from_dict(cls, data: dict, where: str = "hardware") -> Hardware:
        return _from_mapping(cls, data, where, {
            "peak_flops": _peak_flops,
            "hbm_bandwidth": lambda v, w: parse_quantity(v, "bandwidth", w),
            "memory_bytes": lambda v, w: parse_quantity(v, "bytes", w),
            "intra_node_bandwidth": lambda v, w: parse_quantity(v, "bandwidth", w),
            "inter_node_bandwidth": lambda v, w: parse_quantity(v, "bandwidth", w),
            "intra_node_latency": lambda v, w: parse_quantity(v, "seconds", w),
            "inter_node_latency": lambda v, w: parse_quantity(v, "seconds", w),
            "runtime_overhead_bytes": lambda v, w: parse_quantity(v, "bytes", w),
            "hbm_half_bytes": lambda v, w: parse_quantity(v, "bytes", w),
            "kernel_overhead": lambda v, w: parse_quantity(v, "seconds", w),
            "attention_half_bytes": _optional("bytes"),
            "expert_dispatch_time": lambda v, w: parse_quantity(v, "seconds", w),
            "attention_block_time": lambda v, w: parse_quantity(v, "seconds", w),
            "elementwise_kernel_time": lambda v, w: parse_quantity(v, "seconds", w),
            "alltoall_bandwidth": _optional("bandwidth"),
            "alltoall_latency": _optional("seconds"),
            "p2p_bandwidth": _optional("bandwidth"),
            "p2p_latency": _optional("seconds"),
        })

    def mfu_for(self, dtype: str) -> float:
        """Achieved fraction of the `dtype` peak on GEMMs: fp8_mfu for fp8 when set, else mfu."""
        return self.fp8_mfu if dtype == "fp8" and self.fp8_mfu is not None else self.mfu

    def expert_mfu_for(self, dtype: str, weight_only: bool = False) -> float:
        """Achieved fraction of the `dtype` peak in the routed-expert GEMMs: weight_only_expert_mfu
        when the kernel dequantizes its weights, fp8_expert_mfu for fp8, else expert_mfu (each
        falling back to the GEMM figure)."""
        base = self.mfu_for(dtype) if self.expert_mfu is None else self.expert_mfu
        if weight_only:
            return base if self.weight_only_expert_mfu is None else self.weight_only_expert_mfu
        if dtype == "fp8" and self.fp8_expert_mfu is not None:
            return self.fp8_expert_mfu
        return base

    def efficiency(self, dtype: str = "bf16", expert_dtype: str | None = None,
                   expert_weight_only: bool = False) -> dict[str, float]:
        """Every efficiency and link figure the formulas use, unset ones resolved to their fallback;
        GEMMs compute in `dtype`, the routed experts in `expert_dtype` (default `dtype`)."""
        def pick(value, fallback):
            return fallback if value is None else value

        mfu = self.mfu_for(dtype)
        return {
            "mfu": mfu, "gemm_half_rows": self.gemm_half_rows,
            "hbm_utilization": self.hbm_utilization, "hbm_half_bytes": self.hbm_half_bytes,
            "kernel_overhead": self.kernel_overhead,
            "attention_mfu": pick(self.attention_mfu, mfu),
            "attention_half_rows": pick(self.attention_half_rows, self.gemm_half_rows),
            "attention_hbm_utilization": pick(self.attention_hbm_utilization, self.hbm_utilization),
            "attention_half_bytes": pick(self.attention_half_bytes, self.hbm_half_bytes),
            "attention_one_wave_hbm_utilization": pick(
                self.attention_one_wave_hbm_utilization,
                pick(self.attention_hbm_utilization, self.hbm_utilization)),
            "sm_count": self.sm_count,
            "attention_block_rows": self.attention_block_rows,
            "attention_softmax_flops": self.attention_softmax_flops,
            "attention_block_time": self.attention_block_time,
            "expert_mfu": self.expert_mfu_for(expert_dtype or dtype, expert_weight_only),
            "ep_expert_mfu_ratio": 1.0 if expert_weight_only else pick(self.ep_expert_mfu_ratio, 1.0),
            "expert_half_rows": pick(self.expert_half_rows, self.gemm_half_rows),
            "expert_hbm_utilization": pick(self.expert_hbm_utilization, self.hbm_utilization),
            "expert_dispatch_time": self.expert_dispatch_time,
            "expert_half_width": self.expert_half_width,
            "elementwise_hbm_utilization": self.elementwise_hbm_utilization,
            "elementwise_kernel_time": self.elementwise_kernel_time,
            "elementwise_kernels_per_layer": self.elementwise_kernels_per_layer,
            "elementwise_passes_per_layer": self.elementwise_passes_per_layer,
            "alltoall_bandwidth": pick(self.alltoall_bandwidth, self.intra_node_bandwidth),
            "alltoall_latency": pick(self.alltoall_latency, self.intra_node_latency),
            "p2p_bandwidth": pick(self.p2p_bandwidth, self.intra_node_bandwidth),
            "p2p_latency": pick(self.p2p_latency, self.intra_node_latency),
        }


@dataclass(frozen=True)
class Workload:
    """What is served: a batch of sequences, prompt length, decode context, precisions.

    `batch` is the number of sequences in flight across the whole deployment.
    `decode_context` is the context length at which one decode step (TPOT) is measured;
    0 means prompt_len + output_len / 2 (the average context over the output).
    `expert_imbalance` is the ratio of the busiest expert GPU's load to the mean;
    0 means moekit computes the expected maximum of multinomial routing.
    """

    batch: int
    prompt_len: int
    output_len: int = 1
    decode_context: int = 0
    weight_dtype: str = "bf16"
    expert_dtype: str = ""  # routed-expert weights ("": same as weight_dtype), e.g. mxfp4 for gpt-oss
    kv_dtype: str = ""  # "": same as weight_dtype
    activation_dtype: str = ""  # "": same as weight_dtype
    dispatch_dtype: str = ""  # tokens sent to the experts ("": activation_dtype), e.g. DeepEP's fp8 dispatch
    compute_dtype: str = ""  # "": same as weight_dtype
    attention_dtype: str = ""  # precision of the attention kernel's matrix products ("": compute_dtype)
    expert_imbalance: float = 0.0
    capacity_factor: float = 1.0  # dispatch buffer size relative to the mean load
    # share of the shorter of a layer's compute and collectives hidden by running them side by side,
    # 0..1 (1: only the longer counts; two-batch overlap, two micro-batches: 0.5)
    comm_overlap: float = 0.0
    redundant_experts: int = 0  # EPLB replicas of hot experts per MoE layer, spread over the ep ranks
    draft_tokens: int = 0  # speculative / MTP tokens each decode step verifies beside the real one
    accepted_tokens: float = 1.0  # tokens a decode step yields per sequence on average (1 + accepted drafts)

    def __post_init__(self):
        where = "workload"
        _check_int(where, "redundant_experts", self.redundant_experts, minimum=0)
        _check_int(where, "draft_tokens", self.draft_tokens, minimum=0)
        accepted = self.accepted_tokens
        if not isinstance(accepted, (int, float)) or not 1 <= accepted <= 1 + self.draft_tokens:
            raise SpecError(where, f"accepted_tokens={self.accepted_tokens!r} must lie between 1 and "
                            f"1 + draft_tokens = {1 + self.draft_tokens}")
        _check_int(where, "batch", self.batch, minimum=1)
        _check_int(where, "prompt_len", self.prompt_len, minimum=1)
        _check_int(where, "output_len", self.output_len, minimum=1)
        _check_int(where, "decode_context", self.decode_context, minimum=0)
        for name in ("expert_dtype", "kv_dtype", "activation_dtype", "compute_dtype"):
            if getattr(self, name) == "":
                object.__setattr__(self, name, self.weight_dtype)
        if self.dispatch_dtype == "":
            object.__setattr__(self, "dispatch_dtype", self.activation_dtype)
        if self.attention_dtype == "":
            object.__setattr__(self, "attention_dtype", self.compute_dtype)
        for name in ("weight_dtype", "expert_dtype", "kv_dtype", "activation_dtype", "dispatch_dtype",
                     "compute_dtype", "attention_dtype"):
            _check_dtype(where, name, getattr(self, name))
        if self.decode_context == 0:
            object.__setattr__(self, "decode_context", self.prompt_len + self.output_len // 2)
        if self.expert_imbalance != 0 and (
            not isinstance(self.expert_imbalance, (int, float)) or self.expert_imbalance < 1
        ):
            raise SpecError(where, f"expert_imbalance={self.expert_imbalance!r} must be >= 1 "
                            "(busiest / mean load) or 0 to compute it")
        _check_positive(where, "capacity_factor", self.capacity_factor)
        if not isinstance(self.comm_overlap, (int, float)) or not 0 <= self.comm_overlap <= 1:
            raise SpecError(where, f"comm_overlap={self.comm_overlap!r} must be between 0 and 1")

    @property
    def precisions(self) -> str:
        """The precisions in words: 'weights bf16, experts mxfp4, KV bf16' (experts only when they differ)."""
        experts = f", experts {self.expert_dtype}" if self.expert_dtype != self.weight_dtype else ""
        return f"weights {self.weight_dtype}{experts}, KV {self.kv_dtype}"

    @property
    def expert_weight_only(self) -> bool:
        """Whether the expert kernels dequantize their weights (4-bit weights, wider compute)."""
        return self.expert_dtype != self.weight_dtype and self.expert_dtype in WEIGHT_ONLY_DTYPES

    @property
    def expert_compute_dtype(self) -> str:
        """Precision the routed-expert GEMMs multiply in: the compute precision, unless the experts
        are stored in another precision a GPU multiplies in (fp8 experts beside bf16 attention)."""
        if self.expert_dtype == self.weight_dtype or self.expert_weight_only:
            return self.compute_dtype
        return self.expert_dtype

    @classmethod
    def from_dict(cls, data: dict, where: str = "workload") -> Workload:
        return _from_mapping(cls, data, where)


_TOKEN = re.compile(r"^(DP|TP|PP|EP|ETP|MB|M)(\d+)$")


@dataclass(frozen=True)
class Strategy:
    """Parallel degrees in the folded convention (DESIGN.md).

    Attention/dense part: world = dp * tp * pp. Experts fold onto the same dp * tp GPUs
    of each pipeline stage: ep * etp * edp = dp * tp. `microbatches` fill the pipeline.
    A strategy written in the seeds' product convention (EP as its own axis,
    world = ep * tp * pp * dp) is stored folded: attention dp becomes dp * ep and etp = tp;
    `convention` and `notation` record how it was written.
    """

    dp: int = 1
    tp: int = 1
    pp: int = 1
    ep: int = 1
    etp: int = 1
    microbatches: int = 1
    convention: str = "folded"
    notation: str = ""

    def __post_init__(self):
        where = f"strategy {self.notation or self.label}"
        for name in ("dp", "tp", "pp", "ep", "etp", "microbatches"):
            _check_int(where, name, getattr(self, name), minimum=1)
        if self.convention not in CONVENTIONS:
            raise SpecError(where, f"convention={self.convention!r}; use one of {', '.join(CONVENTIONS)}")
        group = self.dp * self.tp
        if group % (self.ep * self.etp):
            raise SpecError(where, f"ep*etp={self.ep}*{self.etp} must divide dp*tp={group} "
                            f"(experts fold onto the dp*tp GPUs of a stage; ep*etp in {divisors(group)})")

    @property
    def gpus(self) -> int:
        return self.dp * self.tp * self.pp

    @property
    def edp(self) -> int:
        """Expert data-parallel degree: copies of each expert within a stage."""
        return self.dp * self.tp // (self.ep * self.etp)

    @property
    def label(self) -> str:
        return f"DP{self.dp}-TP{self.tp}-PP{self.pp}-EP{self.ep}-ETP{self.etp}-M{self.microbatches}"

    @classmethod
    def parse(cls, text: str, convention: str = "auto") -> Strategy:
        """Read strategy notation such as 'EP64-TP8-PP2-DP2', 'EP64_TP2_PP1' or 'TP4 EP16 PP4 DP2'.

        Degrees not written are 1, except ETP: it follows TP when no EP is written (experts
        split like the rest under plain TP) and is 1 when EP is written.

        convention: 'folded' (world = dp*tp*pp), 'product' (world = ep*tp*pp*dp, the seeds'
        notation) or 'auto': folded when the degrees fold validly, product otherwise.
        """
        where = f"strategy {text!r}"
        if convention not in (*CONVENTIONS, "auto"):
            raise SpecError(where, f"convention={convention!r}; use folded, product or auto")
        degrees: dict[str, int] = {}
        for token in re.split(r"[-_\s,x×*]+", text.strip().upper()):
            if not token:
                continue
            match = _TOKEN.match(token)
            if not match:
                raise SpecError(where, f"cannot read {token!r}; write degrees like DP2, TP8, PP2, "
                                "EP64, ETP1, M4 (micro-batches)")
            name, value = match.groups()
            key = {"M": "microbatches", "MB": "microbatches"}.get(name, name.lower())
            if key in degrees:
                raise SpecError(where, f"{name} is given twice")
            degrees[key] = int(value)
        if not degrees:
            raise SpecError(where, "no degrees found")
        if convention == "auto":
            try:
                return cls.from_degrees(degrees, "folded", text)
            except SpecError:
                return cls.from_degrees(degrees, "product", text)
        return cls.from_degrees(degrees, convention, text)

    @classmethod
    def from_degrees(cls, degrees: dict, convention: str, notation: str = "") -> Strategy:
        """Strategy from degrees written in `convention`; product degrees are folded."""
        d = {"dp": 1, "tp": 1, "pp": 1, "ep": 1, "microbatches": 1, **degrees}
        if convention == "product":
            etp = d.get("etp", d["tp"])
            return cls(dp=d["dp"] * d["ep"], tp=d["tp"], pp=d["pp"], ep=d["ep"], etp=etp,
                       microbatches=d["microbatches"], convention="product", notation=notation)
        # unwritten ETP: experts split like everything else under plain TP (Megatron's and
        # vLLM's default); whole experts once EP is written (vLLM's expert-parallel mode)
        etp = d.get("etp", d["tp"] if d["ep"] == 1 else 1)
        return cls(dp=d["dp"], tp=d["tp"], pp=d["pp"], ep=d["ep"], etp=etp,
                   microbatches=d["microbatches"], convention="folded", notation=notation)

    @classmethod
    def from_dict(cls, data: dict, where: str = "strategy") -> Strategy:
        return _from_mapping(cls, data, where)

    def check_fits(self, model: Model, workload: Workload | None = None) -> None:
        """Raise SpecError when the degrees do not divide what they split."""
        where = f"strategy {self.notation or self.label} on {model.name}"
        if model.num_heads % self.tp:
            raise SpecError(where, f"tp={self.tp} does not divide {model.num_heads} attention heads "
                            f"(choose {_choices(divisors(model.num_heads))})")
        if model.is_moe and model.num_experts % self.ep:
            raise SpecError(where, f"ep={self.ep} does not divide {model.num_experts} experts "
                            f"(choose {_choices(divisors(model.num_experts))})")
        if model.is_moe and model.expert_ffn_dim % self.etp:
            raise SpecError(where, f"etp={self.etp} does not divide expert_ffn_dim="
                            f"{model.expert_ffn_dim}")
        if not model.is_moe and (self.ep > 1 or self.etp not in (1, self.tp)):
            raise SpecError(where, f"ep={self.ep}, etp={self.etp} need a model with experts")
        if self.pp > model.num_layers:
            raise SpecError(where, f"pp={self.pp} exceeds {model.num_layers} layers")
        if workload is not None and workload.batch % (self.dp * self.microbatches):
            raise SpecError(where, f"batch={workload.batch} does not split into dp*microbatches="
                            f"{self.dp}*{self.microbatches} equal parts")


def _choices(values: list[int]) -> str:
    return ", ".join(map(str, values[:-1])) + f" or {values[-1]}" if len(values) > 1 else str(values[0])


def _optional(kind: str):
    def convert(value, where):
        return None if value is None else parse_quantity(value, kind, where)
    return convert


@dataclass(frozen=True)
class Targets:
    """What a deployment must meet. None: no such target. Times in s, rates in tokens/s/GPU.

    `gpus` is the GPU budget (0: ample, searched up to `max_gpus`); `memory_headroom` is the
    share of each GPU's memory to keep free; `min_load_balance` is mean/busiest expert load.
    """

    gpus: int = 0
    max_gpus: int = 4096
    ttft_s: float | None = None
    tpot_s: float | None = None
    request_latency_s: float | None = None
    min_prefill_tokens_per_s_per_gpu: float | None = None
    min_decode_tokens_per_s_per_gpu: float | None = None
    memory_headroom: float = 0.0
    min_load_balance: float | None = None

    def __post_init__(self):
        where = "targets"
        _check_int(where, "gpus", self.gpus, minimum=0)
        _check_int(where, "max_gpus", self.max_gpus, minimum=1)
        for name in ("ttft_s", "tpot_s", "request_latency_s", "min_prefill_tokens_per_s_per_gpu",
                     "min_decode_tokens_per_s_per_gpu"):
            if getattr(self, name) is not None:
                _check_positive(where, name, getattr(self, name))
        if not isinstance(self.memory_headroom, (int, float)) or not 0 <= self.memory_headroom < 1:
            raise SpecError(where, f"memory_headroom={self.memory_headroom!r} must be in [0, 1)")
        if self.min_load_balance is not None:
            _check_positive(where, "min_load_balance", self.min_load_balance, upper=1.0)

    @classmethod
    def from_dict(cls, data: dict, where: str = "targets") -> Targets:
        return _from_mapping(cls, data, where, {
            "ttft_s": _optional("seconds"), "tpot_s": _optional("seconds"),
            "request_latency_s": _optional("seconds"),
            "min_prefill_tokens_per_s_per_gpu": _optional("rate"),
            "min_decode_tokens_per_s_per_gpu": _optional("rate"),
        })


@dataclass(frozen=True)
class Preset:
    """A spec loaded from a file, with where its numbers come from."""

    spec: Any
    source: Any = None
    notes: str = ""
    assumed: dict = field(default_factory=dict)
    path: str = ""
