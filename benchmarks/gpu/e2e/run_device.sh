#!/usr/bin/env bash
# Whole-model (e2e) runs on the device machine: hf_e2e.py and ref_executor.py, one process per
# (stack, model) job, each with its own wall-clock budget and a hard timeout; then one merged CSV.
#   usage (repository root, on the device machine):
#     bash benchmarks/gpu/e2e/run_device.sh KIND [JOB ...]
#   JOB = hf:MODEL:BUDGET_S or ref:MODEL:BUDGET_S (default: every model, both stacks), or
#   refcheck:MODEL:BUDGET_S (ref_executor.py --selfcheck-only: kernel and decode self-checks, no timing).
#   E2E_WALL (default 540) caps the whole script, in seconds: jobs that no longer fit are shrunk or
#   skipped (and listed). With more than one visible GPU, ref jobs run under torchrun on all GPUs
#   (TP = EP = number of GPUs); hf jobs always use one GPU.
# Results: $OUT/e2e_<run_id>.tar.gz (CSV, skipped points, metadata, logs, system.txt) and
# $OUT/e2e_<run_id>.csv (the merged rows), $OUT/console_tail.txt.
set -u
KIND=${1:?usage: run_device.sh KIND [JOB ...]}
shift
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONUNBUFFERED=1 MOEKIT_DEVICE_KIND=$KIND
export MOEKIT_RUN_ID=${MOEKIT_RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)_e2e_$KIND}
OUTROOT=${OUT:-/tmp/moekit_out}
WALL=${E2E_WALL:-540}
PY=${PYTHON:-python3}
D=benchmarks/gpu/e2e
R=/tmp/moekit_e2e/$MOEKIT_RUN_ID
mkdir -p "$R" "$OUTROOT"
T0=$(date +%s)
JOBS=("$@")
if [ ${#JOBS[@]} -eq 0 ]; then
  JOBS=(ref:olmoe-1b-7b:40 hf:olmoe-1b-7b:60 ref:qwen3-30b-a3b:60 hf:qwen3-30b-a3b:90
        ref:deepseek-v2-lite:60 hf:deepseek-v2-lite:90 ref:gpt-oss-20b:60 hf:gpt-oss-20b:90
        ref:phi-3.5-moe:70 hf:phi-3.5-moe:100 ref:mixtral-8x7b:100 hf:mixtral-8x7b:150)
fi
$PY -c "import sys; sys.path.insert(0, '$D'); import e2e_common as C; C.system_txt('$R/system.txt')"
NG=$($PY -c "import torch;print(torch.cuda.device_count())" 2>/dev/null || echo 0)
echo "run $MOEKIT_RUN_ID on $KIND, $NG GPU(s), jobs: ${JOBS[*]}" | tee "$R/driver.log"
for job in "${JOBS[@]}"; do
  IFS=: read -r stack model budget <<< "$job"
  left=$(( WALL - ($(date +%s) - T0) - 45 ))
  if [ "$left" -lt 25 ]; then
    echo "[$stack $model] SKIPPED: wall-clock cap reached" | tee -a "$R/driver.log"
    echo "{\"model\": \"$model\", \"stack\": \"$stack\", \"reason\": \"not run: driver wall-clock cap\"}" >> "$R/driver.skipped.jsonl"
    continue
  fi
  [ "$budget" -gt "$left" ] && budget=$left
  extra=()
  if [ "$stack" = refcheck ]; then
    cmd=($PY $D/ref_executor.py); extra=(--selfcheck-only)
  elif [ "$stack" = hf ]; then
    cmd=($PY $D/hf_e2e.py)
  elif [ "$NG" -gt 1 ]; then
    cmd=(torchrun --standalone --nproc-per-node "$NG" $D/ref_executor.py)
  else
    cmd=($PY $D/ref_executor.py)
  fi
  timeout --kill-after=10 $(( budget + 40 )) "${cmd[@]}" --model "$model" --out "$R" --budget-s "$budget" "${extra[@]}" \
      > "$R/${stack}_${model}.log" 2>&1
  rc=$?
  echo "[$stack $model] exit $rc after $(( $(date +%s) - T0 )) s (budget $budget s)" | tee -a "$R/driver.log"
  [ $rc -ne 0 ] && tail -5 "$R/${stack}_${model}.log"
  grep -h "^INFO\|^SKIP" "$R/${stack}_${model}.log" | cut -c1-300 | tail -12
done
$PY $D/e2e_common.py merge "$R" "$R/e2e.csv" | tee -a "$R/driver.log"
cp "$R/e2e.csv" "$OUTROOT/e2e_$MOEKIT_RUN_ID.csv"
tar -czf "$OUTROOT/e2e_$MOEKIT_RUN_ID.tar.gz" -C /tmp/moekit_e2e "$MOEKIT_RUN_ID"
echo "done after $(( $(date +%s) - T0 )) s: $OUTROOT/e2e_$MOEKIT_RUN_ID.tar.gz"
