"""Calibration against measured H100/H200 kernels (issue 6): fit efficiencies, score predictions.

Every measured row of `data/measurements/*.csv` becomes a Model/Workload/Strategy shaped like
the timed op, and moekit's own formula for that op predicts its time:

| family      | measured op                         | formula                              |
| ----------- | ----------------------------------- | ------------------------------------ |
| gemm        | `X[T,k] @ W[n,k]^T` (F.linear)      | `lm_head_time_s` (V = n, d = k)      |
| moe_ffn     | routed grouped-GEMM expert FFN      | `prefill_experts_time_s` (S = 1)     |
| attention   | SDPA flash prefill / decode         | `<phase>_attention_core_time_s`      |
| nccl        | all-reduce, all-to-all, send/recv   | TP all-reduce, EP all-to-all, PP send|
| moe_layer   | a whole MoE layer                   | `<phase>_moe_layer_time_s`           |

The fits are Levenberg-Marquardt least squares on log time, deterministic, in stages: bf16 GEMMs
give mfu, gemm_half_rows, hbm_utilization and kernel_overhead; fp8 GEMMs fp8_mfu; then attention,
experts and each collective get their own efficiencies with the GEMM figures held. Off-grid shapes are
held out and never fitted (see `held_out`); the MoE layer is never fitted at all.
`mode` 'graph' fits CUDA-graph replays (the `@calibrated` presets); 'eager' fits eager launches
(`@calibrated-eager`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import sympy as sp

from moekit.errors import SpecError
from moekit.evaluate import hardware_inputs, model_inputs, strategy_inputs, workload_inputs
from moekit.formulas import PHASES, expanded
from moekit.resources import DATA_DIR
from moekit.spec.inputs import Hardware, Model, Preset, Strategy, Workload
from moekit.spec.presets import available_variants, load_hardware_preset

MEASUREMENTS = DATA_DIR / "measurements"
#: calibrated preset -> the device kind whose single-GPU rows fit it
DEVICE_KINDS = {"h100-sxm": "nvidia-h100-x1", "h200": "nvidia-h200-x2"}
#: NCCL was measured on the H200 pair only; H100 SXM has the same NVLink 4 / NVSwitch generation
NCCL_DEVICE_KIND = "nvidia-h200-x2"
#: preset variant -> timing mode of the rows it is fitted to
VARIANTS = {"calibrated": "graph", "calibrated-eager": "eager"}
FAMILIES = ("gemm", "gemm_fp8", "elementwise", "moe_ffn", "attention", "all_reduce", "all_to_all",
            "send_recv", "moe_layer")
TARGETS = {"moe_layer": 0.15}  # median absolute error on held-out rows; 0.10 for every op family
DEFAULT_TARGET = 0.10

#: parameters each stage fits (fractions stay in (0, 1], the others > 0)
STAGES = {
    "gemm": ("mfu", "gemm_half_rows", "hbm_utilization", "kernel_overhead"),
    "elementwise": ("elementwise_hbm_utilization", "elementwise_kernel_time"),
    "gemm_fp8": ("fp8_mfu",),
    "attention": ("attention_mfu", "attention_half_rows", "attention_hbm_utilization",
                  "attention_half_bytes", "attention_one_wave_hbm_utilization",
                  "attention_softmax_flops", "attention_block_time"),
    "moe_ffn": ("expert_mfu", "expert_hbm_utilization", "expert_dispatch_time", "expert_half_rows"),
    "all_reduce": ("intra_node_bandwidth", "intra_node_latency"),
    "all_to_all": ("alltoall_bandwidth", "alltoall_latency"),
    "send_recv": ("p2p_bandwidth", "p2p_latency"),
}
FRACTIONS = {"mfu", "hbm_utilization", "attention_mfu", "attention_hbm_utilization", "expert_mfu",
             "expert_hbm_utilization", "elementwise_hbm_utilization", "fp8_mfu",
             "attention_one_wave_hbm_utilization", "fp8_expert_mfu", "weight_only_expert_mfu",
             "ep_expert_mfu_ratio"}
#: start of every fit (neutral values, the same for every GPU)
START = {"mfu": 0.5, "gemm_half_rows": 64.0, "hbm_utilization": 0.8, "hbm_half_bytes": 1e6,
         "kernel_overhead": 5e-6,
         "attention_mfu": 0.3, "attention_half_rows": 64.0, "attention_hbm_utilization": 0.8,
         "attention_half_bytes": 1e6, "attention_one_wave_hbm_utilization": 0.8,
         "expert_mfu": 0.4, "expert_hbm_utilization": 0.7, "expert_dispatch_time": 20e-6,
         "expert_half_rows": 64.0, "elementwise_hbm_utilization": 0.8,
         "elementwise_kernel_time": 2e-6, "fp8_mfu": 0.5, "fp8_expert_mfu": 0.3,
         "expert_half_width": 64.0, "weight_only_expert_mfu": 0.3, "ep_expert_mfu_ratio": 0.8,
         "attention_softmax_flops": 64.0,
         "attention_block_time": 1e-6, "intra_node_bandwidth": 300e9,
         "intra_node_latency": 5e-6, "alltoall_bandwidth": 300e9, "alltoall_latency": 5e-6,
         "p2p_bandwidth": 300e9, "p2p_latency": 5e-6}


# --- measurements ------------------------------------------------------------------------


def _power_of_two(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    return (x > 0) & ((x & (x - 1)) == 0)


@lru_cache(maxsize=8)
def measurements(csv: str) -> pd.DataFrame:
    """One measurement CSV with a `held_out` column: True for the rows no fit may use.

    Held out: the off-grid 3x2^p token counts (gemm, moe_ffn) and message sizes (nccl); the fp8
    GEMMs of 2^(2p+1) tokens (fp8 ran on powers of two only); in attention, the off-grid lengths
    and every row with batch 2, 16 or 128; the whole MoE layer.
    """
    df = pd.read_csv(MEASUREMENTS / f"{csv}.csv")
    if csv == "gemm":  # fp8 ran on 2^p only: its 2^(2p+1) token counts stand in for the off-grid ones
        odd = np.log2(df["m_tokens"]).round() % 2 == 1
        held = ~_power_of_two(df["m_tokens"]) | (df["dtype"].str.startswith("fp8") & odd)
    elif csv == "moe_ffn":
        held = ~_power_of_two(df["tokens"])
    elif csv == "nccl":
        held = ~_power_of_two(df["msg_bytes"])
    elif csv == "ceilings":  # copies of 2^(2p+1) bytes are held out; the GEMM peaks are not fitted
        size = df["buffer_bytes"].fillna(0).to_numpy(dtype=np.int64)
        held = (df["op"] == "copy").to_numpy() & (np.log2(np.maximum(size, 1)).round() % 2 == 1)
    elif csv == "attention":
        length = np.where(df["phase"] == "prefill", df["q_len"], df["kv_len"])
        held = ~_power_of_two(length) | df["batch"].isin([2, 16, 128])
    else:
        held = np.ones(len(df), dtype=bool)
    return df.assign(held_out=np.asarray(held, dtype=bool))


def _timed_as(df: pd.DataFrame, mode: str, shape: list[str]) -> pd.DataFrame:
    """Rows timed in `mode`. For 'graph', ops never captured as graphs (prefill, large T) keep their
    eager rows: they are long enough that the launch is hidden."""
    if mode == "eager":
        return df[df["mode"] == "eager"]
    keys = df[shape].fillna(-1).astype(str).agg("|".join, axis=1)
    graphed = set(keys[df["mode"] == "graph"])
    keep = (df["mode"] == "graph") | ((df["mode"] == "eager") & ~keys.isin(graphed))
    return df[keep.to_numpy()]


# --- cases: measured rows as moekit inputs ----------------------------------------------


@dataclass(frozen=True)
class Case:
    """Measured rows of one family on one GPU, as moekit inputs, and the formula predicting each."""

    family: str
    rows: pd.DataFrame
    inputs: dict  # input name -> array (hardware inputs excluded)
    formulas: np.ndarray  # formula name per row
    dtypes: np.ndarray  # compute precision per row

    @property
    def measured_s(self) -> np.ndarray:
        return self.rows["time_s"].to_numpy(dtype=float)


def _shape_gemm(r) -> tuple:
    model = Model(name="gemm", num_layers=1, d_model=int(r.k), vocab_size=int(r.n), num_heads=1,
                  dense_ffn_dim=1)
    dtype = "fp8" if r.dtype.startswith("fp8") else "bf16"
    work = Workload(batch=int(r.m_tokens), prompt_len=1, weight_dtype=dtype, activation_dtype="bf16")
    return model, work, Strategy(), "lm_head_time_s"


def _shape_moe_ffn(r) -> tuple:
    model = Model(name=r.config, num_layers=1, d_model=int(r.d_model), vocab_size=1, num_heads=1,
                  num_experts=int(r.n_experts), top_k=int(r.top_k), expert_ffn_dim=int(r.d_ff))
    return model, Workload(batch=int(r.tokens), prompt_len=1), Strategy(), "prefill_experts_time_s"


def _shape_attention(r) -> tuple:
    model = Model(name=r.shape_name, num_layers=1, d_model=int(r.n_heads_q * r.head_dim),
                  vocab_size=1, num_heads=int(r.n_heads_q), num_kv_heads=int(r.n_heads_kv),
                  head_dim=int(r.head_dim), dense_ffn_dim=1)
    if r.phase == "prefill":
        work = Workload(batch=int(r.batch), prompt_len=int(r.q_len))
    else:
        work = Workload(batch=int(r.batch), prompt_len=int(r.kv_len), decode_context=int(r.kv_len))
    return model, work, Strategy(), f"{r.phase}_attention_core_time_s"


def _shape_copy(r) -> tuple:
    # one elementwise kernel (see _ELEMENTWISE_COPY) reading and writing a d-wide bf16 vector
    model = Model(name="copy", num_layers=1, d_model=int(r.buffer_bytes) // 2, vocab_size=1,
                  num_heads=1, dense_ffn_dim=1)
    return model, Workload(batch=1, prompt_len=1), Strategy(), "prefill_layer_elementwise_time_s"


#: a copy is one elementwise kernel moving 2 vectors (read + write)
_ELEMENTWISE_COPY = {"elementwise_kernels_per_layer": 1.0, "elementwise_passes_per_layer": 2.0}


def _shape_moe_layer(r) -> tuple:
    model = Model(name=r.config, num_layers=1, d_model=int(r.d_model), vocab_size=1,
                  num_heads=int(r.n_heads_q), num_kv_heads=int(r.n_heads_kv),
                  head_dim=int(r.head_dim), num_experts=int(r.n_experts), top_k=int(r.top_k),
                  expert_ffn_dim=int(r.d_ff))
    if r.phase == "prefill":
        work = Workload(batch=int(r.batch), prompt_len=int(r.seq_len))
    else:  # the new token attends to the C cached positions and itself
        work = Workload(batch=int(r.batch), prompt_len=int(r.context_len),
                        decode_context=int(r.context_len) + 1)
    return model, work, Strategy(), f"{r.phase}_moe_layer_time_s"


def _shape_nccl(r) -> tuple:
    width = int(r.msg_bytes) // 2  # bf16 elements: one token of width d carries the message
    if r.op == "all_reduce":  # one TP all-reduce of one token over tp = 2
        model = Model(name="msg", num_layers=1, d_model=width, vocab_size=1, num_heads=2,
                      dense_ffn_dim=1)
        return model, Workload(batch=1, prompt_len=1), Strategy(tp=2), "prefill_tp_allreduce_time_s"
    if r.op == "all_to_all":  # one EP dispatch: each of 2 ranks sends one token (k = 1)
        model = Model(name="msg", num_layers=1, d_model=width, vocab_size=1, num_heads=1,
                      num_experts=2, top_k=1, expert_ffn_dim=1)
        return (model, Workload(batch=2, prompt_len=1), Strategy(dp=2, ep=2),
                "prefill_ep_alltoall_time_s")
    model = Model(name="msg", num_layers=2, d_model=width, vocab_size=1, num_heads=1,
                  dense_ffn_dim=1)  # one PP send of one token between 2 stages
    return model, Workload(batch=1, prompt_len=1), Strategy(pp=2), "prefill_pp_send_time_s"


#: family -> the CSV holding its rows (others: the file of the family's own name)
CSV_OF = {"gemm_fp8": "gemm", "elementwise": "ceilings", "all_reduce": "nccl", "all_to_all": "nccl",
          "send_recv": "nccl"}
_SHAPE_KEYS = {
    "gemm": ["shape_name", "proj", "m_tokens", "dtype"],
    "moe_ffn": ["config", "tokens"],
    "attention": ["shape_name", "phase", "batch", "q_len", "kv_len"],
    "moe_layer": ["config", "phase", "batch", "seq_len", "context_len"],
    "nccl": ["op", "msg_bytes"],
    "ceilings": ["op", "dtype", "m", "n", "k", "buffer_bytes"],
}


def _family_rows(family: str, device_kind: str, mode: str) -> tuple[pd.DataFrame, object]:
    """(rows, shape function) of one family on one device kind, timed in `mode`."""
    csv = CSV_OF.get(family, family)
    df = measurements(csv)
    df = df[df["device_kind"] == device_kind]
    if family == "gemm":
        df = df[df["dtype"] == "bf16"]
    elif family == "gemm_fp8":
        df = df[df["dtype"].str.startswith("fp8")]
    elif family == "elementwise":
        df = df[df["op"] == "copy"]
    elif family == "moe_ffn":
        df = df[df["impl"] == "grouped_mm"]
    elif family == "attention":
        df = df[df["backend"] == "flash"]
    elif csv == "nccl":
        df = df[df["op"] == family]
    df = _timed_as(df, mode, _SHAPE_KEYS[csv])
    shape = {"gemm": _shape_gemm, "moe_ffn": _shape_moe_ffn, "attention": _shape_attention,
             "moe_layer": _shape_moe_layer, "nccl": _shape_nccl}.get(csv)
    if csv == "ceilings":
        shape = _shape_copy
    return df.reset_index(drop=True), shape


@lru_cache(maxsize=64)
def case(family: str, gpu: str, mode: str = "graph") -> Case:
    """The measured rows of `family` on `gpu` ('h100-sxm' or 'h200') timed in `mode`."""
    kind = NCCL_DEVICE_KIND if family in ("all_reduce", "all_to_all", "send_recv") else DEVICE_KINDS[gpu]
    rows, shape = _family_rows(family, kind, mode)
    records, formulas, dtypes = [], [], []
    for r in rows.itertuples(index=False):
        model, work, strategy, name = shape(r)
        records.append({**model_inputs(model), **workload_inputs(work), **strategy_inputs(strategy),
                        **(_ELEMENTWISE_COPY if family == "elementwise" else {})})
        formulas.append(name)
        dtypes.append(work.compute_dtype)
    table = pd.DataFrame.from_records(records)
    inputs = {c: table[c].to_numpy(dtype=float) for c in table.columns}
    return Case(family, rows, inputs, np.array(formulas), np.array(dtypes))


# --- prediction through moekit's formulas -------------------------------------------------


@lru_cache(maxsize=32)
def _formula_function(name: str):
    """(argument names, numpy function) of one registry formula, written in input symbols.

    `prefill_<f>` / `decode_<f>` is formula f with that phase's step inputs put in.
    """
    phase, base = name.split("_", 1) if name.split("_", 1)[0] in PHASES else (None, name)
    expr = expanded(base)
    if phase is not None:
        expr = expr.xreplace(PHASES[phase])
    args = sorted(s.name for s in expr.free_symbols)
    fn = sp.lambdify([sp.Symbol(a, nonnegative=True, real=True) for a in args], expr,
                     modules="numpy", cse=True)
    return tuple(args), fn


def predict(c: Case, hardware: Hardware) -> np.ndarray:
    """Predicted seconds of every row of `c` on `hardware`, through moekit's formulas."""
    out = np.empty(len(c.rows))
    for dtype in np.unique(c.dtypes):
        hw = hardware_inputs(hardware, dtype)
        for name in np.unique(c.formulas):
            sel = (c.dtypes == dtype) & (c.formulas == name)
            if not sel.any():
                continue
            args, fn = _formula_function(name)
            values = [c.inputs[a][sel] if a in c.inputs else np.full(sel.sum(), hw[a]) for a in args]
            with np.errstate(all="ignore"):
                out[sel] = np.broadcast_to(fn(*values), sel.sum())
    return out


