"""Numeric evaluation: every formula lambdified once, evaluated over numpy arrays.

`evaluate_arrays` takes input arrays (one value per strategy/workload point, broadcast
together) and returns every formula's value for every point; `evaluate` does one point
and labels the results as pandas DataFrames.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import sympy as sp

from moekit.errors import SpecError
from moekit.formulas import PHASES, REGISTRY, SYMBOLS
from moekit.formulas.core import depends_on_phase
from moekit.spec.inputs import DTYPE_BYTES, Hardware, Model, Strategy, Workload
from moekit.spec.stack import NO_STACK, Stack, load_stack

INPUT_NAMES = tuple(SYMBOLS)
STEP_INPUTS = {s.name for subs in PHASES.values() for s in subs}


@lru_cache(maxsize=4)
def _compiled(attention: str):
    """(name, argument names, numpy function, per-phase?) for every formula, in order."""
    kind = "mla" if attention == "mla" else "gqa"
    compiled = []
    for name, f in REGISTRY.items():
        expr = f.expr_for(kind)
        args = sorted(s.name for s in expr.free_symbols)
        fn = sp.lambdify([sp.Symbol(a, nonnegative=True, real=True) for a in args], expr,
                         modules="numpy", cse=True)
        compiled.append((name, tuple(args), fn, depends_on_phase(name)))
    steps = {}
    for phase, subs in PHASES.items():
        steps[phase] = []
        for sym, expr in subs.items():
            args = sorted(s.name for s in sp.sympify(expr).free_symbols)
            fn = sp.lambdify([sp.Symbol(a, nonnegative=True, real=True) for a in args], expr,
                             modules="numpy")
            steps[phase].append((sym.name, tuple(args), fn))
    return compiled, steps


def evaluate_arrays(attention: str, inputs: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Every formula's value at every point. `inputs` maps input names to scalars or arrays.

    Per-phase formulas come back as `prefill_<name>` and `decode_<name>`.
    """
    missing = [n for n in INPUT_NAMES if n not in inputs and n not in STEP_INPUTS]
    if missing:
        raise SpecError("evaluation inputs", f"missing {', '.join(missing)}")
    names = [n for n in inputs if n in SYMBOLS]
    arrays = np.broadcast_arrays(*[np.asarray(inputs[n], dtype=float) for n in names])
    shape = arrays[0].shape
    common: dict[str, np.ndarray] = dict(zip(names, arrays, strict=True))
    compiled, steps = _compiled(attention)
    with np.errstate(all="ignore"):  # Piecewise evaluates every branch; select keeps the right one
        phase_ns = {p: {n: fn(*(common[a] for a in args)) for n, args, fn in steps[p]}
                    for p in steps}
        for name, args, fn, phased in compiled:
            if phased:
                for phase, ns in phase_ns.items():
                    value = fn(*(ns[a] if a in ns else common[a] for a in args))
                    ns[name] = value
                    common[f"{phase}_{name}"] = value
            else:
                common[name] = fn(*(common[a] for a in args))
    return {n: np.broadcast_to(np.asarray(v, dtype=float), shape) for n, v in common.items()}


def model_inputs(model: Model) -> dict[str, float]:
    """Input symbol values of a model."""
    return {
        "num_layers": model.num_layers, "num_dense_layers": model.num_dense_layers,
        "d_model": model.d_model, "vocab_size": model.vocab_size,
        "tie_embeddings": float(model.tie_embeddings), "num_heads": model.num_heads,
        "num_kv_heads": model.num_kv_heads, "head_dim": model.head_dim,
        "qkv_bias": float(model.qkv_bias), "q_lora_rank": model.q_lora_rank,
        "kv_lora_rank": model.kv_lora_rank, "qk_nope_head_dim": model.qk_nope_head_dim,
        "qk_rope_head_dim": model.qk_rope_head_dim, "v_head_dim": model.v_head_dim,
        "num_experts": model.num_experts, "top_k": model.top_k,
        "expert_ffn_dim": model.expert_ffn_dim, "ffn_matrices": 3.0 if model.gated_ffn else 2.0,
        "num_shared_experts": model.num_shared_experts,
        "shared_expert_ffn_dim": model.shared_expert_ffn_dim, "dense_ffn_dim": model.dense_ffn_dim,
        "attention_sinks": float(model.attention_sinks),
    }


