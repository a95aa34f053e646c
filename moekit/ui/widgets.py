"""Widget panels: controls that call the library and show what it computes.

A `Panel` holds ipywidgets controls, an HTML readout and (optionally) a figure area. Every
change of a control recomputes through the library and rewrites the readout; a value that
the library rejects shows its error instead. `panel.displayed(name)` reads back the text a
reader sees, so tests can set a control and check the display.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import re
from dataclasses import dataclass
from functools import lru_cache

import ipywidgets as W
import numpy as np

from moekit.errors import MoekitError
from moekit.evaluate import Evaluation, evaluate
from moekit.plan.search import label_of, search
from moekit.spec.inputs import DTYPE_BYTES, Hardware, Model, Strategy, Targets, Workload
from moekit.spec.presets import available, load_hardware, load_model
from moekit.ui import explain, plots

POWERS_OF_TWO = [2**i for i in range(0, 13)]
DTYPES = [d for d in DTYPE_BYTES if d not in ("fp32", "tf32")]


@dataclass(frozen=True)
class Reading:
    """One displayed number: a stable name, a label, the value and its unit."""

    name: str
    label: str
    value: float | str
    unit: str = ""

    @property
    def text(self) -> str:
        return format_value(self.value)


def format_value(value: float | str) -> str:
    """How a panel prints a number: 4 significant digits, thousands separated."""
    if isinstance(value, str):
        return value
    if value is None or not np.isfinite(value):
        return "n/a"
    if value != 0 and (abs(value) >= 1e7 or abs(value) < 1e-3):
        return f"{value:.4g}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def readout_html(readings: list[Reading]) -> str:
    """A two-column table; each value cell carries `data-name` for tests and browsers."""
    rows = "".join(
        f'<tr><td style="padding-right:1em">{html.escape(r.label)}</td>'
        f'<td class="moekit-value" data-name="{r.name}" style="text-align:right">'
        f"{html.escape(r.text)}</td><td>{html.escape(r.unit)}</td></tr>"
        for r in readings)
    return f'<table class="moekit-readout">{rows}</table>'


def figure_output(fig) -> dict:
    """A matplotlib Figure as a Jupyter display_data output (PNG)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
                     "text/plain": f"<Figure: {_title(fig)}>"}}


def _title(fig) -> str:
    titles = [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes]
    return next((t for t in titles if t), "figure").replace("\n", " ")


_CELL = re.compile(r'data-name="([^"]+)"[^>]*>([^<]*)</td>')


class Panel:
    """Controls + readout + figures. Subclasses implement `compute()`."""

    title = ""

    def __init__(self, controls: dict[str, W.ValueWidget], show_plots: bool = True):
        self.controls = controls
        self.readout = W.HTML()
        self.figures = W.Output() if show_plots else None
        self.readings: list[Reading] = []
        self.error = ""
        for name, control in controls.items():
            control.add_class(f"moekit-{name}")
            control.observe(self._changed, names="value")
        boxes = list(controls.values())
        rows = [W.HBox(boxes[i:i + 3]) for i in range(0, len(boxes), 3)]
        parts = [W.HTML(f"<h3>{html.escape(self.title)}</h3>"), *rows, self.readout]
        self.widget = W.VBox(parts + ([self.figures] if self.figures else []))
        self.widget.add_class("moekit-panel")
        self.update()

    def value(self, name: str):
        return self.controls[name].value

    def compute(self) -> tuple[list[Reading], list]:
        """(readings, figures) for the current control values."""
        raise NotImplementedError

    def _changed(self, change) -> None:
        self.update()

    def update(self) -> None:
        figures: list = []
        try:
            self.readings, figures = self.compute()
            self.error = ""
            self.readout.value = readout_html(self.readings)
        except (MoekitError, ValueError, KeyError) as exc:
            self.readings = []
            self.error = str(exc)
            self.readout.value = (f'<p class="moekit-error" style="color:#b00">'
                                  f"{html.escape(self.error)}</p>")
        if self.figures is not None:
            # set the Output widget's state directly: no capture of kernel messages, so the
            # figures land in the widget in Jupyter, Voila, nbval and plain Python alike
            self.figures.outputs = tuple(figure_output(fig) for fig in figures)

    def displayed(self, name: str) -> str:
        """The text the readout shows for reading `name` (what a reader sees)."""
        cells = dict(_CELL.findall(self.readout.value))
        if name not in cells:
            raise KeyError(f"{name!r} is not displayed; shown: {', '.join(cells) or self.error}")
        return html.unescape(cells[name])

    def text(self) -> str:
        """The readout as plain text, one reading per line."""
        if self.error:
            return f"{self.title}\n  error: {self.error}"
        width = max((len(r.label) for r in self.readings), default=0)
        lines = [f"  {r.label:<{width}}  {r.text} {r.unit}".rstrip() for r in self.readings]
        return "\n".join([self.title, *lines])

    def _repr_mimebundle_(self, **kwargs):
        data = self.widget._repr_mimebundle_(**kwargs)
        data["text/plain"] = self.text()
        return data


