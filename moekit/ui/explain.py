"""Formulas as a reader meets them: LaTeX with symbols and units, swept numbers, one-line meaning.

Nothing here restates an equation: every number comes from the registry's formulas through
`evaluate_arrays`, swept over numpy arrays (the same lambdified code the CLI and audit use).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sympy as sp

from moekit.audit.verdicts import fmt
from moekit.evaluate import all_inputs, evaluate, evaluate_arrays
from moekit.formulas import REGISTRY, SYMBOLS
from moekit.plan.search import label_of, search
from moekit.spec.inputs import Hardware, Model, Strategy, Workload
from moekit.spec.presets import load_hardware


def _printed_names() -> dict[str, str]:
    """name -> LaTeX of every input symbol and formula (the registry keeps them unique)."""
    return {**{n: s.latex for n, s in SYMBOLS.items()}, **{n: f.latex for n, f in REGISTRY.items()}}


PRINTED = _printed_names()

#: symbol -> how it is printed (inputs and formulas by their LaTeX names)
_LATEX_NAMES = {
    **{sp.Symbol(n, nonnegative=True, real=True): text for n, text in PRINTED.items()},
    **{sp.Symbol(f"{p}_{f.name}", nonnegative=True, real=True): f"{PRINTED[f.name]}^{{({p})}}"
       for f in REGISTRY.values() for p in ("prefill", "decode")},
}


def formula_latex(name: str, attention: str = "gqa") -> str:
    """`LHS = RHS` of a registry formula in LaTeX, in the named symbols it is written with."""
    f = REGISTRY[name]
    rhs = sp.latex(f.expr_for(attention), symbol_names=_LATEX_NAMES, mul_symbol="dot")
    return f"{PRINTED[name]} = {rhs}"


def symbols_of(name: str, attention: str = "gqa") -> pd.DataFrame:
    """The symbols one formula is written in: printed name, meaning and unit."""
    f = REGISTRY[name]
    rows = []
    for s in sorted(f.expr_for(attention).free_symbols, key=lambda s: s.name):
        if s.name in SYMBOLS:
            info = SYMBOLS[s.name]
            rows.append((f"${info.latex}$", s.name, info.description, info.unit))
        elif s.name in REGISTRY:
            g = REGISTRY[s.name]
            rows.append((f"${PRINTED[g.name]}$", s.name, g.doc, g.unit))
    return pd.DataFrame(rows, columns=["symbol", "name", "meaning", "unit"])


def formula_markdown(*names: str, attention: str = "gqa") -> str:
    """Markdown for one or more formulas: doc and unit, then the equation as display LaTeX."""
    parts = []
    for name in names:
        f = REGISTRY[name]
        parts.append(f"**{name}** [{f.unit}]: {f.doc}\n\n$${formula_latex(name, attention)}$$")
    return "\n\n".join(parts)


def show_formulas(*names: str, attention: str = "gqa"):
    """IPython Markdown of `formula_markdown` (for notebooks)."""
    from IPython.display import Markdown

    return Markdown(formula_markdown(*names, attention=attention))


def sweep(model: Model, hardware: Hardware, workload: Workload, strategy: Strategy,
          **overrides) -> dict[str, np.ndarray]:
    """Every formula at every point of `overrides` (input name -> scalar or array), broadcast."""
    inputs = all_inputs(model, hardware, workload, strategy)
    unknown = sorted(set(overrides) - set(inputs))
    if unknown:
        raise KeyError(f"unknown input(s) {', '.join(unknown)}; inputs: {', '.join(sorted(inputs))}")
    inputs.update(overrides)
    return evaluate_arrays(model.attention, inputs)


def ridge_intensity(hardware: Hardware, dtype: str = "bf16") -> float:
    """FLOP per byte above which an op is compute-bound at the achieved rates (MFU, HBM util)."""
    return hardware.peak_for(dtype) * hardware.mfu / (hardware.hbm_bandwidth * hardware.hbm_utilization)


ONE_GPU = Strategy()  # every degree 1


@dataclass(frozen=True)
class Finding:
    """A worked number and what it means."""

    value: float
    unit: str
    meaning: str

    def __str__(self) -> str:
        return self.meaning


def expert_gemm_intensity(model: Model, hardware: Hardware, workload: Workload,
                          strategy: Strategy = ONE_GPU, phase: str = "decode") -> Finding:
    """FLOP per HBM byte of the routed-expert GEMMs on the busiest GPU, against the ridge point."""
    v = sweep(model, hardware, workload, strategy)
    intensity = float(v[f"{phase}_experts_flops_per_gpu"] / v[f"{phase}_experts_bytes_per_gpu"])
    ridge = ridge_intensity(hardware, workload.compute_dtype)
    tokens = float(v[f"{phase}_tokens_per_rank"]) * model.top_k / max(model.num_experts, 1)
    bound = "compute-bound" if intensity >= ridge else "memory-bound"
    return Finding(intensity, "FLOP/B",
                   f"{phase} at batch {workload.batch}: each expert sees ~{tokens:.3g} tokens, the "
                   f"expert GEMMs do {intensity:.3g} FLOP per byte read; {hardware.name} at MFU "
                   f"{hardware.mfu:.2f} and HBM utilisation {hardware.hbm_utilization:.2f} needs "
                   f"{ridge:.3g} to be compute-bound, so they are {bound}.")


def _phased(values: dict, phase: str, name: str) -> np.ndarray:
    """A formula's value in `phase` (formulas that do not depend on the phase have one value)."""
    return values.get(f"{phase}_{name}", values.get(name))