def hardware_inputs(hardware: Hardware, workload: Workload | str,
                    stack: Stack = NO_STACK) -> dict[str, float]:
    """Input symbol values of a GPU running `workload`'s precisions (or computing everything in one
    dtype) under `stack` (its efficiencies replace the preset's; its terms are the stack symbols)."""
    if isinstance(workload, str):
        workload = Workload(batch=1, prompt_len=1, weight_dtype=workload)
    hardware = stack.on(hardware)
    return {
        **stack.inputs(),
        "peak_flops": hardware.peak_for(workload.compute_dtype),
        "attention_peak_flops": hardware.peak_for(workload.attention_dtype),
        "expert_peak_flops": hardware.peak_for(workload.expert_compute_dtype),
        "hbm_bandwidth": hardware.hbm_bandwidth, "hbm_utilization": hardware.hbm_utilization,
        "memory_bytes": hardware.memory_bytes, "gpus_per_node": hardware.gpus_per_node,
        "intra_node_bandwidth": hardware.intra_node_bandwidth,
        "intra_node_latency": hardware.intra_node_latency,
        "inter_node_bandwidth": hardware.inter_node_bandwidth,
        "inter_node_latency": hardware.inter_node_latency,
        "runtime_overhead_bytes": hardware.runtime_overhead_bytes,
        **hardware.efficiency(workload.compute_dtype, workload.expert_compute_dtype,
                              workload.expert_weight_only),
    }


def workload_inputs(workload: Workload) -> dict[str, float]:
    """Input symbol values of a workload."""
    return {
        "batch": workload.batch, "prompt_len": workload.prompt_len,
        "output_len": workload.output_len, "decode_context": workload.decode_context,
        "weight_bytes": DTYPE_BYTES[workload.weight_dtype],
        "expert_weight_bytes": DTYPE_BYTES[workload.expert_dtype],
        "kv_bytes": DTYPE_BYTES[workload.kv_dtype],
        "activation_bytes": DTYPE_BYTES[workload.activation_dtype],
        "dispatch_bytes": DTYPE_BYTES[workload.dispatch_dtype],
        "expert_imbalance_given": workload.expert_imbalance,
        "capacity_factor": workload.capacity_factor, "comm_overlap": workload.comm_overlap,
        "redundant_experts": workload.redundant_experts, "draft_tokens": workload.draft_tokens,
        "accepted_tokens": workload.accepted_tokens,
    }


def strategy_inputs(strategy: Strategy) -> dict[str, float]:
    """Input symbol values of a strategy (folded degrees)."""
    return {"dp": strategy.dp, "tp": strategy.tp, "pp": strategy.pp, "ep": strategy.ep,
            "etp": strategy.etp, "microbatches": strategy.microbatches}


def all_inputs(model, hardware, workload, strategy, stack: Stack = NO_STACK) -> dict[str, float]:
    return {**model_inputs(model), **hardware_inputs(hardware, workload, stack),
            **workload_inputs(workload), **strategy_inputs(strategy)}


# --- labelled results ----------------------------------------------------------------

MEMORY_COMPONENTS = {
    "attention weights": "attention_weight_bytes_per_gpu",
    "expert weights": "expert_weight_bytes_per_gpu",
    "shared-expert weights": "shared_expert_weight_bytes_per_gpu",
    "dense FFN weights": "dense_ffn_weight_bytes_per_gpu",
    "embedding + LM head": "embedding_weight_bytes_per_gpu",
    "KV cache": "kv_cache_bytes_per_gpu",
    "activations": "activation_bytes_per_gpu",
    "MoE dispatch buffers": "dispatch_buffer_bytes_per_gpu",
    "runtime overhead": "runtime_overhead_bytes",
}

#: op -> (formula prefix or collective time, how many per stage: formula name or (factor, name))
OPS = {
    "attention_proj": "layers_per_stage",
    "attention_core": "layers_per_stage",
    "router": "moe_layers_per_stage",
    "experts": "moe_layers_per_stage",
    "shared_experts": "moe_layers_per_stage",
    "dense_ffn": "dense_layers_per_stage",
    "layer_elementwise": "layers_per_stage",
    "lm_head": None,
}
COLLECTIVES = {
    "tp_allreduce": ("tp_allreduce_time_s", 2, "layers_per_stage"),
    "ep_alltoall": ("ep_alltoall_time_s", 2, "moe_layers_per_stage"),
    "pp_send": ("pp_send_time_s", 1, None),
}


