"""Checkout pinned where a change would go unnoticed otherwise: its limits at their edges
(exactly the limit allowed, one over refused), the Checkout Session's parameters as Stripe
receives them, the orders, copies, prices, customers and baskets it writes, and what it
does when Stripe fails or another worker writes first."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import responses
import stripe
import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event as sa_event

from shop.catalogue import Catalogue, LookupKey, SellingPrice
from shop.catalogue_source import loaded_catalogue
from shop.checkout import cart, memberships, orders, prices, sessions, stock
from shop.checkout.customers import ensure_customer
from shop.checkout.discounts import apply_member_discount
from shop.checkout.memberships import PlanStanding
from shop.checkout.prices import CatalogueNotSynced, PriceDirectory
from shop.extensions import db
from shop.models import (
    CartLine,
    Customer,
    ObjectVersion,
    Order,
    OrderItem,
    OrderStatus,
    StockLevel,
    StripePrice,
    Subscription,
    User,
    utcnow,
)
from shop.stripe_api import StripeFailure, idempotency_key
from shop.stripe_client import stripe_client
from tests import builders
from tests.helpers import TEST_CATALOGUE, catalogue_with_discounts, level, only_order
from tests.stripe_fakes import API, FakePrices, FakeStripe, example

LETTERS = "letters-from-the-lighthouse"  # 5 copies allotted, 2200 each
SESSIONS = "/v1/checkout/sessions"


@pytest.fixture
def in_app(app: Flask) -> Iterator[Catalogue]:
    """An application context on `app`; its catalogue."""
    with app.app_context():
        yield loaded_catalogue(app)


def user_named(email: str = "reader@example.com") -> User:
    user: User = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
    return user


def add_subscription(user_id: int, status: str, sub_id: str = "sub_1", **fields: Any) -> None:
    db.session.add(
        Subscription(
            stripe_subscription_id=sub_id,
            user_id=user_id,
            stripe_customer_id="cus_reader",
            plan_key=fields.pop("plan_key", "reader"),
            interval=fields.pop("interval", "month"),
            status=status,
            **fields,
        )
    )
    db.session.commit()


def orders_made() -> int:
    return int(db.session.execute(db.select(db.func.count(Order.id))).scalar_one())


def left_of(catalogue: Catalogue, key: str) -> int | None:
    """Copies of `key` still for sale (None: not stock-limited)."""
    book = catalogue.book(key)
    assert book is not None
    return stock.available(book)


def taken(key: str, held: int = 0, sold: int = 0) -> None:
    """`held` and `sold` copies of `key` already gone from the shelf."""
    db.session.add(StockLevel(book_key=key, held=held, sold=sold))
    db.session.commit()


# --- one membership at a time -----------------------------------------------------------


@pytest.mark.parametrize("status", ["trialing", "active", "past_due"])
def test_a_member_is_refused_a_second_membership(
    in_app: Catalogue, add_user: Callable[..., int], status: str
) -> None:
    user_id = add_user()
    add_subscription(user_id, status)
    with pytest.raises(orders.CheckoutRefused, match="You are a member already"):
        orders.order_membership(in_app, user_named(), "patron", "year")
    assert orders_made() == 0


@pytest.mark.parametrize("status", ["canceled", "incomplete_expired", "unpaid"])
def test_a_former_member_or_another_shopper_s_membership_does_not_stop_a_sign_up(
    in_app: Catalogue, add_user: Callable[..., int], status: str
) -> None:
    user_id = add_user()
    other_id = add_user("other@example.com")
    add_subscription(user_id, status)
    add_subscription(other_id, "active", sub_id="sub_other")
    order = orders.order_membership(in_app, user_named(), "patron", "year")
    assert (order.status, order.amount_total, order.user_id) == ("pending", 25000, user_id)
    assert orders.current_membership(user_named()) is None


def test_the_newest_live_membership_is_the_current_one(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    user_id = add_user()
    add_subscription(user_id, "active", "sub_old", plan_key="reader")
    add_subscription(user_id, "trialing", "sub_new", plan_key="patron")
    add_subscription(user_id, "canceled", "sub_gone", plan_key="reader")
    current = orders.current_membership(user_named())
    assert current is not None and current.stripe_subscription_id == "sub_new"


def test_a_member_pressing_subscribe_opens_no_payment_a_non_member_does(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    with app.app_context():
        add_subscription(shopper, "active")
    member = client.post("/checkout/memberships/patron", data={"interval": "year"})
    assert member.status_code == 303 and "/switch" in member.location
    assert stripe_shop.sessions.created == []
    with app.app_context():
        db.session.execute(db.update(Subscription).values(status="canceled"))
        db.session.commit()
    again = client.post("/checkout/memberships/reader", data={"interval": "month"})
    assert again.location == "https://checkout.stripe.com/c/pay/cs_test_1"
    assert len(stripe_shop.sessions.created) == 1


# --- stock: the last copy can be bought, one more cannot --------------------------------


def test_the_last_copies_can_go_in_the_basket_one_more_cannot(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    add_user()
    taken(LETTERS, held=1, sold=1)  # 3 of 5 left
    basket = cart.UserBasket(user_named())
    with pytest.raises(orders.CheckoutRefused, match="Only 3 copies of Letters"):
        cart.add(in_app, basket, LETTERS, 4, set())
    assert basket.lines() == {}
    assert cart.add(in_app, basket, LETTERS, 3, set()) == (
        "Added Letters from the Lighthouse to your basket."
    )
    assert basket.lines() == {LETTERS: 3}
    with pytest.raises(orders.CheckoutRefused, match="Only 3 copies"):
        cart.add(in_app, basket, LETTERS, 1, set())  # 3 in the basket plus one
    assert basket.lines() == {LETTERS: 3}


def test_no_copy_left_says_sold_out(in_app: Catalogue, add_user: Callable[..., int]) -> None:
    add_user()
    taken(LETTERS, sold=5)
    with pytest.raises(orders.CheckoutRefused, match="Sorry, Letters from the Lighthouse is sold"):
        cart.add(in_app, cart.UserBasket(user_named()), LETTERS, 1, set())


def test_the_last_copy_is_held_for_one_shopper_and_refused_to_the_next(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    add_user()
    add_user("other@example.com")
    taken(LETTERS, sold=4)
    order = orders.order_book(in_app, user_named(), LETTERS, 1, ship_to="GB")
    assert order.stock_state == "held"
    assert left_of(in_app, LETTERS) == 0
    with pytest.raises(orders.CheckoutRefused, match="Sorry, Letters from the Lighthouse is sold"):
        orders.order_book(in_app, user_named("other@example.com"), LETTERS, 1, ship_to="GB")
    db.session.rollback()
    assert orders_made() == 1


def test_copies_fewer_than_wanted_are_named_when_an_order_is_refused(
    app: Flask, add_user: Callable[..., int]
) -> None:
    add_user()
    with app.app_context():
        catalogue = loaded_catalogue(app)
        taken(LETTERS, held=2)
        with pytest.raises(orders.CheckoutRefused, match="Only 3 copies of Letters"):
            orders.order_book(catalogue, user_named(), LETTERS, 4, ship_to="GB", max_held=10)
        orders.order_book(catalogue, user_named(), LETTERS, 3, ship_to="GB", max_held=10)
    assert level(app) == (5, 0)


# --- limits: MAX_QUANTITY, MAX_LINES, DEFAULT_MAX_HELD_COPIES ---------------------------


def test_ten_copies_of_a_book_are_allowed_eleven_refused(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    add_user()
    user = user_named()
    with pytest.raises(orders.CheckoutRefused, match="between 1 and 10"):
        orders.order_book(in_app, user, "the-salt-road", 11, ship_to="GB", max_held=20)
    with pytest.raises(orders.CheckoutRefused, match="between 1 and 10"):
        orders.order_book(in_app, user, "the-salt-road", 0, ship_to="GB", max_held=20)
    order = orders.order_book(in_app, user, "the-salt-road", 10, ship_to="GB", max_held=20)
    assert [(i.item_key, i.quantity) for i in order.items] == [("the-salt-road", 10)]
    assert order.amount_total == 12990

    basket = cart.UserBasket(user)
    cart.add(in_app, basket, "winter-orchard", 10, set())
    with pytest.raises(orders.CheckoutRefused, match="between 1 and 10"):
        cart.add(in_app, basket, "winter-orchard", 1, set())
    with pytest.raises(orders.CheckoutRefused, match="between 1 and 10"):
        cart.change(in_app, basket, "winter-orchard", 11, set())
    cart.change(in_app, basket, "winter-orchard", 1, set())
    assert basket.lines() == {"winter-orchard": 1}


def test_an_account_holds_five_copies_by_default_not_six(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    add_user()
    user = user_named()
    orders.order_book(in_app, user, "the-salt-road", 3, ship_to="GB")
    orders.order_book(in_app, user, "winter-orchard", 2, ship_to="GB")  # 5 held in all
    with pytest.raises(orders.CheckoutRefused, match=r"at most 5 copies .* \(you hold 5\)"):
        orders.order_book(in_app, user, "quiet-machines", 1, ship_to="GB")
    db.session.rollback()
    assert orders.order_book(in_app, user, "salt-road-ebook", 1).stock_state == "none"
    assert stock.DEFAULT_MAX_HELD_COPIES == 5  # the config's MAX_HELD_COPIES default too


def eleven_books_catalogue(tmp_path: Path) -> str:
    """The test catalogue with four more printed books: eleven in all."""
    raw = yaml.safe_load(TEST_CATALOGUE.read_text())
    for n in range(4):
        raw["books"].append(
            {
                "key": f"extra-{n}",
                "title": f"Extra {n}",
                "author": "A. N. Author",
                "description": "One more book.",
                "price": 500,
                "format": "print",
                "image": "covers/winter-orchard.svg",
            }
        )
    path = tmp_path / "eleven.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


@contextmanager
def shop_selling(
    make_app: Callable[..., Flask], catalogue: str
) -> Iterator[tuple[Catalogue, User]]:
    """A shop selling the catalogue file `catalogue`, in its application context: its
    catalogue and a shopper's account."""
    app = make_app(CATALOGUE_PATH=catalogue)
    with app.app_context():
        db.create_all()
        user = User(email="reader@example.com")
        user.set_password("correct horse battery")
        db.session.add(user)
        db.session.commit()
        yield loaded_catalogue(app), user


