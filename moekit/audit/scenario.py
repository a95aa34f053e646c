"""Scenarios: a deployment-plan document as data (its model, GPU, workload, targets, strategy,
and every numeric claim it makes), loaded from YAML and validated at construction.

A claim keeps its value and unit as printed. Its checks are formulas (claim_formula) over
named values: `formula` is the document's own arithmetic over its stated inputs, `model`
moekit's value for the same quantity, `consistency` what other claims or the stated config
imply, `bound` a physical limit, `mistakes` known mistakes the document may have made.
Name spaces: `formula` sees the scenario's `stated` values, the other claims (by id) and the claim's own
`inputs`; `model` and `bound` see the evaluation (every moekit formula and input, e.g.
`weight_bytes_per_gpu`, `ttft_lower_bound_s`) and `stated`; `consistency` sees the
evaluation, `stated` and the claims; `mistakes` see all of these, the claim's inputs last.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from moekit.audit.claim_formula import names_in, parse_formula
from moekit.audit.claim_units import to_si, unit_factor
from moekit.audit.forensics import MISTAKES
from moekit.errors import SpecError
from moekit.formulas import PHASES, REGISTRY, SYMBOLS
from moekit.resources import DATA_DIR
from moekit.spec.inputs import Hardware, Model, Strategy, Targets, Workload
from moekit.spec.presets import (
    hardware_from_mapping,
    load_hardware,
    load_model,
    model_from_mapping,
    read_yaml,
)
from moekit.spec.stack import ENGINE_DEFAULT

SCENARIO_DIR = DATA_DIR / "scenarios"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_NUMBER_UNIT = re.compile(r"^\s*([-+]?[0-9][0-9,]*\.?[0-9]*(?:[eE][-+]?[0-9]+)?)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Named:
    """A named assumption or a missing input, with one line saying why."""

    name: str
    text: str
    model: bool = False  # an assumption every model-based check relies on

    def __str__(self) -> str:
        return f"{self.name}: {self.text}"


@dataclass(frozen=True)
class Check:
    """One formula of a claim: what it computes, from which text, and a note for the reader."""

    expr: sp.Expr
    text: str
    note: str = ""
    name: object = ""  # known mistakes' names (a tuple, for mistakes) or 'lower'/'upper' (bounds)


@dataclass(frozen=True)
class Claim:
    """A number the document states, as printed, with what it rests on and how to check it."""

    id: str
    quantity: str
    value: float
    unit: str
    section: str
    text: str = ""
    inputs: dict = field(default_factory=dict)  # stated inputs, SI
    formula: Check | None = None
    formula_written: bool = False  # the document writes this formula itself
    model: Check | None = None
    consistency: tuple = ()
    bound: Check | None = None
    mistakes: tuple = ()
    depends_on: tuple = ()
    assumptions: tuple = ()
    missing: tuple = ()
    tolerance: float | None = None
    note: str = ""
    decimals: int = 0  # digits after the point as printed: "0.000" is good to 0.0005
    line: int = 0  # where the document prints it (0: not recorded)

    @property
    def kind(self) -> str:
        return unit_factor(self.unit, f"claim {self.id}.unit")[0]

    @property
    def si_value(self) -> float:
        return to_si(self.value, self.unit, f"claim {self.id}")


@dataclass(frozen=True)
class Scenario:
    """A document: what it deploys, what it claims, what it assumes and what it leaves out."""

    name: str
    source: str
    model: Model
    hardware: Hardware
    workload: Workload
    targets: Targets
    strategy: Strategy | None
    claims: tuple
    assumptions: tuple = ()
    missing: tuple = ()
    stated: dict = field(default_factory=dict)  # the document's stated inputs, SI
    title: str = ""
    notes: str = ""
    path: str = ""
    unresolved: tuple = ()  # what a drafted scenario could not map (moekit draft), kept for the reader
    stack: str = ENGINE_DEFAULT  # the serving stack its times are checked on (data/stacks/ or 'none')

    def claim(self, claim_id: str) -> Claim:
        for c in self.claims:
            if c.id == claim_id:
                return c
        raise KeyError(claim_id)

    def assumption(self, name: str) -> Named:
        for a in self.assumptions:
            if a.name == name:
                return a
        raise KeyError(name)

    def other_convention(self) -> Strategy | SpecError | None:
        """The strategy read in the other convention, or the SpecError saying why it cannot be."""
        if self.strategy is None or not self.strategy.notation:
            return None
        other = "folded" if self.strategy.convention == "product" else "product"
        try:
            return Strategy.parse(self.strategy.notation, other)
        except SpecError as exc:
            return exc


# --- reading ---------------------------------------------------------------------------

TOP_KEYS = {"name", "source", "title", "notes", "model", "model_overrides", "hardware",
            "hardware_overrides", "workload", "targets", "strategy", "stated", "assumptions",
            "missing", "claims", "stack", "unresolved"}
REQUIRED_KEYS = ("name", "source", "model", "hardware", "workload", "claims")
CLAIM_KEYS = {"id", "quantity", "value", "unit", "section", "text", "inputs", "formula",
              "formula_written", "model", "consistency", "bound", "mistakes", "depends_on",
              "assumptions", "missing", "tolerance", "note", "line"}
CLAIM_REQUIRED = ("id", "quantity", "value", "unit", "section")


def _keys(data: object, where: str, allowed: set, required: tuple = ()) -> dict:
    if not isinstance(data, dict):
        raise SpecError(where, f"expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise SpecError(where, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    missing = [k for k in required if k not in data]
    if missing:
        raise SpecError(where, f"missing key(s) {', '.join(missing)}")
    return data


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(where, f"expected a non-empty string, got {value!r}")
    return value


def _list(value: object, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(where, f"expected a list, got {type(value).__name__}")
    return value


def stated_value(value: object, where: str) -> float:
    """A number, or '<number> <unit>' as printed ('60 GB', '400 TFLOPS', '30 B params'), in SI."""
    if isinstance(value, bool):
        raise SpecError(where, f"expected a number or a quantity, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        match = _NUMBER_UNIT.match(value)
        if match:
            number = float(match.group(1).replace(",", ""))
            return to_si(number, match.group(2), where)
    raise SpecError(where, f"expected a number or a quantity such as '60 GB', got {value!r}")


def _printed_number(value: object, where: str) -> tuple[float, int]:
    """(value, digits after the point) of a number as printed: 29.3, "0.000" or "38,000"."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SpecError(where, f"expected a number as printed, got {value!r}")
    text = value.replace(",", "") if isinstance(value, str) else repr(value)
    try:
        number = float(text)
    except ValueError:
        raise SpecError(where, f"expected a number as printed (e.g. 29.3 or '0.000'), "
                        f"got {value!r}") from None
    if "e" in text.lower() or "." not in text or (not isinstance(value, str) and text.endswith(".0")):
        return number, 0
    return number, len(text.split(".")[1])


