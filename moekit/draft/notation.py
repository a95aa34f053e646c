"""Parallel strategies as plans write them, in either convention.

Notation: "EP64-TP8-PP2-DP2", "EP64_TP2_PP1", "TP4 EP16 PP4 DP2", "DP2-TP4-ETP4", "TP8".
Degrees one by one: "Expert Parallelism (EP): 64-way", "TP degree: 4", "8-way TP", "PP=2",
"'tensor_parallel_size': 4", "--tensor-parallel-size 8". Micro-batches: "8 micro-batches",
"num_microbatches = 8". The convention (folded: world = dp x tp x pp; product: EP as its own axis)
is decided from what the plan itself multiplies: a GPU count equal to the product of every degree,
EP included, is the product convention; otherwise moekit's rule (folded when the degrees fold).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from moekit.draft.document import Line, code_entry
from moekit.errors import SpecError
from moekit.spec.inputs import Strategy

_DIMS = ("DP", "TP", "PP", "EP", "ETP")
_NOTATION = re.compile(
    r"(?<![A-Za-z0-9])((?:E?TP|DP|PP|EP|CP|SP)\d+(?:\s*[-_×x*,/ ]\s*(?:E?TP|DP|PP|EP|CP|SP)\d+)*)"
    r"(?![A-Za-z0-9])"
)
_WORDS = {
    "tensor": "TP",
    "expert": "EP",
    "pipeline": "PP",
    "data": "DP",
    "context": "CP",
    "sequence": "SP",
    "expert tensor": "ETP",
}
_STATEMENTS = (
    # Expert Parallelism (EP): 64-way / Tensor Parallelism: 8-way / TP degree: 4
    re.compile(
        r"(?P<word>expert[- ]tensor|tensor|expert|pipeline|data|context|sequence)[- ](?:model )?"
        r"parallel(?:ism)?\w*\s*(?:\((?:E?TP|EP|PP|DP|CP|SP)\))?\s*(?:degree|size)?\s*[:=]?\s*"
        r"(?P<n>\d+)(?:-way)?",
        re.I,
    ),
    re.compile(r"\b(?P<dim>E?TP|EP|PP|DP|CP|SP)\s*(?:degree|size|=|:)\s*[:=]?\s*(?P<n>\d+)", re.I),
    re.compile(r"\b(?P<n>\d+)-way\s+(?P<dim>E?TP|EP|PP|DP|CP|SP)\b", re.I),
    re.compile(
        r"\b(?P<n>\d+)-way\s+(?P<word>expert[- ]tensor|tensor|expert|pipeline|data|context|sequence)"
        r"[- ]parallel",
        re.I,
    ),
    re.compile(
        r"(?P<word>tensor|expert|pipeline|data|context)[_-]parallel[_-]size['\"]?\s*[:=]?\s*"
        r"(?P<n>\d+)",
        re.I,
    ),
    re.compile(r"--(?P<dim>tp|ep|pp|dp)(?:-size)?[ =](?P<n>\d+)", re.I),
)
_MICROBATCHES = (
    re.compile(r"(?P<n>\d+)\s+micro[- ]?batches", re.I),
    re.compile(r"num[_ ]?micro[_ ]?batches\s*[:=]?\s*(?P<n>\d+)", re.I),
    re.compile(r"micro[- ]?batches\s*[:=]\s*(?P<n>\d+)", re.I),
)
_MICROBATCH_SIZE = re.compile(r"micro[- _]?batch[- _]?size['\"]?\s*[:=]?\s*(?P<n>\d+)", re.I)


@dataclass(frozen=True)
class Degree:
    dim: str  # DP, TP, PP, EP, ETP (CP and SP are recognised and reported unresolved)
    value: int
    line: int
    text: str


@dataclass
class Found:
    """The strategy a plan states, and where."""

    degrees: dict = field(default_factory=dict)  # dim -> Degree (first statement of each)
    notation: str = ""  # as written, when the plan writes one ("EP64-TP8-PP2-DP2")
    notation_line: int = 0
    microbatches: int = 0
    microbatches_line: int = 0
    microbatch_size: int = 0
    unsupported: list = field(default_factory=list)  # Degree of CP, SP

    def written(self) -> str:
        """The plan's notation, or one built from its degrees in the order it states them."""
        if self.notation:
            return self.notation
        ordered = sorted(self.degrees.values(), key=lambda d: d.line)
        return "-".join(f"{d.dim}{d.value}" for d in ordered)


