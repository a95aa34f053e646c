"""EP link figures of a GPU preset, fitted to measured NCCL collectives on one node.

data/peers/aiconfigurator_nccl.csv (benchmarks/peers/aiconfigurator_nccl.py) holds the NCCL 2.29.2
all-gather, reduce-scatter and all-to-all times aiconfigurator 0.12.0's collector measured on 2, 4 and
8 GPUs of H100, H200 and B200 nodes. The EP collectives of the cost model (ep_alltoall_only_time_s,
ep_allgather_time_s) are alpha-beta: a GPU moves (n-1)/n of the collective's bytes over its links and
pays one latency per peer. Fitted to those rows, beta is what NCCL delivers at the messages MoE layers
send (1 MiB to 128 MiB), well below the NVLink datasheet figure the presets otherwise use.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from moekit.resources import DATA_DIR

PEER_NCCL = DATA_DIR / "peers" / "aiconfigurator_nccl.csv"
EP_OPS = ("all_gather", "reduce_scatter", "alltoall")  # the collectives an expert dispatch or combine runs
EP_MESSAGES = (2**20, 2**27)  # bytes of one collective, both ends included


def nccl_table() -> pd.DataFrame:
    """The measured rows: system, op, gpus, message_bytes, measured_s (seconds)."""
    return pd.read_csv(PEER_NCCL)


def ep_link_fit(table: pd.DataFrame, system: str, gpus: int = 8) -> tuple[float, float]:
    """(bandwidth B/s per GPU per direction, latency s per peer) of t = m (n-1)/n / beta + (n-1) alpha,
    least squares in relative error over the EP collectives of `gpus` GPUs of `system`."""
    rows = table[(table.system == system) & (table.gpus == gpus) & table.op.isin(EP_OPS)
                 & table.message_bytes.between(*EP_MESSAGES)]
    if len(rows) < 2:
        raise ValueError(f"no NCCL rows for {system!r} on {gpus} GPUs in {PEER_NCCL.name}; systems there: "
                         + ", ".join(sorted(table.system.unique())))
    moved = rows.message_bytes.to_numpy(float) * (gpus - 1) / gpus
    t = rows.measured_s.to_numpy(float)
    # t_model / t - 1 is linear in (1 / beta, alpha): least squares on [moved / t, (n-1) / t] . x = 1
    a = np.column_stack([moved / t, np.full_like(t, gpus - 1) / t])
    (inv_beta, alpha), *_ = np.linalg.lstsq(a, np.ones_like(t), rcond=None)
    return 1.0 / inv_beta, float(alpha)
