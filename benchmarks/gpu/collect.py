"""Merge device-run tarballs (from run_device.sh) into data/measurements/.

    python3 benchmarks/gpu/collect.py /work/.device/N/moekit_RUNID.tar.gz [...] \
        [--dest data/measurements]

* data/measurements/<family>.csv: all runs' rows of one family, runs in run_id order (run ids
  start with the UTC start time), rows in measured order. Values are copied as text, never
  recomputed. nccl_graph.csv rows go into nccl.csv (the `mode` column tells them apart).
  Rows of runs already in the destination and absent from the inputs are kept, so
  collecting again is idempotent and a new run is simply added.
* data/measurements/runs/<run_id>/: each family's metadata JSON, logs, system.txt
  (nvidia-smi, topology, versions), summary.txt.
* data/measurements/runs.csv: one line per run (kind, GPU, versions, date, rows).
Standard library only.
"""

import argparse
import csv
import glob
import json
import os
import shutil
import tarfile
import tempfile

FAMILY_FILE = {"nccl_graph": "nccl"}
FAMILIES = ["ceilings", "gemm", "moe_ffn", "attention", "moe_layer", "nccl"]


def read_csv(path):
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        return header, [row for row in r]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("tarballs", nargs="+")
    ap.add_argument("--dest", default="data/measurements")
    args = ap.parse_args()
    dest = args.dest
    os.makedirs(os.path.join(dest, "runs"), exist_ok=True)

    # family -> run_id -> (header, rows)
    data = {}
    for fam in FAMILIES:
        p = os.path.join(dest, f"{fam}.csv")
        if os.path.exists(p):
            header, rows = read_csv(p)
            i = header.index("run_id")
            for row in rows:
                data.setdefault(fam, {}).setdefault(row[i], (header, []))[1].append(row)

    new_runs = set()
    with tempfile.TemporaryDirectory() as tmp:
        for tb in args.tarballs:
            with tarfile.open(tb) as t:
                t.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") else t.extractall(tmp)
        for rdir in sorted(glob.glob(os.path.join(tmp, "*"))):
            run_id = os.path.basename(rdir)
            new_runs.add(run_id)
            out = os.path.join(dest, "runs", run_id)
            os.makedirs(out, exist_ok=True)
            for p in sorted(glob.glob(os.path.join(rdir, "*"))):
                if not p.endswith(".csv"):
                    shutil.copyfile(p, os.path.join(out, os.path.basename(p)))
            # this run's rows replace any earlier copy of the same run
            for fam in FAMILIES:
                if fam in data:
                    data[fam].pop(run_id, None)
            for p in sorted(glob.glob(os.path.join(rdir, "*.csv"))):
                src = os.path.basename(p)[:-4]
                fam = FAMILY_FILE.get(src, src)
                header, rows = read_csv(p)
                fam_runs = data.setdefault(fam, {})
                if run_id in fam_runs:
                    h0, r0 = fam_runs[run_id]
                    if h0 != header:
                        raise SystemExit(f"{p}: header differs from the run's other {fam} file")
                    r0.extend(rows)
                else:
                    fam_runs[run_id] = (header, rows)

    for fam, runs in sorted(data.items()):
        cols = []
        for run_id in sorted(runs):
            for c in runs[run_id][0]:
                if c not in cols:
                    cols.append(c)
        with open(os.path.join(dest, f"{fam}.csv"), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(cols)
            n = 0
            for run_id in sorted(runs):
                header, rows = runs[run_id]
                idx = [header.index(c) if c in header else None for c in cols]
                for row in rows:
                    w.writerow([row[i] if i is not None else "" for i in idx])
                    n += 1
        print(f"{fam}.csv: {n} rows from {len(runs)} runs")

    # run index
    lines = []
    for out in sorted(glob.glob(os.path.join(dest, "runs", "*"))):
        run_id = os.path.basename(out)
        metas = {}
        for mp in sorted(glob.glob(os.path.join(out, "*.meta.json"))):
            with open(mp) as f:
                metas[os.path.basename(mp)[:-10]] = json.load(f)
        if not metas:
            continue
        m0 = metas.get("ceilings") or next(iter(metas.values()))
        starts = sorted(m.get("date_utc", "") for m in metas.values())
        ends = sorted(m.get("date_utc_end", "") for m in metas.values())
        lines.append({
            "run_id": run_id,
            "device_kind": m0.get("device_kind", ""),
            "gpu_name": m0.get("gpu_name", ""),
            "gpu_count": max(int(m.get("gpu_count_visible") or 0) for m in metas.values()
                             if m.get("family", "").startswith("nccl")) if any(
                k.startswith("nccl") for k in metas) else 1,
            "driver": m0.get("driver", ""),
            "cuda": m0.get("cuda", ""),
            "torch": m0.get("torch", ""),
            "nccl": m0.get("nccl", ""),
            "kernel": m0.get("kernel", ""),
            "date_utc_start": starts[0] if starts else "",
            "date_utc_end": ends[-1] if ends else "",
            "families": " ".join(f"{k}:{metas[k].get('rows', '?')}" for k in sorted(metas)),
            "skipped": sum(len(m.get("skipped", [])) for m in metas.values()),
        })
    if lines:
        with open(os.path.join(dest, "runs.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(lines[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(lines)
        print(f"runs.csv: {len(lines)} runs")


if __name__ == "__main__":
    main()