def _tokens(notation: str) -> list[tuple[str, int]]:
    return [(m.group(1), int(m.group(2))) for m in re.finditer(r"(E?TP|DP|PP|EP|CP|SP)(\d+)", notation)]


def find_strategy(lines: list[Line]) -> Found:
    """Degrees, notation and micro-batches stated anywhere in the document."""
    found = Found()
    candidates: list[tuple[int, int, str, Line]] = []  # (-score, line, notation, line)
    for line in lines:
        text = line.text
        on_line = []
        for match in _NOTATION.finditer(text):
            notation = match.group(1).strip(" -_,/")
            dims = _tokens(notation)
            if not dims or len({d for d, _ in dims}) != len(dims):
                continue
            on_line.append(notation)
        # "TP8 (experts EP8)": degrees written apart on one line are one strategy
        joined = _tokens("-".join(on_line))
        if len(on_line) > 1 and len({d for d, _ in joined}) == len(joined):
            on_line.append("-".join(f"{d}{v}" for d, v in joined))
        for notation in on_line:
            score = (
                len(_tokens(notation)) * 2
                + (3 if line.heading else 0)
                + (2 if re.search(r"strateg|optimal|config", line.plain, re.I) else 0)
            )
            candidates.append((-score, line.number, notation, line))
        for pattern in _STATEMENTS:
            for match in pattern.finditer(text):
                groups = match.groupdict()
                word = (groups.get("word") or "").lower().replace("-", " ")
                dim = (groups.get("dim") or _WORDS.get(word, "")).upper()
                if not dim:
                    continue
                _add(found, Degree(dim, int(groups["n"]), line.number, line.plain))
        for pattern in _MICROBATCHES:
            match = pattern.search(text)
            if match and not found.microbatches and int(match.group("n")) > 0:
                found.microbatches, found.microbatches_line = int(match.group("n")), line.number
        entry = code_entry(line)
        size = _MICROBATCH_SIZE.search(text)
        if size and not found.microbatch_size:
            found.microbatch_size = int(size.group("n"))
        elif entry and re.search(r"micro_?batch_?size", entry[0], re.I) and not found.microbatch_size:
            found.microbatch_size = int(float(entry[1]))
    if candidates:
        _, number, notation, line = min(candidates)
        found.notation, found.notation_line = notation, number
        for dim, value in _tokens(notation):
            found.degrees[dim] = Degree(dim, value, number, line.plain)
    for dim in ("CP", "SP"):
        if dim in found.degrees:
            found.unsupported.append(found.degrees.pop(dim))
    if found.notation and found.unsupported:
        found.notation = "-".join(f"{d}{v}" for d, v in _tokens(found.notation) if d in _DIMS)
    return found


def _add(found: Found, degree: Degree) -> None:
    if degree.value < 1 or degree.dim in found.degrees:
        return
    found.degrees[degree.dim] = degree


def product(found: Found) -> int:
    return math.prod(d.value for d in found.degrees.values() if d.dim in ("DP", "TP", "PP", "EP"))


def decide_convention(found: Found, stated_gpus: list[int]) -> tuple[str, str]:
    """(convention, why): product when the plan counts EP as its own axis, else moekit's rule."""
    written = found.written()
    degrees = {d.dim: d.value for d in found.degrees.values()}
    folded = degrees.get("DP", 1) * degrees.get("TP", 1) * degrees.get("PP", 1)
    every = product(found)
    if "EP" in degrees and degrees["EP"] > 1 and every != folded and every in stated_gpus:
        return "product", (
            f"the plan's own GPU count {every} is the product of every degree, EP included "
            f"({written}), so EP is read as its own axis (the product convention)"
        )
    try:
        strategy = Strategy.parse(written, "auto")
    except SpecError as exc:
        return "auto", f"the degrees do not make a strategy: {exc}"
    if strategy.convention == "product":
        return "product", (
            f"{written} does not fold (ep*etp must divide dp*tp), so EP is read as its "
            f"own axis (the product convention): {strategy.gpus} GPUs"
        )
    return "folded", (
        f"{written} folds: attention on dp x tp x pp = {strategy.gpus} GPUs, experts on the "
        "same GPUs (moekit's folded convention)"
    )
