"""The shop owner's refunds: checked against what was paid, sent to Stripe once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer
from sqlalchemy import event, update

from shop.extensions import db
from shop.models import Order, RefundRequest
from shop.refunds import (
    SALT,
    RefundRefused,
    RefundToken,
    form_token,
    parse_amount,
    read_form_token,
    refund_order,
)
from shop.stripe_client import stripe_client
from tests import builders
from tests.helpers import refund_form
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
        f"/admin/orders/{paid_order}/refund",
        data=refund_form(client, paid_order, "5.00"),
        follow_redirects=True,
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
        f"/admin/orders/{paid_order}/refund",
        data=refund_form(client, paid_order, "13"),
        follow_redirects=True,
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
    [
        ("4.99", "gbp", 499),
        ("5", "gbp", 500),
        ("500", "jpy", 500),
        ("", "gbp", None),
        ("0.01", "gbp", 1),  # the smallest refund there is
        ("1", "jpy", 1),
    ],
)
def test_amounts_are_read_in_the_currency_s_minor_units(
    text: str, currency: str, minor: int | None
) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize("text", ["4.999", "-1", "five", "0"])
def test_nonsense_amounts_are_refused(text: str) -> None:
    with pytest.raises(RefundRefused):
        parse_amount(text, "gbp")


def fake_refund(mock: responses.RequestsMock, amount: int) -> None:
    mock.add(
        "POST", API + "/v1/refunds", json=example("refund", id="re_1", charge="ch_1", amount=amount)
    )
    mock.add("GET", API + "/v1/charges/ch_1", json=builders.charge(amount_refunded=amount))


def test_the_same_refund_form_sent_twice_refunds_once(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
) -> None:
    """The probe's double submission, one after the other: the second finds its form
    already used and sends nothing (before, its idempotency key named the new refunded
    total, so Stripe made a second refund)."""
    fake_refund(fake_stripe, 500)
    form = refund_form(client, paid_order, "5.00")
    first = client.post(f"/admin/orders/{paid_order}/refund", data=form, follow_redirects=True)
    again = client.post(f"/admin/orders/{paid_order}/refund", data=form, follow_redirects=True)
    assert "Refunded £5.00." in first.text
    assert f"This refund form for order #{paid_order} was already sent (£5.00)" in again.text
    assert "£5.00 refunded so far. Nothing more was refunded" in again.text
    assert len(refund_requests(fake_stripe)) == 1
    with app.app_context():
        assert db.session.get(Order, paid_order).amount_refunded == 500


def test_each_page_load_is_a_new_refund_with_its_own_idempotency_key(
    client: FlaskClient, owner: None, paid_order: int, fake_stripe: responses.RequestsMock
) -> None:
    fake_refund(fake_stripe, 500)
    client.post(f"/admin/orders/{paid_order}/refund", data=refund_form(client, paid_order, "5"))
    fake_refund(fake_stripe, 1000)
    page = client.post(
        f"/admin/orders/{paid_order}/refund",
        data=refund_form(client, paid_order, "5"),
        follow_redirects=True,
    )
    assert "Refunded £5.00." in page.text
    keys = [
        c.request.headers["Idempotency-Key"]
        for c in fake_stripe.calls
        if c.request.url == API + "/v1/refunds"
    ]
    assert len(keys) == 2 and keys[0] != keys[1]
    assert all(key.startswith(f"quire-refund-{paid_order}-") for key in keys)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "Keys for idempotent requests can only be used with the same parameters"),
        (409, "There is currently another in-progress request using this Idempotent Key"),
    ],
)
def test_stripe_refusing_the_form_s_key_is_explained_to_the_admin(
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
    status: int,
    message: str,
) -> None:
    fake_stripe.add(
        "POST",
        API + "/v1/refunds",
        status=status,
        json={"error": {"type": "idempotency_error", "message": message}},
    )
    page = client.post(
        f"/admin/orders/{paid_order}/refund",
        data=refund_form(client, paid_order, "5"),
        follow_redirects=True,
    )
    assert page.status_code == 200
    assert "Stripe already has a refund from this form" in page.text
    assert "Reload the order page" in page.text


def test_a_refund_stripe_fails_gives_back_what_it_reserved(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
) -> None:
    """Stripe down while £5 is refunded: nothing stays reserved, so the whole £12.99 can
    be refunded next; the failed form may be sent again for its £5, never another sum."""
    fake_stripe.add(
        "POST",
        API + "/v1/refunds",
        status=500,
        json={"error": {"type": "api_error", "message": "Stripe is down"}},
    )
    form = refund_form(client, paid_order, "5")
    failed = client.post(f"/admin/orders/{paid_order}/refund", data=form, follow_redirects=True)
    assert "Stripe refused the refund" in failed.text
    assert "£12.99" in client.get(f"/admin/orders/{paid_order}").text  # all of it is left
    with app.app_context():
        assert db.session.get(Order, paid_order).amount_refund_reserved == 0

    other = client.post(
        f"/admin/orders/{paid_order}/refund", data={**form, "amount": "7"}, follow_redirects=True
    )
    assert f"This refund form for order #{paid_order} was already sent (£5.00)" in other.text

    fake_stripe.replace(
        "POST", API + "/v1/refunds", json=example("refund", id="re_1", charge="ch_1", amount=1299)
    )
    fake_stripe.add("GET", API + "/v1/charges/ch_1", json=builders.charge(amount_refunded=1299))
    page = client.post(
        f"/admin/orders/{paid_order}/refund",
        data=refund_form(client, paid_order, everything=True),
        follow_redirects=True,
    )
    assert "Refunded £12.99." in page.text
    assert [sent["amount"] for sent in refund_requests(fake_stripe)] == [["500"], ["1299"]]
    with app.app_context():
        order = db.session.get(Order, paid_order)
        assert (order.status, order.amount_refunded, order.amount_refund_reserved) == (
            "refunded",
            1299,
            0,
        )


def test_a_forged_refund_token_is_refused_without_calling_stripe(
    client: FlaskClient, owner: None, paid_order: int, fake_stripe: responses.RequestsMock
) -> None:
    page = client.post(
        f"/admin/orders/{paid_order}/refund",
        data={"amount": "5", "token": "made-up"},
        follow_redirects=True,
    )
    assert "is not one Quire made" in page.text
    assert len(fake_stripe.calls) == 0


#: What the probe typed as refund amounts, and worse: each refused with words, never a 500.
PROBE_AMOUNTS = [
    "Infinity",
    "-Infinity",
    "sNaN",
    "NaN",
    "1E+999999",
    "-0",
    "1e-5",
    "0x10",
    "5 pounds",
    "1" * 5000,
    "0." + "0" * 5000 + "1",
    "$5.00",  # another currency's symbol
]


@pytest.mark.parametrize("typed", PROBE_AMOUNTS, ids=lambda text: text[:12])
def test_nonsense_refund_amounts_are_refused_on_the_admin_page(
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
    typed: str,
) -> None:
    page = client.post(
        f"/admin/orders/{paid_order}/refund",
        data=refund_form(client, paid_order, typed),
        follow_redirects=True,
    )
    assert page.status_code == 200
    assert "is not an amount" in page.text or "is not a positive amount" in page.text
    assert len(fake_stripe.calls) == 0


@pytest.mark.parametrize(
    ("typed", "minor"),
    [("£10.00", 1000), ("10", 1000), ("10.5", 1050), (" £ 1.50 ", 150), ("2.5 GBP", 250)],
)
def test_amounts_as_admins_type_them_are_refunded(
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
    typed: str,
    minor: int,
) -> None:
    fake_refund(fake_stripe, minor)
    page = client.post(
        f"/admin/orders/{paid_order}/refund",
        data=refund_form(client, paid_order, typed),
        follow_redirects=True,
    )
    assert f"Refunded £{minor // 100}.{minor % 100:02d}." in page.text
    (sent,) = refund_requests(fake_stripe)
    assert sent["amount"] == [str(minor)]


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("1,000.00", "gbp", 100000), ("£1,234,567.89", "gbp", 123456789), ("¥1,500", "jpy", 1500)],
)
def test_thousands_separators_and_symbols_are_read(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize("text", ["1,00", "1,0000", ",100", "1.000,00"])
def test_misplaced_separators_are_refused(text: str) -> None:
    with pytest.raises(RefundRefused, match="is not an amount"):
        parse_amount(text, "gbp")


def test_a_refund_made_when_the_charge_cannot_be_read_back_is_still_reported(
    client: FlaskClient, owner: None, paid_order: int, fake_stripe: responses.RequestsMock
) -> None:
    """Stripe made the refund; reading the charge afterwards failed. The admin is told
    it was refunded (not "try again", which would invite a second refund)."""
    fake_stripe.add(
        "POST", API + "/v1/refunds", json=example("refund", id="re_1", charge="ch_1", amount=500)
    )
    fake_stripe.add(
        "GET", API + "/v1/charges/ch_1", status=500, json={"error": {"type": "api_error"}}
    )
    page = client.post(
        f"/admin/orders/{paid_order}/refund",
        data=refund_form(client, paid_order, "5"),
        follow_redirects=True,
    )
    assert "Refunded £5.00." in page.text
    assert len(refund_requests(fake_stripe)) == 1


def send_form(client: FlaskClient, order_id: int, form: dict[str, str]) -> Any:
    """The order page after the admin sends its refund `form`."""
    return client.post(f"/admin/orders/{order_id}/refund", data=form, follow_redirects=True)


def refund_keys(mock: responses.RequestsMock) -> list[str]:
    """The Idempotency-Key of each refund Stripe was asked for, in order."""
    return [
        c.request.headers["Idempotency-Key"]
        for c in mock.calls
        if c.request.url == API + "/v1/refunds"
    ]


def nonce_of(app: Flask, order_id: int, form: dict[str, str]) -> str:
    """The one-time nonce a refund form's token carries."""
    with app.app_context():
        order = db.session.get(Order, order_id)
        return read_form_token(app.config["SECRET_KEY"], form["token"], order).nonce


