"""The package layout: no import cycles (imports inside functions count too), a short top level,
pyproject listing every subpackage, and a wheel that runs the main job with its own data."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "moekit"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """moekit module -> the moekit modules it imports, anywhere in its body."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_at_most_ten_modules_stay_at_the_top():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top


def test_pyproject_lists_every_subpackage():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(p.parent / "__init__.py") for p in PACKAGE.rglob("__init__.py")}
    assert found | {"moekit.data"} == listed


def test_no_scenario_names_a_path_outside_the_repository():
    for path in (ROOT / "data" / "scenarios").glob("*.yaml"):
        text = path.read_text()
        assert "../" not in text and "shared/seeds" not in text, path.name


@pytest.mark.skipif(os.environ.get("MOEKIT_SKIP_WHEEL") == "1", reason="MOEKIT_SKIP_WHEEL=1")
def test_a_built_wheel_runs_the_main_job_in_a_fresh_environment(tmp_path):
    """`pip wheel .` then install it (no editable link, no source tree) and run the CLI from elsewhere."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(ROOT)], check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("moekit-*.whl")
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # the dependencies come from the test environment's site-packages, added as a plain path (its
    # .pth files, among them the editable install's finder, are not run), so nothing is downloaded
    deps = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "numpy").is_dir())
    (site,) = env_dir.glob("lib/python*/site-packages")
    (site / "test_deps.pth").write_text(deps + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--force-reinstall",
                    str(wheel)], check=True, cwd=tmp_path)

    def moekit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([python, "-m", "moekit.cli", *args], capture_output=True, text=True,
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""})

    where = moekit("--help")
    assert where.returncode == 0, where.stderr
    located = subprocess.run([python, "-c", "import moekit, moekit.resources as r; "
                              "print(moekit.__file__); print(r.DATA_DIR)"],
                             capture_output=True, text=True, cwd=tmp_path).stdout.split()
    assert all(str(env_dir) in line for line in located), located  # the wheel's copy, not the tree
    params = moekit("params", "--model", "mixtral-8x7b")
    assert params.returncode == 0 and "46.7" in params.stdout, params.stdout + params.stderr
    audited = moekit("audit")
    assert audited.returncode == 0, audited.stderr
    assert audited.stdout.count("== ") == len(list((ROOT / "data" / "scenarios").glob("*.yaml")))
    calibrated = moekit("evaluate", "--model", "olmoe-1b-7b", "--hardware", "h200@calibrated",
                        "--batch", "1", "--prompt", "128")
    assert calibrated.returncode == 0, calibrated.stderr


@pytest.mark.parametrize("module", ["parameters", "flops", "parallel", "memory", "communication",
                                    "timing", "bounds"])
def test_each_formula_module_opens_with_a_legend_of_the_symbols_it_uses(module):
    tree = ast.parse((PACKAGE / "formulas" / f"{module}.py").read_text())
    doc = ast.get_docstring(tree)
    used = [a.name for node in tree.body if isinstance(node, ast.ImportFrom)
            and node.module == "moekit.formulas.symbols" for a in node.names]
    legend = doc.split("Legend", 1)[1]
    missing = [n for n in used if f"    {n} " not in legend]
    assert not missing, f"{module}: legend lacks {missing}"
