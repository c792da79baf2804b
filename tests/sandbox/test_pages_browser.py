"""A shopper in Debian's Chromium on the sandbox's hosted pages, driven by Playwright.

The browser, tab and screenshot fixtures come from ``tests.browsing``: each step
leaves a screenshot under ``test-artefacts/screenshots/``; without Chromium the tests
skip (``apt-get install chromium`` enables them), except on CI, where they fail.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from stripe import StripeClient
from stripe_sandbox.testing import RunningSandbox

from tests.browsing import Screenshots

from .helpers import portal_configuration
from .pages_support import recurring, subscribe

pytestmark = [pytest.mark.browser, pytest.mark.sandbox]


@pytest.fixture
def shop_site() -> Iterator[str]:
    """A stand-in for the shop: any GET answers a small page naming the path it was asked for."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = (
                f"<!doctype html><title>Quire</title><h1>Thank you</h1><p>{self.path}</p>".encode()
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def book_session(stripe_client: StripeClient, shop_site: str) -> Any:
    """A payment-mode Checkout Session for two copies of one book."""
    product = stripe_client.v1.products.create(params={"name": "Dune"})
    price = stripe_client.v1.prices.create(
        params={"product": product.id, "unit_amount": 1299, "currency": "gbp"}
    )
    return stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": price.id, "quantity": 2}],
            "customer_email": "ada@example.com",
            "success_url": f"{shop_site}/orders/thanks?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{shop_site}/basket",
        }
    )


def fill_card(page: Page, number: str) -> None:
    """Type a card into the labelled inputs, as a shopper would."""
    page.get_by_label("Card number", exact=True).fill(number)
    page.get_by_label("Expiration", exact=True).fill("12 / 34")
    page.get_by_label("CVC", exact=True).fill("123")
    page.get_by_label("Cardholder name", exact=True).fill("Ada Lovelace")


def test_paying_with_a_good_card_lands_on_the_success_page(
    sandbox: RunningSandbox,
    stripe_client: StripeClient,
    shop_site: str,
    page: Page,
    shots: Screenshots,
) -> None:
    """4242 4242 4242 4242: Pay → the browser is on success_url with the session id filled in."""
    session = book_session(stripe_client, shop_site)

    page.goto(session.url)
    expect(page.get_by_text("Stripe sandbox — test mode")).to_be_visible()
    expect(page.get_by_test_id("total")).to_have_text("£25.98")
    expect(page.get_by_label("Email", exact=True)).to_have_value("ada@example.com")
    shots.take("checkout")
    fill_card(page, "4242 4242 4242 4242")
    shots.take("card-filled")
    page.get_by_role("button", name="Pay", exact=True).click()

    page.wait_for_url(f"{shop_site}/orders/thanks?session_id={session.id}")
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    shots.take("success")
    paid = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (paid.status, paid.payment_status) == ("complete", "paid")


def test_a_declined_card_can_be_retried(
    sandbox: RunningSandbox,
    stripe_client: StripeClient,
    shop_site: str,
    page: Page,
    shots: Screenshots,
) -> None:
    """4000 0000 0000 0002 shows Stripe's decline and keeps the session open; 4242 then pays."""
    session = book_session(stripe_client, shop_site)

    page.goto(session.url)
    fill_card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Pay", exact=True).click()

    expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    expect(page.get_by_label("Email", exact=True)).to_have_value("ada@example.com")
    expect(page.get_by_label("Cardholder name", exact=True)).to_have_value("Ada Lovelace")
    expect(page.get_by_label("Card number", exact=True)).to_have_value("")
    shots.take("declined")
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"

    fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Pay", exact=True).click()
    page.wait_for_url(f"{shop_site}/orders/thanks?session_id={session.id}")
    shots.take("success-after-retry")
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


def test_a_card_needing_authentication_goes_through_the_challenge(
    sandbox: RunningSandbox,
    stripe_client: StripeClient,
    shop_site: str,
    page: Page,
    shots: Screenshots,
) -> None:
    """4000 0025 0000 3155 asks for 3-D Secure; completing it pays."""
    session = book_session(stripe_client, shop_site)

    page.goto(session.url)
    fill_card(page, "4000 0025 0000 3155")
    page.get_by_role("button", name="Pay", exact=True).click()

    expect(page.get_by_role("heading", name="Authenticate your payment")).to_be_visible()
    shots.take("challenge")
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(f"{shop_site}/orders/thanks?session_id={session.id}")
    shots.take("success")
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


def test_bank_debit_swaps_the_card_fields_for_an_account(
    sandbox: RunningSandbox,
    stripe_client: StripeClient,
    shop_site: str,
    page: Page,
    shots: Screenshots,
) -> None:
    """Choosing "Pay by bank debit" hides the card inputs (no JavaScript) and pays by debit."""
    session = book_session(stripe_client, shop_site)

    page.goto(session.url)
    page.get_by_label("Pay by bank debit").check()
    expect(page.get_by_label("Card number", exact=True)).to_be_hidden()
    page.get_by_label("Account holder name").fill("Ada Lovelace")
    page.get_by_label("Account number").fill("000123456789")
    shots.take("bank-debit")
    page.get_by_role("button", name="Pay", exact=True).click()

    page.wait_for_url(f"{shop_site}/orders/thanks?session_id={session.id}")
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert done.status == "complete" and isinstance(done.payment_intent, str)
    debit = stripe_client.v1.payment_intents.retrieve(done.payment_intent)
    assert debit.payment_method_types == ["bacs_debit"]  # the GBP bank debit, not a card


