"""Flags and output helpers shared by the `moekit` commands."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json

import numpy as np

from moekit.spec.inputs import Workload
from moekit.spec.presets import load_hardware, load_model
from moekit.spec.stack import load_stack


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
    parser.add_argument("--expert-dtype", default="",
                        help="routed-expert weight precision, e.g. mxfp4 for gpt-oss (default: --dtype)")
    parser.add_argument("--mfu", type=float, help="override the GPU preset's MFU")
    parser.add_argument("--expert-imbalance", type=float, default=0.0,
                        help="busiest/mean expert load (default: expected for random routing)")
    parser.add_argument("--stack",
                        help="serving stack the times assume: sglang, vllm, trtllm, hf-transformers, "
                             "pytorch-graph, pytorch-eager (data/stacks/) or a YAML file; 'none': "
                             "the GPU preset's efficiency inputs alone (the default, except for a "
                             "scenario: its own `stack:`, else sglang)")
    parser.add_argument("--format", default="table", choices=["table", "json"])


def deployment_from_args(args) -> tuple:
    """(model, hardware, workload, stack) from the shared flags."""
    model = load_model(args.model)
    hardware = load_hardware(args.hardware)
    if args.mfu is not None:
        hardware = dataclasses.replace(hardware, mfu=args.mfu)
    workload = Workload(batch=args.batch, prompt_len=args.prompt, output_len=args.output,
                        decode_context=args.decode_context, weight_dtype=args.dtype,
                        kv_dtype=args.kv_dtype, expert_dtype=args.expert_dtype,
                        expert_imbalance=args.expert_imbalance)
    return model, hardware, workload, load_stack(args.stack or "none")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (datetime.date, datetime.datetime)):  # YAML dates (a source's publication date)
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data) -> None:
    print(json.dumps(data, indent=2, default=_json_default, allow_nan=False))
