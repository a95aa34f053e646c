"""Serving stacks fitted to whole-model times: our GPU runs (data/measurements/e2e.csv) and a
peer's silicon-measured estimates (data/peers/aiconfigurator_estimates.csv).

Every row is one forward step of a whole model — a prefill of batch x prompt tokens (moekit's
`ttft_s`) or one decode step at a context (`tpot_s`) — on a GPU, a strategy and a stack. A stack
file's `calibrate:` block names the rows it is fitted to and the models it may see; the other
models' rows are held out and only scored (`moekit validate`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from moekit.calibration.fit import START, calibrated_preset, least_squares
from moekit.errors import SpecError
from moekit.evaluate import evaluate_arrays, hardware_inputs, model_inputs, strategy_inputs, workload_inputs
from moekit.resources import DATA_DIR
from moekit.spec.inputs import Strategy, Workload
from moekit.spec.presets import load_hardware, load_model
from moekit.spec.stack import EFFICIENCY_FIELDS, Stack, load_stack

#: the columns every row source is brought to
COLUMNS = ["source", "stack", "model", "hardware", "phase", "batch", "prompt_len", "context", "gpus",
           "tp", "dp", "ep", "etp", "weight_dtype", "expert_dtype", "kv_dtype", "attention_dtype",
           "expert_imbalance", "measured_s"]
#: a precision column of the sources -> moekit dtype (aiconfigurator's quant modes, e2e's dtype)
QUANT = {"fp8": "fp8", "fp8_block": "fp8", "bfloat16": "bf16", "bf16": "bf16", "float16": "bf16",
         "w4a16_mxfp4": "mxfp4"}
#: moekit precision column -> the peer's quant-mode column it comes from
PEER_QUANT_COLUMNS = {"weight_dtype": "gemm_quant", "expert_dtype": "moe_quant", "kv_dtype": "kv_quant",
                      "attention_dtype": "fmha_quant"}
#: e2e.csv's stack column -> moekit stack
E2E_STACKS = {"hf-transformers-eager": "hf-transformers", "hf-transformers-graph": "hf-transformers-graph",
              "reference-eager": "pytorch-eager", "reference-graph": "pytorch-graph"}
#: GPU names in the sources -> moekit hardware presets
GPUS = {"h200_sxm": "h200", "h100_sxm": "h100-sxm", "NVIDIA H200": "h200",
        "NVIDIA H100 80GB HBM3": "h100-sxm"}
START_STACK = {**START, "step_overhead": 1e-3, "host_kernel_time": 5e-6}
#: a host time per kernel (s) long enough to be the bound of every measured eager step, a second
#: start for fits of host_kernel_time
HOST_BINDING_START = 1e-4
#: op groups a peer times separately: moekit's ops (counted over the layers they run in) against the
#: ops of aiconfigurator's per-op breakdown (data/peers/aiconfigurator_estimates_ops.csv, without its
#: context_/generation_ prefix). A fit matches each group as well as the step total, so the
#: efficiencies of one kernel family cannot stand in for another's.
OP_GROUPS = {
    "attention_proj": ({"attention_proj": "layers_per_stage"}, ("qkv_gemm", "proj_gemm")),
    "attention_core": ({"attention_core": "layers_per_stage", "attention_mask": "layers_per_stage",
                        "attention_kv_repeat": "layers_per_stage", "attention_eager": "layers_per_stage"},
                       ("attention",)),
    "mla_block": ({"attention_proj": "layers_per_stage", "attention_core": "layers_per_stage",
                   "mla_reexpand": "layers_per_stage"}, ("mla_block",)),
    "router": ({"router": "moe_layers_per_stage"}, ("router_gemm",)),
    "ffn": ({"experts": "moe_layers_per_stage", "shared_experts": "moe_layers_per_stage",
             "dense_ffn": "dense_layers_per_stage"},
            ("moe", "moe_pre_dispatch", "moe_post_dispatch", "moe_overlap", "shared_gate_up_gemm",
             "shared_act_gate", "shared_ffn2_gemm")),
    "norms": ({"layer_elementwise": "layers_per_stage"}, ("add_norm_1", "add_norm_2")),
    "lm_head": ({"lm_head": None}, ("logits_gemm", "embedding")),
}
#: weight of each op group's log error against the step total's in a fit
OP_GROUP_WEIGHT = 0.5


def _gpu(name: str) -> str:
    for key, preset in GPUS.items():
        if str(name).startswith(key):
            return preset
    raise SpecError("measured rows", f"GPU {name!r} has no moekit preset; known: {', '.join(GPUS)}")


@lru_cache(maxsize=4)
def e2e_rows() -> pd.DataFrame:
    """Our whole-model GPU runs, one row per (stack, model, phase, batch, length)."""
    path = DATA_DIR / "measurements" / "e2e.csv"
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    df = pd.read_csv(path)
    out = pd.DataFrame({
        "source": "e2e:" + df["source"].astype(str), "stack": df["stack"].map(E2E_STACKS),
        "model": df["model"], "hardware": df["gpu"].map(_gpu), "phase": df["phase"],
        "batch": df["batch"], "prompt_len": df["prompt_len"], "context": df["context"],
        "gpus": df["gpus"], "tp": df["tp"], "dp": 1, "ep": df["ep"],
        "etp": df["tp"] // df["ep"].clip(lower=1),
        "weight_dtype": df["dtype"], "expert_dtype": df["dtype"], "kv_dtype": df["dtype"],
        "attention_dtype": df["dtype"], "expert_imbalance": 0.0,
        "measured_s": df["measured_s"]})
    out["etp"] = out["etp"].clip(lower=1)
    return out.dropna(subset=["stack", "measured_s"]).reset_index(drop=True)


@lru_cache(maxsize=4)
def peer_rows() -> pd.DataFrame:
    """aiconfigurator's estimates for fixed configurations (its batch is the whole instance's: all
    attention-DP ranks together, as data/peers/README.md says and its per-op times show)."""
    path = DATA_DIR / "peers" / "aiconfigurator_estimates.csv"
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    df = pd.read_csv(path)
    dp = df["attention_dp"].astype(int)
    out = pd.DataFrame({
        "source": "aiconfigurator " + df["aic_version"].astype(str), "stack": df["backend"],
        "model": df["model"], "hardware": df["system"].map(_gpu), "phase": df["phase"],
        "batch": df["batch"], "prompt_len": df["isl"], "context": df["context"],
        "gpus": df["gpus"], "tp": df["tp"], "dp": dp, "ep": df["moe_ep"], "etp": df["moe_tp"],
        **{column: df[source].map(QUANT) for column, source in PEER_QUANT_COLUMNS.items()},
        # the busiest/mean expert-rank load of the peer's power-law routing
        # (benchmarks/peers/power_law_imbalance.py; 0: no expert parallelism, moekit computes 1)
        "expert_imbalance": df["expert_imbalance"] if "expert_imbalance" in df else 0.0,
        "measured_s": df["measured_s"]})
    out = out.join(_peer_op_groups(df))
    for column, source in PEER_QUANT_COLUMNS.items():
        unknown = sorted(set(df.loc[out[column].isna(), source]))
        if unknown:
            raise SpecError(f"{path.name}", f"quant mode(s) {', '.join(map(str, unknown))} have no "
                            f"moekit precision; known: {', '.join(QUANT)}")
    return out.dropna(subset=["measured_s"]).reset_index(drop=True)


def _peer_op_groups(estimates: pd.DataFrame) -> pd.DataFrame:
    """Seconds of each OP_GROUPS group in every estimate row (NaN where the peer has none of its ops)."""
    path = DATA_DIR / "peers" / "aiconfigurator_estimates_ops.csv"
    columns = [f"op:{g}" for g in OP_GROUPS]
    if not path.exists():
        return pd.DataFrame(np.nan, index=estimates.index, columns=columns)
    ops = pd.read_csv(path)
    ops["op"] = ops["op"].str.replace(r"^(context|generation)_", "", regex=True)
    group_of = {op: g for g, (_, peer_ops) in OP_GROUPS.items() for op in peer_ops}
    ops["group"] = ops["op"].map(group_of)
    keys = ["backend", "system", "model", "phase", "batch", "isl", "context", "tp", "pp", "attention_dp",
            "moe_tp", "moe_ep"]
    sums = ops.dropna(subset=["group"]).pivot_table(index=keys, columns="group", values="latency_s",
                                                    aggfunc="sum")
    sums.columns = [f"op:{g}" for g in sums.columns]
    joined = estimates[keys].join(sums, on=keys)
    return joined.reindex(columns=columns).set_axis(estimates.index)


def all_rows() -> pd.DataFrame:
    return pd.concat([e2e_rows(), peer_rows()], ignore_index=True)


@dataclass(frozen=True)
class Prepared:
    """Rows turned into moekit inputs once (per model, GPU and precision), so a fit that changes
    only the stack re-evaluates without rebuilding them."""

    n: int
    groups: tuple  # (row positions, attention kind, GPU, precisions (a Workload), inputs, is-prefill mask)


def prepare(rows: pd.DataFrame) -> Prepared:
    groups = []
    rows = rows.reset_index(drop=True)
    precisions = ["weight_dtype", "expert_dtype", "kv_dtype", "attention_dtype"]
    for key, group in rows.groupby(["model", "hardware", *precisions], sort=False):
        model = load_model(key[0])
        dtypes = dict(zip(precisions, key[2:], strict=True))
        records = []
        for r in group.itertuples(index=False):
            prompt = int(r.prompt_len) if r.phase == "prefill" else max(int(r.context), 1)
            work = Workload(batch=int(r.batch), prompt_len=prompt, decode_context=max(int(r.context), 1),
                            expert_imbalance=float(r.expert_imbalance), **dtypes)
            strategy = Strategy(dp=int(r.dp), tp=int(r.tp), ep=int(r.ep), etp=int(r.etp))
            records.append({**workload_inputs(work), **strategy_inputs(strategy)})
        table = pd.DataFrame.from_records(records)
        inputs = {**model_inputs(model), **{c: table[c].to_numpy(dtype=float) for c in table.columns}}
        groups.append((group.index.to_numpy(), model.attention, load_hardware(key[1]),
                       Workload(batch=1, prompt_len=1, **dtypes), inputs,
                       (group["phase"] == "prefill").to_numpy()))
    return Prepared(len(rows), tuple(groups))


def predict_prepared(prepared: Prepared, stack: Stack, op_groups: bool = False):
    """moekit's seconds for every prepared row on `stack`: ttft_s (prefill) or tpot_s (decode);
    with `op_groups`, also {group: seconds of its ops in the step} (OP_GROUPS)."""
    out = np.full(prepared.n, np.nan)
    groups = {g: np.full(prepared.n, np.nan) for g in OP_GROUPS}
    for index, attention, gpu, precision, inputs, is_prefill in prepared.groups:
        values = evaluate_arrays(attention, {**hardware_inputs(gpu, precision, stack), **inputs})
        n = len(index)
        out[index] = np.where(is_prefill, np.broadcast_to(values["ttft_s"], n),
                              np.broadcast_to(values["tpot_s"], n))
        if op_groups:
            for g, (ops, _) in OP_GROUPS.items():
                groups[g][index] = sum(_phased(values, is_prefill, f"{op}_time_s")
                                       * (1.0 if count is None else _phased(values, is_prefill, count))
                                       for op, count in ops.items())
    return (out, groups) if op_groups else out


def _phased(values: dict, is_prefill: np.ndarray, name: str) -> np.ndarray:
    """A formula's value per row: its prefill_ form on prefill rows, its decode_ form on the others."""
    def of(phase: str) -> np.ndarray:
        return np.broadcast_to(values.get(f"{phase}_{name}", values.get(name, 0.0)), len(is_prefill))
    return np.where(is_prefill, of("prefill"), of("decode"))


