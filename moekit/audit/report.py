"""Audit reports: the verdicts of one or more documents as a text table or Markdown."""

from __future__ import annotations

from moekit.audit.verdicts import DocumentAudit, fmt
from moekit.spec.stack import load_stack


def render_table(audits: list[DocumentAudit]) -> str:
    lines = []
    for a in audits:
        counts = ", ".join(f"{v} {n}" for v, n in a.counts().items() if n)
        lines += [f"== {a.scenario.name}  ({a.scenario.source})", f"   {counts}",
                  f"   times checked on stack {a.scenario.stack} ({load_stack(a.scenario.stack).engine})"]
        if a.convention_note:
            lines.append(f"   {a.convention_note}")
        lines += [f"   config: {finding}" for finding in a.config_findings]
        width = max(len(v.claim.id) for v in a.verdicts)
        for v in a.verdicts:
            c = v.claim
            claimed = f"{fmt(c.value)} {c.unit}".strip()
            recomputed = f"{fmt(v.recomputed_value)} {c.unit}".strip() if v.recomputed_si is not None else "-"
            ratio = f"x{v.ratio:.3g}" if v.ratio is not None else ""
            lines.append(f"   {c.id:<{width}}  {v.verdict:<16} {claimed:>18} -> {recomputed:<18} {ratio}")
        lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(audits: list[DocumentAudit]) -> str:
    out = ["# moekit audit", ""]
    for a in audits:
        s = a.scenario
        out += [f"## {s.title or s.name}", "", f"Source: `{s.source}` (scenario `{s.name}`); times "
                f"checked on stack `{s.stack}` ({load_stack(s.stack).engine})", ""]
        out.append("Verdicts: " + ", ".join(f"**{n}** {v}" for v, n in a.counts().items() if n) + ".")
        out.append("")
        if a.convention_note:
            out += [f"- {a.convention_note}"]
        out += [f"- config: {f}" for f in a.config_findings]
        if s.missing:
            out.append("- not stated by the document: " + "; ".join(m.name for m in s.missing))
        out += ["", "| claim | printed | recomputed | ratio | verdict | why |",
                "|---|---|---|---|---|---|"]
        for v in a.verdicts:
            c = v.claim
            recomputed = f"{fmt(v.recomputed_value)} {c.unit}" if v.recomputed_si is not None else "—"
            ratio = f"{v.ratio:.3g}" if v.ratio is not None else "—"
            why = v.explanation
            if v.reproduced_by:
                why += " **Reproduced by** " + "; ".join(v.reproduced_by) + "."
            out.append(f"| {_md(c.quantity)} (`{c.id}`, {_md(c.section)}) | {fmt(c.value)} {_md(c.unit)} | "
                       f"{_md(recomputed)} | {ratio} | `{v.verdict}` | {_md(why)} |")
        assumptions = dict.fromkeys(a for v in a.verdicts for a in v.assumptions)
        if assumptions:
            out += ["", "Assumptions used:", ""] + [f"- {_md(x)}" for x in assumptions]
        out.append("")
    return "\n".join(out)
