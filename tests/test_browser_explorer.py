"""The strategy explorer as a web app: Voila serves it, Chromium (driven by Playwright) uses it.

Changes the batch dropdown in a real browser and checks that the displayed TPOT and TTFT turn
into the values `moekit.evaluate` computes. Needs `/usr/bin/chromium` (Debian package) and the
`playwright` and `voila` Python packages; Playwright's own browser download is never used.
Skipped only when Chromium is absent and the CI variable is unset; in CI it must run.
"""

from __future__ import annotations

import pytest
from browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, require_playwright, voila_server

from moekit.evaluate import evaluate
from moekit.spec.inputs import Strategy, Workload
from moekit.spec.presets import load_hardware, load_model
from moekit.ui.widgets import format_value

NOTEBOOK = ROOT / "notebooks" / "06_strategy_explorer.ipynb"

playwright_api = require_playwright()


@pytest.fixture(scope="module")
def voila_url():
    with voila_server(NOTEBOOK) as url:
        yield url


def expected(batch: int) -> dict[str, str]:
    e = evaluate(load_model("mixtral-8x7b"), load_hardware("h100-sxm"),
                 Workload(batch=batch, prompt_len=2048, output_len=256), Strategy(dp=4, tp=2, ep=8))
    return {"tpot_ms": format_value(e["tpot_s"] * 1e3), "ttft_ms": format_value(e["ttft_s"] * 1e3),
            "decode_tps_gpu": format_value(e["decode_tokens_per_s_per_gpu"])}


def test_explorer_in_chromium_shows_the_library_numbers_after_a_widget_change(voila_url):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(voila_url, timeout=90_000)
            value = page.locator('.moekit-readout [data-name="tpot_ms"]')
            value.wait_for(timeout=90_000)
            before = expected(64)
            assert value.inner_text().strip() == before["tpot_ms"]
            figure = page.locator(".moekit-panel img").first
            figure.wait_for(timeout=30_000)
            figure_before = figure.get_attribute("src")

            page.locator(".moekit-batch select").select_option(label="256")
            after = expected(256)
            assert after["tpot_ms"] != before["tpot_ms"]
            page.wait_for_function(
                "([sel, want]) => document.querySelector(sel)?.textContent.trim() === want",
                arg=['.moekit-readout [data-name="tpot_ms"]', after["tpot_ms"]], timeout=30_000)
            for name, text in after.items():
                cell = page.locator(f'.moekit-readout [data-name="{name}"]')
                assert cell.inner_text().strip() == text, name
            page.wait_for_function(  # the figures are redrawn too
                "([want]) => document.querySelector('.moekit-panel img')?.src !== want",
                arg=[figure_before], timeout=30_000)
            shot = ARTIFACTS / "explorer_batch256.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
