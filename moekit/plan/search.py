"""Search the strategy space: one vectorised evaluation, targets, objective, Pareto front.

`search` enumerates the space (moekit.plan.space), evaluates every candidate (and the document's
own strategy, when given) in ONE `evaluate_arrays` call, checks each against the targets,
ranks the ones that meet them by the objective, and says which constraint binds. When no
candidate meets the targets it says so and lists the nearest ones with how far each misses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from moekit.errors import SpecError
from moekit.evaluate import (
    evaluate,
    evaluate_arrays,
    hardware_inputs,
    model_inputs,
    strategy_dict,
    workload_inputs,
)
from moekit.plan.space import (
    DEGREES,
    SpaceLimits,
    derived_columns,
    enumerate_space,
    product_notation,
    violations,
)
from moekit.spec.inputs import Hardware, Model, Strategy, Targets, Workload
from moekit.spec.stack import NO_STACK, Stack, load_stack


@dataclass(frozen=True)
class Objective:
    """What "best" means: a column to minimise or maximise, and the Pareto axes it trades."""

    name: str
    column: str
    maximize: bool
    latency: str  # Pareto front: latency axis (lower is better)
    throughput: str  # Pareto front: throughput-per-GPU axis (higher is better)
    doc: str


#: The default Pareto axes: TTFT against decode tokens/s per GPU (and GPU count). At a fixed
#: budget and batch, decode throughput per GPU is B / (TPOT x G) and prefill throughput is
#: B S / (TTFT x G), so TPOT-vs-decode or TTFT-vs-prefill fronts collapse to one point; the
#: first-token latency against generation throughput is the trade a deployer actually makes.
FRONT = ("ttft_s", "decode_tokens_per_s_per_gpu")

OBJECTIVES = {
    o.name: o for o in (
        Objective("decode_throughput", "decode_tokens_per_s_per_gpu", True, *FRONT,
                  "highest decode tokens/s per GPU"),
        Objective("prefill_throughput", "prefill_tokens_per_s_per_gpu", True, *FRONT,
                  "highest prefill tokens/s per GPU"),
        Objective("tpot", "tpot_s", False, *FRONT, "lowest time per output token"),
        Objective("ttft", "ttft_s", False, *FRONT, "lowest time to first token"),
        Objective("request_latency", "request_latency_s", False, *FRONT,
                  "lowest request latency (TTFT + (O-1) TPOT)"),
        Objective("gpus", "gpus", False, *FRONT, "fewest GPUs"),
    )
}
DEFAULT_OBJECTIVE = "decode_throughput"

#: after the objective, ties go to fewer GPUs, lower latency, less memory, simpler degrees
TIE_BREAKS = ("gpus", "tpot_s", "ttft_s", "memory_per_gpu_bytes", "pp", "tp", "ep", "etp",
              "microbatches", "dp")

#: evaluated formula -> table column (units in the names; same names as `moekit evaluate`)
METRICS = {
    "ttft_s": "ttft_s", "tpot_s": "tpot_s", "request_latency_s": "request_latency_s",
    "prefill_tokens_per_s_per_gpu": "prefill_tokens_per_s_per_gpu",
    "decode_tokens_per_s_per_gpu": "decode_tokens_per_s_per_gpu",
    "memory_bytes_per_gpu": "memory_per_gpu_bytes", "weight_bytes_per_gpu": "weight_bytes_per_gpu",
    "kv_cache_bytes_per_gpu": "kv_cache_bytes_per_gpu", "memory_fraction": "memory_fraction",
    "prefill_expert_imbalance": "prefill_expert_imbalance",
    "decode_expert_imbalance": "decode_expert_imbalance", "pipeline_bubble": "pipeline_bubble",
    "ep_local_peers": "ep_local_peers", "ttft_lower_bound_s": "ttft_lower_bound_s",
    "tpot_lower_bound_s": "tpot_lower_bound_s",
}


@dataclass(frozen=True)
class Constraint:
    """One target: `column` must stay <= limit (upper) or >= limit (not upper)."""

    name: str
    column: str
    limit: float
    upper: bool
    unit: str

    def ratio(self, values: np.ndarray) -> np.ndarray:
        """Value over limit for an upper bound, limit over value for a lower one: <= 1 meets it."""
        values = np.asarray(values, dtype=float)
        with np.errstate(divide="ignore"):
            return values / self.limit if self.upper else self.limit / values

    def describe(self) -> str:
        return f"{self.column} {'<=' if self.upper else '>='} {format_value(self.limit, self.unit)}"


def constraints_for(targets: Targets, hardware: Hardware) -> list[Constraint]:
    """The targets as constraints; memory (with the headroom) always applies."""
    out = [Constraint("memory", "memory_per_gpu_bytes",
                      hardware.memory_bytes * (1 - targets.memory_headroom), True, "B")]
    for name, column, limit, upper, unit in (
        ("ttft", "ttft_s", targets.ttft_s, True, "s"),
        ("tpot", "tpot_s", targets.tpot_s, True, "s"),
        ("request_latency", "request_latency_s", targets.request_latency_s, True, "s"),
        ("prefill_throughput", "prefill_tokens_per_s_per_gpu",
         targets.min_prefill_tokens_per_s_per_gpu, False, "1/s"),
        ("decode_throughput", "decode_tokens_per_s_per_gpu",
         targets.min_decode_tokens_per_s_per_gpu, False, "1/s"),
        ("load_balance", "load_balance", targets.min_load_balance, False, "1"),
    ):
        if limit is not None:
            out.append(Constraint(name, column, float(limit), upper, unit))
    return out


def format_value(value: float, unit: str) -> str:
    """A number with its unit, scaled for reading (ms, GiB, tokens/s)."""
    if not np.isfinite(value):
        return str(value)
    if unit == "s":
        return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"
    if unit == "B":
        return f"{value / 2**30:.3g} GiB"
    if unit == "1/s":
        return f"{value:.4g} tokens/s"
    return f"{value:.3g}"


def label_of(row) -> str:
    return (f"DP{row.dp}-TP{row.tp}-PP{row.pp}-EP{row.ep}-ETP{row.etp}-M{row.microbatches}")


def _evaluate_candidates(model: Model, hardware: Hardware, workload: Workload,
                         space: pd.DataFrame, stack: Stack = NO_STACK) -> pd.DataFrame:
    """Every candidate's metrics from one evaluate_arrays call."""
    inputs = {**model_inputs(model), **hardware_inputs(hardware, workload, stack),
              **workload_inputs(workload)}
    inputs.update({k: space[k].to_numpy(dtype=float) for k in DEGREES})
    values = evaluate_arrays(model.attention, inputs)
    out = space.copy()
    for name, column in METRICS.items():
        out[column] = values[name]
    out["memory_gib"] = out.memory_per_gpu_bytes / 2**30
    out["load_balance"] = 1 / np.maximum(out.prefill_expert_imbalance, out.decode_expert_imbalance)
    out["ep_spans_nodes"] = out.ep > out.ep_local_peers
    return out


