"""Stored notebook outputs are what nbval compares: keep them clean and portable."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_outputs_and_no_warnings_or_local_paths(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    outputs = [o for c in cells for o in c.get("outputs", [])]
    assert outputs, "executed notebooks are committed with their outputs"
    stderr = [o for o in outputs if o.get("name") == "stderr"]
    assert not stderr, f"a warning was stored (it would embed a path): {stderr[0]['text'][:200]}"
    assert "/work/" not in json.dumps(outputs) and "/tmp/" not in json.dumps(outputs)
