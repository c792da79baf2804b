"""Catalogue sync: Stripe ends up matching the catalogue, idempotently, never deleting."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import responses
from flask.testing import FlaskCliRunner
from stripe import StripeClient

from shop import sync
from shop.catalogue import load_catalogue, parse_catalogue
from shop.stripe_client import build_client
from tests.stripe_fakes import FakePortalConfigurations, FakeProductsAndPrices, example


@pytest.fixture
def portal(fake_stripe: responses.RequestsMock) -> FakePortalConfigurations:
    return FakePortalConfigurations(fake_stripe)


@pytest.fixture
def stripe_catalogue(
    fake_stripe: responses.RequestsMock, portal: FakePortalConfigurations
) -> FakeProductsAndPrices:
    return FakeProductsAndPrices(fake_stripe)


def unit_stripe_client():  # type: ignore[no-untyped-def]
    """The shop's Stripe client with the unit tests' key (its HTTP is faked)."""
    return build_client("sk_test_unit", max_network_retries=0)


def run_sync(text: str) -> tuple[sync.SyncPlan, int]:
    catalogue = parse_catalogue(text, Path("products.yaml"))
    stripe_client = unit_stripe_client()
    plan = sync.plan_sync(catalogue, sync.read_stripe(stripe_client, catalogue=catalogue))
    return plan, sync.apply_sync(stripe_client, plan)


def test_first_sync_creates_everything_and_second_changes_nothing(
    runner: FlaskCliRunner, stripe_catalogue: FakeProductsAndPrices
) -> None:
    first = runner.invoke(args=["catalog", "sync"])
    assert first.exit_code == 0, first.output
    assert "Applied 20 change(s)" in first.output
    assert len(stripe_catalogue.products) == 9
    assert len(stripe_catalogue.prices) == 11  # 7 books, 2 plans × 2 intervals
    lookup_keys = {p["lookup_key"] for p in stripe_catalogue.prices.values()}
    assert "book:the-salt-road" in lookup_keys
    assert {"plan:reader:month", "plan:reader:year", "plan:patron:year"} <= lookup_keys
    salt_road = next(
        p for p in stripe_catalogue.prices.values() if p["lookup_key"] == "book:the-salt-road"
    )
    assert (salt_road["unit_amount"], salt_road["currency"]) == (1299, "gbp")

    writes_before = len(stripe_catalogue.writes)
    second = runner.invoke(args=["catalog", "sync"])
    assert second.exit_code == 0
    assert "Stripe already matches the catalogue: no changes." in second.output
    assert "Billing portal configuration: no changes." in second.output
    assert len(stripe_catalogue.writes) == writes_before  # not a single write request


def test_dry_run_prints_the_plan_and_writes_nothing(
    runner: FlaskCliRunner,
    stripe_catalogue: FakeProductsAndPrices,
    portal: FakePortalConfigurations,
) -> None:
    result = runner.invoke(args=["catalog", "sync", "--dry-run"])
    assert result.exit_code == 0
    assert "create     product quire_book_the-salt-road" in result.output
    assert "create     price   plan:reader:year" in result.output
    assert "create   billing portal configuration" in result.output
    assert "Dry run: nothing was changed." in result.output
    assert stripe_catalogue.writes == []
    assert portal.configurations == {} and portal.writes == []


BOOK = "books:\n  - key: dune\n    title: Dune\n    author: F. Herbert\n    price: {price}\n    currency: gbp\n    format: ebook\n    files: [{{format: epub, path: x.epub}}]\n"
SECOND = "  - key: emma\n    title: Emma\n    author: J. Austen\n    price: 500\n    currency: gbp\n    format: ebook\n    files: [{format: epub, path: x.epub}]\n"


def test_a_new_amount_is_a_new_price_taking_the_lookup_key(
    stripe_catalogue: FakeProductsAndPrices,
) -> None:
    run_sync(BOOK.format(price=1000))
    (old,) = stripe_catalogue.prices.values()
    plan, _ = run_sync(BOOK.format(price=1200))
    assert [s.verb for s in plan.steps] == ["replace", "archive"]
    current = [p for p in stripe_catalogue.prices.values() if p["lookup_key"] == "book:dune"]
    assert [p["unit_amount"] for p in current] == [1200]
    assert old["active"] is False and old["unit_amount"] == 1000  # kept, archived
    assert run_sync(BOOK.format(price=1200))[0].steps == ()


def test_removed_item_is_archived_and_readded_item_reactivated(
    stripe_catalogue: FakeProductsAndPrices,
) -> None:
    run_sync(BOOK.format(price=1000) + SECOND)
    plan, _ = run_sync(BOOK.format(price=1000))
    assert {(s.verb, s.kind) for s in plan.steps} == {("archive", "price"), ("archive", "product")}
    assert stripe_catalogue.products["quire_book_emma"]["active"] is False
    assert "quire_book_emma" in stripe_catalogue.products  # never deleted

    plan, _ = run_sync(BOOK.format(price=1000) + SECOND)
    assert {(s.verb, s.kind) for s in plan.steps} == {
        ("reactivate", "price"),
        ("reactivate", "product"),
    }
    assert stripe_catalogue.products["quire_book_emma"]["active"] is True
    assert run_sync(BOOK.format(price=1000) + SECOND)[0].steps == ()


def test_changed_title_updates_the_product(stripe_catalogue: FakeProductsAndPrices) -> None:
    run_sync(BOOK.format(price=1000))
    plan, _ = run_sync(BOOK.format(price=1000).replace("title: Dune", "title: Dune Messiah"))
    assert [(s.verb, s.kind) for s in plan.steps] == [("update", "product")]
    assert stripe_catalogue.products["quire_book_dune"]["name"] == "Dune Messiah"


def books_yaml(count: int) -> str:
    """A catalogue of `count` ebooks."""
    return "books:\n" + "".join(
        f"  - key: book-{n}\n    title: Book {n}\n    author: A\n    price: {100 + n}\n"
        f"    currency: gbp\n    format: ebook\n    files: [{{format: epub, path: x.epub}}]\n"
        for n in range(count)
    )


@pytest.mark.parametrize("count", [250, 1050])
def test_an_unchanged_resync_is_a_list_call_per_100_items_and_no_write(
    stripe_catalogue: FakeProductsAndPrices, count: int
) -> None:
    """Prices (active and archived together, each with its product) are listed 100 a
    page, never one GET per item, and products need no list of their own; nothing is
    written. 1,050 items: 11 list calls (it was 24; the goal was at most 2 per 100)."""
    books = books_yaml(count)
    run_sync(books)
    assert len(stripe_catalogue.prices) == count
    stripe_catalogue.calls.clear()
    messages: list[str] = []
    catalogue = parse_catalogue(books, Path("p.yaml"))
    plan = sync.plan_sync(
        catalogue,
        sync.read_stripe(unit_stripe_client(), progress=messages.append, catalogue=catalogue),
    )
    assert plan.steps == ()
    assert stripe_catalogue.writes == []
    reads = [c for c in stripe_catalogue.calls if c[0] == "GET"]
    assert reads == [("GET", "/v1/prices")] * math.ceil(count / 100)
    assert len(reads) <= math.ceil(count / 100) * 2
    assert "read 200 prices…" in messages


def test_products_are_listed_when_the_prices_cannot_show_them_all(
    stripe_catalogue: FakeProductsAndPrices,
) -> None:
    """A first sync, a new item, or a product whose price was never made: the products
    list is read too, so no product is created twice."""
    run_sync(BOOK.format(price=1000))
    stripe_catalogue.calls.clear()
    plan, _ = run_sync(BOOK.format(price=1000) + SECOND)
    assert [c for c in stripe_catalogue.calls if c[0] == "GET"] == [
        ("GET", "/v1/prices"),
        ("GET", "/v1/products"),
    ]
    assert [(s.verb, s.kind) for s in plan.steps] == [("create", "product"), ("create", "price")]


def test_an_archived_price_is_read_with_the_active_ones(
    stripe_catalogue: FakeProductsAndPrices,
) -> None:
    """One list of prices finds archived ones too: a book removed and added back gets
    its old price reactivated, not a new one."""
    run_sync(BOOK.format(price=1000) + SECOND)
    run_sync(BOOK.format(price=1000))
    stripe_catalogue.calls.clear()
    plan, _ = run_sync(BOOK.format(price=1000) + SECOND)
    assert ("price", "reactivate") in {(s.kind, s.verb) for s in plan.steps}
    assert [c for c in stripe_catalogue.calls if c == ("GET", "/v1/prices")] == [
        ("GET", "/v1/prices")
    ]


def test_a_first_sync_plan_covers_every_price(catalogue_file: Path) -> None:
    catalogue = load_catalogue(catalogue_file)
    plan = sync.plan_sync(catalogue, sync.StripeCatalogue(products={}, prices=()))
    created_prices = [s.key for s in plan.steps if s.kind == "price"]
    assert len(created_prices) == len(catalogue.books) + sum(len(p.prices) for p in catalogue.plans)
    assert plan.steps[0].kind == "product"  # products exist before their prices


def _plan_prices(stripe_catalogue: FakeProductsAndPrices) -> dict[str, list[str]]:
    """{plan product: sorted price ids} as Stripe holds them after a sync."""
    found: dict[str, list[str]] = {}
    for price in stripe_catalogue.prices.values():
        if str(price["lookup_key"]).startswith("plan:"):
            found.setdefault(price["product"], []).append(price["id"])
    return {product: sorted(ids) for product, ids in found.items()}


def test_sync_creates_quires_billing_portal_configuration_once(
    runner: FlaskCliRunner,
    stripe_catalogue: FakeProductsAndPrices,
    portal: FakePortalConfigurations,
) -> None:
    """A fresh account gets the default portal configuration Quire wants; a second sync
    (and a third) writes nothing to it."""
    first = runner.invoke(args=["catalog", "sync"])
    assert first.exit_code == 0, first.output
    assert "create   billing portal configuration" in first.output
    (config,) = portal.configurations.values()
    features = config["features"]
    assert config["is_default"] is True
    assert features["invoice_history"]["enabled"] is True
    assert features["payment_method_update"]["enabled"] is True
    assert (
        features["subscription_cancel"]["enabled"],
        features["subscription_cancel"]["mode"],
    ) == (
        True,
        "at_period_end",
    )
    update = features["subscription_update"]
    assert (update["enabled"], update["default_allowed_updates"]) == (True, ["price"])
    assert {p["product"]: sorted(p["prices"]) for p in update["products"]} == _plan_prices(
        stripe_catalogue
    )
    assert set(_plan_prices(stripe_catalogue)) == {"quire_plan_reader", "quire_plan_patron"}
    for _ in range(2):
        again = runner.invoke(args=["catalog", "sync"])
        assert again.exit_code == 0, again.output
        assert "Billing portal configuration: no changes." in again.output
    assert len(portal.writes) == 1 and len(portal.configurations) == 1


def test_sync_updates_a_default_portal_configuration_that_differs(
    runner: FlaskCliRunner,
    stripe_catalogue: FakeProductsAndPrices,
    portal: FakePortalConfigurations,
) -> None:
    """A default configuration saved elsewhere (cancellation off, no plan switching) is
    brought to Quire's features in place, not duplicated; then it is left alone."""
    saved = example("billing_portal.configuration", id="bpc_dashboard", is_default=True)
    saved["features"]["subscription_update"]["products"] = []
    portal.configurations[saved["id"]] = saved
    first = runner.invoke(args=["catalog", "sync"])
    assert first.exit_code == 0, first.output
    assert "update   billing portal configuration bpc_dashboard" in first.output
    assert list(portal.configurations) == ["bpc_dashboard"]
    features = portal.configurations["bpc_dashboard"]["features"]
    assert features["subscription_cancel"]["enabled"] is True
    assert features["payment_method_update"]["enabled"] is True
    assert {p["product"] for p in features["subscription_update"]["products"]} == {
        "quire_plan_reader",
        "quire_plan_patron",
    }
    second = runner.invoke(args=["catalog", "sync"])
    assert "Billing portal configuration: no changes." in second.output
    assert len(portal.writes) == 1


