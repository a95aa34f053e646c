"""Calibration: efficiency figures fitted to measured GPU kernels, and the `GPU@calibrated` presets.

Importing this package registers the calibrated hardware variants with moekit.spec.presets.
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
from moekit.spec.presets import register_hardware_variant

for _variant in VARIANTS:
    register_hardware_variant(_variant, calibrated_preset, tuple(DEVICE_KINDS))

__all__ = ["DEVICE_KINDS", "FRACTIONS", "VARIANTS", "accuracy_table", "calibrated_preset", "case",
           "fitted_parameters", "measurements", "parameter_table", "plot_predicted_vs_measured",
           "predict", "predictions", "sm_count"]
