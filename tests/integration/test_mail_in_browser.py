"""The shop's mail as a newcomer reads it in Chromium: a book bought through the
sandbox's hosted Checkout, then its receipt in the development outbox at /outbox.

Every step leaves a screenshot in test-artefacts/screenshots/.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from shop.extensions import db
from shop.models import Mail
from tests.browsing import Screenshots, pay_by_card, register
from tests.integration.live_shop import LiveShop

pytestmark = [pytest.mark.browser, pytest.mark.sandbox]

RECEIPT = "Your Quire receipt for order #1"


def test_receipt_mail_in_the_outbox(page: Page, browser_shop: LiveShop, shots: Screenshots) -> None:
    register(page, browser_shop, shots, email="ada@example.com")
    page.goto(browser_shop.url + "/books/the-salt-road")
    page.get_by_role("button", name="Buy now").click()
    page.get_by_role("button", name="Checkout").click()
    pay_by_card(page, "4242 4242 4242 4242", shots, "Pay", shipping=True)
    expect(page.get_by_role("heading", name="Thank you — your order is confirmed")).to_be_visible()
    expect(page.locator(".amount-charged")).to_have_text("£15.84")  # £12.99 and £2.85 postage

    page.goto(browser_shop.url + "/outbox/")
    row = page.locator("tr", has_text=RECEIPT)
    expect(row).to_have_count(1)  # the webhook and the confirmation page wrote one receipt
    expect(row).to_contain_text("ada@example.com")
    shots.take("outbox")

    row.get_by_role("link", name=RECEIPT).click()
    text = page.locator("pre.mail-text")
    expect(text).to_contain_text("The Salt Road — Maren Holt\n    1 × £12.99 = £12.99")
    expect(text).to_contain_text("Postage (Royal Mail 2nd class): £2.85")
    expect(text).to_contain_text("Total paid: £15.84")
    expect(text).to_contain_text("Ada Reader\n    1 Quay Street\n    Bristol\n    BS1 4DJ")
    shots.take("receipt-mail")

    page.get_by_role("link", name="See the HTML version").click()
    expect(page.get_by_text("Total paid")).to_be_visible()
    expect(page.get_by_text("£15.84")).to_be_visible()
    shots.take("receipt-mail-html")

    page.get_by_role("link", name="See your order").click()  # the mail's link, absolute
    expect(page.get_by_role("heading", name="Order #1")).to_be_visible()
    keys = browser_shop.read(lambda: list(db.session.execute(db.select(Mail.key)).scalars()))
    assert keys.count("receipt:order:1") == 1
