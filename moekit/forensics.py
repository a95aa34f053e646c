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
    Mistake("gb_vs_gib", "mixing GB (1e9 B) and GiB (2^30 B)"),
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
    Mistake("flops_over_one_second", "dividing a step's FLOPs by one second and reporting it as "
            "FLOP/s used"),
    Mistake("latency_as_token_rate", "dividing the batch's tokens by a latency that does not "
            "process them"),
    Mistake("layer_time_not_summed", "reporting one layer's or one stage's time as the total"),
)}

#: slips tried on every claim: (mistake name, factor on the correct value, what the factor means)
UNIVERSAL_SLIPS = (
    ("gb_vs_gib", 2**30 / 1e9, "GiB value printed as GB"),
    ("gb_vs_gib", 1e9 / 2**30, "GB value printed as GiB"),
    ("ms_vs_s", 1e3, "seconds printed as milliseconds"),
    ("ms_vs_s", 1e-3, "milliseconds printed as seconds"),
)
#: kinds of quantity where counting 1 FLOP per multiply-add scales the result
MAC_FACTORS = {"flop": 0.5, "flops": 0.5, "seconds": 0.5, "rate": 2.0}
UNIT_KINDS = {"gb_vs_gib": ("bytes", "bandwidth"), "ms_vs_s": ("seconds", "rate")}


def within(claimed: float, candidate: float, tolerance: float = FORENSICS_TOLERANCE) -> bool:
    """True when `candidate` is within `tolerance` (relative) of `claimed`."""
    if candidate == 0:
        return claimed == 0
    return abs(claimed / candidate - 1) <= tolerance


def slips(claimed_si: float, correct_si: float, kind: str) -> list[tuple[str, str]]:
    """(mistake, how) for each universal slip that turns the correct value into the claimed one."""
    found = []
    for name, factor, how in UNIVERSAL_SLIPS:
        if kind in UNIT_KINDS[name] and within(claimed_si, correct_si * factor):
            found.append((name, how))
    if kind in MAC_FACTORS and within(claimed_si, correct_si * MAC_FACTORS[kind]):
        found.append(("one_flop_per_mac", "FLOPs counted once per multiply-add"))
    return found


def sentence(name: str, how: str = "") -> str:
    """The reader's sentence for a mistake: 'reproduced by ...'."""
    text = MISTAKES[name].sentence
    return f"{text}: {how}" if how else text
