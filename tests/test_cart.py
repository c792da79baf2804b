"""The basket: signed out or in, one order and one Stripe page for all of it, kept until
paid; pending orders that end (cancelled, expired) and the copies they held."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import responses
from flask import Flask
from flask.testing import FlaskClient

from shop.catalogue_source import loaded_catalogue
from shop.checkout import orders, sessions, stock
from shop.extensions import db
from shop.models import CartLine, Order, OrderItem, OrderStatus, StockLevel, User, utcnow
from shop.stripe_client import stripe_client
from tests import helpers
from tests.helpers import basket_of, level, only_order
from tests.stripe_fakes import API, FakeStripe, event, example


def complete_event(
    post_event: Callable[..., Any], fake: FakeStripe, session_id: str, amount: int
) -> Any:
    paid = fake.sessions.complete(session_id, amount)
    return post_event(event("checkout.session.completed", paid))


# --- the basket ---------------------------------------------------------------------------


def test_signed_out_basket_is_kept_through_sign_in_and_reaches_stripe(
    app: Flask, client: FlaskClient, add_user: Callable[..., int], stripe_shop: FakeStripe
) -> None:
    add_user()
    client.post("/cart/books/the-salt-road", data={"quantity": "2", "action": "add"})
    buy_now = client.post("/cart/books/salt-road-ebook", data={"quantity": "1", "action": "buy"})
    assert buy_now.location == "/cart"
    page = client.get("/cart").text
    assert "The Salt Road" in page and "£32.97" in page  # 2 × £12.99 + £6.99

    # Checkout while signed out → sign in → back on the basket, never a 405 or an error.
    response = client.post("/cart/checkout", data={"ship_to": "GB"}, follow_redirects=True)
    assert response.status_code == 200 and response.request.path == "/login"
    assert "your basket is kept" in response.text
    next_url = response.request.args["next"]
    assert next_url == "/cart"
    signed_in = client.post(
        f"/login?next={next_url}",
        data={"email": "reader@example.com", "password": helpers.PASSWORD},
        follow_redirects=True,
    )
    assert [r.status_code for r in signed_in.history] == [302]
    assert signed_in.status_code == 200 and signed_in.request.path == "/cart"
    assert "£32.97" in signed_in.text
    assert basket_of(app) == {"the-salt-road": 2, "salt-road-ebook": 1}

    to_stripe = client.post("/cart/checkout", data={"ship_to": "GB"})
    assert to_stripe.status_code == 303
    assert to_stripe.location == "https://checkout.stripe.com/c/pay/cs_test_1"


def test_signing_up_keeps_the_basket_too(
    app: Flask, client: FlaskClient, stripe_shop: FakeStripe
) -> None:
    client.post("/cart/books/winter-orchard", data={"quantity": "3", "action": "buy"})
    login = client.post("/cart/checkout", data={"ship_to": "GB"}, follow_redirects=True)
    register_link = re.search(r'href="(/register\?next=[^"]*)"', login.text)
    assert register_link is not None
    next_path = register_link.group(1).replace("&amp;", "&").split("next=", 1)[1]
    signed_up = helpers.sign_up(app, client, "new@example.com", "long enough!", next_path=next_path)
    assert signed_up.request.path == "/cart" and "Winter Orchard" in signed_up.text
    assert basket_of(app, "new@example.com") == {"winter-orchard": 3}
    assert client.post("/cart/checkout", data={"ship_to": "GB"}).status_code == 303


def test_a_basket_merges_into_the_one_the_shopper_already_had(
    app: Flask, client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    helpers.sign_in(client)
    client.post("/cart/books/the-salt-road", data={"quantity": "9"})
    client.post("/logout")
    client.post("/cart/books/the-salt-road", data={"quantity": "4"})
    client.post("/cart/books/salt-road-ebook", data={"quantity": "1"})
    helpers.sign_in(client)
    assert basket_of(app) == {"the-salt-road": 10, "salt-road-ebook": 1}  # capped at 10
    assert "Your basket is empty" not in client.get("/cart").text


def test_quantities_change_and_lines_go(app: Flask, client: FlaskClient, shopper: int) -> None:
    client.post("/cart/books/the-salt-road", data={"quantity": "1"})
    client.post("/cart/books/the-salt-road", data={"quantity": "2"})
    assert basket_of(app) == {"the-salt-road": 3}
    client.post("/cart/books/the-salt-road/quantity", data={"quantity": "5"})
    assert basket_of(app) == {"the-salt-road": 5}
    refused = client.post("/cart/books/the-salt-road/quantity", data={"quantity": "11"})
    assert "between 0 and 10" in client.get(refused.location).text
    client.post("/cart/books/the-salt-road/quantity", data={"quantity": "0"})
    assert basket_of(app) == {}
    client.post("/cart/books/winter-orchard", data={"quantity": "1"})
    client.post("/cart/books/winter-orchard/remove")
    assert "Your basket is empty" in client.get("/cart").text


def test_an_ebook_is_one_copy_and_cannot_be_added_once_owned(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    client.post("/cart/books/salt-road-ebook", data={"quantity": "1"})
    again = client.post("/cart/books/salt-road-ebook", data={"quantity": "1"})
    assert "already in your basket" in client.get(again.location).text
    client.post("/cart/books/salt-road-ebook/quantity", data={"quantity": "2"})
    assert basket_of(app) == {"salt-road-ebook": 1}
    client.post("/cart/books/salt-road-ebook/remove")

    order_id = _paid_order(app, "salt-road-ebook")
    refused = client.post("/cart/books/salt-road-ebook", data={"quantity": "1"})
    assert "You already own The Salt Road (ebook)" in client.get(refused.location).text
    assert basket_of(app) == {}
    assert "You own this ebook" in client.get("/books/salt-road-ebook").text
    with app.app_context():
        db.session.get(Order, order_id).status = OrderStatus.REFUNDED  # refunded: not owned
        db.session.commit()
    client.post("/cart/books/salt-road-ebook", data={"quantity": "1"})
    assert basket_of(app) == {"salt-road-ebook": 1}


def _paid_order(app: Flask, key: str, email: str = "reader@example.com") -> int:
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
        order = Order(user=user, kind="book", currency="gbp", amount_total=699, status="paid")
        order.items.append(
            OrderItem(
                item_key=key, lookup_key=f"book:{key}", description=key, unit_amount=699, quantity=1
            )
        )
        db.session.add(order)
        db.session.commit()
        return order.id


# --- checkout -----------------------------------------------------------------------------


def test_checkout_makes_one_order_with_a_line_per_book_and_one_stripe_page(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    client.post("/cart/books/the-salt-road", data={"quantity": "2"})
    client.post("/cart/books/salt-road-ebook", data={"quantity": "1"})
    client.post("/cart/books/letters-from-the-lighthouse", data={"quantity": "1"})
    before = time.time()
    response = client.post("/cart/checkout", data={"ship_to": "GB"})
    assert response.status_code == 303

    (params,) = stripe_shop.sessions.created
    assert params["line_items"] == [
        {"price": "price_book_the-salt-road", "quantity": "2"},
        {"price": "price_book_salt-road-ebook", "quantity": "1"},
        {"price": "price_book_letters-from-the-lighthouse", "quantity": "1"},
    ]
    assert stripe_shop.price_lists == 1  # one list call for every line
    assert params["mode"] == "payment"
    assert params["shipping_address_collection"]["allowed_countries"][0] == "GB"
    assert int(params["expires_at"]) >= before + 30 * 60
    order = only_order(app)
    assert [(i.item_key, i.quantity) for i in order.items] == [
        ("the-salt-road", 2),
        ("salt-road-ebook", 1),
        ("letters-from-the-lighthouse", 1),
    ]
    assert order.amount_total == 2 * 1299 + 699 + 2200
    assert level(app) == (1, 0)  # the limited book's copy is held
    assert basket_of(app) == {
        "the-salt-road": 2,
        "salt-road-ebook": 1,
        "letters-from-the-lighthouse": 1,
    }  # kept until paid
    assert "data-submit-once" in client.get("/cart").text  # the button disables on submit


def test_checkout_again_with_the_same_basket_reuses_the_open_page(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    client.post("/cart/books/the-salt-road", data={"quantity": "1"})
    first = client.post("/cart/checkout", data={"ship_to": "GB"})
    second = client.post("/cart/checkout", data={"ship_to": "GB"})
    assert first.location == second.location
    assert len(stripe_shop.sessions.created) == 1
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Order.id))).scalar_one() == 1

    # A changed basket cancels the open order (its page can no longer be paid) first.
    client.post("/cart/books/winter-orchard", data={"quantity": "1"})
    third = client.post("/cart/checkout", data={"ship_to": "GB"})
    assert third.location.endswith("cs_test_2")
    assert stripe_shop.sessions.expire_calls == ["cs_test_1"]
    with app.app_context():
        statuses = db.session.execute(db.select(Order.status).order_by(Order.id)).scalars()
        assert list(statuses) == ["cancelled", "pending"]


def test_a_double_clicked_checkout_opens_one_stripe_page(
    app: Flask, add_user: Callable[..., int], fake_stripe: responses.RequestsMock
) -> None:
    """Two Checkout POSTs at the same moment, with the same basket: one order, one page."""
    fake = FakeStripe(fake_stripe, delay=0.3)
    add_user()
    clients = [app.test_client(), app.test_client()]
    for one in clients:
        helpers.sign_in(one)
    clients[0].post("/cart/books/letters-from-the-lighthouse", data={"quantity": "2"})
    locations: list[str] = []
    start = threading.Barrier(2)

    def click(one: FlaskClient) -> None:
        start.wait()
        locations.append(one.post("/cart/checkout", data={"ship_to": "GB"}).location)

    threads = [threading.Thread(target=click, args=(one,)) for one in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.sessions.created) == 1
    assert locations == [fake.sessions.sessions["cs_test_1"]["url"]] * 2
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Order.id))).scalar_one() == 1
    assert level(app) == (2, 0)  # held once


def test_payment_takes_only_what_was_ordered_out_of_the_basket_once(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    stripe_shop: FakeStripe,
    post_event: Callable[..., Any],
) -> None:
    client.post("/cart/books/letters-from-the-lighthouse", data={"quantity": "2"})
    client.post("/cart/books/salt-road-ebook", data={"quantity": "1"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    with app.app_context():  # added in another tab while paying: not part of the order
        db.session.add(CartLine(user_id=shopper, book_key="winter-orchard", quantity=1))
        db.session.commit()
    paid = stripe_shop.sessions.complete("cs_test_1", 5099)
    assert post_event(event("checkout.session.completed", paid)).status_code == 200
    assert basket_of(app) == {"winter-orchard": 1}
    assert level(app) == (0, 2)
    assert only_order(app).status == "paid"

    # The same news again (a replay, the confirmation page, a late expiry event): no change.
    client.post("/cart/books/letters-from-the-lighthouse", data={"quantity": "1"})
    post_event(event("checkout.session.completed", paid))
    post_event(event("checkout.session.expired", paid))
    client.get("/orders/1/confirmation?session_id=cs_test_1")
    assert basket_of(app) == {"winter-orchard": 1, "letters-from-the-lighthouse": 1}
    assert level(app) == (0, 2)


def test_the_basket_stays_when_the_page_expires_and_the_copies_go_back_once(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    stripe_shop: FakeStripe,
    post_event: Callable[..., Any],
) -> None:
    client.post("/cart/books/letters-from-the-lighthouse", data={"quantity": "3"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    assert level(app) == (3, 0)
    expired = stripe_shop.sessions.expire_now("cs_test_1")
    post_event(event("checkout.session.expired", expired))
    post_event(event("checkout.session.expired", expired))  # replayed
    assert level(app) == (0, 0)
    assert only_order(app).status == "expired"
    assert basket_of(app) == {"letters-from-the-lighthouse": 3}
    assert "Expired" in client.get("/orders/1").text
    assert client.post("/cart/checkout", data={"ship_to": "GB"}).location.endswith(
        "cs_test_2"
    )  # check out again
    assert level(app) == (3, 0)


def test_a_payment_that_fails_gives_the_copies_back(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    stripe_shop: FakeStripe,
    post_event: Callable[..., Any],
) -> None:
    client.post("/cart/books/letters-from-the-lighthouse", data={"quantity": "1"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    failed = stripe_shop.sessions.sessions["cs_test_1"]
    failed.update(
        status="complete",
        payment_status="unpaid",
        payment_intent=example("payment_intent", id="pi_1", status="requires_payment_method"),
    )
    post_event(event("checkout.session.async_payment_failed", failed))
    post_event(event("checkout.session.async_payment_failed", failed))
    assert only_order(app).status == "payment_failed"
    assert level(app) == (0, 0)


# --- orders that end ----------------------------------------------------------------------


def test_a_shopper_cancels_a_pending_order(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    stripe_shop: FakeStripe,
    post_event: Callable[..., Any],
) -> None:
    client.post("/cart/books/letters-from-the-lighthouse", data={"quantity": "2"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    page = client.get("/orders/1").text
    assert "Cancel this order" in page and "Not paid yet" in page
    cancelled = client.post("/orders/1/cancel", follow_redirects=True)
    assert "Order #1 is cancelled" in cancelled.text and "Cancelled" in cancelled.text
    assert stripe_shop.sessions.expire_calls == ["cs_test_1"]
    assert stripe_shop.sessions.sessions["cs_test_1"]["status"] == "expired"
    assert level(app) == (0, 0)
    assert basket_of(app) == {"letters-from-the-lighthouse": 2}

    # Stripe's expiry event follows: the order stays cancelled, the copies are not given twice.
    post_event(event("checkout.session.expired", stripe_shop.sessions.sessions["cs_test_1"]))
    assert only_order(app).status == "cancelled"
    assert level(app) == (0, 0)
    assert "Return to payment" not in client.get("/orders/1").text


def test_a_cancelled_order_stays_cancelled_when_stripe_s_expiry_event_lands_first(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    stripe_shop: FakeStripe,
    post_event: Callable[..., Any],
) -> None:
    client.post("/cart/books/letters-from-the-lighthouse", data={"quantity": "2"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    webhook = app.test_client()
    stripe_shop.sessions.on_expire = lambda session: post_event(
        event("checkout.session.expired", session), client=webhook
    )
    client.post("/orders/1/cancel")
    assert only_order(app).status == "cancelled"
    assert level(app) == (0, 0)


def test_cancelling_an_order_paid_meanwhile_records_the_payment(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    client.post("/cart/books/letters-from-the-lighthouse", data={"quantity": "1"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    stripe_shop.sessions.complete("cs_test_1", 2200)
    response = client.post("/orders/1/cancel", follow_redirects=True)
    assert "was already paid" in response.text
    assert only_order(app).status == "paid"
    assert level(app) == (0, 1)
    assert basket_of(app) == {}


def test_a_pending_membership_sign_up_can_be_cancelled(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    client.post("/checkout/memberships/reader", data={"interval": "month"})
    params = stripe_shop.sessions.created[0]
    # Stripe's own expiry (24 hours), so racing presses send identical parameters.
    assert "expires_at" not in params
    client.post("/orders/1/cancel")
    assert only_order(app).status == "cancelled"
    assert stripe_shop.sessions.expire_calls == ["cs_test_1"]


def test_others_cannot_cancel_my_order(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    client.post("/cart/books/the-salt-road", data={"quantity": "1"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    helpers.add_user(app, "other@example.com")
    other = app.test_client()
    helpers.sign_in(other, "other@example.com")
    assert other.post("/orders/1/cancel").status_code == 404
    assert only_order(app).status == "pending"


def test_resuming_an_order_made_two_hours_ago_asks_for_a_page_from_now(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    """Made during a Stripe outage two hours ago, it never got a page; Try again works."""
    with app.app_context():
        user = db.session.get(User, shopper)
        order = orders.book_order(loaded_catalogue(app), user, {"winter-orchard": 1},
                                max_held=5, ship_to="GB")  # fmt: skip
        order.created_at = utcnow() - timedelta(hours=2)
        db.session.commit()
    before = time.time()
    response = client.post("/orders/1/resume")
    assert response.status_code == 303
    expires_at = int(stripe_shop.sessions.created[0]["expires_at"])
    assert before + 30 * 60 <= expires_at <= time.time() + 32 * 60
    with app.app_context():
        assert db.session.get(Order, 1).expires_at.timestamp() == expires_at


def test_an_abandoned_order_shows_expired_without_stripe_saying_so(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    client.post("/cart/books/letters-from-the-lighthouse", data={"quantity": "2"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    with app.app_context():
        db.session.get(Order, 1).expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    account = client.get("/account").text
    assert "Expired" in account and "Not paid yet" not in account
    assert level(app) == (0, 0)
    resumed = client.post("/orders/1/resume")
    assert "no longer waiting for payment" in client.get(resumed.location).text


# --- limits -------------------------------------------------------------------------------


def test_one_account_holds_at_most_max_held_copies(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    app.config["MAX_HELD_COPIES"] = 3
    client.post(
        "/checkout/books/letters-from-the-lighthouse", data={"quantity": "2", "ship_to": "GB"}
    )
    client.post("/cart/books/letters-from-the-lighthouse", data={"quantity": "2"})
    refused = client.post("/cart/checkout", data={"ship_to": "GB"})
    assert refused.location == "/cart"
    assert "at most 3 copies" in client.get("/cart").text
    assert level(app) == (2, 0)
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Order.id))).scalar_one() == 1


def test_a_sold_out_book_says_so_and_cannot_be_added(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    with app.app_context():
        db.session.add(StockLevel(book_key="letters-from-the-lighthouse", held=1, sold=4))
        db.session.commit()
    page = client.get("/books/letters-from-the-lighthouse").text
    assert "Sold out" in page and "Add to basket" not in page
    refused = client.post("/cart/books/letters-from-the-lighthouse", data={"quantity": "1"})
    assert "sold out" in client.get(refused.location).text
    assert basket_of(app) == {}


def test_the_admin_sees_stock_per_book(
    app: Flask, client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user("owner@example.com", admin=True)
    helpers.sign_in(client, "owner@example.com")
    with app.app_context():
        db.session.add(StockLevel(book_key="letters-from-the-lighthouse", held=1, sold=3))
        db.session.commit()
    page = client.get("/admin/").text
    row = re.search(r'<tr data-book="letters-from-the-lighthouse">(.*?)</tr>', page)
    assert row is not None
    cells = dict(re.findall(r'<td data-label="(\w+)">(\d+)</td>', row.group(1)))
    assert cells == {"Allotted": "5", "Sold": "3", "Held": "1", "Available": "1"}


def test_a_full_refund_puts_copies_back_only_when_ticked(
    app: Flask,
    client: FlaskClient,
    add_user: Callable[..., int],
    stripe_shop: FakeStripe,
    fake_stripe: responses.RequestsMock,
) -> None:
    add_user()
    add_user("owner@example.com", admin=True)
    for email, ticked in (("reader@example.com", False), ("reader@example.com", True)):
        helpers.sign_in(client, email)
        client.post(
            "/checkout/books/letters-from-the-lighthouse", data={"quantity": "1", "ship_to": "GB"}
        )
        with app.app_context():
            order = db.session.execute(db.select(Order).order_by(Order.id.desc())).scalars().first()
            session_id, order_id = order.checkout_session_id, order.id
        client.get(f"/orders/{order_id}/confirmation?session_id={session_id}")
        stripe_shop.sessions.complete(session_id, 2200)
        client.get(f"/orders/{order_id}/confirmation?session_id={session_id}")
        client.post("/logout")
        helpers.sign_in(client, "owner@example.com")
        charge = example(
            "charge", id=f"ch_{order_id}", payment_intent=f"pi_{session_id}", amount=2200,
            amount_refunded=2200, refunded=True,
        )  # fmt: skip
        fake_stripe.upsert(
            "POST",
            API + "/v1/refunds",
            json=example("refund", id=f"re_{order_id}", charge=f"ch_{order_id}", amount=2200),
        )
        fake_stripe.upsert(
            "GET", re.compile(API + rf"/v1/charges/ch_{order_id}(\?.*)?$"), json=charge
        )
        data = {
            **helpers.refund_form(client, order_id, everything=True),
            **({"restock": "y"} if ticked else {}),
        }
        client.post(f"/admin/orders/{order_id}/refund", data=data)
        client.post("/logout")
        with app.app_context():
            assert db.session.get(Order, order_id).status == "refunded"
    assert level(app) == (0, 1)  # the first refund kept its copy sold, the second put it back


def test_lapsed_holds_are_swept_before_new_ones(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    client.post("/cart/books/letters-from-the-lighthouse", data={"quantity": "5"})
    app.config["MAX_HELD_COPIES"] = 5
    client.post("/cart/checkout", data={"ship_to": "GB"})
    assert level(app) == (5, 0)
    with app.app_context():
        db.session.get(Order, 1).expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        user = db.session.get(User, shopper)
        order = orders.book_order(loaded_catalogue(app), user,
                                {"letters-from-the-lighthouse": 5}, max_held=5, ship_to="GB")  # fmt: skip
        assert order.stock_state == "held"
        assert db.session.get(Order, 1).status == "expired"
    assert level(app) == (5, 0)


def test_cancel_order_runs_without_a_request(
    app: Flask, add_user: Callable[..., int], stripe_shop: FakeStripe
) -> None:
    """The domain function itself: an order with no Stripe page yet is simply cancelled."""
    user_id = add_user()
    with app.app_context():
        user = db.session.get(User, user_id)
        order = orders.book_order(loaded_catalogue(app), user,
                                {"letters-from-the-lighthouse": 2}, max_held=5, ship_to="GB")  # fmt: skip
        status = sessions.cancel_order(stripe_client(), order)
        assert status == OrderStatus.CANCELLED
        book = loaded_catalogue(app).book("letters-from-the-lighthouse")
        assert stock.available(book) == 5
    assert stripe_shop.sessions.expire_calls == []
