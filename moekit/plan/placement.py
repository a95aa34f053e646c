"""Where everything sits: the rank map, collective groups, module division, load balance.

Rank order (folded convention, Megatron-style): tp fastest, then dp, then pp, so a TP group
is contiguous inside a node and each pipeline stage holds dp * tp consecutive ranks. Inside
a stage the same GPUs are re-split for the experts, etp fastest, then ep, then edp: local
index i = edp_rank * (ep * etp) + ep_rank * etp + etp_rank. An EP group (one all-to-all) is
the ep GPUs with the same stage, edp_rank and etp_rank; they sit etp apart, which is what
`ep_local_peers` in the communication formulas counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from moekit.evaluate import Evaluation, strategy_dict
from moekit.plan.space import product_notation, stage_layers
from moekit.spec.inputs import Hardware, Model, Strategy, Workload


def stage_layer_ranges(model: Model, pp: int) -> list[tuple[int, int]]:
    """(first, last) layer index of each stage, inclusive."""
    out, start = [], 0
    for n in stage_layers(model.num_layers, pp):
        out.append((start, start + n - 1))
        start += n
    return out


def _span(first, count) -> str:
    return f"{first}" if count == 1 else f"{first}-{first + count - 1}"


def rank_map(strategy: Strategy, model: Model, hardware: Hardware) -> pd.DataFrame:
    """One row per GPU: node, coordinates in every parallel dimension and what it holds."""
    s = strategy
    rank = np.arange(s.gpus)
    tp_rank = rank % s.tp
    dp_rank = rank // s.tp % s.dp
    stage = rank // (s.tp * s.dp)
    local = rank % (s.tp * s.dp)
    etp_rank = local % s.etp
    ep_rank = local // s.etp % s.ep
    edp_rank = local // (s.etp * s.ep)
    df = pd.DataFrame({"rank": rank, "node": rank // hardware.gpus_per_node,
                       "local_gpu": rank % hardware.gpus_per_node, "stage": stage,
                       "dp_rank": dp_rank, "tp_rank": tp_rank, "edp_rank": edp_rank,
                       "ep_rank": ep_rank, "etp_rank": etp_rank})
    ranges = stage_layer_ranges(model, s.pp)
    df["first_layer"] = [ranges[p][0] for p in stage]
    df["last_layer"] = [ranges[p][1] for p in stage]
    df["layers"] = df.last_layer - df.first_layer + 1
    df["moe_layers"] = np.clip(df.last_layer + 1 - np.maximum(df.first_layer, model.num_dense_layers),
                               0, None) if model.is_moe else 0
    heads = model.num_heads // s.tp
    df["heads"] = [_span(t * heads, heads) for t in tp_rank]
    if model.attention == "mla":
        df["kv_heads"] = "latent (replicated)"
    elif model.num_kv_heads >= s.tp:
        kv = model.num_kv_heads // s.tp
        df["kv_heads"] = [_span(t * kv, kv) for t in tp_rank]
    else:  # fewer KV heads than TP ranks: each is replicated tp / h_kv times
        df["kv_heads"] = [str(t * model.num_kv_heads // s.tp) for t in tp_rank]
    if model.is_moe:
        per = model.num_experts // s.ep
        df["experts"] = [_span(e * per, per) for e in ep_rank]
        cols = model.expert_ffn_dim // s.etp
        df["expert_ffn_columns"] = [_span(e * cols, cols) for e in etp_rank]
    df["embedding"] = stage == 0
    df["lm_head"] = stage == s.pp - 1
    return df


def collective_groups(strategy: Strategy) -> dict[str, list[list[int]]]:
    """Ranks of every group of each collective (see the module docstring for the order)."""
    s = strategy
    grid = np.arange(s.gpus).reshape(s.pp, s.dp, s.tp)  # [stage, dp_rank, tp_rank]
    experts = grid.reshape(s.pp, s.edp, s.ep, s.etp)  # the same ranks re-split for experts
    as_lists = lambda a: a.tolist()  # noqa: E731
    return {
        "tp_allreduce": as_lists(grid.reshape(-1, s.tp)),
        "pp_send_recv": as_lists(grid.transpose(1, 2, 0).reshape(-1, s.pp)),
        "dp_replicas": as_lists(grid.transpose(0, 2, 1).reshape(-1, s.dp)),
        "ep_alltoall": as_lists(experts.transpose(0, 1, 3, 2).reshape(-1, s.ep)),
        "etp_allreduce": as_lists(experts.reshape(-1, s.etp)),
        "edp_replicas": as_lists(experts.transpose(0, 2, 3, 1).reshape(-1, s.edp)),
    }


def module_division(strategy: Strategy, model: Model) -> pd.DataFrame:
    """How the model is cut into parts: parts of each module, copies of each, parts per GPU.

    parts x copies = GPUs x parts_per_gpu (busiest GPU), the check the seeds do by hand.
    """
    s = strategy
    L_stage = max(stage_layers(model.num_layers, s.pp))
    moe_total = model.num_moe_layers
    moe_stage = min(L_stage, moe_total) if model.is_moe else 0
    dense_stage = L_stage - moe_stage
    rows = [("attention shard (heads/tp of one layer)", model.num_layers * s.tp, s.dp, L_stage)]
    if model.is_moe:
        rows.append(("routed expert shard (1/etp of one expert)",
                     moe_total * model.num_experts * s.etp, s.edp,
                     moe_stage * model.num_experts // s.ep))
        if model.num_shared_experts:
            rows.append(("shared-expert shard (1/tp of one layer's)", moe_total * s.tp, s.dp,
                         moe_stage))
    if model.num_dense_layers:
        rows.append(("dense FFN shard (1/tp of one layer)", model.num_dense_layers * s.tp, s.dp,
                     dense_stage))
    rows.append(("embedding shard (vocab/tp)", s.tp, s.dp, 1))
    df = pd.DataFrame(rows, columns=["module", "parts", "copies", "parts_per_gpu"])
    df["gpus"] = s.gpus
    return df


def load_balance(evaluation: Evaluation) -> dict:
    """Static balance (equal experts and layers per GPU) and the expected dynamic one."""
    s, model = evaluation.strategy, evaluation.model
    layers = stage_layers(model.num_layers, s.pp)
    out = {"layers_per_stage": layers,
           "layer_balance": min(layers) / max(layers),
           "experts_per_gpu": model.num_experts // s.ep if model.is_moe else 0}
    for phase in ("prefill", "decode"):
        imbalance = evaluation[f"{phase}_expert_imbalance"]
        out[f"{phase}_expert_imbalance"] = imbalance
        out[f"{phase}_load_balance"] = 1 / imbalance
    out["explanation"] = ("experts divide evenly over ep, so the static split is balanced; the "
                          "expected busiest/mean expert-GPU load per step (multinomial top-k "
                          "routing unless the workload states it) is what a step waits for")
    return out


def deployment_config(model: Model, hardware: Hardware, workload: Workload, strategy: Strategy,
                      evaluation: Evaluation) -> dict:
    """The deployment as JSON: degrees, rank map, groups, module division, load balance."""
    ranks = rank_map(strategy, model, hardware)
    records = ranks.to_dict("records")
    for r in records:
        for k, v in r.items():
            r[k] = v.item() if isinstance(v, np.generic) else v
    return {
        "model": model.name, "hardware": hardware.name, "convention": "folded",
        "degrees": strategy_dict(strategy),
        "product_notation": product_notation(strategy.dp, strategy.tp, strategy.pp, strategy.ep,
                                             strategy.etp),
        "gpus": strategy.gpus, "gpus_per_node": hardware.gpus_per_node,
        "nodes": -(-strategy.gpus // hardware.gpus_per_node),
        "rank_order": "tp fastest, then dp, then pp; experts: etp fastest, then ep, then edp",
        "stages": [{"stage": p, "first_layer": a, "last_layer": b, "layers": b - a + 1}
                   for p, (a, b) in enumerate(stage_layer_ranges(model, strategy.pp))],
        "rank_map": records,
        "groups": collective_groups(strategy),
        "module_division": module_division(strategy, model).to_dict("records"),
        "load_balance": load_balance(evaluation),
        "memory_per_gpu_bytes": evaluation["memory_bytes_per_gpu"],
        "batch": {"sequences": workload.batch,
                  "per_dp_rank_per_microbatch": -(-workload.batch // (strategy.dp
                                                                      * strategy.microbatches)),
                  "microbatches": strategy.microbatches},
    }


def placement_figure(strategy: Strategy, model: Model, hardware: Hardware, max_columns: int = 64):
    """Stages (rows) by the GPUs of a stage (columns): colour = EP rank (which experts), white
    lines = TP groups, black lines = node boundaries. Wide stages show their first columns."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    s = strategy
    ranks = rank_map(s, model, hardware)
    width = s.dp * s.tp
    shown = min(width, max_columns)
    fig, ax = plt.subplots(figsize=(max(8, 0.35 * shown + 3), max(3, 0.55 * s.pp + 2.2)))
    cmap = plt.get_cmap("tab20")
    ranges = stage_layer_ranges(model, s.pp)
    for row in ranks[ranks["rank"] % width < shown].itertuples():
        x, y = row.rank % width, row.stage
        ax.add_patch(Rectangle((x, y), 1, 1, facecolor=cmap(row.ep_rank % 20), edgecolor="white",
                               linewidth=0.5))
        if shown <= 32:
            ax.text(x + 0.5, y + 0.5, f"{row.rank}\nE{row.experts}" if model.is_moe
                    else f"{row.rank}", ha="center", va="center", fontsize=6)
    for x in range(0, shown + 1, s.tp):
        ax.plot([x, x], [0, s.pp], color="white", linewidth=2)
    for x in range(0, shown + 1):
        ranks_at = [p * width + x for p in range(s.pp)]
        for p, r in enumerate(ranks_at):
            if r % hardware.gpus_per_node == 0:
                ax.plot([x, x], [p, p + 1], color="black", linewidth=1.5)
    ax.set_xlim(0, shown)
    ax.set_ylim(s.pp, 0)
    ax.set_yticks([p + 0.5 for p in range(s.pp)])
    ax.set_yticklabels([f"stage {p}: layers {a}-{b}" for p, (a, b) in enumerate(ranges)], fontsize=7)
    ax.set_xlabel(f"GPU within stage (dp x tp = {width}"
                  + (f", first {shown} shown" if shown < width else "") + ")", fontsize=8)
    title = f"{model.name} on {s.gpus} x {hardware.name}\n{s.label}"
    notation = product_notation(s.dp, s.tp, s.pp, s.ep, s.etp)
    if notation:
        title += f" (product notation {notation})"
    ax.set_title(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.text(0.01, 0.01, "colour = EP rank (experts held); white bars = TP groups; black bars = "
             "node boundaries; cell text = rank and its experts", fontsize=7)
    return fig
