"""A page in Debian's Chromium, driven by Playwright (never a downloaded browser), for the page tests.
Screenshots go to artifacts/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "artifacts"
# The flags this machine needs: no sandbox as root, and no calls home that its closed network refuses.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


@pytest.fixture
async def page():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: scripts/setup test installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (scripts/setup test installs it)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(5000)
        yield page
        await browser.close()
