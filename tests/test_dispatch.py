"""Dispatch: the admin's "To ship" queue, Mark shipped, and what the shopper sees of it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from shop import dispatch
from shop.extensions import db
from shop.models import Order
from tests import builders, helpers

PAID = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def printed_order(
    app: Flask,
    *,
    email: str = "reader@example.com",
    status: str = "paid",
    paid_at: datetime = PAID,
    name: str = "Ada Reader",
    ships: bool = True,
) -> int:
    """A paid order of The Salt Road with the address Stripe collected."""
    order_id = builders.add_order(app, session_id=None, user_email=email)
    with app.app_context():
        order = db.session.get(Order, order_id)
        order.ships = ships
        order.status, order.paid_at, order.amount_paid = status, paid_at, 1584
        if ships:
            order.ship_to_country = "GB"
            order.shipping_name = name
            order.shipping_address = "1 Quay Street\nBristol\nBS1 4DJ\nUnited Kingdom"
            order.shipping_amount, order.shipping_method = 285, "Royal Mail 2nd class"
        db.session.commit()
    return order_id


def shipped_at(app: Flask, order_id: int) -> datetime | None:
    with app.app_context():
        return db.session.get(Order, order_id).shipped_at


@pytest.fixture
def admin(add_user: Callable[..., int], sign_in: Callable[..., None]) -> None:
    add_user("owner@example.com", admin=True)
    sign_in("owner@example.com")


def test_the_queue_lists_paid_printed_orders_oldest_first_with_address_items_and_postage(
    app: Flask, client: FlaskClient, admin: None
) -> None:
    newer = printed_order(app, paid_at=PAID + timedelta(days=1), name="Newer Reader")
    older = printed_order(app, paid_at=PAID, name="Older Reader")
    page = client.get("/admin/to-ship").text
    assert page.index(f'id="order-{older}"') < page.index(f'id="order-{newer}"')
    assert "Older Reader<br>1 Quay Street<br>Bristol<br>BS1 4DJ<br>United Kingdom" in page
    assert "1 × The Salt Road — Maren Holt" in page
    assert "Postage: £2.85 · Royal Mail 2nd class" in page


def test_orders_not_to_post_are_left_out_and_a_partial_refund_is_flagged(
    app: Flask, client: FlaskClient, admin: None
) -> None:
    printed_order(app, status="pending", name="Pending Reader")
    printed_order(app, status="refunded", name="Refunded Reader")
    printed_order(app, status="disputed", name="Disputed Reader")
    printed_order(app, ships=False)  # an ebook
    partly = printed_order(app, status="partially_refunded", name="Partly Refunded")
    page = client.get("/admin/to-ship").text
    for left_out in ("Pending Reader", "Refunded Reader", "Disputed Reader"):
        assert left_out not in page
    assert page.count('class="to-ship"') == 1
    assert f'id="order-{partly}"' in page and "partially refunded" in page


def test_mark_shipped_moves_the_order_off_the_queue_once(
    app: Flask, client: FlaskClient, admin: None
) -> None:
    order_id = printed_order(app)
    first = client.post(
        f"/admin/orders/{order_id}/shipped",
        data={"tracking_reference": " AB123456789GB ", "back": "queue"},
        follow_redirects=True,
    )
    assert f"Order #{order_id} marked shipped." in first.text
    assert "Nothing to ship." in first.text
    when = shipped_at(app, order_id)
    assert when is not None
    with app.app_context():
        assert db.session.get(Order, order_id).tracking_reference == "AB123456789GB"

    second = client.post(
        f"/admin/orders/{order_id}/shipped",
        data={"tracking_reference": "SOMETHING-ELSE"},
        follow_redirects=True,
    )
    assert "was already marked shipped" in second.text
    assert shipped_at(app, order_id) == when
    with app.app_context():
        assert db.session.get(Order, order_id).tracking_reference == "AB123456789GB"


def test_the_admin_order_page_shows_the_address_and_shipped_state(
    app: Flask, client: FlaskClient, admin: None
) -> None:
    order_id = printed_order(app)
    page = client.get(f"/admin/orders/{order_id}").text
    assert "Ada Reader<br>1 Quay Street" in page
    assert "Not shipped yet" in page and "Mark shipped" in page
    client.post(f"/admin/orders/{order_id}/shipped", data={"back": "order"})
    page = client.get(f"/admin/orders/{order_id}").text
    assert f"Shipped on {datetime.now(UTC).strftime('%-d %b %Y')}" in page
    assert "Mark shipped" not in page


def test_a_refunded_order_cannot_be_marked_shipped(
    app: Flask, client: FlaskClient, admin: None
) -> None:
    order_id = printed_order(app, status="refunded")
    response = client.post(f"/admin/orders/{order_id}/shipped", data={}, follow_redirects=True)
    assert "A refunded order is not posted." in response.text
    assert shipped_at(app, order_id) is None


def test_only_admins_see_the_queue_or_mark_shipped(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    order_id = printed_order(app)  # the shopper's own order
    assert client.get("/admin/to-ship").status_code == 403
    assert client.post(f"/admin/orders/{order_id}/shipped", data={}).status_code == 403
    assert shipped_at(app, order_id) is None
    client.post("/logout")
    assert client.get("/admin/to-ship").location.startswith("/login")


def test_marking_an_unknown_order_is_404(client: FlaskClient, admin: None) -> None:
    assert client.post("/admin/orders/999/shipped", data={}).status_code == 404


def test_mark_shipped_without_a_csrf_token_is_refused(
    fake_stripe: responses.RequestsMock, make_app: Callable[..., Flask]
) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
    order_id = printed_order(app)
    helpers.add_user(app, "owner@example.com", admin=True)
    client = app.test_client()
    login = client.get("/login").text
    token = login.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post(
        "/login",
        data={
            "email": "owner@example.com",
            "password": "correct horse battery",
            "csrf_token": token,
        },
    )
    assert client.get("/admin/to-ship").status_code == 200  # signed in as the admin
    assert client.post(f"/admin/orders/{order_id}/shipped", data={}).status_code == 400
    assert shipped_at(app, order_id) is None


# --- the shopper's side ------------------------------------------------------------------


def test_the_shopper_sees_the_address_postage_and_whether_it_has_shipped(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    order_id = printed_order(app)
    page = client.get(f"/orders/{order_id}").text
    assert "Ada Reader<br>1 Quay Street<br>Bristol<br>BS1 4DJ<br>United Kingdom" in page
    assert "£2.85 · Royal Mail 2nd class" in page
    assert "Not shipped yet" in page
    with app.app_context():
        order = db.session.get(Order, order_id)
        order.shipped_at = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
        order.tracking_reference = "AB123456789GB"
        db.session.commit()
    page = client.get(f"/orders/{order_id}").text
    assert "Shipped on 21 Nov 2026" in page
    assert "AB123456789GB" in page
    assert "Not shipped yet" not in page


def test_a_shopper_cannot_see_anyone_elses_delivery_address(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    theirs = printed_order(app, email="someone@example.com", name="Someone Else")
    response = client.get(f"/orders/{theirs}")
    assert response.status_code == 404
    assert "Someone Else" not in response.text


def test_an_ebook_order_says_nothing_about_delivery(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    order_id = printed_order(app, ships=False)
    page = client.get(f"/orders/{order_id}").text
    assert "Delivery" not in page and "shipped" not in page.lower()


def test_two_admins_marking_at_once_record_the_first_dispatch_only(app: Flask) -> None:
    """Both read the order unshipped; the second's update finds it shipped and does nothing."""
    order_id = printed_order(app)
    with app.app_context():
        first = db.session.get(Order, order_id)
        with app.app_context():  # a second admin's request, with its own session
            second = db.session.get(Order, order_id)
            assert second.shipped_at is None
            with app.app_context():
                assert dispatch.mark_shipped(db.session.get(Order, order_id), "FIRST") is True
                db.session.commit()
            assert dispatch.mark_shipped(second, "SECOND") is False
            db.session.commit()
        assert first.shipped_at is None  # read before either
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.tracking_reference == "FIRST"
        assert order.shipped_at is not None