def _check(table: pd.DataFrame, constraints: list[Constraint]) -> pd.DataFrame:
    """Add `<constraint>_ratio` (<= 1 meets it), meets_targets and worst_miss."""
    ratios = np.column_stack([c.ratio(table[c.column]) for c in constraints])
    for i, c in enumerate(constraints):
        table[f"{c.name}_ratio"] = ratios[:, i]
    table["meets_targets"] = (ratios <= 1).all(axis=1)
    table["worst_miss"] = np.clip(ratios.max(axis=1) - 1, 0, None)
    return table


def _order(table: pd.DataFrame, objective: Objective) -> np.ndarray:
    """Row order: candidates meeting the targets by objective (then tie-breaks), then the rest
    by how far they miss."""
    primary = table[objective.column].to_numpy(dtype=float)
    primary = -primary if objective.maximize else primary
    keys = [table[k].to_numpy(dtype=float) for k in reversed(TIE_BREAKS)]
    keys += [primary, table.worst_miss.to_numpy(), ~table.meets_targets.to_numpy()]
    return np.lexsort(keys)


def pareto_mask(latency: np.ndarray, throughput: np.ndarray, gpus: np.ndarray) -> np.ndarray:
    """Points no other point beats on all of: lower latency, higher throughput, fewer GPUs.

    Sorted by latency, a point is dominated when an earlier point with no more GPUs has at
    least its throughput; a cumulative max per GPU count makes that O(n x distinct counts).
    Exact duplicates keep their first occurrence.
    """
    n = len(latency)
    if n == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((gpus, -throughput, latency))
    lat, thr, g = latency[order], throughput[order], gpus[order]
    dominated = np.zeros(n, dtype=bool)
    for count in np.unique(g):
        best_before = np.maximum.accumulate(np.where(g <= count, thr, -np.inf))
        best_before = np.concatenate(([-np.inf], best_before[:-1]))
        dominated |= (g == count) & (best_before >= thr)
    del lat
    mask = np.zeros(n, dtype=bool)
    mask[order[~dominated]] = True
    return mask


