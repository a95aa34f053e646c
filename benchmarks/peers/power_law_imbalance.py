"""The expert load imbalance behind aiconfigurator's expert-parallel MoE times.

aiconfigurator 0.12.0 prices an expert-parallel MoE layer from kernel tables its collector measured
with power-law routing (its default workload distribution, exponent 1.2; 1.01 for DeepSeek): per row,
tokens per expert drawn from a power law, the experts laid out E/ep per rank, and the busiest rank's
kernel timed.
moekit's uniform-routing imbalance does not describe those rows; this script computes, for every
expert-parallel row of data/peers/aiconfigurator_estimates.csv, the busiest-rank / mean load that
routing implies and writes it to the row's `expert_imbalance` column, so that moekit is scored
(and fitted) on the same routing the peer assumed.

The generator follows the description of aiconfigurator's collector (ai-dynamo/aiconfigurator,
collector/helper.py, power-law distribution): E expert weights from a power law of exponent alpha on
[1, 0.8 T] (on [0.01, 2] when T k <= E), scaled to T k routed copies and rounded, each expert capped
at T tokens (a token picks an expert once); the copies lost to the cap and to rounding go round-robin
to the ranks, into experts that have room; the busiest rank is the one timed. The imbalance is the
mean over `--samples` draws (fixed seed: the column is reproducible).

    .venv/bin/python benchmarks/peers/power_law_imbalance.py          # rewrites the column, ~1 min
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ESTIMATES = Path(__file__).resolve().parents[2] / "data" / "peers" / "aiconfigurator_estimates.csv"
ALPHA = 1.2  # aiconfigurator 0.12.0: workload_distribution "power_law", alpha 1.2 (sdk/models/moe.py)
#: models whose aiconfigurator model class sets another exponent (sdk/models/deepseek.py: 1.01)
ALPHA_OF = {"deepseek-v3": 1.01}


def power_law(rng: np.random.Generator, n: int, alpha: float, low: float, high: float) -> np.ndarray:
    """n draws of a power law p(x) ~ x^-alpha on [low, high] (inverse CDF)."""
    a = 1.0 - alpha
    return ((high**a - low**a) * rng.random(n) + low**a) ** (1.0 / a)


def busiest_rank_load(rng: np.random.Generator, tokens: int, experts: int, top_k: int, ep: int,
                      alpha: float = ALPHA) -> int:
    """Routed copies on the busiest of `ep` ranks for one draw of power-law routing."""
    low, high = (1.0, 0.8 * tokens) if tokens * top_k > experts else (0.01, 2.0)
    weights = power_law(rng, experts, alpha, low, max(high, low * (1 + 1e-9)))  # T = 1: an empty range
    copies = tokens * top_k
    per_expert = np.minimum(np.round(weights / weights.sum() * copies), tokens).reshape(ep, -1)
    rank = per_expert.sum(axis=1)
    room = (tokens - per_expert).sum(axis=1)
    missing = int(copies - rank.sum())  # lost to the cap and to rounding: round-robin over the ranks
    if missing > 0:
        share = np.full(ep, missing // ep) + (np.arange(ep) < missing % ep)
        rank = rank + np.minimum(share, room)
    elif missing < 0:
        share = np.full(ep, -missing // ep) + (np.arange(ep) < -missing % ep)
        rank = rank - np.minimum(share, rank)
    return int(rank.max())


def imbalance(tokens: int, experts: int, top_k: int, ep: int, samples: int = 400, seed: int = 0,
              alpha: float = ALPHA) -> float:
    """Mean busiest-rank load over the mean rank load (T k / ep), over `samples` draws."""
    if ep <= 1:
        return 1.0
    rng = np.random.default_rng(seed)
    loads = [busiest_rank_load(rng, tokens, experts, top_k, ep, alpha) for _ in range(samples)]
    return float(np.mean(loads) / (tokens * top_k / ep))


def expert_group_tokens(row) -> int:
    """Tokens entering one MoE layer of the EP group: the instance's batch (all attention-DP ranks)
    x the new tokens of each sequence."""
    per_seq = row.isl if row.phase == "prefill" else 1
    return int(row.batch * per_seq)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=400)
    p.add_argument("--csv", type=Path, default=ESTIMATES)
    args = p.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # moekit's presets, run from a checkout
    from moekit.spec.presets import load_model

    df = pd.read_csv(args.csv)
    out = []
    for row in df.itertuples():
        if row.moe_ep <= 1:
            out.append(0.0)  # no expert parallelism: moekit computes 1
            continue
        model = load_model(row.model)
        out.append(round(imbalance(expert_group_tokens(row), model.num_experts, model.top_k,
                                   int(row.moe_ep), args.samples,
                                   alpha=ALPHA_OF.get(row.model, ALPHA)), 4))
    df["expert_imbalance"] = out
    df.to_csv(args.csv, index=False)
    ep = df[df.moe_ep > 1]
    print(f"{len(ep)} expert-parallel rows: imbalance median {ep.expert_imbalance.median():.3f}, "
          f"range {ep.expert_imbalance.min():.3f}-{ep.expert_imbalance.max():.3f}")


if __name__ == "__main__":
    main()
