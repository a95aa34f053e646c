"""`moekit reproduce [NAME|FILE ...] [--format table|json]`: published deployments against moekit.

JSON: {"deployments": [{"name", "source", "published": {metric: value}, "predicted": {metric: value},
"ratio": {metric: predicted / published}, "not_predicted": {metric: why}, "assumptions"}],
"summary": {"figures", "median_abs_err", "target", "meets_target", "within_band", "band"}}.
"""

from __future__ import annotations

from moekit.cli.common import print_json
from moekit.plan.reproduce import reproduce, summary


def _run(args) -> None:
    results = reproduce(args.deployments)
    s = summary(results)
    if args.format == "json":
        print_json({"deployments": [r.to_dict() for r in results], "summary": s})
        return
    for r in results:
        print(f"== {r.name}  ({r.source.get('publisher', '')}, {r.source.get('date') or 'undated'})")
        for metric, value in r.published.items():
            if metric in r.predicted:
                print(f"   {metric:<32} published {value:>12.4g}  moekit {r.predicted[metric]:>12.4g}  "
                      f"x{r.ratio[metric]:.2f}")
            else:
                print(f"   {metric:<32} published {value:>12.4g}  not predicted: {r.not_predicted[metric]}")
    if s["figures"]:
        print(f"\n{s['figures']} figures predicted; median |predicted/published - 1| = "
              f"{s['median_abs_err']:.1%} (target {s['target']:.0%}: "
              f"{'met' if s['meets_target'] else 'missed'}); all within {s['band'][0]}-{s['band'][1]}x: "
              f"{'yes' if s['within_band'] else 'no'}")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("reproduce", help="published deployments against moekit's prediction")
    p.add_argument("deployments", nargs="*", metavar="NAME|FILE",
                   help="bundled deployment name or YAML file (default: all in data/deployments/)")
    p.add_argument("--format", default="table", choices=["table", "json"])
    p.set_defaults(func=_run)