@lru_cache(maxsize=64)
def _model(name: str) -> Model:
    return load_model(name)


@lru_cache(maxsize=16)
def _hardware(name: str) -> Hardware:
    return load_hardware(name)


def _dropdown(description: str, options, value) -> W.Dropdown:
    return W.Dropdown(description=description, options=options, value=value,
                      style={"description_width": "initial"}, layout=W.Layout(width="auto"))


def _slider(description: str, options, value) -> W.SelectionSlider:
    return W.SelectionSlider(description=description, options=options, value=value,
                             continuous_update=False, style={"description_width": "initial"})


def _mfu_slider(value: float) -> W.FloatSlider:
    return W.FloatSlider(description="MFU", value=value, min=0.05, max=1.0, step=0.05,
                         continuous_update=False, readout_format=".2f")


# --- 00_cost_model panels -------------------------------------------------------------------


class IntensityPanel(Panel):
    """Arithmetic intensity of the routed-expert GEMMs in decode against the GPU's ridge point."""

    title = "Arithmetic intensity of an expert GEMM (decode)"

    def __init__(self, model: str = "mixtral-8x7b", hardware: str = "h100-sxm", batch: int = 64,
                 show_plots: bool = True):
        hw = _hardware(hardware)
        super().__init__({
            "model": _dropdown("model", available("models"), model),
            "hardware": _dropdown("GPU", available("hardware"), hardware),
            "dtype": _dropdown("precision", DTYPES, "bf16"),
            "batch": _slider("decode batch", POWERS_OF_TWO, batch),
            "mfu": _mfu_slider(hw.mfu),
        }, show_plots)

    def compute(self):
        model, hw = _model(self.value("model")), _hardware(self.value("hardware"))
        hw = dataclasses.replace(hw, mfu=self.value("mfu"))
        workload = Workload(batch=self.value("batch"), prompt_len=2048, output_len=256,
                            weight_dtype=self.value("dtype"))
        found = explain.expert_gemm_intensity(model, hw, workload)
        ridge = explain.ridge_intensity(hw, workload.compute_dtype)
        v = explain.sweep(model, hw, workload, explain.ONE_GPU)
        tokens = float(v["decode_tokens_per_rank"]) * model.top_k / model.num_experts
        readings = [
            Reading("tokens_per_expert", "tokens per expert (B k / E)", tokens, "tokens"),
            Reading("intensity", "expert GEMM intensity", found.value, "FLOP/B"),
            Reading("ridge", "ridge point (peak x MFU / (HBM x util))", ridge, "FLOP/B"),
            Reading("bound", "bound", "compute" if found.value >= ridge else "memory"),
        ]
        figures = [plots.roofline(hw, {f"expert GEMM, batch {workload.batch}": found.value},
                                  workload.compute_dtype, f"{model.name} experts on {hw.name}")]
        return readings, figures


class ComputeBoundPanel(Panel):
    """The decode batch at which each op turns compute-bound."""

    title = "Batch at which decode turns compute-bound"

    def __init__(self, model: str = "mixtral-8x7b", hardware: str = "h100-sxm",
                 show_plots: bool = False):
        hw = _hardware(hardware)
        super().__init__({
            "model": _dropdown("model", available("models"), model),
            "hardware": _dropdown("GPU", available("hardware"), hardware),
            "dtype": _dropdown("precision", DTYPES, "bf16"),
            "mfu": _mfu_slider(hw.mfu),
        }, show_plots)

    def compute(self):
        model, hw = _model(self.value("model")), _hardware(self.value("hardware"))
        hw = dataclasses.replace(hw, mfu=self.value("mfu"))
        workload = Workload(batch=1, prompt_len=2048, output_len=256, weight_dtype=self.value("dtype"))
        table = explain.compute_bound_batches(model, hw, workload)
        readings = [Reading(f"{op}_batch", f"{op} compute-bound from batch",
                            batch if np.isfinite(batch) else "never (up to 1e6)", "sequences")
                    for op, batch in zip(table["op"], table["compute_bound_from_batch"], strict=True)]
        readings.append(Reading("ridge", "ridge point", explain.ridge_intensity(hw, workload.compute_dtype),
                                "FLOP/B"))
        return readings, []


