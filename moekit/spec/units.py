"""Quantities with units at the edges: parse "64 GB", "1.8 TB/s", "400 TFLOP/s", "3 us".

Inside moekit everything is SI (bytes, seconds, FLOP, FLOP/s, bytes/s). GB is 1e9 bytes,
GiB is 2**30 bytes; the seeds mix them, so the parser never guesses between the two.
"""

from __future__ import annotations

import math
import re

from moekit.errors import SpecError

_DECIMAL = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}


def _with_prefixes(base: str, aliases: tuple[str, ...] = ()) -> dict[str, float]:
    table = {}
    for name in (base, *aliases):
        for prefix, factor in _DECIMAL.items():
            table[prefix + name] = factor
    return table


def _bytes_table() -> dict[str, float]:
    table = _with_prefixes("B")
    table.update({p + "B": f for p, f in _BINARY.items()})
    return table


#: unit kind -> {unit text: factor to the SI base unit}
UNITS: dict[str, dict[str, float]] = {
    "bytes": _bytes_table(),
    "bandwidth": {
        **{k + "/s": v for k, v in _bytes_table().items()},
        **{k + "ps": v for k, v in _bytes_table().items()},
        **{p + "b/s": f / 8 for p, f in _DECIMAL.items()},
        **{p + "bps": f / 8 for p, f in _DECIMAL.items()},
    },
    "flops": {
        **{k + "/s": v for k, v in _with_prefixes("FLOP").items()},
        **_with_prefixes("FLOPS"),
        **_with_prefixes("FLOPs/s"),
    },
    "flop": _with_prefixes("FLOP", ("FLOPs",)),
    "seconds": {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0},
    "count": {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12},
    "rate": {"tokens/s": 1.0, "tokens/ms": 1e3, "tok/s": 1.0, "tok/ms": 1e3, "/s": 1.0},
}

_QUANTITY = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµ/]*)\s*$")


def parse_quantity(value: object, kind: str, where: str) -> float:
    """Value of a number or a "<number> <unit>" string in the SI unit of `kind`.

    A bare number is taken as already in SI base units.
    """
    if kind not in UNITS:
        raise ValueError(f"unknown unit kind {kind!r}")
    if isinstance(value, bool):
        raise SpecError(where, f"expected a number or a quantity with a unit, got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        match = _QUANTITY.match(value)
        if not match:
            raise SpecError(where, f"cannot read {value!r} as a quantity; write e.g. {_example(kind)}")
        number_text, unit = match.groups()
        table = UNITS[kind]
        if unit not in table:
            other = [k for k, t in UNITS.items() if unit in t and k != kind]
            hint = f" ({unit!r} is a unit of {other[0]})" if other else ""
            allowed = ", ".join(sorted({u for u in table if u}, key=lambda u: (len(u), u))[:14])
            raise SpecError(
                where, f"unit {unit!r} in {value!r} is not a unit of {kind}{hint}; use one of {allowed}"
            )
        number = float(number_text) * table[unit]
    else:
        raise SpecError(where, f"expected a number or a quantity string, got {type(value).__name__}")
    if not math.isfinite(number):
        raise SpecError(where, f"{value!r} is not a finite number")
    return number


def _example(kind: str) -> str:
    return {
        "bytes": "'64 GB' or '80 GiB'",
        "bandwidth": "'1.8 TB/s'",
        "flops": "'400 TFLOP/s'",
        "flop": "'1.2 TFLOP'",
        "seconds": "'8.5 s' or '50 ms'",
        "count": "'30B'",
        "rate": "'100 tokens/ms' or '20000 tokens/s'",
    }[kind]


def format_bytes(n: float) -> str:
    """Bytes as GB (1e9) and GiB (2**30) side by side, so neither is mistaken for the other."""
    return f"{n / 1e9:.3g} GB ({n / 2**30:.3g} GiB)"