def predict_rows(rows: pd.DataFrame, stack: Stack) -> np.ndarray:
    """moekit's seconds for every row on `stack`: ttft_s for prefill, tpot_s for a decode step."""
    return predict_prepared(prepare(rows), stack)


def _with(stack: Stack, fields: dict) -> Stack:
    own = {f.name for f in dataclasses.fields(Stack)}
    return dataclasses.replace(stack, **{k: v for k, v in fields.items() if k in own},
                               efficiency={**stack.efficiency,
                                           **{k: v for k, v in fields.items() if k not in own}})


def stack_rows(stack_name: str, calibrate: dict) -> pd.DataFrame:
    """The rows of `stack_name` named by a calibrate block, with split 'fit' or 'held_out'."""
    rows = _own_rows(stack_name, calibrate)
    rows = rows[not_scored_why(rows, stack_name, calibrate) == ""].reset_index(drop=True)
    # a fit model's rows outside fit_only (e.g. {ep: 1}) are held out, unless then_fit fits them
    fit = rows["model"].isin(set(calibrate.get("fit_models") or []))
    if not calibrate.get("then_fit"):
        fit &= _fit_only(rows, calibrate)
    return rows.assign(split=np.where(fit, "fit", "held_out"))


def not_scored_why(rows: pd.DataFrame, stack_name: str, calibrate: dict) -> pd.Series:
    """Why each row is set aside by the calibrate block's `not_scored` entries (neither fitted nor
    scored; "" for the rows that count). An entry names `models`, optionally `ep_at_least`, and `why`."""
    out = pd.Series("", index=rows.index, dtype=object)
    for i, entry in enumerate(calibrate.get("not_scored") or []):
        if not isinstance(entry, dict) or not entry.get("models") or not entry.get("why"):
            raise SpecError(f"stack {stack_name!r}.calibrate.not_scored[{i}]",
                            f"{entry!r}: expected a mapping with models (a list) and why (text), "
                            "optionally ep_at_least (an integer)")
        hit = rows["model"].isin(entry["models"]) & (rows["ep"] >= int(entry.get("ep_at_least", 0)))
        out[hit & (out == "")] = entry["why"]
    return out


