"""A membership's whole life in minutes, as a newcomer watches it under `make run`: the
shop puts the new customer on a test clock of its own (`STRIPE_TEST_CLOCKS`), and the
sandbox dashboard's Test clocks buttons run the trial's end, a renewal refused by the
card, and the recovery after the member saves a good card in the billing portal; the
account page and the outbox follow each step.

Every step leaves a screenshot in test-artefacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from stripe_sandbox.testing import RunningSandbox

from shop.extensions import db
from shop.models import Invoice, Subscription
from tests.browsing import EXPIRY, Screenshots, pay_by_card, register
from tests.integration.live_shop import LiveShop

pytestmark = [pytest.mark.browser, pytest.mark.sandbox]

EMAIL = "ada@example.com"
FAILS_LATER = "4000 0000 0000 0341"


def _status(shop: LiveShop) -> str | None:
    return db.session.execute(db.select(Subscription.status)).scalar_one_or_none()


def _press_on_the_dashboard(page: Page, shop: LiveShop, button: str) -> None:
    """On the sandbox dashboard, press `button` on the clock that holds the member."""
    page.goto(shop.sandbox.base_url + "/dashboard")
    panel = page.locator("article.clock", has_text=EMAIL)
    expect(panel).to_have_count(1)
    panel.get_by_role("button", name=button).click()
    expect(page.locator("article.clock", has_text=EMAIL)).to_be_visible()


def _save_card_in_the_portal(page: Page, shop: LiveShop, number: str, shots: Screenshots) -> None:
    page.goto(shop.url + "/account")
    page.get_by_role("button", name="Manage billing").click()
    page.get_by_role("link", name="Update card").click()
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiration").fill(EXPIRY)
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Cardholder name").fill("Ada Reader")
    page.get_by_role("button", name="Save card").click()
    expect(page.get_by_text("Your card has been updated.")).to_be_visible()
    shots.take(f"portal-card-{number[-4:]}")


def _account_shows(page: Page, shop: LiveShop, status: str) -> None:
    page.goto(shop.url + "/account")
    expect(page.locator("table.memberships")).to_contain_text(status)


def _outbox_has(page: Page, shop: LiveShop, subject: str) -> None:
    page.goto(shop.url + "/outbox/")
    expect(page.locator("tr", has_text=subject).filter(has_text=EMAIL)).to_have_count(1)


def test_a_membership_lives_trial_payment_refusal_and_recovery_from_the_dashboard(
    page: Page,
    sandbox: RunningSandbox,
    serve_shop: Callable[..., LiveShop],
    shots: Screenshots,
) -> None:
    shop = serve_shop(sandbox, WTF_CSRF_ENABLED=True, STRIPE_TEST_CLOCKS=True)
    register(page, shop, shots, email=EMAIL)

    # A 14-day trial of Reader, on the shop's own test clock for this customer.
    page.goto(shop.url + "/memberships/reader")
    page.get_by_role("button", name="Subscribe").click()
    pay_by_card(page, "4242 4242 4242 4242", shots, "Start trial")
    expect(page.get_by_role("heading", name=re.compile("Thank you"))).to_be_visible()
    assert shop.wait_for(lambda: _status(shop) == "trialing")
    _account_shows(page, shop, "Free trial")

    page.goto(shop.sandbox.base_url + "/dashboard")
    panel = page.locator("article.clock", has_text=EMAIL)
    expect(panel).to_contain_text("trialing")
    shots.take("dashboard-clock-trialing")

    # Trial end: the first payment, taken from the card saved at sign-up. (The
    # trial-ending notice fires on the way, but the membership is active by the time the
    # shop reads it, so no "trial ends" mail goes out: a day at a time would show it.)
    _press_on_the_dashboard(page, shop, "Advance to trial end")
    assert shop.wait_for(lambda: _status(shop) == "active")
    assert shop.wait_for(
        lambda: db.session.execute(
            db.select(Invoice).filter_by(status="paid", billing_reason="subscription_cycle")
        ).first()
    )
    _account_shows(page, shop, "Active")
    _outbox_has(page, shop, "Welcome to Quire Reader — your receipt for order #1")
    shots.take("outbox-after-first-payment")

    # The member's card is now one that refuses every later charge: the renewal fails.
    _save_card_in_the_portal(page, shop, FAILS_LATER, shots)
    _press_on_the_dashboard(page, shop, "Advance to next renewal")
    expect(page.locator("article.clock", has_text=EMAIL)).to_contain_text("past_due")
    shots.take("dashboard-clock-past-due")
    assert shop.wait_for(lambda: _status(shop) == "past_due")
    _account_shows(page, shop, "Payment overdue")
    shots.take("account-past-due")
    _outbox_has(page, shop, "We couldn't take the payment for your Quire Reader membership")
    shots.take("outbox-payment-failed")

    # Recovery: a good card saved in the portal pays the open invoice at once.
    _save_card_in_the_portal(page, shop, "4242 4242 4242 4242", shots)
    assert shop.wait_for(lambda: _status(shop) == "active")
    assert shop.wait_for(
        lambda: db.session.execute(db.select(Invoice).filter_by(status="open")).first() is None
    )
    _account_shows(page, shop, "Active")
    shots.take("account-active-again")
