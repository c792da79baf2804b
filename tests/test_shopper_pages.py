"""Pages a shopper understands: what a trial charged today and charges next, a bank
payment on its way, a failed payment and why (with Try again), statuses in plain words
coloured by tone, plurals, and never a Stripe id."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from shop.catalogue_source import loaded_catalogue
from shop.extensions import db
from shop.models import Customer, Order, OrderItem, OrderStatus, Subscription, User
from tests import builders
from tests.stripe_fakes import API, example, listing

TRIAL_END = datetime(2031, 3, 14, 9, 30, tzinfo=UTC)
#: Stripe ids of the kinds shoppers must never read (Quire's own `order-12` is fine).
STRIPE_ID = re.compile(r"\b(?:cs|pi|sub|cus|in)_[A-Za-z0-9]")


def text_of(page: Any) -> str:
    """What the shopper reads: the page without tags, entities decoded, spaces collapsed."""
    body = page.text.split("<main>", 1)[-1]
    words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
    return re.sub(r" ([.,;:])", r"\1", words)


def add_order(
    app: Flask,
    status: OrderStatus,
    *,
    kind: str = "book",
    quantity: int = 1,
    trial_days: int | None = None,
    amount_paid: int | None = None,
    last_error: str | None = None,
    with_session: bool = True,
) -> int:
    """An order of the shopper (reader@example.com) carrying every Stripe id it can hold."""
    with app.app_context():
        owner = db.session.execute(
            db.select(User).filter_by(email="reader@example.com")
        ).scalar_one()
        unit = 1299 if kind == "book" else 900
        order = Order(
            user=owner,
            kind=kind,
            currency="gbp",
            amount_total=unit * quantity,
            status=status,
            amount_paid=amount_paid,
            trial_days=trial_days,
            last_error=last_error,
            stripe_customer_id="cus_reader",
            payment_status="unpaid",
        )
        order.items.append(
            OrderItem(
                item_key="the-salt-road" if kind == "book" else "reader",
                lookup_key="book:the-salt-road" if kind == "book" else "plan:reader:month",
                description="The Salt Road — Maren Holt" if kind == "book" else "Reader, monthly",
                unit_amount=unit,
                quantity=quantity,
            )
        )
        db.session.add(order)
        db.session.flush()
        if with_session:
            order.checkout_session_id = f"cs_test_{order.id}"
            order.payment_intent_id = f"pi_{order.id}" if kind == "book" else None
            order.stripe_subscription_id = f"sub_{order.id}" if kind != "book" else None
        db.session.commit()
        return order.id


def add_membership(app: Flask, sub_id: str, status: str, **fields: Any) -> None:
    with app.app_context():
        owner = db.session.execute(
            db.select(User.id).filter_by(email="reader@example.com")
        ).scalar_one()
        db.session.add(
            Subscription(
                stripe_subscription_id=sub_id,
                user_id=owner,
                stripe_customer_id="cus_reader",
                plan_key="reader",
                interval="month",
                status=status,
                current_period_end=datetime(2031, 4, 1, tzinfo=UTC),
                **fields,
            )
        )
        db.session.commit()


def serve_session(mock: responses.RequestsMock, order_id: int, **fields: Any) -> str:
    """Stripe answers the order's Checkout Session with `fields` (by default still open)."""
    session_id = f"cs_test_{order_id}"
    body = builders.session(
        session_id,
        order_id,
        **{
            "status": "open",
            "payment_status": "unpaid",
            "payment_intent": None,
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            **fields,
        },
    )
    builders.stripe_serves(mock, f"/v1/checkout/sessions/{session_id}", body)
    return f"/orders/{order_id}/confirmation?session_id={session_id}"


def status_cells(page: Any) -> list[tuple[str, str]]:
    """(tone, words) of every status cell on a page."""
    return re.findall(r'class="status tone-(\w+)[^"]*">([^<]+)<', page.text)


# --- A free trial ---------------------------------------------------------------------