# --- fitting -------------------------------------------------------------------------------


def _to_free(name: str, value: float) -> float:
    value = max(value, 1e-12)
    if name in FRACTIONS:
        value = min(value, 1 - 1e-9)
        return float(np.log(value / (1 - value)))
    return float(np.log(value))


def _from_free(name: str, z: float) -> float:
    with np.errstate(over="ignore"):  # a trial step far out: the fit rejects its infinite cost
        return float(np.clip(1 / (1 + np.exp(-z)), 1e-9, 1.0)) if name in FRACTIONS else float(np.exp(z))


def least_squares(residual, names: tuple[str, ...], start: dict, iterations: int = 60) -> dict:
    """Values of `names` that minimise |residual(values)|^2, by Levenberg-Marquardt from `start`.

    Fractions (FRACTIONS) are fitted through a logistic, everything else through a log, so every
    result stays physical; a size or time that runs to nothing (below 1e-9 of its start) is
    reported as the 0 it means.
    """
    def values_of(z: np.ndarray) -> dict:
        return {n: _from_free(n, zi) for n, zi in zip(names, z, strict=True)}

    z = np.array([_to_free(n, start[n]) for n in names])
    r = residual(values_of(z))
    cost, damping = float(r @ r), 1e-3
    for _ in range(iterations):
        step = 1e-5
        jac = np.column_stack([(residual(values_of(z + step * np.eye(len(z))[i])) - r) / step
                               for i in range(len(z))])
        jtj, jtr = jac.T @ jac, jac.T @ r
        improved = False
        while damping < 1e8:
            dz = np.linalg.solve(jtj + damping * np.diag(np.diag(jtj) + 1e-12), -jtr)
            r_new = residual(values_of(z + dz))
            cost_new = float(r_new @ r_new)
            if cost_new < cost:
                z, r, damping, improved = z + dz, r_new, damping / 3, True
                break
            damping *= 4
        if not improved or cost - cost_new < 1e-10 * cost:
            break
        cost = cost_new
    values = values_of(z)
    return {n: (0.0 if n not in FRACTIONS and v < 1e-9 * start[n] else v) for n, v in values.items()}


