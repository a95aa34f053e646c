"""What a plan states about its deployment: model, GPU, workload, strategy and targets.

Each comes from the `moekit draft` flags first, then from the text: a bundled model or GPU named in
it, a GPU preset whose figures agree with the ones the plan states, an architecture the plan spells
out (an inline model, with what it leaves out guessed), the workload's numbers, the strategy in the
convention the plan itself multiplies. Every choice is recorded as an assumption, guesses marked
'guess:'; what cannot be had is added to `unresolved`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from moekit.draft import phrases
from moekit.draft.document import Line
from moekit.draft.notation import Found, decide_convention
from moekit.draft.readings import Reading, printed_value
from moekit.errors import SpecError
from moekit.resources import DATA_DIR, available
from moekit.spec.inputs import DTYPE_BYTES, Strategy
from moekit.spec.presets import load_hardware

_PRECISION = re.compile(r"\b(FP8|FP16|BF16|FP32|INT8|INT4|FP4)\b", re.I)
_GPUS = {"h100": "h100-sxm", "h200": "h200", "a100": "a100-80gb", "b200": "b200"}


@dataclass(frozen=True)
class Options:
    """What the user knows beyond the text (the `moekit draft` flags); None: read it from the text."""

    model: str | None = None
    hardware: str | None = None
    strategy: str | None = None
    batch: int | None = None
    prompt: int | None = None
    output: int | None = None
    name: str = "drafted_plan"
    source: str = "a plan document"


# --- what the document states ---------------------------------------------------------------


def inputs_by_key(readings: list[Reading]) -> dict[str, list[Reading]]:
    """Readings of input quantities by key: those taken as given first, then restated claims."""
    out: dict[str, list[Reading]] = {}
    for role in ("input", "claim"):
        for r in readings:
            if r.role == role and r.quantity.role == "input" and not r.other_plan:
                out.setdefault(r.quantity.key, []).append(r)
    return out


def _first(inputs: dict, key: str, pick: str = "first") -> Reading | None:
    found = inputs.get(key) or []
    if not found:
        return None
    if pick == "high":  # the longest stated sequence: memory must fit it
        return max(found, key=lambda r: r.number.si)
    return found[0]


def stated_values(readings: list[Reading]) -> dict:
    """`stated:` values: doc_<quantity>[_low|_high][_2...] as printed (in SI where a scale was used)."""
    stated: dict[str, object] = {}
    seen: dict[str, float] = {}
    for r in readings:
        if r.role not in ("input", "target") or r.quantity is None:
            continue
        if r.quantity.key.startswith("degree"):  # stated once, from the strategy (doc_tp, doc_ep...)
            r.claim_id = "strategy"
            continue
        base = f"doc_{r.quantity.key}" + ("_target" if r.role == "target" else "")
        base += f"_{r.number.range_end}" if r.number.range_end else ""
        if base in seen and abs(seen[base] - r.number.si) <= 1e-9 * max(1.0, abs(r.number.si)):
            continue
        name, k = base, 2
        while name in stated:
            name, k = f"{base}_{k}", k + 1
        seen.setdefault(base, r.number.si)
        value = (
            r.number.text
            if r.number.scale == 1 and r.number.unit
            else printed_value(r.number)
            if r.number.scale == 1
            else r.number.si
        )
        stated[name] = value
        r.claim_id = name
    return stated


# --- model, hardware, workload ----------------------------------------------------------------


def _preset_pattern(name: str) -> re.Pattern:
    parts = [re.escape(p) for p in name.split("-")]
    return re.compile(r"(?<![\w.])" + r"[-_ ]?".join(parts) + r"(?![\w.])", re.I)


def _recognised_model(text: str) -> tuple[str, str] | None:
    """(preset, as written) for the longest bundled model name the text mentions."""
    names = set(available("models")) | {p.stem for p in (DATA_DIR / "hf_configs").glob("*.json")}
    hits = []
    for name in sorted(names):
        if name.startswith("seed-"):
            continue
        match = _preset_pattern(name).search(text)
        if match:
            hits.append((len(name), name, match.group(0)))
    if not hits:
        return None
    _, name, written = max(hits)
    return name, written


def _recognised_gpu(text: str) -> tuple[str, str] | None:
    for word, preset in _GPUS.items():
        match = re.search(rf"(?<![A-Za-z0-9]){word}(?![0-9])", text, re.I)
        if match and preset in available("hardware"):
            return preset, match.group(0)
    return None


def _matching_hardware(inputs: dict) -> str | None:
    """The one bundled GPU whose memory, peak and bandwidth all agree with what the plan states."""
    stated = {key: _first(inputs, key) for key in ("gpu_memory", "peak_flops", "hbm_bandwidth")}
    stated = {k: r.number.si for k, r in stated.items() if r is not None}
    if not stated:
        return None
    matches = []
    for name in available("hardware"):
        gpu = load_hardware(name)
        values = {
            "gpu_memory": gpu.memory_bytes,
            "hbm_bandwidth": gpu.hbm_bandwidth,
            "peak_flops": max(gpu.peak_flops.get("bf16", 0), gpu.peak_flops.get("fp16", 0)),
        }
        if all(abs(values[k] / v - 1) <= 0.02 for k, v in stated.items()):
            matches.append(name)
    return matches[0] if len(matches) == 1 else None


class Assumptions:
    def __init__(self):
        self.items: list[dict] = []

    def add(self, name: str, text: str, model: bool = True) -> str:
        if not any(a["name"] == name for a in self.items):
            self.items.append({"name": name, "text": text, "model": model})
        return name


def model_of(opts: Options, text: str, inputs: dict, assume: Assumptions, unresolved: list) -> object:
    if opts.model:
        assume.add("model_given", f"the model is {opts.model} (given with --model)")
        return opts.model
    recognised = _recognised_model(text)
    if recognised:
        name, written = recognised
        assume.add(
            "model_recognised",
            f"guess: the model is the bundled preset {name}, recognised from {written!r} in the text",
        )
        return name
    return _inline_model(inputs, assume, unresolved)


def _integer(reading: Reading | None) -> int | None:
    if reading is None:
        return None
    value = reading.number.si
    return int(round(value)) if value > 0 and abs(value - round(value)) < 1e-6 else None


def _inline_model(inputs: dict, assume: Assumptions, unresolved: list) -> object:
    """A model built from the architecture the plan states, with what it leaves out guessed."""
    get = {
        k: _integer(_first(inputs, k))
        for k in (
            "num_layers",
            "d_model",
            "num_heads",
            "head_dim",
            "num_kv_heads",
            "num_experts",
            "expert_ffn_dim",
            "top_k",
            "vocab_size",
        )
    }
    heads = get["num_heads"] or (
        get["d_model"] // get["head_dim"] if get["d_model"] and get["head_dim"] else None
    )
    needed = [k for k in ("num_layers", "d_model") if not get[k]] + ([] if heads else ["num_heads"])
    if get["num_experts"] and not get["expert_ffn_dim"]:
        needed.append("expert_ffn_dim")
    if needed:
        unresolved.append(
            {
                "what": "model",
                "reason": "no bundled model is named and the text does not state "
                f"{', '.join(needed)}; pass --model (a preset, YAML file or config.json)",
            }
        )
        return None
    lines = ", ".join(f"{k} {v} (line {_first(inputs, k).line.number})" for k, v in get.items() if v)
    model = {
        "name": "plan-model",
        "num_layers": get["num_layers"],
        "d_model": get["d_model"],
        "num_heads": heads,
        "vocab_size": get["vocab_size"] or 32000,
    }
    guesses = [] if get["vocab_size"] else ["vocab_size 32000"]
    if get["head_dim"]:
        model["head_dim"] = get["head_dim"]
    if get["num_kv_heads"]:
        model.update(num_kv_heads=get["num_kv_heads"], attention="gqa")
    else:
        model["attention"] = "mha"
        guesses.append("multi-head attention (as many KV heads as heads)")
    if get["num_experts"]:
        top_k = _integer(_first(inputs, "top_k")) or 2
        model.update(
            num_experts=get["num_experts"],
            top_k=min(top_k, get["num_experts"]),
            expert_ffn_dim=get["expert_ffn_dim"],
            gated_ffn=True,
        )
        guesses += ([] if get["top_k"] else ["top-2 routing"]) + ["gated (SwiGLU, 3-matrix) experts"]
    else:
        model.update(dense_ffn_dim=4 * get["d_model"])
        guesses.append(f"a dense FFN of 4 x d_model = {4 * get['d_model']}")
    assume.add(
        "plan_architecture",
        f"the model is the architecture the plan states ({lines}); guessed, "
        f"as the plan does not say: {', '.join(guesses)}",
    )
    return model


def hardware_of(opts: Options, text: str, inputs: dict, assume: Assumptions, unresolved: list) -> object:
    if opts.hardware:
        assume.add("hardware_given", f"the GPU is {opts.hardware} (given with --hardware)")
        return opts.hardware
    named = _recognised_gpu(text)
    if named:
        assume.add(
            "hardware_recognised",
            f"guess: the GPU is the bundled preset {named[0]}, recognised from {named[1]!r} in the text",
        )
        return named[0]
    matched = _matching_hardware(inputs)
    if matched:
        stated = ", ".join(
            f"{_first(inputs, k).number.text} (line {_first(inputs, k).line.number})"
            for k in ("peak_flops", "hbm_bandwidth", "gpu_memory")
            if _first(inputs, k)
        )
        assume.add(
            "hardware_matched",
            f"guess: the GPU is the bundled preset {matched}, the one whose "
            f"figures agree with the plan's {stated}",
        )
        return matched
    peak, hbm, memory = (_first(inputs, k) for k in ("peak_flops", "hbm_bandwidth", "gpu_memory"))
    if peak and hbm and memory:
        assume.add(
            "plan_gpu",
            f"the GPU is the one the plan states: {peak.number.text}, {hbm.number.text}, "
            f"{memory.number.text} (lines {peak.line.number}, {hbm.line.number}, {memory.line.number}); "
            "links and latencies are moekit's defaults",
        )
        flops = f"{peak.number.si / 1e12:g} TFLOP/s"
        return {
            "name": "plan-gpu",
            "peak_flops": {d: flops for d in ("fp16", "bf16", "fp8")},
            "hbm_bandwidth": f"{hbm.number.si / 1e12:g} TB/s",
            "memory_bytes": f"{memory.number.si / 1e9:g} GB",
        }
    unresolved.append(
        {
            "what": "hardware",
            "reason": "no GPU is named and the text does not state its peak "
            "FLOP/s, HBM bandwidth and memory; pass --hardware (a preset or YAML file)",
        }
    )
    return None


def hardware_overrides(inputs: dict, assume: Assumptions) -> dict:
    """Efficiency inputs the plan states itself (MFU, HBM utilisation): they replace the preset's."""
    out = {}
    for key, field_name in (("mfu", "mfu"), ("hbm_utilization", "hbm_utilization")):
        reading = _first(inputs, key)
        if reading and 0 < reading.number.si <= 1:
            out[field_name] = round(reading.number.si, 6)
            assume.add(
                f"plan_{key}",
                f"{field_name} {reading.number.text} is the plan's own (line "
                f"{reading.line.number}) and replaces the GPU preset's",
            )
    return out


