"""Units as deployment documents print them: MB, GB, ms, tokens/ms, TFLOPS, %, x, GPUs...

A claim keeps its value and unit as printed; the audit compares in SI. Byte units are
decimal unless written with an i (GiB): the documents mix the two and moekit never guesses.
"""

from __future__ import annotations

from moekit.errors import SpecError
from moekit.spec.units import UNITS

#: counted things: the unit is a noun, the SI value is the count
COUNT_NOUNS = (
    "GPUs", "GPU", "layers", "experts", "expert shards", "sequences", "parts", "modules",
    "stages", "heads", "tokens", "operations", "steps", "params", "parameters", "nodes",
    "dimensions", "",
)
#: unit -> (kind, factor to SI) for what units.py does not cover
_EXTRA = {
    "%": ("fraction", 0.01),
    "x": ("fraction", 1.0),
    "fraction": ("fraction", 1.0),
    "B params": ("count", 1e9),
    "B parameters": ("count", 1e9),
    "M params": ("count", 1e6),
    "sequences/s": ("rate", 1.0),
    "tokens/s per GPU": ("rate", 1.0),
    "tokens/ms per GPU": ("rate", 1e3),
}
_KINDS = ("bytes", "bandwidth", "flops", "flop", "seconds", "rate")


def unit_factor(unit: object, where: str) -> tuple[str, float]:
    """(kind, factor to SI) of a unit as printed; SpecError naming the field if unknown."""
    if not isinstance(unit, str):
        raise SpecError(where, f"unit must be a string as printed (e.g. 'MB', 'ms', '%'), got {unit!r}")
    if unit in COUNT_NOUNS:
        return "count", 1.0
    if unit in _EXTRA:
        return _EXTRA[unit]
    for kind in _KINDS:
        if unit in UNITS[kind]:
            return kind, UNITS[kind][unit]
    raise SpecError(where, f"unknown unit {unit!r}; use a byte, time, FLOP, FLOP/s, bandwidth or "
                    f"rate unit (MB, GiB, ms, TFLOPS, TB/s, tokens/ms), %, x or a count noun "
                    f"({', '.join(n for n in COUNT_NOUNS if n)})")


def to_si(value: float, unit: str, where: str) -> float:
    """A printed value in SI units."""
    return value * unit_factor(unit, where)[1]


def from_si(value: float, unit: str, where: str) -> float:
    """An SI value in a printed unit."""
    return value / unit_factor(unit, where)[1]
