"""Jupyter views: formula explanations, matplotlib figures, ipywidgets panels."""
