"""Coupons over the API, and Checkout Sessions that apply one (``discounts``)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from stripe import StripeClient
from stripe_sandbox.testing import RunningSandbox

from .helpers import book_price, event_types, membership_price, pay

DAY = 86_400
START = 1_780_000_000  # a fixed moment for test clocks (2026-05-28)


def _product_of(stripe_client: StripeClient, price: str) -> str:
    return str(stripe_client.v1.prices.retrieve(price).product)


def _cart(
    stripe_client: StripeClient, printed: str | None = None, **extra: Any
) -> tuple[Any, str, str]:
    """A session for 2 × a £20 printed book and 1 × a £10 ebook; returns it and both prices."""
    printed = printed or book_price(stripe_client, 2000, "Dune (print)")
    ebook = book_price(stripe_client, 1000, "Dune (ebook)")
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": printed, "quantity": 2}, {"price": ebook, "quantity": 1}],
            "success_url": "https://shop.test/done",
            **extra,
        }
    )
    return session, printed, ebook


def test_coupons_are_created_retrieved_listed_and_deleted(stripe_client: StripeClient) -> None:
    """A coupon with the shop's own id; applies_to appears only when expanded, as on Stripe."""
    product = _product_of(stripe_client, book_price(stripe_client))
    coupon = stripe_client.v1.coupons.create(
        params={
            "id": "members-10",
            "percent_off": 10,
            "duration": "forever",
            "name": "Members 10 %",
            "metadata": {"plan": "reader"},
            "applies_to": {"products": [product]},
        }
    )
    assert (coupon.id, coupon.percent_off, coupon.amount_off, coupon.valid) == (
        "members-10",
        10,
        None,
        True,
    )
    assert "applies_to" not in coupon
    expanded = stripe_client.v1.coupons.retrieve("members-10", params={"expand": ["applies_to"]})
    assert expanded.applies_to is not None and expanded.applies_to.products == [product]
    renamed = stripe_client.v1.coupons.update("members-10", params={"name": "Members 10 % off"})
    assert (renamed.name, renamed.percent_off) == ("Members 10 % off", 10)
    fixed = stripe_client.v1.coupons.create(
        params={"amount_off": 500, "currency": "gbp", "duration": "once"}
    )
    assert [c.id for c in stripe_client.v1.coupons.list().data] == [fixed.id, "members-10"]

    deleted = stripe_client.v1.coupons.delete("members-10")

    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as gone:
        stripe_client.v1.coupons.retrieve("members-10")
    assert gone.value.http_status == 404
    assert {"coupon.created", "coupon.updated", "coupon.deleted"} <= set(event_types(stripe_client))


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"percent_off": 10, "amount_off": 100, "currency": "gbp"}, "percent_off"),
        ({"amount_off": 500}, "currency"),
        ({"duration": "forever"}, "percent_off"),
        ({"percent_off": 150}, "percent_off"),
        ({"percent_off": 10, "duration": "repeating"}, "duration_in_months"),
        ({"percent_off": 10, "bogus": "1"}, "bogus"),
    ],
)
def test_invalid_coupons_are_refused_naming_the_param(
    stripe_client: StripeClient, params: dict[str, Any], param: str
) -> None:
    """Each mistake is a 400 invalid_request_error naming the parameter."""
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.coupons.create(params=params)  # type: ignore[arg-type]
    assert refused.value.http_status == 400
    assert refused.value.param == param


def test_a_coupon_id_is_taken_once(stripe_client: StripeClient) -> None:
    """A second coupon with the same id is refused."""
    stripe_client.v1.coupons.create(params={"id": "SPRING", "percent_off": 5})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.coupons.create(params={"id": "SPRING", "percent_off": 5})
    assert refused.value.code == "resource_already_exists"


