"""Postage: zones and rates in the catalogue, the destination chosen before paying, the
shipping options sent to Checkout, and the address Stripe collected stored on the order.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from stripe.params.checkout import SessionCreateParamsShippingAddressCollection

from shop.catalogue import CatalogueError, load_catalogue, parse_catalogue
from shop.countries import COUNTRIES
from shop.extensions import db
from shop.models import Order, OrderItem
from shop.shipping import postage_options, shipping_params, zone_for
from tests import builders
from tests.stripe_fakes import API, FakePrices, event, example

BOOK = """books:
  - key: dune
    title: Dune
    author: Frank Herbert
    price: 1299
    format: print
"""
SHIPPING = """shipping:
  free_over: 6000
  zones:
    - key: uk
      name: United Kingdom
      countries: [GB]
      free_over: 3000
      rates:
        - {key: second, name: Royal Mail 2nd class, amount: 285, days: [2, 3]}
    - key: europe
      name: Europe
      countries: [FR, DE]
      rates:
        - {key: standard, name: International Standard, amount: 950, days: 4}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text, Path("products.yaml"))
    return [str(p) for p in caught.value.problems]


# --- postage in the catalogue --------------------------------------------------------


def test_zones_and_rates_are_read_from_the_catalogue() -> None:
    catalogue = parse_catalogue("currency: gbp\n" + BOOK + SHIPPING, Path("products.yaml"))
    shipping = catalogue.shipping
    assert shipping is not None
    assert (shipping.currency, shipping.free_over) == ("gbp", 6000)
    uk, europe = shipping.zones
    assert (uk.countries, uk.free_over) == (("GB",), 3000)
    assert (uk.rates[0].name, uk.rates[0].amount, uk.rates[0].days) == (
        "Royal Mail 2nd class",
        285,
        (2, 3),
    )
    assert europe.rates[0].days == (4, 4)
    assert shipping.countries == ("GB", "FR", "DE")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("[FR, DE]", "[FR, XY]"), "shipping.zones[europe]: countries: unknown country code 'XY'"),
        (("[FR, DE]", "[FR, GB]"), "shipping.zones[europe]: countries: GB is already in "),
        (("amount: 950", "amount: -50"), "shipping.zones[europe].rates[standard]: amount: must"),
        (("amount: 950", "amount: 9.5"), "shipping.zones[europe].rates[standard]: amount: must"),
        (("days: 4", "days: [5, 2]"), "shipping.zones[europe].rates[standard]: days: must"),
        (("free_over: 3000", "free_over: -1"), "shipping.zones[uk]: free_over: must be positive"),
        (("  free_over: 6000", "  free_over: lots"), "shipping: free_over: must be a whole"),
        (("name: Europe", "name: Europe\n      colour: blue"), "shipping.zones[europe]: colour:"),
        (("[FR, DE]", "[FR, NO]"), "shipping.zones[europe]: countries: unknown country code False"),
    ],
)
def test_a_bad_shipping_entry_is_named_by_entry_and_field(
    change: tuple[str, str], expected: str
) -> None:
    text = "currency: gbp\n" + BOOK + SHIPPING.replace(*change)
    found = problems_of(text)
    assert any(p.startswith(expected) for p in found), found


def test_a_zone_without_rates_and_a_printed_book_in_another_currency_are_refused() -> None:
    text = "currency: gbp\n" + BOOK.replace("format: print", "format: print\n    currency: usd")
    text += SHIPPING.replace(
        "      rates:\n        - {key: standard, name: International Standard, amount: 950, "
        "days: 4}\n",
        "",
    )
    found = problems_of(text)
    assert "shipping.zones[europe]: rates: is missing (at least one way to post)" in found
    assert "books[dune]: currency: printed books are sold in the postage currency, gbp" in found


def test_every_country_in_the_list_is_one_stripe_checkout_collects_addresses_in() -> None:
    stripe_accepts = set(
        typing.get_args(
            typing.get_args(
                typing.get_type_hints(SessionCreateParamsShippingAddressCollection)[
                    "allowed_countries"
                ]
            )[0]
        )[0].__args__
    )
    assert set(COUNTRIES) <= stripe_accepts
    assert {"GB", "FR", "US", "NO"} <= set(COUNTRIES)


