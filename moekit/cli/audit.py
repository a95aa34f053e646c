"""`moekit audit [SCENARIO ...] [--format table|json|markdown]`: claim-by-claim verdicts.

With no scenario, every bundled scenario is audited. The table groups claims by document
with verdict counts; JSON is {"documents": [{"scenario", "source", "claims": [...]}]};
Markdown is a review report to paste.
"""

from __future__ import annotations

from moekit.audit.report import render_markdown, render_table
from moekit.audit.scenario import bundled_paths, load_scenario
from moekit.audit.verdicts import VERDICTS, DocumentAudit, audit
from moekit.cli.common import print_json
from moekit.errors import SpecError


def audit_documents(paths: list[str]) -> list[DocumentAudit]:
    """Audit the given scenario files or names; with none, every bundled scenario."""
    paths = paths or [str(p) for p in bundled_paths()]
    if not paths:
        raise SpecError("audit", "nothing to audit: no scenario given and none bundled "
                        "(the package's data/scenarios/ is empty); pass a scenario YAML file")
    return [audit(load_scenario(p)) for p in paths]


def _run(args) -> None:
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
