"""Saved cards in Checkout: saving one when the shopper asks, paying with it next time,
and removing it (``saved_payment_method_options``)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from stripe import StripeClient
from stripe_sandbox.core.errors import StripeError as SandboxError
from stripe_sandbox.flows import engine
from stripe_sandbox.testing import RunningSandbox

from .helpers import book_price, event_types, membership_price, pay, payment_session

SAVING = {"payment_method_save": "enabled"}


def _customer(stripe_client: StripeClient) -> str:
    return stripe_client.v1.customers.create(params={"email": "ada@example.com"}).id


def _saved(stripe_client: StripeClient, customer: str) -> list[Any]:
    return stripe_client.v1.customers.payment_methods.list(customer, params={"type": "card"}).data


def _first_purchase(
    sandbox: RunningSandbox, stripe_client: StripeClient, customer: str, **extra: Any
) -> None:
    session = payment_session(
        stripe_client,
        book_price(stripe_client),
        customer=customer,
        saved_payment_method_options=SAVING,
    )
    assert pay(sandbox, session.id, email="ada@example.com", **extra).status == "succeeded"


def test_the_card_is_saved_only_when_the_shopper_ticks_save(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Unticked: nothing attached. Ticked: attached with allow_redisplay always."""
    customer = _customer(stripe_client)
    _first_purchase(sandbox, stripe_client, customer)
    assert _saved(stripe_client, customer) == []
    assert "payment_method.attached" not in event_types(stripe_client)

    _first_purchase(sandbox, stripe_client, customer, save_card=True)

    saved = _saved(stripe_client, customer)
    assert [(pm.allow_redisplay, pm.card.last4 if pm.card else None) for pm in saved] == [
        ("always", "4242")
    ]
    assert "payment_method.attached" in event_types(stripe_client)


def test_a_returning_customer_pays_with_the_saved_card(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """The next session pays with the saved card: same events, charge and payment_method."""
    customer = _customer(stripe_client)
    _first_purchase(sandbox, stripe_client, customer, save_card=True)
    card = _saved(stripe_client, customer)[0]
    price = book_price(stripe_client, 850)
    before = len(event_types(stripe_client))
    session = payment_session(
        stripe_client,
        price,
        customer=customer,
        saved_payment_method_options={"allow_redisplay_filters": ["always"]},
    )

    outcome = pay(sandbox, session.id, email="", card="", payment_method=card.id)

    assert outcome.status == "succeeded"
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    intent = stripe_client.v1.payment_intents.retrieve(str(done.payment_intent))
    assert (intent.status, intent.payment_method, intent.amount_received) == (
        "succeeded",
        card.id,
        850,
    )
    charge = stripe_client.v1.charges.list(params={"payment_intent": intent.id}).data[0]
    assert charge.payment_method == card.id
    assert event_types(stripe_client)[before:] == [
        "payment_intent.created",
        "payment_intent.succeeded",
        "charge.succeeded",
        "charge.updated",
        "checkout.session.completed",
    ]
    assert len(_saved(stripe_client, customer)) == 1


def test_a_saved_card_pays_for_a_membership(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Subscription mode: the saved card pays the first invoice and stays the only card."""
    customer = _customer(stripe_client)
    _first_purchase(sandbox, stripe_client, customer, save_card=True)
    card = _saved(stripe_client, customer)[0]
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer,
            "line_items": [{"price": membership_price(stripe_client), "quantity": 1}],
            "saved_payment_method_options": SAVING,
            "success_url": "https://shop.test/welcome",
        }
    )
    assert pay(sandbox, session.id, email="", payment_method=card.id).status == "succeeded"
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    subscription = stripe_client.v1.subscriptions.retrieve(str(done.subscription))
    assert (subscription.status, subscription.default_payment_method) == ("active", card.id)


def test_a_detached_card_is_no_longer_offered(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """After detach the card is gone from the list and cannot pay."""
    customer = _customer(stripe_client)
    _first_purchase(sandbox, stripe_client, customer, save_card=True)
    card = _saved(stripe_client, customer)[0]

    stripe_client.v1.payment_methods.detach(card.id)

    assert _saved(stripe_client, customer) == []
    session = payment_session(
        stripe_client,
        book_price(stripe_client),
        customer=customer,
        saved_payment_method_options=SAVING,
    )
    with pytest.raises(SandboxError) as refused:
        pay(sandbox, session.id, email="", payment_method=card.id)
    assert refused.value.param == "payment_method"


def test_cards_outside_the_redisplay_filters_are_not_offered(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A card saved with allow_redisplay always is not offered to a session that
    redisplays only limited ones."""
    customer = _customer(stripe_client)
    _first_purchase(sandbox, stripe_client, customer, save_card=True)
    card = _saved(stripe_client, customer)[0]
    session = payment_session(
        stripe_client,
        book_price(stripe_client),
        customer=customer,
        saved_payment_method_options={"allow_redisplay_filters": ["limited"]},
    )
    with pytest.raises(SandboxError):
        pay(sandbox, session.id, email="", payment_method=card.id)


def test_an_unknown_redisplay_filter_is_refused(stripe_client: StripeClient) -> None:
    """allow_redisplay_filters takes always, limited, unspecified."""
    with pytest.raises(stripe.InvalidRequestError) as refused:
        payment_session(
            stripe_client,
            book_price(stripe_client),
            saved_payment_method_options={"allow_redisplay_filters": ["sometimes"]},
        )
    assert refused.value.param == "saved_payment_method_options[allow_redisplay_filters][0]"


def test_a_saved_card_that_needs_3d_secure_asks_again(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """4000 0025 0000 3155 saved after authenticating asks for authentication again."""
    customer = _customer(stripe_client)
    first = payment_session(
        stripe_client,
        book_price(stripe_client),
        customer=customer,
        saved_payment_method_options=SAVING,
    )
    outcome = pay(sandbox, first.id, card="4000002500003155", email="", save_card=True)
    assert outcome.status == "requires_action"
    assert engine.complete_authentication(sandbox.state, first.id, True).status == "succeeded"
    card = _saved(stripe_client, customer)[0]
    second = payment_session(
        stripe_client,
        book_price(stripe_client),
        customer=customer,
        saved_payment_method_options=SAVING,
    )

    assert pay(sandbox, second.id, email="", payment_method=card.id).status == "requires_action"
    assert engine.complete_authentication(sandbox.state, second.id, True).status == "succeeded"
    done = stripe_client.v1.checkout.sessions.retrieve(second.id)
    assert (
        stripe_client.v1.payment_intents.retrieve(str(done.payment_intent)).payment_method
        == card.id
    )
