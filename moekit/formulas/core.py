"""Named symbols and formulas: every equation of the cost model lives once, here.

A `Formula` is a named sympy expression with a unit and one line of meaning. Formulas
refer to input symbols (model, hardware, workload, strategy) and to other formulas by
their names, as the scaling book writes them; `expanded()` substitutes those down to
inputs. Some formulas differ by attention kind (GQA/MHA vs MLA): they carry a variant
per kind and the registry resolves them for a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from moekit.formulas.symbols import PHASES


@dataclass(frozen=True)
class Formula:
    """A named quantity: `expr` for every model, or one expression per attention kind."""

    name: str
    unit: str
    doc: str
    expr: sp.Expr | None = None
    variants: dict | None = None  # attention kind -> expr
    latex: str = ""

    @property
    def symbol(self) -> sp.Symbol:
        return sp.Symbol(self.name, nonnegative=True, real=True)

    def expr_for(self, attention: str) -> sp.Expr:
        if self.variants is None:
            return self.expr
        kind = "mla" if attention == "mla" else "gqa"
        return self.variants[kind]


REGISTRY: dict[str, Formula] = {}


def formula(name: str, unit: str, doc: str, expr=None, *, variants=None,
            latex: str = "") -> sp.Symbol:
    """Register a formula and return its symbol, for use in later formulas."""
    if name in REGISTRY:
        raise ValueError(f"formula {name!r} defined twice")
    if (expr is None) == (variants is None):
        raise ValueError(f"formula {name!r} needs exactly one of expr or variants")
    f = Formula(name, unit, doc, sp.sympify(expr) if expr is not None else None,
                {k: sp.sympify(v) for k, v in variants.items()} if variants else None,
                latex or name)
    REGISTRY[name] = f
    return f.symbol


def resolved(attention: str) -> dict[str, sp.Expr]:
    """Every formula's expression for a model with this attention kind, in definition order."""
    return {name: f.expr_for(attention) for name, f in REGISTRY.items()}


def phase_of(symbol_name: str) -> tuple[str, str] | None:
    """('prefill', 'stage_time_s') for 'prefill_stage_time_s'; None for other names."""
    for phase in PHASES:
        if symbol_name.startswith(phase + "_") and symbol_name[len(phase) + 1:] in REGISTRY:
            return phase, symbol_name[len(phase) + 1:]
    return None


def expanded(name: str, attention: str = "gqa") -> sp.Expr:
    """The formula `name` written in input symbols only (dependencies substituted).

    A symbol such as `prefill_stage_time_s` expands to `stage_time_s` with the step inputs
    of that phase put in (queries per sequence, attended context, KV length read).
    """
    exprs = resolved(attention)
    expr = exprs[name]
    for _ in range(len(exprs)):
        subs = {}
        for s in expr.free_symbols:
            if s.name in exprs:
                subs[s] = exprs[s.name]
            elif (found := phase_of(s.name)) is not None:
                phase, base = found
                subs[s] = expanded(base, attention).xreplace(PHASES[phase])
        if not subs:
            return expr
        expr = expr.xreplace(subs)
    raise RuntimeError(f"formula {name!r} refers to itself")


def depends_on_phase(name: str) -> bool:
    """True when the formula (directly or through others) depends on a step input."""
    step_inputs = {s.name for subs in PHASES.values() for s in subs}
    f = REGISTRY[name]
    exprs = [f.expr] if f.variants is None else list(f.variants.values())
    names = {s.name for e in exprs for s in e.free_symbols}
    return bool(names & step_inputs) or any(depends_on_phase(n) for n in names if n in REGISTRY)