def test_a_form_sent_again_after_stripe_failed_sends_its_own_key_again(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
) -> None:
    """The key Stripe receives names the order and the form's nonce: the form retried
    after a failure is the same request at Stripe (one refund), and a third send of it
    reaches Stripe no more."""
    fake_stripe.add(
        "POST",
        API + "/v1/refunds",
        status=500,
        json={"error": {"type": "api_error", "message": "Stripe is down"}},
    )
    form = refund_form(client, paid_order, "5")
    other = refund_form(client, paid_order, "3")  # another tab's form, which fails too
    for each in (form, other):
        failed = send_form(client, paid_order, each)
        assert "Stripe refused the refund" in failed.text
    fake_refund(fake_stripe, 500)
    fake_stripe.replace(
        "POST", API + "/v1/refunds", json=example("refund", id="re_1", charge="ch_1", amount=500)
    )
    page = send_form(client, paid_order, form)
    assert "Refunded £5.00." in page.text
    again = send_form(client, paid_order, form)
    assert "was already sent (£5.00)" in again.text

    key = f"quire-refund-{paid_order}-{nonce_of(app, paid_order, form)}"
    other_key = f"quire-refund-{paid_order}-{nonce_of(app, paid_order, other)}"
    assert refund_keys(fake_stripe) == [key, other_key, key]
    assert [sent["amount"] for sent in refund_requests(fake_stripe)] == [["500"], ["300"], ["500"]]
    with app.app_context():
        requests = db.session.execute(db.select(RefundRequest).order_by(RefundRequest.id))
        assert [(r.state, r.amount, r.stripe_refund_id) for r in requests.scalars()] == [
            ("recorded", 500, "re_1"),
            ("failed", 300, None),  # the other form may still be sent again
        ]
        order = db.session.get(Order, paid_order)
        assert (order.amount_refunded, order.amount_refund_reserved) == (500, 0)


