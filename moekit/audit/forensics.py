"""Known mistakes: which slip, applied to the right computation, gives the number a document printed.

Two sources of candidates. Scenario files spell out the mistaken computation for a claim
(`mistakes: [{mistake: weights_divided_by_dp, formula: ...}]`), named from the catalogue
below. And a few slips are tried on every claim from its recomputed value alone: a unit
read wrongly (GB vs GiB, ms vs s) or a factor of two (1 FLOP per multiply-add). A candidate
within FORENSICS_TOLERANCE of the claimed value reproduces it.
"""

from __future__ import annotations

from dataclasses import dataclass

FORENSICS_TOLERANCE = 0.02


@dataclass(frozen=True)
class Mistake:
    name: str
    sentence: str  # what the document did, completing "reproduced by ..."


MISTAKES: dict[str, Mistake] = {m.name: m for m in (
    Mistake("weights_divided_by_dp", "dividing weight memory by the data-parallel degree "
            "(DP replicates weights; it never divides them)"),
    Mistake("divided_by_all_gpus", "dividing a per-replica quantity by every GPU of the deployment "
            "instead of the GPUs that hold distinct shards"),
    Mistake("gb_vs_gib", "mixing decimal and binary byte units (GB = 1e9 B vs GiB = 2^30 B, "
            "MB vs MiB)"),
    Mistake("flop_as_flops", "reading a FLOP count as a FLOP/s rate (no time in the denominator)"),
    Mistake("ms_vs_s", "mixing milliseconds and seconds"),
    Mistake("one_flop_per_mac", "counting 1 FLOP per multiply-add instead of 2"),
    Mistake("all_experts_instead_of_top_k", "computing every expert for every token instead of "
            "the top-k routed ones"),
    Mistake("dropped_s2_attention", "dropping the S^2 attention-score term from the FLOPs"),
    Mistake("hbm_as_link_bandwidth", "using HBM bandwidth as the interconnect bandwidth"),
    Mistake("params_as_mb", "reading a parameter count as megabytes (element count taken for bytes)"),
    Mistake("batch_split_by_dp_only", "splitting the batch over the DP degree alone, as if every "
            "GPU of a DP replica held all of its sequences"),
    Mistake("experts_counted_across_layers", "counting experts of all layers as if they were "
            "one layer's, to pair them 1:1 with GPUs"),
    Mistake("product_of_degrees_as_gpus", "multiplying EP into the GPU count on top of DP x TP x PP "
            "(treating EP as its own axis)"),
    Mistake("stated_size_ignores_architecture", "taking the headline parameter count instead of "
            "the size the stated architecture implies"),
    Mistake("weights_only_memory", "counting weights alone as the memory per GPU, leaving out the "
            "KV cache, activations and dispatch buffers"),
    Mistake("param_count_as_flops", "printing a parameter count (in millions) as TFLOPS"),
    Mistake("one_layer_as_all", "reporting one layer's figure as the whole model's"),
    Mistake("tokens_per_s_divided_by_batch", "dividing tokens per second by the number of "
            "sequences in the batch instead of the tokens per sequence"),
    Mistake("training_memory_in_inference", "budgeting gradients and optimizer states, which "
            "inference does not have"),
    Mistake("flops_over_one_second", "dividing a step's FLOPs by one second and reporting it as "
            "FLOP/s used"),
    Mistake("latency_as_token_rate", "dividing the batch's tokens by a latency that does not "
            "process them"),
    Mistake("layer_time_not_summed", "reporting one layer's or one stage's time as the total"),
)}

#: binary prefix that a decimal unit may have been computed in: factor = binary / decimal
_BINARY_FOR = {"KB": 2**10 / 1e3, "MB": 2**20 / 1e6, "GB": 2**30 / 1e9, "TB": 2**40 / 1e12}
#: kinds of quantity where counting 1 FLOP per multiply-add scales the result
MAC_FACTORS = {"flop": 0.5, "flops": 0.5, "seconds": 0.5, "rate": 2.0}


def _candidates(unit: str, kind: str):
    """(mistake, factor on the correct SI value, how) for slips that need no scenario formula."""
    prefix = unit.split("/")[0]
    if prefix in _BINARY_FOR:
        f = _BINARY_FOR[prefix]
        yield "gb_vs_gib", 1 / f, f"a {prefix[0]}iB figure printed as {prefix}"
        yield "gb_vs_gib", f, f"a {prefix} figure printed as {prefix[0]}iB"
    if kind in ("seconds", "rate"):
        yield "ms_vs_s", 1e3, "a per-millisecond figure printed per second" if kind == "rate" \
            else "seconds printed as milliseconds"
        yield "ms_vs_s", 1e-3, "a per-second figure printed per millisecond" if kind == "rate" \
            else "milliseconds printed as seconds"
    if kind in MAC_FACTORS:
        yield "one_flop_per_mac", MAC_FACTORS[kind], "FLOPs counted once per multiply-add"


def within(claimed: float, candidate: float, tolerance: float = FORENSICS_TOLERANCE) -> bool:
    """True when `candidate` is within `tolerance` (relative) of `claimed`."""
    if candidate == 0:
        return claimed == 0
    return abs(claimed / candidate - 1) <= tolerance


def slips(claimed_si: float, correct_si: float, unit: str, kind: str) -> list[tuple[str, str]]:
    """(mistake, how) for each universal slip that turns the correct value into the claimed one."""
    return [(name, how) for name, factor, how in _candidates(unit, kind)
            if within(claimed_si, correct_si * factor)]


def sentence(name: str, how: str = "") -> str:
    """The reader's sentence for a mistake: 'reproduced by ...'."""
    text = MISTAKES[name].sentence
    return f"{text}: {how}" if how else text