@dataclass
class Plan:
    """The search's answer: ranked candidates, the choice and why, front, binding constraints."""

    model: Model
    hardware: Hardware
    workload: Workload
    targets: Targets
    limits: SpaceLimits
    objective: Objective
    constraints: list[Constraint]
    table: pd.DataFrame  # every candidate, ranked; `rank` is <NA> where targets are missed
    pareto: pd.DataFrame
    binding: pd.DataFrame
    document: pd.Series | None = None
    document_strategy: Strategy | None = None
    seconds: float = 0.0
    nearest_count: int = 5
    notes: list[str] = field(default_factory=list)
    stack: Stack = NO_STACK  # the serving software every time assumes

    @property
    def feasible(self) -> bool:
        return bool(self.table.meets_targets.any())

    @property
    def best(self) -> pd.Series | None:
        return self.table.iloc[0] if self.feasible else None

    @property
    def nearest(self) -> pd.DataFrame:
        """Candidates that miss the targets by the least (worst ratio), with what they miss."""
        rows = self.table[~self.table.meets_targets].sort_values(
            ["worst_miss", "rank_in_space"]).head(self.nearest_count).copy()
        rows["misses"] = [self.misses(r) for _, r in rows.iterrows()]
        return rows

    @property
    def evaluated(self) -> int:
        return len(self.table) + (self.document is not None)

    def strategy(self, row: pd.Series) -> Strategy:
        return Strategy(**{k: int(row[k]) for k in DEGREES})

    @property
    def best_strategy(self) -> Strategy | None:
        return None if self.best is None else self.strategy(self.best)

    def misses(self, row: pd.Series) -> str:
        """'ttft 2.3x over (23 s > 10 s); memory ...' for each target the row misses."""
        parts = []
        for c in self.constraints:
            r = row[f"{c.name}_ratio"]
            if r > 1:
                sign = ">" if c.upper else "<"
                parts.append(f"{c.name} misses by {r:.3g}x ({format_value(row[c.column], c.unit)} "
                             f"{sign} {format_value(c.limit, c.unit)})")
        return "; ".join(parts) or "meets every target"

    def ranked(self, top: int = 10) -> pd.DataFrame:
        """The top rows with the columns a reader compares (units in the names)."""
        cols = ["rank", "label", "product_notation", "gpus", "dp", "tp", "pp", "ep", "etp", "edp",
                "microbatches", "layers_per_stage", "memory_gib", "ttft_s", "tpot_s",
                "request_latency_s", "prefill_tokens_per_s_per_gpu", "decode_tokens_per_s_per_gpu",
                "load_balance", "pipeline_bubble", "ep_spans_nodes", "meets_targets", "worst_miss"]
        rows = self.table.head(top) if self.feasible else self.nearest
        return with_labels(rows)[cols].reset_index(drop=True)

    def why(self) -> str:
        """One paragraph: what was chosen, by which objective, under which constraints."""
        n, k = len(self.table), int(self.table.meets_targets.sum())
        scope = (f"{self.targets.gpus} GPUs" if self.targets.gpus
                 else f"up to {self.targets.max_gpus} GPUs")
        wanted = "; ".join(c.describe() for c in self.constraints)
        if not self.feasible:
            near = self.nearest.iloc[0]
            return (f"No strategy meets the targets: none of the {n} valid strategies on {scope} "
                    f"satisfies all of {wanted}. Nearest: {label_of(near)} — {self.misses(near)}.")
        best = self.best
        o = self.objective
        text = (f"{label_of(best)} has the {o.doc} ({format_value(best[o.column], _unit(o.column))})"
                f" of the {k} strategies (of {n} valid on {scope}) that satisfy {wanted}.")
        if k > 1:
            second = self.table.iloc[1]
            text += (f" Runner-up {label_of(second)}: "
                     f"{format_value(second[o.column], _unit(o.column))}.")
        binding = self.binding[self.binding.binding]
        if len(binding):
            text += " Binding: " + "; ".join(
                f"{b.constraint} (without it {b.strategy_without} would reach "
                f"{format_value(b.objective_without, _unit(o.column))})" for b in binding.itertuples())
            text += "."
        else:
            text += " No target binds: the objective's optimum meets them all."
        return text

    def message(self) -> str:
        return self.why()