def _dtype(lines: list[Line], assume: Assumptions) -> tuple[str, str]:
    """(weight dtype, kv dtype) from the precisions the text names."""
    weight, kv = "", ""
    for line in lines:
        for match in _PRECISION.finditer(line.text):
            dtype = match.group(1).lower()
            near = line.text[max(0, match.start() - 30) : match.end() + 30].lower()
            if dtype not in DTYPE_BYTES or re.search(r"master|training|for compute|gradient", near):
                continue
            after = line.text[match.end() : match.end() + 30].lower()
            if re.search(r"kv[- ]?cache|\bkv\b", near) and not kv:
                kv = dtype
            if not weight and (
                re.search(r"weights?|precision|dtype|quantiz", near)
                or not re.search(r"kv[- ]?cache|\bkv\b", after)
            ):
                weight = dtype
                assume.add("precision", f"weights in {dtype} (line {line.number}: {line.plain[:60]!r})")
    if not weight:
        weight = "bf16"
        assume.add("precision", "guess: no precision is stated; bf16 weights are used")
    return weight, kv


def workload_of(opts: Options, inputs: dict, lines: list[Line], found: Found, assume: Assumptions) -> dict:
    def value(flag, key, pick, guess, what):
        if flag is not None:
            assume.add(f"{key}_given", f"{what} {flag} (given on the command line)")
            return flag
        reading = _first(inputs, key, pick)
        number = _integer(reading)
        if number:
            extra = (
                " (the longest stated: memory must fit it)" if pick == "high" and len(inputs[key]) > 1 else ""
            )
            assume.add(key, f"{what} {number}{extra} (line {reading.line.number})")
            return number
        assume.add(key, f"guess: no {what} is stated; {guess} is used")
        return guess

    weight, kv = _dtype(lines, assume)
    workload = {
        "batch": value(opts.batch, "batch", "first", 1, "batch of"),
        "prompt_len": value(opts.prompt, "seq_len", "high", 1024, "prompt length"),
        "output_len": value(opts.output, "output_len", "first", 1, "output length"),
        "weight_dtype": weight,
    }
    if kv:
        workload["kv_dtype"] = kv
    return workload