class ExpertsHitPanel(Panel):
    """Expected distinct experts a decode batch reads: E (1 - (1 - k/E)^B)."""

    title = "Distinct experts a decode batch reads"

    def __init__(self, model: str = "deepseek-v3", batch: int = 16, show_plots: bool = True):
        m = _model(model)
        self.model = m
        super().__init__({
            "num_experts": _slider("experts E", sorted({8, 16, 32, 64, 128, 160, 256, 384,
                                                          m.num_experts}), m.num_experts),
            "top_k": W.IntSlider(description="top-k", value=m.top_k, min=1, max=16,
                                 continuous_update=False),
            "batch": _slider("tokens B", POWERS_OF_TWO, batch),
        }, show_plots)

    def compute(self):
        e, k, b = self.value("num_experts"), self.value("top_k"), self.value("batch")
        if k > e:
            raise ValueError(f"top-k={k} exceeds E={e} experts")
        hit = float(explain.expected_experts_hit(self.model, b, e, k))
        readings = [
            Reading("experts_hit", "expected distinct experts", hit, "experts"),
            Reading("share_read", "share of expert weights read", hit / e, ""),
            Reading("naive", "naive min(E, k B)", float(min(e, k * b)), "experts"),
        ]
        tokens = np.asarray(POWERS_OF_TWO, dtype=float)
        curve = explain.expected_experts_hit(self.model, tokens, e, k)
        fig = plots.curve(tokens, {f"E={e}, k={k}": curve}, "tokens in the decode batch [log scale]",
                          "distinct experts read per layer", "Expected distinct experts read",
                          hline=e, hline_label=f"all {e} experts", marker=(b, hit))
        return readings, [fig]


class TPAllReducePanel(Panel):
    """Two TP all-reduces per layer against the compute that TP splits."""

    title = "TP all-reduce against the compute it splits"

    def __init__(self, model: str = "mixtral-8x7b", hardware: str = "h100-sxm", tp: int = 8,
                 tokens: int = 64, show_plots: bool = True):
        super().__init__({
            "model": _dropdown("model", available("models"), model),
            "hardware": _dropdown("GPU", available("hardware"), hardware),
            "phase": _dropdown("phase", ["decode", "prefill"], "decode"),
            "tp": _dropdown("tp", [2, 4, 8, 16, 32], tp),
            "tokens": _slider("sequences per rank", POWERS_OF_TWO, tokens),
        }, show_plots)

    def compute(self):
        model, hw = _model(self.value("model")), _hardware(self.value("hardware"))
        workload = Workload(batch=1, prompt_len=2048, output_len=256)
        phase, tp = self.value("phase"), self.value("tp")
        frame = explain.tp_allreduce_vs_compute(model, hw, workload, tps=(tp,),
                                                tokens=POWERS_OF_TWO, phase=phase)
        now = frame[frame["tokens_per_rank"] == self.value("tokens")].iloc[0]
        even = explain.tp_breakeven(explain.tp_allreduce_vs_compute(model, hw, workload, tps=(tp,),
                                                                    phase=phase))
        readings = [
            Reading("split_ms", "TP-split op time per layer", now["split_compute_s"] * 1e3, "ms"),
            Reading("allreduce_ms", "2 all-reduces per layer", now["allreduce_s"] * 1e3, "ms"),
            Reading("ratio", "all-reduce / split compute", now["allreduce_over_compute"], ""),
            Reading("breakeven", "split compute outweighs all-reduce from",
                    float(even["breakeven_tokens_per_rank"].iloc[0]), "sequences per rank"),
        ]
        fig = plots.curve(frame["tokens_per_rank"], {f"tp={tp}": frame["allreduce_over_compute"]},
                          "sequences per rank [log scale]", "all-reduce / split compute [log scale]",
                          f"{model.name} on {hw.name}, {phase}", logy=True, hline=1.0,
                          hline_label="equal cost",
                          marker=(now["tokens_per_rank"], now["allreduce_over_compute"]))
        return readings, [fig]


