"""What each number of a plan is: its unit, its words, the document's arithmetic, its quantity and role.

`read_numbers` turns the document's lines into `Reading`s. A table cell is read with its row and
column, a code setting ('key': value, # comment) with its key, prose with the few words around the
number (up to punctuation or the next number), the line's label, the text between its neighbours,
the whole line (where it holds one value), the line it continues and the nearest heading. The
phrase table then names the quantity and the role: a claim, an input the plan takes as given, a
target, an operand of the plan's own arithmetic, or unresolved (with the reason).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from moekit.draft import phrases
from moekit.draft.arithmetic import find_formulas
from moekit.draft.document import Line, code_entry
from moekit.draft.numbers import Number, find_numbers, kind_of
from moekit.formulas import PHASES, REGISTRY, SYMBOLS

_SEPARATORS = re.compile(r"[:|;()\[\]=,]|\s[-–—]\s|\.\s")


def evaluation_names() -> set[str]:
    """Every name a claim's `model:` may use: moekit's formulas and inputs, per phase too."""
    names = set(REGISTRY) | set(SYMBOLS)
    return names | {f"{p}_{n}" for p in PHASES for n in names}


@dataclass
class Reading:
    """One number of the document and where the draft put it."""

    line: Line
    number: Number
    context: phrases.Context
    quantity: phrases.Quantity | None = None
    level: str = ""
    role: str = "unresolved"  # claim | input | target | operand | unresolved
    formula: str = ""
    reason: str = ""
    other_plan: bool = False
    claim_id: str = ""

    @property
    def where(self) -> str:
        return f"line {self.line.number}"


# --- reading the numbers ----------------------------------------------------------------------


def _words_around(
    text: str, number: Number, before_from: Number | None = None, after_to: Number | None = None
) -> str:
    """The few words before a number and after its unit, up to punctuation or a neighbouring number,
    with the unit itself. A neighbour joined by 'of' is kept: '0.09% of 64GB'."""
    head = text[before_from.end if before_from else 0 : number.start]
    parts = _SEPARATORS.split(head)
    before = parts[-1]
    if not before.strip() and len(parts) > 1 and head.rstrip().endswith(":"):
        before = parts[-2] + ":"  # "output length: 256": the key right before the number
    end = None
    if after_to is not None:
        joined = re.fullmatch(r"\s*of\s*", text[number.end : after_to.start])
        end = after_to.end if joined else after_to.start
    after = _SEPARATORS.split(text[number.end : end])[0]
    unit_text = text[number.start : number.end]
    words_before = " ".join(before.split()[-6:])
    return f"{words_before} {unit_text} {' '.join(after.split()[:3])}".strip().lower()


_UNIT_HINT = re.compile(
    r"\((MB|GB|GiB|MiB|TB|ms|s|us|%|TFLOPS|TFlops|tokens/s|tokens/ms)\)|\b(TFLOPS|TFlops)\b|"
    r"(?i:(tokens per second)|(sequences per second))|\bin (MB|GB|ms|seconds)\b"
)


def _hinted_unit(*texts: str) -> str:
    """A unit the label, column or heading gives a bare number: 'Memory (MB)', 'Tokens per second'."""
    for text in texts:
        match = _UNIT_HINT.search(text or "")
        if match:
            unit = next(g for g in match.groups() if g)
            return {
                "TFlops": "TFLOPS",
                "tokens per second": "tokens/s",
                "sequences per second": "sequences/s",
                "seconds": "s",
            }.get(unit.lower() if "second" in unit.lower() else unit, unit)
    return ""


def _with_unit(number: Number, unit: str) -> Number:
    noun = number.noun
    return replace(number, unit=unit, kind=kind_of(unit), noun="" if kind_of(unit) != "count" else noun)


def _line_readings(line: Line) -> list[Reading]:
    """The numbers of one line with their contexts (table cells and code settings read apart)."""
    section = line.last_heading.lower()
    parent = line.parent.lower()
    if line.cells and line.header:
        out = []
        row = line.cells[0]
        for j, cell in enumerate(line.cells):
            if j == 0 and not re.search(r"\d", row):
                continue
            column = line.header[j] if j < len(line.header) else ""
            for number in find_numbers(cell):
                if number.kind == "count" and not number.unit and not number.noun:
                    hint = _hinted_unit(column, line.section)
                    if hint:
                        number = _with_unit(number, hint)
                words = f"{row} {column} {_words_around(cell, number)}".lower()
                out.append(
                    Reading(
                        line,
                        number,
                        phrases.Context(words, f"{row} {column}".lower(), cell.lower(), "", parent, section),
                    )
                )
        return out
    entry = code_entry(line)
    if line.code not in ("", "text", "table") and not entry:
        return []  # program text: its numbers are code, not the plan's
    text = line.plain if not entry else f"{entry[0]}: {entry[1]} # {entry[2]}"
    numbers = find_numbers(text)
    label = line.label.lower()
    out = []
    for i, number in enumerate(numbers):
        if number.kind == "count" and not number.unit and not number.noun:
            follower = numbers[i + 1] if i + 1 < len(numbers) else None
            gap = text[number.end : follower.start] if follower else ""
            if follower and follower.unit and re.fullmatch(r"\s*[<>≤≥]\s*", gap):
                number = _with_unit(number, follower.unit)  # "38,000 > 20,000 tokens/s"
            elif (hint := _hinted_unit(line.label, line.last_heading)) and i == 0:
                number = _with_unit(number, hint)
        out.append(Reading(line, number, phrases.Context("", label, "", text.lower(), parent, section)))
    return out


def _formulas(line: Line, readings: list[Reading]) -> None:
    """Mark operands and give results the document's own arithmetic."""
    if not readings:
        return
    entry = code_entry(line)
    text = line.plain if not entry else f"{entry[0]}: {entry[1]} # {entry[2]}"
    if line.cells:
        return
    numbers = [r.number for r in readings]
    for formula in find_formulas(text, numbers):
        readings[formula.result].formula = formula.expression
        for i in formula.operands:
            readings[i].role, readings[i].reason = "operand", f"an operand of {formula.expression}"
    if entry:  # a code setting: the comment's arithmetic belongs to the setting's value
        for reading in readings[1:]:
            if reading.formula and abs(reading.number.si - readings[0].number.si) <= 1e-9 * abs(
                reading.number.si
            ):
                readings[0].formula, reading.formula = reading.formula, ""
                reading.role, reading.reason = "operand", "repeats the setting's value"
        if entry[2] and not readings[0].formula and "=" not in entry[2]:  # 'batch': 256, # 8 * 16 * 2
            synthetic = f"{entry[2]} = {entry[1]}"
            ghost = find_numbers(synthetic)
            for formula in find_formulas(synthetic, ghost):
                if formula.result == len(ghost) - 1:
                    readings[0].formula = formula.expression
                    for i in formula.operands:
                        if i + 1 < len(readings):
                            readings[i + 1].role, readings[i + 1].reason = (
                                "operand",
                                "an operand of the comment",
                            )
    for i, reading in enumerate(readings):  # "56GB (87.5% of 64GB capacity)": a share of two printed numbers
        if reading.number.kind != "percent" or reading.formula or i == 0 or i + 1 >= len(readings):
            continue
        whole, part = readings[i + 1].number, readings[i - 1].number
        between = text[reading.number.end : whole.start]
        if re.fullmatch(r"\s*of\s*", between) and part.kind == whole.kind and part.kind in ("bytes", "flops"):
            reading.formula = f"{_si(part)} / {_si(whole)}"


