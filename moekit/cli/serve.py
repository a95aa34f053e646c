"""`moekit serve`: the deployment with the most tokens/s per GPU under TTFT/TPOT targets, aggregated
or disaggregated, its frontier, and how to launch it on vLLM and SGLang.

JSON: {"search_s", "stack", "frontier": [row, ...], "best": {row..., "binding", "launch": {"vllm",
"sglang", "checked_against"}}}; a row is {"mode", "gpus", "prefill": {"strategy", "gpus", "batch"},
"decode": {...}, "ttft_s", "tpot_s", "tokens_per_s_per_gpu", "tokens_per_s_per_user",
"requests_per_s", "meets_sla"}; batch is the sequences one instance runs (decode) or the prompts of
one prefill step.
"""

from __future__ import annotations

import json
import re

from moekit.cli.common import print_json
from moekit.errors import SpecError
from moekit.plan.launch import ServingOptions, checked_against, sglang_commands, vllm_commands
from moekit.plan.serve import ServeQuery, binding, pools, row_dict, serve
from moekit.resources import DATA_DIR
from moekit.spec.presets import load_hardware, load_model
from moekit.spec.stack import ENGINE_DEFAULT, load_stack
from moekit.spec.units import parse_quantity


def hf_model_id(model_name: str) -> str:
    """The Hugging Face repository of a bundled model (from its config.json's source), else a path."""
    path = DATA_DIR / "hf_configs" / f"{model_name}.json"
    if path.exists():
        found = re.search(r"huggingface\.co/([^/]+/[^/]+)/", json.loads(path.read_text()).get("_source", ""))
        if found:
            return found.group(1)
    return f"./{model_name}"  # no public checkpoint: the local weights folder


def launch(q: ServeQuery, best) -> dict:
    """Launch commands of the best row (the engines' flags as recorded in data/engines/)."""
    prefill, pool = pools(best)
    options = ServingOptions(max_model_len=q.isl + q.osl, gpus_per_node=q.hardware.gpus_per_node,
                             weight_dtype=q.weight_dtype, kv_dtype=q.kv_dtype or q.weight_dtype)
    out = {}
    for engine, build in (("vllm", vllm_commands), ("sglang", sglang_commands)):
        try:  # one engine refusing the deployment keeps the other's commands
            out[engine] = build(hf_model_id(q.model.name), best["mode"], prefill, pool, options)
        except SpecError as exc:
            out[engine] = f"# {engine} cannot run this deployment: {exc}"
    out["checked_against"] = checked_against()
    return out


def _time(value: str | None, where: str) -> float | None:
    return None if value is None else parse_quantity(value, "seconds", where)