@pytest.mark.parametrize("typed", ["12.99", "£12.99"])
def test_refunding_exactly_what_is_left_is_made(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
    typed: str,
) -> None:
    fake_refund(fake_stripe, 1299)
    page = send_form(client, paid_order, refund_form(client, paid_order, typed))
    assert "Refunded £12.99." in page.text
    (sent,) = refund_requests(fake_stripe)
    assert sent["amount"] == ["1299"]
    with app.app_context():
        order = db.session.get(Order, paid_order)
        assert (order.status, order.amount_refunded, order.amount_refund_reserved) == (
            "refunded",
            1299,
            0,
        )


def partly_refunded(app: Flask, order_id: int, refunded: int) -> None:
    """`refunded` (minor units) of the order's £12.99 was refunded already."""
    with app.app_context():
        order = db.session.get(Order, order_id)
        order.status, order.amount_refunded = "partially_refunded", refunded
        db.session.commit()


@pytest.mark.parametrize(("typed", "everything"), [("7.99", False), ("", True)])
def test_what_a_partial_refund_left_is_refundable_typed_or_as_everything_left(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
    typed: str,
    everything: bool,
) -> None:
    """Exactly what is left, typed, or a blank amount with "Refund everything left":
    the rest is refunded (paid, less refunded)."""
    partly_refunded(app, paid_order, 500)
    fake_refund(fake_stripe, 799)
    fake_stripe.replace("GET", API + "/v1/charges/ch_1", json=builders.charge(amount_refunded=1299))
    page = send_form(
        client, paid_order, refund_form(client, paid_order, typed, everything=everything)
    )
    assert "Refunded £7.99." in page.text
    assert [sent["amount"] for sent in refund_requests(fake_stripe)] == [["799"]]
    with app.app_context():
        order = db.session.get(Order, paid_order)
        assert (order.status, order.amount_refunded) == ("refunded", 1299)


