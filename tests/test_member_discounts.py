"""Member discounts: a coupon per plan discount synced to Stripe, applied to a live
member's Checkout Session for printed books (promotion codes otherwise)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
import yaml
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from shop import sync
from shop.catalogue import parse_catalogue
from shop.extensions import db
from shop.models import Order, Subscription, utcnow
from shop.stripe_client import build_client
from tests.helpers import catalogue_with_discounts
from tests.stripe_fakes import (
    API,
    FakeCoupons,
    FakePortalConfigurations,
    FakePrices,
    FakeProductsAndPrices,
    example,
)

PRINTED = sorted(
    f"quire_book_{key}"
    for key in ("the-salt-road", "quiet-machines", "winter-orchard", "letters-from-the-lighthouse")
)


@pytest.fixture
def app(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    """The shop selling the test catalogue with Reader 10% and Patron 20% off print."""
    path = tmp_path / "catalogue.yaml"
    path.write_text(catalogue_with_discounts())
    app = make_app(CATALOGUE_PATH=str(path))
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()


@pytest.fixture
def coupons(fake_stripe: responses.RequestsMock) -> FakeCoupons:
    return FakeCoupons(fake_stripe)


def coupon_id(percent: int, plan: str = "reader") -> str:
    text = catalogue_with_discounts()
    catalogue = parse_catalogue(text, Path("p.yaml"))
    found = catalogue.print_coupon(catalogue.plan(plan))  # type: ignore[arg-type]
    assert found is not None and found.percent_off == percent
    return found.id


# --- Coupon sync -------------------------------------------------------------------------


def test_sync_creates_one_coupon_per_plan_discount_then_writes_nothing(
    runner: FlaskCliRunner, fake_stripe: responses.RequestsMock, coupons: FakeCoupons
) -> None:
    FakeProductsAndPrices(fake_stripe)
    FakePortalConfigurations(fake_stripe)
    first = runner.invoke(args=["catalog", "sync"])
    assert first.exit_code == 0, first.output
    assert [c["id"] for c in coupons.created] == [coupon_id(10), coupon_id(20, "patron")]
    reader = coupons.created[0]
    assert re.fullmatch(r"quire_plan_reader_print_10_[0-9a-f]{8}", reader["id"])
    assert reader["percent_off"] == "10.0"
    assert reader["duration"] == "forever"
    assert reader["applies_to"] == {"products": PRINTED}
    assert reader["metadata"] == {"quire_key": "plan:reader"}
    assert f"create   coupon {reader['id']}" in first.output

    second = runner.invoke(args=["catalog", "sync"])
    assert second.exit_code == 0
    assert f"Coupon {reader['id']}: no changes." in second.output
    assert len(coupons.created) == 2
    assert [m for m, _ in coupons.calls].count("POST") == 2  # no write on the second run


def test_a_dry_run_says_which_coupons_it_would_create_and_creates_none(
    runner: FlaskCliRunner, fake_stripe: responses.RequestsMock, coupons: FakeCoupons
) -> None:
    FakeProductsAndPrices(fake_stripe)
    FakePortalConfigurations(fake_stripe)
    result = runner.invoke(args=["catalog", "sync", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"create   coupon {coupon_id(10)} (10% off 4 printed book(s) for Reader" in result.output
    assert coupons.created == []


def test_catalog_check_names_each_plan_s_coupon(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["catalog", "check"])
    assert result.exit_code == 0
    assert f"Reader: 10% off printed books (coupon {coupon_id(10)})" in result.output
    assert "Patron: includes salt-road-ebook, small-press-handbook" in result.output


def test_a_new_percentage_or_printed_book_makes_a_new_coupon_and_leaves_the_old(
    coupons: FakeCoupons,
) -> None:
    client = build_client("sk_test_unit", max_network_retries=0)
    before = parse_catalogue(catalogue_with_discounts(), Path("p.yaml"))
    sync.ensure_plan_coupons(client, before)
    cheaper = parse_catalogue(catalogue_with_discounts(reader=15), Path("p.yaml"))
    sync.ensure_plan_coupons(client, cheaper)
    raw = yaml.safe_load(catalogue_with_discounts())
    raw["books"].append({**raw["books"][0], "key": "new-print", "title": "New"})
    more = parse_catalogue(yaml.safe_dump(raw), Path("p.yaml"))
    sync.ensure_plan_coupons(client, more)
    ids = [c["id"] for c in coupons.created]
    assert len(ids) == len(set(ids)) == 5  # 2, then Reader at 15%, then both for the new book
    assert ids[2].startswith("quire_plan_reader_print_15_")
    assert coupons.created[-1]["applies_to"]["products"] == sorted(
        [*PRINTED, "quire_book_new-print"]
    )
    assert set(coupons.coupons) == set(ids)  # nothing was changed or deleted


# --- Checkout ----------------------------------------------------------------------------


@pytest.fixture
def stripe_ready(fake_stripe: responses.RequestsMock) -> responses.RequestsMock:
    """Stripe with the test catalogue's prices, a customer and new open sessions."""
    FakePrices(
        fake_stripe,
        {"book:the-salt-road": 1299, "book:salt-road-ebook": 699, "plan:reader:month": 900},
    )
    fake_stripe.add("POST", API + "/v1/customers", json=example("customer", id="cus_reader"))
    session = example(
        "checkout.session", id="cs_test_a1", url="https://stripe.test/cs", status="open"
    )
    fake_stripe.add("POST", API + "/v1/checkout/sessions", json=session)
    return fake_stripe


