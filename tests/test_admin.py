"""The shop owner's refunds: checked against what was paid, sent to Stripe once."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from shop.extensions import db
from shop.models import Order
from shop.refunds import RefundRefused, parse_amount
from tests import builders
from tests.stripe_fakes import API, example


@pytest.fixture
def paid_order(app: Flask) -> int:
    order_id = builders.add_order(app)
    with app.app_context():
        order = db.session.get(Order, order_id)
        order.status, order.amount_paid, order.payment_intent_id = "paid", 1299, "pi_1"
        db.session.commit()
    return order_id


@pytest.fixture
def owner(add_user: Callable[..., int], sign_in: Callable[..., None]) -> None:
    add_user("owner@example.com", admin=True)
    sign_in("owner@example.com")


def refund_requests(mock: responses.RequestsMock) -> list[dict[str, list[str]]]:
    return [parse_qs(c.request.body) for c in mock.calls if c.request.url == API + "/v1/refunds"]


def test_an_admin_refunds_part_of_an_order(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
) -> None:
    fake_stripe.add(
        "POST", API + "/v1/refunds", json=example("refund", id="re_1", charge="ch_1", amount=500)
    )
    fake_stripe.add("GET", API + "/v1/charges/ch_1", json=builders.charge(amount_refunded=500))
    page = client.post(
        f"/admin/orders/{paid_order}/refund", data={"amount": "5.00"}, follow_redirects=True
    )
    assert "Refunded £5.00." in page.text
    (sent,) = refund_requests(fake_stripe)
    assert sent["payment_intent"] == ["pi_1"]
    assert sent["amount"] == ["500"]
    with app.app_context():
        order = db.session.get(Order, paid_order)
        assert (order.status, order.amount_refunded) == ("partially_refunded", 500)
    assert "£7.99" in client.get(f"/admin/orders/{paid_order}").text  # what is left, offered next


def test_refunding_more_than_was_paid_is_refused_without_calling_stripe(
    client: FlaskClient, owner: None, paid_order: int, fake_stripe: responses.RequestsMock
) -> None:
    page = client.post(
        f"/admin/orders/{paid_order}/refund", data={"amount": "13"}, follow_redirects=True
    )
    assert "At most £12.99 is left to refund" in page.text
    assert len(fake_stripe.calls) == 0


def test_shoppers_cannot_refund(
    app: Flask,
    client: FlaskClient,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
    sign_in: Callable[..., None],
) -> None:
    sign_in()  # the order's own shopper, not an admin
    assert client.post(f"/admin/orders/{paid_order}/refund", data={"amount": ""}).status_code == 403
    assert len(fake_stripe.calls) == 0


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("4.99", "gbp", 499), ("5", "gbp", 500), ("500", "jpy", 500), ("", "gbp", None)],
)
def test_amounts_are_read_in_the_currency_s_minor_units(
    text: str, currency: str, minor: int | None
) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize("text", ["4.999", "-1", "five", "0"])
def test_nonsense_amounts_are_refused(text: str) -> None:
    with pytest.raises(RefundRefused):
        parse_amount(text, "gbp")