BATCH_GRID = np.unique(np.round(np.logspace(0, 6, 2401)).astype(int))


def compute_bound_batches(model: Model, hardware: Hardware, workload: Workload,
                          strategy: Strategy = ONE_GPU, phase: str = "decode") -> pd.DataFrame:
    """For each op, the smallest batch (sequences) at which it turns compute-bound, or NaN."""
    v = sweep(model, hardware, workload, strategy, batch=BATCH_GRID)
    rows = []
    for op in ("attention_proj", "attention_core", "router", "experts", "shared_experts",
               "dense_ffn", "lm_head"):
        flops = _phased(v, phase, f"{op}_flops_per_gpu")
        if not np.any(flops > 0):
            continue
        compute = (_phased(v, phase, f"{op}_compute_time_s")
                   >= _phased(v, phase, f"{op}_memory_time_s"))
        batch = float(BATCH_GRID[np.argmax(compute)]) if compute.any() else np.nan
        rows.append((op, batch))
    return pd.DataFrame(rows, columns=["op", "compute_bound_from_batch"])


def decode_compute_bound_batch(model: Model, hardware: Hardware, workload: Workload,
                               strategy: Strategy = ONE_GPU) -> Finding:
    """The decode batch at which the routed experts turn compute-bound."""
    table = compute_bound_batches(model, hardware, workload, strategy, "decode")
    batch = float(table.set_index("op").loc["experts", "compute_bound_from_batch"])
    ridge = ridge_intensity(hardware, workload.compute_dtype)
    where = (f"from a batch of {batch:,.0f} sequences" if np.isfinite(batch)
             else "at no batch up to 1,000,000 sequences")
    return Finding(batch, "sequences",
                   f"{model.name} on {hardware.name} ({strategy.label}): decode expert GEMMs turn "
                   f"compute-bound {where}; ridge point {ridge:.3g} FLOP/B. Below it, a decode "
                   "step costs the weights it reads, whatever the batch.")


def expected_experts_hit(model: Model, tokens, num_experts=None, top_k=None) -> np.ndarray:
    """Expected distinct experts of one layer that `tokens` decode tokens read (one EP group)."""
    tokens = np.asarray(tokens, dtype=float)
    overrides = {"batch": tokens}
    if num_experts is not None:
        overrides["num_experts"] = num_experts
    if top_k is not None:
        overrides["top_k"] = top_k
    v = sweep(model, load_hardware("h100-sxm"), Workload(batch=1, prompt_len=1), Strategy(),
              **overrides)
    return v["decode_expected_experts_hit"]


