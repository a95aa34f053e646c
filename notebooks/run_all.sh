#!/usr/bin/env bash
# Re-execute every notebook top to bottom in a fresh kernel and save it with its outputs,
# so that `pytest --nbval notebooks/` compares against what the code computes now.
# Usage: notebooks/run_all.sh [NOTEBOOK ...]   (default: all of notebooks/*.ipynb)
set -euo pipefail
cd "$(dirname "$0")/.."
JUPYTER="${JUPYTER:-.venv/bin/jupyter}"
[ -x "$JUPYTER" ] || JUPYTER=jupyter
PYTHON="${JUPYTER%jupyter}python"
[ -x "$PYTHON" ] || PYTHON=python3
if [ $# -eq 0 ]; then set -- notebooks/*.ipynb; fi
for nb in "$@"; do
    start=$(date +%s.%N)
    "$JUPYTER" nbconvert --to notebook --execute --inplace \
        --ExecutePreprocessor.timeout=120 --ExecutePreprocessor.kernel_name=python3 "$nb" 2>/dev/null
    # drop the execution timestamps, so a re-run that computes the same outputs changes nothing
    "$PYTHON" - "$nb" <<'PY'
import json, sys
path = sys.argv[1]
nb = json.load(open(path))
for cell in nb["cells"]:
    cell.get("metadata", {}).pop("execution", None)
json.dump(nb, open(path, "w"), indent=1, ensure_ascii=False)
open(path, "a").write("\n")
PY
    printf '%-50s %5.1f s\n' "$nb" "$(echo "$(date +%s.%N) - $start" | bc)"
done