@pytest.mark.parametrize(
    ("typed", "everything", "message"),
    [
        ("", False, "Type an amount to refund, or press “Refund everything left”."),
        ("5", True, "Either type an amount or press “Refund everything left”, not both."),
    ],
)
def test_a_refund_form_must_ask_for_an_amount_or_everything_but_not_both(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
    typed: str,
    everything: bool,
    message: str,
) -> None:
    page = send_form(
        client, paid_order, refund_form(client, paid_order, typed, everything=everything)
    )
    assert message in page.text
    assert len(fake_stripe.calls) == 0
    with app.app_context():
        assert db.session.execute(db.select(RefundRequest)).first() is None


#: Orders with nothing to refund: (status, paid, refunded, reserved, payment intent).
NOTHING_LEFT = {
    "unpaid": ("pending", 0, 0, 0, None),
    "awaiting payment": ("awaiting_payment", 0, 0, 0, None),
    "paid nothing": ("paid", 0, 0, 0, "pi_1"),
    "disputed": ("disputed", 1299, 0, 0, "pi_1"),
    "fully refunded": ("refunded", 1299, 1299, 0, "pi_1"),
    "no payment at Stripe": ("paid", 1299, 0, 0, None),
    "all reserved by another form": ("paid", 1299, 0, 1299, "pi_1"),
}


@pytest.mark.parametrize("everything", [False, True], ids=["typed", "everything"])
@pytest.mark.parametrize("case", list(NOTHING_LEFT), ids=list(NOTHING_LEFT))
def test_orders_with_nothing_to_refund_are_refused_without_calling_stripe(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
    case: str,
    everything: bool,
) -> None:
    """The form was loaded while there was something to refund; by the time it is sent
    the order is unpaid, disputed, refunded or reserved (another tab, a webhook)."""
    status, paid, refunded, reserved, payment_intent = NOTHING_LEFT[case]
    form = refund_form(client, paid_order, "" if everything else "5", everything=everything)
    with app.app_context():
        order = db.session.get(Order, paid_order)
        order.status, order.amount_paid, order.amount_refunded = status, paid, refunded
        order.amount_refund_reserved, order.payment_intent_id = reserved, payment_intent
        db.session.commit()
    page = send_form(client, paid_order, form)
    pending = " (£12.99 is being refunded from another form)" if reserved else ""
    assert f"Order #{paid_order} has nothing left to refund{pending}." in page.text
    assert len(fake_stripe.calls) == 0
    with app.app_context():
        assert db.session.execute(db.select(RefundRequest)).first() is None
        order = db.session.get(Order, paid_order)
        assert (order.status, order.amount_refunded, order.amount_refund_reserved) == (
            status,
            refunded,
            reserved,
        )


