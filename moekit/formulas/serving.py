"""Serving: what a deployment delivers under load, from the cost model's step times.

Legend (all per model instance, one copy of the weights on G GPUs):
    N   sequences in flight (decode concurrency)     I, O   input / output tokens per request
    t_d one decode step at N sequences, s            t_c    prefill of one step's chunk, s
    t_p one prefill batch of b_p prompts, s          t_h    host time of one step, s
    G   GPUs of the instance (G_p, G_d per pool)     t_kv   KV-cache transfer of one request, s

Aggregated serving (continuous batching, chunked prefill): to keep N sequences in flight, each
step must admit the prompts of the requests that finish: N I / O prompt tokens ride along with the N
decode tokens (Little's law: N = X O t_step). Disaggregated serving runs prefill and decode on
separate instances, each its own strategy; x prefill instances feed y decode instances when their
request rates balance, and each request's KV cache crosses from one to the other once.

These formulas live in their own registry (SERVING): their inputs are the cost model's step times,
evaluated at the batch each pool runs.
"""

from __future__ import annotations

import sympy as sp

from moekit.formulas.core import Formula
from moekit.formulas.symbols import SymbolInfo

SERVING: dict[str, Formula] = {}
SERVING_SYMBOLS: dict[str, SymbolInfo] = {}


def _symbol(name: str, latex: str, description: str, unit: str) -> sp.Symbol:
    sym = sp.Symbol(name, nonnegative=True, real=True)
    SERVING_SYMBOLS[name] = SymbolInfo(name, latex, description, unit, sym)
    return sym


def _formula(name: str, unit: str, doc: str, expr, latex: str) -> sp.Symbol:
    if name in SERVING:
        raise ValueError(f"serving formula {name!r} defined twice")
    SERVING[name] = Formula(name, unit, doc, sp.sympify(expr), None, latex)
    return SERVING[name].symbol


N = _symbol("concurrency", "N", "sequences in flight on one instance", "1")
I = _symbol("isl", "I", "input (prompt) tokens per request", "1")
O = _symbol("osl", "O", "output tokens per request", "1")
t_d = _symbol("decode_step_s", "t_d", "one decode step of the instance at N sequences (its TPOT)", "s")
t_c = _symbol("chunk_prefill_s", "t_c", "prefill of the N I / O prompt tokens one step admits", "s")
t_h = _symbol("step_host_s", "t_h", "the stack's host time of one step (counted once per step)", "s")
G = _symbol("gpus_per_instance", "G", "GPUs of one aggregated instance", "1")
b_p = _symbol("prefill_batch", "b_p", "prompts one prefill step of a prefill instance runs", "1")
t_p = _symbol("prefill_step_s", "t_p", "one prefill step of b_p prompts (its TTFT alone)", "s")
G_p = _symbol("prefill_gpus", "G_p", "GPUs of one prefill instance", "1")
G_d = _symbol("decode_gpus", "G_d", "GPUs of one decode instance", "1")
x = _symbol("prefill_instances", "x", "prefill instances", "1")
y = _symbol("decode_instances", "y", "decode instances", "1")
D_kv = _symbol("kv_bytes_per_request", "D_{kv}", "KV cache of one request's prompt, all layers", "B")
bw_kv = _symbol("kv_link_bandwidth", r"\beta_{kv}", "bandwidth the KV transfer gets per GPU pair", "B/s")
a_kv = _symbol("kv_link_latency", r"\alpha_{kv}", "latency of one KV transfer", "s")

t_1 = _symbol("prompt_per_rank_prefill_s", "t_1",
              "prefill of one prompt on every attention-DP rank of the instance (its TTFT alone)", "s")
dp_r = _symbol("attention_dp", "dp", "attention data-parallel ranks of the instance", "1")
beta = _symbol("attention_dp_balanced", r"\beta_{dp}",
               "1 when every attention-DP rank prefills in the same steps (an idealisation), 0 when "
               "prompts reach the ranks as they come", "1")
t_1e = _symbol("prompt_per_rank_expert_s", "t_{1,exp}",
               "the routed experts' and their all-to-alls' share of t_1 (shared by the ranks)", "s")

# --- aggregated ---------------------------------------------------------------------------
busiest = _formula(
    "agg_chunk_prompts_busiest_rank", "1",
    "prompts the busiest attention-DP rank prefills per step: the N / O prompts a step admits, "
    "spread over the dp ranks once there are enough to go round; fewer than one per step go to one "
    "rank at a time, and the other ranks wait for it at the MoE collectives (the ranks step together; "
    "balanced: spread however few)",
    sp.Max(N / (O * dp_r), (1 - beta) * sp.Min(N / O, 1)), r"p_{max}")
_formula("agg_chunk_prefill_s", "s",
         "prefill of the prompt tokens one step admits: prefill is linear in tokens (compute-bound, "
         "the weights already read by the step's decode); attention and the dense layers run on the "
         "busiest attention-DP rank's prompts, the routed experts on the whole instance's, shared by "
         "the ranks; the host time once",
         busiest * (t_1 - t_1e - t_h) + N / (O * dp_r) * t_1e + t_h, r"t_c")
chunk = _formula("agg_chunk_tokens", "1",
                 "prompt tokens each step admits so that N stay in flight: N I / O", N * I / O,
                 r"c_{agg}")
t_step = _formula("agg_step_s", "s",
                  "one mixed step: the decode step plus the chunk's prefill, the host time once",
                  t_d + t_c - t_h, r"t_{step}")
_formula("agg_tpot_s", "s", "time per output token: every step yields one token per sequence", t_step,
         r"TPOT_{agg}")
_formula("agg_ttft_s", "s",
         "time to first token: half a step's wait to be admitted, then max(1, I / c) steps of chunks",
         t_step * (sp.Rational(1, 2) + sp.Max(1, I / chunk)), r"TTFT_{agg}")
_formula("agg_tokens_per_s_per_gpu", "1/s", "output tokens per second per GPU: N / (t_step G)",
         N / (t_step * G), r"X_{agg}")
_formula("agg_requests_per_s", "1/s", "requests one instance completes per second (Little's law)",
         N / (O * t_step), r"\lambda_{agg}")

# --- disaggregated -------------------------------------------------------------------------
r_p = _formula("prefill_requests_per_s", "1/s", "requests one prefill instance serves per second",
               b_p / t_p, r"r_p")
r_d = _formula("decode_requests_per_s", "1/s", "requests one decode instance completes per second",
               N / (O * t_d), r"r_d")
_formula("prefill_instances_needed", "1",
         "prefill instances that keep y decode instances fed: y r_d / r_p (round up to deploy)",
         y * r_d / r_p, r"x^{*}")
t_kv = _formula("kv_transfer_s", "s",
                "one request's KV cache from its prefill to its decode instance, split over the "
                "prefill instance's GPUs", D_kv / (G_p * bw_kv) + a_kv, r"t_{kv}")
_formula("disagg_ttft_s", "s",
         "time to first token: half a prefill step's wait, its own prefill step, the KV transfer",
         sp.Rational(3, 2) * t_p + t_kv, r"TTFT_{disagg}")
_formula("disagg_tpot_s", "s", "time per output token: the decode instance's step", t_d, r"TPOT_{disagg}")
rate = _formula("disagg_requests_per_s", "1/s",
                "requests the x prefill + y decode instances complete per second: the slower pool",
                sp.Min(x * r_p, y * r_d), r"\lambda_{disagg}")
_formula("disagg_tokens_per_s_per_gpu", "1/s", "output tokens per second per GPU over both pools",
         rate * O / (x * G_p + y * G_d), r"X_{disagg}")
