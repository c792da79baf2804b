"""One membership at a time, with Stripe faked: the database holds one open sign-up per
user, racing presses share one Checkout Session, a member switches instead of stacking,
and an unpaid sign-up gives way to another choice.

On SQLite, and on PostgreSQL when TEST_DATABASE_URL names one (as CI does).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from shop.extensions import db
from shop.models import Order, OrderItem, OrderStatus, Subscription, User
from tests import builders, helpers
from tests.stripe_fakes import API, example, listing

PRICES = {
    "plan:reader:month": 900,
    "plan:reader:year": 9000,
    "plan:patron:month": 2500,
    "plan:patron:year": 25000,
}


def price(lookup_key: str) -> dict[str, Any]:
    interval = lookup_key.rsplit(":", 1)[-1]
    return example(
        "price",
        id=f"price_{lookup_key.replace(':', '_')}",
        lookup_key=lookup_key,
        unit_amount=PRICES[lookup_key],
        currency="gbp",
        active=True,
        recurring={"interval": interval, "interval_count": 1},
    )


class FakeCheckout:
    """Stripe's prices, customers and Checkout Sessions, replaying by idempotency key as
    Stripe does, and counting the sessions it really made. Safe across threads.
    """

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.lock = threading.Lock()
        self.sessions: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.expired: list[str] = []
        mock.add_callback("GET", re.compile(API + r"/v1/prices\?.*"), callback=self.prices)
        mock.add("POST", API + "/v1/customers", json=example("customer", id="cus_reader"))
        mock.add_callback("POST", API + "/v1/checkout/sessions", callback=self.create)
        mock.add_callback(
            "GET", re.compile(API + r"/v1/checkout/sessions/cs_\w+(\?.*)?$"), callback=self.get
        )
        mock.add_callback(
            "POST", re.compile(API + r"/v1/checkout/sessions/cs_\w+/expire$"), callback=self.expire
        )

    def prices(self, request: Any) -> tuple[int, dict[str, str], str]:
        query = parse_qs(request.url.split("?", 1)[1])
        wanted = [v for k, vs in query.items() if k.startswith("lookup_keys") for v in vs]
        return 200, {}, json.dumps(listing("/v1/prices", [price(key) for key in wanted]))

    def create(self, request: Any) -> tuple[int, dict[str, str], str]:
        key = request.headers["Idempotency-Key"]
        with self.lock:
            if key not in self.by_key:
                session_id = f"cs_test_{len(self.sessions) + 1}"
                self.sessions[session_id] = example(
                    "checkout.session",
                    id=session_id,
                    status="open",
                    url=f"https://checkout.stripe.com/c/pay/{session_id}",
                    client_reference_id=parse_qs(request.body)["client_reference_id"][0],
                )
                self.by_key[key] = session_id
            return 200, {}, json.dumps(self.sessions[self.by_key[key]])

    def get(self, request: Any) -> tuple[int, dict[str, str], str]:
        session_id = request.url.split("/")[-1].split("?")[0]
        return 200, {}, json.dumps(self.sessions[session_id])

    def expire(self, request: Any) -> tuple[int, dict[str, str], str]:
        session_id = request.url.split("/")[-2]
        self.sessions[session_id].update(status="expired", url=None)
        self.expired.append(session_id)
        return 200, {}, json.dumps(self.sessions[session_id])


@pytest.fixture
def checkout(fake_stripe: responses.RequestsMock) -> FakeCheckout:
    return FakeCheckout(fake_stripe)


def membership_order(user: User, status: str = OrderStatus.PENDING) -> Order:
    order = Order(user=user, kind="membership", plan_key="reader", currency="gbp", amount_total=900)
    order.status = status
    order.items.append(
        OrderItem(
            item_key="reader",
            lookup_key="plan:reader:month",
            description="Reader membership",
            unit_amount=900,
            quantity=1,
        )
    )
    return order


def test_the_database_refuses_a_second_open_signup_for_one_user(
    app: Flask, add_user: Callable[..., int]
) -> None:
    add_user("a@example.com")
    add_user("b@example.com")
    with app.app_context():
        a, b = db.session.execute(db.select(User).order_by(User.id)).scalars().all()
        # Another user's sign-up, a finished one and a book order may all sit beside it.
        db.session.add_all(
            [
                membership_order(a),
                membership_order(b),
                membership_order(a, OrderStatus.EXPIRED),
                membership_order(a, OrderStatus.PAID),
                Order(user=a, kind="book", currency="gbp", amount_total=1299),
            ]
        )
        db.session.commit()
        db.session.add(membership_order(a))
        with pytest.raises(IntegrityError):
            db.session.commit()


def test_five_presses_at_once_make_one_signup_and_one_checkout_session(
    app: Flask, add_user: Callable[..., int], checkout: FakeCheckout
) -> None:
    add_user()
    tabs = [app.test_client() for _ in range(5)]
    for tab in tabs:
        helpers.sign_in(tab)
    start = threading.Barrier(len(tabs))
    locations: list[str | None] = []

    def press(tab: FlaskClient) -> None:
        start.wait()
        response = tab.post("/checkout/memberships/reader", data={"interval": "month"})
        locations.append(response.location if response.status_code == 303 else None)

    threads = [threading.Thread(target=press, args=(tab,)) for tab in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert locations == ["https://checkout.stripe.com/c/pay/cs_test_1"] * 5
    assert list(checkout.sessions) == ["cs_test_1"]
    with app.app_context():
        orders = db.session.execute(db.select(Order)).scalars().all()
        assert [(o.status, o.plan_key, o.checkout_session_id) for o in orders] == [
            ("pending", "reader", "cs_test_1")
        ]


def test_another_plan_expires_the_unpaid_signup_and_opens_its_own(
    app: Flask, client: FlaskClient, shopper: int, checkout: FakeCheckout
) -> None:
    first = client.post("/checkout/memberships/reader", data={"interval": "month"})
    again = client.post("/checkout/memberships/reader", data={"interval": "month"})
    other = client.post("/checkout/memberships/patron", data={"interval": "year"})

    assert first.location == again.location != other.location
    assert checkout.expired == ["cs_test_1"]
    with app.app_context():
        orders = db.session.execute(db.select(Order).order_by(Order.id)).scalars().all()
        assert [(o.plan_key, o.status) for o in orders] == [
            ("reader", "expired"),
            ("patron", "pending"),
        ]
        assert orders[1].checkout_session_id == "cs_test_2"


def test_a_signup_paid_meanwhile_is_recorded_not_replaced(
    app: Flask, client: FlaskClient, shopper: int, checkout: FakeCheckout, fake_stripe: Any
) -> None:
    client.post("/checkout/memberships/reader", data={"interval": "month"})
    # Paid on Stripe's page in another tab: Stripe refuses to expire it.
    checkout.sessions["cs_test_1"] = builders.session(
        "cs_test_1", 1, mode="subscription", payment_intent=None, amount_total=900
    )
    fake_stripe.upsert(
        "POST",
        re.compile(API + r"/v1/checkout/sessions/cs_\w+/expire$"),
        status=400,
        json={"error": {"type": "invalid_request_error", "message": "Session is complete"}},
    )
    refused = client.post("/checkout/memberships/patron", data={"interval": "year"})
    assert refused.status_code == 302
    assert "has just been paid" in client.get(refused.location).text
    with app.app_context():
        assert [o.status for o in db.session.execute(db.select(Order)).scalars()] == ["paid"]
    assert list(checkout.sessions) == ["cs_test_1"]


def member(app: Flask, **fields: Any) -> None:
    """The shopper holds a live Reader membership, billed monthly."""
    with app.app_context():
        values: dict[str, Any] = {
            "stripe_subscription_id": "sub_1",
            "user_id": 1,
            "stripe_customer_id": "cus_reader",
            "plan_key": "reader",
            "interval": "month",
            "status": "active",
            "current_period_end": datetime.now(UTC) + timedelta(days=12),
        }
        values.update(fields)
        db.session.add(Subscription(**values))
        db.session.commit()


def test_the_plan_page_names_your_plan_and_offers_a_switch(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    assert "Subscribe" in client.get("/memberships/reader").text
    member(app)
    own = client.get("/memberships/reader").text
    assert "Your plan" in own and "Switch to this plan" in own  # yearly is a switch
    other = client.get("/memberships/patron").text
    assert "Your plan" not in other and "Switch to this plan" in other
    assert "Try it free" not in client.get("/memberships/reader").text  # no second trial


def test_a_cancelling_member_is_offered_their_own_plan_to_keep_it(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    member(app, cancel_at_period_end=True)
    page = client.get("/memberships/reader").text
    assert "Your plan, ending" in page and "choose it to keep it going" in page
    assert "Switch to this plan" in page
    confirm = client.get("/memberships/reader/switch?interval=month").text
    assert "Switching keeps it going" in confirm


def test_a_member_pressing_subscribe_is_asked_to_confirm_a_switch(
    app: Flask, client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    member(app)
    pressed = client.post("/checkout/memberships/patron", data={"interval": "month"})
    assert pressed.status_code == 303
    assert pressed.location == "/memberships/patron/switch?interval=month"
    page = client.get(pressed.location).text
    assert "Reader, billed monthly" in page and "Patron, £25.00 a month" in page
    assert not fake_stripe.calls  # nothing changes before the shopper confirms
    same = client.get("/memberships/reader/switch?interval=month", follow_redirects=True)
    assert "is your plan already" in same.text


def test_confirming_a_switch_moves_the_item_to_the_new_price_with_prorations(
    app: Flask, client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    member(app, cancel_at_period_end=True)
    fake_stripe.add_callback(
        "GET",
        re.compile(API + r"/v1/prices\?.*"),
        callback=lambda request: (
            200,
            {},
            json.dumps(listing("/v1/prices", [price("plan:patron:year")])),
        ),
    )
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    switched = builders.subscription(metadata={"plan": "patron", "user_id": "1"})
    switched["items"]["data"][0]["price"] = price("plan:patron:year")
    fake_stripe.add("POST", API + "/v1/subscriptions/sub_1", json=switched)

    done = client.post("/memberships/patron/switch?interval=year")

    assert done.status_code == 303 and done.location == "/account"
    (update,) = [c.request for c in fake_stripe.calls if c.request.method == "POST"]
    params = {k: v[0] for k, v in parse_qs(update.body).items()}
    assert params["items[0][id]"] == "si_1"
    assert params["items[0][price]"] == "price_plan_patron_year"
    assert params["proration_behavior"] == "create_prorations"
    assert params["cancel_at_period_end"] == "false"
    with app.app_context():
        row = db.session.execute(db.select(Subscription)).scalar_one()
        assert (row.plan_key, row.interval, row.cancel_at_period_end) == ("patron", "year", False)
    assert "Your membership is now Patron, billed every year." in client.get("/account").text


def test_upgrading_keeps_each_user_s_newest_open_signup(
    tmp_path: Path,
    make_app: Callable[..., Flask],
    run_flask: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """A shop that already holds several open sign-ups for one user can still migrate:
    the newest stays pending, the older ones are marked expired, and orders name their plan.
    """
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'upgraded.sqlite3'}"
    if os.environ.get("TEST_DATABASE_URL"):
        helpers.empty_database(make_app())
    before = run_flask("db", "upgrade", "fb3bb2810ec2", DATABASE_URL=url, SECRET_KEY="x")
    assert before.returncode == 0, before.stderr
    engine = create_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, email, password_hash, is_admin, created_at) "
                "VALUES (1, 'a@example.com', 'x', :no, :now)"
            ),
            {"no": False, "now": now},
        )
        for order_id, kind, key in (
            (1, "membership", "reader"),
            (2, "membership", "patron"),
            (3, "book", "the-salt-road"),
        ):
            connection.execute(
                text(
                    "INSERT INTO orders (id, user_id, kind, status, currency, amount_total, "
                    "amount_refunded, ships, holds_stock, checkout_attempts, created_at, "
                    "updated_at) VALUES (:id, 1, :kind, 'pending', 'gbp', 900, 0, :no, :no, 0, "
                    ":now, :now)"
                ),
                {"id": order_id, "kind": kind, "no": False, "now": now},
            )
            connection.execute(
                text(
                    "INSERT INTO order_items (order_id, item_key, lookup_key, description, "
                    "unit_amount, quantity) VALUES (:id, :key, 'k', 'd', 900, 1)"
                ),
                {"id": order_id, "key": key},
            )

    after = run_flask("db", "upgrade", DATABASE_URL=url, SECRET_KEY="x")
    assert after.returncode == 0, after.stderr
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, status, plan_key FROM orders ORDER BY id")).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [
        (1, "expired", "reader"),
        (2, "pending", "patron"),
        (3, "pending", None),
    ]
