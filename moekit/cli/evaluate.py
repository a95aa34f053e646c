"""`moekit evaluate`, `moekit params`, `moekit formulas`: one deployment, one model, the cost model."""

from __future__ import annotations

from moekit.cli.common import add_deployment_arguments, deployment_from_args, print_json
from moekit.errors import SpecError
from moekit.evaluate import evaluate, evaluate_arrays, model_inputs, model_only_inputs
from moekit.formulas import REGISTRY, expanded
from moekit.spec.inputs import Strategy
from moekit.spec.presets import load_model_preset
from moekit.spec.units import format_bytes
from moekit.ui.explain import formula_latex


def _run_evaluate(args) -> None:
    model, hardware, workload, stack = deployment_from_args(args)
    strategy = Strategy.parse(args.strategy, args.convention)
    result = evaluate(model, hardware, workload, strategy, stack=stack)
    hardware = result.hardware
    if args.format == "json":
        print_json(result.to_dict())
        return
    print(f"{model.name} on {result['gpus']:.0f} x {hardware.name}, strategy {strategy.label} "
          f"(read as {strategy.convention}: {strategy.notation or strategy.label})")
    print(f"stack: {stack.name} ({stack.engine}); every time below assumes it")
    print(f"workload: batch {workload.batch}, prompt {workload.prompt_len}, output "
          f"{workload.output_len}, decode context {workload.decode_context}, {workload.precisions}; "
          f"MFU {hardware.mfu:.3g}, HBM utilisation "
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
    preset = load_model_preset(args.model)
    model = preset.spec
    values = evaluate_arrays(model.attention, {**model_only_inputs(), **model_inputs(model)})
    total, active = float(values["total_params"]), float(values["active_params"])
    if args.format == "json":
        print_json({"model": model.name, "total_params": total, "active_params": active})
    else:
        print(f"{model.name}: total {total / 1e9:.3f} B params, active {active / 1e9:.3f} B")
        if preset.notes and preset.path.endswith(".json"):  # what the config reader left out
            print(f"  notes: {preset.notes}")


def _run_formulas(args) -> None:
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
