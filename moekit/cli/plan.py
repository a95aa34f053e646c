"""`moekit plan`: search the strategy space for a scenario or for flags, print table or JSON.

    moekit plan SCENARIO [--gpus N] [--objective ...] [--format table|json]
    moekit plan --model M --hardware H --batch B --prompt S [--tpot 50ms] [--gpus N] ...
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pandas as pd

from moekit.audit.scenario import load_scenario
from moekit.cli.common import add_deployment_arguments, deployment_from_args, print_json
from moekit.errors import SpecError
from moekit.evaluate import evaluate
from moekit.plan.placement import deployment_config, placement_figure
from moekit.plan.search import DEFAULT_OBJECTIVE, OBJECTIVES, comparison, plan_dict, search
from moekit.plan.space import SpaceLimits
from moekit.spec.inputs import Strategy, Targets
from moekit.spec.stack import load_stack

TARGET_FLAGS = {  # flag dest -> Targets field (values keep their units: '50 ms', '100 tokens/ms')
    "ttft": "ttft_s", "tpot": "tpot_s", "request_latency": "request_latency_s",
    "min_prefill_rate": "min_prefill_tokens_per_s_per_gpu",
    "min_decode_rate": "min_decode_tokens_per_s_per_gpu",
}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("plan", help="search the parallel strategies for the best one")
    p.add_argument("scenario", nargs="?", help="scenario YAML or bundled scenario name")
    add_deployment_arguments(p, strategy=False, required=False)
    p.add_argument("--gpus", type=int, help="exact GPU budget (0: ample, up to --max-gpus)")
    p.add_argument("--max-gpus", type=int, help="cap when GPUs are ample")
    p.add_argument("--objective", default=DEFAULT_OBJECTIVE, choices=list(OBJECTIVES))
    p.add_argument("--ttft", help="TTFT target, e.g. '10 s'")
    p.add_argument("--tpot", help="TPOT target, e.g. '50 ms'")
    p.add_argument("--request-latency", help="request latency target, e.g. '30 s'")
    p.add_argument("--min-prefill-rate", help="prefill tokens per GPU, e.g. '100 tokens/ms'")
    p.add_argument("--min-decode-rate", help="decode tokens per GPU, e.g. '20 tokens/ms'")
    p.add_argument("--headroom", type=float, help="share of GPU memory to keep free (0..1)")
    p.add_argument("--min-load-balance", type=float, help="mean/busiest expert load (0..1]")
    p.add_argument("--compare", help="a strategy to evaluate beside the plan (flags mode)")
    p.add_argument("--convention", default="auto", choices=["auto", "folded", "product"],
                   help="how to read --compare")
    p.add_argument("--tp-across-nodes", action="store_true", help="allow TP groups to leave a node")
    p.add_argument("--uneven-batch", action="store_true",
                   help="allow dp*microbatches that do not divide the batch (padding shown)")
    p.add_argument("--even-layers", action="store_true", help="only pp that divides the layers")
    p.add_argument("--max-pp", type=int, default=0)
    p.add_argument("--max-microbatches", type=int, default=0)
    p.add_argument("--top", type=int, default=10, help="rows of the ranked table")
    p.add_argument("--deployment", help="write the chosen deployment configuration JSON here")
    p.add_argument("--diagram", help="write the placement diagram (PNG/SVG/PDF) here")
    p.set_defaults(func=_run_plan)


def _inputs(args):
    """(name, model, hardware, workload, targets, document strategy) from a scenario or flags."""
    if args.scenario:
        sc = load_scenario(args.scenario)
        model, hardware, workload, targets, document = (sc.model, sc.hardware, sc.workload,
                                                        sc.targets, sc.strategy)
        overrides = {k: v for k, v in (("batch", args.batch), ("prompt_len", args.prompt))
                     if v is not None}
        if overrides:
            workload = dataclasses.replace(workload, **overrides)
        if args.mfu is not None:
            hardware = dataclasses.replace(hardware, mfu=args.mfu)
        name, stack = sc.name, load_stack(args.stack or sc.stack)
    else:
        missing = [f"--{n}" for n in ("model", "hardware", "batch", "prompt")
                   if getattr(args, n) is None]
        if missing:
            raise SpecError("moekit plan", f"give a scenario, or {', '.join(missing)}")
        model, hardware, workload, stack = deployment_from_args(args)
        targets, name = Targets(), "command line"
        document = Strategy.parse(args.compare, args.convention) if args.compare else None
    changes = {field: getattr(args, flag) for flag, field in TARGET_FLAGS.items()
               if getattr(args, flag) is not None}
    for flag, field in (("gpus", "gpus"), ("max_gpus", "max_gpus"), ("headroom", "memory_headroom"),
                        ("min_load_balance", "min_load_balance")):
        if getattr(args, flag) is not None:
            changes[field] = getattr(args, flag)
    if changes:
        current = {f.name: getattr(targets, f.name) for f in dataclasses.fields(Targets)}
        targets = Targets.from_dict({**current, **changes}, "targets (command line)")
    return name, model, hardware, workload, targets, document, stack


def _run_plan(args) -> None:
    name, model, hardware, workload, targets, document, stack = _inputs(args)
    limits = SpaceLimits(tp_within_node=not args.tp_across_nodes,
                         etp_within_node=not args.tp_across_nodes,
                         even_batch_split=not args.uneven_batch,
                         even_layer_split=args.even_layers, max_pp=args.max_pp,
                         max_microbatches=args.max_microbatches)
    plan = search(model, hardware, workload, targets, args.objective, limits, document, stack=stack)
    if plan.best is not None and (args.deployment or args.diagram):
        strategy = plan.best_strategy
        for path in (args.deployment, args.diagram):
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        if args.deployment:
            config = deployment_config(model, hardware, workload, strategy,
                                       evaluate(model, hardware, workload, strategy, stack=stack))
            with open(args.deployment, "w") as fh:
                json.dump(config, fh, indent=1)
        if args.diagram:
            placement_figure(strategy, model, hardware).savefig(args.diagram, dpi=120)
    if plan.best is None and (args.deployment or args.diagram):
        print("moekit: no strategy meets the targets, so no deployment or diagram is written",
              file=sys.stderr)
    if args.format == "json":
        print_json({"scenario": name, **plan_dict(plan)})
        return
    _print_table(name, plan, args.top)


def _print_table(name: str, plan, top: int) -> None:
    w, h, t = plan.workload, plan.hardware, plan.targets
    print(f"{name}: {plan.model.name} on {h.name}; "
          + (f"budget {t.gpus} GPUs" if t.gpus else f"ample GPUs up to {t.max_gpus}")
          + f"; stack {plan.stack.name} ({plan.stack.engine})")
    print(f"workload: batch {w.batch}, prompt {w.prompt_len}, output {w.output_len}, weights "
          f"{w.weight_dtype}; MFU {h.mfu}, HBM utilisation {h.hbm_utilization}, comm overlap "
          f"{w.comm_overlap}")
    print("targets: " + "; ".join(c.describe() for c in plan.constraints)
          + f"; objective: {plan.objective.doc}")
    print(f"limits: {plan.limits.as_dict()}")
    print(f"searched {plan.evaluated} strategies in {plan.seconds:.3f} s; "
          f"{int(plan.table.meets_targets.sum())} meet the targets\n")
    print(plan.why() + "\n")
    fmt = {"memory_gib": "{:.2f}", "ttft_s": "{:.4g}", "tpot_s": "{:.4g}",
           "request_latency_s": "{:.4g}", "prefill_tokens_per_s_per_gpu": "{:.4g}",
           "decode_tokens_per_s_per_gpu": "{:.4g}", "load_balance": "{:.3f}",
           "pipeline_bubble": "{:.3f}", "worst_miss": "{:.3g}"}
    title = "ranked strategies" if plan.feasible else "nearest strategies (none meets the targets)"
    print(f"{title}:")
    print(_fmt(plan.ranked(top), fmt).to_string(index=False))
    print(f"\nPareto front ({plan.objective.latency} vs {plan.objective.throughput} vs gpus, over "
          f"{plan.pareto.pareto_over.iat[0] if len(plan.pareto) else 'nothing'}):")
    cols = ["label", "gpus", "ttft_s", "tpot_s", "decode_tokens_per_s_per_gpu",
            "prefill_tokens_per_s_per_gpu", "memory_gib"]
    print(_fmt(plan.pareto[cols], fmt).to_string(index=False))
    print("\nconstraints (binding: relaxing it alone improves the best, or admits one):")
    print(plan.binding[["constraint", "column", "limit", "met_alone_by", "value_at_best", "slack",
                        "binding", "strategy_without"]].to_string(index=False))
    if plan.document is not None:
        print("\nmoekit's plan beside the document's strategy:")
        print(comparison(plan).to_string())


def _fmt(df: pd.DataFrame, fmt: dict) -> pd.DataFrame:
    df = df.copy()
    for col, f in fmt.items():
        if col in df:
            df[col] = df[col].map(f.format)
    return df