def experts_hit_finding(model: Model, tokens: int, num_experts: int | None = None,
                        top_k: int | None = None) -> Finding:
    """Expected distinct experts read by a decode batch, and the share of expert weights read."""
    e = num_experts or model.num_experts
    k = top_k or model.top_k
    hit = float(expected_experts_hit(model, tokens, e, k))
    return Finding(hit, "experts",
                   f"{tokens} tokens routed top-{k} over {e} experts read {hit:.1f} distinct experts "
                   f"per layer on average ({hit / e:.0%} of the expert weights; the naive "
                   f"min(E, k*B) would say {min(e, k * tokens)}).")


def tp_allreduce_vs_compute(model: Model, hardware: Hardware, workload: Workload,
                            tps=(2, 4, 8, 16), tokens=None, phase: str = "decode") -> pd.DataFrame:
    """Per tp and tokens per rank: two TP all-reduces of a layer against the TP-split op time.

    TP splits the attention projections and core, shared experts and dense FFNs; their
    roofline time per layer on one GPU is set against 2 x t_AR (after attention, after FFN).
    """
    tokens = BATCH_GRID[BATCH_GRID <= 65536] if tokens is None else np.asarray(tokens)
    tp = np.asarray(tps, dtype=float)[:, None]
    batch = np.asarray(tokens, dtype=float)[None, :]
    v = sweep(model, hardware, workload, Strategy(), batch=batch, tp=tp)
    split = sum(_phased(v, phase, f"{op}_time_s") for op in
                ("attention_proj", "attention_core", "shared_experts", "dense_ffn"))
    comm = 2 * _phased(v, phase, "tp_allreduce_time_s")
    frame = pd.DataFrame({
        "tp": np.broadcast_to(tp, split.shape).ravel().astype(int),
        "tokens_per_rank": np.broadcast_to(batch, split.shape).ravel().astype(int),
        "split_compute_s": split.ravel(), "allreduce_s": comm.ravel(),
    })
    frame["allreduce_over_compute"] = frame["allreduce_s"] / frame["split_compute_s"]
    return frame


def tp_breakeven(frame: pd.DataFrame) -> pd.DataFrame:
    """Per tp: the fewest tokens per rank at which the split compute outweighs the all-reduce."""
    rows = []
    for tp, group in frame.groupby("tp"):
        cheaper = group[group["allreduce_over_compute"] <= 1]
        rows.append((tp, float(cheaper["tokens_per_rank"].min()) if len(cheaper) else np.nan,
                     float(group["allreduce_over_compute"].iloc[-1])))
    return pd.DataFrame(rows, columns=["tp", "breakeven_tokens_per_rank", "ratio_at_most_tokens"])


def compare(evaluations: dict) -> pd.DataFrame:
    """One row per labelled Evaluation: memory against capacity, latency and throughput per GPU."""
    rows = []
    for label, e in evaluations.items():
        v = e.values
        rows.append(dict(
            label=label, model=e.model.name, gpu=e.hardware.name, strategy=e.strategy.label,
            gpus=int(v["gpus"]), weights_gb=v["weight_bytes_per_gpu"] / 1e9,
            kv_cache_gb=v["kv_cache_bytes_per_gpu"] / 1e9, memory_gb=v["memory_bytes_per_gpu"] / 1e9,
            capacity_gb=e.hardware.memory_bytes / 1e9,
            fits=bool(v["memory_bytes_per_gpu"] <= e.hardware.memory_bytes),
            ttft_ms=v["ttft_s"] * 1e3, tpot_ms=v["tpot_s"] * 1e3,
            decode_tokens_per_s_per_gpu=v["decode_tokens_per_s_per_gpu"]))
    return pd.DataFrame(rows).set_index("label")


def fit_table(models: dict, gpus: dict, strategies: list[str], workload: Workload) -> pd.DataFrame:
    """Every model x GPU x strategy (folded notation): does it fit, and what does it cost?"""
    runs = {}
    for mname, model in models.items():
        for gname, gpu in gpus.items():
            for text in strategies:
                strategy = Strategy.parse(text, "folded")
                runs[f"{mname} | {gname} | {text}"] = evaluate(model, gpu, workload, strategy)
    return compare(runs)


