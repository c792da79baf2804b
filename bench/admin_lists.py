"""How the admin's lists cope with a big shop: `make bench-lists`.

Fills a database with 100,000 orders (bulk inserts), 10,000 accounts and 5,000
memberships with their Stripe customers and invoices, then asks each list page — first
page, filtered, searched, the deepest page, a detail page, a CSV — through the app as a
signed-in admin, and prints the median time and the SQL statements each page ran.

PostgreSQL with `--database-url` (or `TEST_DATABASE_URL`): **its tables are dropped and
made again**. Without either, a temporary SQLite file. Figures, not pass/fail; the tests
check that the statement count per page does not grow with the orders
(`tests/test_admin_lists.py`).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shop.extensions import db  # noqa: E402
from shop.models import Customer, Invoice, Order, OrderItem, Subscription, User  # noqa: E402
from tests.helpers import add_user, build_app, sign_in  # noqa: E402

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


def main() -> None:
    options = arguments()
    folder = Path(tempfile.mkdtemp(prefix="quire-bench-lists-"))
    url = options.database_url or f"sqlite:///{folder / 'lists.sqlite3'}"
    # The tests' settings (fake Stripe key, the test catalogue) on this database.
    app = build_app(folder, SQLALCHEMY_DATABASE_URI=url, TESTING=False)
    with app.app_context():
        db.drop_all()
        db.create_all()
        started = time.perf_counter()
        found = fill(options.users, options.orders, options.members)
        if db.engine.dialect.name == "postgresql":
            given = {
                "users": options.users,
                "orders": options.orders,
                "subscriptions": options.members,
            }
            for table, top in given.items():  # ids were given: move the id counters past them
                db.session.execute(
                    text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :top)"),
                    {"table": table, "top": top},
                )
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        filled = time.perf_counter() - started
        engine = db.engine
    print(
        f"{engine.dialect.name}: {options.orders:,} orders, {options.users:,} accounts, "
        f"{options.members:,} memberships and invoices inserted in {filled:.1f} s"
    )
    add_user(app, "owner@example.com", admin=True)
    client = app.test_client()
    sign_in(client, "owner@example.com")

    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine, "before_cursor_execute", count)
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
        samples = []
        for _ in range(options.repeat):
            statements = 0
            start = time.perf_counter()
            answer = client.get(path)
            samples.append(time.perf_counter() - start)
            assert answer.status_code == 200, (path, answer.status_code)
        print(f"  {label:<40} {statistics.median(samples) * 1000:7.1f} ms {statements:>11}")

    statements = 0
    start = time.perf_counter()
    answer = client.get("/admin/orders?format=csv&abandoned=1")
    lines = answer.get_data(as_text=True).count("\n") - 1
    took = time.perf_counter() - start
    print(
        f"\n  CSV of every order: {lines:,} rows in {took:.1f} s "
        f"({lines / took:,.0f} rows/s, {statements} statements)"
    )


if __name__ == "__main__":
    main()