def fit_stage(c: Case, hardware: Hardware, names: tuple[str, ...], iterations: int = 60) -> dict:
    """Fields `names` of `hardware` that minimise the squared log error on the fitting rows of `c`,
    from the neutral START values."""
    fit_rows = ~c.rows["held_out"].to_numpy()
    sub = Case(c.family, c.rows[fit_rows], {k: v[fit_rows] for k, v in c.inputs.items()},
               c.formulas[fit_rows], c.dtypes[fit_rows])
    log_measured = np.log(sub.measured_s)

    def residual(fields: dict) -> np.ndarray:
        return np.log(predict(sub, dataclasses.replace(hardware, **fields))) - log_measured

    return least_squares(residual, names, START, iterations)


@lru_cache(maxsize=8)
def fitted_parameters(gpu: str, mode: str = "graph") -> dict:
    """Every fitted field of `gpu` for timing `mode`, stage by stage (each holds the ones before)."""
    if gpu not in DEVICE_KINDS:
        raise SpecError(f"calibration of {gpu!r}", f"no measurements; calibrated GPUs: "
                        f"{', '.join(DEVICE_KINDS)}")
    hw = dataclasses.replace(load_hardware_preset(gpu).spec, sm_count=sm_count(gpu), **FLASH_KERNEL)
    fitted: dict = {}
    for stage, names in STAGES.items():
        found = fit_stage(case(stage, gpu, mode), hw, names)
        fitted.update(found)
        hw = dataclasses.replace(hw, **found)
    return fitted


