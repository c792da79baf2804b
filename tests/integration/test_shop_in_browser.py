"""A shopper in Chromium: the shop's pages, the sandbox's hosted Checkout and portal.

Every step leaves a screenshot in test-artefacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from shop.extensions import db
from shop.models import Invoice, Order, Subscription
from tests.browsing import Screenshots, open_newest_mail, pay_by_card, register
from tests.integration.live_shop import LiveShop

pytestmark = [pytest.mark.browser, pytest.mark.sandbox]


def test_buying_a_printed_book_with_4242(
    page: Page, browser_shop: LiveShop, shots: Screenshots
) -> None:
    register(page, browser_shop, shots)
    page.goto(browser_shop.url + "/")
    shots.take("catalogue")
    page.get_by_role("link", name="The Salt Road", exact=True).click()
    page.get_by_label("Quantity").fill("2")
    shots.take("book")
    page.get_by_role("button", name="Buy now").click()
    expect(page.locator(".subtotal")).to_have_text("£25.98")
    shots.take("basket")
    page.get_by_role("button", name="Checkout").click()

    expect(page.get_by_text("£25.98").first).to_be_visible()
    shots.take("hosted-checkout")
    pay_by_card(page, "4242 4242 4242 4242", shots, "Pay", shipping=True)

    expect(page.get_by_role("heading", name="Thank you — your order is confirmed")).to_be_visible()
    # Two copies and the cheapest postage to GB that Stripe's page offered first.
    expect(page.locator(".amount-charged")).to_have_text("£28.83")
    expect(page.locator(".payment-status")).to_have_text("Paid")
    shots.take("confirmation")
    assert browser_shop.read(lambda: db.session.get(Order, 1).status) == "paid"

    page.get_by_role("link", name="Go to your account").click()
    expect(page.locator("table.orders")).to_contain_text("Paid")
    shots.take("account")


def test_buying_signed_out_then_signing_up_keeps_the_basket_and_reaches_stripe(
    page: Page, browser_shop: LiveShop, shots: Screenshots
) -> None:
    page.goto(browser_shop.url + "/books/letters-from-the-lighthouse")
    page.get_by_role("button", name="Add to basket").click()
    page.goto(browser_shop.url + "/books/salt-road-ebook")
    page.get_by_role("button", name="Buy now").click()
    expect(page.locator(".subtotal")).to_have_text("£28.99")  # £22.00 + £6.99
    shots.take("signed-out-basket")
    page.get_by_role("button", name="Checkout").click()
    expect(page.get_by_text("your basket is kept")).to_be_visible()
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill("new@example.com")
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_label("Repeat password").fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Check your inbox")).to_be_visible()
    open_newest_mail(page, browser_shop.url, "new@example.com")
    page.locator("a[href*='/register/confirm/']").click()
    expect(page.get_by_text("Finish creating your account for")).to_be_visible()
    page.get_by_role("button", name="Finish creating my account").click()
    expect(page).to_have_url(browser_shop.url + "/cart")
    expect(page.locator(".subtotal")).to_have_text("£28.99")
    shots.take("basket-after-sign-up")
    page.get_by_role("button", name="Checkout").click()

    expect(page.get_by_text("£28.99").first).to_be_visible()  # Stripe's hosted page
    pay_by_card(page, "4242 4242 4242 4242", shots, "Pay", shipping=True)
    expect(page.get_by_role("heading", name="Thank you — your order is confirmed")).to_be_visible()
    shots.take("basket-paid")
    page.goto(browser_shop.url + "/cart")
    expect(page.get_by_text("Your basket is empty.")).to_be_visible()
    page.goto(browser_shop.url + "/books/salt-road-ebook")
    expect(page.get_by_text("You own this ebook.")).to_be_visible()


def test_a_declined_card_then_a_good_one(
    page: Page, browser_shop: LiveShop, shots: Screenshots
) -> None:
    register(page, browser_shop, shots)
    page.goto(browser_shop.url + "/books/cartographers-daughter")
    page.get_by_role("button", name="Buy now").click()
    page.get_by_role("button", name="Checkout").click()
    pay_by_card(page, "4000 0000 0000 0002", shots, "Pay")
    expect(page.get_by_role("alert")).to_contain_text("Your card was declined.")
    shots.take("declined")
    assert browser_shop.read(lambda: db.session.get(Order, 1).status) == "pending"

    pay_by_card(page, "4242 4242 4242 4242", shots, "Pay")
    expect(page.get_by_role("heading", name="Thank you — your order is confirmed")).to_be_visible()
    expect(page.locator(".amount-charged")).to_have_text("£8.99")
    shots.take("paid-after-retry")


def test_a_declined_membership_payment_on_the_hosted_page_leaves_no_membership(
    page: Page, browser_shop: LiveShop, shots: Screenshots
) -> None:
    register(page, browser_shop, shots)
    page.goto(browser_shop.url + "/memberships/patron")
    page.get_by_role("button", name="Subscribe").click()
    pay_by_card(page, "4000 0000 0000 0002", shots, "Subscribe")
    expect(page.get_by_role("alert")).to_contain_text("Your card was declined.")
    shots.take("membership-declined")
    assert browser_shop.sandbox.wait_for_deliveries()
    assert browser_shop.stripe_client.v1.subscriptions.list(params={"status": "all"}).data == []
    assert browser_shop.read(lambda: db.session.execute(db.select(Subscription)).all()) == []
    assert browser_shop.read(lambda: db.session.execute(db.select(Invoice)).all()) == []
    assert browser_shop.read(lambda: db.session.get(Order, 1).status) == "pending"

    pay_by_card(page, "4242 4242 4242 4242", shots, "Subscribe")
    expect(page.get_by_role("heading", name="Thank you — your order is confirmed")).to_be_visible()
    assert browser_shop.wait_for(
        lambda: db.session.execute(db.select(Subscription.status)).scalar_one_or_none() == "active"
    )
    shots.take("membership-after-retry")


def test_a_trial_that_ends_on_a_failing_card_goes_past_due(
    page: Page, browser_shop: LiveShop, shots: Screenshots
) -> None:
    register(page, browser_shop, shots)
    clock_id = browser_shop.customer_on_a_clock()
    page.goto(browser_shop.url + "/memberships/reader")
    shots.take("plan")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_text("14 days free").first).to_be_visible()
    shots.take("hosted-checkout-trial")
    pay_by_card(page, "4000 0000 0000 0341", shots, "Start trial")
    expect(page.get_by_role("heading", name=re.compile("Thank you"))).to_be_visible()
    shots.take("trial-started")

    assert browser_shop.wait_for(
        lambda: (
            db.session.execute(db.select(Subscription.status)).scalar_one_or_none() == "trialing"
        )
    )
    page.goto(browser_shop.url + "/account")
    expect(page.locator("table.memberships")).to_contain_text("Free trial")
    shots.take("account-trialing")

    browser_shop.advance_clock(clock_id, days=15)
    assert browser_shop.wait_for(
        lambda: (
            db.session.execute(db.select(Subscription.status)).scalar_one_or_none() == "past_due"
        )
    )
    page.reload()
    expect(page.locator("table.memberships")).to_contain_text("Payment overdue")
    shots.take("account-past-due")


def test_cancelling_in_the_billing_portal(
    page: Page, browser_shop: LiveShop, shots: Screenshots
) -> None:
    register(page, browser_shop, shots)
    page.goto(browser_shop.url + "/memberships/patron")
    page.get_by_label(re.compile("a year")).check()
    page.get_by_role("button", name="Subscribe").click()
    pay_by_card(page, "4242 4242 4242 4242", shots, "Subscribe")
    expect(page.get_by_role("heading", name="Thank you — your order is confirmed")).to_be_visible()
    assert browser_shop.wait_for(
        lambda: db.session.execute(db.select(Subscription.status)).scalar_one_or_none() == "active"
    )

    page.goto(browser_shop.url + "/account")
    page.get_by_role("button", name="Manage billing").click()
    expect(page.get_by_role("button", name="Cancel subscription")).to_be_visible()
    # The configuration the catalogue sync made lets a member switch between plan prices.
    expect(page.get_by_role("button", name="Switch to monthly")).to_be_visible()
    shots.take("portal")
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.get_by_role("button", name="Resume subscription")).to_be_visible()
    shots.take("portal-cancelled")

    assert browser_shop.wait_for(
        lambda: (
            db.session.execute(db.select(Subscription.cancel_at_period_end)).scalar_one_or_none()
            is True
        )
    )
    page.get_by_role("link", name=re.compile("Return to")).first.click()
    expect(page.locator("table.memberships")).to_contain_text("Ending")
    expect(page.locator("table.memberships .tone-good")).to_have_count(0)
    shots.take("account-cancelling")