def test_what_another_form_reserved_is_not_offered_again(
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
    app: Flask,
) -> None:
    with app.app_context():
        db.session.get(Order, paid_order).amount_refund_reserved = 500
        db.session.commit()
    page = send_form(client, paid_order, refund_form(client, paid_order, "8"))
    assert (
        f"At most £7.99 is left to refund on order #{paid_order} (£5.00 is being refunded "
        "from another form); £8.00 was not refunded."
    ) in page.text
    assert len(fake_stripe.calls) == 0


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("1,234,567,890.12", "gbp", 123456789012), ("123456789012", "jpy", 123456789012)],
)
def test_an_amount_may_have_twelve_digits_and_no_more(text: str, currency: str, minor: int) -> None:
    """Twelve digits in all is still an amount; a thirteenth is a typing accident."""
    assert parse_amount(text, currency) == minor
    with pytest.raises(RefundRefused, match="is not an amount"):
        parse_amount("1" + text.replace(",", ""), currency)


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("twenty characters!!!", "'twenty characters!!!'"),
        ("twenty-one characters", "'twenty-one charac...'"),
    ],
)
def test_a_refused_amount_is_quoted_back_shortened_past_twenty_characters(
    typed: str, shown: str
) -> None:
    with pytest.raises(RefundRefused) as refused:
        parse_amount(typed, "gbp")
    assert str(refused.value) == f"{shown} is not an amount: type it like £12.99."


@pytest.mark.parametrize(
    ("typed", "everything", "message"),
    [
        ("", True, "Refunded £0.01."),
        (
            "0.02",
            False,
            "At most £0.01 is left to refund on order #{order}; £0.02 was not refunded.",
        ),
    ],
)
def test_a_penny_left_is_still_refundable(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
    typed: str,
    everything: bool,
    message: str,
) -> None:
    partly_refunded(app, paid_order, 1298)
    fake_refund(fake_stripe, 1)
    fake_stripe.replace("GET", API + "/v1/charges/ch_1", json=builders.charge(amount_refunded=1299))
    page = send_form(
        client, paid_order, refund_form(client, paid_order, typed, everything=everything)
    )
    assert message.format(order=paid_order) in page.text
    assert [sent["amount"] for sent in refund_requests(fake_stripe)] == (
        [["1"]] if everything else []
    )