def test_a_trial_confirmation_says_what_was_charged_today_and_what_comes_next(
    app: Flask, client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    order_id = add_order(app, OrderStatus.PENDING, kind="membership", trial_days=14)
    trialing = builders.subscription(
        f"sub_{order_id}", status="trialing", trial_end=int(TRIAL_END.timestamp())
    )
    url = serve_session(
        fake_stripe,
        order_id,
        mode="subscription",
        status="complete",
        payment_status="no_payment_required",
        amount_total=0,
        amount_subtotal=0,
        subscription=trialing,
    )
    page = client.get(url)
    read = text_of(page)
    assert "your free trial has started" in read
    assert "Charged today: £0.00" in read
    assert "Your first payment of £9.00 will be taken on 14 Mar 2031, when the trial ends" in read
    assert "then every month" in read
    assert "no_payment_required" not in page.text
    assert not re.search(r"\bPaid\b", read)  # nothing was paid; "Free trial started" instead
    assert ("good", "Free trial started") in status_cells(page)

    account = text_of(client.get("/account"))
    assert "£0.00 today (free trial)" in account
    assert "Free trial" in account and "Trial ends 14 Mar 2031" in account


# --- Bank payments --------------------------------------------------------------------


def test_a_bank_debit_on_its_way_shows_a_waiting_page(
    app: Flask, client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    order_id = add_order(app, OrderStatus.PENDING)
    url = serve_session(
        fake_stripe,
        order_id,
        status="complete",
        payment_status="unpaid",
        payment_intent=example("payment_intent", id=f"pi_{order_id}", status="processing"),
    )
    page = client.get(url)
    read = text_of(page)
    assert "Your payment is on its way" in read
    assert "take a few working days to clear" in read
    assert "this order will show “Paid” in your account as soon as the money arrives" in read
    assert "Amount on its way £12.99" in read
    assert ("waiting", "Payment on its way") in status_cells(page)
    assert "unpaid" not in read and "awaiting" not in read
    assert "Payment on its way" in text_of(client.get(f"/orders/{order_id}"))


def test_a_failed_bank_debit_says_why_and_try_again_makes_a_new_order(
    app: Flask, client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    order_id = add_order(app, OrderStatus.AWAITING_PAYMENT, quantity=2)
    failed_intent = example(
        "payment_intent",
        id=f"pi_{order_id}",
        status="requires_payment_method",
        last_payment_error={
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
        },
    )
    url = serve_session(
        fake_stripe,
        order_id,
        status="complete",
        payment_status="unpaid",
        payment_intent=failed_intent,
    )
    for page in (client.get(url), client.get(f"/orders/{order_id}")):
        read = text_of(page)
        assert "Your payment didn't go through. There wasn't enough money in the account." in read
        assert ("bad", "Payment failed") in status_cells(page)
        assert "insufficient_funds" not in page.text and "card_declined" not in page.text
        form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', page.text, re.S)
        assert form is not None and "Try again" in form[2]
        assert form[1] == "/checkout/books/the-salt-road"
        assert 'name="quantity" value="2"' in form[2]

    # Pressing it orders the same again, priced afresh (Stripe is out here, so the
    # shopper sees the friendly page and the new order waits for them).
    again = client.post("/checkout/books/the-salt-road", data={"quantity": "2", "ship_to": "GB"})
    assert again.status_code == 503
    with app.app_context():
        newest = db.session.execute(db.select(Order).order_by(Order.id.desc())).scalars().first()
        assert newest is not None and newest.id != order_id
        assert (newest.status, newest.amount_total, newest.items[0].quantity) == (
            "pending",
            2598,
            2,
        )


def test_a_failure_without_a_known_reason_still_says_so_in_plain_words(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    order_id = add_order(
        app, OrderStatus.PAYMENT_FAILED, last_error="payment_failed code=None decline_code=None"
    )
    read = text_of(client.get(f"/orders/{order_id}"))
    assert "Your bank or card issuer didn't approve the payment." in read
    assert "code=" not in read


# --- Statuses, tones and plurals ------------------------------------------------------

#: What a shopper reads for each order status, and the tone it is coloured in.
ORDER_WORDS = {
    "pending": ("waiting", "Not paid yet"),
    "awaiting_payment": ("waiting", "Payment on its way"),
    "expired": ("neutral", "Expired"),
    "payment_failed": ("bad", "Payment failed"),
    "cancelled": ("neutral", "Cancelled"),
    "paid": ("good", "Paid"),
    "partially_refunded": ("neutral", "Partly refunded"),
    "refunded": ("neutral", "Refunded"),
    "disputed": ("bad", "Payment disputed"),
}


def test_every_order_status_reads_in_plain_words_with_its_tone(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    assert set(ORDER_WORDS) == {status.value for status in OrderStatus}
    ids = {status: add_order(app, OrderStatus(status)) for status in ORDER_WORDS}
    account = client.get("/account")
    cells = status_cells(account)
    for status, expected in ORDER_WORDS.items():
        assert expected in cells, status
        assert expected in status_cells(client.get(f"/orders/{ids[status]}")), status
    read = text_of(account)
    for raw in ("awaiting payment", "payment_failed", "partially refunded", "pending"):
        assert raw not in read


def test_a_membership_ending_at_period_end_is_not_shown_in_the_good_colour(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    add_order(app, OrderStatus.PAID, kind="membership", amount_paid=900)
    add_membership(app, "sub_live", "active")
    add_membership(app, "sub_ending", "active", cancel_at_period_end=True)
    add_membership(app, "sub_overdue", "past_due")
    add_membership(app, "sub_over", "canceled", canceled_at=datetime(2030, 1, 2, tzinfo=UTC))
    page = client.get("/account")
    memberships = page.text.split('<table class="memberships stacks">')[1].split("</table>")[0]
    rows = re.findall(r'tone-(\w+)">([^<]+)</td>\s*<td[^>]*>([^<]+)</td>', memberships)
    assert sorted(rows) == sorted(
        [
            ("good", "Active", "Renews 1 Apr 2031"),
            ("neutral", "Ending", "Ends 1 Apr 2031"),
            ("bad", "Payment overdue", "Renews 1 Apr 2031"),
            ("neutral", "Ended", "Ended 2 Jan 2030"),
        ]
    )


def test_copies_are_counted_with_the_right_plural(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    one = add_order(app, OrderStatus.PAID, quantity=1, amount_paid=1299)
    two = add_order(app, OrderStatus.PAID, quantity=2, amount_paid=2598)
    account = text_of(client.get("/account"))
    assert "The Salt Road — Maren Holt · 1 copy " in account
    assert "The Salt Road — Maren Holt · 2 copies" in account
    assert "1 copies" not in account and "2 copy " not in account
    assert "1 copy" in text_of(client.get(f"/orders/{one}"))
    assert "2 copies" in text_of(client.get(f"/orders/{two}"))


# --- No Stripe ids --------------------------------------------------------------------


@pytest.fixture
def shopper_with_everything(
    app: Flask, shopper: int, fake_stripe: responses.RequestsMock
) -> list[int]:
    """Orders in every status (books and memberships, a trial among them), memberships in
    every state, a Stripe customer with a saved card; each order's session served open.
    """
    ids = [add_order(app, status, amount_paid=1299) for status in OrderStatus]
    ids.append(add_order(app, OrderStatus.PENDING, with_session=False))
    trial = add_order(app, OrderStatus.PAID, kind="membership", trial_days=14, amount_paid=0)
    ids.append(trial)
    stripe_error = "APIError status=500 code=None request_id=req_1 pi_x"
    ids.append(
        add_order(app, OrderStatus.PAYMENT_FAILED, kind="membership", last_error=stripe_error)
    )
    add_membership(app, f"sub_{trial}", "trialing", trial_end=TRIAL_END)
    for number, status in enumerate(["active", "past_due", "canceled", "incomplete", "unpaid"]):
        add_membership(app, f"sub_extra{number}", status)
    add_membership(app, "sub_ending", "active", cancel_at_period_end=True)
    with app.app_context():
        db.session.add(Customer(user_id=shopper, stripe_customer_id="cus_reader"))
        db.session.commit()
    card = example("payment_method", id="pm_saved", customer="cus_reader")
    fake_stripe.add(
        "GET",
        re.compile(API + r"/v1/customers/cus_reader/payment_methods(\?.*)?$"),
        json=listing("/v1/customers/cus_reader/payment_methods", [card]),
    )
    for order_id in ids:
        serve_session(fake_stripe, order_id)
    return ids


def test_no_stripe_id_appears_on_any_shopper_page(
    app: Flask,
    client: FlaskClient,
    shopper_with_everything: list[int],
    fake_stripe: responses.RequestsMock,
) -> None:
    catalogue = loaded_catalogue(app)
    pages = ["/", "/account"]
    pages += [f"/books/{book.key}" for book in catalogue.books]
    pages += [f"/memberships/{plan.key}" for plan in catalogue.plans]
    no_session = shopper_with_everything[len(OrderStatus)]
    for order_id in shopper_with_everything:
        pages += [f"/orders/{order_id}", f"/orders/{order_id}/cancelled"]
        if order_id != no_session:
            pages.append(f"/orders/{order_id}/confirmation?session_id=cs_test_{order_id}")
    seen = 0
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, url
        assert not STRIPE_ID.findall(page.text), (url, STRIPE_ID.findall(page.text))
        seen += 1
    assert "Visa ending 4242" in client.get("/account").text  # the card list did render
    # The page shown when Stripe cannot open a payment (the shopper's pending order without
    # a session, with Stripe's prices out of reach).
    unavailable = client.post(f"/orders/{no_session}/resume")
    assert unavailable.status_code == 503
    assert not STRIPE_ID.findall(unavailable.text)
    assert seen == len(pages)
