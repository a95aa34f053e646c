"""One-line takeaways under the notebooks' figures, computed from the same results the figure draws
(so they stay true when the model changes)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from IPython.display import Markdown

from moekit.evaluate import Evaluation
from moekit.plan.dag import Dag


def _say(text: str) -> Markdown:
    return Markdown(f"**Takeaway.** {text}")


def memory(evaluations: Evaluation | Mapping[str, Evaluation]) -> Markdown:
    """Which deployment is fullest and what fills its busiest GPU."""
    runs = {"": evaluations} if isinstance(evaluations, Evaluation) else dict(evaluations)
    name, e = max(runs.items(), key=lambda kv: kv[1]["memory_fraction"])
    top = e.memory.sort_values("bytes", ascending=False).iloc[0]
    where = f"{name}: " if name else ""
    fits = "fits" if e["memory_fraction"] <= 1 else "does not fit"
    return _say(f"{where}the busiest GPU holds {e['memory_bytes_per_gpu'] / 1e9:.3g} GB of "
                f"{e.hardware.memory_bytes / 1e9:.0f} GB ({e['memory_fraction']:.0%}, {fits}); the largest "
                f"part is {top.component} ({top.bytes / e['memory_bytes_per_gpu']:.0%}).")


def time(e: Evaluation) -> Markdown:
    """Which op sets each phase's stage time, and what bounds it."""
    parts = []
    for phase, metric in (("prefill", "TTFT"), ("decode", "TPOT")):
        ops = e.ops[e.ops.phase == phase]
        top = ops.loc[ops.time_s.idxmax()]
        parts.append(f"{metric} {e[metric.lower() + '_s'] * 1e3:.3g} ms is led by {top.op} "
                     f"({top.time_s / ops.time_s.sum():.0%} of the stage, {top.bound}-bound)")
    return _say("; ".join(parts) + f" on the {e.stack.name} stack.")


def communication(e: Evaluation) -> Markdown:
    """How much of each phase the collectives take."""
    parts = []
    for phase in ("prefill", "decode"):
        ops = e.ops[e.ops.phase == phase]
        comm = ops[ops.bound == "communication"]
        share = comm.time_s.sum() / ops.time_s.sum() if len(ops) else 0.0
        lead = f", mostly {comm.loc[comm.time_s.idxmax()].op}" if len(comm) else ""
        parts.append(f"{share:.0%} of the {phase} stage{lead}")
    return _say("collectives take " + " and ".join(parts) + ".")


def calibration(table: pd.DataFrame, gpu: str) -> Markdown:
    """The best and worst held-out family of one GPU's calibration."""
    t = table[table.gpu == gpu].sort_values("mape_calibrated_pct")
    best, worst = t.iloc[0], t.iloc[-1]
    missed = int((~t.meets_target).sum())
    return _say(f"on the {gpu}, held-out errors run from {best.mape_calibrated_pct:.1f}% ({best.family}) to "
                f"{worst.mape_calibrated_pct:.1f}% ({worst.family}); {missed} of {len(t)} families miss "
                "their target.")


def dag(d: Dag) -> Markdown:
    """What one step of the deployment is made of."""
    kinds = pd.Series([n.kind for n in d.nodes]).value_counts()
    return _say(f"one step is {kinds.get('op', 0)} op blocks, {kinds.get('collective', 0)} collectives"
                + (f" and {kinds.get('transfer', 0)} KV transfer" if kinds.get("transfer", 0) else "")
                + f" over {len({g for n in d.nodes for g in n.gpus})} GPUs.")


def validation(summary: pd.DataFrame) -> Markdown:
    """Which stacks reach their held-out target and which miss it."""
    held = summary[summary.split == "held_out"]
    met = [f"{r.stack} {r.phase}" for r in held.itertuples() if r.meets]
    missed = [f"{r.stack} {r.phase} ({r.median_abs_err:.0%})" for r in held.itertuples() if not r.meets]
    return _say(f"on held-out rows, {len(met)} of {len(held)} stack-phase pairs meet their target"
                + (f"; missed: {', '.join(missed)}" if missed else "") + ".")
