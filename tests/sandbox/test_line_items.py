"""Several line items in one Checkout Session, and expiring sessions of every mode."""

from __future__ import annotations

import pytest
import stripe
from stripe import StripeClient
from stripe_sandbox.testing import RunningSandbox

from .helpers import book_price, event_types, membership_price, pay


def test_several_books_are_summed_into_the_session_and_the_charge(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Two books at different prices and quantities: per-line amounts, session totals and
    the amount charged all agree."""
    dune = book_price(stripe_client, 1299, "Dune")
    emma = book_price(stripe_client, 850, "Emma")
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": dune, "quantity": 2}, {"price": emma, "quantity": 3}],
            "success_url": "https://shop.test/done",
        }
    )
    assert (session.amount_subtotal, session.amount_total) == (5148, 5148)
    lines = stripe_client.v1.checkout.sessions.line_items.list(session.id).data
    assert [
        (li.description, li.quantity, li.amount_subtotal, li.amount_discount, li.amount_total)
        for li in lines
    ] == [("Dune", 2, 2598, 0, 2598), ("Emma", 3, 2550, 0, 2550)]

    assert pay(sandbox, session.id).status == "succeeded"
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    intent = stripe_client.v1.payment_intents.retrieve(str(done.payment_intent))
    assert (done.status, intent.amount, intent.amount_received) == ("complete", 5148, 5148)


@pytest.mark.parametrize("mode", ["payment", "subscription", "setup"])
def test_an_open_session_of_any_mode_can_be_expired(stripe_client: StripeClient, mode: str) -> None:
    """expire → status expired, no url, a checkout.session.expired event; twice is refused."""
    params: dict[str, object] = {"mode": mode, "success_url": "https://shop.test/done"}
    if mode == "payment":
        params["line_items"] = [{"price": book_price(stripe_client), "quantity": 1}]
    elif mode == "subscription":
        params["line_items"] = [{"price": membership_price(stripe_client), "quantity": 1}]
    else:
        params["currency"] = "gbp"
        params["customer"] = stripe_client.v1.customers.create(params={"email": "a@b.test"}).id
    session = stripe_client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]

    expired = stripe_client.v1.checkout.sessions.expire(session.id)

    assert (expired.status, expired.url) == ("expired", None)
    assert event_types(stripe_client).count("checkout.session.expired") == 1
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.checkout.sessions.expire(session.id)
    assert 'status of "expired"' in str(refused.value.user_message)