def _with(options: list, value) -> list:
    """The options with `value` among them (a document's degree may lie outside the usual ones)."""
    return sorted(set(options) | {value})


# --- strategy explorer ---------------------------------------------------------------------

DEGREE_OPTIONS = {
    "dp": [1, 2, 4, 8, 16, 32, 64],
    "tp": [1, 2, 4, 8, 16, 32, 64],
    "pp": [1, 2, 3, 4, 6, 8, 16],
    "ep": [1, 2, 4, 8, 16, 32, 64, 128, 256],
    "etp": [1, 2, 4, 8],
    "microbatches": [1, 2, 4, 8, 16, 32],
}


class StrategyExplorer(Panel):
    """Pick a model, a GPU and a strategy; see memory, TTFT, TPOT and throughput per GPU."""

    title = "Strategy explorer"

    def __init__(self, model: str = "mixtral-8x7b", hardware: str = "h100-sxm",
                 strategy: str = "DP4-TP2-EP8", batch: int = 64, prompt_len: int = 2048,
                 output_len: int = 256, show_plots: bool = True, extra: dict | None = None):
        s = Strategy.parse(strategy, "folded")
        extra = {"mfu": _hardware(hardware).mfu, "dtype": "bf16", "kv_dtype": "bf16", **(extra or {})}
        controls = {
            "model": _dropdown("model", available("models"), model),
            "config": W.Text(description="or config.json", placeholder="path to config.json or YAML",
                             continuous_update=False, style={"description_width": "initial"}),
            "hardware": _dropdown("GPU", available("hardware"), hardware),
        }
        for name, options in DEGREE_OPTIONS.items():
            controls[name] = _dropdown(name, _with(options, getattr(s, name)), getattr(s, name))
        controls.update({
            "batch": _dropdown("batch", _with(POWERS_OF_TWO, batch), batch),
            "prompt_len": _dropdown("prompt", _with([128, 512, 1024, 2048, 4096, 8192, 32768],
                                                    prompt_len), prompt_len),
            "output_len": _dropdown("output", _with([1, 128, 256, 512, 1024, 2048], output_len),
                                    output_len),
            "dtype": _dropdown("weights", DTYPES, extra["dtype"]),
            "kv_dtype": _dropdown("KV cache", DTYPES, extra["kv_dtype"]),
            "mfu": _mfu_slider(extra["mfu"]),
            "front_gpus": _dropdown("Pareto front up to GPUs",
                                    _with([8, 16, 32, 64, 128, 256], extra.get("front_gpus", 64)),
                                    extra.get("front_gpus", 64)),
        })
        self.evaluation: Evaluation | None = None
        self.plan = None
        super().__init__(controls, show_plots)

    def model(self) -> Model:
        path = self.value("config").strip()
        return load_model(path) if path else _model(self.value("model"))

    def strategy(self) -> Strategy:
        return Strategy(**{name: self.value(name) for name in DEGREE_OPTIONS})

    def workload(self) -> Workload:
        return Workload(batch=self.value("batch"), prompt_len=self.value("prompt_len"),
                        output_len=self.value("output_len"), weight_dtype=self.value("dtype"),
                        kv_dtype=self.value("kv_dtype"))

    def hardware(self) -> Hardware:
        return dataclasses.replace(_hardware(self.value("hardware")), mfu=self.value("mfu"))

    def compute(self):
        model, hardware, workload = self.model(), self.hardware(), self.workload()
        e = evaluate(model, hardware, workload, self.strategy())
        self.evaluation = e
        self.plan = _search(model, hardware, workload, self.value("front_gpus"))
        readings = deployment_readings(e) + front_readings(self.plan, e)
        figures = [plots.memory_bar(e), plots.time_breakdown(e), plots.pareto(self.plan, e)]
        return readings, figures


_SEARCHES: dict = {}


def _search(model: Model, hardware: Hardware, workload: Workload, max_gpus: int):
    """The searched space for the explorer's inputs; degrees do not change it, so it is kept."""
    key = (repr(model), repr(hardware), repr(workload), max_gpus)
    if key not in _SEARCHES:
        if len(_SEARCHES) > 8:
            _SEARCHES.clear()
        _SEARCHES[key] = search(model, hardware, workload, Targets(max_gpus=max_gpus))
    return _SEARCHES[key]