def _unit(column: str) -> str:
    if column.endswith("_s"):
        return "s"
    if column.endswith("_per_gpu"):
        return "1/s"
    if column.endswith("_bytes"):
        return "B"
    return "1"


def with_labels(rows: pd.DataFrame) -> pd.DataFrame:
    """Add `label` (folded notation) and `product_notation` (seeds' notation, '' if none)."""
    rows = rows.copy()
    rows["label"] = [label_of(r) for r in rows.itertuples()]
    rows["product_notation"] = [product_notation(r.dp, r.tp, r.pp, r.ep, r.etp)
                                for r in rows.itertuples()]
    return rows


def _binding(table: pd.DataFrame, constraints: list[Constraint], objective: Objective) -> pd.DataFrame:
    """For each constraint: does relaxing it alone improve the best (or, when nothing meets the
    targets, admit any) strategy? With the slack the chosen strategy keeps."""
    ratios = np.column_stack([table[f"{c.name}_ratio"].to_numpy() for c in constraints])
    meets = ratios <= 1
    sign = -1.0 if objective.maximize else 1.0
    score = sign * table[objective.column].to_numpy(dtype=float)  # lower is better
    feasible = meets.all(axis=1)
    best = int(np.argmax(feasible)) if feasible.any() else None  # table is ranked
    rows = []
    for i, c in enumerate(constraints):
        others = np.delete(meets, i, axis=1).all(axis=1)
        row = dict(constraint=c.name, column=c.column, limit=c.limit, unit=c.unit,
                   met_alone_by=int(meets[:, i].sum()), value_at_best=np.nan, slack=np.nan,
                   binding=False, objective_without=np.nan, strategy_without="")
        if others.any():
            j = int(np.flatnonzero(others)[np.argmin(score[others])])
            row.update(objective_without=table[objective.column].iat[j],
                       strategy_without=label_of(table.iloc[j]))
            if best is None:
                row["binding"] = True  # relaxing this one alone admits strategies
            else:
                gain = score[best] - score[j]
                row["binding"] = bool(gain > 1e-9 * abs(score[best]))
        if best is not None:
            row.update(value_at_best=table[c.column].iat[best], slack=1 - ratios[best, i])
        rows.append(row)
    return pd.DataFrame(rows)


