"""The strategy space: every valid (dp, tp, pp, ep, etp, microbatches) for one deployment.

Folded convention (DESIGN.md): world = dp * tp * pp; experts fold onto the dp * tp GPUs of
each stage as ep * etp * edp. A strategy the seeds write in the product convention
(EP64-TP8-PP2-DP2) is the folded one with dp = dp * ep and etp = tp, so the folded space
holds it; `product_notation` writes such candidates the seeds' way.

The candidates are built as numpy arrays by successive cross-joins and masks, never one
strategy at a time. Every limit that shapes the space is a field of `SpaceLimits`, shown with
the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from moekit.spec.inputs import Hardware, Model, Strategy, Targets, Workload, divisors

DEGREES = ("dp", "tp", "pp", "ep", "etp", "microbatches")


@dataclass(frozen=True)
class SpaceLimits:
    """What the search may choose. 0 means "no limit beyond the model's own"."""

    tp_within_node: bool = True  # tp divides gpus_per_node: TP all-reduce stays on NVLink
    etp_within_node: bool = True  # etp divides gpus_per_node: expert-TP stays on NVLink
    even_batch_split: bool = True  # dp * microbatches divides the batch (else padded, shown)
    even_layer_split: bool = False  # pp divides num_layers (else uneven stages, shown)
    max_pp: int = 0  # 0: up to num_layers
    max_microbatches: int = 0  # 0: as many as the batch allows

    def as_dict(self) -> dict:
        return asdict(self)


def stage_layers(num_layers: int, pp: int) -> list[int]:
    """Layers of each pipeline stage: the first L mod pp stages take one more."""
    base, extra = divmod(num_layers, pp)
    return [base + (1 if s < extra else 0) for s in range(pp)]


def gpu_counts(targets: Targets) -> tuple[int, int]:
    """(fewest, most) GPUs the space may use: the exact budget, or 1..max_gpus when ample."""
    return (targets.gpus, targets.gpus) if targets.gpus else (1, targets.max_gpus)


def _choices(model: Model, hardware: Hardware, workload: Workload,
             limits: SpaceLimits) -> dict[str, np.ndarray]:
    gpn = hardware.gpus_per_node
    tps = [t for t in divisors(model.num_heads) if not limits.tp_within_node or gpn % t == 0]
    max_pp = min(model.num_layers, limits.max_pp or model.num_layers)
    pps = [p for p in range(1, max_pp + 1)
           if not limits.even_layer_split or model.num_layers % p == 0]
    split = divisors(workload.batch) if limits.even_batch_split else range(1, workload.batch + 1)
    if model.is_moe:
        eps = divisors(model.num_experts)
        etps = [e for e in divisors(model.expert_ffn_dim)
                if not limits.etp_within_node or gpn % e == 0]
    else:
        eps, etps = [1], [1]
    as_array = lambda values: np.asarray(list(values), dtype=np.int64)  # noqa: E731
    return {"tp": as_array(tps), "pp": as_array(pps), "dp": as_array(split),
            "ep": as_array(eps), "etp": as_array(etps), "m": as_array(split)}


def _cross(table: dict[str, np.ndarray], name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    """Every row of `table` with every value of `values` as column `name`."""
    rows = len(next(iter(table.values())))
    out = {k: np.repeat(v, len(values)) for k, v in table.items()}
    out[name] = np.tile(values, rows)
    return out


def _keep(table: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in table.items()}


def enumerate_space(model: Model, hardware: Hardware, workload: Workload,
                    targets: Targets | None = None,
                    limits: SpaceLimits | None = None) -> pd.DataFrame:
    """Every valid strategy as one row of integer degrees plus what the split implies.

    Columns: dp, tp, pp, ep, etp, microbatches, edp, gpus, nodes, layers_per_stage (the
    busiest stage, ceil(L/pp)), min_layers_per_stage, uneven_layers, seqs_per_microbatch
    (ceil(B / (dp*m))), batch_padding (empty sequence slots when the split is uneven),
    product_form (expressible in the seeds' product convention).
    """
    targets = targets or Targets()
    limits = limits or SpaceLimits()
    c = _choices(model, hardware, workload, limits)
    low, high = gpu_counts(targets)
    B = workload.batch

    t = {"tp": c["tp"]}
    t = _cross(t, "pp", c["pp"])
    t = _keep(t, t["tp"] * t["pp"] <= high)
    t = _cross(t, "dp", c["dp"])
    world = t["dp"] * t["tp"] * t["pp"]
    t = _keep(t, (world >= low) & (world <= high))
    t = _cross(t, "ep", c["ep"])
    t = _cross(t, "etp", c["etp"])
    t = _keep(t, (t["dp"] * t["tp"]) % (t["ep"] * t["etp"]) == 0)
    t = _cross(t, "microbatches", c["m"])
    m, dp = t["microbatches"], t["dp"]
    fits_batch = B % (dp * m) == 0 if limits.even_batch_split else dp * m <= B
    if limits.max_microbatches:
        fits_batch &= m <= limits.max_microbatches
    t = _keep(t, fits_batch)

    return derived_columns(pd.DataFrame({k: t[k] for k in DEGREES}), model.num_layers, B,
                           hardware.gpus_per_node)


def derived_columns(df: pd.DataFrame, layers: int, batch: int, gpus_per_node: int) -> pd.DataFrame:
    """Add what the degrees imply: edp, GPUs, nodes, layer split, batch split, product form."""
    df = df.copy()
    df["edp"] = df.dp * df.tp // (df.ep * df.etp)
    df["gpus"] = df.dp * df.tp * df.pp
    df["nodes"] = -(-df.gpus // gpus_per_node)
    df["layers_per_stage"] = -(-layers // df.pp)
    df["min_layers_per_stage"] = layers // df.pp
    df["uneven_layers"] = df.layers_per_stage != df.min_layers_per_stage
    df["seqs_per_microbatch"] = -(-batch // (df.dp * df.microbatches))
    df["batch_padding"] = df.seqs_per_microbatch * df.dp * df.microbatches - batch
    df["product_form"] = (df.etp == df.tp) & (df.dp % df.ep == 0)
    return df


def product_notation(dp: int, tp: int, pp: int, ep: int, etp: int) -> str:
    """The seeds' product notation (EP-TP-PP-DP, world = ep*tp*pp*dp) of a folded strategy, or ''."""
    if etp != tp or dp % ep:
        return ""
    return f"EP{ep}-TP{tp}-PP{pp}-DP{dp // ep}"


def violations(strategy: Strategy, model: Model, hardware: Hardware, workload: Workload,
               targets: Targets | None = None, limits: SpaceLimits | None = None) -> list[str]:
    """Why `strategy` lies outside the space (empty when it is a valid candidate)."""
    targets = targets or Targets()
    limits = limits or SpaceLimits()
    gpn = hardware.gpus_per_node
    s = strategy
    out = []
    if model.num_heads % s.tp:
        out.append(f"tp={s.tp} does not divide {model.num_heads} attention heads")
    if limits.tp_within_node and gpn % s.tp:
        out.append(f"tp={s.tp} does not divide gpus_per_node={gpn}: the TP group leaves the node")
    if model.is_moe:
        if model.num_experts % s.ep:
            out.append(f"ep={s.ep} does not divide {model.num_experts} experts")
        if model.expert_ffn_dim % s.etp:
            out.append(f"etp={s.etp} does not divide expert_ffn_dim={model.expert_ffn_dim}")
        if limits.etp_within_node and gpn % s.etp:
            out.append(f"etp={s.etp} does not divide gpus_per_node={gpn}: expert-TP leaves the node")
    elif s.ep > 1 or s.etp > 1:
        out.append(f"ep={s.ep}, etp={s.etp} need a model with experts")
    if s.pp > model.num_layers:
        out.append(f"pp={s.pp} exceeds {model.num_layers} layers")
    elif limits.max_pp and s.pp > limits.max_pp:
        out.append(f"pp={s.pp} exceeds max_pp={limits.max_pp}")
    elif limits.even_layer_split and model.num_layers % s.pp:
        out.append(f"pp={s.pp} does not divide {model.num_layers} layers evenly")
    split = s.dp * s.microbatches
    if limits.even_batch_split and workload.batch % split:
        out.append(f"batch={workload.batch} does not split into dp*microbatches={split} equal parts")
    elif split > workload.batch:
        out.append(f"dp*microbatches={split} exceeds batch={workload.batch}: a micro-batch is empty")
    if limits.max_microbatches and s.microbatches > limits.max_microbatches:
        out.append(f"microbatches={s.microbatches} exceeds max_microbatches={limits.max_microbatches}")
    low, high = gpu_counts(targets)
    if targets.gpus and s.gpus != targets.gpus:
        out.append(f"uses {s.gpus} GPUs, the budget is {targets.gpus}")
    elif not low <= s.gpus <= high:
        out.append(f"uses {s.gpus} GPUs, more than max_gpus={high}")
    return out
