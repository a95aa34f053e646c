"""A document's own arithmetic as a sympy expression, read without eval.

Scenario files record formulas such as `params * weight_bytes / (tp * dp)`. They are read by
walking Python's syntax tree and admitting only numbers, names and + - * / ** with
parentheses; anything else (a call, an attribute, a subscript, a comparison) is refused with
an error naming the field. No string is ever handed to eval, so nothing in a scenario file
can run code. The document's own symbols (×, ÷, ², ³) are accepted as written.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping

import sympy as sp

from moekit.errors import SpecError

_OPERATORS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_DOCUMENT_SYMBOLS = {"×": "*", "·": "*", "÷": "/", "²": "**2", "³": "**3", "−": "-"}


def _normalise(text: str) -> str:
    for symbol, python in _DOCUMENT_SYMBOLS.items():
        text = text.replace(symbol, python)
    return text


def _refusal(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        return "calls a function; only numbers, names and + - * / ** are allowed"
    if isinstance(node, ast.Attribute):
        return f"accesses attribute {node.attr!r}; only plain names are allowed"
    if isinstance(node, ast.Subscript):
        return "indexes a value; only plain names are allowed"
    return f"uses {type(node).__name__}; only numbers, names and + - * / ** are allowed"


def _to_sympy(node: ast.AST, where: str) -> sp.Expr:
    if isinstance(node, ast.Expression):
        return _to_sympy(node.body, where)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sp.Integer(node.value) if isinstance(node.value, int) else sp.Float(node.value)
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise SpecError(where, f"name {node.id!r} may not start with an underscore")
        return sp.Symbol(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_to_sympy(node.left, where), _to_sympy(node.right, where))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _to_sympy(node.operand, where)
        return -operand if isinstance(node.op, ast.USub) else operand
    raise SpecError(where, f"formula {_refusal(node)}")


def parse_formula(text: object, where: str) -> sp.Expr:
    """The sympy expression of a formula string; SpecError if it is anything but arithmetic."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(where, f"expected a formula string, got {text!r}")
    try:
        tree = ast.parse(_normalise(text).strip(), mode="eval")
    except SyntaxError as exc:
        raise SpecError(where, f"cannot read formula {text!r}: {exc.msg}") from None
    return _to_sympy(tree, where)


def names_in(expr: sp.Expr) -> set[str]:
    """The names a formula refers to."""
    return {s.name for s in expr.free_symbols}


def evaluate_formula(expr: sp.Expr, values: Mapping[str, float], where: str) -> float:
    """The number a formula gives with `values` for its names; SpecError naming what is unknown."""
    unknown = sorted(names_in(expr) - set(values))
    if unknown:
        raise SpecError(where, f"formula uses unknown name(s) {', '.join(unknown)}")
    number = expr.xreplace({sp.Symbol(n): sp.Float(values[n]) for n in names_in(expr)})
    if number.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise SpecError(where, "formula has no finite value (a division by zero?)")
    try:
        result = float(number)
    except TypeError:
        raise SpecError(where, f"formula does not reduce to a number: {number}") from None
    if not math.isfinite(result):
        raise SpecError(where, f"formula gives {result} (a division by zero?)")
    return result