def test_a_coupon_for_some_products_discounts_only_their_lines(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """10 % off printed books: the print line loses £4, the ebook line nothing; the
    session, its line items and the amount charged all show it."""
    printed = book_price(stripe_client, 2000, "Dune (print)")
    printed_product = _product_of(stripe_client, printed)
    stripe_client.v1.coupons.create(
        params={
            "id": "print-10",
            "percent_off": 10,
            "duration": "once",
            "applies_to": {"products": [printed_product]},
        }
    )
    session, _, _ = _cart(stripe_client, printed, discounts=[{"coupon": "print-10"}])

    assert (session.amount_subtotal, session.amount_total) == (5000, 4600)
    assert session.total_details is not None
    assert session.total_details.amount_discount == 400
    assert [(d.coupon, d.promotion_code) for d in session.discounts or []] == [("print-10", None)]
    lines = stripe_client.v1.checkout.sessions.line_items.list(session.id).data
    assert [(li.amount_subtotal, li.amount_discount, li.amount_total) for li in lines] == [
        (4000, 400, 3600),
        (1000, 0, 1000),
    ]

    pay(sandbox, session.id)

    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    intent = stripe_client.v1.payment_intents.retrieve(str(done.payment_intent))
    assert intent.amount_received == 4600
    assert stripe_client.v1.coupons.retrieve("print-10").times_redeemed == 1


def test_an_amount_off_coupon_without_applies_to_covers_every_line(
    stripe_client: StripeClient,
) -> None:
    """£6 off a £50 cart is shared out in proportion: £4.80 and £1.20."""
    stripe_client.v1.coupons.create(
        params={"id": "SIX", "amount_off": 600, "currency": "gbp", "duration": "once"}
    )
    session, _, _ = _cart(stripe_client, discounts=[{"coupon": "SIX"}])
    assert session.amount_total == 4400
    lines = stripe_client.v1.checkout.sessions.line_items.list(session.id).data
    assert [li.amount_discount for li in lines] == [480, 120]


def test_discounts_and_allow_promotion_codes_are_exclusive(stripe_client: StripeClient) -> None:
    """Stripe allows either a discount or promotion-code entry, not both."""
    stripe_client.v1.coupons.create(params={"id": "TEN", "percent_off": 10})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        _cart(stripe_client, discounts=[{"coupon": "TEN"}], allow_promotion_codes=True)
    assert refused.value.user_message == (
        "You may only specify one of these parameters: allow_promotion_codes, discounts."
    )
    assert refused.value.param == "discounts"


def test_an_unknown_coupon_is_a_400_naming_the_param(stripe_client: StripeClient) -> None:
    """No such coupon: the session is refused."""
    with pytest.raises(stripe.InvalidRequestError) as refused:
        _cart(stripe_client, discounts=[{"coupon": "NOPE"}])
    assert refused.value.http_status == 400
    assert refused.value.param == "discounts[0][coupon]"
    assert refused.value.user_message == "No such coupon: 'NOPE'"


def test_a_coupon_discounts_a_subscriptions_first_invoice_and_its_renewals(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A forever 20 % coupon: £4 for a £5 membership at signup and at renewal."""
    stripe_client.v1.coupons.create(
        params={"id": "MEMBER20", "percent_off": 20, "duration": "forever"}
    )
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
    customer = stripe_client.v1.customers.create(
        params={"email": "m@example.com", "test_clock": clock.id}
    )
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": membership_price(stripe_client, 500), "quantity": 1}],
            "discounts": [{"coupon": "MEMBER20"}],
            "success_url": "https://shop.test/welcome",
        }
    )
    assert (session.amount_subtotal, session.amount_total) == (500, 400)

    pay(sandbox, session.id, email="m@example.com")

    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    first = stripe_client.v1.invoices.retrieve(str(done.invoice))
    assert (first.subtotal, first.total, first.amount_paid) == (500, 400, 400)
    assert [d.amount for d in first.total_discount_amounts or []] == [100]
    charge = stripe_client.v1.charges.list(params={"customer": customer.id}).data[0]
    assert charge.amount == 400
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": START + 32 * DAY}
    )
    invoices = stripe_client.v1.invoices.list(params={"subscription": str(done.subscription)})
    assert [(i.billing_reason, i.amount_paid) for i in invoices.data] == [
        ("subscription_cycle", 400),
        ("subscription_create", 400),
    ]
