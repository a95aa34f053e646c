"""The document's own arithmetic, where a sentence shows it: "61 GB / 8 = 7.6 GB",
"Total GPUs = 64 × 8 × 2 × 2 = 2048 GPUs", "60GB (30B params × 2 bytes)", "# 8 * 16 * 2".

Each operand is written in SI (30B params -> 3e+10, 400T -> 4e+14, 1.8 TB/s -> 1.8e+12), labels such
as "TP" or "bytes" are dropped, and the expression becomes a claim's `formula:`, which the audit
evaluates without eval (moekit.audit.claim_formula). The formula says what the document computed,
right or wrong; the audit says whether that gives the printed number.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from moekit.audit.claim_formula import evaluate_formula, parse_formula
from moekit.draft.numbers import Number
from moekit.errors import SpecError

_OPERATORS = {"×": "*", "x": "*", "*": "*", "·": "*", "/": "/", "÷": "/", "+": "+", "−": "-", "-": "-"}
_LABEL = re.compile(r"[A-Za-z][A-Za-z_-]*")


@dataclass(frozen=True)
class Formula:
    """An expression in SI over the numbers `operands` (indices), giving the number `result`."""

    result: int
    operands: tuple
    expression: str

    @property
    def value(self) -> float:
        return evaluate_formula(parse_formula(self.expression, "formula"), {}, "formula")


def _si_text(number: Number) -> str:
    value = number.si
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else f"{value:.12g}"


def _tokens(text: str, numbers: list[Number]) -> list[tuple[str, object, int]]:
    """(kind, value, position) tokens: num (index), op, lp, rp, eq, pow, word, stop."""
    spans = {n.start: (i, n.end) for i, n in enumerate(numbers)}
    out, pos = [], 0
    while pos < len(text):
        if pos in spans:
            index, end = spans[pos]
            out.append(("num", index, pos))
            pos = end
            continue
        ch = text[pos]
        if ch.isspace():
            pos += 1
            continue
        if ch in "²³":
            out.append(("pow", 2 if ch == "²" else 3, pos))
        elif ch in _OPERATORS and not (ch in "x-" and not _spaced(text, pos)):
            out.append(("op", _OPERATORS[ch], pos))
        elif ch == "(":
            out.append(("lp", ch, pos))
        elif ch == ")":
            out.append(("rp", ch, pos))
        elif ch == "=":
            out.append(("eq", ch, pos))
        else:
            word = _LABEL.match(text, pos)
            if word:
                out.append(("word", word.group(0), pos))
                pos = word.end()
                continue
            out.append(("stop", ch, pos))
        pos += 1
    return out


def _spaced(text: str, pos: int) -> bool:
    """x and - are operators only with spaces around them (not in 8x7B or 128-10240)."""
    return text[pos - 1 : pos] == " " and text[pos + 1 : pos + 2] == " "


def _expression(tokens: list, start: int, numbers: list[Number]) -> tuple[str, list[int], int] | None:
    """Read `operand (op operand)+` from tokens[start]; (SI expression, operand indices, next)."""
    parts, operands, depth, i, ops, expect_operand = [], [], 0, start, 0, True
    labels = 0
    while i < len(tokens):
        kind, value, _ = tokens[i]
        if expect_operand:
            if kind == "lp":
                parts.append("(")
                depth += 1
            elif kind == "num":
                parts.append(_si_text(numbers[value]))
                operands.append(value)
                expect_operand, labels = False, 0
            else:
                return None
        else:
            if kind == "pow":
                parts.append(f"**{value}")
            elif kind == "word" and labels < 3 and value.lower() not in ("is", "and", "or", "gives"):
                labels += 1  # "4 TP", "2 bytes", "20GB total": labels of the operand
            elif kind == "rp" and depth > 0:
                parts.append(")")
                depth -= 1
            elif kind == "op":
                parts.append(value)
                ops += 1
                expect_operand = True
            else:
                break
        i += 1
    while parts and parts[-1] in "*/+-(":
        parts.pop()
        ops -= 1
    if ops < 1 or len(operands) < 2:
        return None
    text = "".join(parts)
    text = text + ")" * max(0, text.count("(") - text.count(")"))
    return text, operands, i


def find_formulas(text: str, numbers: list[Number]) -> list[Formula]:
    """Every `expression = number` and `number (expression)` in one line."""
    tokens = _tokens(text, numbers)
    found: list[Formula] = []
    used: set[int] = set()
    i = 0
    while i < len(tokens):
        kind, value, _ = tokens[i]
        if kind not in ("num", "lp") or (kind == "num" and value in used):
            i += 1
            continue
        read = _expression(tokens, i, numbers)
        if read is None:
            i += 1
            continue
        expression, operands, nxt = read
        result = _result_after(tokens, nxt) if not (set(operands) & used) else None
        if result is None:
            result = _result_before(tokens, i)
        if result is not None and result not in operands and _plausible(expression, numbers[result]):
            found.append(Formula(result, tuple(operands), expression))
            used |= set(operands) | {result}
        i = nxt
    return found


def _result_after(tokens: list, i: int) -> int | None:
    """The number right after '=' (words between are allowed: '= 7.5GB')."""
    if i < len(tokens) and tokens[i][0] == "eq":
        for kind, value, _ in tokens[i + 1 : i + 3]:
            if kind == "num":
                return value
    return None


def _result_before(tokens: list, i: int) -> int | None:
    """'60GB (30B params × 2 bytes)': the number just before the parenthesis the expression opens."""
    if i == 0 or tokens[i][0] != "lp":
        return None
    for kind, value, _ in reversed(tokens[max(0, i - 4) : i]):
        if kind == "num":
            return value
        if kind not in ("word",):
            return None
    return None


def _plausible(expression: str, result: Number) -> bool:
    """A formula within a factor 1000 of its result: anything further is a misread of units."""
    try:
        value = Formula(0, (), expression).value
    except (SpecError, ZeroDivisionError, OverflowError):
        return False
    if result.si == 0 or value == 0 or not math.isfinite(value):
        return False
    return 1e-3 < abs(value / result.si) < 1e3
