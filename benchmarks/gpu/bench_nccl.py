"""Family 6 -- NCCL collectives through torch.distributed, one process per GPU.

Launch: torchrun --standalone --nproc-per-node N benchmarks/gpu/bench_nccl.py --out DIR
(any N; the world size comes from the launcher). Without CUDA it runs on gloo (dry run).

ops (bf16 payload; `bytes` = message size as nccl-tests define it):
  all_reduce      in-place, `bytes` = buffer size; reduce op AVG (NCCL) so values stay finite;
                  bus bytes = 2 (n-1)/n x bytes
  all_gather      all_gather_into_tensor, `bytes` = output size (n x input); bus (n-1)/n
  reduce_scatter  reduce_scatter_tensor, `bytes` = input size (n x output); bus (n-1)/n
  all_to_all      all_to_all_single, `bytes` = send buffer per rank (= receive buffer);
                  bus (n-1)/n
  send_recv       rank 2i sends `bytes` to rank 2i+1 (all pairs at once, one direction);
                  bus = bytes
Timing: warm-up, then samples of `inner` back-to-back calls between CUDA events on each
rank; the per-call time is the slowest rank's (MAX over ranks of each statistic).
--mode graph captures the `inner` calls into one CUDA graph and times its replays.
"""

import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

BUS_FACTOR = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_to_all": lambda n: (n - 1) / n,
    "send_recv": lambda n: 1.0,
}


