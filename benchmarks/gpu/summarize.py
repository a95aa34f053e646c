"""Print a short summary of one run directory (or of data/measurements): the ceilings,
NCCL bus bandwidth at 256 MiB and small-message latency, row and skip counts.
Reads CSVs only (standard library), so it runs on the device machine and here.

    python3 benchmarks/gpu/summarize.py DIR
"""

import csv
import glob
import json
import os
import sys


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main(d):
    out = []
    p = os.path.join(d, "ceilings.csv")
    if os.path.exists(p):
        rs = rows(p)
        for run in sorted({r["run_id"] for r in rs}):
            out.append(f"== ceilings {run}")
            for dt in ("bf16", "fp16", "fp8_e4m3", "fp8_e4m3_fastaccum"):
                g = [r for r in rs if r["run_id"] == run and r["op"] == "gemm" and r["dtype"] == dt]
                if g:
                    best = max(g, key=lambda r: float(r["achieved_flops_per_s"]))
                    at8k = [r for r in g if (r["m"], r["n"], r["k"]) == ("8192", "8192", "8192")]
                    s8 = f"; 8192^3 {float(at8k[0]['achieved_flops_per_s'])/1e12:.0f}" if at8k else ""
                    out.append(f"gemm {dt:20s} max {float(best['achieved_flops_per_s'])/1e12:7.1f} TFLOP/s "
                               f"at {best['m']}x{best['n']}x{best['k']}{s8}")
            c = [r for r in rs if r["run_id"] == run and r["op"] == "copy" and r["mode"] == "eager"]
            if c:
                best = max(c, key=lambda r: float(r["achieved_bytes_per_s"]))
                big = [r for r in c if int(r["buffer_bytes"]) >= 1 << 30]
                s = "; ".join(f"{int(r['buffer_bytes'])>>20} MiB {float(r['achieved_bytes_per_s'])/1e12:.2f}"
                              for r in big)
                out.append(f"copy max {float(best['achieved_bytes_per_s'])/1e12:.2f} TB/s (read+write) at "
                           f"{int(best['buffer_bytes'])>>20} MiB; {s}")
    for fam in ("nccl", "nccl_graph"):
        p = os.path.join(d, f"{fam}.csv")
        if not os.path.exists(p):
            continue
        rs = rows(p)
        for run in sorted({r["run_id"] for r in rs}):
            for n in sorted({r["world_size"] for r in rs if r["run_id"] == run}):
                out.append(f"== {fam} {run} world {n}")
                for op in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv"):
                    g = [r for r in rs if r["run_id"] == run and r["world_size"] == n and r["op"] == op]
                    if not g:
                        continue
                    small = min(g, key=lambda r: int(r["msg_bytes"]))
                    s256 = [r for r in g if int(r["msg_bytes"]) == 256 << 20]
                    s1g = [r for r in g if int(r["msg_bytes"]) == 1 << 30]
                    txt = f"{op:15s} {int(small['msg_bytes'])>>10} KiB {float(small['time_s'])*1e6:7.1f} us"
                    if s256:
                        txt += f"; 256 MiB busbw {float(s256[0]['busbw_bytes_per_s'])/1e9:6.1f} GB/s"
                    if s1g:
                        txt += f"; 1 GiB busbw {float(s1g[0]['busbw_bytes_per_s'])/1e9:6.1f} GB/s"
                    out.append(txt)
    out.append("== rows / skipped per family")
    for p in sorted(glob.glob(os.path.join(d, "*.csv"))):
        n = len(rows(p))
        fam = os.path.basename(p)[:-4]
        mp = os.path.join(d, f"{fam}.meta.json")
        sk = ""
        if os.path.exists(mp):
            with open(mp) as f:
                m = json.load(f)
            sk = f", skipped {len(m.get('skipped', []))}" if "skipped" in m else ", unfinished (no close)"
        out.append(f"{fam:12s} {n:5d} rows{sk}")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/measurements")