def _settle_contexts(line: Line, readings: list[Reading]) -> None:
    """Once operands are known: the whole line is a level only for a line of one value (others would
    borrow its words); every value also sees its segment, the text between its neighbours."""
    if line.cells:
        return
    entry = code_entry(line)
    text = line.plain if not entry else f"{entry[0]}: {entry[1]} # {entry[2]}"
    for i, reading in enumerate(readings[:-1]):  # "split into 2 × 64 sequences": 2 is a factor
        nxt = readings[i + 1].number
        if (
            reading.role != "operand"
            and not reading.number.unit
            and not reading.number.noun
            and re.fullmatch(r"\s*[×x*]\s*", text[reading.number.end : nxt.start])
        ):
            reading.role, reading.reason = "operand", "a factor of a product the plan does not work out"
    if entry:  # a code setting: its value, and the comment only where it works the value out
        for reading in readings[1:]:
            if reading.role != "operand":
                reading.role, reading.reason = "comment", f"a number in the comment of the setting {entry[0]}"
    values = [r for r in readings if r.role not in ("operand", "comment")]
    lower = text.lower()
    for k, reading in enumerate(values):
        before = values[k - 1].number if k else None
        after = values[k + 1].number if k + 1 < len(values) else None
        start, end = before.end if before else 0, after.start if after else len(text)
        reading.context = replace(
            reading.context,
            words=_words_around(text, reading.number, before, after),
            segment=lower[start:end],
            line=lower if len(values) == 1 else "",
        )


