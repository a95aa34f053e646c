"""Published deployments reproduced: what moekit predicts for the setup an engine team published.

A deployment file (data/deployments/*.yaml) states a model, GPUs, a stack, the prefill and decode
pools (or one aggregated deployment) and the figures measured. Each pool becomes a strategy and a
workload; its step time comes from the cost model on the named stack with the deployment's own
features switched on (DeepEP all-to-all, two-batch overlap, EPLB replicas); the aggregated figures
come from moekit.formulas.serving. A figure whose setup the source does not state well enough (no
batch, no prompt length, speculative decoding without an acceptance rate) is not predicted, and the
reason is given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from moekit.errors import SpecError
from moekit.evaluate import evaluate
from moekit.plan.serve import _serving_fn
from moekit.resources import DATA_DIR, available
from moekit.spec.inputs import Strategy, Workload
from moekit.spec.presets import load_hardware, load_model, read_yaml
from moekit.spec.stack import load_stack

DTYPES = {"fp8": "fp8", "bf16": "bf16", "fp16": "fp16", "nvfp4": "fp4", "fp4": "fp4", None: "bf16"}
#: comm_overlap of two-batch overlap: two micro-batches, one's collectives beside the other's kernels,
#: leave one micro-batch's share of the shorter phase exposed (1 - 1/2)
TWO_BATCH_OVERLAP = 0.5
TARGET = 0.25  # median |predicted / published - 1| over every predicted figure
BAND = (0.6, 1.67)  # every figure within this ratio


@dataclass
class Reproduction:
    name: str
    source: dict
    published: dict
    predicted: dict = field(default_factory=dict)
    not_predicted: dict = field(default_factory=dict)  # metric -> why
    assumptions: list = field(default_factory=list)

    @property
    def ratio(self) -> dict:
        return {k: v / self.published[k] for k, v in self.predicted.items()}

    def to_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "published": self.published,
                "predicted": self.predicted, "ratio": self.ratio, "not_predicted": self.not_predicted,
                "assumptions": self.assumptions}


def _strategy(pool: dict, where: str) -> Strategy:
    attention = str(pool.get("attention") or "")
    kind, _, n = attention.partition(" ")
    if kind not in ("dp", "tp") or not n.isdigit():
        raise SpecError(f"{where}.attention", f"{attention!r}: expected 'dp N' or 'tp N'")
    dp, tp = (int(n), 1) if kind == "dp" else (1, int(n))
    ep = int(pool.get("ep") or 1)
    if (dp * tp) % ep:
        raise SpecError(f"{where}.ep", f"ep={ep} does not divide the pool's {dp * tp} GPUs")
    return Strategy(dp=dp, tp=tp, ep=ep, etp=dp * tp // ep)


def _pool_step(d: dict, pool: dict, phase: str, batch: int, context: int, where: str, notes: list):
    """Step time (s) of a pool: prefill (TTFT of `batch` prompts) or one decode step, its strategy
    and the whole evaluation."""
    model, gpu = load_model(d["model"]), load_hardware(d["hardware"])
    stack = load_stack(d["stack"])
    a2a = pool.get("moe_a2a")
    if a2a in ("deepep-normal", "deepep-low-latency"):
        # behind DeepEP the engines run grouped GEMMs (DeepGEMM) with separate permute and combine
        # kernels, not the fused-MoE kernel of their default EP
        stack = dataclasses.replace(stack, all_to_all=a2a, moe_kernel="grouped-gemm")
    precision = d.get("precision") or {}
    weight, kv = DTYPES.get(precision.get("weights"), "bf16"), DTYPES.get(precision.get("kv_cache"), "bf16")
    experts = DTYPES.get(precision.get("experts") or precision.get("weights"), "bf16")
    attention = DTYPES.get(precision.get("attention"), "bf16")  # engines: bf16 unless stated
    # the engines keep activations in bf16 between layers whatever the weights; DeepEP dispatches
    # the tokens to the experts in fp8 (its README: FP8 dispatch, BF16 combine)
    deepep = a2a in ("deepep-normal", "deepep-low-latency")
    isl = int(d["workload"]["isl"])
    work = Workload(batch=batch, prompt_len=isl if phase == "prefill" else max(context, 1),
                    decode_context=max(context, 1), weight_dtype=weight, expert_dtype=experts,
                    kv_dtype=kv, attention_dtype=attention, activation_dtype="bf16",
                    dispatch_dtype="fp8" if deepep else "bf16",
                    comm_overlap=TWO_BATCH_OVERLAP if pool.get("two_batch_overlap") else 0.0,
                    redundant_experts=int(pool.get("eplb_redundant_experts") or 0))
    strategy = _strategy(pool, where)
    if pool.get("two_batch_overlap"):
        notes.append(f"{where}: two-batch overlap runs two micro-batches, each one's collectives beside "
                     f"the other's kernels: half of the shorter stays exposed (comm_overlap "
                     f"{TWO_BATCH_OVERLAP})")
    if deepep:
        notes.append(f"{where}: DeepEP dispatches in fp8 and combines in bf16")
    result = evaluate(model, gpu, work, strategy, check=False, stack=stack)
    return result["ttft_s" if phase == "prefill" else "tpot_s"], strategy, result


def _disagg(d: dict, r: Reproduction) -> None:
    pre, dec, work = d.get("prefill") or {}, d.get("decode") or {}, d["workload"]
    gpn = int(d.get("gpus_per_node") or 8)
    isl = work.get("isl")
    for metric in r.published:
        if metric.startswith("input_tokens"):
            tokens = pre.get("batch_tokens_per_gpu")
            if not tokens or not isl or not pre.get("attention"):
                r.not_predicted[metric] = "the prefill batch (tokens per GPU) or layout is not stated"
                continue
            gpus = int(pre["gpus"])
            prompts = max(int(round(tokens * gpus / isl)), 1)
            t_p, _, _ = _pool_step(d, pre, "prefill", prompts, isl, f"{r.name}.prefill", r.assumptions)
            per_gpu = prompts * isl / t_p / gpus
            r.predicted[metric] = per_gpu * (gpn if metric.endswith("per_node") else 1)
        elif metric.startswith("output_tokens") or metric in ("tpot_s", "tokens_per_s_per_user"):
            batch = dec.get("batch_per_gpu")
            if not batch or not isl or not dec.get("attention"):
                r.not_predicted[metric] = "the decode batch per GPU or layout is not stated"
                continue
            if dec.get("mtp"):
                r.not_predicted[metric] = "speculative (MTP) decoding without a stated acceptance rate"
                continue
            gpus = int(dec["gpus"])
            context = int(dec.get("kv_cache_length") or isl)
            t_d, _, _ = _pool_step(d, dec, "decode", int(batch) * gpus, context, f"{r.name}.decode",
                                r.assumptions)
            values = {"output_tokens_per_s_per_gpu": batch / t_d,
                      "output_tokens_per_s_per_node": batch / t_d * gpn, "tpot_s": t_d,
                      "tokens_per_s_per_user": 1 / t_d}
            if metric in values:
                r.predicted[metric] = values[metric]
            else:
                r.not_predicted[metric] = "not a figure moekit derives"
        else:
            r.not_predicted[metric] = "not a figure moekit derives"


def _agg(d: dict, r: Reproduction) -> None:
    pool, work = d.get("deployment") or {}, d["workload"]
    isl, osl = work.get("isl"), work.get("osl")
    why = None
    if not isl or not osl or not pool.get("attention") or not pool.get("batch_per_gpu"):
        why = "the prompt/output lengths, layout or batch per GPU are not stated"
    elif pool.get("mtp"):
        why = "speculative (MTP) decoding without a stated acceptance rate"
    if why:
        r.not_predicted = dict.fromkeys(r.published, why)
        return
    gpus = int(pool["gpus"])
    n = int(pool["batch_per_gpu"]) * gpus
    t_d, strategy, _ = _pool_step(d, pool, "decode", n, isl + osl // 2, f"{r.name}.deployment", r.assumptions)
    one, _, prefill = _pool_step(d, pool, "prefill", strategy.dp, isl, f"{r.name}.deployment", [])
    v = {"concurrency": n, "isl": isl, "osl": osl, "decode_step_s": t_d, "attention_dp": strategy.dp,
         "prompt_per_rank_prefill_s": one, "prompt_per_rank_expert_s": prefill["prefill_expert_path_time_s"],
         "attention_dp_balanced": 0.0,
         "step_host_s": load_stack(d["stack"]).step_overhead,
         "gpus_per_instance": gpus}
    v["chunk_prefill_s"] = _serving_fn("agg_chunk_prefill_s")(v)
    per_gpu = float(_serving_fn("agg_tokens_per_s_per_gpu")(v))
    values = {"output_tokens_per_s_per_gpu": per_gpu, "output_tokens_per_s": per_gpu * gpus,
              "tokens_per_s_per_user": 1 / float(_serving_fn("agg_tpot_s")(v)),
              "requests_per_s": float(_serving_fn("agg_requests_per_s")(v)),
              "total_tokens_per_s": per_gpu * gpus * (isl + osl) / osl,
              "ttft_s": float(_serving_fn("agg_ttft_s")(v)), "tpot_s": float(_serving_fn("agg_tpot_s")(v))}
    for metric in r.published:
        if metric in values:
            r.predicted[metric] = values[metric]
        else:
            r.not_predicted[metric] = "not a figure moekit derives"


def reproduce_file(path: str | Path) -> Reproduction:
    """moekit's figures for one published deployment file."""
    d = read_yaml(Path(path))
    if not isinstance(d, dict) or "published" not in d:
        raise SpecError(str(path), "a deployment file needs model, hardware, stack, mode, workload "
                        "and published")
    published = {k: float(v["value"]) for k, v in d["published"].items()
                 if isinstance(v, dict) and v.get("value") is not None}
    r = Reproduction(d.get("name", Path(path).stem), d.get("source") or {}, published)
    r.assumptions += [f"{k}: {v}" for k, v in (d.get("assumed") or {}).items()]
    (_agg if d.get("mode") == "agg" else _disagg)(d, r)
    return r


def deployment_path(name: str) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = DATA_DIR / "deployments" / f"{name}.yaml"
    if not candidate.exists():
        raise SpecError(f"deployment {name!r}", "no such file or bundled deployment; bundled: "
                        + ", ".join(available("deployments")))
    return candidate


def reproduce(names: list[str] | None = None) -> list[Reproduction]:
    """Every named (default: every bundled) published deployment."""
    names = names or available("deployments")
    return [reproduce_file(deployment_path(n)) for n in names]


def summary(results: list[Reproduction]) -> dict:
    """The median |ratio - 1| over every predicted figure, and whether each lies in the band."""
    ratios = np.array([v for r in results for v in r.ratio.values()])
    if not len(ratios):
        return {"figures": 0, "median_abs_err": None, "meets_target": False, "within_band": False}
    median = float(np.median(np.abs(ratios - 1)))
    return {"figures": int(len(ratios)), "median_abs_err": median, "target": TARGET,
            "meets_target": median <= TARGET,
            "within_band": bool(((ratios >= BAND[0]) & (ratios <= BAND[1])).all()), "band": list(BAND)}
