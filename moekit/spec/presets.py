"""Load models and GPUs: bundled presets by name, YAML preset files, Hugging Face config.json.

YAML is read with `yaml.safe_load` only. Preset files carry `source`, `notes` and
`assumed` beside the spec fields, so every number says where it comes from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from moekit.errors import SpecError
from moekit.resources import DATA_DIR, available
from moekit.spec.hf_config import read_hf_config
from moekit.spec.inputs import Hardware, Model, Preset

METADATA_KEYS = ("source", "notes", "assumed")

#: hardware variants ('h200@calibrated'): variant -> (builder(gpu, variant) -> Preset, the GPUs it has).
#: The layer that builds them registers them (moekit.calibration); presets never import it back.
HARDWARE_VARIANTS: dict[str, tuple[Callable[[str, str], Preset], tuple[str, ...]]] = {}


def register_hardware_variant(variant: str, build: Callable[[str, str], Preset],
                              gpus: tuple[str, ...]) -> None:
    """Make 'GPU@variant' loadable by name for each of `gpus`."""
    HARDWARE_VARIANTS[variant] = (build, tuple(gpus))


def available_variants() -> list[str]:
    """Every registered 'GPU@variant' name."""
    return sorted(f"{gpu}@{variant}" for variant, (_, gpus) in HARDWARE_VARIANTS.items() for gpu in gpus)


def read_yaml(path: Path) -> object:
    """Parse a YAML file safely; malformed YAML becomes a SpecError naming file and line."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SpecError(str(path), f"cannot read file ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(str(path), f"malformed YAML{at}: {problem}") from None


def _split_metadata(data: object, where: str) -> tuple[dict, dict]:
    if not isinstance(data, dict):
        raise SpecError(where, f"expected a mapping of fields, got {type(data).__name__}")
    fields = {k: v for k, v in data.items() if k not in METADATA_KEYS}
    meta = {k: data[k] for k in METADATA_KEYS if k in data}
    return fields, meta


def _preset_path(kind: str, name: str) -> Path | None:
    path = Path(name)
    if path.suffix in (".yaml", ".yml", ".json") and path.exists():
        return path
    if kind == "models" and path.is_dir() and (path / "config.json").exists():  # a HF snapshot folder
        return path / "config.json"
    candidate = DATA_DIR / kind / f"{name.lower()}.yaml"
    if kind == "models" and not candidate.exists():  # a bundled config.json by its name
        candidate = DATA_DIR / "hf_configs" / f"{name.lower()}.json"
    return candidate if candidate.exists() else None


def model_from_mapping(data: dict, where: str) -> Preset:
    """A model preset from a mapping of flat fields plus optional metadata."""
    fields, meta = _split_metadata(data, where)
    return Preset(Model.from_dict(fields, where), meta.get("source"), meta.get("notes", ""),
                  meta.get("assumed") or {}, where)


def hardware_from_mapping(data: dict, where: str) -> Preset:
    """A hardware preset from a mapping of fields plus optional metadata."""
    fields, meta = _split_metadata(data, where)
    return Preset(Hardware.from_dict(fields, where), meta.get("source"), meta.get("notes", ""),
                  meta.get("assumed") or {}, where)


def load_model_preset(name_or_path: str | Path) -> Preset:
    """A model with its sources: a bundled preset name, a YAML preset, a config.json or a Hugging
    Face snapshot folder holding one (what the config reader left out is in `notes`)."""
    name = str(name_or_path)
    path = _preset_path("models", name)
    if path is None:
        raise SpecError(f"model {name!r}", "no such preset or file; presets: "
                        + ", ".join(available("models")))
    if path.suffix == ".json":
        try:
            config = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise SpecError(str(path), f"malformed JSON at line {exc.lineno}: {exc.msg}") from None
        if not isinstance(config, dict):
            raise SpecError(str(path), "a config.json must hold a JSON object")
        label = path.parent.name if path.stem == "config" else path.stem
        reading = read_hf_config(config, label)
        return Preset(Model.from_dict(reading.fields, str(path)), config.get("_source", str(path)),
                      "; ".join(reading.notes), {}, str(path))
    return model_from_mapping(read_yaml(path), str(path))


def load_hardware_preset(name_or_path: str | Path) -> Preset:
    """A GPU with its sources: a bundled preset name, a YAML file, or a calibrated variant
    such as 'h100-sxm@calibrated' (the preset with efficiencies fitted to GPU measurements)."""
    name = str(name_or_path)
    if "@" in name:
        gpu, variant = name.lower().split("@", 1)
        if variant not in HARDWARE_VARIANTS or gpu not in HARDWARE_VARIANTS[variant][1]:
            raise SpecError(f"hardware {name!r}", "no such variant; variants: "
                            + (", ".join(available_variants()) or "none registered"))
        return HARDWARE_VARIANTS[variant][0](gpu, variant)
    path = _preset_path("hardware", name)
    if path is None or path.suffix == ".json":
        raise SpecError(f"hardware {name!r}", "no such preset or YAML file; presets: "
                        + ", ".join(available("hardware") + available_variants()))
    return hardware_from_mapping(read_yaml(path), str(path))


def load_model(name_or_path: str | Path) -> Model:
    """A Model from a preset name (e.g. 'mixtral-8x7b'), a YAML preset or an HF config.json."""
    return load_model_preset(name_or_path).spec


def load_hardware(name_or_path: str | Path) -> Hardware:
    """A Hardware from a preset name (e.g. 'h100-sxm') or a YAML file."""
    return load_hardware_preset(name_or_path).spec
