"""Checkout Sessions: creation rules, paying on the hosted page, expiry, refunds."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import stripe
from stripe import StripeClient
from stripe_sandbox.flows import engine
from stripe_sandbox.testing import RunningSandbox, running_sandbox

from .helpers import STRIPE_EXAMPLES as FIXTURES
from .helpers import book_price, event_types, pay, payment_session


def test_create_validates_like_stripe(stripe_client: StripeClient) -> None:
    """Unknown price, customer with customer_email, and a too-close expires_at are 400s."""
    price = book_price(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        payment_session(stripe_client, "price_missing")
    assert caught.value.param == "line_items[0][price]"
    assert caught.value.user_message == "No such price: 'price_missing'"
    customer = stripe_client.v1.customers.create(params={"email": "a@example.com"})
    with pytest.raises(stripe.InvalidRequestError):
        payment_session(stripe_client, price, customer=customer.id, customer_email="a@example.com")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        payment_session(stripe_client, price, expires_at=int(time.time()) + 600)
    assert caught.value.param == "expires_at"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.checkout.sessions.create(
            params={"mode": "payment", "line_items": [{"price": price, "quantity": 1}]}
        )
    assert caught.value.param == "success_url"


def test_recurring_price_needs_subscription_mode(stripe_client: StripeClient) -> None:
    """A recurring price in payment mode is refused."""
    price = stripe_client.v1.prices.create(
        params={
            "product_data": {"name": "M"},
            "unit_amount": 5,
            "currency": "gbp",
            "recurring": {"interval": "month"},
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        payment_session(stripe_client, price.id)
    assert caught.value.param == "line_items[0][price]"


def test_open_session_shape_and_line_items_only_when_expanded(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """An open session has a hosted url; line_items appear only when expanded."""
    price = book_price(stripe_client, 1200)
    session = payment_session(
        stripe_client, price, client_reference_id="order-7", metadata={"order": "7"}
    )
    assert session.id.startswith("cs_test_")
    assert session.url == f"{sandbox.base_url}/checkout/{session.id}"
    assert (session.status, session.payment_status, session.amount_total, session.currency) == (
        "open",
        "unpaid",
        1200,
        "gbp",
    )
    assert "line_items" not in session
    expanded = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["line_items"]}
    )
    assert expanded.line_items is not None
    item = expanded.line_items.data[0]
    assert item.id.startswith("li_") and item.price is not None and item.price.id == price
    items = stripe_client.v1.checkout.sessions.line_items.list(session.id)
    assert [i.price.id for i in items.data if i.price] == [price]


def test_card_payment_completes_session_with_events_in_order(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """4242 pays: session complete/paid, PI and charge succeeded, Stripe's event order."""
    price = book_price(stripe_client, 1200)
    session = payment_session(stripe_client, price, customer_creation="always")
    outcome = pay(sandbox, session.id)
    assert outcome.status == "succeeded"
    assert outcome.redirect_url == f"https://shop.test/success?session_id={session.id}"
    done = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge"]}
    )
    assert (done.status, done.payment_status, done.url) == ("complete", "paid", None)
    assert done.customer is not None and done.customer_details is not None
    assert done.customer_details.email == "reader@example.com"
    pi = done.payment_intent
    assert (
        isinstance(pi, stripe.PaymentIntent)
        and pi.status == "succeeded"
        and pi.amount_received == 1200
    )
    assert isinstance(pi.latest_charge, stripe.Charge) and pi.latest_charge.paid is True
    types = event_types(stripe_client)
    paid = types[types.index("customer.created") :]
    assert paid == [
        "customer.created",
        "payment_intent.created",
        "payment_intent.succeeded",
        "charge.succeeded",
        "charge.updated",
        "checkout.session.completed",
    ]
    listed = stripe_client.v1.checkout.sessions.list(params={"payment_intent": pi.id})
    assert [s.id for s in listed.data] == [session.id]