def _named(items: object, where: str, with_model: bool) -> tuple:
    out = []
    for i, item in enumerate(_list(items, where)):
        w = f"{where}[{i}]"
        allowed = {"name", "text", "model"} if with_model else {"name", "text"}
        _keys(item, w, allowed, ("name", "text"))
        name = _string(item["name"], f"{w}.name")
        model = item.get("model", False)
        if not isinstance(model, bool):
            raise SpecError(f"{w}.model", f"expected true or false, got {model!r}")
        out.append(Named(name, _string(item["text"], f"{w}.text"), model))
    names = [n.name for n in out]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(where, f"duplicate name(s) {', '.join(duplicates)}")
    return tuple(out)


def _check(value: object, where: str, name_key: str = "") -> Check:
    """A check given as a formula string or as {formula, note[, name_key]}."""
    if isinstance(value, str):
        return Check(parse_formula(value, where), value)
    allowed = {"formula", "note"} | ({name_key} if name_key else set())
    _keys(value, where, allowed, ("formula", name_key) if name_key else ("formula",))
    text = value["formula"]
    return Check(parse_formula(text, f"{where}.formula"), text, value.get("note", ""),
                 value.get(name_key, "") if name_key else "")


def _bound(value: object, where: str) -> Check:
    check = _check(value, where, "kind") if isinstance(value, dict) else _check(value, where)
    kind = check.name or ("lower" if "lower_bound" in check.text else
                          "upper" if "upper_bound" in check.text else "")
    if kind not in ("lower", "upper"):
        raise SpecError(where, "say whether the bound is a lower or an upper one: "
                        "{formula: ..., kind: lower|upper}")
    return dataclasses.replace(check, name=kind)