@dataclass(frozen=True)
class Evaluation:
    """What one deployment costs: every formula's value plus labelled tables."""

    model: Model
    hardware: Hardware
    workload: Workload
    strategy: Strategy
    values: dict  # formula or input name -> float
    stack: Stack = NO_STACK  # the serving software every time assumes

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    @property
    def memory(self) -> pd.DataFrame:
        """Memory on the busiest GPU by component, in bytes, GB (1e9) and GiB (2^30)."""
        rows = [(label, self.values[name]) for label, name in MEMORY_COMPONENTS.items()]
        df = pd.DataFrame(rows, columns=["component", "bytes"])
        df["gb"] = df["bytes"] / 1e9
        df["gib"] = df["bytes"] / 2**30
        df["share_of_capacity"] = df["bytes"] / self.hardware.memory_bytes
        return df

    @property
    def ops(self) -> pd.DataFrame:
        """Time per op on the busiest stage, per phase, with the bound that sets it (collectives at
        the share the overlap leaves exposed)."""
        rows = []
        for phase in PHASES:
            prefix = phase + "_"

            def get(name: str, prefix: str = prefix) -> float:
                return self.values.get(prefix + name, self.values.get(name))

            collectives = {op: (per_layer * (1.0 if count_name is None else get(count_name)), get(name))
                           for op, (name, per_layer, count_name) in COLLECTIVES.items()}
            raw = sum(count * t for count, t in collectives.values())
            exposed = get("stage_comm_time_s") / raw if raw > 0 else 1.0  # the share overlap leaves
            for op, count_name in OPS.items():
                count = 1.0 if count_name is None else get(count_name)
                if count == 0 or get(f"{op}_time_s") == 0:
                    continue
                compute, memory = get(f"{op}_compute_time_s"), get(f"{op}_memory_time_s")
                rows.append(dict(phase=phase, op=op, count=count,
                                 flops_per_gpu=get(f"{op}_flops_per_gpu"),
                                 bytes_per_gpu=get(f"{op}_bytes_per_gpu"),
                                 compute_s=compute, memory_s=memory, comm_s=0.0,
                                 time_s=count * get(f"{op}_time_s"),
                                 bound="compute" if compute >= memory else "memory"))
            for op, (count, t) in collectives.items():
                if count == 0 or t == 0:
                    continue
                rows.append(dict(phase=phase, op=op, count=count, flops_per_gpu=0.0,
                                 bytes_per_gpu=np.nan, compute_s=0.0, memory_s=0.0, comm_s=t,
                                 time_s=count * t * exposed, bound="communication"))
        return pd.DataFrame(rows)

    @property
    def summary(self) -> pd.DataFrame:
        """Headline numbers with units."""
        names = [
            ("total_params", "params"), ("active_params", "params"), ("gpus", "GPUs"),
            ("memory_bytes_per_gpu", "B"), ("memory_fraction", "1"), ("ttft_s", "s"),
            ("tpot_s", "s"), ("request_latency_s", "s"), ("prefill_tokens_per_s_per_gpu", "1/s"),
            ("decode_tokens_per_s_per_gpu", "1/s"), ("ttft_lower_bound_s", "s"),
            ("tpot_lower_bound_s", "s"), ("prefill_expert_imbalance", "1"),
            ("decode_expert_imbalance", "1"), ("pipeline_bubble", "1"),
        ]
        return pd.DataFrame([(n, self.values[n], u) for n, u in names],
                            columns=["quantity", "value", "unit"])

    def _repr_html_(self) -> str:
        """In Jupyter: the headline numbers in readable units, the stack every time assumes."""
        v, w = self.values, self.workload
        rows = [("parameters", f"{v['total_params'] / 1e9:.2f} B total, "
                               f"{v['active_params'] / 1e9:.2f} B active"),
                ("memory per GPU", f"{v['memory_bytes_per_gpu'] / 1e9:.2f} GB of "
                                   f"{self.hardware.memory_bytes / 1e9:.0f} GB"),
                ("TTFT", f"{v['ttft_s'] * 1e3:.3g} ms (bound {v['ttft_lower_bound_s'] * 1e3:.3g} ms)"),
                ("TPOT", f"{v['tpot_s'] * 1e3:.3g} ms (bound {v['tpot_lower_bound_s'] * 1e3:.3g} ms)"),
                ("decode", f"{v['decode_tokens_per_s_per_gpu']:,.0f} tokens/s per GPU"),
                ("prefill", f"{v['prefill_tokens_per_s_per_gpu']:,.0f} tokens/s per GPU")]
        body = "".join(f"<tr><td>{k}</td><td style='text-align:left'>{html.escape(x)}</td></tr>"
                       for k, x in rows)
        title = (f"{self.model.name} on {v['gpus']:.0f} x {self.hardware.name}, {self.strategy.label}, "
                 f"batch {w.batch} x {w.prompt_len} tokens; stack {self.stack.name} ({self.stack.engine})")
        return f"<p><b>{html.escape(title)}</b></p><table>{body}</table>"

    def to_dict(self) -> dict:
        """JSON-ready result; names match the CLI's and the planner's."""
        v = self.values
        memory = {name: v[name] for name in MEMORY_COMPONENTS.values()}
        return {
            "model": self.model.name, "hardware": self.hardware.name, "stack": self.stack.name,
            "stack_engine": self.stack.engine,
            "strategy": strategy_dict(self.strategy),
            "workload": {"batch": self.workload.batch, "prompt_len": self.workload.prompt_len,
                         "output_len": self.workload.output_len,
                         "decode_context": self.workload.decode_context,
                         "weight_dtype": self.workload.weight_dtype,
                         "kv_dtype": self.workload.kv_dtype,
                         "compute_dtype": self.workload.compute_dtype},
            "efficiency_inputs": {"mfu": self.hardware.mfu,
                                  "hbm_utilization": self.hardware.hbm_utilization,
                                  "gemm_half_rows": self.hardware.gemm_half_rows,
                                  "hbm_half_bytes": self.hardware.hbm_half_bytes,
                                  "kernel_overhead_s": self.hardware.kernel_overhead,
                                  "comm_overlap": self.workload.comm_overlap},
            "total_params": v["total_params"], "active_params": v["active_params"],
            "gpus": int(v["gpus"]),
            "memory_per_gpu_bytes": v["memory_bytes_per_gpu"],
            "memory_capacity_bytes": self.hardware.memory_bytes,
            "memory_breakdown_bytes": memory,
            "fits": bool(v["memory_bytes_per_gpu"] <= self.hardware.memory_bytes),
            "ttft_s": v["ttft_s"], "tpot_s": v["tpot_s"],
            "request_latency_s": v["request_latency_s"],
            "prefill_tokens_per_s_per_gpu": v["prefill_tokens_per_s_per_gpu"],
            "decode_tokens_per_s_per_gpu": v["decode_tokens_per_s_per_gpu"],
            "expert_imbalance": {"prefill": v["prefill_expert_imbalance"],
                                 "decode": v["decode_expert_imbalance"]},
            "lower_bounds": {
                "ttft_s": v["ttft_lower_bound_s"], "tpot_s": v["tpot_lower_bound_s"],
                "prefill_tokens_per_s_per_gpu": v["prefill_tokens_per_s_per_gpu_upper_bound"],
                "decode_tokens_per_s_per_gpu": v["decode_tokens_per_s_per_gpu_upper_bound"],
            },
        }