def test_refund_everything_refunds_what_is_left_now_not_when_the_order_was_read(
    app: Flask, paid_order: int, fake_stripe: responses.RequestsMock
) -> None:
    """Another form reserved £5.00 after this request read the order: "everything left"
    is the £7.99 left now."""
    fake_refund(fake_stripe, 799)
    with app.app_context():
        order = db.session.get(Order, paid_order)
        assert order.amount_refund_reserved == 0  # as this request read it
        db.session.execute(
            update(Order)
            .where(Order.id == paid_order)
            .values(amount_refund_reserved=500)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        token = RefundToken(paid_order, "a-nonce")
        assert refund_order(stripe_client(), order, None, token) == 799
    assert [sent["amount"] for sent in refund_requests(fake_stripe)] == [["799"]]
    with app.app_context():
        order = db.session.get(Order, paid_order)
        assert (order.amount_refunded, order.amount_refund_reserved) == (799, 500)


def test_refunding_one_order_leaves_the_others_untouched(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
) -> None:
    other = builders.add_order(app, session_id="cs_test_2")
    with app.app_context():
        order = db.session.get(Order, other)
        order.status, order.amount_paid, order.payment_intent_id = "paid", 1299, "pi_2"
        db.session.commit()
    fake_refund(fake_stripe, 500)
    page = send_form(client, paid_order, refund_form(client, paid_order, "5"))
    assert "Refunded £5.00." in page.text
    with app.app_context():
        order = db.session.get(Order, other)
        assert (order.status, order.amount_refunded, order.amount_refund_reserved) == ("paid", 0, 0)


def test_a_failed_form_sent_twice_at_once_goes_to_stripe_once(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
) -> None:
    """Both sends find the form failed; the other one claims it again first (between this
    one's reading and its claim), so this one is told it was already sent and Stripe is
    not asked twice."""
    fake_stripe.add(
        "POST",
        API + "/v1/refunds",
        status=500,
        json={"error": {"type": "api_error", "message": "Stripe is down"}},
    )
    form = refund_form(client, paid_order, "5")
    send_form(client, paid_order, form)
    claimed: list[bool] = []

    def the_other_send_claims_it_first(*args: Any) -> None:
        statement = str(args[2]).lstrip().upper()
        if claimed or not statement.startswith("UPDATE REFUND_REQUESTS SET STATE"):
            return
        claimed.append(True)
        with db.engine.begin() as other:
            other.execute(update(RefundRequest).values(state="reserved"))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", the_other_send_claims_it_first)
    try:
        page = send_form(client, paid_order, form)
    finally:
        event.remove(engine, "before_cursor_execute", the_other_send_claims_it_first)
    assert claimed
    assert f"This refund form for order #{paid_order} was already sent (£5.00)" in page.text
    assert len(refund_requests(fake_stripe)) == 1  # only the first, failed, send
    with app.app_context():
        assert db.session.get(Order, paid_order).amount_refund_reserved == 0


def test_a_refund_reads_its_charge_back_once(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_order: int,
    fake_stripe: responses.RequestsMock,
) -> None:
    """Stripe's refund names the payment it refunds, which names the order: one
    retrieve of the charge records it."""
    fake_stripe.add(
        "POST",
        API + "/v1/refunds",
        json=example("refund", id="re_1", charge="ch_1", amount=500, payment_intent="pi_1"),
    )
    fake_stripe.add("GET", API + "/v1/charges/ch_1", json=builders.charge(amount_refunded=500))
    page = send_form(client, paid_order, refund_form(client, paid_order, "5"))
    assert "Refunded £5.00." in page.text
    assert sum("/v1/charges/ch_1" in c.request.url for c in fake_stripe.calls) == 1


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("GBP 12.99", "gbp", 1299),
        ("gbp12.99", "gbp", 1299),
        ("£12.99 gbp", "gbp", 1299),
        ("A$5", "aud", 500),
        ("CHF 7.50", "chf", 750),  # a currency with no symbol of its own
        ("7.50 chf", "chf", 750),
        ("1.250", "kwd", 1250),  # three decimals
    ],
)
def test_amounts_with_their_currency_s_code_or_symbol_are_read(
    text: str, currency: str, minor: int
) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    "payload",
    [[1], [1, "nonce", "extra"], "1", 1, None, [1, ""], [2, "nonce"], ["1", "nonce"]],
    ids=["no-nonce", "three-parts", "a-string", "a-number", "nothing", "empty-nonce",
         "another-order", "order-as-text"],
)  # fmt: skip
def test_refund_tokens_signed_by_quire_but_not_for_this_order_s_form_are_refused(
    app: Flask, paid_order: int, payload: object
) -> None:
    """Signed with the shop's key and the refund form's salt, yet not [this order, a
    nonce]: refused with words, never an error."""
    with app.app_context():
        order = db.session.get(Order, paid_order)
        token = URLSafeSerializer(app.config["SECRET_KEY"], salt=SALT).dumps(payload)
        with pytest.raises(RefundRefused, match=f"order #{order.id}"):
            read_form_token(app.config["SECRET_KEY"], token, order)


def test_a_token_quire_signed_for_something_else_is_not_a_refund_form(
    app: Flask, paid_order: int
) -> None:
    with app.app_context():
        order = db.session.get(Order, paid_order)
        key = app.config["SECRET_KEY"]
        mine = form_token(key, order)
        assert read_form_token(key, mine, order).order_id == order.id
        salts: tuple[str | None, ...] = ("itsdangerous", "quire.other", None)
        for other in (URLSafeSerializer(key, salt=salt) for salt in salts):
            with pytest.raises(RefundRefused, match="is not one Quire made"):
                read_form_token(key, other.dumps([order.id, "nonce"]), order)
        with pytest.raises(RefundRefused, match="is not one Quire made"):
            read_form_token("another-key", mine, order)
