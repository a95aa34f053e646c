"""Shared by the browser tests: Debian's Chromium driven by Playwright, a Voila server per notebook.

Needs `/usr/bin/chromium` (Debian package) and the `playwright` and `voila` Python packages;
Playwright's own browser download is never used.
"""

from __future__ import annotations

import contextlib
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

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("MOEKIT_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("MOEKIT_ARTIFACTS", ROOT / "tests" / "artifacts"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_playwright():
    """Playwright's sync API, or skip the calling test module when Chromium is absent outside CI
    (in CI the browser tests must run: a missing browser or package fails them)."""

    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium) and CI is not set",
                    allow_module_level=True)
    if os.environ.get("CI"):
        return __import__("playwright.sync_api", fromlist=["sync_playwright"])
    return pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _voila_command(notebook: Path, port: int) -> list[str]:
    exe = Path(sys.executable).with_name("voila")
    base = [str(exe)] if exe.exists() else [shutil.which("voila") or "voila"]
    return base + [str(notebook), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
                   "--VoilaConfiguration.file_allowlist=['.*']"]


def artifacts_log(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")  # screenshots and logs stay out of git
    return ARTIFACTS / name


@contextlib.contextmanager
def voila_server(notebook: Path):
    """Serve `notebook` with Voila on a free local port; yields its URL."""
    port = _free_port()
    log = open(artifacts_log(f"voila_{notebook.stem}.log"), "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(_voila_command(notebook, port), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
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
            raise RuntimeError(f"voila did not answer on {url} within 60 s; see {log.name}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
