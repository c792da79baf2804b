"""Closing issue 7's known gaps: cancel during a Stripe outage never oversells, payment
for released copies never takes stock below zero, the hold limit under concurrency is
in tests/test_stock_race.py, and the shopper-facing pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import responses
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from shop.catalogue_source import loaded_catalogue
from shop.checkout import stock
from shop.extensions import db
from shop.models import CartLine, Order, OrderStatus, StockLevel, utcnow
from tests import helpers
from tests.helpers import basket_of, level, only_order
from tests.stripe_fakes import API, FakeStripe, event, example, listing

LIGHTHOUSE = "letters-from-the-lighthouse"  # 5 copies allotted


# --- 1. cancelling while Stripe is unreachable --------------------------------------------


def test_cancel_while_stripe_is_unreachable_keeps_the_order_and_its_copies(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    client.post(f"/cart/books/{LIGHTHOUSE}", data={"quantity": "2"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    stripe_shop.sessions.unreachable = True
    page = client.post("/orders/1/cancel", follow_redirects=True).text
    assert "We couldn&#39;t cancel it right now — try again in a moment" in page
    assert only_order(app).status == "pending"
    assert level(app) == (2, 0)  # still held: the open page may yet be paid
    assert stripe_shop.sessions.sessions["cs_test_1"]["status"] == "open"

    stripe_shop.sessions.unreachable = False  # a moment later
    page = client.post("/orders/1/cancel", follow_redirects=True).text
    assert "Order #1 is cancelled" in page
    assert only_order(app).status == "cancelled"
    assert level(app) == (0, 0)
    assert stripe_shop.sessions.sessions["cs_test_1"]["status"] == "expired"


def test_a_payment_for_copies_already_sold_to_others_never_takes_stock_below_zero(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    stripe_shop: FakeStripe,
    post_event: Callable[..., Any],
    add_user: Callable[..., int],
) -> None:
    client.post(f"/cart/books/{LIGHTHOUSE}", data={"quantity": "3"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    with app.app_context():  # its hold lapsed; the copies went back, and 4 were sold since
        order = db.session.get(Order, 1)
        stock.release(order)
        db.session.get(StockLevel, LIGHTHOUSE).sold = 4
        db.session.commit()
    paid = stripe_shop.sessions.complete("cs_test_1", 3 * 2200)
    post_event(event("checkout.session.completed", paid))
    post_event(event("checkout.session.completed", paid))  # replayed
    assert level(app) == (0, 5)  # the one copy left, never more than the 5 allotted
    order = only_order(app)
    assert order.status == "paid"
    assert order.oversold == 2
    with app.app_context():
        assert stock.available(loaded_catalogue(app).book(LIGHTHOUSE)) == 0
    add_user("owner@example.com", admin=True)
    admin = app.test_client()
    helpers.sign_in(admin, "owner@example.com")
    page = admin.get("/admin/orders/1").text
    assert "Oversold: 2 copies paid for after they were sold to someone else" in page
    assert "refund or find a copy" in page


def test_copies_of_a_cancel_that_never_reached_stripe_go_back_when_its_page_lapses(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    client.post(f"/cart/books/{LIGHTHOUSE}", data={"quantity": "2"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    with app.app_context():  # cancelled, then the shop stopped before Stripe answered
        order = db.session.get(Order, 1)
        order.advance(OrderStatus.CANCELLED)
        db.session.commit()
    assert level(app) == (2, 0)
    with app.app_context():
        stock.expire_lapsed()
        db.session.commit()
    assert level(app) == (2, 0)  # its page may still be paid until it lapses
    with app.app_context():
        stock.expire_lapsed(utcnow() + timedelta(minutes=32))
        db.session.commit()
    assert level(app) == (0, 0)
    assert only_order(app).status == "cancelled"


# --- 3. Try again for a failed order of several books -------------------------------------


def test_try_again_for_a_failed_order_of_several_books_puts_them_back_in_the_basket(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    stripe_shop: FakeStripe,
    post_event: Callable[..., Any],
) -> None:
    client.post(f"/cart/books/{LIGHTHOUSE}", data={"quantity": "2"})
    client.post("/cart/books/salt-road-ebook", data={"quantity": "1"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    failed = stripe_shop.sessions.complete("cs_test_1", 5099)
    failed.update(
        payment_status="unpaid",
        payment_intent=example("payment_intent", id="pi_1", status="requires_payment_method"),
    )
    post_event(event("checkout.session.async_payment_failed", failed))
    assert only_order(app).status == "payment_failed"
    for key in (LIGHTHOUSE, "salt-road-ebook"):  # the shopper emptied the basket since
        client.post(f"/cart/books/{key}/remove")
    assert basket_of(app) == {}

    page = client.get("/orders/1").text
    form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', page, re.S)
    assert form is not None and "Try again" in form[2] and 'name="csrf_token"' in form[2]
    assert form[1] == "/orders/1/basket"
    again = client.post("/orders/1/basket")
    assert again.status_code == 303 and again.location.endswith("/cart")
    assert basket_of(app) == {LIGHTHOUSE: 2, "salt-road-ebook": 1}
    client.post("/orders/1/basket")  # pressed twice: the basket is not doubled
    assert basket_of(app) == {LIGHTHOUSE: 2, "salt-road-ebook": 1}
    assert "Letters from the Lighthouse" in client.get("/cart").text


def test_no_one_else_can_put_my_order_in_their_basket(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    client.post(f"/cart/books/{LIGHTHOUSE}", data={"quantity": "2"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    helpers.add_user(app, "other@example.com")
    other = app.test_client()
    helpers.sign_in(other, "other@example.com")
    assert other.post("/orders/1/basket").status_code == 404
    assert basket_of(app, "other@example.com") == {}


# --- 4. a book no longer sold -------------------------------------------------------------


def test_a_book_no_longer_sold_is_taken_out_of_the_basket_and_the_shopper_told_once(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    client.post(f"/cart/books/{LIGHTHOUSE}", data={"quantity": "1"})
    with app.app_context():
        db.session.add(CartLine(user_id=shopper, book_key="the-lost-atlas", quantity=1))
        db.session.commit()
    first = client.get("/cart").text
    assert "The lost atlas is no longer sold and was taken out of your basket." in first
    assert basket_of(app) == {LIGHTHOUSE: 1}
    second = client.get("/cart").text
    assert "no longer sold" not in second
    assert "Letters from the Lighthouse" in second


# --- 5. member prices: none shown when no plan discounts printed books --------------------


def test_no_member_price_is_shown_when_no_plan_discounts_printed_books(
    client: FlaskClient,
) -> None:
    assert "members pay" not in client.get("/books/the-salt-road").text.lower()


# --- 6. `orders reconcile` sweeps lapsed holds --------------------------------------------


def test_orders_reconcile_ends_lapsed_checkouts_and_gives_their_copies_back(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    stripe_shop: FakeStripe,
    fake_stripe: responses.RequestsMock,
    runner: FlaskCliRunner,
) -> None:
    client.post(f"/cart/books/{LIGHTHOUSE}", data={"quantity": "2"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    assert level(app) == (2, 0)
    with app.app_context():  # the first page lapsed and its expiry event never came
        db.session.get(Order, 1).expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    for path in ("/v1/checkout/sessions", "/v1/subscriptions", "/v1/invoices", "/v1/charges"):
        fake_stripe.add("GET", re.compile(API + path + r"\?.*"), json=listing(path, []), status=200)

    result = runner.invoke(args=["orders", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "1 lapsed pending order(s) marked expired" in result.output
    assert only_order(app).status == "expired"
    assert level(app) == (0, 0)
    assert "Expired" in client.get("/orders/1").text
    again = runner.invoke(args=["orders", "reconcile"])  # run again: nothing more to do
    assert "0 record(s) changed" in again.output
    assert level(app) == (0, 0)
