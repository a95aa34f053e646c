"""`moekit audit [SCENARIO ...] [--format table|json|markdown]`: claim-by-claim verdicts.

With no scenario, every bundled scenario is audited. The table groups claims by document
with verdict counts; JSON is {"documents": [{"scenario", "source", "claims": [...]}]};
Markdown is a review report to paste.
"""

from __future__ import annotations

from moekit.audit import VERDICTS, DocumentAudit, audit, fmt
from moekit.scenario import bundled_paths, load_scenario


def render_table(audits: list[DocumentAudit]) -> str:
    lines = []
    for a in audits:
        counts = ", ".join(f"{v} {n}" for v, n in a.counts().items() if n)
        lines += [f"== {a.scenario.name}  ({a.scenario.source})", f"   {counts}"]
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
        out += [f"## {s.title or s.name}", "", f"Source: `{s.source}` (scenario `{s.name}`)", ""]
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


def audit_documents(paths: list[str]) -> list[DocumentAudit]:
    return [audit(load_scenario(p)) for p in (paths or [str(p) for p in bundled_paths()])]


def _run(args) -> None:
    from moekit.cli import print_json

    audits = audit_documents(args.scenarios)
    if args.format == "json":
        print_json({"documents": [a.to_dict() for a in audits]})
    elif args.format == "markdown":
        print(render_markdown(audits))
    else:
        print(render_table(audits))


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("audit", help="check every numeric claim of deployment-plan scenarios",
                              description=f"Verdicts: {', '.join(VERDICTS)}.")
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                   help="scenario YAML file or bundled scenario name (default: all bundled)")
    p.add_argument("--format", default="table", choices=["table", "json", "markdown"])
    p.set_defaults(func=_run)
