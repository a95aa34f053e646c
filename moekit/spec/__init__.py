"""Inputs: validated specs (Model, Hardware, Workload, Strategy, Targets), units, presets, HF configs."""
