"""The `moekit` command: one entry point; each command module adds its own subcommands.

Each module in COMMAND_MODULES exposes `add_parser(subparsers)`; the parser it adds sets `func`.
Bad input ends with one line naming the field and what is allowed, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from moekit.errors import MoekitError

#: modules that add their own subcommands
COMMAND_MODULES = ["moekit.cli.evaluate", "moekit.cli.plan", "moekit.cli.audit", "moekit.cli.validate",
                   "moekit.cli.serve", "moekit.cli.reproduce", "moekit.cli.draft"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moekit", description="Cost model, audit and planner for MoE inference deployments.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    if hasattr(signal, "SIGPIPE"):  # `moekit ... | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except MoekitError as exc:
        print(f"moekit: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