def strategy_dict(strategy: Strategy) -> dict:
    return {"dp": strategy.dp, "tp": strategy.tp, "pp": strategy.pp, "ep": strategy.ep,
            "etp": strategy.etp, "edp": strategy.edp, "microbatches": strategy.microbatches,
            "convention": strategy.convention, "notation": strategy.notation or strategy.label,
            "label": strategy.label}


def evaluate(model: Model, hardware: Hardware, workload: Workload, strategy: Strategy,
             check: bool = True, stack: Stack | str | None = None) -> Evaluation:
    """Cost of one deployment on a serving `stack` (a name such as 'sglang', a Stack, or None:
    the GPU preset's efficiencies alone). With `check`, degrees that do not divide the model raise."""
    if check:
        strategy.check_fits(model)
    stack = load_stack(stack)
    raw = evaluate_arrays(model.attention, all_inputs(model, hardware, workload, strategy, stack))
    return Evaluation(model, stack.on(hardware), workload, strategy,
                      {name: float(value) for name, value in raw.items()}, stack)


def model_only_inputs() -> dict:
    """Neutral non-model inputs, for quantities that depend on the model alone (parameters)."""
    gpu = Hardware(name="unit", peak_flops={"bf16": 1.0}, hbm_bandwidth=1.0, memory_bytes=1.0)
    return {**hardware_inputs(gpu, "bf16"), **workload_inputs(Workload(batch=1, prompt_len=1)),
            **strategy_inputs(Strategy())}