def _si(number: Number) -> str:
    value = number.si
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else f"{value:.12g}"


def read_numbers(lines: list[Line]) -> list[Reading]:
    """Every number of the document, classified: quantity, role (claim, input, target...)."""
    readings: list[Reading] = []
    other_plan = False
    for line in lines:
        if line.heading:
            other_plan = bool(phrases.OTHER_PLAN.search(line.plain.lower()))
            continue
        if not line.plain:
            continue
        if phrases.OTHER_PLAN.search(line.plain.lower()) and not re.search(r"\d", line.plain):
            other_plan = True  # "Based on the validation, the initial strategy has several issues:"
        found = _line_readings(line)
        _formulas(line, found)
        _settle_contexts(line, found)
        for reading in found:
            reading.other_plan = other_plan or bool(phrases.OTHER_PLAN.search(reading.context.own))
            if reading.role == "comment":
                reading.role = "unresolved"
            elif reading.role != "operand":
                _classify(reading)
        readings += found
    return readings


def _classify(reading: Reading) -> None:
    number, context = reading.number, reading.context
    found = phrases.classify(number.kind, number.noun, context, reading.line.plain.lower())
    if found is None:
        reading.role = "unresolved"
        reading.reason = (
            f"no phrase of the table matches the words around it ({context.words!r}) for a "
            f"{number.kind} value"
        )
        return
    quantity, level = found
    reading.quantity, reading.level = quantity, level
    own = f"{context.words} | {context.label}"
    is_target = quantity.key in phrases.TARGET_FIELDS and (
        phrases.TARGET_CUES.search(own)
        or (
            number.qualifier in "<>"
            and number.qualifier
            and re.search(r"requirement|target|meets|pass|below|exceeds|within", reading.line.plain.lower())
        )
    )
    if is_target and quantity.key == "memory_per_gpu":  # "11.6GB < 64GB (PASS)": the capacity
        reading.quantity, reading.role = phrases.BY_KEY["gpu_memory"], "input"
    elif is_target and not reading.formula:
        reading.role = "target"
    elif quantity.role == "input" and not reading.formula and not phrases.CLAIM_CUES.search(own):
        reading.role = "input"
    else:
        reading.role = "claim"


def printed_value(number: Number) -> object:
    if number.scale != 1:  # 30B -> 30 (B parameters); 400T -> 4e14
        value = number.value * number.scale / (1e9 if number.noun == "params" else 1.0)
        return int(value) if value == int(value) else value
    text = number.printed
    if "," in text or ("." in text and text.endswith("0")):
        return text
    value = float(text)
    return int(value) if re.fullmatch(r"\d+", text) else value