def make_op(op, nbytes, rank, world, dev, avg):
    el = 2  # bf16
    count = nbytes // el
    if op == "all_reduce":
        buf = torch.randn(count, device=dev, dtype=torch.bfloat16)
        red = dist.ReduceOp.AVG if avg else dist.ReduceOp.SUM
        return lambda: dist.all_reduce(buf, op=red)
    if op == "all_gather":
        out = torch.empty(count, device=dev, dtype=torch.bfloat16)
        inp = torch.randn(count // world, device=dev, dtype=torch.bfloat16)
        return lambda: dist.all_gather_into_tensor(out, inp)
    if op == "reduce_scatter":
        inp = torch.randn(count, device=dev, dtype=torch.bfloat16)
        out = torch.empty(count // world, device=dev, dtype=torch.bfloat16)
        red = dist.ReduceOp.AVG if avg else dist.ReduceOp.SUM
        return lambda: dist.reduce_scatter_tensor(out, inp, op=red)
    if op == "all_to_all":
        inp = torch.randn(count, device=dev, dtype=torch.bfloat16)
        out = torch.empty_like(inp)
        return lambda: dist.all_to_all_single(out, inp)
    if op == "send_recv":
        buf = torch.randn(count, device=dev, dtype=torch.bfloat16)
        peer = rank ^ 1
        if peer >= world:
            return lambda: None
        if rank % 2 == 0:
            return lambda: dist.send(buf, peer)
        return lambda: dist.recv(buf, peer)
    raise ValueError(op)


def check_collectives(rank, world, dev):
    """Known-answer checks on rank-dependent random data."""
    g = torch.Generator(device="cpu").manual_seed(1234)
    full = torch.randn(world, 64, generator=g).to(torch.float32)
    mine = full[rank].to(dev)
    x = mine.clone()
    dist.all_reduce(x)
    ok = torch.allclose(x.cpu(), full.sum(0), rtol=1e-5, atol=1e-5)
    out = torch.empty(world * 64, device=dev)
    dist.all_gather_into_tensor(out, mine)
    ok &= torch.equal(out.cpu(), full.reshape(-1))
    inp = (full[rank] + 10 * torch.arange(world).repeat_interleave(64 // world)[:64]).to(dev) \
        if 64 % world == 0 else None
    if inp is not None:
        o2 = torch.empty_like(inp)
        dist.all_to_all_single(o2, inp)
        chunk = 64 // world
        lo, hi = rank * chunk, (rank + 1) * chunk
        exp = torch.cat([(full[s] + 10 * torch.arange(world).repeat_interleave(chunk))[lo:hi]
                         for s in range(world)])
        ok &= torch.allclose(o2.cpu(), exp)
    return bool(ok)


def bench_dist(fn, dev, graph, rep_budget_s, target_sample_s=1e-3, max_graph_calls=64):
    cuda = dev.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    def agree_max(vals):
        t = torch.tensor(vals, dtype=torch.float64, device=dev if cuda else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.tolist()

    for _ in range(5):
        fn()
    sync()
    dist.barrier()
    ev = C._Events(1)
    ev.start(0)
    for _ in range(5):
        fn()
    ev.stop(0)
    t_est = max(agree_max([ev.seconds()[0] / 5])[0], 1e-7)
    inner = max(1, math.ceil(target_sample_s / t_est))
    g = None
    if graph:
        inner = min(inner, max_graph_calls)
        s = torch.cuda.Stream(device=dev)
        s.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(s):
            for _ in range(3):
                fn()
        torch.cuda.current_stream(dev).wait_stream(s)
        sync()
        dist.barrier()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(inner):
                fn()
        sync()
        dist.barrier()
        for _ in range(2):
            g.replay()
        sync()
        dist.barrier()
    reps = max(5, min(50, int(rep_budget_s / (inner * t_est))))
    ev = C._Events(reps)
    for r in range(reps):
        ev.start(r)
        if g is not None:
            g.replay()
        else:
            for _ in range(inner):
                fn()
        ev.stop(r)
    per = [t / inner for t in ev.seconds()]
    stats = [statistics.median(per), C._quantile(per, 0.1), C._quantile(per, 0.9), min(per), max(per)]
    stats = agree_max(stats)
    if g is not None:
        del g
    dist.barrier()
    return {"mode": "graph" if graph else "eager", "n_sets": 1, "inner": inner, "n_repeats": reps,
            "time_s": stats[0], "time_p10_s": stats[1], "time_p90_s": stats[2],
            "time_min_s": stats[3], "time_max_s": stats[4]}


def main():
    ap = C.base_parser(__doc__)
    ap.add_argument("--mode", choices=["eager", "graph"], default="eager")
    ap.add_argument("--min-log2", type=int, default=12)   # 4 KiB
    ap.add_argument("--max-log2", type=int, default=30)   # 1 GiB
    ap.add_argument("--graph-max-log2", type=int, default=24)  # 16 MiB
    ap.add_argument("--odd-sizes", action="store_true", help="also 3 x 2^p bytes")
    ap.add_argument("--ops", default="all_reduce,all_gather,reduce_scatter,all_to_all,send_recv")
    args = ap.parse_args()
    cuda = C.HAS_CUDA
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
        dist.init_process_group("nccl", device_id=dev)
    else:
        dev = torch.device("cpu")
        dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.mode == "graph" and not cuda:
        if rank == 0:
            C.log("graph mode needs CUDA; nothing to do")
        dist.destroy_process_group()
        return
    fam = "nccl" if args.mode == "eager" else "nccl_graph"
    rec = None
    if rank == 0:
        meta = C.collect_metadata(fam)
        meta["gpu_index"] = ",".join(str(i) for i in range(world)) if cuda else "cpu"
        meta["world_size"] = world
        meta["backend"] = dist.get_backend()
        rec = C.Recorder(args.out, fam, ["world_size", "n_nodes", "reduce_op", "msg_bytes", "count"],
                         meta, extra_columns=["bus_bytes", "algbw_bytes_per_s", "busbw_bytes_per_s",
                                              "check_ok"])
    ok = check_collectives(rank, world, dev)
    if rank == 0:
        C.log(f"world {world} backend {dist.get_backend()} check ok={ok}")
    dl = C.Deadline(args.budget_s)
    hi = args.max_log2 if args.mode == "eager" else min(args.max_log2, args.graph_max_log2)
    if args.quick:
        hi = min(hi, 16)
    sizes = [1 << p for p in range(args.min_log2, hi + 1)]
    if args.odd_sizes:  # 3 x 2^p between the powers of two: held-out validation points
        sizes = sorted(sizes + [3 << p for p in range(args.min_log2, hi - 1)])
    ops = [o for o in args.ops.split(",") if o]
    avg = cuda  # gloo has no AVG
    for op in ops:
        if op == "send_recv" and world < 2:
            continue
        for nbytes in sizes:
            # all ranks must agree on skipping
            stop = torch.tensor([1.0 if dl.passed() else 0.0], device=dev)
            dist.all_reduce(stop, op=dist.ReduceOp.MAX)
            if stop.item() > 0:
                if rank == 0:
                    rec.error(f"{op} {nbytes}: budget exhausted")
                continue
            if nbytes % (2 * world) != 0:
                continue
            fn = make_op(op, nbytes, rank, world, dev, avg)
            t = bench_dist(fn, dev, args.mode == "graph",
                           args.rep_budget_s if not args.quick else 0.005)
            fn = None
            if rank == 0:
                bus = BUS_FACTOR[op](world) * nbytes
                red = ("avg" if avg else "sum") if op in ("all_reduce", "reduce_scatter") else ""
                r = rec.row(op=op, impl="torch.distributed", dtype="bf16",
                            shape=dict(world_size=world, n_nodes=1, reduce_op=red, msg_bytes=nbytes,
                                       count=nbytes // 2),
                            flops=0, nbytes=nbytes, timing=t,
                            extra=dict(bus_bytes=bus, algbw_bytes_per_s=f"{nbytes / t['time_s']:.6g}",
                                       busbw_bytes_per_s=f"{bus / t['time_s']:.6g}", check_ok=int(ok)))
                C.log(f"{op:15s} n={world} {nbytes:>11d} B {t['mode']:5s} {t['time_s']*1e6:10.1f} us "
                      f"busbw {float(r['busbw_bytes_per_s'])/1e9:8.1f} GB/s")
            if cuda:
                torch.cuda.empty_cache()
    if rank == 0:
        rec.close(extra_meta={"collective_check_ok": ok})
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    C.run_main(main)