def test_the_shipped_catalogue_posts_to_the_uk_europe_and_the_rest_of_the_world() -> None:
    shipping = load_catalogue(Path(__file__).parent.parent / "products.yaml").shipping
    assert shipping is not None and shipping.currency == "gbp"
    assert [zone.key for zone in shipping.zones] == ["uk", "europe", "world"]
    assert zone_for(shipping, "NO") is not None  # Norway, not YAML's false


# --- choosing postage ------------------------------------------------------------------


@pytest.fixture
def shipping(catalogue_file: Path) -> Any:
    return load_catalogue(catalogue_file).shipping


def test_each_country_belongs_to_its_zone(shipping: Any) -> None:
    assert zone_for(shipping, "GB").key == "uk"
    assert zone_for(shipping, "fr").key == "europe"
    assert zone_for(shipping, "US").key == "world"
    assert zone_for(shipping, "CU") is None
    assert zone_for(None, "GB") is None


def test_the_zone_rates_are_offered_cheapest_first_below_free_over(shipping: Any) -> None:
    options = postage_options(shipping, "US", 1299)
    assert [(o.name, o.amount, o.days) for o in options] == [
        ("Royal Mail International Standard", 1250, (5, 10)),
        ("Royal Mail International Tracked", 1850, (5, 7)),
    ]
    assert postage_options(shipping, "CU", 1299) == ()


@pytest.mark.parametrize(
    ("country", "subtotal", "amounts"),
    [
        ("GB", 2999, [285, 395]),  # one penny short of the UK's own 3000
        ("GB", 3000, [0]),  # at free_over exactly: free
        ("FR", 3000, [950]),  # the UK's limit is the UK's only
        ("FR", 5999, [950]),
        ("FR", 6000, [0]),  # the overall limit
        ("US", 6000, [0]),
    ],
)
def test_postage_is_free_at_or_above_free_over(
    shipping: Any, country: str, subtotal: int, amounts: list[int]
) -> None:
    options = postage_options(shipping, country, subtotal)
    assert [o.amount for o in options] == amounts
    if amounts == [0]:
        assert options[0].name.startswith("Free postage")


# --- the destination, chosen before paying, and the session's shipping options --------

PRICES = {"book:the-salt-road": 1299, "book:salt-road-ebook": 699, "book:winter-orchard": 1000}


@pytest.fixture
def stripe_ready(fake_stripe: responses.RequestsMock) -> responses.RequestsMock:
    """Stripe with the books' prices synced, a customer and new open sessions."""

    FakePrices(fake_stripe, PRICES)
    fake_stripe.add("POST", API + "/v1/customers", json=example("customer", id="cus_reader"))
    fake_stripe.add(
        "POST",
        API + "/v1/checkout/sessions",
        json=example("checkout.session", id="cs_test_a1", url="https://pay.test/a1", status="open"),
    )
    return fake_stripe


def sent(mock: responses.RequestsMock, path: str) -> list[Any]:
    return [c.request for c in mock.calls if c.request.url == API + path]


def form_of(request: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.body).items()}


def shipping_sent(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k.startswith("shipping")}


