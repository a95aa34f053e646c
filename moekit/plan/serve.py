"""The serving planner: which deployment gives the most tokens/s per GPU while every user sees
TTFT <= target and TPOT <= target, aggregated or with separate prefill and decode pools.

An instance is one copy of the weights on dp x tp GPUs (pp = 1, experts folded: ep x etp = dp x tp,
as the engines deploy MoE). Concurrency per attention-DP rank is searched, capped by the KV cache
that fits. Step times come from the cost model on the chosen stack; what a load of requests makes
of them is moekit.formulas.serving. Everything is evaluated as numpy arrays over all candidates at
once: strategies x concurrencies (decode), strategies x prompt batches (prefill).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sympy as sp

from moekit.errors import SpecError
from moekit.evaluate import evaluate_arrays, hardware_inputs, model_inputs, workload_inputs
from moekit.formulas.serving import SERVING
from moekit.plan.launch import Pool
from moekit.plan.space import SpaceLimits, enumerate_space
from moekit.spec.inputs import Hardware, Model, Strategy, Targets, Workload
from moekit.spec.stack import Stack

MODES = ("agg", "disagg", "both")
#: sequences per attention-DP rank tried in decode, prompts per DP rank in a prefill step
DECODE_PER_RANK = 2 ** np.arange(0, 11)  # 1 .. 1024
PREFILL_PER_RANK = 2 ** np.arange(0, 7)  # 1 .. 64
MEMORY_FRACTION = 0.9  # of HBM the engines let weights + KV cache take (mem-fraction-static style)


@dataclass(frozen=True)
class ServeQuery:
    """What the deployment owner asks: a model on GPUs, a request shape and the SLA."""

    model: Model
    hardware: Hardware
    stack: Stack
    max_gpus: int
    isl: int
    osl: int
    ttft_s: float | None = None
    tpot_s: float | None = None
    mode: str = "both"
    weight_dtype: str = "bf16"
    kv_dtype: str = ""
    attention_dtype: str = "bf16"  # the engines run attention in bf16 even with fp8 GEMMs
    expert_dtype: str = ""  # routed-expert weights ("": weight_dtype), e.g. mxfp4 for gpt-oss
    # idealised aggregated serving in which every attention-DP rank prefills in the same steps
    # (aiconfigurator's assumption); False: a step lasts as long as its busiest rank's prefill
    balanced_attention_dp: bool = False

    def __post_init__(self):
        if self.mode not in MODES:
            raise SpecError("mode", f"{self.mode!r}; allowed: {', '.join(MODES)}")
        for name in ("max_gpus", "isl", "osl"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise SpecError(name, f"{value!r} must be a whole number >= 1")
        for name in ("ttft_s", "tpot_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise SpecError(name, f"{value!r} must be a time > 0 (or left out: no target)")


@dataclass
class ServePlan:
    query: ServeQuery
    agg: pd.DataFrame  # every aggregated candidate
    disagg: pd.DataFrame  # every disaggregated candidate (best prefill pool per decode candidate)
    frontier: pd.DataFrame
    best: pd.Series | None
    search_s: float
    notes: list[str] = field(default_factory=list)


def _serving_fn(name: str):
    expr = SERVING[name].expr
    for _ in range(len(SERVING)):  # substitute serving formulas used inside others
        subs = {s: SERVING[s.name].expr for s in expr.free_symbols if s.name in SERVING}
        if not subs:
            break
        expr = expr.xreplace(subs)
    args = sorted(s.name for s in expr.free_symbols)
    fn = sp.lambdify([sp.Symbol(a, nonnegative=True, real=True) for a in args], expr, "numpy")
    return lambda values: fn(*(values[a] for a in args))


def instances(q: ServeQuery) -> pd.DataFrame:
    """Every instance strategy: pp 1, experts folded over all its GPUs, weights fitting."""
    work = Workload(batch=4096, prompt_len=q.isl, output_len=q.osl, weight_dtype=q.weight_dtype,
                    kv_dtype=q.kv_dtype, expert_dtype=q.expert_dtype)
    space = enumerate_space(q.model, q.hardware, work, Targets(max_gpus=q.max_gpus),
                            SpaceLimits(max_pp=1, max_microbatches=1))
    folded = space.ep * space.etp == space.dp * space.tp
    space = space[(space.pp == 1) & (space.microbatches == 1) & folded]
    return space[["dp", "tp", "ep", "etp", "gpus"]].reset_index(drop=True)


def _grid(strategies: pd.DataFrame, per_rank: np.ndarray) -> pd.DataFrame:
    grid = strategies.loc[strategies.index.repeat(len(per_rank))].reset_index(drop=True)
    grid["per_rank"] = np.tile(per_rank, len(strategies))
    grid["batch"] = grid.per_rank * grid.dp
    return grid


def _cost(q: ServeQuery, grid: pd.DataFrame, batch: np.ndarray) -> dict[str, np.ndarray]:
    work = Workload(batch=1, prompt_len=q.isl, output_len=q.osl, decode_context=q.isl + q.osl // 2,
                    weight_dtype=q.weight_dtype, kv_dtype=q.kv_dtype, attention_dtype=q.attention_dtype,
                    expert_dtype=q.expert_dtype, activation_dtype="bf16")
    inputs = {**model_inputs(q.model), **hardware_inputs(q.hardware, work, q.stack),
              **workload_inputs(work), "batch": batch, "pp": 1.0, "microbatches": 1.0}
    inputs.update({k: grid[k].to_numpy(dtype=float) for k in ("dp", "tp", "ep", "etp")})
    return evaluate_arrays(q.model.attention, inputs)


def _label(r) -> str:
    return Strategy(dp=int(r.dp), tp=int(r.tp), ep=int(r.ep), etp=int(r.etp)).label


def _meets(q: ServeQuery, ttft, tpot) -> np.ndarray:
    ok = np.ones(np.shape(ttft), dtype=bool)
    if q.ttft_s is not None:
        ok &= ttft <= q.ttft_s
    if q.tpot_s is not None:
        ok &= tpot <= q.tpot_s
    return ok


def decode_candidates(q: ServeQuery, strategies: pd.DataFrame) -> pd.DataFrame:
    """Instances x concurrencies whose KV cache fits: TPOT, and the prefill of one step's chunk."""
    grid = _grid(strategies, DECODE_PER_RANK)
    dec = _cost(q, grid, grid.batch.to_numpy(dtype=float))
    grid["tpot_s"] = dec["tpot_s"]
    grid["memory_fraction"] = dec["memory_bytes_per_gpu"] / q.hardware.memory_bytes
    grid = grid[grid.memory_fraction <= MEMORY_FRACTION].reset_index(drop=True)
    one = _cost(q, grid, grid.dp.to_numpy(dtype=float))  # one prompt per attention-DP rank
    grid["chunk_prefill_s"] = _serving_fn("agg_chunk_prefill_s")(
        {"concurrency": grid.batch.to_numpy(dtype=float), "osl": q.osl,
         "attention_dp": grid.dp.to_numpy(dtype=float), "prompt_per_rank_prefill_s": one["ttft_s"],
         "prompt_per_rank_expert_s": one["prefill_expert_path_time_s"], "step_host_s": q.stack.step_overhead,
         "attention_dp_balanced": float(q.balanced_attention_dp)})
    return grid


