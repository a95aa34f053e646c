"""The floor of masked expert parallelism in the engines' measured MoE kernels, against moekit's.

SGLang (without DeepEP) and vLLM (allgather_reducescatter, its default) run expert parallelism by
masking: every rank keeps all the tokens and its fused-MoE kernels pass over every routed pair,
writing zeros for the other ranks' experts. A rank's MoE time is then a + b / ep: b / ep for its own
experts' work, and a floor a that does not shrink with ep. This fits a + b / ep to aiconfigurator's
measured kernel times (data/peers/aiconfigurator_moe_ep.csv, balanced routing, ep >= 2) and prints
the floor beside moekit's `experts_masked_time_s` over all the pairs (the ep -> infinity limit) on
the engine's fitted stack.

    .venv/bin/python benchmarks/peers/masked_ep_floor.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import moekit

TABLE = Path(__file__).resolve().parents[2] / "data" / "peers" / "aiconfigurator_moe_ep.csv"
EP = 8  # moekit is evaluated at this EP and its masked time scaled to all pairs: x ep / (ep - 1)


def moekit_floor_s(model: str, tokens: int, stack: str) -> float:
    """moekit's masked-pair time of one MoE layer over all `tokens` x top_k pairs, on one H200."""
    work = moekit.Workload(batch=1, prompt_len=tokens, output_len=1, expert_imbalance=1.0)
    r = moekit.evaluate(moekit.load_model(model), moekit.load_hardware("h200"), work,
                        moekit.Strategy(tp=EP, ep=EP, etp=1), check=False, stack=stack)
    return r["prefill_experts_masked_time_s"] * EP / (EP - 1)


def main() -> None:
    df = pd.read_csv(TABLE)
    rows = []
    for (engine, model, tokens), g in df.groupby(["backend", "model", "tokens"]):
        g = g.sort_values("moe_ep")
        ep = g["moe_ep"].to_numpy()
        many = ep >= 2
        b, a = np.polyfit(1.0 / ep[many], g["measured_s"].to_numpy()[many], 1)
        floor = moekit_floor_s(model, int(tokens), engine)
        rows.append({"engine": engine, "model": model, "tokens": tokens,
                     "ep1_ms": g["measured_s"].iloc[0] * 1e3, "a_ms": a * 1e3, "b_ms": b * 1e3,
                     "moekit_floor_ms": floor * 1e3, "a / moekit": a / floor})
    out = pd.DataFrame(rows)
    print("a + b / ep fitted to aiconfigurator's balanced MoE times (ep >= 2); moekit's masked floor")
    print(out.to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
