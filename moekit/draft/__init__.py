"""Draft a scenario from a plan's text: rule-based, deterministic, no network, no language model.

`draft(text, Options(...))` reads a plan (Markdown or plain text) and returns a `Draft` whose
`scenario` mapping `moekit.audit.scenario` loads. document.py reads the lines (sections, tables,
code blocks), numbers.py the numbers and units, arithmetic.py the plan's own arithmetic,
notation.py the parallel strategy, phrases.py (the phrase table) what each number is,
readings.py each number's words and role, recognise.py the model, GPU, workload and targets, and
writer.py the claims and the scenario.
"""

from moekit.draft.writer import Draft, Options, Reading, draft

__all__ = ["Draft", "Options", "Reading", "draft"]
