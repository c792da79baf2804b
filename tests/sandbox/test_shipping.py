"""Shipping rates over the API, and Checkout Sessions that offer them as shipping options."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from stripe import StripeClient
from stripe_sandbox.core.errors import StripeError as SandboxError
from stripe_sandbox.testing import RunningSandbox

from .helpers import book_price, membership_price, pay

ADDRESS = {
    "name": "Ada Lovelace",
    "address": {
        "line1": "1 High St",
        "line2": "Flat 2",
        "city": "Leeds",
        "postal_code": "LS1 1AA",
        "state": "West Yorkshire",
        "country": "GB",
    },
}


def _rate(stripe_client: StripeClient, name: str, amount: int, **extra: Any) -> str:
    return stripe_client.v1.shipping_rates.create(
        params={
            "display_name": name,
            "type": "fixed_amount",
            "fixed_amount": {"amount": amount, "currency": "gbp"},
            **extra,
        }
    ).id


def _session(stripe_client: StripeClient, options: list[dict[str, Any]], **extra: Any) -> Any:
    return stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": book_price(stripe_client, 1500), "quantity": 2}],
            "shipping_address_collection": {"allowed_countries": ["GB", "IE"]},
            "shipping_options": options,
            "success_url": "https://shop.test/done",
            **extra,
        }
    )


def test_shipping_rates_are_created_retrieved_and_listed(stripe_client: StripeClient) -> None:
    """A fixed-amount rate keeps its name, amount, delivery estimate and metadata."""
    rate_id = _rate(
        stripe_client,
        "Royal Mail 2nd class",
        295,
        delivery_estimate={
            "minimum": {"unit": "business_day", "value": 2},
            "maximum": {"unit": "business_day", "value": 4},
        },
        metadata={"zone": "uk"},
    )
    rate = stripe_client.v1.shipping_rates.retrieve(rate_id)
    assert rate_id.startswith("shr_")
    assert (rate.display_name, rate.type, rate.active) == (
        "Royal Mail 2nd class",
        "fixed_amount",
        True,
    )
    assert rate.fixed_amount is not None
    assert (rate.fixed_amount.amount, rate.fixed_amount.currency) == (295, "gbp")
    assert rate.delivery_estimate is not None and rate.delivery_estimate.maximum is not None
    assert rate.delivery_estimate.maximum.value == 4
    assert rate.metadata is not None and rate.metadata.to_dict() == {"zone": "uk"}
    assert [r.id for r in stripe_client.v1.shipping_rates.list().data] == [rate_id]


def test_a_rate_without_an_amount_is_refused(stripe_client: StripeClient) -> None:
    """fixed_amount is required, named in the error."""
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.shipping_rates.create(params={"display_name": "Free"})
    assert refused.value.param == "fixed_amount"


def test_the_first_option_is_chosen_until_the_shopper_picks_another(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Inline and saved rates are offered; the first is in the total at first, the one
    chosen is charged, with the address under collected_information."""
    express = _rate(stripe_client, "Express", 900)
    session = _session(
        stripe_client,
        [
            {
                "shipping_rate_data": {
                    "display_name": "Standard",
                    "type": "fixed_amount",
                    "fixed_amount": {"amount": 350, "currency": "gbp"},
                    "metadata": {"zone": "uk"},
                }
            },
            {"shipping_rate": express},
        ],
    )
    assert [o.shipping_amount for o in session.shipping_options] == [350, 900]
    assert session.shipping_cost is not None and session.shipping_cost.amount_total == 350
    assert session.amount_total == 3350

    assert pay(sandbox, session.id, shipping=ADDRESS, shipping_rate=express).status == "succeeded"

    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert done.shipping_cost is not None
    assert (done.shipping_cost.amount_total, done.shipping_cost.shipping_rate) == (900, express)
    assert done.total_details is not None and done.total_details.amount_shipping == 900
    assert (done.amount_subtotal, done.amount_total) == (3000, 3900)
    assert done.collected_information is not None
    details = done.collected_information.shipping_details
    assert details is not None and details.name == "Ada Lovelace"
    assert (details.address.line2, details.address.state, details.address.country) == (
        "Flat 2",
        "West Yorkshire",
        "GB",
    )
    intent = stripe_client.v1.payment_intents.retrieve(str(done.payment_intent))
    assert intent.amount_received == 3900


def test_a_rate_the_session_does_not_offer_cannot_be_chosen(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Only the session's own options can be chosen; the session stays open."""
    session = _session(stripe_client, [{"shipping_rate": _rate(stripe_client, "Standard", 350)}])
    other = _rate(stripe_client, "Free", 0)
    with pytest.raises(SandboxError) as refused:
        pay(sandbox, session.id, shipping=ADDRESS, shipping_rate=other)
    assert refused.value.param == "shipping_rate"
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ([{"shipping_rate": "shr_missing"}], "shipping_options[0][shipping_rate]"),
        (
            [{"shipping_rate_data": {"type": "fixed_amount"}}],
            "shipping_options[0][shipping_rate_data][display_name]",
        ),
    ],
)
def test_bad_shipping_options_are_refused(
    stripe_client: StripeClient, options: list[dict[str, Any]], param: str
) -> None:
    """An unknown rate or an incomplete inline one is a 400 naming it."""
    with pytest.raises(stripe.InvalidRequestError) as refused:
        _session(stripe_client, options)
    assert (refused.value.http_status, refused.value.param) == (400, param)


def test_shipping_options_are_for_payment_mode(stripe_client: StripeClient) -> None:
    """A subscription session cannot offer shipping options."""
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "line_items": [{"price": membership_price(stripe_client), "quantity": 1}],
                "shipping_options": [{"shipping_rate": _rate(stripe_client, "Standard", 350)}],
                "success_url": "https://shop.test/done",
            }
        )
    assert refused.value.param == "shipping_options"
