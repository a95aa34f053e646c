"""The `moekit` command: evaluate, params (and the commands other modules register).

Each command module exposes `add_parser(subparsers)`; the parser it adds sets `func`.
Bad input ends with one line naming the field and what is allowed, exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import signal
import sys

import numpy as np

from moekit.errors import MoekitError, SpecError
from moekit.evaluate import evaluate
from moekit.presets import load_hardware, load_model
from moekit.specs import Strategy, Workload
from moekit.units import format_bytes

#: modules that add their own subcommands
COMMAND_MODULES = ["moekit.cli", "moekit.plan_cli", "moekit.audit_cli"]


def add_deployment_arguments(parser: argparse.ArgumentParser, strategy: bool = True,
                             required: bool = True) -> None:
    """--model, --hardware, workload flags (and --strategy): shared by evaluate and plan.

    required=False: a command that can take the deployment from elsewhere (a scenario file)
    checks for them itself.
    """
    parser.add_argument("--model", required=required,
                        help="preset name, YAML preset or config.json")
    parser.add_argument("--hardware", required=required, help="preset name or YAML file")
    if strategy:
        parser.add_argument("--strategy", default="TP1",
                            help="degrees, e.g. 'TP8-EP8-DP1' (folded) or 'EP64-TP8-PP2-DP2'")
        parser.add_argument("--convention", default="auto", choices=["auto", "folded", "product"],
                            help="how to read the strategy (auto: folded when valid, else product)")
    parser.add_argument("--batch", type=int, required=required, help="sequences in flight")
    parser.add_argument("--prompt", type=int, required=required, help="prompt tokens per sequence")
    parser.add_argument("--output", type=int, default=1, help="generated tokens per sequence")
    parser.add_argument("--decode-context", type=int, default=0,
                        help="context of the measured decode step (default prompt + output/2)")
    parser.add_argument("--dtype", default="bf16", help="weight precision (bf16, fp16, fp8...)")
    parser.add_argument("--kv-dtype", default="", help="KV-cache precision (default: --dtype)")
    parser.add_argument("--mfu", type=float, help="override the GPU preset's MFU")
    parser.add_argument("--expert-imbalance", type=float, default=0.0,
                        help="busiest/mean expert load (default: expected for random routing)")
    parser.add_argument("--format", default="table", choices=["table", "json"])


def deployment_from_args(args) -> tuple:
    """(model, hardware, workload) from the shared flags."""
    model = load_model(args.model)
    hardware = load_hardware(args.hardware)
    if args.mfu is not None:
        hardware = dataclasses.replace(hardware, mfu=args.mfu)
    workload = Workload(batch=args.batch, prompt_len=args.prompt, output_len=args.output,
                        decode_context=args.decode_context, weight_dtype=args.dtype,
                        kv_dtype=args.kv_dtype, expert_imbalance=args.expert_imbalance)
    return model, hardware, workload


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data) -> None:
    print(json.dumps(data, indent=2, default=_json_default, allow_nan=False))


def _run_evaluate(args) -> None:
    model, hardware, workload = deployment_from_args(args)
    strategy = Strategy.parse(args.strategy, args.convention)
    result = evaluate(model, hardware, workload, strategy)
    if args.format == "json":
        print_json(result.to_dict())
        return
    print(f"{model.name} on {result['gpus']:.0f} x {hardware.name}, strategy {strategy.label} "
          f"(read as {strategy.convention}: {strategy.notation or strategy.label})")
    print(f"workload: batch {workload.batch}, prompt {workload.prompt_len}, output "
          f"{workload.output_len}, decode context {workload.decode_context}, weights "
          f"{workload.weight_dtype}, KV {workload.kv_dtype}; MFU {hardware.mfu:.3g}, HBM utilisation "
          f"{hardware.hbm_utilization:.3g}")
    print(f"\nparams: total {result['total_params'] / 1e9:.3f} B, active "
          f"{result['active_params'] / 1e9:.3f} B")
    fits = "fits" if result["memory_bytes_per_gpu"] <= hardware.memory_bytes else "DOES NOT FIT"
    print(f"memory per GPU: {format_bytes(result['memory_bytes_per_gpu'])} of "
          f"{format_bytes(hardware.memory_bytes)}: {fits}")
    memory = result.memory
    print(memory.assign(gb=memory.gb.round(3), gib=memory.gib.round(3))
          [["component", "gb", "gib"]].to_string(index=False))
    print(f"\nTTFT {result['ttft_s'] * 1e3:.3f} ms (bound {result['ttft_lower_bound_s'] * 1e3:.3f} "
          f"ms); TPOT {result['tpot_s'] * 1e3:.3f} ms (bound "
          f"{result['tpot_lower_bound_s'] * 1e3:.3f} ms)")
    print(f"prefill {result['prefill_tokens_per_s_per_gpu']:.1f} tokens/s/GPU, decode "
          f"{result['decode_tokens_per_s_per_gpu']:.1f} tokens/s/GPU")
    ops = result.ops[["phase", "op", "count", "time_s", "bound"]]
    print("\n" + ops.assign(time_ms=ops.time_s * 1e3).drop(columns="time_s")
          .to_string(index=False, float_format=lambda x: f"{x:.4g}"))


def _run_params(args) -> None:
    model = load_model(args.model)
    from moekit.evaluate import evaluate_arrays, model_inputs

    values = evaluate_arrays(model.attention, {**_unit_inputs(), **model_inputs(model)})
    total, active = float(values["total_params"]), float(values["active_params"])
    if args.format == "json":
        print_json({"model": model.name, "total_params": total, "active_params": active})
    else:
        print(f"{model.name}: total {total / 1e9:.3f} B params, active {active / 1e9:.3f} B")


def _unit_inputs() -> dict:
    """Neutral non-model inputs, for quantities that depend on the model alone."""
    from moekit.evaluate import hardware_inputs, strategy_inputs, workload_inputs
    from moekit.specs import Hardware

    gpu = Hardware(name="unit", peak_flops={"bf16": 1.0}, hbm_bandwidth=1.0, memory_bytes=1.0)
    return {**hardware_inputs(gpu, "bf16"), **workload_inputs(Workload(batch=1, prompt_len=1)),
            **strategy_inputs(Strategy())}


def _run_formulas(args) -> None:
    from moekit.explain import formula_latex
    from moekit.formulas import REGISTRY, expanded

    names = args.names or list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise SpecError("formulas", f"unknown formula(s) {', '.join(unknown)}; "
                        "`moekit formulas` lists them all")
    rows = []
    for name in names:
        f = REGISTRY[name]
        row = {"name": name, "unit": f.unit, "meaning": f.doc}
        if args.latex:
            row["latex"] = formula_latex(name, args.attention)
        if args.expand:
            row["expanded"] = str(expanded(name, args.attention))
        rows.append(row)
    if args.format == "json":
        print_json(rows)
        return
    for row in rows:
        print(f"{row['name']} [{row['unit']}]: {row['meaning']}")
        for key in ("latex", "expanded"):
            if key in row:
                print(f"    {row[key]}")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="what one deployment costs")
    add_deployment_arguments(p)
    p.set_defaults(func=_run_evaluate)
    p = subparsers.add_parser("params", help="total and active parameters of a model")
    p.add_argument("--model", required=True)
    p.add_argument("--format", default="table", choices=["table", "json"])
    p.set_defaults(func=_run_params)
    p = subparsers.add_parser("formulas", help="list the cost model's formulas (with LaTeX)")
    p.add_argument("names", nargs="*", help="formula names (default: all)")
    p.add_argument("--latex", action="store_true", help="show each formula as LaTeX")
    p.add_argument("--expand", action="store_true", help="also write it in input symbols only")
    p.add_argument("--attention", default="gqa", choices=["gqa", "mla"],
                   help="which attention variant to show")
    p.add_argument("--format", default="table", choices=["table", "json"])
    p.set_defaults(func=_run_formulas)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moekit", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        module = sys.modules[__name__] if name == __name__ else importlib.import_module(name)
        module.add_parser(subparsers)
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
