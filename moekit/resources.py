"""The files moekit reads at run time: the top-level `data/` folder, installed as the package
`moekit.data` (pyproject maps it), read through importlib.resources so that a wheel, `pip install .`
and an editable install find the same presets, scenarios and measurements."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: the bundled data folder on disk (presets, scenarios, stacks, measurements, peers, deployments)
DATA_DIR = Path(str(files("moekit.data")))


def available(kind: str) -> list[str]:
    """Names of the bundled YAML files of `kind` (a data subfolder: 'models', 'hardware', ...)."""
    return sorted(p.stem for p in (DATA_DIR / kind).glob("*.yaml"))
