"""Pages that stay the same size and cost at any size of shop: the account page and the
admin dashboard run a fixed number of SQL statements whatever the number of orders, and
the account page lists its orders a page at a time."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from shop.extensions import db
from shop.models import Invoice, Order, OrderItem, StockLevel, User
from tests import helpers

NOW = datetime.now(UTC)


StatementCounter = helpers.StatementCounter
statements_of = helpers.statements_of


def add_orders(
    app: Flask,
    email: str,
    count: int,
    *,
    first: int = 0,
    status: str = "paid",
    trial_every: int = 0,
) -> None:
    """`count` orders of `email`, placed an hour apart going back from now (the newest
    first when `first` is 0), each with its line; every `trial_every`th is a Reader
    membership begun with a free trial (charged nothing today)."""
    with app.app_context():
        user_id = db.session.execute(db.select(User.id).filter_by(email=email)).scalar_one()
        for n in range(first, first + count):
            trial = bool(trial_every) and n % trial_every == 0
            placed = NOW - timedelta(hours=n)
            order_id = db.session.execute(
                insert(Order)
                .values(
                    user_id=user_id,
                    kind="membership" if trial else "book",
                    status=status,
                    currency="gbp",
                    amount_total=900 if trial else 1299,
                    amount_paid=(0 if trial else 1299) if status == "paid" else None,
                    trial_days=14 if trial else None,
                    checkout_session_id=f"cs_test_{email}_{n}",
                    created_at=placed,
                    updated_at=placed,
                )
                .returning(Order.id)
            ).scalar_one()
            db.session.execute(
                insert(OrderItem).values(
                    order_id=order_id,
                    item_key="reader" if trial else "the-salt-road",
                    lookup_key="plan:reader:month" if trial else "book:the-salt-road",
                    description=f"Order line {n}",
                    unit_amount=900 if trial else 1299,
                    quantity=1,
                )
            )
        db.session.commit()


def order_lines(page: str) -> list[str]:
    """The descriptions in the account page's orders table, top to bottom."""
    table = page.split('<table class="orders stacks">')[1].split("</table>")[0]
    return re.findall(r"(Order line \d+)", table)


# --- The account page -------------------------------------------------------------------


def test_the_account_page_runs_as_many_statements_for_60_orders_as_for_3(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    statements: StatementCounter,
) -> None:
    """No statement per order, per line or per free-trial sign-up."""
    add_orders(app, "reader@example.com", 3, trial_every=2)
    few = statements_of(client, statements, "/account")
    add_orders(app, "reader@example.com", 57, first=3, trial_every=2)
    many = statements_of(client, statements, "/account")
    assert many == few
    assert statements_of(client, statements, "/account?page=3") == few


def test_the_account_page_lists_20_orders_newest_first_and_the_next_page_the_older_ones(
    app: Flask, client: FlaskClient, shopper: int, add_user: Callable[..., int]
) -> None:
    add_orders(app, "reader@example.com", 45, trial_every=10)
    add_user("someone.else@example.com")
    add_orders(app, "someone.else@example.com", 5, first=100)

    first = client.get("/account").text
    assert order_lines(first) == [f"Order line {n}" for n in range(0, 20)]
    assert "today (free trial)" in first  # order 0 and 10 began with a trial
    assert "Older orders" in first and "Newer orders" not in first

    second = client.get("/account?page=2").text
    assert order_lines(second) == [f"Order line {n}" for n in range(20, 40)]
    assert "Older orders" in second and "Newer orders" in second
    assert "Page 2" in second

    for nonsense in ("0", "-4", "x", "9" * 40):  # the first page, or an empty one
        assert client.get(f"/account?page={nonsense}").status_code == 200
    assert "No orders on this page." in client.get("/account?page=" + "9" * 40).text

    last = client.get("/account?page=3").text
    assert order_lines(last) == [f"Order line {n}" for n in range(40, 45)]
    assert "Older orders" not in last
    # Everything else on the page is still there, on every page of orders.
    for page in (first, second, last):
        assert "Signed in as reader@example.com" in page
        assert "<h2>Memberships</h2>" in page and "Change your password" in page


