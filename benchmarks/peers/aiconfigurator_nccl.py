"""Extract aiconfigurator's measured NCCL collective times into data/peers/aiconfigurator_nccl.csv,
unchanged apart from ms -> s and elements -> bytes.

aiconfigurator 0.12.0 ships, per GPU, NCCL all-gather, reduce-scatter, all-to-all and all-reduce times
its collector measured on 2, 4 and 8 GPUs of one node (systems/data/<gpu>/comm/nccl/<version>/
nccl_perf.parquet; `message_size` counts elements of `nccl_dtype`). This keeps NCCL 2.29.2, fp16, for
H100 SXM, H200 SXM and B200 SXM. moekit.calibration.links fits the EP link figures of the hardware
presets (alltoall_bandwidth, alltoall_latency) to it. Run it in aiconfigurator's own venv (pyarrow):

    /tmp/aic/bin/python benchmarks/peers/aiconfigurator_nccl.py     # a second
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import aiconfigurator_core
import pandas as pd

OUT = Path(__file__).resolve().parents[2] / "data" / "peers" / "aiconfigurator_nccl.csv"
DATA = Path(aiconfigurator_core.__file__).parent / "systems" / "data"
SYSTEMS = ["h100_sxm", "h200_sxm", "b200_sxm"]
NCCL = "2.29.2"
BYTES = {"half": 2}


def main() -> None:
    frames = []
    for system in SYSTEMS:
        df = pd.read_parquet(DATA / system / "comm" / "nccl" / NCCL / "nccl_perf.parquet")
        df = df[df.nccl_dtype.isin(list(BYTES))]
        frames.append(pd.DataFrame({
            "source": "aiconfigurator", "aic_version": importlib.metadata.version("aiconfigurator"),
            "system": system, "device": df.device, "nccl_version": df.version, "op": df.op_name,
            "gpus": df.num_gpus, "dtype": df.nccl_dtype, "message_elements": df.message_size,
            "message_bytes": df.message_size * df.nccl_dtype.map(BYTES), "measured_s": df.latency * 1e-3}))
    out = pd.concat(frames).sort_values(["system", "op", "gpus", "message_bytes"])
    out.to_csv(OUT, index=False)
    print(f"{len(out)} rows -> {OUT}")


if __name__ == "__main__":
    main()
