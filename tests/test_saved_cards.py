"""Saved cards: Checkout offers to save the card and shows saved ones to a returning
customer; the account page lists them from Stripe and removes only the shopper's own;
Quire itself keeps no card data."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from shop.extensions import db
from shop.models import Customer
from tests import builders, helpers
from tests.stripe_fakes import API, example, listing

CARDS_URL = API + "/v1/customers/cus_reader/payment_methods"


def saved_card(pm_id: str, brand: str, last4: str, month: int, year: int) -> dict[str, Any]:
    """A card payment method saved on cus_reader, as Stripe lists it."""
    method = example("payment_method", id=pm_id, customer="cus_reader", allow_redisplay="always")
    method["card"].update(brand=brand, display_brand=brand, last4=last4, exp_month=month)
    method["card"]["exp_year"] = year
    return method


VISA = saved_card("pm_visa", "visa", "4242", 8, 2030)
MASTERCARD = saved_card("pm_mc", "mastercard", "4444", 1, 2029)


def is_a_customer(app: Flask, user_id: int) -> None:
    with app.app_context():
        db.session.add(Customer(user_id=user_id, stripe_customer_id="cus_reader"))
        db.session.commit()


def stripe_lists_cards(mock: responses.RequestsMock, *cards: dict[str, Any]) -> None:
    mock.upsert(
        "GET",
        re.compile(re.escape(CARDS_URL) + r"(\?.*)?$"),
        json=listing("/v1/customers/cus_reader/payment_methods", list(cards)),
    )


def detaches(mock: responses.RequestsMock) -> list[str]:
    """The payment methods Quire asked Stripe to detach."""
    return [
        urlsplit(call.request.url).path.split("/")[3]
        for call in mock.calls
        if call.request.url.endswith("/detach")
    ]


def list_calls(mock: responses.RequestsMock) -> list[Any]:
    return [call.request for call in mock.calls if call.request.url.startswith(CARDS_URL)]


@pytest.fixture
def customer(app: Flask, shopper: int) -> int:
    """A signed-in shopper who already has a Stripe customer (cus_reader)."""
    is_a_customer(app, shopper)
    return shopper


# --- Checkout -------------------------------------------------------------------------


@pytest.fixture
def stripe_opens_sessions(fake_stripe: responses.RequestsMock) -> responses.RequestsMock:
    """Prices by lookup key, the customer and an open Checkout Session, as Stripe answers."""
    prices = {
        "book:the-salt-road": example(
            "price", id="price_salt", lookup_key="book:the-salt-road", unit_amount=1299,
            currency="gbp", active=True, recurring=None,
        ),
        "plan:reader:month": example(
            "price", id="price_reader", lookup_key="plan:reader:month", unit_amount=900,
            currency="gbp", active=True, recurring={"interval": "month", "interval_count": 1},
        ),
    }  # fmt: skip

    def answer_prices(request: Any) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlsplit(request.url).query)
        wanted = {v for k, vs in query.items() if k.startswith("lookup_keys") for v in vs}
        found = [p for key, p in prices.items() if key in wanted]
        return 200, {}, json.dumps(listing("/v1/prices", found))

    fake_stripe.add_callback("GET", re.compile(API + r"/v1/prices\?.*"), callback=answer_prices)
    fake_stripe.add("POST", API + "/v1/customers", json=example("customer", id="cus_reader"))
    fake_stripe.add(
        "POST",
        API + "/v1/checkout/sessions",
        json=example("checkout.session", id="cs_test_a1", status="open", url="https://pay.test/1"),
    )
    return fake_stripe


def session_params_sent(mock: responses.RequestsMock) -> dict[str, str]:
    (request,) = [c.request for c in mock.calls if c.request.url == API + "/v1/checkout/sessions"]
    return {k: v[0] for k, v in parse_qs(request.body).items()}


@pytest.mark.parametrize(
    ("path", "form", "mode"),
    [
        ("/checkout/books/the-salt-road", {"quantity": "1", "ship_to": "GB"}, "payment"),
        ("/checkout/memberships/reader", {"interval": "month"}, "subscription"),
    ],
)
def test_checkout_offers_to_save_the_card_and_shows_saved_ones(
    client: FlaskClient,
    shopper: int,
    stripe_opens_sessions: responses.RequestsMock,
    path: str,
    form: dict[str, str],
    mode: str,
) -> None:
    assert client.post(path, data=form).status_code == 303
    params = session_params_sent(stripe_opens_sessions)
    assert params["mode"] == mode
    assert params["customer"] == "cus_reader"  # saving needs the customer
    assert params["saved_payment_method_options[payment_method_save]"] == "enabled"
    assert params["saved_payment_method_options[allow_redisplay_filters][0]"] == "always"


# --- The account page -----------------------------------------------------------------


def test_the_account_page_lists_saved_cards_from_stripe(
    client: FlaskClient, customer: int, fake_stripe: responses.RequestsMock
) -> None:
    stripe_lists_cards(fake_stripe, VISA, MASTERCARD)
    page = client.get("/account")
    assert page.status_code == 200
    assert "Visa ending 4242" in page.text and "Expires 08/30" in page.text
    assert "Mastercard ending 4444" in page.text and "Expires 01/29" in page.text
    assert page.text.count(">Remove</button>") == 2
    (request,) = list_calls(fake_stripe)  # one list call
    assert parse_qs(urlsplit(request.url).query)["type"] == ["card"]


def test_a_shopper_without_a_stripe_customer_has_no_cards_and_stripe_is_not_asked(
    client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    page = client.get("/account")
    assert "No saved cards" in page.text
    assert len(fake_stripe.calls) == 0


def test_stripe_being_down_still_shows_the_rest_of_the_account_page(
    app: Flask, client: FlaskClient, customer: int, fake_stripe: responses.RequestsMock
) -> None:
    builders.add_order(app)
    fake_stripe.upsert(
        "GET",
        re.compile(re.escape(CARDS_URL) + r"(\?.*)?$"),
        status=503,
        json={"error": {"type": "api_error", "message": "down"}},
    )
    page = client.get("/account")
    assert page.status_code == 200
    assert "Saved cards can't be shown right now" in page.text
    assert "The Salt Road" in page.text  # the orders are still there
    assert "Manage billing" in page.text
    assert "Traceback" not in page.text


def test_removing_one_of_the_shopper_s_cards_detaches_it(
    client: FlaskClient, customer: int, fake_stripe: responses.RequestsMock
) -> None:
    stripe_lists_cards(fake_stripe, VISA, MASTERCARD)
    fake_stripe.add(
        "POST", API + "/v1/payment_methods/pm_mc/detach", json={**MASTERCARD, "customer": None}
    )
    response = client.post("/account/cards/pm_mc/remove")
    assert response.status_code == 303
    assert detaches(fake_stripe) == ["pm_mc"]
    stripe_lists_cards(fake_stripe, VISA)
    page = client.get(response.location)
    assert "Mastercard ending 4444 was removed." in page.text
    assert "Visa ending 4242" in page.text


def test_a_card_that_is_not_the_shopper_s_is_never_detached(
    app: Flask, client: FlaskClient, customer: int, fake_stripe: responses.RequestsMock
) -> None:
    stripe_lists_cards(fake_stripe, VISA)
    response = client.post("/account/cards/pm_someone_elses/remove")
    assert response.status_code == 404
    assert detaches(fake_stripe) == []


def test_a_shopper_without_a_customer_cannot_remove_anything(
    client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    assert client.post("/account/cards/pm_visa/remove").status_code == 404
    assert len(fake_stripe.calls) == 0


def test_removing_needs_a_signed_in_shopper(
    client: FlaskClient, fake_stripe: responses.RequestsMock
) -> None:
    response = client.post("/account/cards/pm_visa/remove")
    assert response.status_code == 302
    assert "/login" in response.location
    assert len(fake_stripe.calls) == 0


def test_removing_needs_the_page_s_csrf_token(
    make_app: Any, fake_stripe: responses.RequestsMock
) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
    is_a_customer(app, helpers.add_user(app))
    client = app.test_client()
    token = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
    login_token = token.search(client.get("/login").text)
    assert login_token is not None
    signed_in = client.post(
        "/login",
        data={
            "email": "reader@example.com",
            "password": helpers.PASSWORD,
            "csrf_token": login_token[1],
        },
    )
    assert signed_in.status_code == 302
    stripe_lists_cards(fake_stripe, VISA)
    fake_stripe.add("POST", API + "/v1/payment_methods/pm_visa/detach", json=VISA)

    assert client.post("/account/cards/pm_visa/remove").status_code == 400
    assert detaches(fake_stripe) == []
    page_token = token.search(client.get("/account").text)
    assert page_token is not None
    removed = client.post("/account/cards/pm_visa/remove", data={"csrf_token": page_token[1]})
    assert removed.status_code == 303
    assert detaches(fake_stripe) == ["pm_visa"]
    with app.app_context():
        db.drop_all()


def test_stripe_failing_while_removing_says_so_and_changes_nothing(
    client: FlaskClient, customer: int, fake_stripe: responses.RequestsMock
) -> None:
    stripe_lists_cards(fake_stripe, VISA)
    fake_stripe.add(
        "POST",
        API + "/v1/payment_methods/pm_visa/detach",
        status=500,
        json={"error": {"type": "api_error", "message": "down"}},
    )
    response = client.post("/account/cards/pm_visa/remove")
    assert response.status_code == 303
    page = client.get(response.location)
    assert "couldn't remove the card" in html.unescape(page.text)
    assert "Visa ending 4242" in page.text


def test_quire_keeps_no_card_data(
    app: Flask, client: FlaskClient, customer: int, fake_stripe: responses.RequestsMock
) -> None:
    stripe_lists_cards(fake_stripe, VISA)
    fake_stripe.add("POST", API + "/v1/payment_methods/pm_visa/detach", json=VISA)
    client.get("/account")
    client.post("/account/cards/pm_visa/remove")
    with app.app_context():
        stored = [
            repr(tuple(row))
            for table in db.metadata.sorted_tables
            for row in db.session.execute(table.select())
        ]
        columns = [column.name for table in db.metadata.sorted_tables for column in table.columns]
    assert not any("4242" in row or "pm_visa" in row or "visa" in row.lower() for row in stored)
    assert not [name for name in columns if re.search("card|last4|exp_|brand", name)]
