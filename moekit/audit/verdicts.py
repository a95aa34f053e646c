"""The audit: every claim of a scenario gets one verdict, the recomputed value and why.

Checks per claim, each a formula from the scenario file: arithmetic (`formula`, the claim's
own stated inputs), feasibility (`bound`, a speed-of-light limit from the evaluation),
consistency (`consistency`, what other claims or the stated config imply) and the model
(`model`, moekit's cost model under the stated config). The verdict is the gravest failure,
in the order infeasible > arithmetic_error > inconsistent > model_error; `ok` when every check
that ran agrees within tolerance; `unverifiable` when none could run (the scenario says what
is missing). A verdict is never softened: a claim that fails any check is not `ok`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from moekit.audit.claim_formula import evaluate_formula
from moekit.audit.claim_units import from_si, unit_factor
from moekit.audit.forensics import MISTAKES, sentence, slips, within
from moekit.audit.scenario import Claim, Scenario
from moekit.errors import SpecError
from moekit.evaluate import Evaluation, evaluate
from moekit.spec.stack import load_stack

VERDICTS = ("ok", "arithmetic_error", "model_error", "inconsistent", "infeasible", "unverifiable")
GRAVITY = ("infeasible", "arithmetic_error", "inconsistent", "model_error")
DEFAULT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Finding:
    """One check of one claim: its kind, the value it gives (SI) and whether the claim agrees."""

    kind: str  # arithmetic | bound | consistency | model
    value_si: float
    agrees: bool
    text: str
    note: str = ""
    other_convention_si: float | None = None
    side: str = ""  # bounds: 'lower' (the claim may not go below) or 'upper'


@dataclass(frozen=True)
class Verdict:
    """The audit of one claim."""

    claim: Claim
    verdict: str
    recomputed_si: float | None
    explanation: str
    assumptions: tuple = ()
    reproduced_by: tuple = ()
    findings: tuple = ()

    @property
    def recomputed_value(self) -> float | None:
        if self.recomputed_si is None:
            return None
        return from_si(self.recomputed_si, self.claim.unit, f"claim {self.claim.id}")

    @property
    def ratio(self) -> float | None:
        if not self.recomputed_si:
            return None
        return self.claim.si_value / self.recomputed_si

    def to_dict(self) -> dict:
        c = self.claim
        return {"id": c.id, "quantity": c.quantity, "claimed_value": c.value,
                "claimed_unit": c.unit, "recomputed_value": _round(self.recomputed_value),
                "recomputed_unit": c.unit, "ratio": _round(self.ratio), "verdict": self.verdict,
                "explanation": self.explanation, "assumptions": list(self.assumptions),
                "reproduced_by": list(self.reproduced_by)}


def _round(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.6g}")


@dataclass(frozen=True)
class DocumentAudit:
    """The audit of one scenario: a verdict per claim, and what the stated config itself says."""

    scenario: Scenario
    verdicts: tuple
    config_findings: tuple = field(default_factory=tuple)
    convention_note: str = ""

    def counts(self) -> dict:
        return {v: sum(1 for x in self.verdicts if x.verdict == v) for v in VERDICTS}

    def verdict(self, claim_id: str) -> Verdict:
        for v in self.verdicts:
            if v.claim.id == claim_id:
                return v
        raise KeyError(claim_id)

    def to_dict(self) -> dict:
        return {"scenario": self.scenario.name, "source": self.scenario.source,
                "stack": self.scenario.stack,
                "claims": [v.to_dict() for v in self.verdicts]}


def fmt(value: float | None) -> str:
    """A number the way a reader wants it: 4 significant digits, no exponent for everyday sizes."""
    if value is None:
        return "n/a"
    if value != 0 and (abs(value) >= 1e7 or abs(value) < 1e-3):
        return f"{value:.4g}"
    return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"


class _Auditor:
    """Audits the claims of one scenario against one evaluation (and the other convention's)."""

    def __init__(self, scenario: Scenario, tolerance: float):
        self.s = scenario
        self.tolerance = tolerance
        self.claims_si = {c.id: c.si_value for c in scenario.claims}

    @cached_property
    def evaluation(self) -> Evaluation | None:
        if self.s.strategy is None:
            return None
        return evaluate(self.s.model, self.s.hardware, self.s.workload, self.s.strategy, check=False,
                        stack=self.s.stack)

    @cached_property
    def other_evaluation(self) -> Evaluation | None:
        other = self.s.other_convention()
        if other is None or isinstance(other, SpecError):
            return None
        return evaluate(self.s.model, self.s.hardware, self.s.workload, other, check=False,
                        stack=self.s.stack)

    def _value(self, check, names: dict, where: str) -> float:
        return evaluate_formula(check.expr, names, where)

    def _agrees(self, claim: Claim, value_si: float) -> bool:
        tol = claim.tolerance if claim.tolerance is not None else self.tolerance
        if within(claim.si_value, value_si, tol):
            return True
        # a value printed with decimals is good to half a unit of its last digit
        value = from_si(value_si, claim.unit, claim.id)
        return claim.decimals > 0 and abs(claim.value - value) <= 0.5 * 10.0**-claim.decimals

    def findings(self, claim: Claim) -> list[Finding]:
        out = []
        where = f"claim {claim.id}"
        local = {**self.s.stated, **self.claims_si, **claim.inputs}
        if claim.formula is not None:
            v = self._value(claim.formula, local, f"{where}.formula")
            out.append(Finding("arithmetic", v, self._agrees(claim, v), claim.formula.text))
        ev = self.evaluation
        if ev is None:
            return out
        moekit_names = {**ev.values, **self.s.stated}
        if claim.bound is not None:
            b = self._value(claim.bound, moekit_names, f"{where}.bound")
            beats = claim.si_value < b * (1 - self.tolerance) if claim.bound.name == "lower" \
                else claim.si_value > b * (1 + self.tolerance)
            out.append(Finding("bound", b, not beats, claim.bound.text, claim.bound.note,
                               side=claim.bound.name))
        for check in claim.consistency:
            v = self._value(check, {**ev.values, **self.s.stated, **self.claims_si},
                            f"{where}.consistency")
            out.append(Finding("consistency", v, self._agrees(claim, v), check.text, check.note))
        if claim.model is not None:
            v = self._value(claim.model, moekit_names, f"{where}.model")
            other = None
            if self.other_evaluation is not None:
                other = self._value(claim.model, {**self.other_evaluation.values, **self.s.stated},
                                    f"{where}.model")
            out.append(Finding("model", v, self._agrees(claim, v), claim.model.text,
                               claim.note, other))
        return out

    def reproductions(self, claim: Claim, correct_si: list) -> tuple:
        """Sentences for each known mistake that gives the claimed number within 2%."""
        found = []
        names = {**(self.evaluation.values if self.evaluation else {}), **self.s.stated,
                 **self.claims_si, **claim.inputs}
        for m in claim.mistakes:
            try:
                v = evaluate_formula(m.expr, names, f"claim {claim.id}.mistakes")
            except SpecError:
                continue
            if within(claim.si_value, v):
                text = "; with ".join(MISTAKES[n].sentence for n in m.name)
                found.append(f"{text} ({m.text} = {fmt(from_si(v, claim.unit, claim.id))} "
                             f"{claim.unit})")
        for value in correct_si:
            for name, how in slips(claim.si_value, value, claim.unit, claim.kind):
                found.append(sentence(name, how))
        return tuple(dict.fromkeys(found))

    def assumptions(self, claim: Claim, findings: list[Finding]) -> tuple:
        names = list(claim.assumptions)
        if any(f.kind in ("model", "bound") for f in findings) or any(
                f.kind == "consistency" for f in findings):
            names += [a.name for a in self.s.assumptions if a.model]
        return tuple(str(self.s.assumption(n)) for n in dict.fromkeys(names))

    def verdict(self, claim: Claim) -> Verdict:
        findings = self.findings(claim)
        assumptions = self.assumptions(claim, findings)
        failing = {f.kind: f for f in findings if not f.agrees}
        kind_to_verdict = {"bound": "infeasible", "arithmetic": "arithmetic_error",
                           "consistency": "inconsistent", "model": "model_error"}
        if not findings:
            missing = [str(m) for m in self.s.missing if m.name in claim.missing]
            why = "; ".join(missing) if missing else "the scenario records no check for it"
            text = f"Cannot be checked: {why}."
            if claim.note:
                text = text[:-1] + f" (note: {claim.note})."
            return Verdict(claim, "unverifiable", None, text, assumptions, (), ())
        for verdict in GRAVITY:
            kind = next(k for k, v in kind_to_verdict.items() if v == verdict)
            if kind in failing:
                f = failing[kind]
                correct = [x.value_si for x in findings if x.kind != "bound" and x.value_si]
                return Verdict(claim, verdict, f.value_si, self._explain(claim, verdict, f, findings),
                               assumptions, self.reproductions(claim, correct), tuple(findings))
        best = next(f for kind in ("model", "consistency", "arithmetic", "bound")
                     for f in findings if f.kind == kind)
        return Verdict(claim, "ok", best.value_si, self._explain(claim, "ok", best, findings),
                       assumptions, (), tuple(findings))

    def _explain(self, claim: Claim, verdict: str, f: Finding, findings: list[Finding]) -> str:
        unit = claim.unit
        value = f"{fmt(from_si(f.value_si, unit, claim.id))} {unit}".strip()
        arithmetic = next((x for x in findings if x.kind == "arithmetic"), None)
        if verdict == "ok":
            checks = ", ".join(dict.fromkeys(x.kind for x in findings))
            text = f"Agrees with {checks}: {f.text} = {value}"
        elif verdict == "arithmetic_error":
            text = f"The document's own inputs give {f.text} = {value}, not {fmt(claim.value)} {unit}"
        elif verdict == "infeasible":
            side = "lower" if f.side == "lower" else "upper"
            text = (f"Beats a physical {side} bound: {f.text} = {value}, which no deployment on "
                    "these GPUs can better")
        elif verdict == "inconsistent":
            text = f"Contradicts the stated config or other claims: {f.text} = {value}"
            if arithmetic is not None and arithmetic.agrees:
                text += " (its own arithmetic holds)"
        else:
            text = f"moekit's model under the stated config gives {f.text} = {value}"
            if arithmetic is not None and arithmetic.agrees:
                text = "The arithmetic holds, but " + text
        if f.note:
            text += f"; {f.note.rstrip('.')}"
        if f.kind == "model" and f.other_convention_si is not None \
                and not within(f.other_convention_si, f.value_si, self.tolerance):
            other = "folded" if self.s.strategy.convention == "product" else "product"
            text += (f"; read in the {other} convention it would be "
                     f"{fmt(from_si(f.other_convention_si, unit, claim.id))} {unit}".rstrip())
        if f.kind == "model":
            stack = load_stack(self.s.stack)
            if unit_factor(unit, claim.id)[0] in ("seconds", "rate"):
                text += f"; times assume the {stack.name} stack ({stack.engine})"
            elif used := [n for n in sorted(stack.efficiency) if re.search(rf"\b{n}\b", f.text)]:
                text += ("; " + ", ".join(f"{n} {stack.efficiency[n]:.3g}" for n in used)
                         + f" is the {stack.name} stack's ({stack.engine})")
        return text + "."


def config_findings(scenario: Scenario, evaluation: Evaluation | None) -> tuple:
    """What the stated config itself says: divisibility, memory fit, GPU budget."""
    out = []
    s = scenario.strategy
    if s is None:
        return ("no strategy stated",)
    try:
        s.check_fits(scenario.model, scenario.workload)
        out.append(f"divisibility: {s.notation or s.label} divides heads, experts, layers and batch")
    except SpecError as exc:
        out.append(f"divisibility: {exc}")
    if evaluation is not None:
        used, capacity = evaluation["memory_bytes_per_gpu"], scenario.hardware.memory_bytes
        fits = "fits" if used <= capacity else "does NOT fit"
        out.append(f"memory: {used / 1e9:.3g} GB per GPU {fits} in {capacity / 1e9:.3g} GB")
        if scenario.targets.gpus and scenario.targets.gpus != s.gpus:
            out.append(f"GPU budget: the strategy uses {s.gpus} GPUs, the document has "
                       f"{scenario.targets.gpus}")
    return tuple(out)


def _convention_note(scenario: Scenario) -> str:
    s = scenario.strategy
    if s is None or not s.notation:
        return ""
    other = scenario.other_convention()
    head = f"strategy {s.notation} read in the {s.convention} convention ({s.gpus} GPUs)"
    if isinstance(other, SpecError):
        return f"{head}; the other reading is invalid: {other}"
    return f"{head}; the {other.convention} reading gives {other.label} ({other.gpus} GPUs)"


def audit(scenario: Scenario, tolerance: float = DEFAULT_TOLERANCE) -> DocumentAudit:
    """Every claim of `scenario` with its verdict."""
    auditor = _Auditor(scenario, tolerance)
    verdicts = tuple(auditor.verdict(c) for c in scenario.claims)
    return DocumentAudit(scenario, verdicts, config_findings(scenario, auditor.evaluation),
                         _convention_note(scenario))
