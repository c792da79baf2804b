"""Lookup keys and product kinds: the names Quire gives Stripe Prices, made and read once."""

from __future__ import annotations

from pathlib import Path

import pytest

from shop.catalogue import LookupKey, ProductKind, parse_catalogue

CATALOGUE = """
books:
  - {key: dune, title: Dune, author: Frank Herbert, price: 999, currency: gbp, format: ebook,
     files: [{format: epub, path: dune.epub}]}
plans:
  - {key: club, name: Club, currency: usd, prices: {month: 500}}
"""


def test_a_lookup_key_is_the_text_stripe_stores_and_reads_back_its_parts() -> None:
    book = LookupKey.for_book("dune")
    plan = LookupKey.for_plan("club", "year")
    assert (book, plan) == ("book:dune", "plan:club:year")
    assert (book.kind, book.item_key, book.interval) == (ProductKind.BOOK, "dune", None)
    assert (plan.kind, plan.item_key, plan.interval) == (ProductKind.MEMBERSHIP, "club", "year")
    assert LookupKey.parse("plan:club:year") == plan


@pytest.mark.parametrize(
    "text",
    [None, "", "book:", "book:a:b", "plan:club", "plan:club:week", "plan::month", "dune", "cd:x"],
)
def test_text_that_is_not_a_quire_lookup_key_is_refused(text: str | None) -> None:
    assert LookupKey.parse(text) is None
    with pytest.raises(ValueError, match="not a Quire lookup key"):
        LookupKey(text or "")


def test_product_kinds_keep_the_strings_orders_already_store() -> None:
    assert [kind.value for kind in ProductKind] == ["book", "membership"]
    assert [kind.prefix for kind in ProductKind] == ["book", "plan"]


def test_the_catalogue_finds_what_a_lookup_key_sells() -> None:
    catalogue = parse_catalogue(CATALOGUE, Path("p.yaml"))
    assert catalogue.item_for_lookup_key("book:dune") == catalogue.books[0]
    assert catalogue.item_for_lookup_key("plan:club:month") == catalogue.plans[0]
    assert catalogue.item_for_lookup_key("plan:club:year") is None  # not sold by the year
    assert catalogue.item_for_lookup_key("book:gone") is None
    price = catalogue.selling_price("plan:club:month")
    assert price is not None and (price.amount, price.interval) == (500, "month")
