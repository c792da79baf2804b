"""Hosted Checkout over plain HTTP with several books, shipping options, a discount and
saved cards: what the page shows and what submitting it does."""

from __future__ import annotations

import re
from typing import Any

import pytest
from stripe import StripeClient
from stripe_sandbox.testing import RunningSandbox

from .pages_support import Visitor, labels_of, text_of

pytestmark = pytest.mark.sandbox

SUCCESS = "https://shop.test/orders/thanks?session_id={CHECKOUT_SESSION_ID}"
CARD = {
    "email": "ada@example.com",
    "card_number": "4242 4242 4242 4242",
    "card_expiry": "12 / 34",
    "card_cvc": "123",
    "cardholder_name": "Ada Lovelace",
}
ADDRESS = {
    "shipping_name": "Ada Lovelace",
    "shipping_line1": "12 St James's Square",
    "shipping_line2": "Second floor",
    "shipping_city": "London",
    "shipping_postal_code": "SW1Y 4JH",
    "shipping_state": "Greater London",
    "shipping_country": "GB",
}


def _price(stripe_client: StripeClient, name: str, amount: int) -> str:
    return stripe_client.v1.prices.create(
        params={"product_data": {"name": name}, "unit_amount": amount, "currency": "gbp"}
    ).id


def _cart(stripe_client: StripeClient, **extra: Any) -> Any:
    """2 × Dune (print) at £20 and 1 × Emma (ebook) at £8.50."""
    return stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [
                {"price": _price(stripe_client, "Dune (print)", 2000), "quantity": 2},
                {"price": _price(stripe_client, "Emma (ebook)", 850), "quantity": 1},
            ],
            "success_url": SUCCESS,
            **extra,
        }
    )


def _postage(name: str, amount: int, days: tuple[int, int] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "display_name": name,
        "type": "fixed_amount",
        "fixed_amount": {"amount": amount, "currency": "gbp"},
    }
    if days:
        data["delivery_estimate"] = {
            "minimum": {"unit": "business_day", "value": days[0]},
            "maximum": {"unit": "business_day", "value": days[1]},
        }
    return {"shipping_rate_data": data}


def _radios(page: str, name: str) -> list[tuple[str, bool]]:
    """``(value, checked)`` of each radio button called ``name``, in page order."""
    found = re.findall(
        rf'<input type="radio" id="[^"]+" name="{name}" value="([^"]+)"([^>]*)>', page
    )
    return [(value, "checked" in rest) for value, rest in found]


def test_every_book_of_the_cart_is_on_the_page_with_the_total(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Each line with its quantity, unit price and amount; the total of them all."""
    cs = _cart(stripe_client)

    text = text_of(Visitor(sandbox).get(f"/checkout/{cs.id}").text)

    assert "Dune (print) Qty 2 × £20.00 £40.00" in text
    assert "Emma (ebook) Qty 1 × £8.50 £8.50" in text
    assert "Total £48.50" in text


def test_the_shopper_chooses_postage_and_pays_for_it(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Options with price and delivery estimate, the first selected; the one chosen is
    charged and the address arrives whole."""
    cs = _cart(
        stripe_client,
        shipping_address_collection={"allowed_countries": ["GB", "IE"]},
        shipping_options=[_postage("Standard", 350, (2, 4)), _postage("Express", 900, (1, 1))],
    )
    visitor = Visitor(sandbox)
    page = visitor.get(f"/checkout/{cs.id}").text
    text = text_of(page)
    assert "Standard · £3.50 (2–4 business days)" in text
    assert "Express · £9.00 (1 business day)" in text
    assert "Subtotal £48.50 Shipping (Standard) £3.50 Total £52.00" in text
    options = _radios(page, "shipping_rate")
    assert [checked for _, checked in options] == [True, False]
    assert re.findall(r'<option value="([A-Z]{2})"', page) == ["GB", "IE"]
    assert {"Address line 2 (optional)", "State or county (optional)"} <= set(labels_of(page))

    express = options[1][0]
    paid = visitor.submit(f"/checkout/{cs.id}", {**CARD, **ADDRESS, "shipping_rate": express})

    assert paid.status_code == 303
    done = stripe_client.v1.checkout.sessions.retrieve(cs.id)
    assert done.shipping_cost is not None and done.shipping_cost.shipping_rate == express
    assert done.amount_total == 5750
    assert done.collected_information is not None
    shipped = done.collected_information.shipping_details
    assert shipped is not None
    assert (shipped.address.line2, shipped.address.state) == ("Second floor", "Greater London")
    intent = stripe_client.v1.payment_intents.retrieve(str(done.payment_intent))
    assert intent.amount_received == 5750


def test_a_country_the_session_does_not_ship_to_is_refused(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Only allowed countries are accepted; nothing is charged."""
    cs = _cart(
        stripe_client,
        shipping_address_collection={"allowed_countries": ["GB"]},
        shipping_options=[_postage("Standard", 350)],
    )
    refused = Visitor(sandbox).submit(
        f"/checkout/{cs.id}", {**CARD, **ADDRESS, "shipping_country": "US"}
    )
    assert refused.status_code == 400
    assert "Choose a country we ship to." in text_of(refused.text)
    assert stripe_client.v1.checkout.sessions.retrieve(cs.id).status == "open"


def test_the_discount_is_shown_and_taken_off(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A member's 10 % off printed books: a discount line and the lower total."""
    cs_plain = _cart(stripe_client)
    print_product = stripe_client.v1.checkout.sessions.line_items.list(cs_plain.id).data[0]
    assert print_product.price is not None
    stripe_client.v1.coupons.create(
        params={
            "id": "members-10",
            "name": "Members 10 %",
            "percent_off": 10,
            "applies_to": {"products": [str(print_product.price.product)]},
        }
    )
    cs = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": print_product.price.id, "quantity": 2}],
            "discounts": [{"coupon": "members-10"}],
            "success_url": SUCCESS,
        }
    )
    visitor = Visitor(sandbox)

    text = text_of(visitor.get(f"/checkout/{cs.id}").text)

    assert "Subtotal £40.00 Discount (Members 10 %) −£4.00 Total £36.00" in text
    assert visitor.submit(f"/checkout/{cs.id}", CARD).status_code == 303
    done = stripe_client.v1.checkout.sessions.retrieve(cs.id)
    assert stripe_client.v1.payment_intents.retrieve(str(done.payment_intent)).amount == 3600


