#!/usr/bin/env bash
# Run every benchmark family on the device machine and pack the results into $OUT.
#   usage (from the repository root, on the device machine):
#     bash benchmarks/gpu/run_device.sh KIND        # KIND = nvidia-h200-x2, nvidia-h100-x1, ...
# With >= 2 GPUs: NCCL first (eager, then graph replays) over all GPUs, then the single-GPU
# families in two chains, one per GPU (GPU0: ceilings, gemm; GPU1: moe_ffn, attention,
# moe_layer; MOEKIT_SWAP_CHAINS=1 swaps the GPUs). With one GPU: the single-GPU families in
# sequence. MOEKIT_NCCL_ARGS passes extra arguments to bench_nccl.py (e.g. --odd-sizes).
# Each script has its own wall-clock budget (seconds, scaled by MOEKIT_BUDGET_SCALE) and a
# hard `timeout`, so the whole command ends inside the device tool's 10-minute limit.
set -u
KIND=${1:?usage: run_device.sh KIND}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONUNBUFFERED=1 MOEKIT_DEVICE_KIND=$KIND
export MOEKIT_RUN_ID=${MOEKIT_RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)_$KIND}
OUTROOT=${OUT:-/tmp/moekit_out}
mkdir -p "$OUTROOT"
RUNROOT=/tmp/moekit_run
R=$RUNROOT/$MOEKIT_RUN_ID
mkdir -p "$R"
D=benchmarks/gpu
PY=${PYTHON:-python3}
SCALE=${MOEKIT_BUDGET_SCALE:-1}
bud() { $PY -c "print(int($1*$SCALE))"; }
T0=$(date +%s)

{
  date -u; uname -a; nvidia-smi; nvidia-smi topo -m; nvidia-smi nvlink -s
  $PY -c "import torch;print('torch',torch.__version__,'cuda',torch.version.cuda,'nccl',torch.cuda.nccl.version(),'gpus',torch.cuda.device_count())"
  env | grep -E '^(NCCL|TORCH|NVSHMEM|CUDA)' | sort
} > "$R/system.txt" 2>&1
NG=$($PY -c "import torch;print(torch.cuda.device_count())" 2>/dev/null || echo 0)
echo "run $MOEKIT_RUN_ID on $KIND with $NG GPU(s)"

fam() {  # fam NAME BUDGET -- runs benchmarks/gpu/bench_NAME.py with a hard timeout
  local name=$1 b; b=$(bud "$2")
  timeout --kill-after=10 $((b + 30)) $PY $D/bench_$name.py --out "$R" --budget-s "$b" \
      > "$R/$name.log" 2>&1
  echo "[$name] exit $? after $(( $(date +%s) - T0 )) s"
}

if [ "$NG" -ge 2 ]; then
  for mode in eager graph; do
    b=$(bud $([ $mode = eager ] && echo 70 || echo 30))
    timeout --kill-after=10 $((b + 30)) torchrun --standalone --nproc-per-node "$NG" \
        $D/bench_nccl.py --out "$R" --mode $mode --budget-s "$b" ${MOEKIT_NCCL_ARGS:-} \
        > "$R/nccl_$mode.log" 2>&1
    echo "[nccl $mode] exit $? after $(( $(date +%s) - T0 )) s"
  done
  GA=0; GB=1; [ "${MOEKIT_SWAP_CHAINS:-0}" = 1 ] && { GA=1; GB=0; }
  ( export CUDA_VISIBLE_DEVICES=$GA; fam ceilings 40; fam gemm 200 ) &
  ( export CUDA_VISIBLE_DEVICES=$GB; fam moe_ffn 90; fam attention 90; fam moe_layer 120 ) &
  wait
else
  fam ceilings 40; fam gemm 150; fam moe_ffn 90; fam attention 80; fam moe_layer 110
fi

$PY $D/summarize.py "$R" | tee "$R/summary.txt"
grep -h "SKIP\|Traceback\|Error" "$R"/*.log | sort | uniq -c | sort -rn | head -40
tar -czf "$OUTROOT/moekit_$MOEKIT_RUN_ID.tar.gz" -C "$RUNROOT" "$MOEKIT_RUN_ID"
cp "$R/summary.txt" "$OUTROOT/summary_$MOEKIT_RUN_ID.txt"
echo "done after $(( $(date +%s) - T0 )) s: $OUTROOT/moekit_$MOEKIT_RUN_ID.tar.gz"
