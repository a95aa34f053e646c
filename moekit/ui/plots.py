"""Figures for reports: memory against capacity, time per op and phase, communication, roofline.

Every function returns a `matplotlib.figure.Figure` built without pyplot (no global state,
nothing shown twice in a notebook) and takes the library's results, never raw numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from moekit.evaluate import MEMORY_COMPONENTS, Evaluation
from moekit.spec.inputs import Hardware
from moekit.ui.explain import ridge_intensity

BOUND_COLORS = {"compute": "#d62728", "memory": "#1f77b4", "communication": "#2ca02c"}
MEMORY_COLORS = ["#4c72b0", "#dd8452", "#937860", "#8c8c8c", "#da8bc3", "#55a868", "#c44e52",
                 "#8172b3", "#ccb974"]
COLLECTIVE_LABELS = {"tp_allreduce": "TP all-reduce", "ep_alltoall": "EP all-to-all",
                     "pp_send": "PP send/recv"}


def _labelled(evaluations) -> dict[str, Evaluation]:
    if isinstance(evaluations, Evaluation):
        return {evaluations.strategy.notation or evaluations.strategy.label: evaluations}
    if isinstance(evaluations, Mapping):
        return dict(evaluations)
    return {e.strategy.notation or e.strategy.label: e for e in evaluations}


def _stack_memory(ax, runs: Mapping[str, Evaluation], x: np.ndarray, label: bool) -> np.ndarray:
    """Stacked memory components (GB) of each run at positions x; returns the totals."""
    bottom = np.zeros(len(runs))
    for color, component in zip(MEMORY_COLORS, MEMORY_COMPONENTS, strict=False):
        heights = np.array([e.memory.set_index("component").loc[component, "gb"]
                            for e in runs.values()])
        if not np.any(heights > 0):
            continue
        ax.bar(x, heights, bottom=bottom, color=color, label=component if label else None, width=0.6)
        bottom += heights
    return bottom


def memory_bar(evaluations: Evaluation | Sequence[Evaluation] | Mapping[str, Evaluation],
               title: str = "", figsize=(7.5, 4.2)) -> Figure:
    """Stacked bar of memory on the busiest GPU by component (GB = 1e9 B), capacity as a line.

    When every bar is under 5% of capacity, an inset repeats the bars at their own scale.
    """
    runs = _labelled(evaluations)
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(runs))
    bottom = _stack_memory(ax, runs, x, label=True)
    capacities = {e.hardware.memory_bytes / 1e9 for e in runs.values()}
    for cap in sorted(capacities):
        ax.axhline(cap, color="black", linestyle="--", linewidth=1.2,
                   label=f"GPU capacity {cap:.0f} GB")
    for xi, total in zip(x, bottom, strict=True):
        ax.annotate(f"{total:.3g} GB", (xi, total), ha="center", va="bottom", fontsize=8,
                    xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(x, list(runs), rotation=15 if len(runs) > 3 else 0, fontsize=8)
    ax.set_ylabel("memory per GPU [GB, 1e9 B]")
    ax.set_ylim(0, max(bottom.max(), max(capacities)) * 1.15)
    ax.set_title(title or "Memory on the busiest GPU against its capacity")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if bottom.max() < 0.05 * min(capacities):
        inset = ax.inset_axes([0.3, 0.25, 0.45, 0.5])
        _stack_memory(inset, runs, x, label=False)
        inset.set_xticks(x, list(runs), fontsize=7)
        inset.set_ylabel("GB (zoomed)", fontsize=7)
        inset.tick_params(labelsize=7)
        inset.set_title("zoom: usage is under 5% of capacity", fontsize=7)
    return fig


def time_breakdown(evaluation: Evaluation, title: str = "", figsize=(9, 4.2)) -> Figure:
    """Time per op and phase on the busiest stage (log ms), coloured by what bounds it."""
    ops = evaluation.ops
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, 2, sharey=False)
    headline = {"prefill": ("TTFT", evaluation["ttft_s"]), "decode": ("TPOT", evaluation["tpot_s"])}
    for ax, phase in zip(axes, ("prefill", "decode"), strict=True):
        rows = ops[ops["phase"] == phase]
        y = np.arange(len(rows))
        ax.barh(y, rows["time_s"] * 1e3, color=[BOUND_COLORS[b] for b in rows["bound"]])
        ax.set_yticks(y, [f"{op} x{count:g}" for op, count in zip(rows["op"], rows["count"],
                                                                   strict=True)], fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("time per stage pass [ms, log scale]")
        name, value = headline[phase]
        ax.set_title(f"{phase} ({name} {value * 1e3:.3g} ms)", fontsize=10)
    handles = [_patch(color, f"{bound}-bound" if bound != "communication" else bound)
               for bound, color in BOUND_COLORS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8)
    fig.suptitle(title or f"Time per op on the busiest stage\n{_describe(evaluation)}", fontsize=10)
    return fig


def communication(evaluation: Evaluation, title: str = "", figsize=(7, 3.8)) -> Figure:
    """Communication time per parallel dimension and phase (log ms); DP needs none in inference."""
    ops = evaluation.ops
    comm = ops[ops["bound"] == "communication"]
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    dims = list(COLLECTIVE_LABELS)
    width = 0.38
    for i, (phase, color) in enumerate((("prefill", "#4c72b0"), ("decode", "#dd8452"))):
        rows = comm[comm["phase"] == phase].set_index("op")
        heights = [rows["time_s"].get(d, 0.0) * 1e3 for d in dims]
        bars = ax.bar(np.arange(len(dims)) + (i - 0.5) * width, heights, width, color=color,
                      label=f"{phase} (per stage pass)")
        for bar, h in zip(bars, heights, strict=True):
            if h == 0:
                ax.annotate("none", (bar.get_x() + bar.get_width() / 2, 1e-4), ha="center",
                            fontsize=7, va="bottom")
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-4)
    ax.set_xticks(np.arange(len(dims)), [COLLECTIVE_LABELS[d] for d in dims])
    ax.set_ylabel("time [ms, log scale]")
    ax.legend(fontsize=8, title="DP: no communication in inference", title_fontsize=8)
    ax.set_title(title or f"Communication per parallel dimension\n{_describe(evaluation)}",
                 fontsize=10)
    return fig


def roofline(hardware: Hardware, points: Mapping[str, float], dtype: str = "bf16",
             title: str = "", figsize=(6.5, 4.2)) -> Figure:
    """Achievable FLOP/s against arithmetic intensity (log-log) with labelled ops marked."""
    ridge = ridge_intensity(hardware, dtype)
    compute = hardware.peak_for(dtype) * hardware.mfu
    memory = hardware.hbm_bandwidth * hardware.hbm_utilization
    lo = min([ridge / 100, *points.values()]) / 2
    hi = max([ridge * 100, *points.values()]) * 2
    x = np.logspace(np.log10(lo), np.log10(hi), 200)
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    ax.plot(x, np.minimum(compute, memory * x) / 1e12, color="black",
            label=f"{hardware.name} (MFU {hardware.mfu:g}, HBM util {hardware.hbm_utilization:g})")
    ax.axvline(ridge, color="gray", linestyle=":", label=f"ridge {ridge:.3g} FLOP/B")
    for i, (label, intensity) in enumerate(points.items()):
        ax.plot(intensity, min(compute, memory * intensity) / 1e12, "o",
                color=MEMORY_COLORS[i % len(MEMORY_COLORS)], label=f"{label}: {intensity:.3g} FLOP/B")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity [FLOP/B, log scale]")
    ax.set_ylabel(f"achievable {dtype} [TFLOP/s, log scale]")
    ax.set_title(title or "Roofline", fontsize=10)
    ax.legend(fontsize=7)
    return fig


def curve(x, ys: Mapping[str, np.ndarray], xlabel: str, ylabel: str, title: str,
          logx: bool = True, logy: bool = False, hline: float | None = None,
          hline_label: str = "", marker: tuple[float, float] | None = None,
          figsize=(6.5, 3.8)) -> Figure:
    """Line plot of one or more labelled curves over x, optional reference line and marker."""
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    for label, y in ys.items():
        ax.plot(x, y, label=label)
    if hline is not None:
        ax.axhline(hline, color="gray", linestyle="--", linewidth=1, label=hline_label)
    if marker is not None:
        ax.plot(*marker, "o", color="black", label="current")
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def _describe(evaluation: Evaluation) -> str:
    s = evaluation.strategy
    return f"{evaluation.model.name} on {int(evaluation['gpus'])} x {evaluation.hardware.name}, " \
        f"{s.notation or s.label}"


def _patch(color: str, label: str):
    from matplotlib.patches import Patch

    return Patch(color=color, label=label)


def pareto(plan, current: Evaluation | None = None, title: str = "", figsize=(7, 4.2)) -> Figure:
    """Every candidate that fits memory (TTFT vs decode tokens/s per GPU), the Pareto front
    (over latency, throughput per GPU and GPU count, so coloured by GPUs) and the current one."""
    o = plan.objective
    table = plan.table[plan.table.memory_ratio <= 1]
    front = plan.pareto
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    ax.scatter(table[o.latency], table[o.throughput], s=6, color="#c8c8c8",
               label=f"{len(table):,} strategies that fit memory")
    points = ax.scatter(front[o.latency], front[o.throughput], c=np.log2(front["gpus"]), s=28,
                        cmap="viridis", edgecolor="black", linewidth=0.4, label="Pareto front", zorder=3)
    bar = fig.colorbar(points, ax=ax)
    bar.set_label("GPUs (log2)")
    if current is not None:
        ax.plot(current[o.latency], current[o.throughput], marker="*", markersize=16, color="#d62728",
                markeredgecolor="black", linestyle="none", zorder=4,
                label=f"current: {current.strategy.label} ({int(current['gpus'])} GPUs)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("TTFT [s, log scale]" if o.latency == "ttft_s" else f"{o.latency} [log scale]")
    ax.set_ylabel("decode tokens/s per GPU [log scale]" if o.throughput.startswith("decode")
                  else f"{o.throughput} [log scale]")
    ax.set_title(title or f"Latency against throughput per GPU: {plan.model.name} on "
                 f"{plan.hardware.name}, batch {plan.workload.batch}", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    return fig


def validation(rows, title: str = "Whole models: predicted against measured, per stack",
               figsize=(11, 7)) -> Figure:
    """One panel per stack, log axes: moekit's step time against the measured (or peer) one; filled
    markers for fitted models, open for held-out ones; prefill and decode in two colours."""
    stacks = list(dict.fromkeys(rows["stack"]))
    cols = 3
    fig = Figure(figsize=figsize)
    for i, stack in enumerate(stacks):
        ax = fig.add_subplot((len(stacks) + cols - 1) // cols, cols, i + 1)
        part = rows[rows["stack"] == stack]
        for phase, color in (("prefill", "#d62728"), ("decode", "#1f77b4")):
            for split, face in (("fit", color), ("held_out", "none")):
                sel = part[(part["phase"] == phase) & (part["split"] == split)]
                ax.scatter(sel["measured_s"], sel["predicted_s"], s=10, edgecolors=color, facecolors=face,
                           linewidths=0.7, label=f"{phase} {split}")
        low = float(np.nanmin(part[["measured_s", "predicted_s"]].to_numpy()))
        high = float(np.nanmax(part[["measured_s", "predicted_s"]].to_numpy()))
        ax.plot([low, high], [low, high], color="k", lw=0.8)
        ax.set(xscale="log", yscale="log", title=stack)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=6)
    fig.supxlabel("measured s (our GPU runs, or the peer's estimate)")
    fig.supylabel("moekit s")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