def test_guest_payment_creates_no_customer(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """customer_creation=if_required (the default) makes no Customer for a one-off payment."""
    session = payment_session(stripe_client, book_price(stripe_client))
    pay(sandbox, session.id)
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert done.customer is None
    assert done.customer_details is not None and done.customer_details.email == "reader@example.com"
    assert stripe_client.v1.customers.list().data == []


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ("4000000000000002", "Your card was declined."),
        ("4000000000009995", "Your card has insufficient funds."),
        ("4000000000000069", "Your card has expired."),
        ("4242424242424241", "Your card number is incorrect."),
    ],
)
def test_declines_leave_the_session_open(
    sandbox: RunningSandbox, stripe_client: StripeClient, card: str, message: str
) -> None:
    """A declined card gives Stripe's message; the shopper can retry and pay."""
    session = payment_session(stripe_client, book_price(stripe_client))
    outcome = pay(sandbox, session.id, card=card)
    assert (outcome.status, outcome.message) == ("declined", message)
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert pay(sandbox, session.id).status == "succeeded"
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "complete"


def test_past_expiry_date_is_expired(sandbox: RunningSandbox, stripe_client: StripeClient) -> None:
    """A card whose expiry has passed is declined as expired."""
    session = payment_session(stripe_client, book_price(stripe_client))
    details = engine.PaymentDetails(
        email="a@example.com", card_number="4242424242424242", exp_month=1, exp_year=2020, cvc="1"
    )
    outcome = engine.pay_checkout_session(sandbox.state, session.id, details)
    assert (outcome.status, outcome.code) == ("declined", "expired_card")


