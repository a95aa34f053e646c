"""Numbers with units as plans print them: "29.3MB", "400 TFlops", "1.8 TBps", "~38,000", "85-95%",
"30B parameters", "64-way", "0.472 seconds", "<5 minutes".

`find_numbers` returns each number with its unit in the vocabulary the audit reads
(moekit.audit.claim_units), its kind, its SI value and where it stands in the text. Numbers that
are part of a name (EP64, FP16, H100, Qwen3-30B-A3B, v0.1), a date, a version or a list of
indices (Node 0-7, [0,1]) are not numbers of the plan and are left out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from moekit.audit.claim_units import COUNT_NOUNS, unit_factor
from moekit.errors import SpecError

_NUMBER = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?"
_SCALE = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}

# (regex, canonical unit, kind, noun): first match wins, so longer spellings come first
_UNITS: list[tuple[str, str, str, str]] = []


def _unit(pattern: str, unit: str, kind: str, noun: str = "") -> None:
    _UNITS.append((pattern, unit, kind, noun))


for _p in ("K", "M", "G", "T", "P"):
    _unit(rf"{_p}i?B\s*/\s*s(?:ec)?\b|{_p}i?Bps\b", f"{_p}B/s", "bandwidth")
    _unit(rf"{_p}b\s*/\s*s\b|{_p}bps\b", f"{_p}b/s", "bandwidth")
for _p in ("", "K", "M", "G", "T", "P"):
    _unit(rf"{_p}FLOP\s*/\s*s\b|{_p}FLOPS\b|{_p}[Ff]lops\b|{_p}FLOPs\s*/\s*s\b", f"{_p}FLOPS", "flops")
    _unit(rf"{_p}FLOPs?\b", f"{_p}FLOPs" if _p else "FLOPs", "flop")
for _p in ("K", "M", "G", "T", "P"):
    _unit(rf"{_p}iB\b", f"{_p}iB", "bytes")
    _unit(rf"{_p}B\b(?!\s*[Pp]aram)", f"{_p}B", "bytes")
_unit(r"bytes?\b", "B", "bytes")
_unit(r"tokens?\s*/\s*ms\b|tok\s*/\s*ms\b|tokens per millisecond", "tokens/ms", "rate")
_unit(r"tokens?\s*/\s*s(?:ec)?\b|tok\s*/\s*s\b|tokens per second|tps\b", "tokens/s", "rate")
_unit(
    r"(?:sequences?|seqs?|requests?|req)\s*/\s*s(?:ec)?\b|(?:sequences|requests) per second",
    "sequences/s",
    "rate",
)
_unit(r"ms\b|milliseconds?\b|msecs?\b", "ms", "seconds")
_unit(r"(?:us|µs|μs)\b|microseconds?\b", "us", "seconds")
_unit(r"ns\b|nanoseconds?\b", "ns", "seconds")
_unit(r"seconds?\b|secs?\b|s\b(?!\s*[/-])", "s", "seconds")
_unit(r"minutes?\b|mins?\b", "min", "seconds")
_unit(r"hours?\b|hrs?\b", "h", "seconds")
_unit(r"%", "%", "percent")
_unit(r"[x×](?![A-Za-z0-9(]|\s+[\d(])|times\b", "x", "ratio")
_unit(r"GPUs?\b|devices?\b|cards?\b", "GPUs", "count", "gpus")
_unit(r"expert[- ]shards?\b", "expert shards", "count", "shards")
_unit(r"(?:expert|gpu|tp|ep|dp|pp) groups?\b", "", "count", "groups")
_unit(r"(?:routed |shared )?experts?\b", "experts", "count", "experts")
_unit(r"(?:transformer |decoder |moe )?layers?\b", "layers", "count", "layers")
_unit(r"sequences?\b|seqs?\b|requests?\b|prompts?\b", "sequences", "count", "sequences")
_unit(r"(?:attention |kv |query )?heads?\b", "heads", "count", "heads")
_unit(r"tokens?\b", "tokens", "count", "tokens")
_unit(r"nodes?\b|servers?\b|machines?\b", "nodes", "count", "nodes")
_unit(r"parts?\b|modules?\b|pieces?\b|shards?\b", "parts", "count", "parts")
_unit(r"(?:pipeline )?stages?\b", "stages", "count", "stages")
_unit(r"dimensions?\b|dims?\b", "dimensions", "count", "dimensions")
_unit(r"steps?\b|iterations?\b", "steps", "count", "steps")
_unit(r"(?:expert |tp |ep |dp |pp )?groups?\b|replicas?\b", "", "count", "groups")
_unit(r"params?\b|parameters?\b|weights\b", "params", "count", "params")
_unit(r"ways?\b", "", "count", "way")
_unit(r"billion\b", "B parameters", "count", "params")
_COMPILED = [(re.compile(p), u, k, n) for p, u, k, n in _UNITS]

_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
_INDEX_WORDS = re.compile(r"(?:node|layer|group|rank|gpu|stage|index|id|step|device|expert)s?\s*$", re.I)


@dataclass(frozen=True)
class Number:
    """A number of the plan as printed, with its unit (as the audit reads units) and SI value."""

    value: float  # as printed, e.g. 29.3 of "29.3MB", 30 of "30B parameters"
    printed: str  # the digits as printed ("0.000", "38,000"), so a claim keeps its precision
    unit: str  # a unit moekit.audit.claim_units knows ('MB', 'ms', '%', 'GPUs', 'B parameters', '')
    kind: str  # bytes | bandwidth | flops | flop | seconds | rate | percent | ratio | count
    noun: str  # for counts: gpus, experts, layers, sequences, heads, tokens, ... or ''
    start: int  # where it stands in the text (number through unit)
    end: int
    qualifier: str = ""  # '~' about, '<' or '>' bound, '+' at least (as in "100+")
    range_end: str = ""  # 'low' or 'high' for either end of "85-95%"
    scale: float = 1.0  # a suffix such as the B of "30B" or the T of "400T"

    @property
    def si(self) -> float:
        return self.value * self.scale * _factor(self.unit)

    @property
    def text(self) -> str:
        return f"{self.printed} {self.unit}".strip()


def _factor(unit: str) -> float:
    try:
        return unit_factor(unit, "unit")[1]
    except SpecError:
        return 1.0


def _is_identifier_context(text: str, start: int, end_digits: int) -> bool:
    """True when the digits at start.. belong to a name: EP64, FP16, Qwen3-30B-A3B, v0.1, 8x7B."""
    before = text[max(0, start - 2) : start]
    if before[-1:] and (before[-1].isalnum() or before[-1] in "_."):
        return True
    if before[-1:] == "-" and len(before) == 2 and before[0].isalnum():
        return True  # Llama-4, Qwen3-30B (but not "128-10240", which the range rule reads first)
    after = text[end_digits : end_digits + 2]
    if re.match(r"[x×]\d", after) or re.match(r"\.\d", after):  # 8x7B, 4.51.0
        return True
    if re.match(r"-[A-Za-z]\w*\d", text[end_digits : end_digits + 8]):  # 30B-A3B style names
        return True
    return False


def _read_unit(text: str, pos: int) -> tuple[str, str, str, int, float]:
    """(unit, kind, noun, end, scale) of the unit after a number at pos (may be none)."""
    rest = text[pos:]
    param = re.match(r"([KMBT])\s*(?:total\s+|activ\w*\s+)?(?:[Pp]arams?|[Pp]arameters?)\b", rest)
    if param:  # 30B parameters, 2.4B params
        letter = param.group(1)
        unit = "B parameters" if letter == "B" else "M params" if letter == "M" else "params"
        scale = 1.0 if letter in "BM" else _SCALE[letter]
        return unit, "count", "params", pos + param.end(), scale
    if _bare_scale(rest):  # 30B MoE, 10B, 400T x 0.6: a count with a scale, most often of parameters
        return "", "count", "params", pos + 1, _SCALE[rest[0]]
    hyphen = re.match(r"-(way|layer|stage|GPU|node|expert|head)s?\b", rest, re.I)
    if hyphen:
        noun = {
            "way": "way",
            "gpu": "gpus",
            "layer": "layers",
            "stage": "stages",
            "node": "nodes",
            "expert": "experts",
            "head": "heads",
        }[hyphen.group(1).lower()]
        unit = {"way": "", "gpus": "GPUs"}.get(noun, noun)
        return unit, "count", noun, pos + hyphen.end(), 1.0
    space = 1 if rest[:1] == " " else 0
    for pattern, unit, kind, noun in _COMPILED:
        match = pattern.match(rest, space)
        if match:
            return unit, kind, noun, pos + match.end(), 1.0
    return "", "count", "", pos, 1.0


def _bare_scale(rest: str) -> bool:
    """A B/T/M right after a number that is a scale, not bytes: '30B ×', '400T ×', '10B,'."""
    return bool(
        re.match(r"[KMBT](?![A-Za-z/])\s*(?:[×x*/÷)(+,;]|$|(?:MoE|[Mm]odel|dense|total|activ))", rest)
    )


def _skip(text: str, start: int, number: str) -> bool:
    """Dates, versions, times of day, ratios like 1:1 and index lists are not plan numbers."""
    before = text[max(0, start - 14) : start].lower()
    after = text[start + len(number) : start + len(number) + 6]
    if re.search(_MONTHS + r"\s*$", before) or re.search(_MONTHS + r"\s+\d{1,2},\s*$", before):
        return True
    if (
        re.match(r"\d{4}$", number)
        and 1990 <= int(number) <= 2100
        and re.search(r"(?:\bin|\bsince|\byear|©|copyright|\(c\)|generated:?|date:?)\s*$", before)
    ):
        return True
    if re.match(r":\d", after) or re.search(r"\d:$", before):  # 1:1, 10:42
        return True
    if re.match(r"-\d+-\d+", after) or re.search(r"\d-$", before) and re.match(r"-\d", after):
        return True  # 2025-12-22-10-42-54
    if re.search(r"\[\s*[\d,\s]*$", before) and re.match(r"\s*[,\]]", after):  # [0,1]
        return True
    if re.search(r"\b(?:node|stage|rank|gpu|layer|group|id|step|epoch)\s+$", before) and not re.match(
        r"\s*[A-Za-z%]", after
    ):  # Stage 0, GPU 3: an index
        return True
    return False


_TOKEN = re.compile(rf"(?P<qual>~|≈|<=|>=|<|>|≤|≥|about |around |approx\.? |up to )?\s*(?P<num>{_NUMBER})")


def find_numbers(text: str) -> list[Number]:
    """Every plan number in one line of text, left to right."""
    found: list[Number] = []
    pos = 0
    while True:
        match = _TOKEN.search(text, pos)
        if not match:
            break
        number = match.group("num")
        start = match.start("num")
        pos = match.end()
        if _is_identifier_context(text, start, match.end("num")) or _skip(text, start, number):
            continue
        qualifier = (match.group("qual") or "").strip()
        qualifier = {
            "≈": "~",
            "about": "~",
            "around": "~",
            "approx": "~",
            "approx.": "~",
            "up to": "<",
            "<=": "<",
            "≤": "<",
            ">=": ">",
            "≥": ">",
        }.get(qualifier, qualifier)
        range_match = re.match(rf"\s*(?:-|–|\bto\b)\s*({_NUMBER})(?![\d-])", text[match.end("num") :])
        if range_match:
            low_end = match.end("num")
            high_start = low_end + range_match.start(1)
            high_text = range_match.group(1)
            if _INDEX_WORDS.search(text[max(0, start - 20) : start]):
                pos = high_start + len(high_text)
                continue  # Node 0-7, Layers 0-7: indices
            unit, kind, noun, end, scale = _read_unit(text, high_start + len(high_text))
            for digits, at, role in ((number, start, "low"), (high_text, high_start, "high")):
                found.append(
                    Number(
                        _value(digits),
                        digits,
                        unit,
                        kind,
                        noun,
                        at,
                        end if role == "high" else low_end,
                        qualifier,
                        role,
                        scale,
                    )
                )
            pos = end
            continue
        unit, kind, noun, end, scale = _read_unit(text, match.end("num"))
        if text[end : end + 1] == "+" and not re.match(r"\+\s*\d", text[end : end + 3]):
            qualifier, end = ">", end + 1  # "100+ tokens/ms": at least
            unit2, kind2, noun2, end2, scale2 = _read_unit(text, end)
            if unit2 or noun2:
                unit, kind, noun, end, scale = unit2, kind2, noun2, end2, scale2
        found.append(Number(_value(number), number, unit, kind, noun, start, end, qualifier, "", scale))
        pos = max(pos, end)
    return [n for n in found if math.isfinite(n.si)]


def _value(digits: str) -> float:
    return float(digits.replace(",", ""))


def kind_of(unit: str) -> str:
    """The kind of a printed unit: bytes, seconds, rate, percent, ratio, count..."""
    if unit == "%":
        return "percent"
    if unit == "x":
        return "ratio"
    if unit in COUNT_NOUNS or unit in ("B parameters", "M params", "B params"):
        return "count"
    try:
        return unit_factor(unit, "unit")[0]
    except SpecError:
        return "count"
