"""The serving planner notebook as a web app: Voila serves it, Chromium (through Playwright) moves
the TPOT target, and the page must show the planner's own best configuration for the new target."""

from __future__ import annotations

from browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, require_playwright, voila_server

import moekit
from moekit.plan.serve import ServeQuery, serve
from moekit.spec.stack import load_stack
from moekit.ui.widgets import format_value

NOTEBOOK = ROOT / "notebooks" / "09_serving_planner.ipynb"

playwright_api = require_playwright()


def expected(tpot_s: float) -> str:
    best = serve(ServeQuery(moekit.load_model("qwen3-30b-a3b"), moekit.load_hardware("h200"),
                            load_stack("sglang"), 8, 4096, 512, 2.0, tpot_s)).best
    return format_value(float(best.tokens_per_s_per_gpu))


def test_serving_planner_in_chromium_follows_the_tpot_target():
    cell = '.moekit-readout [data-name="tokens_per_s_per_gpu"]'
    with voila_server(NOTEBOOK) as url, playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 3000})
            page.goto(url, timeout=120_000)
            value = page.locator(cell)
            value.wait_for(timeout=120_000)
            assert value.inner_text().strip() == expected(0.05)
            slider = page.locator(".moekit-tpot .widget-readout, .moekit-tpot .widget-slider").first
            slider.wait_for(timeout=30_000)
            handle = page.locator(".moekit-tpot .ui-slider-handle, .moekit-tpot .noUi-handle").first
            handle.focus()
            for _ in range(2):  # 50 -> 30 -> 20 ms, one option per key press
                page.keyboard.press("ArrowLeft")
            want = expected(0.02)
            page.wait_for_function(
                "([sel, want]) => document.querySelector(sel)?.textContent.trim() === want",
                arg=[cell, want], timeout=60_000)
            shot = ARTIFACTS / "serving_tpot20.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
