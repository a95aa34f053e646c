"""`moekit validate [--stack S ...] [--format table|json]`: predicted against measured, per stack.

Every whole-model row (our GPU runs in data/measurements/e2e.csv, the peer's estimates in
data/peers/) is predicted on its stack; the summary gives the median |error| on fitted and held-out
rows per stack and phase, and the target each stack must reach on held-out rows.
"""

from __future__ import annotations

from moekit.calibration import validate
from moekit.cli.common import print_json
from moekit.spec.stack import refit_stacks


def _run(args) -> None:
    if args.refit:
        print("refitted and stored in data/stacks/fitted/: " + ", ".join(refit_stacks()))
    rows = validate.validation_rows(args.stack or None)
    set_aside = validate.not_scored(args.stack or None)
    if args.format == "json":
        print_json(validate.to_dict(rows, set_aside))
        return
    summary = validate.summary(rows)
    print("median |predicted / measured - 1| per stack and phase (held_out: rows the stack was never "
          "fitted to: other models, and a fit model's expert-parallel rows; targets apply to them)")
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    for r in set_aside.itertuples():
        print(f"not scored: {r.stack} {r.model} {r.phase}, {r.n} rows: {r.why}")
    if args.rows and not rows.empty:
        cols = ["stack", "model", "phase", "strategy", "batch", "prompt_len", "context", "measured_s",
                "predicted_s", "split"]
        print("\n" + rows[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("validate", help="predicted against measured whole-model times, per stack")
    p.add_argument("--stack", action="append", help="only this stack (repeatable; default: all)")
    p.add_argument("--rows", action="store_true", help="also print every row")
    p.add_argument("--format", default="table", choices=["table", "json"])
    p.add_argument("--refit", action="store_true",
                   help="fit every calibrated stack afresh and store the fits (data/stacks/fitted/), which "
                        "moekit uses while the files they were fitted from are unchanged")
    p.set_defaults(func=_run)
