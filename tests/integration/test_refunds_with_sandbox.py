"""Refund sent once even if clicked twice: the probe's attack, against the sandbox.

Each round the admin loads the order page once and its refund form is sent three
times: twice at the same moment (a double click, each on a thread, app context and
database connection of its own — PostgreSQL with TEST_DATABASE_URL) and once more after
both answered (a re-sent POST). Six rounds make six refunds at Stripe, no more; then a
deliberate refund from a fresh page refunds what is left.

Two forms (two tabs, two admins, each page load its own token) sent at the same moment
for partial amounts that together exceed what is left: exactly one refunds, the other
is told not enough is left, round after round, and Stripe's refunded total is always
the order's. Two that together fit both refund.
"""

from __future__ import annotations

import threading

import pytest
from flask.testing import FlaskClient
from stripe_sandbox.flows import engine

from shop.extensions import db
from shop.models import Order
from tests import helpers
from tests.integration.live_shop import LiveShop, paying_card

pytestmark = pytest.mark.sandbox

ROUNDS = 6
#: Outcomes a submission may show; anything else (a 500, a second refund) fails the test.
REFUNDED = "Refunded £1.00."
ALREADY = "was already sent"


def paid_order(live_shop: LiveShop) -> str:
    """The shopper buys The Salt Road as an ebook (£6.99) with a card; its PaymentIntent."""
    client = live_shop.signed_in_shopper()
    start = client.post("/checkout/books/salt-road-ebook", data={"quantity": "1"})
    session_id = start.location.rstrip("/").rsplit("/", 1)[-1]
    card = paying_card()
    assert engine.pay_checkout_session(live_shop.sandbox.state, session_id, card).status == (
        "succeeded"
    )
    assert live_shop.wait_for(lambda: db.session.get(Order, 1).status == "paid")
    intent = live_shop.read(lambda: db.session.get(Order, 1).payment_intent_id)
    assert intent
    return intent


def two_admins(live_shop: LiveShop) -> list[FlaskClient]:
    """Two admins signed in, each in a browser of their own."""
    admins = []
    for email in ("owner@example.com", "partner@example.com"):
        helpers.add_user(live_shop.app, email, admin=True)
        admin = live_shop.app.test_client()
        helpers.sign_in(admin, email)
        admins.append(admin)
    return admins


def refunded_at_stripe(live_shop: LiveShop, intent: str) -> int:
    """What Stripe has refunded of the order's charge."""
    charges = live_shop.stripe_client.v1.charges.list(params={"payment_intent": intent}).data
    assert len(charges) == 1
    return charges[0].amount_refunded


def forms_at_once(admins: list[FlaskClient], amount: str) -> list[str]:
    """Each admin loads the order page (a token each), then all send at the same moment."""
    forms = [helpers.refund_form(admin, 1, amount, everything=not amount) for admin in admins]
    start = threading.Barrier(len(admins))
    pages: list[str] = []

    def submit(admin: FlaskClient, form: dict[str, str]) -> None:
        start.wait()
        pages.append(send(admin, form))

    threads = [
        threading.Thread(target=submit, args=pair) for pair in zip(admins, forms, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(pages) == len(admins)
    return pages


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
    page = send(admins[0], helpers.refund_form(admins[0], 1, everything=True))
    assert "Refunded £0.99." in page
    refunds = live_shop.stripe_client.v1.refunds.list(
        params={"payment_intent": intent, "limit": 100}
    ).data
    assert sorted(r.amount for r in refunds) == [99] + [100] * ROUNDS
    order = live_shop.read(lambda: db.session.get(Order, 1))
    assert (order.status, order.amount_refunded) == ("refunded", 699)


#: Each round: what both admins ask for, what is left before (of £6.99). Together the
#: two ask for more than is left, each alone fits; the last round both ask for all.
RACES = [("4.00", 699), ("2.00", 299), ("0.60", 99), ("0.30", 39), ("", 9)]


def test_two_refund_forms_sent_at_once_for_more_than_is_left_refund_once(
    live_shop: LiveShop,
) -> None:
    """The probe's race: two admins' forms for £4 each of £6.99 both passed Quire's
    check and reached Stripe, because the lock ended when the charge was read back,
    before the refund was recorded; only Stripe's own limit refused the second."""
    intent = paid_order(live_shop)
    admins = two_admins(live_shop)
    refunded = 0
    for round_, (amount, left) in enumerate(RACES, 1):
        asked = left if not amount else int(amount.replace(".", ""))
        pages = forms_at_once(admins, amount)
        done = [page for page in pages if "Refunded £" in page]
        refused = [page for page in pages if "left to refund" in page]
        at_stripe = refunded_at_stripe(live_shop, intent)
        order = live_shop.read(lambda: db.session.get(Order, 1))
        print(f"round {round_}: asked {asked} twice, {at_stripe} refunded at Stripe")
        refunded += asked
        assert at_stripe == order.amount_refunded == refunded <= 699
        assert (len(done), len(refused)) == (1, 1), pages
        assert order.amount_refund_reserved == 0
    assert "has nothing left to refund" in refused[0]
    assert (order.status, order.amount_refunded) == ("refunded", 699)


def test_two_refund_forms_sent_at_once_that_fit_both_refund(live_shop: LiveShop) -> None:
    intent = paid_order(live_shop)
    admins = two_admins(live_shop)
    for round_ in (1, 2):
        pages = forms_at_once(admins, "1.50")
        assert all("Refunded £1.50." in page for page in pages), pages
        order = live_shop.read(lambda: db.session.get(Order, 1))
        assert refunded_at_stripe(live_shop, intent) == order.amount_refunded == 300 * round_
        assert (order.status, order.amount_refund_reserved) == ("partially_refunded", 0)
    assert "£0.99" in admins[0].get("/admin/orders/1").text  # what is left, offered next
