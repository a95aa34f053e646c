"""Notebook 11 (audit your own plan) as a web app: Voila serves it, Chromium (Playwright) uses it once.

Gives the plan's "30.5B parameters" claim another quantity in a real browser and checks that its
suggested check and its verdict change to what the library computes. Needs `/usr/bin/chromium`
(Debian package) and the `playwright` and `voila` Python packages (tests/browser.py).
Skipped only when Chromium is absent and the CI variable is unset; in CI it must run.
"""

from __future__ import annotations

import pytest
from browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, require_playwright, voila_server

from moekit.ui.draft_widgets import PlanAuditor

NOTEBOOK = ROOT / "notebooks" / "11_audit_your_plan.ipynb"
PLAN = ROOT / "data" / "plans" / "qwen3_30b_a3b_h200_dp8_ep8.md"

playwright_api = require_playwright()


@pytest.fixture(scope="module")
def voila_url():
    with voila_server(NOTEBOOK) as url:
        yield url


def expected() -> tuple[str, str]:
    """The verdict of total_parameters before and after it is read as active parameters."""
    auditor = PlanAuditor(PLAN.read_text())
    before = auditor.verdict("total_parameters")
    auditor.row("total_parameters").quantity.value = "active_parameters"
    return before, auditor.verdict("total_parameters")


def test_audit_your_plan_in_chromium_follows_a_changed_quantity(voila_url):
    before, after = expected()
    assert (before, after) == ("ok", "model_error")
    verdict = '.moekit-verdicts [data-name="total_parameters"]'
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 2600})
            page.goto(voila_url, timeout=90_000)
            cell = page.locator(verdict)
            cell.wait_for(timeout=90_000)
            assert cell.inner_text().strip() == before
            page.locator(".moekit-quantity-total_parameters select").select_option(
                label="active parameters per token"
            )
            page.wait_for_function(
                "([sel, want]) => document.querySelector(sel)?.textContent.trim() === want",
                arg=[verdict, after],
                timeout=30_000,
            )
            model = page.locator(".moekit-model-total_parameters input")
            assert model.input_value() == "active_params"
            assert page.locator('.moekit-verdicts [data-name="ttft"]').inner_text().strip() == "infeasible"
            shot = ARTIFACTS / "audit_plan_quantity_changed.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
