#!/usr/bin/env bash
# Re-execute every notebook top to bottom in a fresh kernel and save it with its outputs,
# so that `pytest --nbval notebooks/` compares against what the code computes now.
# Usage: notebooks/run_all.sh [NOTEBOOK ...]   (default: all of notebooks/*.ipynb)
set -euo pipefail
cd "$(dirname "$0")/.."
JUPYTER="${JUPYTER:-.venv/bin/jupyter}"
[ -x "$JUPYTER" ] || JUPYTER=jupyter
if [ $# -eq 0 ]; then set -- notebooks/*.ipynb; fi
for nb in "$@"; do
    start=$(date +%s.%N)
    "$JUPYTER" nbconvert --to notebook --execute --inplace \
        --ExecutePreprocessor.timeout=120 --ExecutePreprocessor.kernel_name=python3 "$nb" 2>/dev/null
    printf '%-50s %5.1f s\n' "$nb" "$(echo "$(date +%s.%N) - $start" | bc)"
done
