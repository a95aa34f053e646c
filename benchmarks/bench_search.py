"""Time the strategy search: strategies evaluated and seconds, per scenario and per preset.

    .venv/bin/python benchmarks/bench_search.py [--repeats 5]

The first search pays for lambdifying the formulas once; later ones are the figure that
matters (printed as best-of-repeats). Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import time

from moekit.plan.search import search
from moekit.spec.inputs import Targets, Workload
from moekit.spec.presets import load_hardware, load_model

#: preset cases beside the scenarios: (model, hardware, batch, prompt, output, targets)
PRESET_CASES = [
    ("mixtral-8x7b", "h100-sxm", 128, 2048, 256, Targets(max_gpus=512)),
    ("deepseek-v3", "h200", 256, 4096, 512, Targets(max_gpus=4096)),
    ("qwen3-235b-a22b", "h100-sxm", 128, 4096, 512, Targets(gpus=64, tpot_s=0.05)),
]


def _cases():
    try:
        from moekit.audit.scenario import bundled_names, load_scenario
    except ImportError:
        bundled_names = None
    if bundled_names is not None:
        for name in bundled_names():
            sc = load_scenario(name)
            yield name, (sc.model, sc.hardware, sc.workload, sc.targets, sc.strategy)
    for model, hardware, batch, prompt, output, targets in PRESET_CASES:
        workload = Workload(batch=batch, prompt_len=prompt, output_len=output)
        yield (f"{model} on {hardware}",
               (load_model(model), load_hardware(hardware), workload, targets, None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"{'case':45s} {'strategies':>10s} {'first_s':>8s} {'best_s':>8s} {'per_s':>12s}")
    for name, (model, hardware, workload, targets, document) in _cases():
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            plan = search(model, hardware, workload, targets, document=document)
            times.append(time.perf_counter() - t)
        best = min(times)
        print(f"{name:45s} {plan.evaluated:10d} {times[0]:8.3f} {best:8.3f} "
              f"{plan.evaluated / best:12.0f}")
    print(f"total {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
