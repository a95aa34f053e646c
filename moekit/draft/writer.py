"""The scenario writer: a plan's text in, a scenario draft out (what `moekit draft` writes).

Every number of the document ends up in exactly one place, with its line: a claim (with its unit,
sentence, a quantity and a suggested `model:` check from the phrase table, and the document's own
`formula:` where the sentence shows it), a `stated:` input (layers, GPU memory, batch...), a target
(a requirement), an operand of a formula, or `unresolved:` with the reason. What the draft had to
guess (a preset recognised by name, a vocabulary size nobody stated, the phase a throughput
belongs to) is listed under `assumptions:`, and every drafted claim cites the assumption that its
mapping is a guess. Deterministic: the same text gives the same draft.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import yaml

from moekit.audit.claim_formula import names_in, parse_formula
from moekit.draft import phrases
from moekit.draft.document import Line, read_document
from moekit.draft.notation import find_strategy
from moekit.draft.numbers import Number
from moekit.draft.readings import Reading, evaluation_names, printed_value, read_numbers
from moekit.draft.recognise import (
    Assumptions,
    Options,
    hardware_of,
    hardware_overrides,
    inputs_by_key,
    model_of,
    stated_values,
    strategy_of,
    targets_of,
    workload_of,
)
from moekit.errors import SpecError

__all__ = ["Draft", "Options", "Reading", "draft", "evaluation_names", "checks_for", "phase_of"]


@dataclass
class Draft:
    """A scenario draft: the mapping `moekit.audit.scenario` reads, and how each number was read."""

    scenario: dict
    readings: list = field(default_factory=list)

    def claims(self) -> list[Reading]:
        return [r for r in self.readings if r.role == "claim" and r.claim_id]

    def to_yaml(self) -> str:
        header = (
            f"# Drafted by `moekit draft` from {self.scenario['source']}: a starting point to review.\n"
            "# Quantities and model: checks are guesses from the words around each number (see\n"
            "# assumptions and each claim's note); unresolved: lists what the draft could not map.\n"
        )
        return header + yaml.safe_dump(self.scenario, sort_keys=False, allow_unicode=True, width=100)

    def to_json(self) -> str:
        return json.dumps(self.scenario, indent=2, ensure_ascii=False)


# --- claims -----------------------------------------------------------------------------------


def _claim_unit(number: Number) -> str:
    if number.scale != 1:
        return "B parameters" if number.noun == "params" else ""
    return number.unit


def _unique_id(base: str, taken: set) -> str:
    base = re.sub(r"[^a-z0-9_]", "_", base.lower()).strip("_") or "claim"
    if base in evaluation_names():
        base += "_claim"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def phase_of(reading: Reading, workload: dict) -> str:
    text = reading.context.own
    if re.search(r"decode|generation|output token|tpot|per user|inter-token", text):
        return "decode"
    if re.search(r"prefill|prompt|ttft|first token", text):
        return "prefill"
    return "decode" if workload.get("output_len", 1) > 1 else "prefill"


def checks_for(
    reading: Reading, phase: str, convention: str, names: set, stated: set, refs: dict
) -> tuple[dict, list]:
    """The model/bound/mistakes of a claim, each only if every name it uses exists."""
    q = reading.quantity
    out, dropped = {}, []
    model = phrases.model_for(q, phase, convention, reading.context.own + " | " + reading.context.parent)
    candidates = [("model", model)]
    bound = phrases.bound_for(q, phase)
    if bound:
        candidates.append(("bound", bound[0]))
    for key, expr in candidates:
        if not expr:
            continue
        unknown = names_in(parse_formula(expr, key)) - names - stated
        if unknown:
            dropped.append(f"{key} {expr!r} uses {', '.join(sorted(unknown))}, which moekit does not have")
            continue
        out[key] = expr if key == "model" else {"formula": expr, "kind": bound[1]}
    mistakes = []
    for mistake_names, expr in q.mistakes:
        try:  # {weights_total}: the id of the plan's own claim of that quantity, or stated value
            expr = expr.format(**refs)
        except KeyError:
            continue
        if not (names_in(parse_formula(expr, "mistake")) - names - stated - set(refs.values())):
            mistakes.append({"mistake": list(mistake_names), "formula": expr})
    if mistakes and "model" in out:
        out["mistakes"] = mistakes
    return out, dropped


def _claims(
    readings: list[Reading],
    workload: dict,
    convention: str,
    stated: set,
    assume: Assumptions,
    unresolved: list,
) -> list[dict]:
    names = evaluation_names()
    claims: list[dict] = []
    kept: dict[tuple, dict] = {}
    taken: set = set(stated)
    refs = {name: name for name in stated}  # what known mistakes may refer to: stated values...
    for r in readings:  # ... and the first claim of each quantity, by the id it will get
        if r.role == "claim" and not r.other_plan and r.quantity.key not in refs:
            refs[r.quantity.key] = (
                r.quantity.key if r.quantity.key not in names else r.quantity.key + "_claim"
            )
    for r in readings:
        if r.role != "claim":
            continue
        q, number = r.quantity, r.number
        key = (q.key, round(number.si, 12), number.range_end)
        if key in kept:
            kept[key].setdefault("note", "")
            also = f"also line {r.line.number}"
            kept[key]["note"] = f"{kept[key]['note']}; {also}" if kept[key]["note"] else also
            r.claim_id = kept[key]["id"]
            continue
        r.claim_id = _unique_id(q.key + (f"_{number.range_end}" if number.range_end else ""), taken)
        phase = phase_of(r, workload)
        label = q.label + (f" ({number.range_end} end)" if number.range_end else "")
        claim = {
            "id": r.claim_id,
            "quantity": label,
            "value": printed_value(number),
            "unit": _claim_unit(number),
            "section": r.line.last_heading or "document",
            "line": r.line.number,
            "text": r.line.plain,
        }
        if not claim["unit"] and q.unit and number.kind == "count" and not number.noun:
            claim["unit"] = q.unit
        if r.formula:
            claim["formula"] = r.formula
            claim["formula_written"] = True
        notes = [f"guess: {q.label} from the words {_matched(q, r)!r} ({r.level})"]
        if r.other_plan:
            notes.append(
                "it describes another plan (the initial strategy or a baseline), so moekit does not "
                "check it against this one"
            )
        elif q.role == "input":
            notes.append("a figure the plan takes as given elsewhere; restated, it is not checked")
        else:
            checks, dropped = checks_for(r, phase, convention, names, stated, refs)
            claim.update(checks)
            for text in dropped:
                unresolved.append(
                    {
                        "line": r.line.number,
                        "text": r.line.plain,
                        "value": number.text,
                        "reason": f"the suggested {text}",
                    }
                )
            if "model" in checks and (isinstance(q.model, dict) or "{phase}" in str(q.model)):
                notes.append(f"read as the {phase} phase")
        if number.qualifier == "~":
            claim["tolerance"] = 0.1
            notes.append("printed as approximate (~), so 10% is allowed")
        elif number.qualifier in ("<", ">"):
            notes.append(f"printed as a bound ({number.qualifier}); checked as the value itself")
        if q.note:
            notes.append(q.note)
        claim["note"] = "; ".join(notes)
        claim["assumptions"] = [
            assume.add(
                "drafted_mapping",
                "each claim's quantity and suggested model: check "
                "come from moekit draft's phrase table matching the words around "
                "the number: guesses to confirm, not readings of the author's "
                "intent",
                model=False,
            )
        ]
        kept[key] = claim
        claims.append(claim)
    return claims


def _matched(q: phrases.Quantity, r: Reading) -> str:
    text = dict(r.context.levels()).get(r.level, "")
    match = q.pattern.search(text)
    return match.group(0) if match and match.group(0).strip() else text[:40]


def _unresolved(readings: list[Reading]) -> list[dict]:
    return [
        {"line": r.line.number, "text": r.line.plain, "value": r.number.text, "reason": r.reason}
        for r in readings
        if r.role == "unresolved"
    ]


def _title(lines: list[Line]) -> str:
    return next((line.plain for line in lines if line.heading), "")


def draft(text: str, options: Options | None = None) -> Draft:
    """A scenario draft of the plan `text` (Markdown or plain text)."""
    opts = options or Options()
    if not isinstance(text, str):
        raise SpecError("draft", f"expected the plan's text, got {type(text).__name__}")
    lines = read_document(text)
    readings = read_numbers(lines)
    inputs = inputs_by_key(readings)
    assume, unresolved = Assumptions(), []
    found = find_strategy(lines)
    model = model_of(opts, text, inputs, assume, unresolved)
    hardware = hardware_of(opts, text, inputs, assume, unresolved)
    workload = workload_of(opts, inputs, lines, found, assume)
    strategy = strategy_of(opts, found, readings, workload, assume, unresolved)
    phase = "decode" if workload["output_len"] > 1 else "prefill"
    targets = targets_of(readings, phase, assume, unresolved)
    stated = stated_values(readings)
    for degree in found.degrees.values():
        stated.setdefault(f"doc_{degree.dim.lower()}", degree.value)
    convention = strategy["convention"] if strategy else "folded"
    claims = _claims(readings, workload, convention, set(stated), assume, unresolved)
    unresolved = _unresolved(readings) + unresolved
    scenario: dict = {
        "name": opts.name,
        "source": opts.source,
        "title": _title(lines) or opts.name,
        "model": model,
        "hardware": hardware,
    }
    overrides = hardware_overrides(inputs, assume)
    if overrides and hardware is not None:
        scenario["hardware_overrides"] = overrides
    scenario["workload"] = workload
    if targets:
        scenario["targets"] = targets
    if strategy:
        scenario["strategy"] = strategy
    if stated:
        scenario["stated"] = stated
    scenario["assumptions"] = assume.items
    if not claims:
        unresolved.append(
            {"what": "claims", "reason": "the text holds no number the phrase table maps to a claim"}
        )
    scenario["claims"] = claims
    scenario["unresolved"] = unresolved
    return Draft(scenario, readings)
