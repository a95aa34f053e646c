"""Serving stacks: what the software that runs the model does, as the cost model sees it.

A GPU preset holds hardware figures; a stack holds what an implementation does on it (fused or
separate elementwise kernels, CUDA-graph or eager decode, attention and MoE kernels, MLA absorbed or
re-expanded, a materialised causal mask, the all-to-all library, host time per step) and the kernel
efficiencies it reaches. Each term is a registry symbol (moekit.formulas.symbols, "stack" section);
each efficiency replaces the GPU preset's field of the same name. Stacks are YAML files in
`data/stacks/`; one with a `calibrate:` block gets its efficiencies fitted to measured rows by the
fitter registered for it (moekit.calibration.stacks), never typed in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from moekit.errors import SpecError
from moekit.resources import DATA_DIR, available
from moekit.spec.inputs import Hardware, _from_mapping
from moekit.spec.presets import read_yaml
from moekit.spec.units import parse_quantity

ATTENTION_KERNELS = ("sdpa-flash", "sdpa-efficient", "eager", "fa3", "flashinfer", "flashmla",
                     "trtllm-fmha")
MOE_KERNELS = ("grouped-gemm", "fused-moe", "loop")
#: how expert-parallel tokens move: "allgather" (no all-to-all: tokens all-gathered, experts masked,
#: outputs reduce-scattered; SGLang's and vLLM's default), NCCL all-to-all, or DeepEP's kernels
ALL_TO_ALL = ("allgather", "nccl", "deepep-normal", "deepep-low-latency")
#: GPU-preset fields a stack may set: the kernel efficiencies, never the hardware's peaks or sizes
EFFICIENCY_FIELDS = tuple(
    f.name for f in dataclasses.fields(Hardware)
    if f.name not in {"name", "peak_flops", "hbm_bandwidth", "memory_bytes", "gpus_per_node",
                      "intra_node_bandwidth", "intra_node_latency", "inter_node_bandwidth",
                      "inter_node_latency", "runtime_overhead_bytes", "sm_count"})
METADATA_KEYS = ("source", "notes", "assumed", "calibrate")
#: fitted stacks as `moekit validate --refit` last stored them; one is used only while everything its
#: fit reads is byte-identical (FIT_INPUTS and the stack file: its fingerprint), else it is refitted
FITTED_DIR = DATA_DIR / "stacks" / "fitted"
#: what a stack fit reads: measured rows, model and GPU presets, stack files, and the cost model's code
FIT_INPUTS = (("data", "measurements/*.csv"), ("data", "peers/*.csv"), ("data", "models/*.yaml"),
              ("data", "hardware/*.yaml"), ("data", "stacks/*.yaml"), ("code", "formulas/*.py"),
              ("code", "calibration/*.py"), ("code", "spec/*.py"), ("code", "evaluate.py"))


@dataclass(frozen=True)
class Stack:
    """One serving implementation. Times in seconds; 0 switches a term off."""

    name: str
    engine: str = ""  # the software and version it stands for, e.g. "SGLang 0.5.1"
    step_overhead: float = 0.0  # host time per forward step: scheduler, sampling, output
    host_kernel_time: float = 0.0  # host time per eagerly launched kernel (Python + CUDA launch)
    kernels_per_layer: float = 0.0  # kernels one layer launches (matters only when eager)
    moe_token_time: float = 0.0  # GPU time per token of an MoE layer's uncounted bookkeeping kernels
    cuda_graph_decode: bool = True  # decode replays a CUDA graph: no host launches
    mla_absorbed: bool = True  # MLA decode attends in the latent space (else re-expands K, V)
    causal_mask_materialized: bool = False  # attention reads a [B, S, S] mask from HBM
    gqa_kv_repeated: bool = False  # grouped K, V copied out to one head per query head before attention
    sinks_run_eager: bool = False  # a model with attention sinks runs eager attention (scores in HBM)
    kv_cache_regrown: bool = False  # each decode step copies the whole KV cache into a longer tensor
    custom_allreduce: bool = False  # small TP all-reduces one-shot (one latency), not NCCL's ring
    attention_kernel: str = "flashinfer"
    moe_kernel: str = "fused-moe"
    all_to_all: str = "nccl"
    efficiency: dict = field(default_factory=dict)  # GPU-preset field -> value

    def __post_init__(self):
        where = f"stack {self.name!r}"
        for name in ("step_overhead", "host_kernel_time", "kernels_per_layer", "moe_token_time"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise SpecError(where, f"{name}={value!r} must be a number >= 0")
        for name in ("cuda_graph_decode", "mla_absorbed", "causal_mask_materialized", "custom_allreduce",
                     "gqa_kv_repeated", "sinks_run_eager", "kv_cache_regrown"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(where, f"{name}={getattr(self, name)!r} must be true or false")
        for name, allowed in (("attention_kernel", ATTENTION_KERNELS), ("moe_kernel", MOE_KERNELS),
                              ("all_to_all", ALL_TO_ALL)):
            if getattr(self, name) not in allowed:
                raise SpecError(where, f"{name}={getattr(self, name)!r}; allowed: {', '.join(allowed)}")
        unknown = sorted(set(self.efficiency) - set(EFFICIENCY_FIELDS))
        if unknown:
            raise SpecError(f"{where}.efficiency", f"unknown field(s) {', '.join(unknown)}; allowed: "
                            f"{', '.join(EFFICIENCY_FIELDS)}")

    def on(self, hardware: Hardware) -> Hardware:
        """`hardware` with this stack's kernel efficiencies in place of the preset's."""
        return dataclasses.replace(hardware, **self.efficiency)

    def inputs(self) -> dict[str, float]:
        """Values of the stack symbols of the cost model."""
        return {"step_overhead": self.step_overhead, "host_kernel_time": self.host_kernel_time,
                "kernels_per_layer": self.kernels_per_layer, "moe_token_time": self.moe_token_time,
                "cuda_graph_decode": float(self.cuda_graph_decode),
                "mla_reexpand": float(not self.mla_absorbed),
                "causal_mask_materialized": float(self.causal_mask_materialized),
                "gqa_kv_repeated": float(self.gqa_kv_repeated),
                "sinks_run_eager": float(self.sinks_run_eager),
                "kv_cache_regrown": float(self.kv_cache_regrown),
                "allreduce_one_shot": float(self.custom_allreduce),
                "alltoall_concurrent": float(self.all_to_all.startswith("deepep")),
                "ep_masked": float(self.all_to_all == "allgather"),
                "moe_fused": float(self.moe_kernel == "fused-moe")}

    @classmethod
    def from_dict(cls, data: dict, where: str = "stack") -> Stack:
        seconds = lambda v, w: parse_quantity(v, "seconds", w)  # noqa: E731
        return _from_mapping(cls, data, where, {"step_overhead": seconds, "host_kernel_time": seconds,
                                               "moe_token_time": seconds})


#: the stack a scenario's times and the serving planner assume unless told otherwise: an engine
ENGINE_DEFAULT = "sglang"

#: a NO_STACK evaluation uses the GPU preset's own efficiencies and no host terms
NO_STACK = Stack(name="none", engine="no named software: the GPU preset's efficiency inputs alone",
                 attention_kernel="sdpa-flash", moe_kernel="grouped-gemm")

#: fitters of calibrated stacks: name -> fit(stack, calibrate block) -> (stack, provenance)
STACK_FITTERS: dict[str, Callable[[Stack, dict], tuple[Stack, dict]]] = {}


def register_stack_fitter(kind: str, fit: Callable[[Stack, dict], tuple[Stack, dict]]) -> None:
    """Let stacks whose `calibrate.kind` is `kind` be fitted by `fit` (the calibration layer does)."""
    STACK_FITTERS[kind] = fit


@dataclass(frozen=True)
class StackPreset:
    """A stack with where its numbers come from."""

    spec: Stack
    source: dict
    notes: str
    assumed: dict
    calibrate: dict  # the file's calibrate block: which rows, which models, which fields
    calibration: dict  # how its efficiencies were fitted ({} when not)
    path: str


def available_stacks() -> list[str]:
    return available("stacks")


@lru_cache(maxsize=32)
def load_stack_preset(name_or_path: str) -> StackPreset:
    """A stack by name (data/stacks/NAME.yaml) or YAML path, its efficiencies fitted if calibrated."""
    name = str(name_or_path)
    if name == NO_STACK.name:
        return StackPreset(NO_STACK, {}, NO_STACK.engine, {}, {}, {}, "")
    path = Path(name)
    if not (path.suffix in (".yaml", ".yml") and path.exists()):
        path = DATA_DIR / "stacks" / f"{name.lower()}.yaml"
    if not path.exists():
        raise SpecError(f"stack {name!r}", "no such stack or YAML file; stacks: "
                        + ", ".join(available_stacks() + [NO_STACK.name]))
    return _read_stack(path)


def _read_stack(path: Path, refit: bool = False) -> StackPreset:
    """The stack of a YAML file, fitted if calibrated: the stored fit while current (with `refit`,
    always a fresh one, stored)."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(str(path), "a stack file must hold a mapping of fields")
    spec = Stack.from_dict({k: v for k, v in data.items() if k not in METADATA_KEYS}, str(path))
    calibrate = data.get("calibrate") or {}
    provenance: dict = {}
    if calibrate:
        kind = calibrate.get("kind") if isinstance(calibrate, dict) else None
        if kind not in STACK_FITTERS:
            raise SpecError(f"{path}.calibrate.kind", f"{kind!r}; registered fitters: "
                            + (", ".join(STACK_FITTERS) or "none (import moekit)"))
        spec, provenance = _fitted(spec, calibrate, STACK_FITTERS[kind], path.read_bytes(), refit)
    return StackPreset(spec, data.get("source") or {}, data.get("notes", ""),
                       data.get("assumed") or {}, calibrate, provenance, str(path))


