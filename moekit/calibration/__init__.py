"""Calibration: efficiency figures fitted to measured GPU kernels, and the `GPU@calibrated` presets.

Importing this package registers the calibrated hardware variants with moekit.spec.presets and the
stack fitters with moekit.spec.stack.
"""

from moekit.calibration.fit import (
    DEVICE_KINDS,
    FRACTIONS,
    VARIANTS,
    accuracy_table,
    calibrated_preset,
    case,
    fitted_parameters,
    measurements,
    parameter_table,
    plot_predicted_vs_measured,
    predict,
    predictions,
    sm_count,
)
from moekit.calibration.stacks import fit_rows_stack, gpu_calibration_stack, predict_rows
from moekit.spec.presets import register_hardware_variant
from moekit.spec.stack import register_stack_fitter

for _variant in VARIANTS:
    register_hardware_variant(_variant, calibrated_preset, tuple(DEVICE_KINDS))
register_stack_fitter("rows", fit_rows_stack)
register_stack_fitter("gpu-microbenchmarks", gpu_calibration_stack)

__all__ = ["DEVICE_KINDS", "FRACTIONS", "VARIANTS", "accuracy_table", "calibrated_preset", "case",
           "fitted_parameters", "measurements", "parameter_table", "plot_predicted_vs_measured",
           "predict", "predict_rows", "predictions", "sm_count"]
