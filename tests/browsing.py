"""Browser fixtures (a pytest plugin): Debian's Chromium driven by Playwright, with screenshots.

Without Chromium the browser tests skip, saying how to enable them; on CI (CI=true) a
missing Chromium fails them instead, so they can never silently not run there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artefacts" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, for the whole test session."""
    if not CHROMIUM.exists():
        message = (
            f"Chromium is not installed at {CHROMIUM}; "
            "run `apt-get install chromium` to enable the browser tests"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab in its own browser context (own cookies)."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


class Screenshots:
    """Numbered full-page screenshots of one test's steps."""

    def __init__(self, page: Page, test_name: str) -> None:
        self.page = page
        self.prefix = re.sub(r"[^A-Za-z0-9_-]+", "-", test_name.removeprefix("test_"))
        self.count = 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(self, step: str) -> Path:
        """Save the page as `<test>-<n>-<step>.png` and return its path."""
        self.count += 1
        path = SCREENSHOTS / f"{self.prefix}-{self.count:02d}-{step}.png"
        self.page.screenshot(path=path, full_page=True)
        return path


@pytest.fixture
def shots(page: Page, request: pytest.FixtureRequest) -> Screenshots:
    """Screenshots named after the running test."""
    return Screenshots(page, request.node.name)
