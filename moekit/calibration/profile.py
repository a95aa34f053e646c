"""Stack terms read off a per-layer kernel profile of Hugging Face transformers on a GPU.

data/measurements/hf_kernel_profile.csv (benchmarks/gpu/e2e/hf_kernel_profile.py) holds, per model and
point, each kernel's calls and GPU seconds in one step of a model cut to its first 2 and its first 4
decoder layers; one layer is (4-layer - 2-layer) / 2, so embedding, final norm and LM head drop out.
"""

from __future__ import annotations

import pandas as pd

from moekit.resources import DATA_DIR

PROFILE = DATA_DIR / "measurements" / "hf_kernel_profile.csv"
POINT = ["model", "phase", "batch", "prompt_len", "context"]


def kernel_profile() -> pd.DataFrame:
    """The profile's rows (GPU seconds per kernel per step, host wall time in the `__step__` rows)."""
    return pd.read_csv(PROFILE)


def per_layer(profile: pd.DataFrame, kernel_contains: str | None = None) -> pd.DataFrame:
    """Calls and GPU seconds of one decoder layer per point, summed over the kernels whose name holds
    `kernel_contains` (every kernel when None), with the point's tokens (prefill: batch x prompt_len;
    decode: batch)."""
    rows = profile[profile.kernel != "__step__"]
    if kernel_contains is not None:
        rows = rows[rows.kernel.str.contains(kernel_contains, regex=False)]
    sums = rows.groupby(POINT + ["layers"])[["calls", "gpu_s"]].sum().unstack("layers", fill_value=0)
    out = pd.DataFrame({"calls": (sums["calls"][4] - sums["calls"][2]) / 2,
                        "gpu_s": (sums["gpu_s"][4] - sums["gpu_s"][2]) / 2}).reset_index()
    out["tokens"] = out.batch * out.prompt_len.where(out.phase == "prefill", 1)
    return out


def kernels_per_layer(profile: pd.DataFrame) -> float:
    """Kernels one decoder layer launches in a decode step: the median over the profiled models."""
    layer = per_layer(profile)
    return float(layer[layer.phase == "decode"].calls.median())


def moe_token_time(profile: pd.DataFrame, models: list[str]) -> float:
    """GPU seconds per token of one layer's masked_fill kernels, median over `models`' prefill points.

    transformers' MoE layers launch three masked_fill kernels whose time follows the tokens (prefill
    8 x 1024 takes twice 1 x 4096), not the square causal mask, the experts or the width. Decode
    points (64 tokens) are left out: there the kernels' fixed time, not the tokens, sets it."""
    layer = per_layer(profile, "masked_fill")
    layer = layer[layer.model.isin(models) & (layer.phase == "prefill")]
    return float((layer.gpu_s / layer.tokens).median())