def kv_cache_per_token(model: Model, kv_dtype: str = "bf16") -> float:
    """KV-cache bytes one token adds over all layers (registry `kv_elements_per_token`)."""
    v = sweep(model, load_hardware("h100-sxm"), Workload(batch=1, prompt_len=1, kv_dtype=kv_dtype),
              ONE_GPU)
    return float(v["kv_elements_per_token"] * model.num_layers * v["kv_bytes"])


def best_strategies(models: dict, gpus: dict, workload: Workload, targets,
                    objective: str = "decode_throughput") -> pd.DataFrame:
    """moekit's best strategy for every model x GPU under `targets` (vectorised search)."""
    rows = []
    for mname, model in models.items():
        for gname, gpu in gpus.items():
            plan = search(model, gpu, workload, targets, objective)
            row = plan.best if plan.feasible else plan.nearest.iloc[0]
            rows.append(dict(model=mname, gpu=gname, strategy=label_of(row),
                             meets_targets=bool(plan.feasible), gpus=int(row["gpus"]),
                             memory_gib=row["memory_per_gpu_bytes"] / 2**30,
                             ttft_ms=row["ttft_s"] * 1e3, tpot_ms=row["tpot_s"] * 1e3,
                             decode_tokens_per_s_per_gpu=row["decode_tokens_per_s_per_gpu"],
                             candidates=len(plan.table)))
    return pd.DataFrame(rows)


def scenario_table(scenario) -> pd.DataFrame:
    """A scenario as stated: model, GPU, workload, strategy (both readings) and targets."""
    s, m, w = scenario, scenario.model, scenario.workload
    rows = [("document", s.source), ("title", s.title), ("model", m.name),
            ("layers / d_model / heads", f"{m.num_layers} / {m.d_model} / {m.num_heads} ({m.attention})"),
            ("experts / top-k / expert ffn", f"{m.num_experts} / {m.top_k} / {m.expert_ffn_dim}"),
            ("GPU", f"{s.hardware.name}: {s.hardware.memory_bytes / 1e9:g} GB, MFU {s.hardware.mfu:g}, "
                    f"HBM util {s.hardware.hbm_utilization:g}"),
            ("workload", f"batch {w.batch}, prompt {w.prompt_len}, output {w.output_len}, "
                         f"{w.precisions}")]
    if s.strategy is not None:
        rows.append(("strategy", f"{s.strategy.notation or s.strategy.label} read as "
                                 f"{s.strategy.convention}: {s.strategy.label} ({s.strategy.gpus} GPUs)"))
    targets = {k: v for k, v in dataclasses.asdict(s.targets).items() if v not in (None, 0, 0.0)}
    rows.append(("targets", ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in targets.items())))
    rows += [(f"missing: {n.name}", n.text) for n in s.missing]
    rows += [(f"assumed: {n.name}", n.text) for n in s.assumptions]
    return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")


def audit_table(document_audit) -> pd.DataFrame:
    """One row per claim: claimed and recomputed value, ratio, verdict and its explanation."""
    rows = []
    for v in document_audit.verdicts:
        c = v.claim
        rows.append(dict(id=c.id, quantity=c.quantity, claimed=f"{fmt(c.value)} {c.unit}",
                         recomputed=f"{fmt(v.recomputed_value)} {c.unit}" if v.recomputed_si else "n/a",
                         ratio=fmt(v.ratio), verdict=v.verdict, explanation=v.explanation,
                         reproduced_by="; ".join(v.reproduced_by)))
    return pd.DataFrame(rows).set_index("id")


def size_check(scenario, evaluation) -> pd.DataFrame:
    """The model size a document states against the size its stated architecture implies."""
    stated = scenario.stated.get("model_params")
    total, active = evaluation["total_params"], evaluation["active_params"]
    rows = [("stated size", f"{stated / 1e9:g} B" if stated else "not stated"),
            ("architecture implies (total)", f"{total / 1e9:.4g} B"),
            ("architecture implies (active per token)", f"{active / 1e9:.4g} B")]
    if stated:
        rows.append(("stated / implied", f"{stated / total:.3g}x"))
    return pd.DataFrame(rows, columns=["quantity", "parameters"]).set_index("quantity")
