"""The catalogue's rules at their edges: what an admin's products.yaml may say, what it
may not (each refusal naming the entry and the field), and what reaches the pages and
Stripe from what it says."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import responses
from flask import Flask

from shop.catalogue import (
    Catalogue,
    CatalogueError,
    PrintCoupon,
    load_catalogue,
    parse_catalogue,
)
from shop.extensions import db
from tests.stripe_fakes import FakeProductsAndPrices
from tests.test_catalogue import problems_of
from tests.test_sync import run_sync

#: A printed book with every field a book may have but `files` (only ebooks have files).
PRINT_BOOK = """  - key: dune
    title: Dune
    author: Frank Herbert
    description: A desert planet.
    price: 1299
    currency: gbp
    format: print
    image: covers/dune.svg
    stock: 3
"""
#: A plan with every field a plan may have.
PLAN = """  - key: club
    name: Club
    description: Books by post.
    features:
      - A new book each month
      - Members' newsletter
    currency: gbp
    prices: {month: 500, year: 5000}
    trial_days: 7
    benefits: {print_discount: 10, ebooks: [emma]}
"""
EBOOK = """  - key: emma
    title: Emma
    author: Jane Austen
    price: 500
    currency: gbp
    format: ebook
    files: [{format: epub, path: salt-road-ebook.epub}]
"""
#: Postage with every field shipping, a zone and a rate may have.
SHIPPING = """shipping:
  currency: gbp
  free_over: 6000
  zones:
    - key: uk
      name: United Kingdom
      countries: [GB]
      free_over: 3000
      rates:
        - {key: second, name: Royal Mail 2nd class, amount: 285, days: [2, 3]}