def strategy_of(
    opts: Options,
    found: Found,
    readings: list[Reading],
    workload: dict,
    assume: Assumptions,
    unresolved: list,
) -> dict | None:
    stated_gpus = [
        int(r.number.si)
        for r in readings
        if r.quantity is not None and r.quantity.key == "gpu_count" and r.role == "claim"
    ]
    notation = opts.strategy or found.written()
    for degree in found.unsupported:
        unresolved.append(
            {
                "line": degree.line,
                "text": degree.text,
                "what": f"{degree.dim}{degree.value}",
                "reason": f"{degree.dim} (context/sequence parallelism) is not modelled by moekit",
            }
        )
    if not notation:
        unresolved.append(
            {"what": "strategy", "reason": "no parallel degrees (EP/TP/PP/DP) are stated; pass --strategy"}
        )
        return None
    if opts.strategy:
        convention, why = "auto", "given with --strategy"
    else:
        convention, why = decide_convention(found, stated_gpus)
    try:
        strategy = Strategy.parse(notation, convention if convention != "auto" else "auto")
    except SpecError as exc:
        unresolved.append(
            {"what": "strategy", "reason": f"{notation!r} is not a strategy moekit reads: {exc}"}
        )
        return None
    where = f" (line {found.notation_line})" if found.notation_line else ""
    assume.add(f"{strategy.convention}_convention", f"strategy {notation}{where}: {why}")
    out = {"notation": notation, "convention": strategy.convention}
    microbatches = found.microbatches
    if not microbatches and found.microbatch_size and workload["batch"] % found.microbatch_size == 0:
        microbatches = workload["batch"] // found.microbatch_size
        if workload["batch"] % (strategy.dp * microbatches):
            microbatches = 0
    if microbatches > 1:
        out["microbatches"] = microbatches
        assume.add(
            "microbatches",
            f"{microbatches} micro-batches fill the pipeline"
            + (
                f" (line {found.microbatches_line})"
                if found.microbatches_line
                else f" (batch {workload['batch']} / micro-batch size {found.microbatch_size})"
            ),
        )
    return out


def targets_of(readings: list[Reading], phase: str, assume: Assumptions, unresolved: list) -> dict:
    targets: dict[str, object] = {}
    for r in readings:
        if r.role != "target":
            continue
        field_name = phrases.TARGET_FIELDS.get(r.quantity.key, "").replace("{phase}", phase)
        if not field_name:
            unresolved.append(
                {
                    "line": r.line.number,
                    "text": r.line.plain,
                    "value": r.number.text,
                    "reason": f"a requirement on {r.quantity.label}, which moekit's targets do not hold",
                }
            )
            continue
        if field_name in targets:
            continue
        if field_name == "min_load_balance":
            targets[field_name] = round(r.number.si, 6)
        else:
            targets[field_name] = r.number.text
        assume.add("targets", "requirements the plan states are its targets", model=False)
    return targets