def _run(args) -> None:
    q = ServeQuery(load_model(args.model), load_hardware(args.hardware), load_stack(args.stack),
                   args.max_gpus, args.isl, args.osl, _time(args.ttft, "--ttft"),
                   _time(args.tpot, "--tpot"), args.mode, args.dtype, args.kv_dtype,
                   expert_dtype=args.expert_dtype)
    plan = serve(q)
    frontier = [row_dict(q, r) for _, r in plan.frontier.iterrows()]
    best = None
    if plan.best is not None:
        best = {**row_dict(q, plan.best), "binding": binding(plan), "launch": launch(q, plan.best)}
    if args.format == "json":
        print_json({"search_s": plan.search_s, "model": q.model.name, "hardware": q.hardware.name,
                    "stack": q.stack.name, "stack_engine": q.stack.engine, "notes": plan.notes,
                    "frontier": frontier, "best": best})
        return
    print(f"{q.model.name} on up to {q.max_gpus} x {q.hardware.name}, stack {q.stack.name} "
          f"({q.stack.engine}); ISL {q.isl}, OSL {q.osl}; targets TTFT "
          f"{q.ttft_s or '-'} s, TPOT {q.tpot_s or '-'} s; searched in {plan.search_s:.2f} s")
    print(frontier_chart(frontier))
    for row in frontier:
        print(f"  {row['mode']:<6} {row['gpus']:>4} GPUs  decode {row['decode']['strategy']:<24} "
              f"x{row['decode']['batch']:<5} prefill {row['prefill']['strategy']:<24} "
              f"TTFT {row['ttft_s']:.3f} s  TPOT {row['tpot_s'] * 1e3:6.1f} ms  "
              f"{row['tokens_per_s_per_gpu']:8.1f} tok/s/GPU  {row['tokens_per_s_per_user']:6.1f} tok/s/user"
              + ("" if row["meets_sla"] else "  (misses SLA)"))
    for note in plan.notes:
        print("note: " + note)
    if best:
        print(f"\nbest: {best['mode']} on {best['gpus']} GPUs, {best['tokens_per_s_per_gpu']:.1f} "
              f"tokens/s/GPU at {best['tokens_per_s_per_user']:.1f} tokens/s/user; binding: "
              f"{best['binding']}")
        for engine in ("sglang", "vllm"):
            lines = best["launch"].get(engine)
            if lines:
                print(f"\n{engine}:")
                print("\n".join(lines) if isinstance(lines, list) else lines)
        if "error" in best["launch"]:
            print("launch: " + best["launch"]["error"])


def frontier_chart(rows: list[dict], width: int = 60, height: int = 14) -> str:
    """Tokens/s per GPU (up) against tokens/s per user (right), a = aggregated, d = disaggregated."""
    if not rows:
        return "(no frontier)"
    xs = [r["tokens_per_s_per_user"] for r in rows]
    ys = [r["tokens_per_s_per_gpu"] for r in rows]
    x0, x1, y1 = min(xs), max(xs), max(ys)
    grid = [[" "] * width for _ in range(height)]
    for r, x, y in zip(rows, xs, ys, strict=True):
        col = 0 if x1 == x0 else round((x - x0) / (x1 - x0) * (width - 1))
        row = height - 1 - round(y / y1 * (height - 1))
        grid[row][col] = "a" if r["mode"] == "agg" else "d"
    lines = [f"{y1:9.0f} |" + "".join(grid[0])] + ["          |" + "".join(g) for g in grid[1:]]
    lines.append("        0 +" + "-" * width)
    lines.append(f"           {x0:<10.1f} tokens/s per user (a: aggregated, d: disaggregated)"
                 f"{x1:>{max(width - 55, 1)}.1f}")
    return "tokens/s per GPU\n" + "\n".join(lines)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("serve", help="SLA-driven serving plan: agg vs disagg frontier, launch")
    p.add_argument("--model", required=True, help="preset name, YAML preset or config.json")
    p.add_argument("--hardware", required=True, help="GPU preset or YAML file")
    p.add_argument("--stack", default=ENGINE_DEFAULT,
                   help=f"serving stack the times assume (default {ENGINE_DEFAULT})")
    p.add_argument("--max-gpus", type=int, required=True, help="GPUs the deployment may use")
    p.add_argument("--isl", type=int, required=True, help="input tokens per request")
    p.add_argument("--osl", type=int, required=True, help="output tokens per request")
    p.add_argument("--ttft", help="time-to-first-token target, e.g. '2 s'")
    p.add_argument("--tpot", help="time-per-output-token target, e.g. '50 ms'")
    p.add_argument("--mode", default="both", choices=["agg", "disagg", "both"])
    p.add_argument("--dtype", default="bf16", help="weight precision (bf16, fp8)")
    p.add_argument("--kv-dtype", default="", help="KV-cache precision (default: --dtype)")
    p.add_argument("--expert-dtype", default="",
                   help="routed-expert weight precision, e.g. mxfp4 for gpt-oss (default: --dtype)")
    p.add_argument("--format", default="table", choices=["table", "json"])
    p.set_defaults(func=_run)
