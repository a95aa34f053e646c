"""`moekit audit [SCENARIO ...] [--format table|json|markdown]`: claim-by-claim verdicts.

With no scenario, every bundled scenario is audited, each on its own stack (`--stack` sets one for
all). The table groups claims by document
with verdict counts; JSON is {"documents": [{"scenario", "source", "stack", "claims": [...]}]};
Markdown is a review report to paste.
"""

from __future__ import annotations

import dataclasses

from moekit.audit.report import render_markdown, render_table
from moekit.audit.scenario import bundled_paths, load_scenario
from moekit.audit.verdicts import VERDICTS, DocumentAudit, audit
from moekit.cli.common import print_json
from moekit.errors import SpecError
from moekit.spec.stack import load_stack


def audit_documents(paths: list[str], stack: str | None = None) -> list[DocumentAudit]:
    """Audit the given scenario files or names (every bundled one when none) on each scenario's own
    stack, or on `stack` for all."""
    paths = paths or [str(p) for p in bundled_paths()]
    if not paths:
        raise SpecError("audit", "nothing to audit: no scenario given and none bundled "
                        "(the package's data/scenarios/ is empty); pass a scenario YAML file")
    scenarios = [load_scenario(p) for p in paths]
    if stack is not None:
        load_stack(stack)  # an unknown name fails here, naming the stacks there are
        scenarios = [dataclasses.replace(s, stack=stack) for s in scenarios]
    return [audit(s) for s in scenarios]


def _run(args) -> None:
    audits = audit_documents(args.scenarios, args.stack)
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
    p.add_argument("--stack", help="check every time on this serving stack (default: each scenario's "
                                   "own `stack:`, else sglang)")
    p.add_argument("--format", default="table", choices=["table", "json", "markdown"])
    p.set_defaults(func=_run)