def test_portal_cancel_and_switch_in_the_browser(
    sandbox: RunningSandbox,
    stripe_client: StripeClient,
    shop_site: str,
    page: Page,
    shots: Screenshots,
) -> None:
    """A member cancels, resumes and switches to yearly, then returns to the shop."""
    product = stripe_client.v1.products.create(params={"name": "Patron"}).id
    monthly = recurring(stripe_client, product, 500, "month")
    yearly = recurring(stripe_client, product, 5000, "year")
    customer, subscription = subscribe(sandbox, stripe_client, monthly)
    portal_configuration(stripe_client, {product: [monthly, yearly]})
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer, "return_url": f"{shop_site}/account"}
    )

    page.goto(portal.url)
    shots.take("portal")
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.get_by_role("status")).to_contain_text("canceled at the end of the billing period")
    expect(page.get_by_text("Cancels on")).to_be_visible()
    shots.take("cancelled")
    page.get_by_role("button", name="Resume subscription").click()
    expect(page.get_by_role("status")).to_have_text("Your subscription has been resumed.")
    page.get_by_role("button", name="Switch to yearly").click()
    expect(page.get_by_text("£50.00/year")).to_be_visible()
    shots.take("switched")
    sub = stripe_client.v1.subscriptions.retrieve(subscription)
    assert sub.cancel_at_period_end is False
    assert sub["items"].data[0].price.id == yearly

    page.get_by_role("link", name="Return to Quire (sandbox)").last.click()
    page.wait_for_url(f"{shop_site}/account")


def test_dashboard_shows_the_payment_and_its_events(
    sandbox: RunningSandbox,
    stripe_client: StripeClient,
    shop_site: str,
    page: Page,
    shots: Screenshots,
) -> None:
    """After a payment the dashboard lists the session as complete and opens its event."""
    session = book_session(stripe_client, shop_site)
    page.goto(session.url)
    fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Pay", exact=True).click()
    page.wait_for_url(f"{shop_site}/**")

    page.goto(f"{sandbox.base_url}/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    row = page.locator(f'#checkout-session tr:has(a[title="{session.id}"])')
    expect(row).to_contain_text("complete")
    expect(row).to_contain_text("£25.98")
    shots.take("dashboard")
    page.locator("#event tr", has_text="checkout.session.completed").get_by_role(
        "link"
    ).first.click()
    expect(page.get_by_role("heading", name="checkout.session.completed")).to_be_visible()
    expect(page.locator("pre").last).to_contain_text(session.id)
    shots.take("event")


def test_a_returning_customer_pays_with_the_saved_card_and_chooses_postage(
    sandbox: RunningSandbox,
    stripe_client: StripeClient,
    shop_site: str,
    page: Page,
    shots: Screenshots,
) -> None:
    """First visit: tick "Save my card". Second: the saved card is selected, the card
    inputs step aside, Express postage is chosen, and Pay needs nothing typed."""
    customer = stripe_client.v1.customers.create(params={"email": "ada@example.com"}).id
    price = stripe_client.v1.prices.create(
        params={"product_data": {"name": "Dune"}, "unit_amount": 1299, "currency": "gbp"}
    ).id

    def open_session() -> Any:
        return stripe_client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "customer": customer,
                "line_items": [{"price": price, "quantity": 1}],
                "saved_payment_method_options": {"payment_method_save": "enabled"},
                "shipping_address_collection": {"allowed_countries": ["GB"]},
                "shipping_options": [
                    {
                        "shipping_rate_data": {
                            "display_name": name,
                            "type": "fixed_amount",
                            "fixed_amount": {"amount": amount, "currency": "gbp"},
                        }
                    }
                    for name, amount in (("Standard", 350), ("Express", 900))
                ],
                "success_url": f"{shop_site}/orders/thanks?session_id={{CHECKOUT_SESSION_ID}}",
            }
        )

    def fill_address() -> None:
        page.get_by_label("Name", exact=True).fill("Ada Lovelace")
        page.get_by_label("Address line 1").fill("12 St James's Square")
        page.get_by_label("City").fill("London")
        page.get_by_label("Postal code").fill("SW1Y 4JH")

    first = open_session()
    page.goto(first.url)
    fill_address()
    fill_card(page, "4242 4242 4242 4242")
    page.get_by_label("Save my card for future purchases").check()
    shots.take("save-card")
    page.get_by_role("button", name="Pay", exact=True).click()
    page.wait_for_url(f"{shop_site}/orders/thanks?session_id={first.id}")

    second = open_session()
    page.goto(second.url)
    expect(page.get_by_label("Visa •••• 4242 · expires 12/34")).to_be_checked()
    expect(page.get_by_label("Card number", exact=True)).to_be_hidden()
    fill_address()
    expect(page.get_by_test_id("total")).to_have_text("£16.49")
    page.get_by_label("Express · £9.00").check()
    expect(page.get_by_test_id("total")).to_have_text("£21.99")
    expect(page.get_by_test_id("shipping")).to_have_text("£9.00")
    shots.take("saved-card")
    page.get_by_role("button", name="Pay", exact=True).click()

    page.wait_for_url(f"{shop_site}/orders/thanks?session_id={second.id}")
    done = stripe_client.v1.checkout.sessions.retrieve(second.id)
    intent = stripe_client.v1.payment_intents.retrieve(str(done.payment_intent))
    saved = stripe_client.v1.customers.payment_methods.list(customer).data
    assert [pm.id for pm in saved] == [intent.payment_method]
    assert intent.amount_received == 1299 + 900
