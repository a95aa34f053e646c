"""The cost model as named sympy formulas (one module per concept). Importing registers them."""

from moekit.formulas import (  # noqa: F401  (registration order = evaluation order)
    bounds,
    communication,
    flops,
    memory,
    parallel,
    parameters,
    timing,
)
from moekit.formulas.core import REGISTRY, Formula, expanded, resolved
from moekit.formulas.symbols import PHASES, SYMBOLS

__all__ = ["REGISTRY", "SYMBOLS", "Formula", "PHASES", "expanded", "resolved"]