def _agg(q: ServeQuery, dec: pd.DataFrame) -> pd.DataFrame:
    v = {"concurrency": dec.batch.to_numpy(float), "isl": q.isl, "osl": q.osl,
         "decode_step_s": dec.tpot_s.to_numpy(), "chunk_prefill_s": dec.chunk_prefill_s.to_numpy(),
         "step_host_s": q.stack.step_overhead, "gpus_per_instance": dec.gpus.to_numpy(float)}
    out = pd.DataFrame({
        "mode": "agg", "strategy": [_label(r) for r in dec.itertuples()],
        "instance_gpus": dec.gpus, "copies": q.max_gpus // dec.gpus, "batch": dec.batch,
        "chunk_tokens": _serving_fn("agg_chunk_tokens")(v),
        "ttft_s": _serving_fn("agg_ttft_s")(v), "tpot_s": _serving_fn("agg_tpot_s")(v),
        "tokens_per_s_per_gpu": _serving_fn("agg_tokens_per_s_per_gpu")(v),
        "memory_fraction": dec.memory_fraction})
    out["requests_per_s"] = _serving_fn("agg_requests_per_s")(v) * out.copies
    out["gpus"] = out.instance_gpus * out.copies
    return out


def prefill_candidates(q: ServeQuery, strategies: pd.DataFrame) -> pd.DataFrame:
    """Prefill instances x prompts per step: prefill time, request rate, KV transfer, TTFT."""
    grid = _grid(strategies, PREFILL_PER_RANK)
    pre = _cost(q, grid, grid.batch.to_numpy(dtype=float))
    fits = pre["memory_bytes_per_gpu"] / q.hardware.memory_bytes <= MEMORY_FRACTION
    grid["prefill_step_s"] = pre["ttft_s"]
    grid = grid[fits]
    kv_bytes = (q.isl * q.model.num_layers * pre["kv_elements_per_token"] * pre["kv_bytes"])[fits]
    # KV leaves the prefill node over the network: one NIC per GPU, the pools on different nodes
    v = {"prefill_batch": grid.batch.to_numpy(float), "prefill_step_s": grid.prefill_step_s.to_numpy(),
         "prefill_gpus": grid.gpus.to_numpy(float), "kv_bytes_per_request": kv_bytes,
         "kv_link_bandwidth": q.hardware.inter_node_bandwidth,
         "kv_link_latency": q.hardware.inter_node_latency}
    grid["kv_transfer_s"] = _serving_fn("kv_transfer_s")(v)
    grid["ttft_s"] = _serving_fn("disagg_ttft_s")(v)
    grid["requests_per_s"] = _serving_fn("prefill_requests_per_s")(v)
    grid["requests_per_gpu_s"] = grid.requests_per_s / grid.gpus
    return grid.reset_index(drop=True)


