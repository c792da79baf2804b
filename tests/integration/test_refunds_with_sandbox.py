"""Refund sent once even if clicked twice: the probe's attack, against the sandbox.

Each round the admin loads the order page once and its refund form is sent three
times: twice at the same moment (a double click, each on a thread, app context and
database connection of its own — PostgreSQL with TEST_DATABASE_URL) and once more after
both answered (a re-sent POST). Six rounds make six refunds at Stripe, no more; then a
deliberate refund from a fresh page refunds what is left.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from stripe_sandbox.flows import engine

from shop.extensions import db
from shop.models import Order
from tests import helpers
from tests.integration.live_shop import LiveShop

pytestmark = pytest.mark.sandbox

ROUNDS = 6
#: Outcomes a submission may show; anything else (a 500, a second refund) fails the test.
REFUNDED = "Refunded £1.00."
ALREADY = "changed since its page was loaded"


def paid_order(live_shop: LiveShop) -> str:
    """The shopper buys The Salt Road as an ebook (£6.99) with a card; its PaymentIntent."""
    client = live_shop.signed_in_shopper()
    start = client.post("/checkout/books/salt-road-ebook", data={"quantity": "1"})
    session_id = start.location.rstrip("/").rsplit("/", 1)[-1]
    card = engine.PaymentDetails(
        email="reader@example.com",
        card_number="4242424242424242",
        exp_month=12,
        exp_year=datetime.now(UTC).year + 3,
        cvc="123",
        cardholder_name="Ada Reader",
    )
    assert engine.pay_checkout_session(live_shop.sandbox.state, session_id, card).status == (
        "succeeded"
    )
    assert live_shop.wait_for(lambda: db.session.get(Order, 1).status == "paid")
    intent = live_shop.read(lambda: db.session.get(Order, 1).payment_intent_id)
    assert intent
    return intent


def send(admin: FlaskClient, form: dict[str, str]) -> str:
    """Post the refund form as the browser would, and read the page it lands on."""
    answer = admin.post("/admin/orders/1/refund", data=form)
    assert answer.status_code == 302, answer.text
    return admin.get(answer.location).text


def at_once(admins: list[FlaskClient], form: dict[str, str]) -> list[str]:
    """Each client sends `form` at the same moment, on a thread of its own."""
    start = threading.Barrier(len(admins))
    pages: list[str] = []

    def submit(admin: FlaskClient) -> None:
        start.wait()
        pages.append(send(admin, form))

    threads = [threading.Thread(target=submit, args=(admin,)) for admin in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return pages


def test_a_refund_form_sent_twice_at_once_and_again_refunds_once(live_shop: LiveShop) -> None:
    intent = paid_order(live_shop)
    helpers.add_user(live_shop.app, "owner@example.com", admin=True)
    admins = [live_shop.app.test_client() for _ in range(3)]  # the same admin, three requests
    for admin in admins:
        helpers.sign_in(admin, "owner@example.com")

    for round_ in range(1, ROUNDS + 1):
        form = helpers.refund_form(admins[0], 1, "1.00")
        pages = at_once(admins[:2], form)  # a double click
        pages.append(send(admins[2], form))  # the same form, sent once more afterwards

        assert len(pages) == 3
        assert sum(REFUNDED in page for page in pages) >= 1
        assert all(REFUNDED in page or ALREADY in page for page in pages)
        refunds = live_shop.stripe_client.v1.refunds.list(
            params={"payment_intent": intent, "limit": 100}
        ).data
        refunded = live_shop.read(lambda: db.session.get(Order, 1).amount_refunded)
        print(f"round {round_}: {len(refunds)} refund(s) at Stripe, {refunded} refunded")
        assert len(refunds) == round_
        assert refunded == 100 * round_

    # A deliberate refund later, from a fresh page: everything left.
    page = send(admins[0], helpers.refund_form(admins[0], 1))
    assert "Refunded £0.99." in page
    refunds = live_shop.stripe_client.v1.refunds.list(
        params={"payment_intent": intent, "limit": 100}
    ).data
    assert sorted(r.amount for r in refunds) == [99] + [100] * ROUNDS
    order = live_shop.read(lambda: db.session.get(Order, 1))
    assert (order.status, order.amount_refunded) == ("refunded", 699)