# --- calibrated presets --------------------------------------------------------------------

#: the measured layer's separate elementwise kernels (benchmarks/gpu/bench_moe_layer.py), counted:
#: each RMSNorm in fp32 is float(), pow, mean, +eps, rsqrt, mul, to(bf16), *weight = 8 kernels
#: moving 18 bf16-vector equivalents per token (3+4+2+4+3+2); 2 residual adds (3 each); router
#: float(), softmax, top-k, sum, divide (E-wide, bytes neglected); K and V cache writes (decode).
TORCH_LAYER = {"elementwise_kernels_per_layer": 2 * 8 + 2 + 5 + 2,
               "elementwise_passes_per_layer": 2 * 18 + 2 * 3}


#: counted, not fitted: FlashAttention-2's forward kernel (torch SDPA's flash backend) on sm90 runs
#: 128-row query blocks for head_dim 64 and 128 (kBlockM = 128 in flash_fwd_launch_template.h)
FLASH_KERNEL = {"attention_block_rows": 128.0}


def sm_count(gpu: str) -> int:
    """SMs of `gpu` as the runs' metadata recorded them (one count over every run)."""
    import json

    runs = measurements("attention").query("device_kind == @DEVICE_KINDS[@gpu]")["run_id"].unique()
    counts = {json.loads((MEASUREMENTS / "runs" / run / "attention.meta.json").read_text())["sm_count"]
              for run in runs}
    if len(counts) != 1:
        raise SpecError(f"calibration of {gpu!r}", f"runs disagree on the SM count: {sorted(counts)}")
    return int(counts.pop())