def test_a_shopper_with_20_orders_or_fewer_sees_no_page_links(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    assert "No orders yet." in client.get("/account").text
    add_orders(app, "reader@example.com", 20)
    page = client.get("/account").text
    assert len(order_lines(page)) == 20
    assert "Older orders" not in page and "Page 1" not in page
    assert "No orders yet." not in page


# --- The admin dashboard ----------------------------------------------------------------


@pytest.fixture
def admin(
    client: FlaskClient, add_user: Callable[..., int], sign_in: Callable[..., None]
) -> FlaskClient:
    add_user("owner@example.com", admin=True)
    sign_in("owner@example.com")
    return client


def add_failed_invoices(app: Flask, count: int, first: int = 0) -> None:
    """`count` membership invoices still open after a refused renewal."""
    with app.app_context():
        db.session.execute(
            insert(Invoice),
            [
                {
                    "stripe_invoice_id": f"in_failed_{n}",
                    "stripe_subscription_id": f"sub_{n}",
                    "stripe_customer_id": f"cus_{n}",
                    "status": "open",
                    "billing_reason": "subscription_cycle",
                    "currency": "gbp",
                    "amount_due": 900,
                    "amount_paid": 0,
                    "attempt_count": 2,
                    "created_at": NOW - timedelta(hours=n),
                    "updated_at": NOW - timedelta(hours=n),
                }
                for n in reversed(range(first, first + count))  # the oldest recorded first
            ],
        )
        db.session.commit()


def dashboard_rows(page: str, heading: str) -> list[str]:
    """The rows of the dashboard's table under `heading`."""
    section = page.split(f"<h2>{heading}</h2>")[1].split("</table>")[0]
    return re.findall(r"<tr><td data-label=", section)


def test_the_dashboard_runs_as_many_statements_for_many_orders_and_failures_as_for_few(
    app: Flask, admin: FlaskClient, add_user: Callable[..., int], statements: StatementCounter
) -> None:
    add_user("reader@example.com")
    add_orders(app, "reader@example.com", 3)
    add_orders(app, "reader@example.com", 2, first=3, status="payment_failed")
    add_failed_invoices(app, 2)
    few = statements_of(admin, statements, "/admin/")
    add_user("another@example.com")
    add_orders(app, "another@example.com", 40, first=10)
    add_orders(app, "reader@example.com", 40, first=60, status="payment_failed")
    add_failed_invoices(app, 40, first=2)
    many = statements_of(admin, statements, "/admin/")
    assert many == few
    assert statements_of(admin, statements, "/admin/?period=12m") == few


def test_the_dashboard_shows_the_newest_20_orders_and_20_of_each_kind_of_failure(
    app: Flask, admin: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user("reader@example.com")
    add_orders(app, "reader@example.com", 30)
    add_orders(app, "reader@example.com", 30, first=100, status="payment_failed")
    add_failed_invoices(app, 30)
    page = admin.get("/admin/").text
    assert len(dashboard_rows(page, "Latest orders")) == 20
    failures = page.split("<h2>Failed payments</h2>")[1].split("</table>")[0]
    assert failures.count(">Order #") == 20
    assert failures.count("<code>in_failed_") == 20
    assert "<code>in_failed_0</code>" in failures  # the newest
    assert "<code>in_failed_29</code>" not in failures
    assert "All failed orders" in page


# --- A book page ------------------------------------------------------------------------


def test_a_printed_book_s_page_reads_its_copies_left_in_as_many_statements_at_any_sales(
    app: Flask, client: FlaskClient, shopper: int, statements: StatementCounter
) -> None:
    """Copies left come from the book's stock level row, never from its order lines."""
    path = "/books/the-salt-road"
    add_orders(app, "reader@example.com", 3)
    few = statements_of(client, statements, path)
    add_orders(app, "reader@example.com", 60, first=3)
    assert statements_of(client, statements, path) == few
    with app.app_context():
        db.session.add(StockLevel(book_key="the-salt-road", sold=38, held=1))
        db.session.commit()
    assert "1 copy left" in client.get(path).text  # 40 allotted, less sold and held
