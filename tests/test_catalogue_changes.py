"""Catalogue changes reach a running shop without a restart, in every worker, and a price
being updated never makes an order, holds a copy or charges the old amount.

Two apps built on one database play two workers of one deployment; `catalog sync` runs
through the CLI runner of one of them, as an admin's release step does.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from shop.extensions import db
from shop.models import Order, StripePrice
from tests import helpers
from tests.stripe_fakes import (
    API,
    FakeCheckoutSessions,
    FakePortalConfigurations,
    FakeProductsAndPrices,
    example,
)

EBOOK = "salt-road-ebook"  # 699 in the test catalogue
LIMITED = "letters-from-the-lighthouse"  # 2200, 5 copies
SYNC_FIX = "flask --app wsgi catalog sync"


@dataclass
class Stripe:
    catalogue: FakeProductsAndPrices
    sessions: FakeCheckoutSessions

    def price_lookups(self) -> int:
        """GETs of the prices list or of one price: what checkout must no longer make."""
        return sum(
            1
            for method, path in self.catalogue.calls
            if (method, path[:10]) == ("GET", "/v1/prices")
        )

    def active_price(self, lookup_key: str) -> dict[str, Any]:
        return next(
            p
            for p in self.catalogue.prices.values()
            if p["lookup_key"] == lookup_key and p["active"]
        )

    def sold_price(self, session: int = -1) -> str:
        """The Price id of the first line of a Checkout Session made (the last, by default)."""
        return str(self.sessions.created[session]["line_items"][0]["price"])


@pytest.fixture
def stripe(fake_stripe: responses.RequestsMock) -> Stripe:
    """Stripe's products and prices (as `catalog sync` writes them), one customer and
    Checkout Sessions, over HTTP."""
    FakePortalConfigurations(fake_stripe)
    fake_stripe.add("POST", API + "/v1/customers", json=example("customer", id="cus_reader"))
    return Stripe(FakeProductsAndPrices(fake_stripe), FakeCheckoutSessions(fake_stripe))


@pytest.fixture
def catalogue_copy(tmp_path: Path) -> Path:
    """A copy of the test catalogue the test edits, as an admin edits products.yaml."""
    path = tmp_path / "products.yaml"
    shutil.copy(helpers.TEST_CATALOGUE, path)
    return path


@pytest.fixture
def workers(make_app: Callable[..., Flask], catalogue_copy: Path) -> Iterator[tuple[Flask, Flask]]:
    """Two workers of one shop: two apps, one database, one catalogue file."""
    first, second = (
        make_app(CATALOGUE_PATH=str(catalogue_copy)),
        make_app(CATALOGUE_PATH=str(catalogue_copy)),
    )
    with first.app_context():
        db.drop_all()
        db.create_all()
    yield first, second
    with first.app_context():
        db.session.remove()
        db.drop_all()


def set_price(path: Path, book_key: str, amount: int) -> None:
    """Change one book's price in the catalogue file, as an admin would edit it."""
    text = path.read_text()
    block = re.search(rf"- key: {re.escape(book_key)}\n(?:    .*\n|\n)*?    price: (\d+)\n", text)
    assert block is not None, book_key
    start, end = block.span(1)
    path.write_text(text[:start] + str(amount) + text[end:])


def sync(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=["catalog", "sync"])
    assert result.exit_code == 0, result.output
    return result.output


def shopper_of(app: Flask, email: str = "reader@example.com") -> FlaskClient:
    helpers.add_user(app, email)
    client = app.test_client()
    helpers.sign_in(client, email)
    return client


def orders_in(app: Flask) -> list[Order]:
    with app.app_context():
        return list(db.session.execute(db.select(Order)).scalars())


def test_a_price_synced_by_one_worker_is_sold_by_the_other_without_a_lookup_or_a_restart(
    workers: tuple[Flask, Flask], stripe: Stripe, catalogue_copy: Path
) -> None:
    admin, shop = workers
    sync(admin)
    client = shopper_of(shop)
    lookups = stripe.price_lookups()
    assert client.post(f"/checkout/books/{EBOOK}", data={"quantity": "1"}).status_code == 303
    assert stripe.sold_price() == stripe.active_price(f"book:{EBOOK}")["id"]
    assert stripe.price_lookups() == lookups

    set_price(catalogue_copy, EBOOK, 799)
    sync(admin)  # a new Price takes the lookup key; the old one is archived
    new_price = stripe.active_price(f"book:{EBOOK}")
    assert new_price["unit_amount"] == 799

    assert "£7.99" in client.get(f"/books/{EBOOK}").text
    after_sync = stripe.price_lookups()
    assert client.post(f"/checkout/books/{EBOOK}", data={"quantity": "1"}).status_code == 303
    assert stripe.sold_price() == new_price["id"]
    assert [o.amount_total for o in orders_in(shop)] == [699, 799]
    assert stripe.price_lookups() == after_sync, "checkout asked Stripe for a price"


