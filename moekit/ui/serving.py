"""Views of the serving planner and of published deployments: the frontier figure, the SLA panel,
the reproduction table and its ratio chart."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from moekit.plan.reproduce import BAND, Reproduction
from moekit.plan.serve import ServePlan, ServeQuery, binding, serve
from moekit.spec.presets import available
from moekit.spec.stack import available_stacks, load_stack
from moekit.ui.widgets import Panel, Reading, _dropdown, _hardware, _model, _slider

COLORS = {"agg": "#1f77b4", "disagg": "#d62728"}


def frontier_figure(plan: ServePlan, figsize=(7, 4.2)) -> Figure:
    """Tokens/s per GPU against tokens/s per user, both modes; the best marked; the TPOT target as a line."""
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    for mode in ("agg", "disagg"):
        every = plan.agg if mode == "agg" else plan.disagg
        if every.empty:
            continue
        ax.scatter(1 / every.tpot_s, every.tokens_per_s_per_gpu, s=6, alpha=0.25, color=COLORS[mode])
        front = plan.frontier[plan.frontier["mode"] == mode]
        ax.plot(front.tokens_per_s_per_user, front.tokens_per_s_per_gpu, "o-", color=COLORS[mode],
                label=f"{'aggregated' if mode == 'agg' else 'disaggregated'} frontier")
    if plan.query.tpot_s:
        ax.axvline(1 / plan.query.tpot_s, color="grey", ls="--", lw=1, label="TPOT target")
    if plan.best is not None:
        ax.plot(plan.best.tokens_per_s_per_user, plan.best.tokens_per_s_per_gpu, "*", ms=16, color="k",
                label=f"best ({plan.best['mode']})")
    q = plan.query
    ax.set(xlabel="tokens/s per user (1 / TPOT)", ylabel="output tokens/s per GPU",
           title=f"{q.model.name} on up to {q.max_gpus} x {q.hardware.name}, {q.stack.name}, "
                 f"ISL {q.isl} / OSL {q.osl}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def layout(r: pd.Series) -> tuple[str, str]:
    """(prefill, decode) of a candidate as instances x strategy; aggregated: one deployment."""
    if r["mode"] == "agg":
        return r.strategy, f"{int(r.copies)} x {r.strategy}"
    return f"{int(r.prefill_instances)} x {r.prefill_strategy}", f"{int(r.decode_instances)} x {r.strategy}"


def best_table(plan: ServePlan) -> pd.DataFrame:
    """The best configuration of each mode that meets the SLA, one row each."""
    rows = []
    for mode, df in (("agg", plan.agg), ("disagg", plan.disagg)):
        ok = df[df.meets_sla] if not df.empty else df
        if ok.empty:
            continue
        b = ok.loc[ok.tokens_per_s_per_gpu.idxmax()]
        prefill, decode = layout(b)
        rows.append({"mode": mode, "gpus": int(b.gpus), "prefill": prefill, "decode": decode,
                     "sequences per decode instance": int(b.batch), "ttft_s": round(float(b.ttft_s), 3),
                     "tpot_ms": round(float(b.tpot_s) * 1e3, 1),
                     "tokens/s/GPU": round(float(b.tokens_per_s_per_gpu)),
                     "tokens/s/user": round(float(b.tokens_per_s_per_user), 1)})
    return pd.DataFrame(rows)


@lru_cache(maxsize=32)
def _plan(model: str, gpu: str, stack: str, max_gpus: int, isl: int, osl: int, ttft: float,
          tpot: float) -> ServePlan:
    return serve(ServeQuery(_model(model), _hardware(gpu), load_stack(stack), max_gpus, isl, osl,
                            ttft, tpot))


class ServingPanel(Panel):
    """Model, GPU, stack, request shape and SLA -> frontier, best configuration, what binds."""

    title = "Serving planner: the most tokens/s per GPU under TTFT and TPOT targets"

    def __init__(self, model: str = "qwen3-30b-a3b", hardware: str = "h200", stack: str = "sglang",
                 max_gpus: int = 8, isl: int = 4096, osl: int = 512, ttft_s: float = 2.0,
                 tpot_s: float = 0.05, show_plots: bool = True):
        controls = {
            "model": _dropdown("model", available("models"), model),
            "hardware": _dropdown("GPU", [g for g in available("hardware") if g != "seed-gpu"], hardware),
            "stack": _dropdown("stack", available_stacks(), stack),
            "max_gpus": _slider("GPUs", [1, 2, 4, 8, 16, 32, 64, 128, 256], max_gpus),
            "isl": _slider("ISL", [256, 512, 1024, 2048, 4096, 8192, 16384], isl),
            "osl": _slider("OSL", [64, 128, 256, 512, 1024, 2048], osl),
            "ttft": _slider("TTFT ≤ s", [0.25, 0.5, 1.0, 2.0, 5.0, 10.0], ttft_s),
            "tpot": _slider("TPOT ≤ ms", [10, 20, 30, 50, 75, 100, 200], int(tpot_s * 1e3)),
        }
        super().__init__(controls, show_plots)

    def plan(self) -> ServePlan:
        v = self.value
        return _plan(v("model"), v("hardware"), v("stack"), v("max_gpus"), v("isl"), v("osl"),
                     float(v("ttft")), v("tpot") / 1e3)

    def compute(self) -> tuple[list[Reading], list]:
        plan = self.plan()
        b = plan.best
        if b is None:
            readings = [Reading("best_mode", "best", "nothing meets the SLA")]
        else:
            prefill, decode = layout(b)
            if b["mode"] == "disagg":
                decode += f" (prefill {prefill})"
            readings = [Reading("best_mode", "best mode", str(b["mode"])),
                        Reading("best_gpus", "GPUs", float(b.gpus)),
                        Reading("best_layout", "layout", decode),
                        Reading("tokens_per_s_per_gpu", "output tokens/s per GPU",
                                float(b.tokens_per_s_per_gpu)),
                        Reading("tokens_per_s_per_user", "tokens/s per user", float(b.tokens_per_s_per_user)),
                        Reading("serve_ttft_s", "TTFT", float(b.ttft_s), "s"),
                        Reading("serve_tpot_ms", "TPOT", float(b.tpot_s) * 1e3, "ms")]
        readings.append(Reading("binding", "binding", binding(plan)))
        return readings, [frontier_figure(plan)]


def reproduction_table(results: list[Reproduction]) -> pd.DataFrame:
    """One row per published figure: published, predicted, ratio, or why it is not predicted."""
    rows = []
    for r in results:
        for metric, value in r.published.items():
            rows.append({"deployment": r.name, "metric": metric, "published": value,
                         "moekit": r.predicted.get(metric, np.nan), "ratio": r.ratio.get(metric, np.nan),
                         "not predicted because": r.not_predicted.get(metric, "")})
    return pd.DataFrame(rows)


def ratio_figure(results: list[Reproduction], figsize=(8, 4.5)) -> Figure:
    """predicted / published per figure, with the 0.6-1.67 band and 1 marked."""
    table = reproduction_table(results).dropna(subset=["ratio"])
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    labels = [f"{d.split('-', 1)[1][:38]}: {m}" for d, m in zip(table.deployment, table.metric, strict=True)]
    y = np.arange(len(table))
    ax.barh(y, table.ratio, color=np.where(table.ratio.between(*BAND), "#1f77b4", "#d62728"))
    ax.axvline(1, color="k", lw=1)
    for edge in BAND:
        ax.axvline(edge, color="grey", ls="--", lw=1)
    ax.set_yticks(y, labels, fontsize=7)
    ax.set(xlabel="moekit / published", title="Published deployments: moekit's prediction over the figure")
    fig.tight_layout()
    return fig