def test_a_printed_book_to_the_uk_offers_the_uk_rates_and_only_uk_addresses(
    app: Flask, client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    response = client.post("/checkout/books/the-salt-road", data={"quantity": "2", "ship_to": "GB"})
    assert response.status_code == 303
    params = form_of(sent(stripe_ready, "/v1/checkout/sessions")[0])
    option = "shipping_options[{}][shipping_rate_data]"
    assert shipping_sent(params) == {
        "shipping_address_collection[allowed_countries][0]": "GB",
        f"{option.format(0)}[type]": "fixed_amount",
        f"{option.format(0)}[display_name]": "Royal Mail 2nd class",
        f"{option.format(0)}[fixed_amount][amount]": "285",
        f"{option.format(0)}[fixed_amount][currency]": "gbp",
        f"{option.format(0)}[metadata][quire_rate]": "second-class",
        f"{option.format(0)}[delivery_estimate][minimum][unit]": "business_day",
        f"{option.format(0)}[delivery_estimate][minimum][value]": "2",
        f"{option.format(0)}[delivery_estimate][maximum][unit]": "business_day",
        f"{option.format(0)}[delivery_estimate][maximum][value]": "3",
        f"{option.format(1)}[type]": "fixed_amount",
        f"{option.format(1)}[display_name]": "Royal Mail 1st class",
        f"{option.format(1)}[fixed_amount][amount]": "395",
        f"{option.format(1)}[fixed_amount][currency]": "gbp",
        f"{option.format(1)}[metadata][quire_rate]": "first-class",
        f"{option.format(1)}[delivery_estimate][minimum][unit]": "business_day",
        f"{option.format(1)}[delivery_estimate][minimum][value]": "1",
        f"{option.format(1)}[delivery_estimate][maximum][unit]": "business_day",
        f"{option.format(1)}[delivery_estimate][maximum][value]": "2",
    }
    with app.app_context():
        order = db.session.execute(db.select(Order)).scalar_one()
        assert (order.ship_to_country, order.amount_total) == ("GB", 2598)


def test_printed_books_reaching_free_over_get_one_free_option(
    client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    """Winter Orchard at 1000: three copies are exactly the UK's 3000."""
    client.post("/checkout/books/winter-orchard", data={"quantity": "3", "ship_to": "GB"})
    params = form_of(sent(stripe_ready, "/v1/checkout/sessions")[0])
    option = "shipping_options[0][shipping_rate_data]"
    assert params[f"{option}[fixed_amount][amount]"] == "0"
    assert params[f"{option}[display_name]"] == "Free postage (Royal Mail 2nd class)"
    assert not any(key.startswith("shipping_options[1]") for key in params)


def test_a_printed_book_to_france_offers_the_europe_rate(
    client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    client.post("/checkout/books/the-salt-road", data={"quantity": "1", "ship_to": "fr"})
    params = form_of(sent(stripe_ready, "/v1/checkout/sessions")[0])
    assert params["shipping_address_collection[allowed_countries][0]"] == "FR"
    assert "shipping_address_collection[allowed_countries][1]" not in params
    assert params["shipping_options[0][shipping_rate_data][fixed_amount][amount]"] == "950"
    assert "shipping_options[1][shipping_rate_data][display_name]" not in params


def test_an_ebook_sends_no_address_collection_nor_postage(
    client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    client.post("/checkout/books/salt-road-ebook", data={"quantity": "1", "ship_to": "FR"})
    params = form_of(sent(stripe_ready, "/v1/checkout/sessions")[0])
    assert shipping_sent(params) == {}


@pytest.mark.parametrize("ship_to", [None, "", "CU", "XX", "Narnia"])
def test_a_printed_book_needs_a_country_we_post_to(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    fake_stripe: responses.RequestsMock,
    ship_to: str | None,
) -> None:
    data = {"quantity": "1"} if ship_to is None else {"quantity": "1", "ship_to": ship_to}
    response = client.post("/checkout/books/the-salt-road", data=data)
    assert response.status_code == 302
    assert "Choose a country we post to." in client.get(response.location).text
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Order.id))).scalar_one() == 0
    assert len(fake_stripe.calls) == 0


def test_the_basket_offers_destinations_and_the_book_page_shows_postage(
    client: FlaskClient,
) -> None:
    client.post("/cart/books/the-salt-road", data={"quantity": "1"})
    basket = client.get("/cart").text
    assert '<label for="ship_to">Deliver to</label>' in basket
    assert '<option selected value="GB">United Kingdom</option>' in basket
    assert '<option value="FR">France</option>' in basket
    assert '<option value="CU">' not in basket  # not a country we post to
    page = client.get("/books/the-salt-road").text
    assert "Postage from £2.85" in page
    assert "Royal Mail 1st class: £3.95 · 1–2 business days" in page
    assert "Free on printed books from £30.00" in page  # the UK's own limit
    assert "Free on printed books from £60.00" in page  # everywhere else
    ebook = client.get("/books/salt-road-ebook").text
    assert "Deliver to" not in ebook and "Postage" not in ebook


# --- what Stripe collected, stored when the order is paid ------------------------------


def shipped_session(order_id: int, **fields: Any) -> dict[str, Any]:
    """A paid session at the pinned API version, with the address and chosen rate."""
    shape: dict[str, Any] = dict(
        amount_total=1584,
        collected_information={
            "business_name": None,
            "individual_name": None,
            "shipping_details": {
                "name": "Ada Reader",
                "address": {
                    "line1": "1 Quay Street",
                    "line2": None,
                    "city": "Bristol",
                    "state": "",
                    "postal_code": "BS1 4DJ",
                    "country": "GB",
                },
            },
        },
        shipping_cost={
            "amount_subtotal": 285,
            "amount_tax": 0,
            "amount_total": 285,
            "shipping_rate": example(
                "shipping_rate",
                id="shr_1",
                display_name="Royal Mail 2nd class",
                fixed_amount={"amount": 285, "currency": "gbp"},
            ),
        },
        total_details={"amount_discount": 0, "amount_shipping": 285, "amount_tax": 0},
    )
    return builders.session(order_id=order_id, **{**shape, **fields})


def printed_order(app: Flask) -> int:
    order_id = builders.add_order(app)
    with app.app_context():
        order = db.session.get(Order, order_id)
        order.ships, order.ship_to_country = True, "GB"
        db.session.commit()
    return order_id


def test_a_paid_session_stores_the_address_and_postage_on_the_order(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    order_id = printed_order(app)
    body = shipped_session(order_id)
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", body)
    assert post_event(event("checkout.session.completed", body)).status_code == 200

    (retrieve,) = [c.request for c in fake_stripe.calls]
    query = parse_qs(urlsplit(retrieve.url).query)
    expand = [v for k, vs in query.items() if k.startswith("expand") for v in vs]
    assert "shipping_cost.shipping_rate" in expand  # for the chosen rate's name
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.status == "paid"
        assert order.shipping_name == "Ada Reader"
        assert order.shipping_lines == ["1 Quay Street", "Bristol", "BS1 4DJ", "United Kingdom"]
        assert (order.shipping_amount, order.shipping_method) == (285, "Royal Mail 2nd class")
        assert order.shipped_at is None


def test_a_replayed_session_without_the_address_keeps_the_one_stored(
    app: Flask, fake_stripe: responses.RequestsMock, post_event: Callable[..., Any]
) -> None:
    order_id = printed_order(app)
    body = shipped_session(order_id)
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", body)
    post_event(event("checkout.session.completed", body))
    bare = shipped_session(order_id, collected_information=None)
    bare["shipping_cost"]["shipping_rate"] = "shr_1"  # not expanded this time
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", bare)
    post_event(event("checkout.session.completed", bare))
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.shipping_name == "Ada Reader"
        assert order.shipping_method == "Royal Mail 2nd class"


def test_an_ebook_order_stores_no_address(
    app: Flask, fake_stripe: responses.RequestsMock, post_event: Callable[..., Any]
) -> None:
    order_id = builders.add_order(app)  # ships is false: an ebook
    body = shipped_session(order_id)
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", body)
    post_event(event("checkout.session.completed", body))
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.status == "paid"
        assert (order.shipping_name, order.shipping_address, order.shipping_amount) == (
            None,
            None,
            None,
        )


def test_an_order_made_before_destinations_were_chosen_accepts_any_country_we_post_to(
    catalogue_file: Path,
) -> None:
    """A printed-book order still pending from before Deliver to existed can be resumed."""
    catalogue = load_catalogue(catalogue_file)
    order = Order(ships=True, ship_to_country=None)
    order.items.append(
        OrderItem(
            item_key="the-salt-road",
            lookup_key="book:the-salt-road",
            description="The Salt Road",
            unit_amount=1299,
            quantity=1,
        )
    )
    everywhere = "GB IE FR DE NL BE ES IT SE DK US CA AU NZ".split()
    assert shipping_params(order, catalogue) == {
        "shipping_address_collection": {"allowed_countries": everywhere}
    }
