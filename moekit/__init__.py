"""moekit: cost model, audit and strategy search for Mixture-of-Experts inference deployments."""

from moekit import calibration  # noqa: F401  (registers the GPU@calibrated presets)
from moekit.errors import MoekitError, SpecError
from moekit.evaluate import Evaluation, evaluate, evaluate_arrays
from moekit.spec.inputs import Hardware, Model, Strategy, Targets, Workload
from moekit.spec.presets import load_hardware, load_model

__all__ = [
    "Evaluation", "Hardware", "Model", "MoekitError", "SpecError", "Strategy", "Targets", "Workload",
    "evaluate", "evaluate_arrays", "load_hardware", "load_model",
]