def test_portal_configuration_without_plans_offers_no_plan_switch(
    stripe_catalogue: FakeProductsAndPrices, portal: FakePortalConfigurations
) -> None:
    """A catalogue of books only: the portal still shows invoices, card and cancellation,
    with subscription updates off (and idempotently so)."""
    catalogue = parse_catalogue(BOOK.format(price=1000), Path("products.yaml"))
    message = sync.ensure_portal_configuration(unit_stripe_client(), catalogue)
    assert message.startswith("create")
    (config,) = portal.configurations.values()
    update = config["features"]["subscription_update"]
    assert (update["enabled"], update["products"]) == (False, [])
    assert sync.ensure_portal_configuration(unit_stripe_client(), catalogue).endswith("no changes.")
    assert len(portal.writes) == 1


DESCRIBED = BOOK.format(price=1000).replace(
    "    price:", "    description: A desert planet.\n    price:"
)


def test_a_removed_description_is_cleared_at_stripe_and_the_next_sync_does_nothing(
    stripe_catalogue: FakeProductsAndPrices,
) -> None:
    """Once removed from products.yaml, a description was never cleared at Stripe, so
    every sync planned "update product" again."""
    run_sync(DESCRIBED)
    assert stripe_catalogue.products["quire_book_dune"]["description"] == "A desert planet."
    plan, _ = run_sync(BOOK.format(price=1000))
    assert [(s.verb, s.kind) for s in plan.steps] == [("update", "product")]
    assert stripe_catalogue.products["quire_book_dune"]["description"] is None
    writes = len(stripe_catalogue.writes)
    assert run_sync(BOOK.format(price=1000))[0].steps == ()
    assert len(stripe_catalogue.writes) == writes


def test_a_removed_description_is_cleared_in_the_sandbox_too(stripe_client: StripeClient) -> None:
    """The real SDK against a Stripe-compatible server: `description=""` clears it."""
    for text in (DESCRIBED, BOOK.format(price=1000)):
        catalogue = parse_catalogue(text, Path("products.yaml"))
        sync.apply_sync(stripe_client, sync.plan_sync(catalogue, sync.read_stripe(stripe_client)))
    assert stripe_client.v1.products.retrieve("quire_book_dune").description is None
    again = sync.plan_sync(catalogue, sync.read_stripe(stripe_client))
    assert again.steps == ()