def search(model: Model, hardware: Hardware, workload: Workload, targets: Targets | None = None,
           objective: str = DEFAULT_OBJECTIVE, limits: SpaceLimits | None = None,
           document: Strategy | None = None, nearest: int = 5, stack: Stack | str | None = None) -> Plan:
    """Search every valid strategy on a serving `stack` (default: none); see the module docstring."""
    stack = load_stack(stack)
    if objective not in OBJECTIVES:
        raise SpecError("objective", f"{objective!r} is not known; use one of {', '.join(OBJECTIVES)}")
    targets = targets or Targets()
    limits = limits or SpaceLimits()
    obj = OBJECTIVES[objective]
    start = time.perf_counter()
    space = enumerate_space(model, hardware, workload, targets, limits)
    space["source"] = "search"
    if document is not None:
        doc = {k: getattr(document, k) for k in DEGREES}
        doc_row = pd.DataFrame([doc])
        doc_row["source"] = "document"
        # the same derived columns as the space, for a strategy that may lie outside it
        doc_row = derived_columns(doc_row, model.num_layers, workload.batch, hardware.gpus_per_node)
        space = pd.concat([space, doc_row], ignore_index=True)
    table = _evaluate_candidates(model, hardware, workload, space, stack)
    constraints = constraints_for(targets, hardware)
    table = _check(table, constraints)
    doc_row = None
    if document is not None:
        doc_row = table.iloc[-1].copy()
        table = table.iloc[:-1].copy()
    table["rank_in_space"] = np.arange(len(table))
    table = table.iloc[_order(table, obj)].reset_index(drop=True)
    table["rank"] = pd.array(np.arange(1, len(table) + 1), dtype="Int64")
    table.loc[~table.meets_targets, "rank"] = pd.NA
    table = table.drop(columns="source")
    front_rows = table[table.meets_targets] if table.meets_targets.any() else \
        table[table.memory_ratio <= 1]
    mask = pareto_mask(front_rows[obj.latency].to_numpy(float),
                       front_rows[obj.throughput].to_numpy(float),
                       front_rows.gpus.to_numpy(float))
    pareto = with_labels(front_rows[mask].sort_values(obj.latency))
    pareto["pareto_over"] = "meets_targets" if table.meets_targets.any() else "fits_memory"
    binding = _binding(table, constraints, obj)
    plan = Plan(model, hardware, workload, targets, limits, obj, constraints, table, pareto,
                binding, seconds=time.perf_counter() - start, nearest_count=nearest,
                document_strategy=document, stack=stack)
    if doc_row is not None:
        doc_row["violations"] = "; ".join(
            violations(document, model, hardware, workload, targets, limits)) or ""
        doc_row["misses"] = plan.misses(doc_row)
        doc_row["label"] = document.label
        doc_row["product_notation"] = product_notation(document.dp, document.tp, document.pp,
                                                       document.ep, document.etp)
        doc_row["notation"] = document.notation or document.label
        doc_row["convention"] = document.convention
        plan.document = doc_row
    return plan


# --- JSON ----------------------------------------------------------------------------------

ROW_METRICS = ("gpus", "memory_per_gpu_bytes", "ttft_s", "tpot_s", "request_latency_s",
               "prefill_tokens_per_s_per_gpu", "decode_tokens_per_s_per_gpu", "load_balance",
               "pipeline_bubble", "layers_per_stage", "ep_spans_nodes", "meets_targets")


def row_dict(plan: Plan, row: pd.Series) -> dict:
    """A candidate as JSON: its strategy and metrics (names as in `moekit evaluate`)."""
    strategy = plan.strategy(row)
    out = {"strategy": strategy_dict(strategy),
           "product_notation": product_notation(strategy.dp, strategy.tp, strategy.pp,
                                                strategy.ep, strategy.etp)}
    for name in ROW_METRICS:
        value = row[name]
        out[name] = bool(value) if isinstance(value, (bool, np.bool_)) else float(value)
    out["gpus"] = int(row["gpus"])
    out["layers_per_stage"] = int(row["layers_per_stage"])
    out["misses"] = plan.misses(row)
    return out


def evaluation_dict(plan: Plan, strategy: Strategy) -> dict:
    """The full `moekit evaluate` JSON of one strategy plus its checks against the targets."""
    result = evaluate(plan.model, plan.hardware, plan.workload, strategy, check=False,
                      stack=plan.stack).to_dict()
    return result