def dominating(plan, e: Evaluation) -> int:
    """How many strategies that fit memory beat `e` on TTFT, decode tokens/s per GPU and GPUs."""
    t = plan.table[plan.table.memory_ratio <= 1]
    ttft, tps, gpus = e["ttft_s"], e["decode_tokens_per_s_per_gpu"], e["gpus"]
    no_worse = (t.ttft_s <= ttft) & (t.decode_tokens_per_s_per_gpu >= tps) & (t.gpus <= gpus)
    better = (t.ttft_s < ttft) | (t.decode_tokens_per_s_per_gpu > tps) | (t.gpus < gpus)
    return int((no_worse & better).sum())


def front_readings(plan, e: Evaluation) -> list[Reading]:
    """Where the current strategy stands against the searched space."""
    best = plan.best
    beaten = dominating(plan, e)
    return [
        Reading("pareto", "on the Pareto front", "yes" if beaten == 0 else f"no ({beaten} dominate it)"),
        Reading("best_decode_label", "best decode throughput per GPU (searched)",
                label_of(best) if best is not None else "none fits"),
        Reading("best_decode_tps_gpu", "its decode throughput per GPU",
                best["decode_tokens_per_s_per_gpu"] if best is not None else float("nan"), "tokens/s"),
    ]


def deployment_readings(e: Evaluation) -> list[Reading]:
    """The headline numbers of one evaluated deployment, as a panel shows them."""
    v = e.values
    fits = v["memory_bytes_per_gpu"] <= e.hardware.memory_bytes
    return [
        Reading("gpus", "GPUs", v["gpus"]),
        Reading("memory_gb", "memory per GPU", v["memory_bytes_per_gpu"] / 1e9, "GB"),
        Reading("capacity_gb", "GPU capacity", e.hardware.memory_bytes / 1e9, "GB"),
        Reading("fits", "fits", "yes" if fits else "NO"),
        Reading("ttft_ms", "TTFT", v["ttft_s"] * 1e3, "ms"),
        Reading("tpot_ms", "TPOT", v["tpot_s"] * 1e3, "ms"),
        Reading("request_latency_s", "request latency", v["request_latency_s"], "s"),
        Reading("prefill_tps_gpu", "prefill throughput per GPU", v["prefill_tokens_per_s_per_gpu"],
                "tokens/s"),
        Reading("decode_tps_gpu", "decode throughput per GPU", v["decode_tokens_per_s_per_gpu"],
                "tokens/s"),
        Reading("ttft_bound_ms", "TTFT lower bound", v["ttft_lower_bound_s"] * 1e3, "ms"),
        Reading("tpot_bound_ms", "TPOT lower bound", v["tpot_lower_bound_s"] * 1e3, "ms"),
        Reading("bubble", "pipeline bubble", v["pipeline_bubble"], ""),
        Reading("imbalance", "decode expert imbalance", v["decode_expert_imbalance"], ""),
    ]


class ScenarioPanel(StrategyExplorer):
    """A document's deployment with its knobs: degrees, batch, lengths, precision, MFU.

    Starts at the scenario's stated values (its strategy folded); the model and GPU are the
    scenario's own, with their stated overrides.
    """

    def __init__(self, scenario, show_plots: bool = True):
        self.scenario = scenario
        self.title = f"{scenario.name}: move the document's knobs"
        s, w = scenario.strategy or Strategy(), scenario.workload
        super().__init__(strategy=s.label, batch=w.batch, prompt_len=w.prompt_len,
                         output_len=w.output_len, show_plots=show_plots,
                         extra={"mfu": scenario.hardware.mfu, "dtype": w.weight_dtype,
                                "kv_dtype": w.kv_dtype, "front_gpus": max(64, s.gpus)})

    def model(self) -> Model:
        return self.scenario.model

    def hardware(self) -> Hardware:
        return dataclasses.replace(self.scenario.hardware, mfu=self.value("mfu"))

    def workload(self) -> Workload:
        return dataclasses.replace(
            self.scenario.workload, batch=self.value("batch"), prompt_len=self.value("prompt_len"),
            output_len=self.value("output_len"), decode_context=0, weight_dtype=self.value("dtype"),
            kv_dtype=self.value("kv_dtype"), activation_dtype="", compute_dtype="")
