"""Benchmark: vectorised evaluation of the whole cost model over strategy x workload points.

Prints evaluations per second (every formula, prefill and decode, for every point). Run:
    python benchmarks/bench_evaluate.py [--points N]
"""

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: numpy's element-wise ops are serial

import numpy as np  # noqa: E402

import moekit  # noqa: E402
from moekit.evaluate import all_inputs, evaluate_arrays  # noqa: E402


def grid(points: int) -> dict[str, np.ndarray]:
    """Strategy x workload points for Mixtral-8x7B on H100 (degrees valid for the model)."""
    rng = np.random.default_rng(0)
    tp = rng.choice([1, 2, 4, 8], points)
    dp = rng.choice([1, 2, 4, 8, 16], points)
    pp = rng.choice([1, 2, 4], points)
    ep = np.minimum(rng.choice([1, 2, 4, 8], points), dp * tp)
    return {"tp": tp, "dp": dp, "pp": pp, "ep": ep, "etp": np.ones(points),
            "microbatches": rng.choice([1, 2, 4], points),
            "batch": rng.choice([1, 8, 32, 128, 512], points) * dp,
            "prompt_len": rng.integers(128, 32768, points),
            "decode_context": rng.integers(128, 32768, points)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    model, gpu = moekit.load_model("mixtral-8x7b"), moekit.load_hardware("h100-sxm")
    base = all_inputs(model, gpu, moekit.Workload(batch=1, prompt_len=1), moekit.Strategy())
    inputs = {**base, **grid(args.points)}
    evaluate_arrays(model.attention, inputs)  # warm-up: lambdify once
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        out = evaluate_arrays(model.attention, inputs)
        times.append(time.perf_counter() - start)
    best, median = min(times), float(np.median(times))
    assert np.isfinite(out["ttft_s"]).all()
    print(f"points: {args.points}  formulas per point: {len(out)}")
    print(f"median {median:.3f} s, best {best:.3f} s per call")
    print(f"evaluations per second: {args.points / median:,.0f} (median), "
          f"{args.points / best:,.0f} (best)")


if __name__ == "__main__":
    main()
