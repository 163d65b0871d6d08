"""Headless Chromium for reader journeys: Debian's /usr/bin/chromium driven by Playwright."""
from __future__ import annotations

import contextlib
import os
import tempfile

CHROMIUM = os.environ.get("NEWSROOM_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


@contextlib.contextmanager
def chromium_page(**context_kwargs):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS, **context_kwargs
        )
        try:
            page = browser.new_page()
            yield page
        finally:
            browser.close()
