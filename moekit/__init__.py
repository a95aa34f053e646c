"""moekit: cost model, audit and strategy search for Mixture-of-Experts inference deployments."""

from moekit.errors import MoekitError, SpecError
from moekit.evaluate import Evaluation, evaluate, evaluate_arrays
from moekit.presets import load_hardware, load_model
from moekit.specs import Hardware, Model, Strategy, Targets, Workload

__all__ = [
    "Evaluation", "Hardware", "Model", "MoekitError", "SpecError", "Strategy", "Targets", "Workload",
    "evaluate", "evaluate_arrays", "load_hardware", "load_model",
]