def stripe_calls_of(mock: responses.RequestsMock, since: int = 0) -> list[tuple[str, str]]:
    """The Stripe requests made (method, path), from the `since`-th on."""
    calls = []
    for call in list(mock.calls)[since:]:
        request = call.request
        calls.append((str(request.method), str(request.path_url).split("?")[0]))
    return calls


def test_a_returning_shoppers_checkout_in_another_worker_is_one_stripe_call(
    workers: tuple[Flask, Flask],
    stripe: Stripe,
    fake_stripe: responses.RequestsMock,
    catalogue_copy: Path,
) -> None:
    """A shopper Stripe already knows buys in a worker that has served nothing yet: the
    Checkout Session create is the only Stripe call. After a sync that changed the
    price, the next checkout is still one call, and sells the new Price."""
    admin, shop = workers
    sync(admin)
    shopper_of(admin).post(f"/checkout/books/{EBOOK}", data={"quantity": "1"})
    assert ("POST", "/v1/customers") in stripe_calls_of(fake_stripe)  # now a returning shopper

    client = shop.test_client()
    helpers.sign_in(client, "reader@example.com")
    before = len(fake_stripe.calls)
    assert client.post(f"/checkout/books/{EBOOK}", data={"quantity": "1"}).status_code == 303
    assert stripe_calls_of(fake_stripe, before) == [("POST", "/v1/checkout/sessions")]
    assert stripe.sold_price() == stripe.active_price(f"book:{EBOOK}")["id"]

    old_price = stripe.sold_price()
    set_price(catalogue_copy, EBOOK, 799)
    sync(admin)
    before = len(fake_stripe.calls)
    assert client.post(f"/checkout/books/{EBOOK}", data={"quantity": "1"}).status_code == 303
    assert stripe_calls_of(fake_stripe, before) == [("POST", "/v1/checkout/sessions")]
    assert stripe.sold_price() == stripe.active_price(f"book:{EBOOK}")["id"] != old_price
    assert [o.amount_total for o in orders_in(shop)] == [699, 699, 799]


def test_sync_records_every_lookup_key_from_its_list_calls_only(app: Flask, stripe: Stripe) -> None:
    sync(app)
    per_item_gets = [
        c for c in stripe.catalogue.calls if re.fullmatch(r"/v1/prices/.+", c[1]) and c[0] == "GET"
    ]
    assert per_item_gets == []
    with app.app_context():
        rows = {r.lookup_key: r for r in db.session.execute(db.select(StripePrice)).scalars()}
    assert len(rows) == 11  # 7 books, 2 plans × 2 intervals
    for key, row in rows.items():
        price = stripe.active_price(key)
        assert (row.stripe_price_id, row.amount, row.currency) == (
            price["id"],
            price["unit_amount"],
            price["currency"],
        )
    assert rows["plan:reader:month"].interval == "month"
    assert rows[f"book:{EBOOK}"].interval is None


@pytest.mark.parametrize("path", ["/checkout/books/{key}", "/cart/checkout"])
def test_before_the_sync_buying_says_the_price_is_being_updated_and_makes_no_order(
    workers: tuple[Flask, Flask],
    stripe: Stripe,
    catalogue_copy: Path,
    caplog: pytest.LogCaptureFixture,
    path: str,
) -> None:
    admin, shop = workers
    sync(admin)
    client = shopper_of(shop)
    if path == "/cart/checkout":
        client.post(f"/cart/books/{LIMITED}", data={"quantity": "2"})
    set_price(catalogue_copy, LIMITED, 2500)  # the file changed; Stripe still says 2200
    sessions_before = len(stripe.sessions.created)

    for _ in range(5):
        with caplog.at_level(logging.WARNING):
            caplog.clear()
            answer = client.post(path.format(key=LIMITED), data={"quantity": "2", "ship_to": "GB"})
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "60"
        assert "This item's price is being updated — please try again in a minute" in answer.text
        refusals = [r.getMessage() for r in caplog.records if "checkout refused" in r.getMessage()]
        assert len(refusals) == 1
        assert f"book:{LIMITED}" in refusals[0] and SYNC_FIX in refusals[0]

    assert orders_in(shop) == []
    assert helpers.level(shop, LIMITED) == (0, 0)  # no copy held
    assert len(stripe.sessions.created) == sessions_before

    sync(admin)
    answer = client.post(path.format(key=LIMITED), data={"quantity": "2", "ship_to": "GB"})
    assert answer.status_code == 303
    assert [o.amount_total for o in orders_in(shop)] == [5000]
    assert helpers.level(shop, LIMITED) == (2, 0)