def test_save_card_is_offered_unticked_and_only_when_enabled(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """The checkbox appears with payment_method_save enabled, not ticked."""
    customer = stripe_client.v1.customers.create(params={"email": "ada@example.com"}).id
    offering = _cart(
        stripe_client,
        customer=customer,
        saved_payment_method_options={"payment_method_save": "enabled"},
    )
    plain = _cart(stripe_client, customer=customer)
    visitor = Visitor(sandbox)

    offered = visitor.get(f"/checkout/{offering.id}").text
    not_offered = visitor.get(f"/checkout/{plain.id}").text

    assert "Save my card for future purchases" in text_of(offered)
    checkbox = re.search(r'<input type="checkbox" id="save_card" name="save_card"[^>]*>', offered)
    assert checkbox is not None and "checked" not in checkbox.group(0)
    assert "Save my card" not in text_of(not_offered)


def test_a_returning_customer_sees_and_pays_with_the_saved_card(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Ticked save → next time the card is offered (brand, last 4, expiry), selected,
    and paying needs no card details; once removed it is offered no more."""
    customer = stripe_client.v1.customers.create(params={"email": "ada@example.com"}).id
    saving = {"payment_method_save": "enabled"}
    visitor = Visitor(sandbox)
    first = _cart(stripe_client, customer=customer, saved_payment_method_options=saving)
    assert _radios(visitor.get(f"/checkout/{first.id}").text, "payment_method")[0] == (
        "card",
        True,
    )
    assert visitor.submit(f"/checkout/{first.id}", {**CARD, "save_card": "on"}).status_code == 303

    second = _cart(stripe_client, customer=customer, saved_payment_method_options=saving)
    page = visitor.get(f"/checkout/{second.id}").text
    assert "Visa •••• 4242 · expires 12/34" in text_of(page)
    assert "New card" in text_of(page)
    saved_card, selected = _radios(page, "payment_method")[0]
    assert saved_card.startswith("pm_") and selected

    paid = visitor.submit(
        f"/checkout/{second.id}", {"email": "ada@example.com", "payment_method": saved_card}
    )

    assert paid.status_code == 303
    done = stripe_client.v1.checkout.sessions.retrieve(second.id)
    intent = stripe_client.v1.payment_intents.retrieve(str(done.payment_intent))
    assert (intent.status, intent.payment_method) == ("succeeded", saved_card)

    stripe_client.v1.payment_methods.detach(saved_card)
    third = _cart(stripe_client, customer=customer, saved_payment_method_options=saving)
    page = visitor.get(f"/checkout/{third.id}").text
    assert "4242 · expires" not in text_of(page)
    assert [value for value, _ in _radios(page, "payment_method")] == ["card", "bank_debit"]