def fit_fingerprint(stack_file: bytes) -> str:
    """SHA-256 over a stack file and every file its fit reads (FIT_INPUTS), in a fixed order."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(stack_file)
    for root, pattern in FIT_INPUTS:
        for path in sorted((DATA_DIR if root == "data" else package).glob(pattern)):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _fitted(spec: Stack, calibrate: dict, fit, stack_file: bytes, refit: bool = False) -> tuple[Stack, dict]:
    """`spec` fitted by `fit`: the stored fit (FITTED_DIR) while its fingerprint is current, else a
    fresh one (and with `refit`, always a fresh one, stored)."""
    path = FITTED_DIR / f"{spec.name}.json"
    fingerprint = fit_fingerprint(stack_file)
    if not refit and path.exists():
        stored = json.loads(path.read_text())
        if stored.get("fingerprint") == fingerprint:
            return Stack(**stored["stack"]), stored["calibration"]
    fitted, provenance = fit(spec, calibrate)
    if refit:
        FITTED_DIR.mkdir(parents=True, exist_ok=True)
        record = {"fingerprint": fingerprint, "stack": dataclasses.asdict(fitted), "calibration": provenance}
        path.write_text(json.dumps(record, indent=1, sort_keys=True, default=float) + "\n")
    return fitted, provenance


def refit_stacks() -> list[str]:
    """Fit every calibrated stack afresh and store the fits in FITTED_DIR; returns their names."""
    names = [name for name in available_stacks()
             if _read_stack(DATA_DIR / "stacks" / f"{name}.yaml", refit=True).calibrate]
    load_stack_preset.cache_clear()
    return names


def load_stack(name_or_path: str | Stack | None) -> Stack:
    """A Stack from a name, a YAML path, a Stack (returned as is) or None (NO_STACK)."""
    if name_or_path is None:
        return NO_STACK
    if isinstance(name_or_path, Stack):
        return name_or_path
    return load_stack_preset(str(name_or_path)).spec
