"""Audit your own plan: paste or upload it, edit what the draft read, watch the verdicts, save the YAML.

`PlanAuditor` drafts a scenario from the text (moekit.draft), shows one row per claim (include it
or not, its quantity from the phrase table, its `model:` and `formula:` checks, all editable) and
audits the scenario again on every change (moekit.audit). Every verdict cell carries `data-name`,
the claim id, so tests and browsers read what a reader sees; `verdict(claim_id)` reads it back.
"""

from __future__ import annotations

import dataclasses
import html
import re

import ipywidgets as W
import pandas as pd
import yaml

from moekit.audit.scenario import scenario_from_mapping
from moekit.audit.verdicts import DocumentAudit, audit, fmt
from moekit.draft import Options, draft, phrases
from moekit.draft.readings import evaluation_names
from moekit.draft.writer import checks_for, phase_of
from moekit.errors import MoekitError
from moekit.spec.presets import available

FROM_TEXT = "(from the text)"
_CELL = re.compile(r'class="moekit-verdict" data-name="([^"]+)"[^>]*>([^<]*)</td>')


def _choices(kind: str) -> list[str]:
    return [FROM_TEXT, *available(kind)]


class ClaimRow:
    """The editable controls of one drafted claim."""

    def __init__(self, claim: dict, key: str, on_change):
        self.claim, self.key = claim, key
        cid = claim["id"]
        labels = [(q.label, q.key) for q in phrases.QUANTITIES if q.role == "claim"]
        if key not in [k for _, k in labels]:
            labels.append((phrases.BY_KEY[key].label, key))
        self.include = W.Checkbox(value=True, description=cid, indent=False, layout=W.Layout(width="15em"))
        self.printed = W.HTML(
            html.escape(f"{claim['value']} {claim['unit']}".strip() + f"  (line {claim.get('line', '?')})"),
            layout=W.Layout(width="11em"),
        )
        self.quantity = W.Dropdown(options=labels, value=key, layout=W.Layout(width="17em"))
        self.model = W.Text(
            value=claim.get("model", ""), placeholder="model: (moekit names)", layout=W.Layout(width="22em")
        )
        self.formula = W.Text(
            value=claim.get("formula", ""),
            placeholder="formula: (the plan's arithmetic)",
            layout=W.Layout(width="16em"),
        )
        for control, name in (
            (self.include, "include"),
            (self.quantity, "quantity"),
            (self.model, "model"),
            (self.formula, "formula"),
        ):
            control.add_class(f"moekit-{name}-{cid}")
            control.observe(on_change(self, name), names="value")
        self.widget = W.HBox([self.include, self.printed, self.quantity, self.model, self.formula])


