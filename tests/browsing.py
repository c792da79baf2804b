"""Browser fixtures (a pytest plugin): Debian's Chromium driven by Playwright, with screenshots.

Without Chromium the browser tests skip, saying how to enable them; on CI (CI=true) a
missing Chromium fails them instead, so they can never silently not run there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

if TYPE_CHECKING:
    from tests.integration.live_shop import LiveShop

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


#: A card expiry always three years ahead, as the sandbox's hosted form takes it.
EXPIRY = f"12 / {(datetime.now(UTC).year + 3) % 100:02d}"


def register(
    page: Page, browser_shop: LiveShop, shots: Screenshots, email: str = "ada@example.com"
) -> None:
    page.goto(browser_shop.url + "/register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_label("Repeat password").fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Check your inbox")).to_be_visible()
    open_newest_mail(page, browser_shop.url, email)
    page.locator("a[href*='/register/confirm/']").click()
    expect(page.get_by_text("Finish creating your account for")).to_be_visible()
    page.get_by_role("button", name="Finish creating my account").click()
    expect(page.get_by_text("Welcome to Quire.")).to_be_visible()
    shots.take("registered")


def open_newest_mail(page: Page, url: str, email: str) -> None:
    """Open the outbox page and, from it, the newest mail to `email`."""
    page.goto(url + "/outbox/")
    page.get_by_role("row").filter(has_text=email).first.get_by_role("link").click()
    expect(page.get_by_text(email).first).to_be_visible()


def pay_by_card(
    page: Page, number: str, shots: Screenshots, button: str, *, shipping: bool = False
) -> None:
    """Fill the sandbox's hosted Checkout form and press its button."""
    expect(page.get_by_text("Stripe sandbox")).to_be_visible()
    if shipping:
        page.get_by_label("Name", exact=True).fill("Ada Reader")
        page.get_by_label("Address line 1").fill("1 Quay Street")
        page.get_by_label("City").fill("Bristol")
        page.get_by_label("Postal code").fill("BS1 4DJ")
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiration").fill(EXPIRY)
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Cardholder name").fill("Ada Reader")
    shots.take("card-filled")
    page.get_by_role("button", name=button, exact=True).click()


def sign_in(tab: Page, url: str, email: str, password: str) -> None:
    """Sign `email` in on `tab`, through the shop's sign-in form at `url`."""
    tab.goto(url + "/login")
    tab.get_by_label("Email").fill(email)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("button", name="Sign out")).to_be_visible()


def tab_opener(browser: Browser, **context_options: Any) -> Iterator[Callable[[], Page]]:
    """For a fixture: `open_tab()` gives a new tab in a browser context of its own (a
    second person, or a phone), and every context is closed afterwards."""
    contexts: list[BrowserContext] = []

    def open_tab() -> Page:
        context = browser.new_context(**context_options)
        contexts.append(context)
        tab = context.new_page()
        tab.set_default_timeout(10_000)
        return tab

    yield open_tab
    for context in contexts:
        context.close()
