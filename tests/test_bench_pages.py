"""`bench/admin_lists.py`'s `measure`, which the main benchmark calls, keeps running and
keeps the promise it measures: the account page of a shopper with a hundred times the
orders runs the same statements."""

from __future__ import annotations

from bench.admin_lists import measure


def test_measure_gives_the_page_figures_and_statements_that_do_not_grow_with_orders() -> None:
    figures = measure(None, orders=3_000, users=300, members=50, repeat=1)
    assert figures["database"] == "sqlite" and figures["orders"] == 3_000
    assert figures["account_page_orders"] == 30
    assert figures["account_page_few_orders_orders"] == 10
    for key in ("account_page_ms_100k", "admin_page_ms_100k"):
        assert figures[key] > 0
    assert figures["account_page_statements"] == figures["account_page_few_orders_statements"]
    assert figures["admin_page_statements"] == figures["admin_page_12m_statements"]
