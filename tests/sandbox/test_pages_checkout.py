"""Hosted Checkout over plain HTTP: what the form shows, and what paying on it does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from stripe import StripeClient
from stripe_sandbox.flows import engine
from stripe_sandbox.testing import RunningSandbox, running_sandbox

from .pages_support import BANNER, Visitor, labels_of, text_of

pytestmark = pytest.mark.sandbox

SUCCESS = "https://shop.test/orders/thanks?session_id={CHECKOUT_SESSION_ID}"
CARD_LABELS = {"Email", "Card number", "Expiration", "CVC", "Cardholder name"}


def price(stripe_client: StripeClient, amount: int = 1299, **extra: Any) -> str:
    """A GBP price of a new product; recurring when ``recurring`` is given."""
    product = stripe_client.v1.products.create(params={"name": extra.pop("name", "Dune")})
    return stripe_client.v1.prices.create(
        params={"product": product.id, "unit_amount": amount, "currency": "gbp", **extra}
    ).id


def session(stripe_client: StripeClient, price_id: str, mode: str = "payment", **extra: Any) -> Any:
    """An open Checkout Session for two of ``price_id`` (one in subscription mode)."""
    return stripe_client.v1.checkout.sessions.create(
        params={
            "mode": mode,
            "line_items": [{"price": price_id, "quantity": 2 if mode == "payment" else 1}],
            "success_url": SUCCESS,
            "cancel_url": "https://shop.test/basket",
            **extra,
        }
    )


def card(number: str = "4242 4242 4242 4242", **extra: str) -> dict[str, str]:
    """The form as a shopper fills it in."""
    return {
        "email": "ada@example.com",
        "card_number": number,
        "card_expiry": "12 / 34",
        "card_cvc": "123",
        "cardholder_name": "Ada Lovelace",
        **extra,
    }


def input_value(page: str, name: str) -> str:
    """The value an input is rendered with."""
    match = re.search(rf'<input id="{name}" name="{name}"[^>]*value="([^"]*)"', page)
    assert match, f"no input {name}"
    return match.group(1)


def test_payment_form_has_labelled_inputs_lines_and_total(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Lines with quantity and unit price, the total, a prefilled email, and a Pay button."""
    cs = session(stripe_client, price(stripe_client), customer_email="ada@example.com")

    page = Visitor(sandbox).get(f"/checkout/{cs.id}")

    assert page.status_code == 200
    text = text_of(page.text)
    assert BANNER in text
    assert "Dune" in text and "Qty 2 × £12.99" in text and "£25.98" in text
    assert set(labels_of(page.text)) >= CARD_LABELS
    assert input_value(page.text, "email") == "ada@example.com"
    assert re.findall(r"<button[^>]*type=\"submit\">([^<]+)</button>", page.text) == ["Pay"]
    assert "Pay by bank debit" in text
    assert "Shipping address" not in text
    assert '<a class="back" href="https://shop.test/basket">← Back</a>' in page.text


@pytest.mark.parametrize(("trial", "button"), [(None, "Subscribe"), (14, "Start trial")])
def test_subscription_form_names_the_button_and_trial_terms(
    sandbox: RunningSandbox, stripe_client: StripeClient, trial: int | None, button: str
) -> None:
    """Subscription mode says Subscribe; with a trial, Start trial and what follows it."""
    monthly = price(stripe_client, 900, name="Reader", recurring={"interval": "month"})
    extra = {"subscription_data": {"trial_period_days": trial}} if trial else {}
    cs = session(
        stripe_client, monthly, mode="subscription", customer_email="ada@example.com", **extra
    )

    page = Visitor(sandbox).get(f"/checkout/{cs.id}").text

    assert re.findall(r"<button[^>]*type=\"submit\">([^<]+)</button>", page) == [button]
    text = text_of(page)
    if trial:
        assert "14 days free, then £9.00/month" in text
        assert "Total due today £0.00" in text
    else:
        assert "days free" not in text
        assert "Total £9.00" in text
    assert "Pay by bank debit" not in text  # delayed debits are for one-off payments