def _provenance(gpu: str, mode: str) -> dict:
    runs = sorted(measurements("gemm").query("device_kind == @DEVICE_KINDS[@gpu]")["run_id"].unique())
    nccl_runs = sorted(measurements("nccl")["run_id"].unique())
    where = f"runs {', '.join(runs)}"
    source = {}
    for stage, names in STAGES.items():
        csv = CSV_OF.get(stage, stage)
        text = (f"measured: fitted by moekit.calibration.fit to data/measurements/{csv}.csv "
                f"({stage} on-grid {mode} rows, ")
        text += (f"2 x H200 over NVLink, runs {', '.join(nccl_runs)})" if csv == "nccl"
                 else f"{where})")
        source.update(dict.fromkeys(names, text))
    return source


@lru_cache(maxsize=8)
def calibrated_preset(gpu: str, variant: str = "calibrated") -> Preset:
    """`gpu`'s bundled preset with the fields fitted to the measurements (e.g. 'h200', 'calibrated')."""
    if variant not in VARIANTS or gpu not in DEVICE_KINDS:
        raise SpecError(f"hardware {gpu}@{variant}", "no measurements for this GPU and variant; "
                        "available: " + ", ".join(available_variants()))
    mode = VARIANTS[variant]
    base = load_hardware_preset(gpu)
    fitted = fitted_parameters(gpu, mode)
    spec = dataclasses.replace(base.spec, name=f"{gpu}@{variant}", **fitted, **TORCH_LAYER,
                               **FLASH_KERNEL, sm_count=sm_count(gpu))
    source = {**(base.source or {}), **_provenance(gpu, mode),
              "sm_count": "data/measurements/runs/*/attention.meta.json (torch device properties)"}
    assumed = {k: v for k, v in base.assumed.items() if k not in fitted}
    if gpu != "h200":
        for name in STAGES["all_reduce"] + STAGES["all_to_all"] + STAGES["send_recv"]:
            assumed[name] = ("NCCL was measured on 2 x H200 only; taken for H100 SXM, which has the "
                             "same NVLink 4 (450 GB/s per direction)")
    for name in TORCH_LAYER:
        assumed[name] = ("counted, not fitted: the unfused torch layer of "
                         "benchmarks/gpu/bench_moe_layer.py (two fp32 RMSNorms of 8 kernels and 18 "
                         "vector passes each, 2 residual adds, router softmax/top-k/renormalise, "
                         "the decode KV write); an engine with fused norm/residual kernels has fewer")
    assumed["attention_block_rows"] = ("counted, not fitted: FlashAttention-2's forward kernel on "
                                       "sm90 runs 128-row query blocks (head_dim 64 and 128)")
    assumed["group_size"] = ("collectives were measured over 2 GPUs only; larger groups and "
                             "inter-node links are the alpha-beta extrapolation, not measured")
    notes = (f"{base.notes} Calibrated: efficiencies fitted to the H100/H200 measurements "
             f"(data/measurements, {mode} timings) by moekit.calibration.fit.").strip()
    return Preset(spec, source, notes, assumed, f"{base.path}@{variant}")