def test_a_membership_whose_price_is_being_updated_makes_no_sign_up(
    workers: tuple[Flask, Flask], stripe: Stripe, catalogue_copy: Path
) -> None:
    admin, shop = workers
    sync(admin)
    text = catalogue_copy.read_text()
    catalogue_copy.write_text(text.replace("month: 900", "month: 950", 1))
    assert "month: 950" in catalogue_copy.read_text()
    client = shopper_of(shop)
    answer = client.post("/checkout/memberships/reader", data={"interval": "month"})
    assert answer.status_code == 503
    assert "price is being updated" in answer.text
    assert orders_in(shop) == []


def test_a_broken_file_after_a_good_one_keeps_the_shop_selling_the_good_catalogue(
    workers: tuple[Flask, Flask],
    stripe: Stripe,
    catalogue_copy: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin, shop = workers
    sync(admin)
    client = shopper_of(shop)
    assert "£6.99" in client.get(f"/books/{EBOOK}").text
    good = catalogue_copy.read_text()
    catalogue_copy.write_text(good.replace("    price: 699\n", "    price: 699\n    price: 1\n", 1))

    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            page = client.get(f"/books/{EBOOK}")
            assert page.status_code == 200 and "£6.99" in page.text
        assert client.post(f"/checkout/books/{EBOOK}", data={"quantity": "1"}).status_code == 303
    assert [o.amount_total for o in orders_in(shop)] == [699]
    logged = [r.getMessage() for r in caplog.records if "keeps selling" in r.getMessage()]
    assert len(logged) == 1 and "`price` is given twice" in logged[0]

    check = shop.test_cli_runner().invoke(args=["catalog", "check"])
    assert check.exit_code == 1
    assert "`price` is given twice" in check.output

    catalogue_copy.write_text(good.replace("    price: 699\n", "    price: 649\n", 1))
    assert "£6.49" in client.get(f"/books/{EBOOK}").text


def test_a_broken_file_from_the_start_still_closes_the_shop(
    make_app: Callable[..., Flask], catalogue_copy: Path
) -> None:
    catalogue_copy.write_text("books: [\n")
    app = make_app(CATALOGUE_PATH=str(catalogue_copy))
    with app.app_context():
        db.create_all()
    try:
        assert app.test_client().get(f"/books/{EBOOK}").status_code == 503
    finally:
        with app.app_context():
            db.drop_all()


def test_a_database_without_recorded_prices_looks_them_up_once_and_records_them(
    workers: tuple[Flask, Flask], stripe: Stripe
) -> None:
    admin, shop = workers
    sync(admin)
    with admin.app_context():  # a database from before prices were recorded
        db.session.execute(db.delete(StripePrice))
        db.session.commit()
    client = shopper_of(shop)
    lookups = stripe.price_lookups()
    assert client.post(f"/checkout/books/{EBOOK}", data={"quantity": "1"}).status_code == 303
    assert stripe.price_lookups() == lookups + 1
    with shop.app_context():
        row = db.session.get(StripePrice, f"book:{EBOOK}")
        assert row is not None and row.stripe_price_id == stripe.active_price(f"book:{EBOOK}")["id"]

    assert client.post(f"/checkout/books/{EBOOK}", data={"quantity": "1"}).status_code == 303
    assert stripe.price_lookups() == lookups + 1
    assert stripe.sold_price() == stripe.active_price(f"book:{EBOOK}")["id"]


def test_resuming_an_order_made_at_an_old_price_cancels_it_and_gives_its_copies_back(
    workers: tuple[Flask, Flask], stripe: Stripe, catalogue_copy: Path
) -> None:
    admin, shop = workers
    sync(admin)
    client = shopper_of(shop)
    ordered = client.post(f"/checkout/books/{LIMITED}", data={"quantity": "2", "ship_to": "GB"})
    assert ordered.status_code == 303
    [order] = orders_in(shop)
    assert order.amount_total == 4400 and helpers.level(shop, LIMITED) == (2, 0)

    set_price(catalogue_copy, LIMITED, 2500)
    sync(admin)  # Stripe now sells at 2500; the order's page lapses unpaid
    assert order.checkout_session_id is not None
    stripe.sessions.expire_now(order.checkout_session_id)
    sessions_before = len(stripe.sessions.created)

    resumed = client.post(f"/orders/{order.id}/resume")
    assert resumed.status_code == 303
    assert resumed.location.endswith(f"/books/{LIMITED}")
    page = client.get(resumed.location).text
    assert "The price changed since you placed order" in page
    assert "£25.00" in page
    assert "payment provider" not in page
    [after] = orders_in(shop)
    assert after.status == "cancelled"
    assert helpers.level(shop, LIMITED) == (0, 0)
    assert len(stripe.sessions.created) == sessions_before  # nothing sold at the old price

    again = client.post(f"/checkout/books/{LIMITED}", data={"quantity": "2", "ship_to": "GB"})
    assert again.status_code == 303
    assert [o.amount_total for o in orders_in(shop)] == [4400, 5000]
