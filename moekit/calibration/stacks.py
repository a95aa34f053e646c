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
           "tp", "dp", "ep", "etp", "weight_dtype", "kv_dtype", "attention_dtype", "measured_s"]
#: e2e.csv's stack column -> moekit stack
E2E_STACKS = {"hf-transformers-eager": "hf-transformers", "hf-transformers-graph": "hf-transformers-graph",
              "reference-eager": "pytorch-eager", "reference-graph": "pytorch-graph"}
#: GPU names in the sources -> moekit hardware presets
GPUS = {"h200_sxm": "h200", "h100_sxm": "h100-sxm", "NVIDIA H200": "h200",
        "NVIDIA H100 80GB HBM3": "h100-sxm"}
START_STACK = {**START, "step_overhead": 1e-3, "host_kernel_time": 5e-6}


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
        "weight_dtype": df["dtype"], "kv_dtype": df["dtype"], "attention_dtype": df["dtype"],
        "measured_s": df["measured_s"]})
    out["etp"] = out["etp"].clip(lower=1)
    return out.dropna(subset=["stack", "measured_s"]).reset_index(drop=True)


@lru_cache(maxsize=4)
def peer_rows() -> pd.DataFrame:
    """aiconfigurator's estimates for fixed configurations (its batch is per attention-DP rank)."""
    path = DATA_DIR / "peers" / "aiconfigurator_estimates.csv"
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    df = pd.read_csv(path)
    dp = df["attention_dp"].astype(int)
    quant = {"fp8": "fp8", "fp8_block": "fp8", "bfloat16": "bf16", "bf16": "bf16", "float16": "bf16"}
    out = pd.DataFrame({
        "source": "aiconfigurator " + df["aic_version"].astype(str), "stack": df["backend"],
        "model": df["model"], "hardware": df["system"].map(_gpu), "phase": df["phase"],
        "batch": df["batch"] * dp, "prompt_len": df["isl"], "context": df["context"],
        "gpus": df["gpus"], "tp": df["tp"], "dp": dp, "ep": df["moe_ep"], "etp": df["moe_tp"],
        "weight_dtype": df["gemm_quant"].map(quant).fillna("bf16"),
        "kv_dtype": df["kv_quant"].map(quant).fillna("bf16"),
        "attention_dtype": df["fmha_quant"].map(quant).fillna("bf16"), "measured_s": df["measured_s"]})
    return out.dropna(subset=["measured_s"]).reset_index(drop=True)


def all_rows() -> pd.DataFrame:
    return pd.concat([e2e_rows(), peer_rows()], ignore_index=True)


@dataclass(frozen=True)
class Prepared:
    """Rows turned into moekit inputs once (per model, GPU and precision), so a fit that changes
    only the stack re-evaluates without rebuilding them."""

    n: int
    groups: tuple  # (row positions, attention kind, GPU, compute dtype, inputs, is-prefill mask)


def prepare(rows: pd.DataFrame) -> Prepared:
    groups = []
    rows = rows.reset_index(drop=True)
    for key, group in rows.groupby(["model", "hardware", "weight_dtype", "kv_dtype", "attention_dtype"],
                                   sort=False):
        model = load_model(key[0])
        records = []
        for r in group.itertuples(index=False):
            prompt = int(r.prompt_len) if r.phase == "prefill" else max(int(r.context), 1)
            work = Workload(batch=int(r.batch), prompt_len=prompt, decode_context=max(int(r.context), 1),
                            weight_dtype=r.weight_dtype, kv_dtype=r.kv_dtype)
            strategy = Strategy(dp=int(r.dp), tp=int(r.tp), ep=int(r.ep), etp=int(r.etp))
            records.append({**workload_inputs(work), **strategy_inputs(strategy)})
        table = pd.DataFrame.from_records(records)
        inputs = {**model_inputs(model), **{c: table[c].to_numpy(dtype=float) for c in table.columns}}
        gpu = load_hardware(key[1])
        dtype = Workload(batch=1, prompt_len=1, weight_dtype=key[2]).compute_dtype
        groups.append((group.index.to_numpy(), model.attention, gpu, dtype,
                       {**inputs, "attention_peak_flops": gpu.peak_for(key[4])},
                       (group["phase"] == "prefill").to_numpy()))
    return Prepared(len(rows), tuple(groups))


def predict_prepared(prepared: Prepared, stack: Stack) -> np.ndarray:
    """moekit's seconds for every prepared row on `stack`: ttft_s (prefill) or tpot_s (decode)."""
    out = np.full(prepared.n, np.nan)
    for index, attention, gpu, dtype, inputs, is_prefill in prepared.groups:
        values = evaluate_arrays(attention, {**hardware_inputs(gpu, dtype, stack), **inputs})
        with np.errstate(all="ignore"):
            out[index] = np.where(is_prefill, np.broadcast_to(values["ttft_s"], len(index)),
                                  np.broadcast_to(values["tpot_s"], len(index)))
    return out


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
    rows = all_rows()
    rows = rows[rows["stack"] == calibrate.get("rows_stack", stack_name)].reset_index(drop=True)
    fit_models = set(calibrate.get("fit_models") or [])
    fit = rows["model"].isin(fit_models)
    for column, value in (calibrate.get("fit_only") or {}).items():  # e.g. {ep: 1}, with its reason
        fit &= rows[column] == value
    return rows.assign(split=np.where(fit, "fit", "held_out"))


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
    fit = rows[rows["split"] == "fit"].reset_index(drop=True)
    if fit.empty:
        raise SpecError(f"stack {stack.name!r}.calibrate", "no measured rows of its fit_models "
                        f"{calibrate.get('fit_models')} (data/measurements/e2e.csv, data/peers/)")
    log_measured = np.log(fit["measured_s"].to_numpy(dtype=float))
    prepared = prepare(fit)

    def residual(fields: dict) -> np.ndarray:
        return np.log(predict_prepared(prepared, _with(stack, fields))) - log_measured

    start = {**START_STACK, **(calibrate.get("start") or {})}
    fitted = least_squares(residual, names, start, int(calibrate.get("iterations", 40)))
    result = _with(stack, fitted)
    err = np.abs(predict_prepared(prepared, result) / fit["measured_s"].to_numpy() - 1)
    provenance = {"fitted": fitted, "fit_rows": int(len(fit)), "fit_models": sorted(set(fit["model"])),
                  "sources": sorted(set(fit["source"])), "fit_median_abs_err": float(np.median(err))}
    return result, provenance


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