# --- accuracy --------------------------------------------------------------------------------


def _phase_of(c: Case) -> np.ndarray:
    if "phase" in c.rows:
        return c.rows["phase"].to_numpy()
    return np.full(len(c.rows), "")


def predictions(gpu: str, mode: str = "graph") -> pd.DataFrame:
    """Every measured row of every family on `gpu`: measured, plain-preset and calibrated seconds."""
    plain = load_hardware_preset(gpu).spec
    calibrated = calibrated_preset(gpu, [v for v, m in VARIANTS.items() if m == mode][0]).spec
    frames = []
    for family in FAMILIES:
        if family in STAGES and family.startswith(("all_", "send")) and DEVICE_KINDS[gpu] != NCCL_DEVICE_KIND:
            continue  # NCCL ran on the H200 pair only: scored there, not again under another GPU
        c = case(family, gpu, mode)
        if not len(c.rows):
            continue
        frames.append(pd.DataFrame({
            "gpu": gpu, "mode": mode, "family": family, "phase": _phase_of(c),
            "held_out": c.rows["held_out"].to_numpy(), "flops": c.rows["flops"].to_numpy(),
            "bytes": c.rows["bytes"].to_numpy(), "measured_s": c.measured_s,
            "plain_s": predict(c, plain), "calibrated_s": predict(c, calibrated)}))
    df = pd.concat(frames, ignore_index=True)
    df["error_plain"] = df["plain_s"] / df["measured_s"] - 1
    df["error_calibrated"] = df["calibrated_s"] / df["measured_s"] - 1
    return df