def not_scored_rows(stack_name: str, calibrate: dict) -> pd.DataFrame:
    """The rows of `stack_name` its calibrate block sets aside, each with its entry's `why`."""
    rows = _own_rows(stack_name, calibrate)
    why = not_scored_why(rows, stack_name, calibrate)
    return rows[why != ""].assign(why=why[why != ""]).reset_index(drop=True)


def _own_rows(stack_name: str, calibrate: dict) -> pd.DataFrame:
    rows = all_rows()
    return rows[rows["stack"] == calibrate.get("rows_stack", stack_name)].reset_index(drop=True)


def fit_rows_stack(stack: Stack, calibrate: dict) -> tuple[Stack, dict]:
    """`stack` with the `calibrate.fields` fitted (log least squares) to its fit models' rows."""
    names = tuple(calibrate.get("fields") or ())
    unknown = [n for n in names if n not in START_STACK]
    if unknown:
        raise SpecError(f"stack {stack.name!r}.calibrate.fields", f"cannot fit {', '.join(unknown)}; "
                        f"fittable: {', '.join(sorted(START_STACK))}")
    if calibrate.get("base"):  # start from another stack's kernels (the same torch kernels, say)
        stack = dataclasses.replace(stack, efficiency={**load_stack(calibrate["base"]).efficiency,
                                                       **stack.efficiency})
    if calibrate.get("base_microbenchmarks"):  # start from the op micro-benchmarks' fit
        stack = gpu_calibration_stack(stack, calibrate["base_microbenchmarks"])[0]
    rows = stack_rows(stack.name, calibrate)
    fitted_rows = rows[rows["split"] == "fit"]
    first = _fit_only(fitted_rows, calibrate)
    fit = fitted_rows[first].reset_index(drop=True)
    if fit.empty:
        raise SpecError(f"stack {stack.name!r}.calibrate", "no measured rows of its fit_models "
                        f"{calibrate.get('fit_models')} (data/measurements/e2e.csv, data/peers/)")
    use_ops = bool(calibrate.get("op_groups", False))
    residual = _residual(stack, fit, use_ops)
    start = {**START_STACK, **(calibrate.get("start") or {})}
    starts = [start]
    if "host_kernel_time" in names:  # the host time enters through a max: from a start where it
        # binds nowhere its gradient is 0 and it never moves, so start once where it binds everywhere
        starts.append({**start, "host_kernel_time": HOST_BINDING_START})
    iterations = int(calibrate.get("iterations", 40))
    fits = [least_squares(residual, names, s, iterations) for s in starts]
    fitted = min(fits, key=lambda f: float(np.sum(residual(f) ** 2)))
    result = _with(stack, fitted)
    err = list(np.abs(predict_rows(fit, result) / fit["measured_s"].to_numpy() - 1))
    provenance = {"fitted": fitted, "fit_rows": int(len(fit)), "fit_models": sorted(set(fit["model"])),
                  "sources": sorted(set(fit["source"]))}
    then = calibrate.get("then_fit") or {}
    if then:  # fields fitted afterwards to the fit models' rows fit_only left out, all else held
        rest = fitted_rows[~first].reset_index(drop=True)
        then_names = tuple(then.get("fields") or ())
        if not then_names or any(n not in START_STACK for n in then_names):
            raise SpecError(f"stack {stack.name!r}.calibrate.then_fit.fields",
                            f"{list(then_names)!r}; fittable: {', '.join(sorted(START_STACK))}")
        residual = _residual(result, rest, use_ops)
        then_fitted = least_squares(residual, then_names, {**START_STACK, **fitted}, iterations)
        result = _with(result, then_fitted)
        err += list(np.abs(predict_rows(rest, result) / rest["measured_s"].to_numpy() - 1))
        provenance["fitted"] = {**fitted, **then_fitted}
        provenance["then_fit_rows"] = int(len(rest))
        provenance["fit_rows"] += int(len(rest))
    provenance["fit_median_abs_err"] = float(np.median(err))
    return result, provenance


