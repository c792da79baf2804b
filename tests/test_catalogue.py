"""The catalogue: the shipped one is valid, and every mistake is named by entry and field."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from shop.catalogue import CatalogueError, load_catalogue, parse_catalogue
from tests.helpers import SHIPPED_CATALOGUE, TEST_CATALOGUE

RunFlask = Callable[..., subprocess.CompletedProcess[str]]
GOOD_BOOK = """
  - key: dune
    title: Dune
    author: Frank Herbert
    price: 1299
    currency: gbp
    format: print
    stock: 3
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text, Path("products.yaml"))
    return [str(p) for p in caught.value.problems]


def test_the_shipped_catalogue_is_valid() -> None:
    catalogue = load_catalogue(SHIPPED_CATALOGUE)
    assert catalogue.books or catalogue.plans


def test_the_test_catalogue_sells_books_of_both_formats_and_two_plans(
    catalogue_file: Path,
) -> None:
    catalogue = load_catalogue(catalogue_file)
    assert len(catalogue.books) >= 6
    assert {b.format for b in catalogue.books} == {"ebook", "print"}
    assert len(catalogue.plans) >= 2
    for plan in catalogue.plans:
        assert {interval for interval, _ in plan.prices} == {"month", "year"}
    assert all(isinstance(b.price, int) and b.price > 0 for b in catalogue.books)


def test_lookup_keys_name_books_and_plan_intervals() -> None:
    catalogue = parse_catalogue(
        "books:" + GOOD_BOOK + "plans:\n  - key: club\n    name: Club\n    currency: usd\n"
        "    prices: {month: 500, year: 5000}\n    trial_days: 7\n",
        Path("p.yaml"),
    )
    assert catalogue.books[0].lookup_key == "book:dune"
    assert [p.lookup_key for p in catalogue.plans[0].selling_prices] == [
        "plan:club:month",
        "plan:club:year",
    ]
    assert catalogue.item_for_lookup_key("plan:club:year") == catalogue.plans[0]
    assert catalogue.plans[0].trial_days == 7


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("price", "-5", "books[dune]: price: must be positive (got -5)"),
        ("price", "12.99", "books[dune]: price: must be a whole number of minor units"),
        ("currency", "zzz", "books[dune]: currency: unknown currency 'zzz'"),
        ("format", "audiobook", "books[dune]: format: must be 'ebook' or 'print'"),
        ("stock", "-1", "books[dune]: stock: must be a whole number, 0 or more"),
    ],
)
def test_a_bad_book_field_is_named(field: str, value: str, expected: str) -> None:
    text = "books:" + GOOD_BOOK.replace(f"    {field}: ", f"    {field}: {value} #")
    assert any(p.startswith(expected) for p in problems_of(text)), problems_of(text)


def test_missing_title_and_duplicate_key_are_each_reported() -> None:
    text = "books:" + GOOD_BOOK + GOOD_BOOK.replace("    title: Dune\n", "")
    found = problems_of(text)
    assert "books[dune] (entry 2): title: is missing" in found
    assert "books[dune] (entry 2): key: duplicate key 'dune'" in found


def test_bad_plan_interval_is_named() -> None:
    text = "plans:\n  - key: club\n    name: Club\n    currency: gbp\n    prices: {week: 100}\n"
    assert problems_of(text) == ["plans[club]: prices.week: bad interval: use 'month' or 'year'"]


def test_yaml_syntax_error_gives_the_line() -> None:
    text = "books:\n  - key: dune\n    title: [unclosed\n    price: 3\n"
    (problem,) = problems_of(text)
    assert problem.startswith("products.yaml: line 4")
    assert "YAML syntax error" in problem


def test_every_problem_is_reported_at_once() -> None:
    text = (
        "books:\n  - key: a\n    title: A\n    author: X\n    price: -1\n    format: ebook\n"
        "    files: [{format: epub, path: a.epub}]\n"
        "  - key: b\n    author: Y\n    price: 1.5\n    currency: xyz\n    format: print\n"
    )
    found = problems_of(text)
    assert len(found) == 5
    assert "books[a]: currency: is missing (set it here or at the top of the file)" in found
    assert "books[b]: title: is missing" in found
    assert {p.split(":")[0] for p in found} == {"books[a]", "books[b]"}


def test_catalog_check_command_passes_on_the_shipped_catalogue(run_flask: RunFlask) -> None:
    result = run_flask("catalog", "check", CATALOGUE_PATH=str(SHIPPED_CATALOGUE))
    assert result.returncode == 0, result.stderr
    assert "Catalogue OK:" in result.stdout


def test_catalog_check_command_counts_books_and_plans(
    run_flask: RunFlask, catalogue_file: Path
) -> None:
    result = run_flask("catalog", "check", CATALOGUE_PATH=str(catalogue_file))
    assert result.returncode == 0, result.stderr
    assert "Catalogue OK: 7 book(s), 2 plan(s)" in result.stdout


def test_catalog_check_command_fails_naming_key_and_field(
    tmp_path: Path, run_flask: RunFlask, catalogue_file: Path
) -> None:
    broken = tmp_path / "products.yaml"
    text = catalogue_file.read_text()
    text = text.replace("price: 1299", "price: 12.99").replace("currency: gbp", "currency: quid")
    broken.write_text(text)
    result = run_flask("catalog", "check", CATALOGUE_PATH=str(broken))
    assert result.returncode == 1
    assert "books[the-salt-road]: price: must be a whole number of minor units" in result.stderr
    assert "products.yaml: currency: unknown currency 'quid'" in result.stderr
    assert result.stderr.count("unknown currency 'quid'") == 1  # each problem said once


def test_a_bad_file_currency_is_one_problem_not_a_missing_currency_on_every_entry() -> None:
    """`currency: quid` at the top once also said "currency: is missing" nine times."""
    text = TEST_CATALOGUE.read_text().replace("currency: gbp", "currency: quid", 1)
    assert problems_of(text) == ["products.yaml: currency: unknown currency 'quid'"]


def test_a_misspelt_format_is_one_problem_not_also_one_about_files() -> None:
    text = TEST_CATALOGUE.read_text().replace("format: ebook", "format: e-book", 1)
    assert problems_of(text) == [
        "books[salt-road-ebook]: format: must be 'ebook' or 'print' (got 'e-book')"
    ]


def test_postage_in_another_currency_is_said_once_on_shipping() -> None:
    """Every printed book inherits gbp; the one cause is the shipping currency."""
    text = TEST_CATALOGUE.read_text().replace("shipping:\n", "shipping:\n  currency: usd\n", 1)
    assert problems_of(text) == [
        "shipping: currency: must be the printed books' currency, gbp (postage is charged "
        "with them)"
    ]


def test_a_cover_image_that_does_not_exist_is_named_with_entry_and_field(
    tmp_path: Path,
) -> None:
    path = tmp_path / "products.yaml"
    path.write_text(
        TEST_CATALOGUE.read_text()
        .replace("image: covers/quiet-machines.svg", "image: covers/quiet-machine.svg")
        .replace("image: covers/winter-orchard.svg", "image: ../../config.py")
    )
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    assert [str(p) for p in caught.value.problems] == [
        "books[winter-orchard]: image: must be a path inside shop/static/ (got '../../config.py')",
        "books[quiet-machines]: image: covers/quiet-machine.svg is not in static/",
    ]