def _claim(data: object, where: str) -> Claim:
    _keys(data, where, CLAIM_KEYS, CLAIM_REQUIRED)
    cid = _string(data["id"], f"{where}.id")
    if not _ID.match(cid):
        raise SpecError(f"{where}.id", f"{cid!r} must be lower_snake_case (it is a formula name)")
    where = f"claim {cid}"
    unit = data["unit"]
    unit_factor(unit, f"{where}.unit")
    inputs = data.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise SpecError(f"{where}.inputs", f"expected a mapping name -> value, got {inputs!r}")
    mistakes = []
    for i, m in enumerate(_list(data.get("mistakes"), f"{where}.mistakes")):
        check = _check(m, f"{where}.mistakes[{i}]", "mistake")
        names = check.name if isinstance(check.name, list) else [check.name]
        for name in names:
            if name not in MISTAKES:
                raise SpecError(f"{where}.mistakes[{i}].mistake", f"unknown mistake {name!r}; "
                                f"known: {', '.join(MISTAKES)}")
        mistakes.append(dataclasses.replace(check, name=tuple(names)))
    tolerance = data.get("tolerance")
    if tolerance is not None and (isinstance(tolerance, bool) or not isinstance(tolerance, (int, float))
                                  or not 0 < tolerance < 1):
        raise SpecError(f"{where}.tolerance", f"expected a relative tolerance in (0, 1), got {tolerance!r}")
    value, decimals = _printed_number(data["value"], f"{where}.value")
    written = data.get("formula_written", False)
    if not isinstance(written, bool):
        raise SpecError(f"{where}.formula_written", f"expected true or false, got {written!r}")
    line = data.get("line", 0)
    if isinstance(line, bool) or not isinstance(line, int) or line < 0:
        raise SpecError(f"{where}.line", f"expected the document's line number (>= 1), got {line!r}")
    return Claim(
        id=cid, quantity=_string(data["quantity"], f"{where}.quantity"),
        value=value, decimals=decimals, unit=unit,
        section=_string(data["section"], f"{where}.section"), text=data.get("text", ""),
        inputs={k: stated_value(v, f"{where}.inputs.{k}") for k, v in inputs.items()},
        formula=_check(data["formula"], f"{where}.formula") if "formula" in data else None,
        formula_written=written,
        model=_check(data["model"], f"{where}.model") if "model" in data else None,
        consistency=tuple(_check(c, f"{where}.consistency[{i}]")
                          for i, c in enumerate(_list(data.get("consistency"), f"{where}.consistency"))),
        bound=_bound(data["bound"], f"{where}.bound") if "bound" in data else None,
        mistakes=tuple(mistakes),
        depends_on=tuple(str(d) for d in _list(data.get("depends_on"), f"{where}.depends_on")),
        assumptions=tuple(str(a) for a in _list(data.get("assumptions"), f"{where}.assumptions")),
        missing=tuple(str(m) for m in _list(data.get("missing"), f"{where}.missing")),
        tolerance=tolerance, note=data.get("note", ""), line=line,
    )


def _spec(kind: str, data: dict, where: str):
    """A Model or Hardware from a preset name or an inline mapping, with optional overrides."""
    value, overrides = data.get(kind), data.get(f"{kind}_overrides") or {}
    loader, from_mapping, cls = ((load_model, model_from_mapping, Model) if kind == "model"
                                 else (load_hardware, hardware_from_mapping, Hardware))
    if isinstance(value, str):
        spec = loader(value)
    elif isinstance(value, dict):
        spec = from_mapping(value, f"{where}.{kind}").spec
    else:
        raise SpecError(f"{where}.{kind}", f"expected a preset name or a mapping, got {value!r}")
    if not isinstance(overrides, dict):
        raise SpecError(f"{where}.{kind}_overrides", f"expected a mapping, got {overrides!r}")
    if overrides:
        spec = cls.from_dict({**dataclasses.asdict(spec), **overrides}, f"{where}.{kind}_overrides")
    return spec


def _strategy(data: object, where: str) -> Strategy | None:
    if data is None:
        return None
    _keys(data, where, {"notation", "convention", "microbatches"}, ("notation", "convention"))
    text = _string(data["notation"], f"{where}.notation")
    microbatches = data.get("microbatches", 1)
    notation = text if microbatches == 1 else f"{text}-M{microbatches}"
    strategy = Strategy.parse(notation, data["convention"])
    return dataclasses.replace(strategy, notation=text)


