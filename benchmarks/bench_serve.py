"""Speed of the serving planner: agg + disagg search for DeepSeek-V3 (fp8) on up to 256 H100s under
a TPOT target, on the SGLang stack. Prints the candidates evaluated and seconds per search (best of 3;
the first call, which also fits the stack and lambdifies the formulas, in brackets).

    python benchmarks/bench_serve.py
"""

from __future__ import annotations

import time

import moekit
from moekit.plan.serve import ServeQuery, serve
from moekit.spec.stack import load_stack


def main() -> None:
    start = time.perf_counter()
    query = ServeQuery(moekit.load_model("deepseek-v3"), moekit.load_hardware("h100-sxm"),
                       load_stack("sglang"),
                       max_gpus=256, isl=2000, osl=1000, ttft_s=5.0, tpot_s=0.1, mode="both",
                       weight_dtype="fp8")
    first = serve(query)
    first_s = time.perf_counter() - start
    times = []
    for _ in range(3):
        t = time.perf_counter()
        plan = serve(query)
        times.append(time.perf_counter() - t)
    candidates = len(plan.agg) + len(plan.disagg)
    print(f"DeepSeek-V3 fp8, up to 256 x H100, ISL 2000 / OSL 1000, TPOT <= 100 ms, agg + disagg: "
          f"{candidates} decode candidates ({len(first.frontier)} on the frontier) in {min(times):.2f} s "
          f"({first_s:.2f} s)")


if __name__ == "__main__":
    main()
