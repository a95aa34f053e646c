"""The strategy explorer as a web app: Voila serves it, Chromium (driven by Playwright) uses it.

Changes the batch dropdown in a real browser and checks that the displayed TPOT and TTFT turn
into the values `moekit.evaluate` computes. Needs `/usr/bin/chromium` (Debian package) and the
`playwright` and `voila` Python packages; Playwright's own browser download is never used.
Skipped only when Chromium is absent and the CI variable is unset; in CI it must run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from moekit.evaluate import evaluate
from moekit.spec.inputs import Strategy, Workload
from moekit.spec.presets import load_hardware, load_model
from moekit.ui.widgets import format_value

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "06_strategy_explorer.ipynb"
CHROMIUM = Path(os.environ.get("MOEKIT_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("MOEKIT_ARTIFACTS", ROOT / "tests" / "artifacts"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium) and CI is not set",
                allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api") if not os.environ.get("CI") else \
    __import__("playwright.sync_api", fromlist=["sync_playwright"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _voila_command(port: int) -> list[str]:
    exe = Path(sys.executable).with_name("voila")
    base = [str(exe)] if exe.exists() else [shutil.which("voila") or "voila"]
    return base + [str(NOTEBOOK), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
                   "--VoilaConfiguration.file_allowlist=['.*']"]


@pytest.fixture(scope="module")
def voila_url():
    port = _free_port()
    log = open(ARTIFACTS_LOG(), "w")  # noqa: SIM115 - closed in the fixture's teardown
    proc = subprocess.Popen(_voila_command(port), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with {proc.returncode}; see {log.name}")
        try:
            urllib.request.urlopen(url + "voila/api/nothing", timeout=2)
            break
        except urllib.error.HTTPError:  # any HTTP answer: the server is up
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.terminate()
        raise RuntimeError(f"voila did not answer on {url} within 60 s; see {log.name}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def ARTIFACTS_LOG() -> Path:  # noqa: N802 - reads like the path it returns
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")  # screenshots and logs stay out of git
    return ARTIFACTS / "voila.log"


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