def test_a_basket_holds_ten_different_books_not_eleven(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    with shop_selling(make_app, eleven_books_catalogue(tmp_path)) as (catalogue, user):
        keys = [book.key for book in catalogue.books]
        assert len(keys) == 11
        store: dict[str, Any] = {}
        basket = cart.SessionBasket(store)
        for key in keys[:10]:
            cart.add(catalogue, basket, key, 1, set())
        with pytest.raises(orders.CheckoutRefused, match="at most 10 different books"):
            cart.add(catalogue, basket, keys[10], 1, set())
        assert set(basket.lines()) == set(keys[:10])
        cart.add(catalogue, basket, keys[0], 1, set())  # more of one already in: fine
        assert basket.lines()[keys[0]] == 2

        # Merging at sign-in keeps to ten too: the eleventh book stays out.
        cart.UserBasket(user).put(keys[0], 1)
        cart.merge(catalogue, user, {key: 1 for key in [*keys[1:], keys[0]]})
        assert cart.UserBasket(user).lines() == {keys[0]: 2, **{key: 1 for key in keys[1:10]}}


# --- the signed-out basket in the session cookie ----------------------------------------


def test_a_basket_kept_in_a_shopper_s_session_by_the_last_release_still_shows(
    client: FlaskClient,
) -> None:
    with client.session_transaction() as session:
        session["basket"] = {"winter-orchard": 2, "the-salt-road": 0}
    page = client.get("/cart").text
    assert "Winter Orchard" in page and "£20.00" in page
    assert "The Salt Road" not in page
    client.post("/cart/books/the-salt-road", data={"quantity": "1"})
    with client.session_transaction() as session:
        assert session["basket"] == {"winter-orchard": 2, "the-salt-road": 1}


def test_a_session_basket_puts_and_takes_out(app: Flask) -> None:
    store: dict[str, Any] = {"basket": "not a basket"}
    basket = cart.SessionBasket(store)
    assert basket.lines() == {}
    basket.put("the-salt-road", 2)
    basket.put("winter-orchard", 1)
    assert store == {"basket": {"the-salt-road": 2, "winter-orchard": 1}}
    basket.put("the-salt-road", 0)
    basket.put("not-there", 0)
    assert store == {"basket": {"winter-orchard": 1}}
    basket.clear()
    assert store == {}
    basket.clear()
    assert store == {}


# --- what Stripe receives ---------------------------------------------------------------


def every_session(order_id: int, metadata: dict[str, str]) -> dict[str, Any]:
    """What every Checkout Session for an order sends Stripe (a shopper with no member
    discount, their customer known), as Stripe reads it back."""
    return {
        "success_url": (
            f"http://shop.test/orders/{order_id}/confirmation?session_id={{CHECKOUT_SESSION_ID}}"
        ),
        "cancel_url": f"http://shop.test/orders/{order_id}/cancelled",
        "client_reference_id": f"order-{order_id}",
        "metadata": metadata,
        "allow_promotion_codes": "true",
        "saved_payment_method_options": {
            "payment_method_save": "enabled",
            "allow_redisplay_filters": ["always"],
        },
    }


def test_a_basket_s_session_is_sent_to_stripe_exactly(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    stripe_shop: FakeStripe,
    fake_stripe: responses.RequestsMock,
) -> None:
    client.post("/cart/books/the-salt-road", data={"quantity": "2"})
    client.post(f"/cart/books/{LETTERS}", data={"quantity": "1"})
    before = int(time.time())
    response = client.post("/cart/checkout", data={"ship_to": "gb"})
    after = int(time.time()) + 1
    assert response.location == "https://checkout.stripe.com/c/pay/cs_test_1"
    with app.app_context():
        order = db.session.execute(db.select(Order)).scalar_one()
        order_id, created_at, expires_at = order.id, order.created_at, order.expires_at
        assert (order.ship_to_country, order.amount_total) == ("GB", 4798)
        assert order.checkout_session_id == "cs_test_1"
    expiry = int(expires_at.timestamp())
    assert before + 31 * 60 <= expiry <= after + 31 * 60  # Stripe's 30 minutes, and one
    metadata = {"order_id": str(order_id), "user_id": str(shopper)}
    assert stripe_shop.sessions.created == [
        {
            "customer": "cus_reader",
            "line_items": [
                {"price": "price_book_the-salt-road", "quantity": "2"},
                {"price": f"price_book_{LETTERS}", "quantity": "1"},
            ],
            **every_session(order_id, metadata),
            "mode": "payment",
            "payment_intent_data": {"metadata": metadata},
            "shipping_address_collection": {"allowed_countries": ["GB"]},
            "shipping_options": [  # £47.98 of books to the UK: free from £30
                {
                    "shipping_rate_data": {
                        "type": "fixed_amount",
                        "display_name": "Free postage (Royal Mail 2nd class)",
                        "fixed_amount": {"amount": "0", "currency": "gbp"},
                        "metadata": {"quire_rate": "second-class"},
                        "delivery_estimate": {
                            "minimum": {"unit": "business_day", "value": "2"},
                            "maximum": {"unit": "business_day", "value": "3"},
                        },
                    }
                }
            ],
            "expires_at": str(expiry),
        }
    ]
    (create,) = [c.request for c in fake_stripe.calls if c.request.url == API + SESSIONS]
    assert create.headers["Idempotency-Key"] == idempotency_key(
        "checkout", order_id, created_at.isoformat(), 0
    )


@pytest.mark.parametrize(
    ("plan", "interval", "amount", "trial"),
    [("reader", "month", 900, {"trial_period_days": "14"}), ("patron", "year", 25000, {})],
)
def test_a_membership_s_session_is_sent_to_stripe_exactly(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    stripe_shop: FakeStripe,
    fake_stripe: responses.RequestsMock,
    plan: str,
    interval: str,
    amount: int,
    trial: dict[str, str],
) -> None:
    stripe_shop.prices.prices = {**stripe_shop.prices.prices, "plan:patron:year": 25000}
    response = client.post(f"/checkout/memberships/{plan}", data={"interval": interval})
    assert response.location == "https://checkout.stripe.com/c/pay/cs_test_1"
    with app.app_context():
        order = db.session.execute(db.select(Order)).scalar_one()
        order_id, created_at = order.id, order.created_at
        assert (order.amount_total, order.expires_at) == (amount, None)
    metadata = {"order_id": str(order_id), "user_id": str(shopper)}
    assert stripe_shop.sessions.created == [
        {
            "customer": "cus_reader",
            "line_items": [{"price": f"price_plan_{plan}_{interval}", "quantity": "1"}],
            **every_session(order_id, metadata),
            "mode": "subscription",
            "subscription_data": {"metadata": {**metadata, "plan": plan}, **trial},
        }
    ]
    (create,) = [c.request for c in fake_stripe.calls if c.request.url == API + SESSIONS]
    assert create.headers["Idempotency-Key"] == idempotency_key(
        "checkout", order_id, created_at.isoformat(), 0
    )


def urls_for(order: Order) -> sessions.ReturnUrls:
    return sessions.ReturnUrls(
        success=f"http://shop.test/orders/{order.id}?session_id={sessions.SESSION_ID_PLACEHOLDER}",
        cancel=f"http://shop.test/orders/{order.id}/cancelled",
    )


def test_a_paid_order_sends_the_shopper_to_its_confirmation_with_the_session_id(
    app: Flask, shopper: int, stripe_shop: FakeStripe
) -> None:
    with app.app_context():
        order = orders.order_book(loaded_catalogue(app), user_named(), "salt-road-ebook", 1)
        order.status = "paid"
        order.checkout_session_id = "cs_test_paid"
        db.session.commit()
        started = sessions.continue_checkout(
            stripe_client(), PriceDirectory.of(app), order, urls_for(order)
        )
        assert started.url == f"http://shop.test/orders/{order.id}?session_id=cs_test_paid"
    assert stripe_shop.sessions.created == []


# --- prices: what checkout sells at, checked against the catalogue ----------------------


def recorded_price(key: str, price_id: str, amount: int, interval: str | None = None) -> None:
    db.session.add(
        StripePrice(
            lookup_key=key,
            stripe_price_id=price_id,
            amount=amount,
            currency="gbp",
            interval=interval,
            synced_at=utcnow(),
        )
    )
    db.session.commit()


def test_a_price_stripe_sells_at_another_amount_or_interval_is_named_with_the_fix(
    app: Flask, stripe_shop: FakeStripe
) -> None:
    directory = PriceDirectory()
    with app.app_context():
        recorded_price("plan:patron:year", "price_old", 20000, "year")
        recorded_price("plan:patron:month", "price_monthly", 2500, "year")
        recorded_price("book:winter-orchard", "price_wo", 1000)
        wanted = SellingPrice(LookupKey("plan:patron:year"), 25000, "gbp", "year")
        with pytest.raises(CatalogueNotSynced) as refused:
            directory.resolve(stripe_client(), wanted)
        assert str(refused.value) == (
            "plan:patron:year: the catalogue says £250.00/year but Stripe's price price_old "
            "is £200.00/year; run `flask --app wsgi catalog sync`"
        )
        assert refused.value.lookup_key == "plan:patron:year"
        monthly = SellingPrice(LookupKey("plan:patron:month"), 2500, "gbp", "month")
        with pytest.raises(CatalogueNotSynced, match=r"says £25\.00/month but .* is £25\.00/year"):
            directory.resolve(stripe_client(), monthly)
        book = SellingPrice(LookupKey("book:winter-orchard"), 1000, "gbp")
        assert directory.resolve(stripe_client(), book) == "price_wo"
        in_euros = SellingPrice(LookupKey("book:winter-orchard"), 1000, "eur")
        with pytest.raises(CatalogueNotSynced, match=r"says €10\.00 but .* is £10\.00;"):
            directory.resolve(stripe_client(), in_euros)
    assert stripe_shop.price_lists == 0  # every key was recorded: Stripe is not asked


def test_a_key_never_recorded_is_asked_of_stripe_once_and_recorded(
    app: Flask, stripe_shop: FakeStripe
) -> None:
    directory = PriceDirectory()
    wanted = [
        SellingPrice(LookupKey("book:the-salt-road"), 1299, "gbp"),
        SellingPrice(LookupKey("plan:reader:month"), 900, "gbp", "month"),
    ]
    with app.app_context():
        recorded_price("book:the-salt-road", "price_recorded", 1299)
        assert directory.resolve_many(stripe_client(), wanted) == {
            "book:the-salt-road": "price_recorded",
            "plan:reader:month": "price_plan_reader_month",
        }
        row = db.session.get(StripePrice, "plan:reader:month")
        assert row is not None
        assert (row.amount, row.currency, row.interval) == (900, "gbp", "month")
        assert directory.resolve_many(stripe_client(), wanted)["plan:reader:month"] == (
            "price_plan_reader_month"
        )
        assert stripe_shop.price_lists == 1
        nowhere = SellingPrice(LookupKey("plan:patron:year"), 25000, "gbp", "year")
        with pytest.raises(CatalogueNotSynced, match="Stripe has no active price"):
            directory.resolve(stripe_client(), nowhere)
        directory.check(stripe_client(), wanted)  # all agree: nothing raised
        with pytest.raises(CatalogueNotSynced):
            directory.check(stripe_client(), [nowhere])
    assert stripe_shop.price_lists == 3


def test_recording_prices_replaces_each_key_s_row_and_forgets_keys_no_longer_sold(
    app: Flask,
) -> None:
    def stripe_price(
        key: str | None, price_id: str, amount: int | None, interval: str | None
    ) -> stripe.Price:
        return stripe.Price.construct_from(
            {
                "id": price_id,
                "object": "price",
                "lookup_key": key,
                "unit_amount": amount,
                "currency": "gbp",
                "recurring": {"interval": interval} if interval else None,
            },
            "sk_test_unit",
        )

    with app.app_context():
        recorded_price("book:gone", "price_gone", 100)
        recorded_price("book:the-salt-road", "price_old", 1000)
        found = [
            stripe_price("book:the-salt-road", "price_new", 1299, None),
            stripe_price("plan:reader:year", "price_year", 9000, "year"),
            stripe_price("book:free", "price_free", None, None),
            stripe_price(None, "price_no_key", 500, None),
        ]
        assert (
            prices.record(found, keep_only=["book:the-salt-road", "plan:reader:year", "book:free"])
            == 3
        )
        db.session.commit()
        rows = {
            row.lookup_key: (row.stripe_price_id, row.amount, row.interval)
            for row in db.session.execute(db.select(StripePrice)).scalars()
        }
        assert rows == {
            "book:the-salt-road": ("price_new", 1299, None),
            "plan:reader:year": ("price_year", 9000, "year"),
            "book:free": ("price_free", 0, None),
        }
        assert prices.record([stripe_price("book:gone", "price_back", 100, None)]) == 1
        db.session.commit()
        assert (
            db.session.execute(db.select(db.func.count(StripePrice.lookup_key))).scalar_one() == 4
        )


# --- switching a live membership ---------------------------------------------------------


def test_what_a_plan_is_to_a_shopper(in_app: Catalogue, add_user: Callable[..., int]) -> None:
    reader, patron = in_app.plan("reader"), in_app.plan("patron")
    assert reader is not None and patron is not None
    user_id = add_user()
    user = user_named()
    assert memberships.standing(None, reader, "month") is PlanStanding.SUBSCRIBE
    assert memberships.standing(user, reader, "month") is PlanStanding.SUBSCRIBE
    add_subscription(user_id, "active", plan_key="reader", interval="month")
    assert memberships.standing(user, reader, "month") is PlanStanding.YOURS
    assert memberships.standing(user, reader, "year") is PlanStanding.SWITCH
    assert memberships.standing(user, patron, "month") is PlanStanding.SWITCH
    db.session.execute(db.update(Subscription).values(cancel_at_period_end=True))
    db.session.commit()
    assert memberships.standing(user, reader, "month") is PlanStanding.SWITCH


def test_a_switch_is_refused_unless_it_changes_a_live_membership(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    user_id = add_user()
    user = user_named()
    for plan_key, interval in (("gold", "month"), ("reader", "week")):
        with pytest.raises(orders.CheckoutRefused, match="That membership is not offered"):
            memberships.plan_switch(in_app, user, plan_key, interval)
    with pytest.raises(orders.CheckoutRefused, match="You have no membership to switch"):
        memberships.plan_switch(in_app, user, "patron", "year")
    period_end = utcnow() + timedelta(days=20)
    add_subscription(
        user_id, "active", plan_key="reader", interval="month", current_period_end=period_end
    )
    with pytest.raises(orders.CheckoutRefused, match="Reader, billed every month, is your plan"):
        memberships.plan_switch(in_app, user, "reader", "month")
    switch = memberships.plan_switch(in_app, user, "patron", "year")
    assert (switch.from_plan, switch.to_plan) == (in_app.plan("reader"), in_app.plan("patron"))
    assert (switch.interval, switch.amount, switch.resumes) == ("year", 25000, False)
    assert switch.next_invoice_on == period_end


def test_switching_a_cancelling_or_trialing_membership(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    user_id = add_user()
    user = user_named()
    trial_end = utcnow() + timedelta(days=3)
    period_end = utcnow() + timedelta(days=30)
    add_subscription(
        user_id, "trialing", plan_key="reader", interval="month", cancel_at_period_end=True,
        trial_end=trial_end, current_period_end=period_end,
    )  # fmt: skip
    keep = memberships.plan_switch(in_app, user, "reader", "month")  # keeps it going
    assert (keep.resumes, keep.amount, keep.next_invoice_on) == (True, 900, trial_end)
    db.session.execute(db.update(Subscription).values(status="active"))
    db.session.commit()
    db.session.expire_all()
    assert memberships.plan_switch(in_app, user, "reader", "year").next_invoice_on == period_end
    db.session.execute(db.update(Subscription).values(status="trialing", trial_end=None))
    db.session.commit()
    db.session.expire_all()
    assert memberships.plan_switch(in_app, user, "patron", "month").next_invoice_on == period_end


# --- a book no longer sold --------------------------------------------------------------


def past_order_of(user: User, key: str, description: str) -> None:
    order = Order(user=user, kind="book", currency="gbp", amount_total=500, status="paid")
    order.items.append(
        OrderItem(
            item_key=key, lookup_key=f"book:{key}", description=description, unit_amount=500,
            quantity=1,
        )
    )  # fmt: skip
    db.session.add(order)
    db.session.commit()


def test_a_book_no_longer_sold_is_named_by_the_title_it_last_sold_under(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    add_user()
    user = user_named()
    past_order_of(user, "the-lost-atlas", "The Atlas — First Edition — Ana Lima")
    past_order_of(user, "the-lost-atlas", "The Lost Atlas — Ana Lima")
    past_order_of(user, "another-book", "Another Book — Someone")
    basket = cart.UserBasket(user)
    basket.put("the-lost-atlas", 1)
    basket.put("gone-for-good", 2)
    basket.put("winter-orchard", 1)
    assert cart.drop_unsold(in_app, basket) == [
        "The Lost Atlas is no longer sold and was taken out of your basket.",
        "Gone for good is no longer sold and was taken out of your basket.",
    ]
    assert basket.lines() == {"winter-orchard": 1}
    assert cart.drop_unsold(in_app, basket) == []


# --- a second Checkout click: when it waits for the first one's page ---------------------


class FakeClock:
    """`time` for `sessions`: sleeping moves the monotonic clock on, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now = round(self.now + seconds, 6)
        self.slept = round(self.slept + seconds, 6)


def second_click(app: Flask, monkeypatch: pytest.MonkeyPatch, **change: Any) -> float:
    """A basket's order made by a first click (changed by `change`), then a second click:
    the seconds it waited for the first click's page."""
    clock = FakeClock()
    monkeypatch.setattr(sessions, "time", clock)
    with app.app_context():
        catalogue = loaded_catalogue(app)
        user = user_named()
        cart.UserBasket(user).put("winter-orchard", 1)
        first, made = cart.checkout_order(
            catalogue, user, {"winter-orchard": 1}, max_held=5, ship_to="GB"
        )
        assert made
        db.session.execute(db.update(Order).filter_by(id=first.id).values(**change))
        db.session.commit()
        started = sessions.checkout_basket(
            stripe_client(),
            PriceDirectory.of(app),
            catalogue,
            user,
            urls_for,
            max_held=5,
            ship_to="gb",
        )
        assert started.order.id == first.id
    return clock.slept


def test_a_second_checkout_click_waits_ten_seconds_for_the_first_page_then_opens_one(
    app: Flask, shopper: int, stripe_shop: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert second_click(app, monkeypatch) == 10.0
    assert len(stripe_shop.sessions.created) == 1


def test_a_first_click_quiet_for_thirty_seconds_is_not_waited_for(
    app: Flask, shopper: int, stripe_shop: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet = utcnow() - timedelta(seconds=30, milliseconds=500)
    assert second_click(app, monkeypatch, updated_at=quiet) == 0
    assert len(stripe_shop.sessions.created) == 1


def test_a_first_click_busy_29_seconds_ago_is_waited_for(
    app: Flask, shopper: int, stripe_shop: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    busy = utcnow() - timedelta(seconds=29)
    assert second_click(app, monkeypatch, updated_at=busy) == 10.0


def test_a_first_click_that_failed_at_stripe_is_not_waited_for(
    app: Flask, shopper: int, stripe_shop: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert second_click(app, monkeypatch, last_error="Stripe is down") == 0
    assert len(stripe_shop.sessions.created) == 1


def test_a_first_click_that_opened_its_page_sends_the_second_there_at_once(
    app: Flask, shopper: int, stripe_shop: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        user = user_named()
        order, _ = cart.checkout_order(
            loaded_catalogue(app), user, {"winter-orchard": 1}, max_held=5, ship_to="GB"
        )
        first = sessions.continue_checkout(
            stripe_client(), PriceDirectory.of(app), order, urls_for(order)
        )
    clock = FakeClock()
    monkeypatch.setattr(sessions, "time", clock)
    with app.app_context():
        cart.UserBasket(user_named()).put("winter-orchard", 1)
        again = sessions.checkout_basket(
            stripe_client(),
            PriceDirectory.of(app),
            loaded_catalogue(app),
            user_named(),
            urls_for,
            max_held=5,
            ship_to="GB",
        )
    assert again.url == first.url == "https://checkout.stripe.com/c/pay/cs_test_1"
    assert clock.slept == 0
    assert len(stripe_shop.sessions.created) == 1


# --- copies paid for after the hold lapsed ----------------------------------------------


@pytest.mark.parametrize("sold_since", [3, 4, 6])  # 6: more than allotted (stock lowered)
def test_a_late_payment_is_short_only_of_copies_sold_since_and_a_refund_restocks_the_rest(
    app: Flask, add_user: Callable[..., int], sold_since: int
) -> None:
    add_user()
    with app.app_context():
        catalogue = loaded_catalogue(app)
        order = orders.book_order(
            catalogue, user_named(), {"winter-orchard": 2, LETTERS: 3}, max_held=10, ship_to="GB"
        )
        assert stock.release(order)  # its page lapsed: the copies went back
        db.session.get(StockLevel, LETTERS).sold = sold_since  # and others bought them
        db.session.commit()
        assert stock.consume(order, catalogue)  # then it was paid on its page still open
        db.session.commit()
        short = {item.item_key: item.copies_short for item in order.items}
        left = max(5 - sold_since, 0)
        assert short == {LETTERS: 3 - left, "winter-orchard": 0}
        assert not stock.consume(order, catalogue)  # a replayed payment
        db.session.commit()
    assert level(app) == (0, sold_since + left)
    assert level(app, "winter-orchard") == (0, 2)
    with app.app_context():
        order = db.session.get(Order, order.id)
        stock.restock(order)  # refunded: what it really took goes back on sale
        stock.restock(order)
        db.session.commit()
    assert level(app) == (0, sold_since)
    assert level(app, "winter-orchard") == (0, 0)


# --- cancelling when Stripe cannot be reached -------------------------------------------


def stripe_sessions_fail_after(
    mock: responses.RequestsMock,
    answers: list[dict[str, Any]],
    on_expire: Callable[[], None] = lambda: None,
) -> None:
    """Retrieving a session answers `answers` in turn, then fails as if Stripe were
    unreachable; expiring one always fails so (after `on_expire`, what happens meanwhile)."""

    def get(request: Any) -> tuple[int, dict[str, str], str]:
        if not answers:
            raise requests.ConnectionError("Stripe cannot be reached")
        return 200, {}, json.dumps(answers.pop(0))

    mock.add_callback("GET", re.compile(API + SESSIONS + r"/[^/?]+(\?.*)?$"), callback=get)

    def expire(request: Any) -> tuple[int, dict[str, str], str]:
        on_expire()
        raise requests.ConnectionError("Stripe cannot be reached")

    mock.add_callback("POST", re.compile(API + SESSIONS + r"/[^/?]+/expire$"), callback=expire)


def letters_on_a_page(app: Flask, copies: int, session_id: str) -> Order:
    """The shopper's pending order of `copies` of Letters from the Lighthouse, held, whose
    payment page at Stripe is `session_id`."""
    order = orders.order_book(loaded_catalogue(app), user_named(), LETTERS, copies, ship_to="GB")
    order.checkout_session_id = session_id
    db.session.commit()
    return order


def page_stripe_cannot_close(app: Flask, mock: responses.RequestsMock, status: str) -> Order:
    """Two copies of Letters from the Lighthouse on a payment page that is `status` at
    Stripe, which then can no longer be reached."""
    order = letters_on_a_page(app, 2, f"cs_{status}")
    page = example("checkout.session", id=f"cs_{status}", status=status, url=None)
    stripe_sessions_fail_after(mock, [page])
    return order


def test_an_order_at_an_old_price_whose_page_stripe_cannot_close_is_kept_with_the_failure(
    app: Flask, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    with app.app_context():
        order = page_stripe_cannot_close(app, fake_stripe, "expired")
        recorded_price(f"book:{LETTERS}", "price_new", 2500)  # the price changed since
        with pytest.raises(sessions.PaymentsUnavailable) as unavailable:
            sessions.continue_checkout(
                stripe_client(), PriceDirectory.of(app), order, urls_for(order)
            )
        assert unavailable.value.order.id == order.id
        assert "Stripe cannot be reached" in str(unavailable.value)
    kept = only_order(app)
    assert (kept.status, kept.checkout_attempts) == ("pending", 1)
    assert "Stripe cannot be reached" in (kept.last_error or "")
    assert level(app) == (2, 0)  # its page may still be paid: the copies stay held


def test_a_cart_order_whose_cancel_failed_is_pending_again_beside_the_basket_s_new_order(
    app: Flask, add_user: Callable[..., int], fake_stripe: responses.RequestsMock
) -> None:
    user_id = add_user()
    with app.app_context():
        catalogue = loaded_catalogue(app)
        user = user_named()
        old, _ = cart.checkout_order(catalogue, user, {LETTERS: 1}, max_held=5, ship_to="GB")
        old.checkout_session_id = "cs_old"
        db.session.commit()
        old_id = old.id

        def new_order_meanwhile() -> None:
            cart.checkout_order(catalogue, user, {"winter-orchard": 1}, max_held=5, ship_to="GB")

        stripe_sessions_fail_after(fake_stripe, [], on_expire=new_order_meanwhile)
        with pytest.raises(StripeFailure):
            sessions.cancel_order(stripe_client(), old)
    with app.app_context():
        rows = db.session.execute(
            db.select(Order.id, Order.status, Order.open_cart_user_id).order_by(Order.id)
        ).all()
    assert [tuple(row) for row in rows] == [
        (old_id, "pending", None),
        (old_id + 1, "pending", user_id),
    ]
    assert level(app) == (1, 0)  # the old page may still be paid: its copy stays held


# --- an unpaid sign-up giving way to another plan ----------------------------------------


def test_a_sign_up_that_never_opened_a_page_gives_way_without_asking_stripe(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    stripe_shop.prices.prices = {**stripe_shop.prices.prices, "plan:patron:year": 25000}
    with app.app_context():
        orders.order_membership(loaded_catalogue(app), user_named(), "reader", "month")
    response = client.post("/checkout/memberships/patron", data={"interval": "year"})
    assert response.location == "https://checkout.stripe.com/c/pay/cs_test_1"
    with app.app_context():
        rows = db.session.execute(db.select(Order.plan_key, Order.status).order_by(Order.id))
        assert [tuple(row) for row in rows] == [("reader", "expired"), ("patron", "pending")]
    assert stripe_shop.sessions.expire_calls == []
    assert len(stripe_shop.sessions.created) == 1


def test_a_sign_up_whose_page_stripe_will_not_close_stays_open_and_nothing_else_is_made(
    app: Flask, client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    FakePrices(fake_stripe, {"plan:reader:month": 900, "plan:patron:year": 25000})
    fake_stripe.add("POST", API + "/v1/customers", json=example("customer", id="cus_reader"))
    page = example(
        "checkout.session", id="cs_test_1", status="open", client_reference_id="order-1",
        url="https://checkout.stripe.com/c/pay/cs_test_1", mode="subscription",
    )  # fmt: skip
    fake_stripe.add("POST", API + SESSIONS, json=page)
    fake_stripe.add(
        "POST",
        API + SESSIONS + "/cs_test_1/expire",
        status=400,
        json={"error": {"type": "invalid_request_error", "message": "Try again later"}},
    )
    fake_stripe.add("GET", re.compile(API + SESSIONS + r"/cs_test_1(\?.*)?$"), json=page)
    assert (
        client.post("/checkout/memberships/reader", data={"interval": "month"}).status_code == 303
    )
    other = client.post("/checkout/memberships/patron", data={"interval": "year"})
    assert other.status_code == 503
    assert "Our payment provider didn't answer" in other.text
    with app.app_context():
        rows = db.session.execute(db.select(Order.plan_key, Order.status))
        assert [tuple(row) for row in rows] == [("reader", "pending")]
    assert "has just been paid" not in client.get("/account").text
    assert len([c for c in fake_stripe.calls if c.request.url == API + SESSIONS]) == 1


# --- "Try again": an order's books back in the basket -----------------------------------


def order_of(user: User, lines: dict[str, int], status: str = "payment_failed") -> Order:
    """A book order as it was made, with `lines` of `{key: quantity}`."""
    order = Order(user=user, kind="book", currency="gbp", amount_total=0, status=status)
    for key, quantity in lines.items():
        title = " ".join(word.capitalize() for word in key.split("-"))
        order.items.append(
            OrderItem(
                item_key=key, lookup_key=f"book:{key}", description=f"{title} — An Author",
                unit_amount=100, quantity=quantity,
            )
        )  # fmt: skip
    db.session.add(order)
    db.session.commit()
    return order


def test_trying_again_puts_back_what_the_rules_allow_and_names_the_rest(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    add_user()
    user = user_named()
    taken(LETTERS, sold=2)  # 3 left
    basket = cart.UserBasket(user)
    basket.put("the-salt-road", 5)
    order = order_of(
        user,
        {
            "the-lost-atlas": 1,  # no longer sold
            "the-salt-road": 3,  # 5 already in the basket: stays 5
            "salt-road-ebook": 2,  # an ebook: one copy goes back
            LETTERS: 4,
            "winter-orchard": 2,
        },
    )
    assert cart.refill(in_app, basket, order, set()) == [
        "The Lost Atlas is no longer sold.",
        "Only 3 copies of Letters from the Lighthouse are left.",
    ]
    assert basket.lines() == {"the-salt-road": 5, "salt-road-ebook": 1, "winter-orchard": 2}
    assert cart.refill(in_app, basket, order_of(user, {"the-salt-road": 7}), set()) == []
    assert basket.lines()["the-salt-road"] == 7


def test_trying_again_with_a_full_basket_adds_no_eleventh_book(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    with shop_selling(make_app, eleven_books_catalogue(tmp_path)) as (catalogue, user):
        keys = [book.key for book in catalogue.books if book.format == "print"]
        basket = cart.UserBasket(user)
        for key in [*keys[:7], "salt-road-ebook", "small-press-handbook", "cartographers-daughter"]:
            basket.put(key, 1)
        order = order_of(user, {keys[7]: 1, keys[0]: 2})
        assert cart.refill(catalogue, basket, order, set()) == [
            "A basket holds at most 10 different books."
        ]
        assert keys[7] not in basket.lines() and basket.lines()[keys[0]] == 2
        basket.put("cartographers-daughter", 0)  # nine: room for one more
        assert cart.refill(catalogue, basket, order, set()) == []
        assert basket.lines()[keys[7]] == 1


def test_cancelling_an_order_paid_a_moment_ago_elsewhere_records_it_paid(
    app: Flask, add_user: Callable[..., int], stripe_shop: FakeStripe
) -> None:
    add_user()
    with app.app_context():
        order = letters_on_a_page(app, 1, "cs_test_1")
        assert order.status == "pending"  # loaded in this request's transaction
        with db.engine.begin() as other:  # the payment's webhook, in another worker
            other.execute(db.update(Order).filter_by(id=order.id).values(status="paid"))
        assert sessions.cancel_order(stripe_client(), order) == "paid"
        assert db.session.get(Order, order.id).status == "paid"
    assert stripe_shop.sessions.expire_calls == []


def test_an_order_whose_open_page_stripe_would_not_expire_stays_pending_holding_its_copies(
    app: Flask, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    with app.app_context():
        order = page_stripe_cannot_close(app, fake_stripe, "open")
        with pytest.raises(StripeFailure):
            sessions.cancel_order(stripe_client(), order)
    assert only_order(app).status == "pending"
    assert level(app) == (2, 0)


# --- one Stripe customer per user -------------------------------------------------------


def stripe_makes_customers(
    mock: responses.RequestsMock, meanwhile: Callable[[], None] = lambda: None
) -> list[dict[str, Any]]:
    """Stripe's customer and test clock creates; what each was sent."""
    sent: list[dict[str, Any]] = []

    def create(request: Any) -> tuple[int, dict[str, str], str]:
        params = dict(parse_qsl(request.body))
        sent.append({"path": request.path_url, **params})
        if request.path_url.endswith("/test_clocks"):
            return 200, {}, json.dumps(example("test_helpers.test_clock", id="clock_1"))
        meanwhile()
        return 200, {}, json.dumps(example("customer", id="cus_new"))

    mock.add_callback("POST", API + "/v1/customers", callback=create)
    mock.add_callback("POST", API + "/v1/test_helpers/test_clocks", callback=create)
    return sent


@pytest.mark.parametrize("clocks", [True, False])
def test_a_first_purchase_makes_the_stripe_customer_on_a_test_clock_only_when_configured(
    app: Flask, add_user: Callable[..., int], fake_stripe: responses.RequestsMock, clocks: bool
) -> None:
    user_id = add_user()
    app.config["STRIPE_TEST_CLOCKS"] = clocks
    sent = stripe_makes_customers(fake_stripe)
    with app.app_context():
        assert ensure_customer(stripe_client(), user_named(), "cus_known") == "cus_known"
        assert sent == []
        assert ensure_customer(stripe_client(), user_named(), None) == "cus_new"
        recorded = db.session.execute(db.select(Customer.user_id, Customer.stripe_customer_id))
        assert [tuple(row) for row in recorded] == [(user_id, "cus_new")]
    assert [call["path"] for call in sent] == [
        *(["/v1/test_helpers/test_clocks"] if clocks else []),
        "/v1/customers",
    ]
    assert sent[-1].get("test_clock") == ("clock_1" if clocks else None)


def test_two_first_purchases_at_once_keep_the_customer_recorded_first(
    app: Flask, add_user: Callable[..., int], fake_stripe: responses.RequestsMock
) -> None:
    user_id = add_user()

    def the_other_purchase_records_it() -> None:
        with db.engine.begin() as other:
            other.execute(
                db.insert(Customer).values(user_id=user_id, stripe_customer_id="cus_first")
            )

    stripe_makes_customers(fake_stripe, the_other_purchase_records_it)
    with app.app_context():
        assert ensure_customer(stripe_client(), user_named(), None) == "cus_first"
        recorded = db.session.execute(db.select(Customer.stripe_customer_id)).scalars()
        assert list(recorded) == ["cus_first"]


def test_signing_in_merges_the_signed_out_basket_as_far_as_the_rules_allow(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    add_user()
    user = user_named()
    past_order_of(user, "salt-road-ebook", "The Salt Road (ebook) — Maren Holt")  # owned
    mine = cart.UserBasket(user)
    mine.put("small-press-handbook", 1)
    mine.put("the-salt-road", 8)
    cart.merge(
        in_app,
        user,
        {
            "the-lost-atlas": 1,  # no longer sold
            "salt-road-ebook": 1,  # owned already
            "small-press-handbook": 1,  # in the basket already: one copy
            "cartographers-daughter": 2,  # an ebook: one copy
            "the-salt-road": 4,  # 12 in all: capped at 10
            "winter-orchard": 2,
        },
    )
    assert mine.lines() == {
        "small-press-handbook": 1,
        "the-salt-road": 10,
        "cartographers-daughter": 1,
        "winter-orchard": 2,
    }


# --- Stripe asked once: what it answered is recorded, not fetched again ------------------


def stripe_calls(mock: responses.RequestsMock) -> list[tuple[str, str]]:
    return [(c.request.method, c.request.path_url.split("?")[0]) for c in mock.calls]


def reader_sign_up_open(client: FlaskClient, stripe_shop: FakeStripe) -> None:
    """Stripe sells Patron yearly too; the shopper's Reader sign-up has its page open."""
    stripe_shop.prices.prices = {**stripe_shop.prices.prices, "plan:patron:year": 25000}
    client.post("/checkout/memberships/reader", data={"interval": "month"})


def test_a_sign_up_giving_way_is_expired_and_recorded_from_stripe_s_one_answer(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    stripe_shop: FakeStripe,
    fake_stripe: responses.RequestsMock,
) -> None:
    reader_sign_up_open(client, stripe_shop)
    before = len(fake_stripe.calls)
    client.post("/checkout/memberships/patron", data={"interval": "year"})
    asked = stripe_calls(fake_stripe)[before:]
    assert asked.count(("POST", SESSIONS + "/cs_test_1/expire")) == 1
    assert ("GET", SESSIONS + "/cs_test_1") not in asked
    with app.app_context():
        rows = db.session.execute(db.select(Order.plan_key, Order.status).order_by(Order.id))
        assert [tuple(row) for row in rows] == [("reader", "expired"), ("patron", "pending")]


def test_a_switch_is_recorded_from_stripe_s_answer_to_the_update(
    app: Flask, client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    with app.app_context():
        add_subscription(shopper, "active", plan_key="reader", interval="month")
        recorded_price("plan:patron:year", "price_plan_patron_year", 25000, "year")
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    switched = builders.subscription(metadata={"plan": "patron", "user_id": str(shopper)})
    switched["items"]["data"][0]["price"] = example(
        "price", id="price_plan_patron_year", lookup_key="plan:patron:year", unit_amount=25000,
        currency="gbp", recurring={"interval": "year", "interval_count": 1},
    )  # fmt: skip
    fake_stripe.add("POST", API + "/v1/subscriptions/sub_1", json=switched)
    done = client.post("/memberships/patron/switch?interval=year")
    assert done.status_code == 303
    assert stripe_calls(fake_stripe).count(("GET", "/v1/subscriptions/sub_1")) == 1
    assert stripe_calls(fake_stripe).count(("POST", "/v1/subscriptions/sub_1")) == 1
    with app.app_context():
        row = db.session.execute(db.select(Subscription)).scalar_one()
        assert (row.plan_key, row.interval, row.status) == ("patron", "year", "active")


# --- the pending orders checkout makes ---------------------------------------------------


def lines_of(order: Order) -> list[tuple[str, str, str, int, int]]:
    return [
        (i.item_key, i.lookup_key, i.description, i.unit_amount, i.quantity) for i in order.items
    ]


def test_a_book_order_is_priced_and_described_by_the_catalogue(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    user_id = add_user()
    order = orders.book_order(
        in_app, user_named(), {"the-salt-road": 2, "salt-road-ebook": 1}, max_held=5, ship_to="fr"
    )
    assert (order.status, order.kind, order.currency, order.user_id) == (
        "pending", "book", "gbp", user_id,
    )  # fmt: skip
    assert (order.amount_total, order.ships, order.ship_to_country) == (2 * 1299 + 699, True, "FR")
    assert (order.holds_stock, order.stock_state) == (True, "held")
    assert (order.cart_state, order.open_cart_user_id) == (None, None)
    assert lines_of(order) == [
        ("the-salt-road", "book:the-salt-road", "The Salt Road — Maren Holt", 1299, 2),
        ("salt-road-ebook", "book:salt-road-ebook", "The Salt Road (ebook) — Maren Holt", 699, 1),
    ]
    ebook = orders.book_order(in_app, user_named(), {"small-press-handbook": 1}, max_held=5,
                              ship_to="gb")  # fmt: skip
    assert (ebook.ships, ebook.ship_to_country, ebook.holds_stock) == (False, None, False)
    assert ebook.stock_state == "none"
    from_cart, made = cart.checkout_order(
        in_app, user_named(), {"winter-orchard": 1}, max_held=5, ship_to="US"
    )
    assert made and (from_cart.cart_state, from_cart.open_cart_user_id) == ("open", user_id)


def test_a_book_order_is_refused_before_anything_is_made(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    add_user()
    user = user_named()
    refusals = [
        ({}, "GB", "Your basket is empty"),
        ({"no-such-book": 1}, "GB", "not in our catalogue"),
        ({"the-salt-road": 1}, "XX", "Choose a country we post to"),
        ({"the-salt-road": 1}, None, "Choose a country we post to"),
        ({"winter-orchard": 1, "the-salt-road": 0}, "GB", "between 1 and 10"),
    ]
    for lines, ship_to, message in refusals:
        with pytest.raises(orders.CheckoutRefused, match=message):
            orders.book_order(in_app, user, lines, max_held=5, ship_to=ship_to)
    checked: list[list[str]] = []

    def prices_checked(wanted: Any) -> None:
        checked.append([str(price.lookup_key) for price in wanted])
        raise CatalogueNotSynced(str(wanted[0].lookup_key), "being updated")

    with pytest.raises(CatalogueNotSynced):
        orders.book_order(
            in_app, user, {LETTERS: 2, "salt-road-ebook": 1}, max_held=5, ship_to="GB",
            prices=prices_checked,
        )  # fmt: skip
    assert checked == [[f"book:{LETTERS}", "book:salt-road-ebook"]]
    assert orders_made() == 0
    assert left_of(in_app, LETTERS) == 5


def test_a_membership_order_is_priced_by_the_plan_and_reused_until_another_is_chosen(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    user_id = add_user()
    user = user_named()
    with pytest.raises(orders.CheckoutRefused, match="not offered"):
        orders.order_membership(in_app, user, "gold", "month")
    with pytest.raises(orders.CheckoutRefused, match="Reader is not sold by the week"):
        orders.order_membership(in_app, user, "reader", "week")
    checked: list[tuple[str, int, str, str | None]] = []

    def prices_checked(wanted: Any) -> None:
        checked.extend((str(p.lookup_key), p.amount, p.currency, p.interval) for p in wanted)

    order = orders.order_membership(in_app, user, "reader", "year", prices_checked)
    assert checked == [("plan:reader:year", 9000, "gbp", "year")]
    assert (order.kind, order.plan_key, order.currency, order.amount_total) == (
        "membership", "reader", "gbp", 9000,
    )  # fmt: skip
    assert (order.trial_days, order.user_id, order.status) == (14, user_id, "pending")
    assert lines_of(order) == [
        ("reader", "plan:reader:year", "Reader membership, billed every year", 9000, 1)
    ]
    assert orders.order_membership(in_app, user, "reader", "year").id == order.id
    with pytest.raises(orders.SignupWaiting) as waiting:
        orders.order_membership(in_app, user, "reader", "month")
    assert waiting.value.order.id == order.id
    db.session.execute(db.update(OrderItem).values(unit_amount=8000))  # made at an old price
    db.session.commit()
    with pytest.raises(orders.SignupWaiting):
        orders.order_membership(in_app, user, "reader", "year")


# --- copies: held, lapsed, counted for the admin -----------------------------------------


def test_lapsed_checkouts_end_and_give_their_copies_back_others_keep_theirs(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    add_user()
    user = user_named()
    lapsed, kept, fresh, cancelled = (
        orders.order_book(in_app, user, LETTERS, 1, ship_to="GB", max_held=10) for _ in range(4)
    )
    now = utcnow()
    for order in (lapsed, kept, cancelled):
        order.expires_at = now - timedelta(seconds=1)
    fresh.expires_at = now + timedelta(minutes=5)
    cancelled.advance(OrderStatus.CANCELLED)  # its page was being expired when the shop stopped
    db.session.commit()
    assert stock.expire_lapsed(now, exclude=kept.id) == 1
    db.session.commit()
    statuses = [db.session.get(Order, o.id).status for o in (lapsed, kept, fresh, cancelled)]
    assert statuses == ["expired", "pending", "pending", "cancelled"]
    assert left_of(in_app, LETTERS) == 3
    assert stock.expire_lapsed(now) == 1  # now the one excluded before
    db.session.commit()
    assert stock.expire_lapsed(now) == 0
    assert left_of(in_app, LETTERS) == 4


def test_an_order_holds_its_copies_once(in_app: Catalogue, add_user: Callable[..., int]) -> None:
    add_user()
    order = orders.order_book(in_app, user_named(), LETTERS, 2, ship_to="GB")
    with pytest.raises(stock.SoldOut, match="already holds its copies"):
        stock.hold(in_app, db.session.get(Order, order.id), 10)
    assert left_of(in_app, LETTERS) == 3


def test_the_admin_s_stock_rows_count_only_stock_limited_books(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    taken(LETTERS, held=2, sold=4)  # oversold: more gone than the 5 allotted
    taken("winter-orchard", held=1, sold=3)
    taken("salt-road-ebook", sold=7)  # an ebook is never stock-limited
    rows = {
        row.book.key: (row.allotted, row.sold, row.held, row.available)
        for row in stock.stock_rows(in_app)
    }
    assert rows == {
        "the-salt-road": (40, 0, 0, 40),
        "quiet-machines": (12, 0, 0, 12),
        "winter-orchard": (25, 3, 1, 21),
        LETTERS: (5, 4, 2, 0),
    }
    assert left_of(in_app, LETTERS) == 0
    assert left_of(in_app, "salt-road-ebook") is None
    assert left_of(in_app, "quiet-machines") == 12


# --- a member's discount on printed books ------------------------------------------------


def test_a_member_s_coupon_counts_printed_lines_only_and_goes_when_the_membership_does(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(catalogue_with_discounts(reader=10))
    with shop_selling(make_app, str(path)) as (catalogue, user):
        add_subscription(user.id, "active", plan_key="reader")
        reader = catalogue.plan("reader")
        assert reader is not None
        coupon = catalogue.print_coupon(reader)
        assert coupon is not None
        order = orders.book_order(
            catalogue, user, {"the-salt-road": 2, "salt-road-ebook": 1}, max_held=5, ship_to="GB"
        )
        params: Any = {"allow_promotion_codes": True}
        apply_member_discount(params, order, catalogue)
        assert params == {"discounts": [{"coupon": coupon.id}]}
        assert (order.amount_discount, order.discount_coupon_id) == (
            260,
            coupon.id,
        )  # 10% of £25.98

        db.session.execute(db.update(Subscription).values(status="canceled"))
        db.session.commit()
        apply_member_discount(params, order, catalogue)  # its page opened again, later
        assert params == {"allow_promotion_codes": True}
        assert (order.amount_discount, order.discount_coupon_id) == (0, None)

        db.session.execute(db.update(Subscription).values(status="active"))
        db.session.commit()
        # A membership is never a printed book, whatever its line's key.
        signup = Order(user=user, kind="membership", currency="gbp", amount_total=900)
        signup.items.append(
            OrderItem(item_key="the-salt-road", lookup_key="plan:reader:month",
                      description="Reader", unit_amount=900, quantity=1)
        )  # fmt: skip
        membership_params: Any = {}
        apply_member_discount(membership_params, signup, catalogue)
        assert membership_params == {"allow_promotion_codes": True}


# --- opening and confirming a payment page -----------------------------------------------


def test_a_retry_after_an_outage_opens_the_page_with_a_key_of_its_own_and_clears_the_failure(
    app: Flask, add_user: Callable[..., int], stripe_shop: FakeStripe,
    fake_stripe: responses.RequestsMock,
) -> None:  # fmt: skip
    add_user()
    with app.app_context():
        order = orders.order_book(loaded_catalogue(app), user_named(), "salt-road-ebook", 1)
        key_of = [idempotency_key("checkout", order.id, order.created_at.isoformat(), n)
                  for n in (0, 1)]  # fmt: skip
        directory = PriceDirectory.of(app)
        fake_stripe.replace(
            "POST", API + "/v1/customers", body=requests.ConnectionError("Stripe is down")
        )
        with pytest.raises(sessions.PaymentsUnavailable):
            sessions.open_checkout(stripe_client(), directory, order, urls_for(order))
        failed = only_order(app)
        assert (failed.checkout_attempts, failed.checkout_session_id) == (1, None)
        assert "Stripe is down" in (failed.last_error or "")
        fake_stripe.replace("POST", API + "/v1/customers", json=example("customer", id="cus_9"))
        started = sessions.open_checkout(stripe_client(), directory, order, urls_for(order))
        assert started.url == "https://checkout.stripe.com/c/pay/cs_test_1"
    opened = only_order(app)
    assert (opened.checkout_attempts, opened.checkout_session_id) == (2, "cs_test_1")
    assert (opened.stripe_customer_id, opened.last_error) == ("cus_9", None)
    (create,) = [c.request for c in fake_stripe.calls if c.request.url == API + SESSIONS]
    assert create.headers["Idempotency-Key"] == key_of[1] != key_of[0]


def test_a_page_stripe_opened_without_an_address_is_an_outage(
    app: Flask, add_user: Callable[..., int], fake_stripe: responses.RequestsMock
) -> None:
    add_user()
    FakePrices(fake_stripe, {"book:salt-road-ebook": 699})
    fake_stripe.add("POST", API + "/v1/customers", json=example("customer", id="cus_reader"))
    fake_stripe.add("POST", API + SESSIONS, json=example("checkout.session", id="cs_1", url=None))
    with app.app_context():
        order = orders.order_book(loaded_catalogue(app), user_named(), "salt-road-ebook", 1)
        with pytest.raises(sessions.PaymentsUnavailable, match="session cs_1 has no url"):
            sessions.open_checkout(stripe_client(), PriceDirectory.of(app), order, urls_for(order))
    assert only_order(app).checkout_session_id == "cs_1"


def test_a_confirmation_records_only_the_order_s_own_session(
    app: Flask, add_user: Callable[..., int], fake_stripe: responses.RequestsMock
) -> None:
    add_user()
    order_id = builders.add_order(app, session_id="cs_mine")
    someone_elses = builders.session("cs_other", order_id=order_id + 1)
    builders.stripe_serves(fake_stripe, SESSIONS + "/cs_other", someone_elses)
    builders.stripe_serves(
        fake_stripe, SESSIONS + "/cs_mine", builders.session("cs_mine", order_id)
    )
    with app.app_context():
        order = db.session.get(Order, order_id)
        shown = sessions.confirm_checkout(stripe_client(), order, "cs_other")
        assert shown.id == "cs_other"
        assert db.session.get(Order, order_id).status == "pending"
        sessions.confirm_checkout(stripe_client(), order, "cs_mine")
        assert db.session.get(Order, order_id).status == "paid"
    # Recorded from the one retrieve, never fetched again.
    assert stripe_calls(fake_stripe).count(("GET", SESSIONS + "/cs_mine")) == 1


def test_a_sign_up_is_never_another_shopper_s_nor_a_book_order(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    add_user()
    add_user("other@example.com")
    theirs = orders.order_membership(in_app, user_named("other@example.com"), "reader", "year")
    books = orders.order_book(in_app, user_named(), "salt-road-ebook", 1)
    mine = orders.order_membership(in_app, user_named(), "reader", "year")
    assert mine.id not in (theirs.id, books.id)
    assert mine.user_id == user_named().id
    assert orders.open_signup(user_named()) is mine
    assert db.session.get(Order, books.id).status == "pending"


# --- checking out the basket again --------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "replaced"),
    [
        ({}, False),
        ({"ship_to": "fr"}, True),  # another destination: other postage
        ({"price": 1100}, True),  # the order was made at a price no longer the catalogue's
    ],
)
def test_the_basket_s_open_order_is_reused_unless_its_destination_or_prices_changed(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    stripe_shop: FakeStripe,
    change: dict[str, Any],
    replaced: bool,
) -> None:
    client.post("/cart/books/winter-orchard", data={"quantity": "2"})
    first = client.post("/cart/checkout", data={"ship_to": "gb"})
    if "price" in change:
        with app.app_context():
            db.session.execute(db.update(OrderItem).values(unit_amount=change["price"]))
            db.session.commit()
    again = client.post("/cart/checkout", data={"ship_to": change.get("ship_to", "GB")})
    assert (again.location != first.location) is replaced
    assert stripe_shop.sessions.expire_calls == (["cs_test_1"] if replaced else [])
    with app.app_context():
        rows = db.session.execute(db.select(Order.status, Order.ship_to_country).order_by(Order.id))
        expected = [("cancelled", "GB"), ("pending", change.get("ship_to", "gb").upper())]
        assert [tuple(row) for row in rows] == (expected if replaced else [("pending", "GB")])
    assert level(app, "winter-orchard") == (2, 0)


def test_a_basket_order_paid_while_the_basket_changed_goes_to_its_confirmation(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    client.post("/cart/books/winter-orchard", data={"quantity": "1"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    stripe_shop.sessions.complete("cs_test_1", 1000)  # paid in another tab, webhook late
    client.post("/cart/books/the-salt-road", data={"quantity": "1"})
    again = client.post("/cart/checkout", data={"ship_to": "GB"})
    assert again.location == "http://shop.test/orders/1/confirmation?session_id=cs_test_1"
    assert len(stripe_shop.sessions.created) == 1
    assert only_order(app).status == "paid"


def test_only_copies_of_stock_limited_books_still_held_count_against_the_limit(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    add_user()
    user = user_named()
    lapsed = orders.book_order(in_app, user, {LETTERS: 5}, max_held=5, ship_to="GB")
    stock.release(lapsed)  # its page lapsed: it holds nothing now
    db.session.commit()
    orders.book_order(
        in_app, user, {"the-salt-road": 3, "salt-road-ebook": 1}, max_held=5, ship_to="GB"
    )
    two_more = orders.book_order(in_app, user, {"winter-orchard": 2}, max_held=5, ship_to="GB")
    assert two_more.stock_state == "held"
    with pytest.raises(orders.CheckoutRefused, match=r"\(you hold 5\)"):
        orders.book_order(in_app, user, {"quiet-machines": 1}, max_held=5, ship_to="GB")


def test_a_sync_records_the_catalogue_s_prices_and_forgets_a_book_no_longer_sold(
    in_app: Catalogue,
) -> None:
    recorded_price("book:withdrawn", "price_withdrawn", 500)
    found = [
        stripe.Price.construct_from(
            {"id": "price_wo", "object": "price", "lookup_key": "book:winter-orchard",
             "unit_amount": 1000, "currency": "gbp", "recurring": None},
            "sk_test_unit",
        )
    ]  # fmt: skip
    assert prices.record_catalogue(in_app, found) == (1, 11)  # 7 books, 2 plans × 2
    kept = db.session.execute(db.select(StripePrice.lookup_key)).scalars()
    assert list(kept) == ["book:winter-orchard"]


def test_a_basket_order_whose_cancel_stripe_never_heard_is_the_basket_s_open_order_again(
    app: Flask, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    stripe_sessions_fail_after(fake_stripe, [])
    with app.app_context():
        order, _ = cart.checkout_order(
            loaded_catalogue(app), user_named(), {LETTERS: 1}, max_held=5, ship_to="GB"
        )
        order.checkout_session_id = "cs_open"
        db.session.commit()
        with pytest.raises(StripeFailure):
            sessions.cancel_order(stripe_client(), order)
        assert cart.open_cart_order(user_named()) is not None
    kept = only_order(app)
    assert (kept.status, kept.open_cart_user_id, kept.cart_state) == ("pending", shopper, "open")


def test_a_switch_overtaken_by_another_write_is_recorded_from_a_fresh_retrieve(
    app: Flask, client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    with app.app_context():
        add_subscription(shopper, "active", plan_key="reader", interval="month")
        recorded_price("plan:patron:year", "price_plan_patron_year", 25000, "year")
        engine = db.engine
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    switched = builders.subscription(metadata={"plan": "patron", "user_id": str(shopper)})
    switched["items"]["data"][0]["price"] = example(
        "price", id="price_plan_patron_year", lookup_key="plan:patron:year", unit_amount=25000,
        currency="gbp", recurring={"interval": "year", "interval_count": 1},
    )  # fmt: skip

    def update(request: Any) -> tuple[int, dict[str, str], str]:
        with engine.begin() as webhook:  # an event about sub_1 written meanwhile
            webhook.execute(db.insert(ObjectVersion).values(stripe_id="sub_1", version=1))
        builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", switched)
        return 200, {}, json.dumps(switched)

    fake_stripe.add_callback("POST", API + "/v1/subscriptions/sub_1", callback=update)
    assert client.post("/memberships/patron/switch?interval=year").status_code == 303
    assert stripe_calls(fake_stripe).count(("GET", "/v1/subscriptions/sub_1")) == 2
    with app.app_context():
        row = db.session.execute(db.select(Subscription)).scalar_one()
        assert (row.plan_key, row.interval) == ("patron", "year")


def test_a_sign_up_giving_way_while_its_order_is_written_elsewhere_is_retrieved_again(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    stripe_shop: FakeStripe,
    fake_stripe: responses.RequestsMock,
) -> None:
    reader_sign_up_open(client, stripe_shop)
    with app.app_context():
        engine = db.engine

    def webhook_meanwhile(expired: dict[str, Any]) -> None:
        with engine.begin() as webhook:  # the expiry's event, written by another worker
            webhook.execute(db.insert(ObjectVersion).values(stripe_id="order-1", version=1))

    stripe_shop.sessions.on_expire = webhook_meanwhile
    before = len(fake_stripe.calls)
    client.post("/checkout/memberships/patron", data={"interval": "year"})
    assert stripe_calls(fake_stripe)[before:].count(("GET", SESSIONS + "/cs_test_1")) == 1
    with app.app_context():
        rows = db.session.execute(db.select(Order.plan_key, Order.status).order_by(Order.id))
        assert [tuple(row) for row in rows] == [("reader", "expired"), ("patron", "pending")]


# --- the basket as the cart page shows it ----------------------------------------------


def test_the_basket_view_totals_its_books_and_says_whether_it_ships(in_app: Catalogue) -> None:
    taken(LETTERS, sold=3)
    store: dict[str, Any] = {
        "basket": {"salt-road-ebook": 1, "gone-book": 2, "bad": "2", "none": 0, LETTERS: 2}
    }
    basket = cart.SessionBasket(store)
    assert basket.lines() == {"salt-road-ebook": 1, "gone-book": 2, LETTERS: 2}
    shown = cart.view(in_app, basket)
    assert [(line.book.key, line.quantity, line.available) for line in shown.lines] == [
        ("salt-road-ebook", 1, None),
        (LETTERS, 2, 2),
    ]
    assert (shown.subtotal, shown.count, shown.currency, shown.ships) == (
        699 + 4400,
        3,
        "gbp",
        True,
    )
    ebooks_only = cart.view(in_app, cart.SessionBasket({"basket": {"salt-road-ebook": 1}}))
    assert ebooks_only.ships is False
    empty = cart.view(in_app, cart.SessionBasket({}))
    assert (empty.subtotal, empty.count, empty.currency, empty.ships) == (0, 0, None, False)


def test_checking_out_needs_a_basket_of_books_still_sold_and_no_owned_ebook(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    add_user()
    user = user_named()
    basket = cart.UserBasket(user)
    basket.put("gone-book", 1)
    with pytest.raises(orders.CheckoutRefused, match="Your basket is empty"):
        cart.checkout_lines(in_app, user)
    basket.put("winter-orchard", 2)
    basket.put("salt-road-ebook", 1)
    assert cart.checkout_lines(in_app, user) == {"winter-orchard": 2, "salt-road-ebook": 1}
    past_order_of(user, "salt-road-ebook", "The Salt Road (ebook) — Maren Holt")
    with pytest.raises(orders.CheckoutRefused, match="You already own The Salt Road \\(ebook\\)"):
        cart.checkout_lines(in_app, user)


def test_a_paid_basket_order_takes_out_only_what_it_ordered_once(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    add_user()
    user = user_named()
    basket = cart.UserBasket(user)
    ordered = {"winter-orchard": 2, "the-salt-road": 1, "quiet-machines": 1}
    for key, quantity in ordered.items():
        basket.put(key, quantity)
    order, _ = cart.checkout_order(in_app, user, ordered, max_held=5, ship_to="GB")
    assert cart.matches(order, ordered)
    assert not cart.matches(order, {**ordered, "winter-orchard": 3})
    assert not cart.matches(order, {"winter-orchard": 2, "the-salt-road": 1})
    basket.put("winter-orchard", 5)  # more added since
    basket.put(LETTERS, 1)
    basket.put("the-salt-road", 0)  # and one taken out
    assert cart.remove_ordered(order)
    db.session.commit()
    assert basket.lines() == {"winter-orchard": 3, LETTERS: 1}
    assert (order.cart_state, order.open_cart_user_id) == ("settled", None)
    assert not cart.remove_ordered(order)  # a replayed payment
    db.session.commit()
    assert basket.lines() == {"winter-orchard": 3, LETTERS: 1}


def test_resuming_while_stripe_cannot_be_asked_keeps_the_order_and_notes_why(
    app: Flask, shopper: int, stripe_shop: FakeStripe
) -> None:
    with app.app_context():
        order = letters_on_a_page(app, 1, "cs_test_9")
        stripe_shop.sessions.unreachable = True
        with pytest.raises(sessions.PaymentsUnavailable) as unavailable:
            sessions.continue_checkout(
                stripe_client(), PriceDirectory.of(app), order, urls_for(order)
            )
        assert unavailable.value.order.id == order.id
    kept = only_order(app)
    assert (kept.status, kept.checkout_session_id) == ("pending", "cs_test_9")
    assert "Stripe cannot be reached" in (kept.last_error or "")
    assert stripe_shop.sessions.created == []


def test_a_printed_book_without_a_stock_count_is_never_held_nor_counted(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    with shop_selling(make_app, eleven_books_catalogue(tmp_path)) as (catalogue, user):
        unlimited = catalogue.book("extra-0")
        assert unlimited is not None and unlimited.stock is None
        assert stock.available(unlimited) is None
        for _ in range(2):  # more than an account may hold of stock-limited books
            order = orders.book_order(catalogue, user, {"extra-0": 10}, max_held=5, ship_to="GB")
            assert (order.holds_stock, order.stock_state) == (False, "none")
        assert [row.book.key for row in stock.stock_rows(catalogue)] == [
            "the-salt-road", "quiet-machines", "winter-orchard", LETTERS,
        ]  # fmt: skip
        assert db.session.get(StockLevel, "extra-0") is None


def test_a_changed_basket_while_stripe_cannot_close_the_old_page_keeps_the_old_order(
    app: Flask, client: FlaskClient, shopper: int, stripe_shop: FakeStripe
) -> None:
    client.post("/cart/books/winter-orchard", data={"quantity": "1"})
    client.post("/cart/checkout", data={"ship_to": "GB"})
    client.post("/cart/books/the-salt-road", data={"quantity": "1"})
    stripe_shop.sessions.unreachable = True
    again = client.post("/cart/checkout", data={"ship_to": "GB"})
    assert again.status_code == 503
    kept = only_order(app)
    assert (kept.status, kept.checkout_session_id) == ("pending", "cs_test_1")
    assert "Stripe cannot be reached" in (kept.last_error or "")
    assert len(stripe_shop.sessions.created) == 1


def test_a_second_basket_order_racing_the_first_gets_the_first(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    add_user()
    first, made = cart.checkout_order(in_app, user_named(), {LETTERS: 2}, max_held=5, ship_to="GB")
    second, made_again = cart.checkout_order(
        in_app, user_named(), {LETTERS: 2}, max_held=5, ship_to="GB"
    )
    assert (made, made_again, second.id) == (True, False, first.id)
    assert orders_made() == 1
    assert left_of(in_app, LETTERS) == 3


def test_the_same_book_added_from_two_tabs_at_once_is_one_line_at_the_quantity_set(
    in_app: Catalogue, add_user: Callable[..., int]
) -> None:
    user_id = add_user()
    other_id = add_user("other@example.com")
    cart.UserBasket(user_named("other@example.com")).put("winter-orchard", 7)
    engine = db.engine

    def other_tab_first(session: Any, *_: Any) -> None:
        with engine.begin() as other_tab:
            other_tab.execute(
                db.insert(CartLine).values(user_id=user_id, book_key="winter-orchard", quantity=1)
            )

    sa_event.listen(db.session(), "before_flush", other_tab_first, once=True)
    cart.UserBasket(user_named()).put("winter-orchard", 3)
    rows = db.session.execute(
        db.select(CartLine.user_id, CartLine.book_key, CartLine.quantity).order_by(CartLine.id)
    )
    assert [tuple(row) for row in rows] == [
        (other_id, "winter-orchard", 7),
        (user_id, "winter-orchard", 3),
    ]