def test_shipping_fields_only_when_the_session_asks(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Allowed countries fill the select; the address reaches the session."""
    cs = session(
        stripe_client,
        price(stripe_client),
        shipping_address_collection={"allowed_countries": ["GB", "IE"]},
    )
    visitor = Visitor(sandbox)
    page = visitor.get(f"/checkout/{cs.id}").text
    assert {"Name", "Address line 1", "City", "Postal code", "Country"} <= set(labels_of(page))
    assert re.findall(r'<option value="([A-Z]{2})"', page) == ["GB", "IE"]

    address = {
        "shipping_name": "Ada Lovelace",
        "shipping_line1": "12 St James's Square",
        "shipping_city": "London",
        "shipping_postal_code": "SW1Y 4JH",
        "shipping_country": "GB",
    }
    paid = visitor.submit(f"/checkout/{cs.id}", card(**address))

    assert paid.status_code == 303
    shipped = stripe_client.v1.checkout.sessions.retrieve(cs.id).collected_information
    assert shipped is not None and shipped.shipping_details is not None
    assert shipped.shipping_details.address.city == "London"
    assert shipped.shipping_details.address.country == "GB"


def test_good_card_redirects_to_success_url_with_session_id(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """4242: 303 to success_url with {CHECKOUT_SESSION_ID} filled in; the session is paid."""
    cs = session(stripe_client, price(stripe_client))

    response = Visitor(sandbox).submit(f"/checkout/{cs.id}", card())

    assert response.status_code == 303
    assert response.headers["Location"] == f"https://shop.test/orders/thanks?session_id={cs.id}"
    done = stripe_client.v1.checkout.sessions.retrieve(cs.id)
    assert (done.status, done.payment_status, done.amount_total) == ("complete", "paid", 2598)
    assert done.customer_details is not None and done.customer_details.email == "ada@example.com"


def test_declined_card_shows_stripes_message_and_keeps_the_session_open(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """0002: the form comes back with the decline, email and name kept, card cleared."""
    cs = session(stripe_client, price(stripe_client))

    response = Visitor(sandbox).submit(f"/checkout/{cs.id}", card("4000 0000 0000 0002"))

    assert response.status_code == 402
    assert "Your card was declined." in text_of(response.text)
    assert input_value(response.text, "email") == "ada@example.com"
    assert input_value(response.text, "cardholder_name") == "Ada Lovelace"
    assert input_value(response.text, "card_number") == ""
    assert stripe_client.v1.checkout.sessions.retrieve(cs.id).status == "open"


def test_incomplete_card_is_refused_before_anything_is_charged(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A short card number is reported next to its field; no payment is attempted."""
    cs = session(stripe_client, price(stripe_client))

    response = Visitor(sandbox).submit(f"/checkout/{cs.id}", card("4242 4242"))

    assert response.status_code == 400
    assert 'id="card_number-error">Your card number is incomplete.' in response.text
    assert stripe_client.v1.payment_intents.list().data == []


@pytest.mark.parametrize(
    ("account", "settles_as"),
    [("000123456789", "succeeded"), (engine.FAILING_BANK_ACCOUNTS[0], "failed")],
)
def test_bank_debit_completes_unpaid_then_settles(
    tmp_path: Path, account: str, settles_as: str
) -> None:
    """Pay by bank debit: back to the shop at once, unpaid, then async_payment_<outcome>."""
    # The debit settles only when the test says so, however slow the machine.
    with running_sandbox(tmp_path / "stripe.sqlite3", bank_debit_delay=3600) as sandbox:
        stripe_client = sandbox.client()
        cs = session(stripe_client, price(stripe_client))
        form = {
            "email": "ada@example.com",
            "payment_method": "bank_debit",
            "account_holder": "Ada Lovelace",
            "account_number": account,
        }

        response = Visitor(sandbox).submit(f"/checkout/{cs.id}", form)

        assert response.status_code == 303
        assert response.headers["Location"].endswith(f"session_id={cs.id}")
        done = stripe_client.v1.checkout.sessions.retrieve(cs.id)
        assert (done.status, done.payment_status) == ("complete", "unpaid")
        engine.settle_async_payment(sandbox.state, cs.id)
        wanted = f"checkout.session.async_payment_{settles_as}"
        assert len(stripe_client.v1.events.list(params={"type": wanted}).data) == 1
        paid = stripe_client.v1.checkout.sessions.retrieve(cs.id).payment_status
        assert paid == ("paid" if settles_as == "succeeded" else "unpaid")


def test_failed_authentication_returns_to_the_form(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """3155 leads to the challenge; failing it shows Stripe's message and the session stays open."""
    cs = session(stripe_client, price(stripe_client))
    visitor = Visitor(sandbox)

    challenged = visitor.submit(f"/checkout/{cs.id}", card("4000 0025 0000 3155"))
    assert challenged.status_code == 303
    assert challenged.headers["Location"].endswith(f"/checkout/{cs.id}/authenticate")
    assert visitor.get(f"/checkout/{cs.id}").status_code == 303  # the challenge comes first
    page = text_of(visitor.get(f"/checkout/{cs.id}/authenticate").text)
    assert "Complete authentication" in page and "Fail authentication" in page

    failed = visitor.submit(f"/checkout/{cs.id}/authenticate", {"decision": "fail"})

    assert failed.status_code == 402
    assert "We are unable to authenticate your payment method." in text_of(failed.text)
    assert input_value(failed.text, "email") == "ada@example.com"
    assert stripe_client.v1.checkout.sessions.retrieve(cs.id).status == "open"


def test_expired_session_shows_a_message_instead_of_the_form(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """After expiry the page says so, with a way back and no card form; paying is refused."""
    cs = session(stripe_client, price(stripe_client))
    visitor = Visitor(sandbox)
    token_page = visitor.get(f"/checkout/{cs.id}").text
    stripe_client.v1.checkout.sessions.expire(cs.id)

    page = visitor.get(f"/checkout/{cs.id}")

    assert page.status_code == 410
    text = text_of(page.text)
    assert "This checkout session has expired" in text
    assert "Card number" not in text
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', token_page)
    assert token
    late = visitor.http.post(
        visitor.url(f"/checkout/{cs.id}"),
        data={"form_token": token.group(1), **card()},
        allow_redirects=False,
    )
    assert late.status_code == 410
    assert stripe_client.v1.payment_intents.list().data == []


def test_completed_session_does_not_take_a_second_payment(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A paid session's link shows that it is complete, with the way on to the shop."""
    cs = session(stripe_client, price(stripe_client))
    visitor = Visitor(sandbox)
    visitor.submit(f"/checkout/{cs.id}", card())

    text = text_of(visitor.get(f"/checkout/{cs.id}").text)

    assert "already complete" in text and "Your payment went through." in text
    assert "Card number" not in text


def test_posts_need_the_pages_token_and_origin(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A form posted from elsewhere (no token, or another origin) is refused and charges nothing."""
    cs = session(stripe_client, price(stripe_client))
    visitor = Visitor(sandbox)
    path = visitor.url(f"/checkout/{cs.id}")

    no_token = visitor.http.post(path, data=card(), allow_redirects=False)
    forged_token = visitor.http.post(
        path, data={"form_token": "0" * 64, **card()}, allow_redirects=False
    )
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', visitor.get(path).text)
    assert token
    cross_origin = visitor.http.post(
        path,
        data={"form_token": token.group(1), **card()},
        headers={"Origin": "https://evil.test"},
        allow_redirects=False,
    )

    assert [r.status_code for r in (no_token, forged_token, cross_origin)] == [403, 403, 403]
    assert stripe_client.v1.checkout.sessions.retrieve(cs.id).status == "open"
