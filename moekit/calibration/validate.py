"""Predicted against measured, for every whole-model row of every stack (`moekit validate`).

A row is `fit` when its stack was fitted to it (a model of the stack file's `calibrate.fit_models`,
inside `calibrate.fit_only`), otherwise `held_out`: rows of other models, and a fit model's rows the
fit left out (expert-parallel rows, say), meet the stack for the first time here. The targets
(issue 11): median |error| on held-out rows at most 15% for the engine stacks and the plain-PyTorch
ones, 20% for Hugging Face transformers.
"""

from __future__ import annotations

import pandas as pd

from moekit.calibration.stacks import not_scored_rows, predict_rows, stack_rows
from moekit.spec.stack import available_stacks, load_stack_preset

#: the stacks whose rows are scored, and the held-out median |error| each must reach
TARGETS = {"sglang": 0.15, "vllm": 0.15, "trtllm": 0.15, "pytorch-graph": 0.15,
           "pytorch-eager": 0.15, "hf-transformers": 0.20, "hf-transformers-graph": 0.20}


def validation_rows(stacks: list[str] | None = None) -> pd.DataFrame:
    """One row per measured step: what was measured, what moekit predicts on that stack."""
    frames = []
    for name in stacks or [s for s in available_stacks() if s in TARGETS]:
        preset = load_stack_preset(name)
        rows = stack_rows(name, preset.calibrate)
        if rows.empty:
            continue
        rows = rows.assign(stack=name, predicted_s=predict_rows(rows, preset.spec))
        frames.append(rows)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    out["strategy"] = [f"DP{r.dp}-TP{r.tp}-EP{r.ep}-ETP{r.etp}" for r in out.itertuples()]
    out["error"] = out["predicted_s"] / out["measured_s"] - 1
    return out


def not_scored(stacks: list[str] | None = None) -> pd.DataFrame:
    """Rows set aside by each stack's `calibrate.not_scored`, counted per stack, model and phase,
    with why (a defect of the measurement, say, not of the model)."""
    frames = [not_scored_rows(name, load_stack_preset(name).calibrate).assign(stack=name)
              for name in stacks or [s for s in available_stacks() if s in TARGETS]]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if rows.empty:
        return pd.DataFrame(columns=["stack", "model", "phase", "n", "why"])
    return rows.groupby(["stack", "model", "phase", "why"], sort=True).size().reset_index(name="n")[
        ["stack", "model", "phase", "n", "why"]]


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Median |error| per stack, phase and split, with the target and whether it is met (held-out
    rows only: the targets are not about the rows a stack was fitted to, whose `meets` is empty)."""
    if rows.empty:
        return pd.DataFrame(columns=["stack", "phase", "split", "n", "median_abs_err", "target", "meets"])
    g = rows.assign(abs_err=rows["error"].abs()).groupby(["stack", "phase", "split"], sort=True)
    out = g["abs_err"].agg(n="size", median_abs_err="median").reset_index()
    out["target"] = out["stack"].map(TARGETS)
    out["meets"] = pd.Series(out["median_abs_err"] <= out["target"], dtype=object).where(
        out["split"] == "held_out", "")
    return out


def to_dict(rows: pd.DataFrame, set_aside: pd.DataFrame | None = None) -> dict:
    """The JSON of `moekit validate --format json` (`set_aside`: `not_scored`'s table)."""
    keep = ["source", "stack", "model", "phase", "batch", "prompt_len", "context", "gpus", "strategy",
            "measured_s", "predicted_s", "split"]
    records = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
               for r in rows[keep].to_dict("records")] if not rows.empty else []
    summ = summary(rows)
    return {"rows": records,
            "summary": [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                        for r in summ[["stack", "phase", "split", "n", "median_abs_err"]]
                        .to_dict("records")],
            "not_scored": [] if set_aside is None else
            [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
             for r in set_aside.to_dict("records")]}