def scenario_from_mapping(data: object, where: str) -> Scenario:
    """A Scenario from a parsed YAML mapping; every error names the field."""
    _keys(data, where, TOP_KEYS, REQUIRED_KEYS)
    stated = data.get("stated") or {}
    if not isinstance(stated, dict):
        raise SpecError(f"{where}.stated", f"expected a mapping name -> value, got {stated!r}")
    claims = tuple(_claim(c, f"{where}.claims[{i}]")
                   for i, c in enumerate(_list(data["claims"], f"{where}.claims")))
    if not claims:
        raise SpecError(f"{where}.claims", "a scenario needs at least one claim")
    source = _string(data["source"], f"{where}.source")
    if source.startswith(("/", "../", "..\\")) or "/../" in source:
        raise SpecError(f"{where}.source", f"{source!r} is a path outside the repository; name the "
                        "document by file name (e.g. 'seed document 002_14546a35c26e775b.txt')")
    scenario = Scenario(
        name=_string(data["name"], f"{where}.name"), source=source,
        stack=_string(data.get("stack", ENGINE_DEFAULT), f"{where}.stack"),
        model=_spec("model", data, where), hardware=_spec("hardware", data, where),
        workload=Workload.from_dict(data["workload"], f"{where}.workload"),
        targets=Targets.from_dict(data.get("targets") or {}, f"{where}.targets"),
        strategy=_strategy(data.get("strategy"), f"{where}.strategy"), claims=claims,
        assumptions=_named(data.get("assumptions"), f"{where}.assumptions", with_model=True),
        missing=_named(data.get("missing"), f"{where}.missing", with_model=False),
        stated={k: stated_value(v, f"{where}.stated.{k}") for k, v in stated.items()},
        title=data.get("title", ""), notes=data.get("notes", ""), path=where,
        unresolved=tuple(_list(data.get("unresolved"), f"{where}.unresolved")),
    )
    _check_references(scenario, where)
    return scenario


def _check_references(s: Scenario, where: str) -> None:
    """Ids unique; every assumption, missing input, dependency and formula name known."""
    ids = [c.id for c in s.claims]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SpecError(f"{where}.claims", f"duplicate claim id(s) {', '.join(duplicates)}")
    moekit_names = set(REGISTRY) | set(SYMBOLS)
    clash = sorted((set(s.stated) | set(ids)) & moekit_names)
    if clash:
        raise SpecError(where, f"name(s) {', '.join(clash)} are moekit formula names; rename them "
                        "(e.g. doc_tp) so a formula cannot mean either")
    clash = sorted(set(s.stated) & set(ids))
    if clash:
        raise SpecError(where, f"name(s) {', '.join(clash)} are both a stated value and a claim id")
    assumptions = {a.name for a in s.assumptions}
    missing = {m.name for m in s.missing}
    for c in s.claims:
        w = f"claim {c.id}"
        for name in c.assumptions:
            if name not in assumptions:
                raise SpecError(f"{w}.assumptions", f"{name!r} is not among the scenario's assumptions")
        for name in c.missing:
            if name not in missing:
                raise SpecError(f"{w}.missing", f"{name!r} is not among the scenario's missing inputs")
        for name in c.depends_on:
            if name not in ids and name not in s.stated and name not in c.inputs:
                raise SpecError(f"{w}.depends_on", f"{name!r} is neither a claim id nor a stated value")
        local = set(s.stated) | set(ids) | set(c.inputs)
        if c.formula is not None and (unknown := names_in(c.formula.expr) - local):
            raise SpecError(f"{w}.formula", f"unknown name(s) {', '.join(sorted(unknown))} "
                            f"in {c.formula.text!r}")
        for check in c.consistency:
            if unknown := names_in(check.expr) - set(s.stated) - set(ids) - _evaluation_names():
                raise SpecError(f"{w}.consistency", f"unknown name(s) {', '.join(sorted(unknown))} "
                                f"in {check.text!r}")
        for label, check in (("model", c.model), ("bound", c.bound)):
            if check is not None and (unknown := names_in(check.expr) - _evaluation_names() - set(s.stated)):
                raise SpecError(f"{w}.{label}", f"unknown name(s) {', '.join(sorted(unknown))} in "
                                f"{check.text!r}; use moekit formula names or stated values")
        for check in c.mistakes:
            everything = local | _evaluation_names()
            if unknown := names_in(check.expr) - everything:
                raise SpecError(f"{w}.mistakes", f"unknown name(s) {', '.join(sorted(unknown))} "
                                f"in {check.text!r}")


def _evaluation_names() -> set:
    names = set(REGISTRY) | set(SYMBOLS)
    return names | {f"{p}_{n}" for p in PHASES for n in names}


def load_scenario(path: str | Path) -> Scenario:
    """A Scenario from a YAML file path or the name of a bundled scenario."""
    p = Path(path)
    if not p.exists() and (SCENARIO_DIR / f"{path}.yaml").exists():
        p = SCENARIO_DIR / f"{path}.yaml"
    if not p.exists():
        raise SpecError(str(path), "no such scenario file or bundled scenario; bundled: "
                        + ", ".join(bundled_names()))
    return scenario_from_mapping(read_yaml(p), str(p))


def bundled_names() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def bundled_paths() -> list[Path]:
    return sorted(SCENARIO_DIR.glob("*.yaml"))
