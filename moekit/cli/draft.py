"""`moekit draft PLAN.md [--model M] [--hardware H] [--strategy S] [--batch B] [--prompt S]
[--output O] [-o scenario.yaml] [--format yaml|json]`: a scenario draft from a plan's text.

The draft goes to `-o` (or standard output); a summary of what was read and what is left to do goes
to standard error, so `moekit draft plan.md > plan.yaml` keeps the file clean.
"""

from __future__ import annotations

import sys
from pathlib import Path

from moekit.draft import Options, draft
from moekit.errors import SpecError


def _name(path: Path) -> str:
    stem = "".join(c if c.isalnum() else "_" for c in path.stem.lower()).strip("_")
    return stem if stem[:1].isalpha() else f"plan_{stem}"


def _summary(result, out: str) -> str:
    s = result.scenario
    known = [
        f"model {s['model']!r}"
        if isinstance(s["model"], str)
        else "model from the plan's architecture"
        if s["model"]
        else "no model (pass --model)",
        f"hardware {s['hardware']!r}"
        if isinstance(s["hardware"], str)
        else "hardware from the plan's figures"
        if s["hardware"]
        else "no hardware (pass --hardware)",
    ]
    strategy = s.get("strategy", {}).get("notation", "no strategy (pass --strategy)")
    lines = [
        f"moekit draft: {len(s['claims'])} claims, {len(s.get('stated', {}))} stated values, "
        f"{len(s['unresolved'])} unresolved; {', '.join(known)}; strategy {strategy}"
    ]
    if s["model"] and s["hardware"]:
        lines.append(f"next: review the guesses under assumptions:, then `moekit audit {out}`")
    return "\n".join(lines)


def _run(args) -> None:
    path = Path(args.plan)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SpecError(str(path), f"cannot read the plan ({exc.strerror})") from None
    if args.batch is not None and args.batch < 1:
        raise SpecError("--batch", f"{args.batch} must be >= 1")
    for flag, value in (("--prompt", args.prompt), ("--output", args.output)):
        if value is not None and value < 1:
            raise SpecError(flag, f"{value} must be >= 1")
    options = Options(
        model=args.model,
        hardware=args.hardware,
        strategy=args.strategy,
        batch=args.batch,
        prompt=args.prompt,
        output=args.output,
        name=_name(path),
        source=f"plan document {path.name}",
    )
    result = draft(text, options)
    body = result.to_json() + "\n" if args.format == "json" else result.to_yaml()
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(body, encoding="utf-8")
    else:
        sys.stdout.write(body)
    print(_summary(result, args.out or "scenario.yaml"), file=sys.stderr)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "draft",
        help="draft a scenario (claims to audit) from a plan in Markdown or text",
        description="Reads a deployment plan and writes a scenario draft: model, GPU, "
        "strategy and workload it recognises, every numeric claim with a suggested "
        "check, and what it could not map (unresolved:). Rule-based; guesses are "
        "listed under assumptions:.",
    )
    p.add_argument("plan", metavar="PLAN", help="the plan: a .md or .txt file")
    p.add_argument(
        "--model",
        help="preset name, YAML preset, config.json or snapshot folder (default: recognised from the text)",
    )
    p.add_argument("--hardware", help="GPU preset or YAML file (default: recognised from the text)")
    p.add_argument("--strategy", help="degrees such as 'DP8-EP8' (default: read from the text)")
    p.add_argument("--batch", type=int, help="sequences in flight (default: from the text)")
    p.add_argument("--prompt", type=int, help="prompt tokens per sequence (default: from the text)")
    p.add_argument("--output", type=int, help="generated tokens per sequence (default: from the text)")
    p.add_argument(
        "-o", dest="out", metavar="SCENARIO", help="write the draft here (default: standard output)"
    )
    p.add_argument("--format", default="yaml", choices=["yaml", "json"])
    p.set_defaults(func=_run)