def session_params(mock: responses.RequestsMock) -> dict[str, list[str]]:
    (call,) = [c for c in mock.calls if c.request.url == API + "/v1/checkout/sessions"]
    return parse_qs(call.request.body)


def member(app: Flask, user_id: int, plan: str, status: str = "active", **fields: Any) -> None:
    with app.app_context():
        db.session.add(
            Subscription(
                stripe_subscription_id=f"sub_{plan}",
                user_id=user_id,
                stripe_customer_id="cus_reader",
                plan_key=plan,
                status=status,
                **fields,
            )
        )
        db.session.commit()


def the_order(app: Flask) -> tuple[int, int, str | None]:
    with app.app_context():
        order = db.session.execute(db.select(Order)).scalar_one()
        return order.amount_total, order.amount_discount, order.discount_coupon_id


def test_a_member_buying_printed_books_gets_their_coupon_instead_of_promotion_codes(
    app: Flask, client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    member(app, shopper, "reader")
    response = client.post("/checkout/books/the-salt-road", data={"quantity": "2", "ship_to": "GB"})
    assert response.status_code == 303
    params = session_params(stripe_ready)
    assert params["discounts[0][coupon]"] == [coupon_id(10)]
    assert "allow_promotion_codes" not in params
    assert params["line_items[0][price]"] == ["price_book_the-salt-road"]
    assert the_order(app) == (2598, 260, coupon_id(10))  # 10% of £25.98, from the catalogue
    with app.app_context():
        order_id = db.session.execute(db.select(Order.id)).scalar_one()
    page = client.get(f"/orders/{order_id}").text
    assert "Member discount on printed books" in page and "−£2.60" in page and "£23.38" in page


def test_the_best_live_plan_discount_wins(
    app: Flask, client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    member(app, shopper, "reader")
    member(app, shopper, "patron", status="trialing")
    client.post("/checkout/books/the-salt-road", data={"quantity": "1", "ship_to": "GB"})
    assert session_params(stripe_ready)["discounts[0][coupon]"] == [coupon_id(20, "patron")]
    assert the_order(app)[1] == 260  # 20% of £12.99 = 259.8


@pytest.mark.parametrize(
    ("status", "past_due_for"),
    [(None, None), ("canceled", None), ("past_due", timedelta(days=8))],
)
def test_no_live_membership_means_promotion_codes_and_no_discount(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    stripe_ready: responses.RequestsMock,
    status: str | None,
    past_due_for: timedelta | None,
) -> None:
    if status is not None:
        since = utcnow() - past_due_for if past_due_for else None
        member(app, shopper, "reader", status=status, past_due_since=since)
    client.post("/checkout/books/the-salt-road", data={"quantity": "1", "ship_to": "GB"})
    params = session_params(stripe_ready)
    assert params["allow_promotion_codes"] == ["true"]
    assert not any(key.startswith("discounts") for key in params)
    assert the_order(app) == (1299, 0, None)


def test_a_member_in_grace_still_gets_the_discount(
    app: Flask, client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    member(app, shopper, "reader", status="past_due", past_due_since=utcnow() - timedelta(days=2))
    client.post("/checkout/books/the-salt-road", data={"quantity": "1", "ship_to": "GB"})
    assert session_params(stripe_ready)["discounts[0][coupon]"] == [coupon_id(10)]


def test_a_member_buying_an_ebook_or_a_membership_gets_promotion_codes(
    app: Flask, client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    member(app, shopper, "patron")
    client.post("/checkout/books/salt-road-ebook", data={"quantity": "1"})
    params = session_params(stripe_ready)
    assert params["allow_promotion_codes"] == ["true"]
    assert not any(key.startswith("discounts") for key in params)
    assert the_order(app) == (699, 0, None)


def test_a_server_without_coupons_fails_the_sync_naming_it(
    runner: FlaskCliRunner, fake_stripe: responses.RequestsMock
) -> None:
    """Only Stripe's "no such coupon" means missing; an unknown URL is a refusal, not a
    reason to create."""
    FakeProductsAndPrices(fake_stripe)
    FakePortalConfigurations(fake_stripe)
    unknown = {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}
    fake_stripe.add("GET", re.compile(API + r"/v1/coupons/.*"), json=unknown, status=404)
    result = runner.invoke(args=["catalog", "sync"])
    assert result.exit_code == 2
    assert (
        "Stripe refused the sync" in result.output and "Unrecognized request URL" in result.output
    )
    assert not [
        c for c in fake_stripe.calls if c.request.method == "POST" and "coupons" in c.request.url
    ]


# --- member prices on a printed book's page ------------------------------------------------


def test_a_member_sees_their_own_price_on_a_printed_book_s_page(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    member(app, shopper, "reader")
    page = client.get("/books/the-salt-road").text
    assert "£12.99" in page
    assert "Reader members pay £11.69" in page  # 10% off £12.99, from the catalogue
    assert "Members pay less" not in page
    assert "members pay" not in client.get("/books/salt-road-ebook").text.lower()


def test_a_shopper_without_a_live_membership_is_told_members_pay_less(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    member(app, shopper, "reader", status="canceled")
    page = client.get("/books/the-salt-road").text
    found = re.search(r'Members pay less: <a href="([^"]+)">Patron members</a> pay £10\.39', page)
    assert found is not None and found[1] == "/memberships/patron"
    signed_out = app.test_client().get("/books/the-salt-road").text
    assert "Members pay less" in signed_out and "Patron members</a> pay £10.39" in signed_out