def accuracy_table(mode: str = "graph", held_out: bool = True) -> pd.DataFrame:
    """Median absolute percentage error per GPU and family (attention and layer per phase),
    plain presets against calibrated ones, on the held-out rows (or the fitting rows)."""
    rows = []
    for gpu in DEVICE_KINDS:
        df = predictions(gpu, mode)
        df = df[df["held_out"] == held_out]
        df = df.assign(group=np.where(df["phase"] != "", df["family"] + " " + df["phase"],
                                      df["family"]))
        for (family, group), g in df.groupby(["family", "group"], sort=False):
            target = TARGETS.get(family, DEFAULT_TARGET)
            after = float(np.median(np.abs(g["error_calibrated"])) * 100)
            rows.append(dict(gpu=gpu, family=group, rows=len(g),
                             mape_plain_pct=float(np.median(np.abs(g["error_plain"])) * 100),
                             mape_calibrated_pct=after, target_pct=target * 100,
                             meets_target=after <= target * 100))
    return pd.DataFrame(rows)


def parameter_table(mode: str = "graph") -> pd.DataFrame:
    """Fitted fields per GPU, beside the bundled preset's value (None: falls back to the GEMM one)."""
    rows = []
    for gpu in DEVICE_KINDS:
        base = load_hardware_preset(gpu).spec
        for name, value in fitted_parameters(gpu, mode).items():
            rows.append(dict(gpu=gpu, parameter=name, preset=getattr(base, name), fitted=value))
    return pd.DataFrame(rows)


def plot_predicted_vs_measured(gpu: str, mode: str = "graph"):
    """One log-log panel per family: predicted against measured time, plain and calibrated."""
    from matplotlib.figure import Figure

    df = predictions(gpu, mode)
    df = df.assign(group=np.where(df["phase"] != "", df["family"] + " " + df["phase"], df["family"]))
    groups = list(dict.fromkeys(df["group"]))
    cols = 4
    fig = Figure(figsize=(16, 3.6 * ((len(groups) + cols - 1) // cols)))
    axes = fig.subplots((len(groups) + cols - 1) // cols, cols, squeeze=False)
    for ax, group in zip(axes.flat, groups, strict=False):
        g = df[df["group"] == group]
        us = 1e6
        plain = g[g["plain_s"] > 0]  # a term the plain preset leaves out predicts 0: no log point
        ax.scatter(plain["measured_s"] * us, plain["plain_s"] * us, s=8, marker="x", color="0.6",
                   label="plain preset")
        fit, held = g[~g["held_out"]], g[g["held_out"]]
        ax.scatter(fit["measured_s"] * us, fit["calibrated_s"] * us, s=10, facecolors="none",
                   edgecolors="tab:blue", label="calibrated, fitted rows")
        ax.scatter(held["measured_s"] * us, held["calibrated_s"] * us, s=10, color="tab:red",
                   label="calibrated, held-out rows")
        times = g[["measured_s", "plain_s", "calibrated_s"]].to_numpy()
        lo = float(times[times > 0].min()) * us / 1.5
        hi = float(times.max()) * us * 1.5
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), title=group,
               xlabel="measured time [µs]", ylabel="predicted time [µs]")
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{gpu}: moekit against measured kernels ({mode} timings)")
    fig.tight_layout()
    return fig