def _fit_only(rows: pd.DataFrame, calibrate: dict) -> pd.Series:
    """Whether each row meets the calibrate block's fit_only conditions (e.g. {ep: 1})."""
    mask = pd.Series(True, index=rows.index)
    for column, value in (calibrate.get("fit_only") or {}).items():
        mask &= rows[column] == value
    return mask


def _residual(stack: Stack, rows: pd.DataFrame, use_ops: bool):
    """Log errors of `rows` (and, with `use_ops`, of each peer op group) as a function of fields."""
    log_measured = np.log(rows["measured_s"].to_numpy(dtype=float))
    prepared = prepare(rows)
    measured_ops = {g: rows[f"op:{g}"].to_numpy(dtype=float) if f"op:{g}" in rows
                    else np.full(len(rows), np.nan) for g in OP_GROUPS}

    def residual(fields: dict) -> np.ndarray:
        if not use_ops:
            return np.log(predict_prepared(prepared, _with(stack, fields))) - log_measured
        total, groups = predict_prepared(prepared, _with(stack, fields), op_groups=True)
        parts = [np.log(total) - log_measured]
        for g, measured in measured_ops.items():
            ok = measured > 0
            with np.errstate(all="ignore"):
                parts.append(OP_GROUP_WEIGHT * np.log(np.maximum(groups[g][ok], 1e-12) / measured[ok]))
        return np.concatenate(parts)

    return residual


def gpu_calibration_stack(stack: Stack, calibrate: dict) -> tuple[Stack, dict]:
    """`stack` with the efficiencies fitted to our op micro-benchmarks (the `GPU@calibrated`
    figures of calibrate.gpu, in calibrate.mode 'graph' or 'eager')."""
    variant = {"graph": "calibrated", "eager": "calibrated-eager"}[calibrate.get("mode", "graph")]
    preset = calibrated_preset(calibrate.get("gpu", "h200"), variant)
    fields = {name: getattr(preset.spec, name) for name in EFFICIENCY_FIELDS
              if getattr(preset.spec, name) != getattr(load_hardware(calibrate.get("gpu", "h200")), name)}
    return (dataclasses.replace(stack, efficiency={**fields, **stack.efficiency}),
            {"fitted": fields, "from": f"{calibrate.get('gpu', 'h200')}@{variant}",
             "sources": sorted({str(v) for v in preset.source.values() if "measured" in str(v)})[:3]})

