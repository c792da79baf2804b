"""How the admin's lists, the dashboard and the account page cope with a big shop:
`make bench-lists`.

Fills a database with 100,000 orders (bulk inserts) with their payments and refunds in
the ledger, 10,000 accounts and 5,000 memberships with their Stripe customers and
invoices (one shopper among them has 1,000 of the orders), then asks each list page
(first page, filtered, searched, the deepest page, a detail page, a CSV) and the
dashboard (`/admin/`, each period) through the app as a signed-in admin, and the account
page (`/account`, first and a later page) as that shopper and as one with a handful of
orders, and prints the median time and the SQL statements each page ran. The account page's saved-cards call to Stripe is answered
at once (faked at HTTP level): the figures are the shop's own.

`measure(database_url)` runs the dashboard and account part and returns its figures
(`account_page_ms_100k`, `admin_page_ms_100k`, statement counts…) for the main
benchmark.

PostgreSQL with `--database-url` (or `TEST_DATABASE_URL`): **its tables are dropped and
made again**. Without either, a temporary SQLite file. Figures, not pass/fail; the tests
check that the statement count per page does not grow with the orders
(`tests/test_admin_lists.py`, `tests/test_pages_at_scale.py`).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, insert, text, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shop.extensions import db  # noqa: E402
from shop.models import (  # noqa: E402
    Customer,
    Invoice,
    MoneyMovement,
    Order,
    OrderItem,
    Subscription,
    User,
)
from tests.helpers import add_user, build_app, sign_in  # noqa: E402
from tests.stripe_fakes import API  # noqa: E402

BOOKS = [("the-salt-road", 1299), ("quiet-machines", 1650), ("winter-orchard", 1000)]
EBOOKS = [("salt-road-ebook", 699), ("small-press-handbook", 1499)]
#: Order statuses and how often each occurs.
STATUSES = [
    ("paid", 70),
    ("partially_refunded", 3),
    ("refunded", 2),
    ("expired", 10),
    ("cancelled", 5),
    ("pending", 5),
    ("payment_failed", 5),
]
CHUNK = 10_000
START = datetime(2024, 12, 1, tzinfo=UTC)
#: Every this many orders belongs to the busy shopper (1,000 of 100,000).
BUSY_SHOPPER_EVERY = 100
ADMIN = "owner@example.com"
BUSY_SHOPPER = "busy.shopper@example.com"
#: A shopper with a handful of orders (FEW_ORDERS of them, spread over the years).
FEW_ORDERS_SHOPPER = "few.orders@example.com"
FEW_ORDERS = 10


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=20, help="Requests per page.")
    return parser.parse_args()


def bulk(table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        db.session.execute(insert(table), rows[start : start + CHUNK])


def fill(users: int, orders: int, members: int) -> dict[str, Any]:
    """The shop's records, inserted in bulk; returns ids and values the pages look up."""
    rng = random.Random(9)  # noqa: S311  (made-up records, the same every run)
    span = (datetime.now(UTC) - START).total_seconds()
    bulk(
        User,
        [
            {
                "id": i,
                "email": f"reader{i}@example.com",
                "password_hash": "x",
                "is_admin": False,
                "created_at": START + timedelta(seconds=span * i / users),
            }
            for i in range(1, users + 1)
        ],
    )
    bulk(
        Customer,
        [
            {"user_id": i, "stripe_customer_id": f"cus_{i}", "created_at": START}
            for i in range(1, users + 1)
        ],
    )
    weights = [weight for _, weight in STATUSES]
    names = [name for name, _ in STATUSES]
    order_rows: list[dict[str, Any]] = []
    item_rows: list[dict[str, Any]] = []
    for i in range(1, orders + 1):
        key, price = rng.choice(BOOKS + EBOOKS)
        status = rng.choices(names, weights)[0]
        paid = status in ("paid", "partially_refunded", "refunded")
        refunded = {"refunded": price, "partially_refunded": price // 2}.get(status, 0)
        placed = START + timedelta(seconds=span * i / orders)
        user = rng.randint(1, users)
        order_rows.append(
            {
                "id": i,
                "user_id": user,
                "kind": "book",
                "status": status,
                "currency": "gbp",
                "amount_total": price,
                "amount_discount": 0,
                "amount_paid": price if paid else None,
                "amount_refunded": refunded,
                "amount_refund_reserved": 0,
                "checkout_session_id": f"cs_test_{i}",
                "payment_intent_id": f"pi_{i}" if paid else None,
                "stripe_customer_id": f"cus_{user}",
                "ships": (key, price) in BOOKS,
                "holds_stock": False,
                "stock_state": "none",
                "checkout_attempts": 1,
                "created_at": placed,
                "updated_at": placed,
                "paid_at": placed if paid else None,
                # Pending orders are open checkouts (their page not yet expired).
                "expires_at": (
                    datetime.now(UTC) + timedelta(hours=20)
                    if status == "pending"
                    else placed + timedelta(hours=24)
                ),
            }
        )
        item_rows.append(
            {
                "order_id": i,
                "item_key": key,
                "lookup_key": f"book:{key}",
                "description": key.replace("-", " ").title(),
                "unit_amount": price,
                "quantity": 1,
                "copies_short": 0,
            }
        )
    bulk(Order, order_rows)
    bulk(OrderItem, item_rows)
    # The ledger the dashboard's revenue reads: each paid order's payment, its refunds.
    movements = [
        {
            "kind": "payment",
            "stripe_id": f"ch_{row['id']}",
            "order_id": row["id"],
            "amount": row["amount_total"],
            "currency": "gbp",
            "occurred_at": row["paid_at"],
        }
        for row in order_rows
        if row["paid_at"] is not None
    ] + [
        {
            "kind": "refund",
            "stripe_id": f"re_{row['id']}",
            "order_id": row["id"],
            "amount": row["amount_refunded"],
            "currency": "gbp",
            "occurred_at": row["paid_at"] + timedelta(days=2),
        }
        for row in order_rows
        if row["amount_refunded"]
    ]
    bulk(MoneyMovement, movements)
    member_rows: list[dict[str, Any]] = []
    invoice_rows: list[dict[str, Any]] = []
    for i in range(1, members + 1):
        user = 1 + (i * 7) % users
        status = rng.choices(["active", "trialing", "past_due", "canceled"], [70, 10, 5, 15])[0]
        member_rows.append(
            {
                "id": i,
                "stripe_subscription_id": f"sub_{i}",
                "user_id": user,
                "stripe_customer_id": f"cus_{user}",
                "plan_key": rng.choice(["reader", "patron"]),
                "interval": rng.choice(["month", "year"]),
                "status": status,
                "current_period_end": datetime.now(UTC) + timedelta(days=rng.randint(1, 30)),
                "cancel_at_period_end": rng.random() < 0.1,
                "updated_at": START,
            }
        )
        invoice_rows.append(
            {
                "stripe_invoice_id": f"in_{i}",
                "stripe_subscription_id": f"sub_{i}",
                "stripe_customer_id": f"cus_{user}",
                "status": "open" if status == "past_due" else "paid",
                "billing_reason": "subscription_cycle",
                "currency": "gbp",
                "amount_due": 900,
                "amount_paid": 0 if status == "past_due" else 900,
                "attempt_count": 1,
                "created_at": START,
                "updated_at": START,
            }
        )
    bulk(Subscription, member_rows)
    bulk(Invoice, invoice_rows)
    db.session.commit()
    return {"busy_user": order_rows[-1]["user_id"], "last_order": orders}


def build(
    url: str, folder: Path, users: int, orders: int, members: int
) -> tuple[Flask, dict[str, Any], float]:
    """The app on `url`, its tables made afresh and filled; the ids the pages look up,
    and the seconds filling took. Adds the admin and the busy shopper (every
    BUSY_SHOPPER_EVERY-th order, two memberships, a Stripe customer), who can sign in."""
    # The tests' settings (fake Stripe key, the test catalogue) on this database.
    app = build_app(folder, SQLALCHEMY_DATABASE_URI=url, TESTING=False)
    with app.app_context():
        db.drop_all()
        db.create_all()
        started = time.perf_counter()
        found = fill(users, orders, members)
        if db.engine.dialect.name == "postgresql":
            given = {"users": users, "orders": orders, "subscriptions": members}
            for table, top in given.items():  # ids were given: move the id counters past them
                db.session.execute(
                    text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :top)"),
                    {"table": table, "top": top},
                )
            db.session.commit()
    add_user(app, ADMIN, admin=True)
    busy = add_user(app, BUSY_SHOPPER)
    few = add_user(app, FEW_ORDERS_SHOPPER)
    with app.app_context():
        db.session.execute(
            update(Order).where(Order.id % (orders // FEW_ORDERS) == 7).values(user_id=few)
        )
        db.session.execute(
            update(Order)
            .where(Order.id % BUSY_SHOPPER_EVERY == 0)
            .values(user_id=busy, stripe_customer_id=f"cus_u{busy}")
        )
        db.session.execute(
            update(Subscription).where(Subscription.id.in_([1, 2])).values(user_id=busy)
        )
        for user_id in (busy, few):
            db.session.add(
                Customer(user_id=user_id, stripe_customer_id=f"cus_u{user_id}", created_at=START)
            )
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE"))
        db.session.commit()
        for key, user_id in (("busy_orders", busy), ("few_orders", few)):
            found[key] = db.session.execute(
                db.select(db.func.count()).select_from(Order).where(Order.user_id == user_id)
            ).scalar_one()
    return app, found, time.perf_counter() - started


class Statements:
    """Counts the SQL statements an engine runs."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: Any) -> None:
        self.count += 1


def timed(client: FlaskClient, path: str, repeat: int, counter: Statements) -> tuple[float, int]:
    """The median milliseconds of `repeat` requests for `path`, and the statements one ran."""
    samples = []
    for _ in range(repeat):
        counter.count = 0
        start = time.perf_counter()
        answer = client.get(path)
        samples.append(time.perf_counter() - start)
        assert answer.status_code == 200, (path, answer.status_code)
    return statistics.median(samples) * 1000, counter.count


def as_user(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    sign_in(client, email)
    return client


def saved_cards_answered(mock: responses.RequestsMock) -> None:
    """Stripe's list of a customer's cards, answered at once with none."""
    mock.add(
        "GET",
        re.compile(re.escape(API) + r"/v1/customers/[^/]+/payment_methods.*"),
        json={"object": "list", "data": [], "has_more": False, "url": "/v1/payment_methods"},
    )


def pages_at_scale(app: Flask, found: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Median time and statements of the account page (the busy shopper's first page and
    a later one; a shopper with a handful of orders) and the dashboard (each period)."""
    with app.app_context():
        engine = db.engine
    counter = Statements()
    event.listen(engine, "before_cursor_execute", counter)
    figures: dict[str, Any] = {}
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            saved_cards_answered(mock)
            shopper = as_user(app, BUSY_SHOPPER)
            few = as_user(app, FEW_ORDERS_SHOPPER)
            admin = as_user(app, ADMIN)
            runs = {
                "account_page": (shopper, "/account"),
                "account_page_later": (shopper, "/account?page=20"),
                "account_page_few_orders": (few, "/account"),
                "admin_page": (admin, "/admin/"),
                "admin_page_12m": (admin, "/admin/?period=12m"),
                "admin_page_7d": (admin, "/admin/?period=7d"),
            }
            for name, (client, path) in runs.items():
                ms, statements = timed(client, path, repeat, counter)
                figures[f"{name}_ms"] = round(ms, 2)
                figures[f"{name}_statements"] = statements
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    figures["account_page_orders"] = found["busy_orders"]
    figures["account_page_few_orders_orders"] = found["few_orders"]
    return figures


def measure(
    database_url: str | None,
    *,
    orders: int = 100_000,
    users: int = 10_000,
    members: int = 5_000,
    repeat: int = 20,
) -> dict[str, Any]:
    """The account page and the dashboard at `orders` orders (**the database's tables
    are dropped and made again**; None: a temporary SQLite file).

    Returns `account_page_ms_100k` (median ms of the account page of a shopper with
    1,000 orders), `admin_page_ms_100k` (the dashboard, 30 days), and the other pages'
    medians and every page's statement count (`…_statements`), with `orders` and
    `database` saying what was measured."""
    folder = Path(tempfile.mkdtemp(prefix="quire-bench-pages-"))
    url = database_url or f"sqlite:///{folder / 'pages.sqlite3'}"
    app, found, _ = build(url, folder, users, orders, members)
    figures = pages_at_scale(app, found, repeat)
    with app.app_context():
        dialect = db.engine.dialect.name
        db.engine.dispose()
    return {
        "account_page_ms_100k": figures["account_page_ms"],
        "admin_page_ms_100k": figures["admin_page_ms"],
        **figures,
        "orders": orders,
        "database": dialect,
    }


def main() -> None:
    options = arguments()
    folder = Path(tempfile.mkdtemp(prefix="quire-bench-lists-"))
    url = options.database_url or f"sqlite:///{folder / 'lists.sqlite3'}"
    app, found, filled = build(url, folder, options.users, options.orders, options.members)
    with app.app_context():
        engine = db.engine
    print(
        f"{engine.dialect.name}: {options.orders:,} orders, {options.users:,} accounts, "
        f"{options.members:,} memberships and invoices inserted in {filled:.1f} s"
    )
    client = as_user(app, ADMIN)
    counter = Statements()
    event.listen(engine, "before_cursor_execute", counter)
    busy = f"reader{found['busy_user']}@example.com"
    pages = [
        ("orders: first page", "/admin/orders"),
        (
            "orders: paid, one book, one month",
            "/admin/orders?status=paid&product=winter-orchard&from=2025-06-01&to=2025-06-30",
        ),
        ("orders: with abandoned", "/admin/orders?abandoned=1"),
        ("orders: search by email", f"/admin/orders?q={busy}"),
        ("orders: search by payment id", f"/admin/orders?q=pi_{found['last_order'] - 3}"),
        ("orders: search by customer id", f"/admin/orders?q=cus_{found['busy_user']}"),
        ("orders: deepest page (200)", "/admin/orders?page=200"),
        ("order: detail page", f"/admin/orders/{found['last_order']}"),
        ("members: first page", "/admin/members"),
        ("members: cancelling", "/admin/members?status=cancelling"),
        ("members: search by subscription", "/admin/members?q=sub_42"),
        ("member: detail page", "/admin/members/42"),
        ("customers: first page", "/admin/customers"),
        ("customers: members with paid orders", "/admin/customers?member=1&ordered=1"),
        ("customers: deepest page (200)", "/admin/customers?page=200"),
        ("customer: detail page", f"/admin/customers/{found['busy_user']}"),
    ]
    print(f"\n  {'page':<40} {'median':>10} {'statements':>11}   ({options.repeat} requests each)")
    for label, path in pages:
        ms, statements = timed(client, path, options.repeat, counter)
        print(f"  {label:<40} {ms:7.1f} ms {statements:>11}")

    counter.count = 0
    start = time.perf_counter()
    answer = client.get("/admin/orders?format=csv&abandoned=1")
    lines = answer.get_data(as_text=True).count("\n") - 1
    took = time.perf_counter() - start
    print(
        f"\n  CSV of every order: {lines:,} rows in {took:.1f} s "
        f"({lines / took:,.0f} rows/s, {counter.count} statements)"
    )
    event.remove(engine, "before_cursor_execute", counter)

    figures = pages_at_scale(app, found, options.repeat)
    shown = [
        ("dashboard (30 days)", "admin_page"),
        ("dashboard (12 months)", "admin_page_12m"),
        ("dashboard (7 days)", "admin_page_7d"),
        (f"account: {figures['account_page_orders']:,} orders, page 1", "account_page"),
        (f"account: {figures['account_page_orders']:,} orders, page 20", "account_page_later"),
        (
            f"account: {figures['account_page_few_orders_orders']} orders",
            "account_page_few_orders",
        ),
    ]
    print()
    for label, name in shown:
        print(f"  {label:<40} {figures[name + '_ms']:7.1f} ms {figures[name + '_statements']:>11}")


if __name__ == "__main__":
    main()