def _disagg(q: ServeQuery, dec: pd.DataFrame, pre: pd.DataFrame) -> pd.DataFrame:
    ok = pre[_meets(q, pre.ttft_s.to_numpy(), np.zeros(len(pre)))] if q.ttft_s else pre
    if ok.empty:
        ok = pre.nsmallest(1, "ttft_s")
    p = ok.loc[ok.requests_per_gpu_s.idxmax()]  # serves a request in the fewest GPU-seconds
    v = {"concurrency": dec.batch.to_numpy(float), "osl": q.osl, "decode_step_s": dec.tpot_s.to_numpy(),
         "prefill_batch": float(p.batch), "prefill_step_s": float(p.prefill_step_s)}
    r_d = _serving_fn("decode_requests_per_s")(v)
    r_p = float(p.requests_per_s)
    best_x, best_y, best_tp = np.ones(len(dec)), np.ones(len(dec)), np.zeros(len(dec))
    for y in range(1, 17):  # y decode instances, the fewest prefill instances that feed them
        x = np.ceil(y * r_d / r_p)
        total = x * p.gpus + y * dec.gpus.to_numpy()
        tput = np.minimum(x * r_p, y * r_d) * q.osl / total
        better = (total <= q.max_gpus) & (tput > best_tp)
        best_x, best_y, best_tp = (np.where(better, x, best_x), np.where(better, y, best_y),
                                   np.where(better, tput, best_tp))
    out = pd.DataFrame({
        "mode": "disagg", "strategy": [_label(r) for r in dec.itertuples()], "instance_gpus": dec.gpus,
        "batch": dec.batch, "prefill_strategy": _label(p), "prefill_gpus": int(p.gpus),
        "prefill_batch": int(p.batch), "prefill_instances": best_x.astype(int),
        "decode_instances": best_y.astype(int), "ttft_s": float(p.ttft_s), "tpot_s": dec.tpot_s,
        "kv_transfer_s": float(p.kv_transfer_s), "tokens_per_s_per_gpu": best_tp,
        "memory_fraction": dec.memory_fraction})
    out["gpus"] = out.prefill_instances * out.prefill_gpus + out.decode_instances * out.instance_gpus
    out["requests_per_s"] = np.minimum(out.prefill_instances * r_p, out.decode_instances * r_d)
    return out[out.tokens_per_s_per_gpu > 0].reset_index(drop=True)


def pareto(df: pd.DataFrame) -> pd.DataFrame:
    """Rows no other row beats on both tokens/s per user and tokens/s per GPU."""
    if df.empty:
        return df
    d = df.sort_values(["tokens_per_s_per_user", "tokens_per_s_per_gpu"], ascending=False)
    best, keep = -np.inf, []
    for i, value in zip(d.index, d.tokens_per_s_per_gpu, strict=True):
        if value > best:
            keep.append(i)
            best = value
    return d.loc[keep].sort_values("tokens_per_s_per_user")