"""


def catalogue_text(book: str = PRINT_BOOK, plan: str = PLAN) -> str:
    return "books:\n" + book + EBOOK + "plans:\n" + plan + SHIPPING


def only_plan(plan: str) -> str:
    return "plans:\n" + plan


def shop_selling(make_app: Callable[..., Flask], tmp_path: Path, text: str) -> Flask:
    """An app selling the catalogue `text` (its cover image left out), on a fresh database."""
    path = tmp_path / "products.yaml"
    path.write_text(text.replace("    image: covers/dune.svg\n", ""), encoding="utf-8")
    app = make_app(CATALOGUE_PATH=str(path))
    with app.app_context():
        db.create_all()
    return app


# --- the fields each entry may have ----------------------------------------------------


def test_an_entry_may_use_every_field_its_kind_knows() -> None:
    catalogue = parse_catalogue(catalogue_text(), Path("products.yaml"))
    (dune, emma) = catalogue.books
    assert (dune.description, dune.image, dune.stock) == ("A desert planet.", "covers/dune.svg", 3)
    assert [(f.format, f.path) for f in emma.files] == [("epub", "salt-road-ebook.epub")]
    (club,) = catalogue.plans
    assert (club.description, club.trial_days, club.benefits.print_discount) == (
        "Books by post.",
        7,
        10,
    )
    assert club.benefits.ebooks == ("emma",)
    assert catalogue.shipping is not None
    assert (catalogue.shipping.currency, catalogue.shipping.free_over) == ("gbp", 6000)
    (uk,) = catalogue.shipping.zones
    assert (uk.key, uk.name, uk.free_over) == ("uk", "United Kingdom", 3000)
    assert [(r.key, r.name, r.amount, r.days) for r in uk.rates] == [
        ("second", "Royal Mail 2nd class", 285, (2, 3))
    ]


@pytest.mark.parametrize(
    ("after", "entry"),
    [
        ("    stock: 3\n", "books[dune]"),
        ("    trial_days: 7\n", "plans[club]"),
        ("  free_over: 6000\n", "shipping"),
        ("      free_over: 3000\n", "shipping.zones[uk]"),
    ],
)
def test_an_unknown_field_is_refused_naming_entry_and_field(after: str, entry: str) -> None:
    indent = after[: len(after) - len(after.lstrip())]
    text = catalogue_text().replace(after, after + f"{indent}colour: blue\n", 1)
    assert problems_of(text) == [f"{entry}: colour: is not a known field"]


def test_an_unknown_field_of_a_rate_is_refused_naming_it() -> None:
    text = catalogue_text().replace("days: [2, 3]}", "days: [2, 3], colour: blue}")
    assert problems_of(text) == ["shipping.zones[uk].rates[second]: colour: is not a known field"]


def test_an_unknown_top_level_section_is_refused_naming_it() -> None:
    assert problems_of("magazines: []\n" + catalogue_text()) == [
        "products.yaml: magazines: is not a known field"
    ]


# --- books -------------------------------------------------------------------------------


def test_a_sold_out_printed_book_has_stock_0_and_shows_sold_out(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    text = catalogue_text(PRINT_BOOK.replace("stock: 3", "stock: 0"))
    (dune, _) = parse_catalogue(text, Path("products.yaml")).books
    assert dune.stock == 0
    app = shop_selling(make_app, tmp_path, text)
    page = app.test_client().get("/books/dune")
    assert page.status_code == 200
    assert "Sold out" in page.text


@pytest.mark.parametrize("stock", ["0", "3"])
def test_an_ebook_has_no_stock(stock: str) -> None:
    text = catalogue_text(EBOOK.replace("format: ebook", f"format: ebook\n    stock: {stock}"))
    assert "books[emma]: stock: only printed books have stock" in problems_of(text)


@pytest.mark.parametrize("fmt", ["ebook", "print"])
def test_a_book_is_sold_in_either_format(fmt: str) -> None:
    files = "    files: [{format: epub, path: dune.epub}]\n" if fmt == "ebook" else ""
    book = PRINT_BOOK.replace("format: print", f"format: {fmt}\n{files}").replace(
        "    stock: 3\n", ""
    )
    (dune, _) = parse_catalogue(catalogue_text(book), Path("products.yaml")).books
    assert dune.format == fmt


# --- plans ---------------------------------------------------------------------------


def test_a_plan_s_features_are_shown_on_its_page_as_given(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    (club,) = parse_catalogue(catalogue_text(), Path("products.yaml")).plans
    assert club.features == ("A new book each month", "Members' newsletter")
    app = shop_selling(make_app, tmp_path, catalogue_text())
    page = app.test_client().get("/memberships/club").text
    assert (
        '<ul class="features"><li>A new book each month</li><li>Members&#39; newsletter</li>'
        in page
    )


def test_a_plan_without_features_has_none() -> None:
    (club,) = parse_catalogue(
        only_plan(
            PLAN.replace(
                "    features:\n      - A new book each month\n      - Members' newsletter\n", ""
            ).replace(", ebooks: [emma]", "")
        ),
        Path("products.yaml"),
    ).plans
    assert club.features == ()


@pytest.mark.parametrize("features", ["A new book each month", "[1, 2]", "{a: b}"])
def test_features_that_are_not_lines_of_text_are_refused(features: str) -> None:
    plan = PLAN.replace(
        "    features:\n      - A new book each month\n      - Members' newsletter\n",
        f"    features: {features}\n",
    )
    assert problems_of(catalogue_text(plan=plan)) == [
        "plans[club]: features: must be a list of text lines"
    ]


@pytest.mark.parametrize("days", [1, 730])
def test_a_trial_may_last_from_1_to_730_days(days: int) -> None:
    plan = PLAN.replace("trial_days: 7", f"trial_days: {days}")
    (club,) = parse_catalogue(catalogue_text(plan=plan), Path("products.yaml")).plans
    assert club.trial_days == days


@pytest.mark.parametrize(
    ("days", "shown"),
    [("0", "0"), ("731", "731"), ("-1", "-1"), ("true", "True"), ("'7'", "'7'"), ("7.5", "7.5")],
)
def test_a_trial_outside_1_to_730_days_is_refused_naming_plan_and_field(
    days: str, shown: str
) -> None:
    plan = PLAN.replace("trial_days: 7", f"trial_days: {days}")
    assert problems_of(catalogue_text(plan=plan)) == [
        f"plans[club]: trial_days: must be a whole number of days, 1 to 730 (got {shown})"
    ]


def test_a_plan_without_a_trial_has_none() -> None:
    plan = PLAN.replace("    trial_days: 7\n", "")
    (club,) = parse_catalogue(catalogue_text(plan=plan), Path("products.yaml")).plans
    assert club.trial_days is None


# --- keys, amounts and limits ---------------------------------------------------------


@pytest.mark.parametrize("key", ["a" * 63, "9-lives", "x", "a-b-c"])
def test_a_key_of_up_to_63_lower_case_letters_digits_and_dashes_is_accepted(key: str) -> None:
    text = catalogue_text(PRINT_BOOK.replace("key: dune", f"key: {key}"))
    assert parse_catalogue(text, Path("products.yaml")).books[0].key == key


@pytest.mark.parametrize("key", ["a" * 64, "-dune", "Dune", "du_ne", "dune!", "dune\n"])
def test_any_other_key_is_refused_naming_the_entry(key: str) -> None:
    text = catalogue_text(PRINT_BOOK.replace("key: dune", f"key: {json.dumps(key)}"))
    assert problems_of(text) == [
        f"books[{key}]: key: must be lower-case letters, digits and dashes"
    ]


@pytest.mark.parametrize("amount", [1, 99_999_999])
def test_a_price_from_1_to_99_999_999_minor_units_is_sold_at_that_amount(amount: int) -> None:
    text = catalogue_text(PRINT_BOOK.replace("price: 1299", f"price: {amount}"))
    (dune, _) = parse_catalogue(text, Path("products.yaml")).books
    assert [(p.lookup_key, p.amount, p.currency) for p in dune.selling_prices] == [
        ("book:dune", amount, "gbp")
    ]


def test_a_plan_is_sold_by_the_month_and_by_the_year_at_its_own_amounts() -> None:
    (club,) = parse_catalogue(catalogue_text(), Path("products.yaml")).plans
    assert [(p.lookup_key, p.amount, p.currency, p.interval) for p in club.selling_prices] == [
        ("plan:club:month", 500, "gbp", "month"),
        ("plan:club:year", 5000, "gbp", "year"),
    ]
    assert (club.price_for("month"), club.price_for("year"), club.price_for("week")) == (
        500,
        5000,
        None,
    )


@pytest.mark.parametrize(
    ("prices", "expected"),
    [
        ("{month: 0}", ["plans[club]: prices.month: must be positive (got 0)"]),
        (
            "{year: 100000000}",
            ["plans[club]: prices.year: must be at most 99999999 (got 100000000)"],
        ),
        ("{}", ["plans[club]: prices: must map an interval (month, year) to an amount"]),
        ("[500]", ["plans[club]: prices: must map an interval (month, year) to an amount"]),
        (
            "{day: 10, month: 0}",
            [
                "plans[club]: prices.day: bad interval: use 'month' or 'year'",
                "plans[club]: prices.month: must be positive (got 0)",
            ],
        ),
    ],
)
def test_a_bad_plan_price_is_refused_naming_its_interval(prices: str, expected: list[str]) -> None:
    plan = PLAN.replace("prices: {month: 500, year: 5000}", f"prices: {prices}")
    assert problems_of(catalogue_text(plan=plan)) == expected


def rates(count: int) -> str:
    return "".join(f"        - {{key: r{n}, name: Rate {n}, amount: {n}}}\n" for n in range(count))


def test_a_zone_may_offer_stripe_s_five_rates_and_free_postage() -> None:
    text = catalogue_text().replace(
        "        - {key: second, name: Royal Mail 2nd class, amount: 285, days: [2, 3]}\n",
        rates(5),
    )
    shipping = parse_catalogue(text, Path("products.yaml")).shipping
    assert shipping is not None
    assert [(r.key, r.amount, r.days) for r in shipping.zones[0].rates] == [
        (f"r{n}", n, None) for n in range(5)
    ]


def test_a_sixth_rate_in_a_zone_is_refused() -> None:
    text = catalogue_text().replace(
        "        - {key: second, name: Royal Mail 2nd class, amount: 285, days: [2, 3]}\n",
        rates(6),
    )
    assert problems_of(text) == [
        "shipping.zones[uk]: rates: at most 5 (Stripe's limit per checkout)"
    ]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            "[{format: mobi, path: dune.mobi}]",
            "books[emma]: files[0].format: unknown format 'mobi' (use epub, pdf)",
        ),
        (
            "[{format: epub, path: a.epub}, {format: epub, path: b.epub}]",
            "books[emma]: files[1].format: a second epub file",
        ),
    ],
)
def test_an_ebook_comes_as_one_epub_and_one_pdf_at_most(files: str, expected: str) -> None:
    ebook = EBOOK.replace("files: [{format: epub, path: salt-road-ebook.epub}]", f"files: {files}")
    assert problems_of(catalogue_text().replace(EBOOK, ebook)) == [expected]


# --- what Stripe is sent ---------------------------------------------------------------


def test_sync_names_quire_s_products_and_prices_in_stripe_by_catalogue_key(
    fake_stripe: responses.RequestsMock,
) -> None:
    stripe = FakeProductsAndPrices(fake_stripe)
    run_sync(catalogue_text())
    assert {key: p["metadata"] for key, p in stripe.products.items()} == {
        "quire_book_dune": {"quire_key": "book:dune", "quire_kind": "book", "format": "print"},
        "quire_book_emma": {"quire_key": "book:emma", "quire_kind": "book", "format": "ebook"},
        "quire_plan_club": {"quire_key": "plan:club", "quire_kind": "plan"},
    }
    # A book without a description sends none (Stripe shows no blank one).
    assert {key: p["description"] for key, p in stripe.products.items()} == {
        "quire_book_dune": "A desert planet.",
        "quire_book_emma": None,
        "quire_plan_club": "Books by post.",
    }
    assert sorted(
        (p["product"], p["lookup_key"], p["metadata"], p["unit_amount"])
        for p in stripe.prices.values()
    ) == [
        ("quire_book_dune", "book:dune", {"quire_key": "book:dune"}, 1299),
        ("quire_book_emma", "book:emma", {"quire_key": "book:emma"}, 500),
        ("quire_plan_club", "plan:club:month", {"quire_key": "plan:club:month"}, 500),
        ("quire_plan_club", "plan:club:year", {"quire_key": "plan:club:year"}, 5000),
    ]


# --- each mistake, named once by entry and field -----------------------------------------

DAYS = "shipping.zones[uk].rates[second]: days: must be business days, 1 to 60, e.g. 3 or [2, 5] (got {got})"
ZONE_RATE = "        - {key: second, name: Royal Mail 2nd class, amount: 285, days: [2, 3]}\n"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # text fields
        ("title: Dune", "title: '  '", ["books[dune]: title: is missing"]),
        ("title: Dune", "title: 5", ["books[dune]: title: must be text (got 5)"]),
        ("    author: Frank Herbert\n", "", ["books[dune]: author: is missing"]),
        ("name: Club", "name: [a]", ["plans[club]: name: must be text (got ['a'])"]),
        # currencies
        (
            "    currency: gbp\n    format: print",
            "    format: print",
            ["books[dune]: currency: is missing (set it here or at the top of the file)"],
        ),
        (
            "  currency: gbp\n  free_over",
            "  currency: 5\n  free_over",
            ["shipping: currency: unknown currency 5"],
        ),
        (
            "  currency: gbp\n  free_over",
            "  free_over",
            ["shipping: currency: is missing (set it here or at the top of the file)"],
        ),
        (
            "description: Books by post.",
            "description: 5",
            ["plans[club]: description: must be text (got 5)"],
        ),
        (
            "    currency: gbp\n    prices",
            "    currency: zzz\n    prices",
            ["plans[club]: currency: unknown currency 'zzz'"],
        ),
        (
            "description: A desert planet.",
            "description: [5]",
            ["books[dune]: description: must be text (got [5])"],
        ),
        ("author: Frank Herbert", "author: 5", ["books[dune]: author: must be text (got 5)"]),
        (
            "    stock: 3\n",
            "    stock: 3\n    zeta: 1\n    alpha: 2\n",
            [
                "books[dune]: alpha: is not a known field",
                "books[dune]: zeta: is not a known field",
            ],
        ),
        (
            "files: [{format: epub, path: salt-road-ebook.epub}]",
            "files: [{format: epub}, {format: mobi, path: m.mobi}, {format: epub, path: ../e.epub},"
            " {format: pdf, path: e.pdf}, {format: pdf, path: f.pdf}, {format: epub, path: e.epub},"
            " {format: pdf, path: g.pdf}]",
            [
                "books[emma]: files[0]: must have exactly a format and a path",
                "books[emma]: files[1].format: unknown format 'mobi' (use epub, pdf)",
                "books[emma]: files[2].path: must be a path inside the ebook folder (got '../e.epub')",
                "books[emma]: files[4].format: a second pdf file",
                "books[emma]: files[6].format: a second pdf file",
            ],
        ),
        (PLAN, PLAN + PLAN, ["plans[club] (entry 2): key: duplicate key 'club'"]),
        # A bad currency is named once: not again as the wrong one for postage.
        (
            "    currency: gbp\n    format: print",
            "    currency: zzz\n    format: print",
            ["books[dune]: currency: unknown currency 'zzz'"],
        ),
        # zones and rates that are all wrong are named, not also called missing
        (
            "      rates:\n" + ZONE_RATE,
            "      rates: [5]\n",
            ["shipping.zones[uk].rates[0]: -: must be a mapping of fields"],
        ),
        (
            "  zones:\n    - key: uk\n",
            "  zones:\n    - 5\n    - key: uk\n",
            ["shipping.zones[0]: -: must be a mapping of fields"],
        ),
        (
            "  zones:\n    - key: uk\n",
            "  zones:\n    - 5\n  old:\n    - key: uk\n",
            [
                "shipping: old: is not a known field",
                "shipping.zones[0]: -: must be a mapping of fields",
            ],
        ),
        ("image: covers/dune.svg", "image: 5", ["books[dune]: image: must be text (got 5)"]),
        (
            "countries: [GB]",
            "countries: [XY, GB, XZ]",
            [
                "shipping.zones[uk]: countries: unknown country code 'XY'",
                "shipping.zones[uk]: countries: unknown country code 'XZ'",
            ],
        ),
        (
            "countries: [GB]",
            "countries: [GB, gb, IM, im]",
            [
                "shipping.zones[uk]: countries: GB is already in shipping.zones[uk]",
                "shipping.zones[uk]: countries: IM is already in shipping.zones[uk]",
            ],
        ),
        # entries and their keys
        ("  - key: dune\n", "  - 5\n  - key: dune\n", ["books[0]: -: must be a mapping of fields"]),
        ("  - key: dune\n", "  - key: 5\n", ["books[0]: key: is missing"]),
        ("  - key: club\n", "  - key: ''\n", ["plans[0]: key: is missing"]),
        # stock, and prices up to Stripe's ceiling
        (
            "stock: 3",
            "stock: -1",
            ["books[dune]: stock: must be a whole number, 0 or more (got -1)"],
        ),
        (
            "stock: 3",
            "stock: true",
            ["books[dune]: stock: must be a whole number, 0 or more (got True)"],
        ),
        (
            "stock: 3",
            "stock: '3'",
            ["books[dune]: stock: must be a whole number, 0 or more (got '3')"],
        ),
        (
            "stock: 3",
            "stock: 2.5",
            ["books[dune]: stock: must be a whole number, 0 or more (got 2.5)"],
        ),
        (
            "price: 1299",
            "price: 100000000",
            ["books[dune]: price: must be at most 99999999 (got 100000000)"],
        ),
        ("price: 1299", "price: 0", ["books[dune]: price: must be positive (got 0)"]),
        (
            "price: 1299",
            "price: 12.99",
            ["books[dune]: price: must be a whole number of minor units, e.g. 1299 (got 12.99)"],
        ),
        (
            "price: 1299",
            "price: '1299'",
            ["books[dune]: price: must be a whole number of minor units (got '1299')"],
        ),
        (
            "price: 1299",
            "price: true",
            ["books[dune]: price: must be a whole number of minor units (got True)"],
        ),
        ("price: 1299", "price: null", ["books[dune]: price: is missing"]),
        # books
        (
            "format: print",
            "format: audiobook",
            ["books[dune]: format: must be 'ebook' or 'print' (got 'audiobook')"],
        ),
        ("    format: print\n", "", ["books[dune]: format: must be 'ebook' or 'print' (got None)"]),
        (
            "    stock: 3\n",
            "    stock: 3\n    files: [{format: epub, path: d.epub}]\n",
            ["books[dune]: files: only ebooks have files"],
        ),
        (
            "image: covers/dune.svg",
            "image: /etc/dune.svg",
            ["books[dune]: image: must be a path inside shop/static/ (got '/etc/dune.svg')"],
        ),
        (
            "image: covers/dune.svg",
            "image: covers/../../dune.svg",
            [
                "books[dune]: image: must be a path inside shop/static/ (got 'covers/../../dune.svg')"
            ],
        ),
        # ebook files
        (
            "files: [{format: epub, path: salt-road-ebook.epub}]",
            "files: []",
            [
                "books[emma]: files: an ebook needs at least one file, e.g. [{format: epub, path: x.epub}]"
            ],
        ),
        (
            "files: [{format: epub, path: salt-road-ebook.epub}]",
            "files: {format: epub}",
            [
                "books[emma]: files: an ebook needs at least one file, e.g. [{format: epub, path: x.epub}]"
            ],
        ),
        (
            "files: [{format: epub, path: salt-road-ebook.epub}]",
            "files: [epub]",
            ["books[emma]: files[0]: must have exactly a format and a path"],
        ),
        (
            "files: [{format: epub, path: salt-road-ebook.epub}]",
            "files: [{format: pdf, path: e.pdf}, {format: epub, path: e.epub, size: 3}]",
            ["books[emma]: files[1]: must have exactly a format and a path"],
        ),
        (
            "files: [{format: epub, path: salt-road-ebook.epub}]",
            "files: [{format: epub, path: 5}]",
            ["books[emma]: files[0].path: must be a path inside the ebook folder (got 5)"],
        ),
        (
            "files: [{format: epub, path: salt-road-ebook.epub}]",
            "files: [{format: epub, path: ''}]",
            ["books[emma]: files[0].path: must be a path inside the ebook folder (got '')"],
        ),
        # plan benefits
        (
            "benefits: {print_discount: 10, ebooks: [emma]}",
            "benefits: [emma]",
            ["plans[club]: benefits: must map print_discount and/or ebooks"],
        ),
        (
            "benefits: {print_discount: 10, ebooks: [emma]}",
            "benefits: {tea: 1, cake: 2}",
            [
                "plans[club]: benefits.cake: is not a known benefit",
                "plans[club]: benefits.tea: is not a known benefit",
            ],
        ),
        (
            "print_discount: 10",
            "print_discount: 0",
            ["plans[club]: benefits.print_discount: must be a whole percentage, 1 to 100 (got 0)"],
        ),
        (
            "print_discount: 10",
            "print_discount: 101",
            [
                "plans[club]: benefits.print_discount: must be a whole percentage, 1 to 100 (got 101)"
            ],
        ),
        (
            "print_discount: 10",
            "print_discount: true",
            [
                "plans[club]: benefits.print_discount: must be a whole percentage, 1 to 100 (got True)"
            ],
        ),
        (
            "print_discount: 10",
            "print_discount: '10'",
            [
                "plans[club]: benefits.print_discount: must be a whole percentage, 1 to 100 (got '10')"
            ],
        ),
        (
            "ebooks: [emma]",
            "ebooks: emma",
            ["plans[club]: benefits.ebooks: must be a list of ebook keys"],
        ),
        (
            "ebooks: [emma]",
            "ebooks: [emma, 5]",
            ["plans[club]: benefits.ebooks: must be a list of ebook keys"],
        ),
        (
            "ebooks: [emma]",
            "ebooks: [emma, gone]",
            ["plans[club]: benefits.ebooks: 'gone' is not a book in the catalogue"],
        ),
        (
            "ebooks: [emma]",
            "ebooks: [dune]",
            ["plans[club]: benefits.ebooks: 'dune' is a printed book, not an ebook"],
        ),
        # postage
        (
            "  free_over: 6000\n",
            "  free_over: 0\n",
            ["shipping: free_over: must be positive (got 0)"],
        ),
        (
            "countries: [GB]",
            "countries: []",
            ["shipping.zones[uk]: countries: must be a list of ISO country codes, e.g. [GB]"],
        ),
        (
            "countries: [GB]",
            "countries: GB",
            ["shipping.zones[uk]: countries: must be a list of ISO country codes, e.g. [GB]"],
        ),
        (
            "countries: [GB]",
            "countries: [GB, 5]",
            ["shipping.zones[uk]: countries: unknown country code 5"],
        ),
        (
            "countries: [GB]",
            "countries: [GB, NO]",
            [
                "shipping.zones[uk]: countries: unknown country code False"
                ' (YAML reads a bare NO as false: write "NO")'
            ],
        ),
        (
            "countries: [GB]",
            "countries: [GB, gb]",
            ["shipping.zones[uk]: countries: GB is already in shipping.zones[uk]"],
        ),
        (
            "      rates:\n" + ZONE_RATE,
            "      rates: []\n",
            ["shipping.zones[uk]: rates: is missing (at least one way to post)"],
        ),
        (
            "      rates:\n" + ZONE_RATE,
            "",
            ["shipping.zones[uk]: rates: is missing (at least one way to post)"],
        ),
        (
            "      rates:\n" + ZONE_RATE,
            "      rates: 5\n",
            ["shipping.zones[uk].rates: -: must be a list of entries"],
        ),
        (
            "amount: 285",
            "amount: false",
            [
                "shipping.zones[uk].rates[second]: amount: must be a whole number of minor units (got False)"
            ],
        ),
        (
            "amount: 285",
            "amount: -1",
            ["shipping.zones[uk].rates[second]: amount: must be positive (got -1)"],
        ),
        (
            "{key: second, name: Royal Mail 2nd class,",
            "{key: second,",
            ["shipping.zones[uk].rates[second]: name: is missing"],
        ),
        (
            "    - key: uk\n      name: United Kingdom\n",
            "    - key: uk\n",
            ["shipping.zones[uk]: name: is missing"],
        ),
        ("days: [2, 3]", "days: 0", [DAYS.format(got="0")]),
        ("days: [2, 3]", "days: 61", [DAYS.format(got="61")]),
        ("days: [2, 3]", "days: [3, 2]", [DAYS.format(got="[3, 2]")]),
        ("days: [2, 3]", "days: [1, 2, 3]", [DAYS.format(got="[1, 2, 3]")]),
        ("days: [2, 3]", "days: []", [DAYS.format(got="[]")]),
        ("days: [2, 3]", "days: true", [DAYS.format(got="True")]),
        ("days: [2, 3]", "days: [2, '3']", [DAYS.format(got="[2, '3']")]),
        ("days: [2, 3]", "days: [0, 3]", [DAYS.format(got="[0, 3]")]),
    ],
)
def test_a_mistake_is_named_once_by_entry_and_field(
    old: str, new: str, expected: list[str]
) -> None:
    text = catalogue_text()
    assert old in text
    assert problems_of(text.replace(old, new, 1)) == expected


# --- what an accepted catalogue holds ---------------------------------------------------


def parsed(old: str, new: str) -> Catalogue:
    text = catalogue_text()
    assert old in text
    return parse_catalogue(text.replace(old, new, 1), Path("products.yaml"))


def test_text_is_trimmed_and_an_optional_blank_one_left_out() -> None:
    catalogue = parsed("title: Dune", "title: '  Dune '")
    dune = catalogue.books[0]
    assert (dune.title, dune.name) == ("Dune", "Dune")
    dune = parsed("description: A desert planet.", "description: ' '").books[0]
    assert (dune.description, dune.image) == ("", "covers/dune.svg")
    assert parsed("    image: covers/dune.svg\n", "    image: ''\n").books[0].image is None


def test_currencies_are_read_in_any_case_and_entries_inherit_the_file_s() -> None:
    catalogue = parsed("books:\n", "currency: USD\nbooks:\n")
    assert catalogue.books[0].currency == "gbp"
    text = catalogue_text().replace("    currency: gbp\n", "").replace("  currency: gbp\n", "")
    catalogue = parse_catalogue("currency: EUR\n" + text, Path("products.yaml"))
    assert {b.currency for b in catalogue.books} == {"eur"}
    assert catalogue.plans[0].currency == "eur"
    assert catalogue.shipping is not None and catalogue.shipping.currency == "eur"
    assert parsed("    currency: gbp\n", "    currency: GBP\n").books[0].currency == "gbp"


def test_postage_may_be_free_and_delivery_said_in_days() -> None:
    shipping = parsed("amount: 285, days: [2, 3]", "amount: 0, days: 1").shipping
    assert shipping is not None
    assert [(r.amount, r.days) for r in shipping.zones[0].rates] == [(0, (1, 1))]
    shipping = parsed("days: [2, 3]", "days: [60, 60]").shipping
    assert shipping is not None and shipping.zones[0].rates[0].days == (60, 60)
    shipping = parsed(
        "{key: second, name: Royal Mail 2nd class, amount: 285, days: [2, 3]}",
        "{key: second, name: Royal Mail 2nd class, amount: 285}",
    ).shipping
    assert shipping is not None and shipping.zones[0].rates[0].days is None


def test_countries_are_read_in_any_case_and_found_in_their_zone() -> None:
    shipping = parsed("countries: [GB]", "countries: [gb, Im]").shipping
    assert shipping is not None
    assert shipping.countries == ("GB", "IM")
    uk = shipping.zones[0]
    assert (shipping.zone_for("gb"), shipping.zone_for("IM"), shipping.zone_for("FR")) == (
        uk,
        uk,
        None,
    )


def test_without_free_over_postage_is_always_charged() -> None:
    shipping = parsed("  free_over: 6000\n", "").shipping
    assert shipping is not None and shipping.free_over is None
    assert shipping.zones[0].free_over == 3000
    shipping = parsed("      free_over: 3000\n", "").shipping
    assert shipping is not None and shipping.zones[0].free_over is None


@pytest.mark.parametrize("percent", [1, 100])
def test_a_member_discount_may_be_1_to_100_percent(percent: int) -> None:
    catalogue = parsed("print_discount: 10", f"print_discount: {percent}")
    coupon = catalogue.print_coupon(catalogue.plans[0])
    assert coupon is not None
    assert (coupon.plan_key, coupon.percent_off, coupon.product_ids) == (
        "club",
        percent,
        ("quire_book_dune",),
    )


def test_a_plan_s_ebooks_are_listed_once_each_in_order() -> None:
    text = catalogue_text().replace(EBOOK, EBOOK + EBOOK.replace("emma", "persuasion"))
    text = text.replace("ebooks: [emma]", "ebooks: [persuasion, emma, persuasion]")
    club = parse_catalogue(text, Path("products.yaml")).plans[0]
    assert club.benefits.ebooks == ("persuasion", "emma")


def test_a_plan_without_benefits_gives_none() -> None:
    club = parsed("    benefits: {print_discount: 10, ebooks: [emma]}\n", "").plans[0]
    assert (club.benefits.print_discount, club.benefits.ebooks) == (None, ())
    club = parsed("print_discount: 10, ebooks: [emma]", "print_discount: 10").plans[0]
    assert (club.benefits.print_discount, club.benefits.ebooks) == (10, ())


def test_the_coupon_covers_every_printed_book_and_only_those() -> None:
    text = catalogue_text().replace(EBOOK, EBOOK + PRINT_BOOK.replace("dune", "arrakis"))
    catalogue = parse_catalogue(text, Path("products.yaml"))
    assert [b.key for b in catalogue.printed_books] == ["dune", "arrakis"]
    coupon = catalogue.print_coupon(catalogue.plans[0])
    assert coupon is not None and coupon.product_ids == ("quire_book_arrakis", "quire_book_dune")
    club = parsed("print_discount: 10, ", "").plans[0]
    assert catalogue.print_coupon(club) is None
    only_ebooks = parsed(PRINT_BOOK, "")
    assert only_ebooks.print_coupon(only_ebooks.plans[0]) is None


@pytest.mark.parametrize(
    ("amount", "percent", "discount"),
    [(1245, 10, 125), (1244, 10, 124), (7, 7, 0), (1000, 100, 1000), (1, 1, 0)],
)
def test_a_member_discount_rounds_half_a_minor_unit_up(
    amount: int, percent: int, discount: int
) -> None:
    assert PrintCoupon("club", percent, ("quire_book_dune",)).discount_on(amount) == discount


def test_an_ebook_s_file_is_found_by_format() -> None:
    text = catalogue_text().replace(
        "files: [{format: epub, path: salt-road-ebook.epub}]",
        "files: [{format: epub, path: e.epub}, {format: pdf, path: e.pdf}]",
    )
    emma = parse_catalogue(text, Path("products.yaml")).books[1]
    pdf = emma.file("pdf")
    assert pdf is not None and (pdf.path, pdf.media_type) == ("e.pdf", "application/pdf")
    epub = emma.file("epub")
    assert epub is not None and (epub.path, epub.media_type) == ("e.epub", "application/epub+zip")
    assert emma.file("mobi") is None


def test_the_catalogue_finds_each_item_by_key_and_lookup_key() -> None:
    catalogue = parse_catalogue(catalogue_text(), Path("products.yaml"))
    dune, emma = catalogue.books
    (club,) = catalogue.plans
    assert (catalogue.book("emma"), catalogue.book("club"), catalogue.plan("club")) == (
        emma,
        None,
        club,
    )
    assert catalogue.plan("dune") is None
    assert list(catalogue.items()) == [dune, emma, club]
    assert catalogue.item_for_lookup_key("book:club") is None
    assert catalogue.item_for_lookup_key("plan:dune:month") is None
    assert catalogue.selling_price("book:dune") == dune.selling_prices[0]
    assert catalogue.selling_price("plan:club:year") == club.selling_prices[1]
    assert catalogue.selling_price("plan:club:week") is None
    assert catalogue.selling_price("book:gone") is None
    assert (dune.product_id, club.product_id) == ("quire_book_dune", "quire_plan_club")


# --- the file as a whole ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- dune\n", "products.yaml: -: must be a mapping with 'books' and 'plans'"),
        ("books: dune\n", "books: -: must be a list of entries"),
        ("plans: {club: 1}\n", "plans: -: must be a list of entries"),
        ("books: []\nplans: []\n", "products.yaml: books: the catalogue sells nothing"),
        ("{}\n", "products.yaml: books: the catalogue sells nothing"),
        ("shipping: [uk]\n" + only_plan(PLAN), "shipping: -: must be a mapping with 'zones'"),
        (
            "shipping: {currency: gbp, zones: []}\n" + only_plan(PLAN),
            "shipping: zones: is missing (at least one destination zone)",
        ),
        (
            "shipping: {currency: gbp}\n" + only_plan(PLAN),
            "shipping: zones: is missing (at least one destination zone)",
        ),
        ("currency: 5\n" + only_plan(PLAN), "products.yaml: currency: unknown currency 5"),
    ],
)
def test_a_file_that_is_not_a_catalogue_is_refused_saying_why(text: str, expected: str) -> None:
    text = text.replace(", ebooks: [emma]", "")
    assert problems_of(text) == [expected]


def test_an_error_names_the_file_and_lists_every_problem() -> None:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue("books: 1\nplans: 2\n", Path("shop/products.yaml"))
    assert str(caught.value) == (
        "products.yaml has 2 problem(s):\n"
        "books: -: must be a list of entries\n"
        "plans: -: must be a list of entries"
    )
    assert caught.value.path == Path("shop/products.yaml")


def test_a_catalogue_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(tmp_path / "products.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "products.yaml: -: cannot be read: No such file or directory"
    ]


def test_loading_checks_every_ebook_file_and_cover_image_exists(tmp_path: Path) -> None:
    ebooks, static = tmp_path / "ebooks", tmp_path / "static"
    (ebooks / "pdf").mkdir(parents=True)
    (static / "covers").mkdir(parents=True)
    (ebooks / "e.epub").write_bytes(b"x")
    (static / "covers" / "dune.svg").write_bytes(b"<svg/>")
    path = tmp_path / "products.yaml"
    text = catalogue_text().replace(
        "files: [{format: epub, path: salt-road-ebook.epub}]",
        "files: [{format: epub, path: e.epub}, {format: pdf, path: pdf/e.pdf}]",
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path, ebooks, static)
    assert [str(p) for p in caught.value.problems] == [
        "books[emma]: files[1].path: pdf/e.pdf is not in ebooks/"
    ]
    (ebooks / "pdf" / "e.pdf").write_bytes(b"x")
    assert load_catalogue(path, ebooks, static).books[1].file("pdf") is not None
    (static / "covers" / "dune.svg").unlink()
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path, ebooks, static)
    assert [str(p) for p in caught.value.problems] == [
        "books[dune]: image: covers/dune.svg is not in static/"
    ]
    # A bare parse checks the text alone.
    assert parse_catalogue(text, path).books[0].image == "covers/dune.svg"


def test_a_printed_book_naming_another_currency_than_postage_is_named_itself() -> None:
    text = catalogue_text().replace(
        "    currency: gbp\n    format: print", "    currency: usd\n    format: print"
    )
    assert problems_of(text) == [
        "books[dune]: currency: printed books are sold in the postage currency, gbp"
    ]
    # Books listed after an ebook are checked too.
    usd_book = PRINT_BOOK.replace("currency: gbp", "currency: usd")
    assert problems_of(catalogue_text(book="").replace(EBOOK, EBOOK + usd_book)) == [
        "books[dune]: currency: printed books are sold in the postage currency, gbp"
    ]
    # An ebook is never posted: its currency is its own.
    text = catalogue_text().replace(
        "    currency: gbp\n    format: ebook", "    currency: usd\n    format: ebook"
    )
    assert parse_catalogue(text, Path("products.yaml")).books[1].currency == "usd"


@pytest.mark.parametrize("section", ["books", "plans"])
def test_a_catalogue_may_sell_only_books_or_only_memberships(section: str) -> None:
    text = catalogue_text().replace(", ebooks: [emma]", "")
    sections = {
        "books": text[: text.index("plans:")] + SHIPPING,
        "plans": "plans:\n" + PLAN.replace(", ebooks: [emma]", ""),
    }
    catalogue = parse_catalogue(sections[section], Path("products.yaml"))
    assert (bool(catalogue.books), bool(catalogue.plans)) == (
        section == "books",
        section == "plans",
    )


def test_a_bad_file_currency_is_not_blamed_on_postage_too() -> None:
    text = catalogue_text().replace("    currency: gbp\n    format: print", "    format: print")
    assert problems_of("currency: quid\n" + text) == [
        "products.yaml: currency: unknown currency 'quid'"
    ]