def test_three_d_secure_approve_and_reject(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """3155 needs authentication; rejecting declines, approving then pays."""
    session = payment_session(stripe_client, book_price(stripe_client))
    assert pay(sandbox, session.id, card="4000002500003155").status == "requires_action"
    pi = stripe_client.v1.payment_intents.retrieve(
        str(stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    )
    assert pi.status == "requires_action"
    rejected = engine.complete_authentication(sandbox.state, session.id, approve=False)
    assert rejected.status == "declined"
    assert rejected.message is not None and rejected.message.startswith(
        "We are unable to authenticate your payment method"
    )
    assert pay(sandbox, session.id, card="4000002500003155").status == "requires_action"
    approved = engine.complete_authentication(sandbox.state, session.id, approve=True)
    assert approved.status == "succeeded"
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


def test_authenticated_then_insufficient_funds(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """3178 authenticates, then declines with insufficient funds."""
    session = payment_session(stripe_client, book_price(stripe_client))
    assert pay(sandbox, session.id, card="4000008260003178").status == "requires_action"
    outcome = engine.complete_authentication(sandbox.state, session.id, approve=True)
    assert (outcome.status, outcome.decline_code) == ("declined", "insufficient_funds")
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_shipping_address_is_collected(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A session that asks for shipping records it in collected_information and customer_details."""
    session = payment_session(
        stripe_client,
        book_price(stripe_client),
        shipping_address_collection={"allowed_countries": ["GB"]},
    )
    shipping = {
        "name": "Reader",
        "address": {
            "line1": "1 High St",
            "city": "Leeds",
            "postal_code": "LS1 1AA",
            "country": "GB",
        },
    }
    pay(sandbox, session.id, shipping=shipping)
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (
        done.collected_information is not None
        and done.collected_information.shipping_details is not None
    )
    assert done.collected_information.shipping_details.address.city == "Leeds"
    assert done.customer_details is not None and done.customer_details.address is not None
    assert done.customer_details.address.postal_code == "LS1 1AA"
    charge = stripe_client.v1.charges.list(
        params={"payment_intent": str(done.payment_intent)}
    ).data[0]
    assert charge.shipping is not None and charge.shipping.name == "Reader"


def test_expire_endpoint_and_lazy_expiry(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """expire works once while open; a session past expires_at reads as expired."""
    price = book_price(stripe_client)
    session = payment_session(stripe_client, price)
    expired = stripe_client.v1.checkout.sessions.expire(session.id)
    assert (expired.status, expired.url) == ("expired", None)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.checkout.sessions.expire(session.id)
    assert "checkout.session.expired" in event_types(stripe_client)
    later = payment_session(stripe_client, price)
    stored = sandbox.state.store.get(later.id)
    assert stored is not None
    stored["expires_at"] = int(time.time()) - 1
    sandbox.state.store.put(stored)
    assert stripe_client.v1.checkout.sessions.retrieve(later.id).status == "expired"


def test_session_create_is_idempotent(stripe_client: StripeClient) -> None:
    """The same idempotency key returns the same session."""
    price = book_price(stripe_client)
    params = {
        "mode": "payment",
        "line_items": [{"price": price, "quantity": 1}],
        "success_url": "https://shop.test/ok",
    }
    first = stripe_client.v1.checkout.sessions.create(
        params=params, options={"idempotency_key": "order-1"}
    )  # type: ignore[arg-type]
    second = stripe_client.v1.checkout.sessions.create(
        params=params, options={"idempotency_key": "order-1"}
    )  # type: ignore[arg-type]
    assert first.id == second.id


def test_partial_then_full_refund(sandbox: RunningSandbox, stripe_client: StripeClient) -> None:
    """Refunds by payment_intent update the charge and emit refund/charge events."""
    session = payment_session(stripe_client, book_price(stripe_client, 1000))
    pay(sandbox, session.id)
    pi_id = str(stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    partial = stripe_client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 300})
    assert (partial.amount, partial.status) == (300, "succeeded")
    charge = stripe_client.v1.charges.retrieve(str(partial.charge))
    assert (charge.amount_refunded, charge.refunded) == (300, False)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 800})
    assert caught.value.param == "amount"
    rest = stripe_client.v1.refunds.create(params={"charge": charge.id})
    assert rest.amount == 700
    charge = stripe_client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    assert [r.id for r in stripe_client.v1.refunds.list(params={"payment_intent": pi_id}).data] == [
        rest.id,
        partial.id,
    ]
    assert event_types(stripe_client).count("charge.refunded") == 2
    assert event_types(stripe_client).count("refund.created") == 2
    assert event_types(stripe_client).count("refund.updated") == 2


def test_refund_emits_created_then_updated_when_its_reference_arrives(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A card refund emits refund.created and charge.refunded, then refund.updated with its ARN."""
    session = payment_session(stripe_client, book_price(stripe_client, 1000))
    pay(sandbox, session.id)
    pi_id = str(stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    refund = stripe_client.v1.refunds.create(params={"payment_intent": pi_id})
    types = event_types(stripe_client)
    assert types[-3:] == ["refund.created", "charge.refunded", "refund.updated"]
    created, updated = (
        stripe_client.v1.events.list(params={"type": t}).data[0]
        for t in ("refund.created", "refund.updated")
    )
    assert created.data.object["id"] == updated.data.object["id"] == refund.id
    card_before = created.data.object["destination_details"]["card"]
    card_after = updated.data.object["destination_details"]["card"]
    assert card_before["reference_status"] == "pending"
    assert card_after["reference_status"] == "available" and card_after["reference"]
    assert updated.data.previous_attributes is not None
    assert (
        updated.data.previous_attributes["destination_details"]["card"]["reference_status"]
        == "pending"
    )
    fetched = stripe_client.v1.refunds.retrieve(refund.id)
    assert fetched.destination_details is not None
    assert fetched.destination_details.card is not None
    assert fetched.destination_details.card.reference == card_after["reference"]


def test_bank_debit_settles_later(tmp_path: Path) -> None:
    """A bank debit completes the session unpaid and stays processing until it settles;
    settlement sends async_payment_succeeded."""
    with running_sandbox(tmp_path / "bank.sqlite3", bank_debit_delay=3600) as sandbox:
        stripe_client = sandbox.client()
        session = payment_session(stripe_client, book_price(stripe_client))
        details = engine.PaymentDetails(
            email="a@example.com", method="bank_debit", bank_account_number="00012344"
        )
        outcome = engine.pay_checkout_session(sandbox.state, session.id, details)
        assert outcome.status == "processing"
        sandbox.run_worker_once()
        done = stripe_client.v1.checkout.sessions.retrieve(
            session.id, params={"expand": ["payment_intent"]}
        )
        assert (done.status, done.payment_status) == ("complete", "unpaid")
        assert (
            isinstance(done.payment_intent, stripe.PaymentIntent)
            and done.payment_intent.status == "processing"
        )
        stripe_client.raw_request("post", f"/v1/test_helpers/checkout/sessions/{session.id}/settle")
        assert stripe_client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"
        assert "checkout.session.async_payment_succeeded" in event_types(stripe_client)


def test_bank_debit_failing_account_settles_by_worker(tmp_path: Path) -> None:
    """The documented failing account fails when the worker finds the delay has passed."""
    with running_sandbox(tmp_path / "bank.sqlite3", bank_debit_delay=3600) as sandbox:
        stripe_client = sandbox.client()
        session = payment_session(stripe_client, book_price(stripe_client))
        details = engine.PaymentDetails(
            email="a@example.com", method="bank_debit", bank_account_number="000111111116"
        )
        engine.pay_checkout_session(sandbox.state, session.id, details)
        sandbox.run_worker_once()
        assert "checkout.session.async_payment_failed" not in event_types(stripe_client)
        store = sandbox.state.store
        with store.transaction():
            stored = store.get(session.id)
            assert stored is not None
            stored["_async"]["settle_at"] = int(time.time()) - 1  # the delay has passed
            store.put(stored)
        sandbox.run_worker_once()
        assert "checkout.session.async_payment_failed" in event_types(stripe_client)
        pi = stripe_client.v1.payment_intents.retrieve(
            str(stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent)
        )
        assert pi.status == "requires_payment_method"


def test_pay_helper_endpoint(stripe_client: StripeClient) -> None:
    """The test helper lets a test pay without the hosted page."""
    session = payment_session(stripe_client, book_price(stripe_client))
    response = stripe_client.raw_request(
        "post",
        f"/v1/test_helpers/checkout/sessions/{session.id}/pay",
        email="a@example.com",
        card_number="4000000000000002",
    )
    body = stripe_client.deserialize(response, api_mode="V1")
    assert body["outcome"]["status"] == "declined"
    stripe_client.raw_request(
        "post", f"/v1/test_helpers/checkout/sessions/{session.id}/pay", email="a@example.com"
    )
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "complete"


def test_setup_mode_saves_a_card_for_the_customer(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A setup-mode session attaches the card to its customer without charging."""
    customer = stripe_client.v1.customers.create(params={"email": "a@example.com"})
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "setup",
            "customer": customer.id,
            "currency": "gbp",
            "success_url": "https://shop.test/",
        }
    )
    assert pay(sandbox, session.id, email="a@example.com").status == "succeeded"
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status) == ("complete", "no_payment_required")
    assert [
        pm.customer
        for pm in stripe_client.v1.payment_methods.list(params={"customer": customer.id}).data
    ] == [customer.id]
    assert stripe_client.v1.payment_intents.list().data == []


def test_card_is_saved_only_when_asked(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """With setup_future_usage the card is attached to the customer; without, it is not."""
    customer = stripe_client.v1.customers.create(params={"email": "a@example.com"})
    price = book_price(stripe_client)
    plain = payment_session(stripe_client, price, customer=customer.id)
    pay(sandbox, plain.id, email="a@example.com")
    assert stripe_client.v1.payment_methods.list(params={"customer": customer.id}).data == []
    saving = payment_session(
        stripe_client,
        price,
        customer=customer.id,
        payment_intent_data={"setup_future_usage": "off_session"},
    )
    pay(sandbox, saving.id, email="a@example.com")
    saved = stripe_client.v1.payment_methods.list(params={"customer": customer.id}).data
    assert [pm.card.last4 for pm in saved if pm.card] == ["4242"]
    assert "payment_method.attached" in event_types(stripe_client)


def test_embedded_list_urls_can_be_paged(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """charge.refunds has a url the SDK can list from."""
    session = payment_session(stripe_client, book_price(stripe_client, 1000))
    pay(sandbox, session.id)
    pi = stripe_client.v1.payment_intents.retrieve(
        str(stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    )
    refund = stripe_client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 100})
    charge = stripe_client.v1.charges.retrieve(
        str(pi.latest_charge), params={"expand": ["refunds"]}
    )
    assert charge.refunds is not None
    assert [r.id for r in charge.refunds.auto_paging_iter()] == [refund.id]


def test_unknown_parameter_is_refused(stripe_client: StripeClient) -> None:
    """A misspelt parameter is a 400 naming it, as on Stripe."""
    price = book_price(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        payment_session(stripe_client, price, customer_emial="a@example.com")
    assert (caught.value.param, caught.value.code) == ("customer_emial", "parameter_unknown")
    assert caught.value.user_message == "Received unknown parameter: customer_emial"


def test_customer_email_prefill_names_the_new_customer(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """With customer_email set by the shop, the customer Checkout creates has that email."""
    session = payment_session(
        stripe_client,
        book_price(stripe_client),
        customer_email="known@example.com",
        customer_creation="always",
    )
    engine.pay_checkout_session(
        sandbox.state,
        session.id,
        engine.PaymentDetails(email="", card_number="4242424242424242", exp_month=1, exp_year=2040),
    )
    done = stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["customer"]})
    assert isinstance(done.customer, stripe.Customer) and done.customer.email == "known@example.com"
    assert done.customer_details is not None and done.customer_details.email == "known@example.com"


def test_unknown_nested_parameters_are_refused(stripe_client: StripeClient) -> None:
    """Unknown keys inside hashes and arrays of hashes are refused by their full name."""
    price = book_price(stripe_client)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"line_items": [{"price": price, "quantity": 1, "bogus": "x"}]}, "line_items[0][bogus]"),
        (
            {
                "line_items": [
                    {"price": price, "quantity": 1},
                    {
                        "price_data": {
                            "currency": "gbp",
                            "product": "prod_x",
                            "unit_amount": 500,
                            "recurring": {"interval": "month", "bogus": "1"},
                        },
                        "quantity": 1,
                    },
                ]
            },
            "line_items[1][price_data][recurring][bogus]",
        ),
        ({"subscription_data": {"trial_period_dayz": 3}}, "subscription_data[trial_period_dayz]"),
    ]
    for extra, name in cases:
        params: dict[str, Any] = {
            "mode": "payment",
            "success_url": "https://example.com/ok",
            "line_items": [{"price": price, "quantity": 1}],
            **extra,
        }
        with pytest.raises(stripe.InvalidRequestError) as caught:
            stripe_client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
        assert caught.value.http_status == 400
        assert (caught.value.param, caught.value.code) == (name, "parameter_unknown")
        assert caught.value.user_message == f"Received unknown parameter: {name}"
        assert caught.value.error is not None
        assert caught.value.error.type == "invalid_request_error"


def test_metadata_and_known_nested_parameters_pass(stripe_client: StripeClient) -> None:
    """metadata takes any key; known nested keys (metadata of a line item too) are accepted."""
    price = book_price(stripe_client)
    session = payment_session(
        stripe_client,
        price,
        metadata={"order": "42", "anything_at_all": "ok"},
        payment_intent_data={"metadata": {"free": "form"}, "setup_future_usage": "off_session"},
    )
    assert session.metadata is not None
    assert session.metadata.to_dict() == {"order": "42", "anything_at_all": "ok"}
    price_obj = stripe_client.v1.prices.create(
        params={
            "currency": "gbp",
            "unit_amount": 900,
            "product_data": {"name": "Zine", "metadata": {"k": "v"}},
            "recurring": {"interval": "month", "interval_count": 1},
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.prices.create(
            params={
                "currency": "gbp",
                "unit_amount": 900,
                "product_data": {"name": "Zine", "colour": "red"},
            }
        )
    assert caught.value.param == "product_data[colour]"
    assert price_obj.recurring is not None


def test_over_refund_message_shows_money_as_stripe_does(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Stripe words an over-refund with formatted amounts, and code amount_too_large."""
    session = payment_session(stripe_client, book_price(stripe_client, 1200))
    pay(sandbox, session.id)
    pi_id = str(stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 2000})
    assert caught.value.user_message == (
        "Refund amount (£20.00) is greater than charge amount (£12.00)"
    )
    assert (caught.value.param, caught.value.code) == ("amount", "amount_too_large")
    stripe_client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 155})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 1100})
    assert caught.value.user_message == (
        "Refund amount (£11.00) is greater than unrefunded amount on charge (£10.45)"
    )
    assert caught.value.code == "amount_too_large"


@pytest.mark.parametrize(
    ("currency", "charged", "asked", "words"),
    [
        ("kwd", 1500, 2250, "Refund amount (2.250 KWD) is greater than charge amount (1.500 KWD)"),
        ("jpy", 500, 1200, "Refund amount (¥1,200) is greater than charge amount (¥500)"),
    ],
)
def test_over_refund_message_follows_the_currencys_decimal_places(
    sandbox: RunningSandbox,
    stripe_client: StripeClient,
    currency: str,
    charged: int,
    asked: int,
    words: str,
) -> None:
    """Three-decimal currencies (KWD: 1500 fils is 1.500) and zero-decimal ones (JPY)
    are formatted as the hosted pages show them, not as hundredths."""
    price = stripe_client.v1.prices.create(
        params={"product_data": {"name": "Dune"}, "unit_amount": charged, "currency": currency}
    )
    session = payment_session(stripe_client, price.id)
    pay(sandbox, session.id)
    pi_id = str(stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.refunds.create(params={"payment_intent": pi_id, "amount": asked})
    assert caught.value.user_message == words
    assert (caught.value.param, caught.value.code) == ("amount", "amount_too_large")


def test_error_codes_are_stripes(sandbox: RunningSandbox, stripe_client: StripeClient) -> None:
    """Each refusal carries a code from Stripe's list (the SDK's), not an invented one."""
    session = payment_session(stripe_client, book_price(stripe_client, 1200))
    pay(sandbox, session.id)
    pi_id = str(stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.raw_request("post", "/v1/refunds", payment_intent=pi_id, amount="12.5")
    assert (caught.value.param, caught.value.code) == ("amount", "parameter_invalid_integer")
    assert caught.value.user_message == "Invalid integer: 12.5"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.prices.list(params={"limit": 0})
    assert (caught.value.param, caught.value.code) == ("limit", "parameter_invalid_integer")
    customer = stripe_client.v1.customers.create(params={"email": "a@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        payment_session(
            stripe_client, book_price(stripe_client), customer=customer.id, customer_email="b@x.io"
        )
    assert (caught.value.param, caught.value.code) == ("customer_email", "parameters_exclusive")
    stripe_client.v1.prices.create(
        params={
            "currency": "gbp",
            "unit_amount": 100,
            "product_data": {"name": "A"},
            "lookup_key": "k",
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.prices.create(
            params={
                "currency": "gbp",
                "unit_amount": 100,
                "product_data": {"name": "B"},
                "lookup_key": "k",
            }
        )
    assert (caught.value.param, caught.value.code) == ("lookup_key", "resource_already_exists")


def test_the_dispute_card_pays_then_is_disputed_as_fraudulent(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """4000 0000 0000 0259 pays, then the charge is disputed (fraudulent) with Stripe's
    dispute shape; accepting the dispute closes it as lost."""
    session = payment_session(stripe_client, book_price(stripe_client, 1000))
    assert pay(sandbox, session.id, card="4000000000000259").status == "succeeded"
    pi_id = str(stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    (dispute,) = stripe_client.v1.disputes.list(params={"payment_intent": pi_id}).data
    charge = stripe_client.v1.charges.retrieve(str(dispute.charge))
    assert (charge.status, charge.disputed, charge.payment_intent) == ("succeeded", True, pi_id)
    assert (dispute.reason, dispute.status, dispute.amount) == (
        "fraudulent",
        "needs_response",
        1000,
    )
    assert dispute.id.startswith("dp_") and dispute.currency == "gbp"
    example = json.loads(FIXTURES.read_text())["resources"]["dispute"]
    shown = stripe_client.v1.disputes.retrieve(dispute.id).to_dict()
    assert set(example) <= set(shown)
    assert set(example["evidence"]) <= set(shown["evidence"])
    assert set(example["evidence_details"]) <= set(shown["evidence_details"])
    types = event_types(stripe_client)
    assert types.index("charge.succeeded") < types.index("charge.dispute.created")
    assert "charge.dispute.funds_withdrawn" in types
    assert "charge.dispute.closed" not in types
    closed = stripe_client.v1.disputes.close(dispute.id)
    assert closed.status == "lost"
    event = stripe_client.v1.events.list(params={"type": "charge.dispute.closed"}).data[0]
    assert (event.data.object["id"], event.data.object["status"]) == (dispute.id, "lost")
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.disputes.close(dispute.id)


def test_winning_evidence_wins_a_dispute(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Submitting Stripe's test text `winning_evidence` puts the dispute under review, then
    won: charge.dispute.updated, charge.dispute.closed and funds_reinstated."""
    session = payment_session(stripe_client, book_price(stripe_client, 700))
    pay(sandbox, session.id, card="4000000000000259")
    (dispute,) = stripe_client.v1.disputes.list().data
    won = stripe_client.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "winning_evidence"}}
    )
    assert won.status == "won" and won.evidence_details.submission_count == 1
    types = event_types(stripe_client)
    assert types[-3:] == [
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    ]
    ordinary = payment_session(stripe_client, book_price(stripe_client, 700))
    pay(sandbox, ordinary.id)
    assert len(stripe_client.v1.disputes.list().data) == 1  # other cards are not disputed


def test_unknown_parameters_are_refused_on_every_write_the_shop_makes(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Portal configurations, disputes, session updates and expiries are checked against the
    SDK's params too, nested keys included, so a typo fails here as it would on Stripe."""
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        (
            "post",
            "/v1/billing_portal/configurations",
            {"features": {"invoice_history": {"enabled": True, "bogus": True}}},
            "features[invoice_history][bogus]",
        ),
        (
            "post",
            "/v1/billing_portal/configurations",
            {"features": {"invoice_history": {"enabled": True}}, "colour": "red"},
            "colour",
        ),
    ]
    session = payment_session(stripe_client, book_price(stripe_client))
    cases += [
        ("post", f"/v1/checkout/sessions/{session.id}", {"bogus": "1"}, "bogus"),
        ("post", f"/v1/checkout/sessions/{session.id}/expire", {"now": "1"}, "now"),
    ]
    disputed = payment_session(stripe_client, book_price(stripe_client))
    pay(sandbox, disputed.id, card="4000000000000259")
    (dispute,) = stripe_client.v1.disputes.list().data
    cases.append(
        (
            "post",
            f"/v1/disputes/{dispute.id}",
            {"evidence": {"uncategorized_text": "x", "mood": "sad"}},
            "evidence[mood]",
        )
    )
    for method, path, params, name in cases:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            stripe_client.raw_request(method, path, **params)
        assert (caught.value.param, caught.value.code) == (name, "parameter_unknown"), path
    assert stripe_client.v1.disputes.retrieve(dispute.id).status == "needs_response"
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_unknown_query_parameters_are_refused_on_reads_and_deletes(
    stripe_client: StripeClient,
) -> None:
    """Lists, retrieves, searches and deletes check their query against the SDK's params
    too (``GET /v1/prices?bogus=1`` is refused, as on Stripe); the ones it declares pass."""
    price = book_price(stripe_client)
    customer = stripe_client.v1.customers.create(params={"email": "q@example.com"})
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("get", "/v1/prices", {"bogus": "1"}, "bogus"),
        ("get", "/v1/prices", {"created": {"gte": "1", "soon": "2"}}, "created[soon]"),
        ("get", f"/v1/prices/{price}", {"colour": "red"}, "colour"),
        ("get", "/v1/prices/search", {"query": "active:'true'", "sort": "asc"}, "sort"),
        ("get", "/v1/customers/search", {"query": "email:'q@example.com'", "x": "1"}, "x"),
        ("get", "/v1/events", {"kind": "all"}, "kind"),
        ("get", f"/v1/customers/{customer.id}/payment_methods", {"brand": "visa"}, "brand"),
        ("delete", f"/v1/customers/{customer.id}", {"force": "true"}, "force"),
    ]
    for method, path, params, name in cases:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            stripe_client.raw_request(method, path, **params)
        assert (caught.value.param, caught.value.code) == (name, "parameter_unknown"), path
        assert caught.value.user_message == f"Received unknown parameter: {name}", path
    assert not stripe_client.v1.customers.retrieve(customer.id).to_dict().get("deleted")

    listed = stripe_client.v1.prices.list(
        params={"limit": 1, "active": True, "created": {"gte": 1}, "expand": ["data.product"]}
    )
    assert [p.id for p in listed.data] == [price]
    found = stripe_client.v1.customers.search(params={"query": "email:'q@example.com'"})
    assert [c.id for c in found.data] == [customer.id]
    assert stripe_client.v1.prices.retrieve(price, params={"expand": ["product"]}).id == price
    stripe_client.v1.customers.delete(customer.id)