class PlanAuditor:
    """A plan's text in, a drafted scenario and its live audit out, every claim editable."""

    title = "Audit your plan"

    def __init__(
        self,
        text: str = "",
        model: str = "",
        hardware: str = "",
        strategy: str = "",
        name: str = "my_plan",
        path: str = "my_plan.scenario.yaml",
    ):
        self.name = name
        self.plan = W.Textarea(
            value=text,
            placeholder="paste a plan (Markdown or plain text)",
            continuous_update=False,
            layout=W.Layout(width="100%", height="14em"),
        )
        self.upload = W.FileUpload(accept=".md,.txt,.markdown", multiple=False, description="upload plan")
        self.model = W.Combobox(
            options=_choices("models"),
            value=model or FROM_TEXT,
            ensure_option=False,
            description="model",
            continuous_update=False,
        )
        self.hardware = W.Combobox(
            options=_choices("hardware"),
            value=hardware or FROM_TEXT,
            ensure_option=False,
            description="GPU",
            continuous_update=False,
        )
        self.strategy = W.Text(
            value=strategy, placeholder=FROM_TEXT, description="strategy", continuous_update=False
        )
        self.path = W.Text(value=path, description="save to", continuous_update=False)
        self.save_button = W.Button(description="save scenario YAML", icon="save")
        self.status = W.HTML()
        self.rows_box = W.VBox()
        self.verdicts_html = W.HTML()
        for control, name in (
            (self.plan, "plan"),
            (self.model, "model"),
            (self.hardware, "hardware"),
            (self.strategy, "strategy"),
            (self.upload, "upload"),
        ):
            control.add_class(f"moekit-{name}")
            control.observe(self._redraft_on_change, names="value")
        self.save_button.on_click(lambda _: self.save())
        self.verdicts_html.add_class("moekit-verdicts")
        self.widget = W.VBox(
            [
                W.HTML(f"<h3>{html.escape(self.title)}</h3>"),
                self.plan,
                W.HBox([self.upload, self.model, self.hardware, self.strategy]),
                W.HTML("<b>claims</b>: include, quantity, model: check, the plan's own formula:"),
                self.rows_box,
                W.HTML("<b>verdicts</b>"),
                self.verdicts_html,
                W.HBox([self.path, self.save_button]),
                self.status,
            ]
        )
        self.widget.add_class("moekit-panel")
        self.error = ""
        self.result = None
        self.rows: list[ClaimRow] = []
        self.audit: DocumentAudit | None = None
        self.redraft()

    # --- drafting and auditing ----------------------------------------------------------------

    def _choice(self, control) -> str | None:
        value = (control.value or "").strip()
        return None if value in ("", FROM_TEXT) else value

    def _redraft_on_change(self, change) -> None:
        if change["owner"] is self.upload:
            files = change["new"]
            if not files:
                return
            content = files[0]["content"]
            self.plan.value = bytes(content).decode("utf-8", errors="replace")  # redrafts through `plan`
            return
        self.redraft()

    def redraft(self) -> None:
        """Draft the text again (a new plan, model, GPU or strategy) and audit the draft."""
        options = Options(
            model=self._choice(self.model),
            hardware=self._choice(self.hardware),
            strategy=self._choice(self.strategy),
            name=self.name,
            source=f"plan document {self.name}",
        )
        try:
            self.result = draft(self.plan.value, options)
        except MoekitError as exc:
            self.result, self.rows = None, []
            self._show_error(str(exc))
            return
        keys = {r.claim_id: r.quantity.key for r in self.result.claims()}
        self.readings = {r.claim_id: r for r in self.result.claims()}
        self.rows = [
            ClaimRow(c, keys.get(c["id"], "gpu_count"), self._row_changed)
            for c in self.result.scenario["claims"]
        ]
        self.rows_box.children = [row.widget for row in self.rows]
        self.reaudit()

    def _row_changed(self, row: ClaimRow, name: str):
        def changed(change) -> None:
            if name == "quantity":
                self._suggest(row, change["new"])
            self.reaudit()

        return changed

    def _suggest(self, row: ClaimRow, key: str) -> None:
        """A new quantity for a claim: its label and suggested checks from the phrase table."""
        scenario = self.result.scenario
        reading = dataclasses.replace(self.readings[row.claim["id"]], quantity=phrases.BY_KEY[key])
        convention = (scenario.get("strategy") or {}).get("convention", "folded")
        checks, _ = checks_for(
            reading,
            phase_of(reading, scenario["workload"]),
            convention,
            evaluation_names(),
            set(scenario.get("stated", {})),
            {},
        )
        row.key = key
        row.claim = {k: v for k, v in row.claim.items() if k not in ("model", "bound", "mistakes")}
        row.claim.update(quantity=phrases.BY_KEY[key].label, **checks)
        with self.rows_box.hold_trait_notifications():
            row.model.unobserve_all("value")
            row.model.value = checks.get("model", "")
            row.model.observe(self._row_changed(row, "model"), names="value")

    def scenario(self) -> dict:
        """The scenario mapping as edited: included claims with their current checks."""
        if self.result is None:
            raise MoekitError(self.error or "nothing drafted yet")
        claims = []
        for row in self.rows:
            if not row.include.value:
                continue
            claim = {k: v for k, v in row.claim.items() if k not in ("model", "formula", "formula_written")}
            if row.model.value.strip():
                claim["model"] = row.model.value.strip()
            if row.formula.value.strip():
                claim["formula"] = row.formula.value.strip()
            claims.append(claim)
        return {**self.result.scenario, "claims": claims}

    def reaudit(self) -> None:
        try:
            self.audit = audit(scenario_from_mapping(self.scenario(), self.name))
        except MoekitError as exc:
            self.audit = None
            self._show_error(str(exc))
            return
        self.error = ""
        self.verdicts_html.value = self._verdicts_html()
        counts = ", ".join(f"{n} {v}" for v, n in self.audit.counts().items() if n)
        self.status.value = (
            f"<p>{len(self.audit.verdicts)} claims audited: {html.escape(counts)}; "
            f"{len(self.result.scenario['unresolved'])} numbers unresolved</p>"
        )

    def _show_error(self, message: str) -> None:
        self.error = message
        self.verdicts_html.value = f'<p class="moekit-error" style="color:#b00">{html.escape(message)}</p>'
        self.status.value = ""

    def _verdicts_html(self) -> str:
        rows = []
        for v in self.audit.verdicts:
            c = v.claim
            recomputed = f"{fmt(v.recomputed_value)} {c.unit}".strip() if v.recomputed_si is not None else "-"
            why = v.explanation + (
                " Reproduced by " + "; ".join(v.reproduced_by) + "." if v.reproduced_by else ""
            )
            rows.append(
                f"<tr><td>{html.escape(c.id)}</td><td>{html.escape(f'{fmt(c.value)} {c.unit}'.strip())}"
                f"</td><td>{html.escape(recomputed)}</td>"
                f'<td class="moekit-verdict" data-name="{html.escape(c.id)}">{v.verdict}</td>'
                f"<td>{html.escape(why)}</td></tr>"
            )
        head = "<tr><th>claim</th><th>printed</th><th>recomputed</th><th>verdict</th><th>why</th></tr>"
        return f'<table class="moekit-readout">{head}{"".join(rows)}</table>'

    # --- reading back and saving --------------------------------------------------------------

    def verdict(self, claim_id: str) -> str:
        """The verdict the table shows for a claim (what a reader sees)."""
        cells = dict(_CELL.findall(self.verdicts_html.value))
        if claim_id not in cells:
            raise KeyError(f"{claim_id!r} is not shown; shown: {', '.join(cells) or self.error}")
        return html.unescape(cells[claim_id])

    def row(self, claim_id: str) -> ClaimRow:
        return next(r for r in self.rows if r.claim["id"] == claim_id)

    def claims_table(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "id": r.claim["id"],
                    "quantity": r.claim["quantity"],
                    "value": r.claim["value"],
                    "unit": r.claim["unit"],
                    "line": r.claim.get("line"),
                    "formula": r.formula.value,
                    "model": r.model.value,
                    "included": r.include.value,
                }
                for r in self.rows
            ]
        )

    def verdicts_table(self) -> pd.DataFrame:
        if self.audit is None:
            return pd.DataFrame({"error": [self.error]})
        return pd.DataFrame(
            [
                {
                    "id": v.claim.id,
                    "verdict": v.verdict,
                    "claimed": f"{fmt(v.claim.value)} {v.claim.unit}".strip(),
                    "recomputed": (
                        f"{fmt(v.recomputed_value)} {v.claim.unit}".strip()
                        if v.recomputed_si is not None
                        else ""
                    ),
                    "reproduced by": "; ".join(v.reproduced_by),
                }
                for v in self.audit.verdicts
            ]
        )

    def unresolved_table(self) -> pd.DataFrame:
        items = self.result.scenario["unresolved"] if self.result else []
        return pd.DataFrame(
            [
                {"line": u.get("line", ""), "value": u.get("value", u.get("what", "")), "reason": u["reason"]}
                for u in items
            ],
            columns=["line", "value", "reason"],
        )

    def scenario_yaml(self) -> str:
        return yaml.safe_dump(self.scenario(), sort_keys=False, allow_unicode=True, width=100)

    def save(self, path: str | None = None) -> str:
        """Write the edited scenario as YAML (to the 'save to' path); returns the path."""
        target = path or self.path.value
        try:
            text = self.scenario_yaml()
            with open(target, "w", encoding="utf-8") as fh:
                fh.write(text)
        except (OSError, MoekitError) as exc:
            self.status.value = f'<p class="moekit-error" style="color:#b00">{html.escape(str(exc))}</p>'
            raise
        self.status.value = f"<p>saved {len(self.scenario()['claims'])} claims to {html.escape(target)}</p>"
        return target

    def text(self) -> str:
        if self.audit is None:
            return f"{self.title}\n  error: {self.error}"
        counts = ", ".join(f"{n} {v}" for v, n in self.audit.counts().items() if n)
        lines = [
            f"{self.title}: {len(self.audit.verdicts)} claims ({counts}), "
            f"{len(self.result.scenario['unresolved'])} unresolved"
        ]
        lines += [f"  {v.claim.id:<26} {v.verdict}" for v in self.audit.verdicts]
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs):
        data = self.widget._repr_mimebundle_(**kwargs)
        data["text/plain"] = self.text()
        return data