def plan_dict(plan: Plan) -> dict:
    """The plan as JSON: best, pareto, document_strategy, binding, and how it was found."""
    best = None
    if plan.best is not None:
        best = evaluation_dict(plan, plan.best_strategy)
        best.update(product_notation=product_notation(*(getattr(plan.best_strategy, k)
                                                         for k in ("dp", "tp", "pp", "ep", "etp"))),
                    load_balance=float(plan.best.load_balance),
                    layers_per_stage=int(plan.best.layers_per_stage),
                    checks=_checks(plan, plan.best), why=plan.why())
    doc = None
    if plan.document is not None:
        doc = evaluation_dict(plan, plan.document_strategy)
        doc.update(product_notation=plan.document["product_notation"],
                   load_balance=float(plan.document.load_balance),
                   layers_per_stage=int(plan.document.layers_per_stage),
                   checks=_checks(plan, plan.document),
                   meets_targets=bool(plan.document.meets_targets),
                   misses=plan.document.misses, violations=plan.document.violations)
    return {
        "model": plan.model.name, "hardware": plan.hardware.name, "stack": plan.stack.name,
        "objective": {"name": plan.objective.name, "column": plan.objective.column,
                      "maximize": plan.objective.maximize},
        "targets": [{"name": c.name, "column": c.column, "limit": c.limit, "unit": c.unit,
                     "upper": c.upper} for c in plan.constraints],
        "gpu_budget": plan.targets.gpus, "max_gpus": plan.targets.max_gpus,
        "limits": plan.limits.as_dict(),
        "efficiency_inputs": {"mfu": plan.hardware.mfu,
                              "hbm_utilization": plan.hardware.hbm_utilization,
                              "comm_overlap": plan.workload.comm_overlap},
        "evaluated": plan.evaluated, "seconds": plan.seconds,
        "meets_targets_count": int(plan.table.meets_targets.sum()),
        "feasible": plan.feasible,
        "message": plan.why(),
        "best": best,
        "nearest": [] if plan.feasible else [row_dict(plan, r) for _, r in plan.nearest.iterrows()],
        "pareto": [row_dict(plan, r) for _, r in plan.pareto.iterrows()],
        "pareto_axes": {"latency": plan.objective.latency, "throughput": plan.objective.throughput,
                        "gpus": "gpus", "over": plan.pareto.pareto_over.iat[0]
                        if len(plan.pareto) else None},
        "document_strategy": doc,
        "binding": [{k: _plain(v) for k, v in r.items()} for r in plan.binding.to_dict("records")],
    }


def _checks(plan: Plan, row: pd.Series) -> list[dict]:
    return [{"name": c.name, "value": float(row[c.column]), "limit": c.limit, "unit": c.unit,
             "ratio": float(row[f"{c.name}_ratio"]), "met": bool(row[f"{c.name}_ratio"] <= 1)}
            for c in plan.constraints]


def _plain(value):
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    return value


# --- scenarios ------------------------------------------------------------------------------

COMPARED = ("label", "product_notation", "gpus", "memory_gib", "ttft_s", "tpot_s",
            "request_latency_s", "prefill_tokens_per_s_per_gpu", "decode_tokens_per_s_per_gpu",
            "load_balance", "pipeline_bubble", "layers_per_stage", "ep_spans_nodes",
            "meets_targets", "misses")


def comparison(plan: Plan) -> pd.DataFrame:
    """moekit's plan (or, when nothing meets the targets, its nearest candidate) beside the
    document's own strategy, the same metrics for both."""
    columns = {}
    if plan.feasible:
        mine = with_labels(plan.table.head(1)).iloc[0].copy()
        columns["moekit plan"] = mine
    else:
        columns["moekit nearest (none meets)"] = with_labels(plan.nearest.head(1)).iloc[0].copy()
    for row in columns.values():
        row["misses"] = plan.misses(row)
    if plan.document is not None:
        doc = plan.document.copy()
        doc["label"] = f"{doc['label']} (written {doc['notation']}, {doc['convention']})"
        columns["document"] = doc
    out = pd.DataFrame({k: [v.get(c, "") for c in COMPARED] for k, v in columns.items()},
                       index=list(COMPARED))
    if plan.document is not None:
        out.loc["violations"] = ["", plan.document.violations or "none"]
    return out


def plan_scenario(scenario, objective: str = DEFAULT_OBJECTIVE, limits: SpaceLimits | None = None,
                  **target_changes) -> Plan:
    """Search for a loaded scenario (moekit.audit.scenario.Scenario) under its own targets and on its
    own stack, with the document's strategy evaluated beside; `target_changes` override Targets fields."""
    targets = scenario.targets
    if target_changes:
        import dataclasses

        targets = dataclasses.replace(targets, **target_changes)
    return search(scenario.model, scenario.hardware, scenario.workload, targets, objective, limits,
                  scenario.strategy, stack=scenario.stack)
