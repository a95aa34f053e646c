"""Extract aiconfigurator's measured MoE kernel times at expert parallelism (balanced routing) into
data/peers/aiconfigurator_moe_ep.csv, unchanged apart from ms -> s.

aiconfigurator 0.12.0 ships, per GPU and engine, the MoE kernel times its collector measured on the
engines' own kernels (systems/data/<gpu>/moe/<engine>/<version>/moe_perf.parquet). This keeps the
bf16 rows of a few model shapes on one H200 for moe_tp = 1 and every EP degree, at 1,024 to 16,384
tokens, under balanced routing (every expert the same tokens), for SGLang 0.5.14 and vLLM 0.24.0.
`benchmarks/peers/masked_ep_floor.py` reads the file. Run it in aiconfigurator's own venv (pyarrow):

    /tmp/aic/bin/python benchmarks/peers/aiconfigurator_moe_tables.py     # a few seconds
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import aiconfigurator_core
import pandas as pd

OUT = Path(__file__).resolve().parents[2] / "data" / "peers" / "aiconfigurator_moe_ep.csv"
DATA = Path(aiconfigurator_core.__file__).parent / "systems" / "data" / "h200_sxm" / "moe"
TABLES = {"sglang": "sglang/0.5.14/moe_perf.parquet", "vllm": "vllm/0.24.0/moe_perf.parquet"}
#: (hidden, expert inter size, experts, top-k) -> the moekit model whose MoE layer has that shape
SHAPES = {(2048, 768, 128, 8): "qwen3-30b-a3b", (4096, 1536, 128, 8): "qwen3-235b-a22b",
          (4096, 14336, 8, 2): "mixtral-8x7b", (6144, 16384, 8, 2): "mixtral-8x22b"}
TOKENS = [1024, 4096, 8192, 16384]


def main() -> None:
    rows = []
    for engine, table in TABLES.items():
        df = pd.read_parquet(DATA / table)
        df = df[(df.distribution == "balanced") & (df.moe_tp_size == 1) & (df.moe_dtype == "bfloat16")
                & df.num_tokens.isin(TOKENS)]
        for (hidden, inter, experts, top_k), model in SHAPES.items():
            q = df[(df.hidden_size == hidden) & (df.inter_size == inter) & (df.num_experts == experts)
                   & (df.topk == top_k)]
            for r in q.itertuples(index=False):
                rows.append({"source": "aiconfigurator", "aic_version": importlib.metadata.version("aiconfigurator"),
                             "backend": engine, "backend_version": table.split("/")[1], "system": "h200_sxm",
                             "model": model, "hidden": hidden, "expert_ffn": inter, "experts": experts,
                             "top_k": top_k, "tokens": int(r.num_tokens), "moe_ep": int(r.moe_ep_size),
                             "kernel_source": r.kernel_source, "distribution": r.distribution,
                             "measured_s": float(r.latency) * 1e-3})
    out = pd.DataFrame(rows).sort_values(["backend", "model", "tokens", "moe_ep"])
    out.to_csv(OUT, index=False)
    print(f"{len(out)} rows -> {OUT}")


if __name__ == "__main__":
    main()