def serve(q: ServeQuery) -> ServePlan:
    """Search aggregated and/or disaggregated deployments under the SLA; see the module docstring."""
    start = time.perf_counter()
    strategies = instances(q)
    if strategies.empty:
        raise SpecError("serve", f"no strategy of {q.model.name} fits {q.max_gpus} x {q.hardware.name}")
    dec = decode_candidates(q, strategies)
    if dec.empty:
        raise SpecError("serve", f"{q.model.name} does not fit in {q.max_gpus} x {q.hardware.name} "
                        "with room for even one sequence's KV cache")
    frames = []
    agg = _agg(q, dec) if q.mode in ("agg", "both") else pd.DataFrame()
    disagg = pd.DataFrame()
    if q.mode in ("disagg", "both"):
        disagg = _disagg(q, dec, prefill_candidates(q, strategies))
    for df in (agg, disagg):
        if not df.empty:
            df["tokens_per_s_per_user"] = 1 / df.tpot_s
            df["meets_sla"] = _meets(q, df.ttft_s.to_numpy(), df.tpot_s.to_numpy())
            frames.append(df)
    every = pd.concat(frames, ignore_index=True)
    pool = every[every.meets_sla] if every.meets_sla.any() else every
    frontier = pd.concat([pareto(pool[pool["mode"] == m]) for m in ("agg", "disagg")], ignore_index=True)
    best = every[every.meets_sla].nlargest(1, "tokens_per_s_per_gpu")
    notes = [] if not best.empty else ["no configuration meets the SLA; the frontier shows the nearest"]
    return ServePlan(q, agg, disagg, frontier, None if best.empty else best.iloc[0],
                     time.perf_counter() - start, notes)


def binding(plan: ServePlan) -> str:
    """Which limit stops the best configuration from serving more per GPU."""
    b, q = plan.best, plan.query
    if b is None:
        return "nothing meets the SLA"
    ratios = {"TTFT target": b.ttft_s / q.ttft_s if q.ttft_s else 0.0,
              "TPOT target": b.tpot_s / q.tpot_s if q.tpot_s else 0.0,
              "KV-cache memory": b.memory_fraction / MEMORY_FRACTION}
    name = max(ratios, key=ratios.get)
    return f"{name} ({ratios[name]:.0%} of its limit)"


def pools(r: pd.Series) -> tuple[Pool, Pool]:
    """(prefill, decode) engine pools of a candidate row, as the launch commands and the DAG take them
    (batch per attention-DP rank); aggregated rows are one pool."""
    decode = Strategy.parse(r.strategy, "folded")
    if r["mode"] == "agg":
        pool = Pool(decode, int(r.instance_gpus) * int(r.copies), int(r.batch) // decode.dp)
        return pool, pool
    pre = Strategy.parse(r.prefill_strategy, "folded")
    return (Pool(pre, int(r.prefill_gpus) * int(r.prefill_instances), max(int(r.prefill_batch) // pre.dp, 1)),
            Pool(decode, int(r.instance_gpus) * int(r.decode_instances), int(r.batch) // decode.dp))


def row_dict(q: ServeQuery, r: pd.Series) -> dict:
    """One frontier row in the JSON shape of `moekit serve`."""
    decode = {"strategy": r.strategy, "gpus": int(r.instance_gpus), "batch": int(r.batch)}
    if r["mode"] == "agg":
        prefill = {**decode, "chunk_tokens": float(r.chunk_tokens)}
        extra = {"instances": int(r.copies)}
    else:
        prefill = {"strategy": r.prefill_strategy, "gpus": int(r.prefill_gpus),
                   "batch": int(r.prefill_batch)}
        extra = {"prefill_instances": int(r.prefill_instances), "decode_instances": int(r.decode_instances),
                 "kv_transfer_s": float(r.kv_transfer_s)}
    return {"mode": r["mode"], "gpus": int(r.gpus), "prefill": prefill, "decode": decode,
            "ttft_s": float(r.ttft_s), "tpot_s": float(r.tpot_s),
            "tokens_per_s_per_gpu": float(r.tokens_per_s_per_gpu),
            "tokens_per_s_per_user": float(r.tokens_per_s_per_user),
            "requests_per_s": float(r.requests_per_s), "meets_sla": bool(r.meets_sla), **extra}
