"""Plain helpers for the shop's tests: settings, a test app, accounts, signed webhooks.

Tests get these through the fixtures in `tests/conftest.py`; the integration fixtures
use them directly. Nothing here is a fixture.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import selectinload

from shop import create_app
from shop.checkout import cart
from shop.extensions import db
from shop.models import Mail, Order, StockLevel, User
from tests import stripe_fakes

ROOT = Path(__file__).resolve().parent.parent
#: The tests' own catalogue; the shipped products.yaml is read only to check it is valid.
TEST_CATALOGUE = Path(__file__).resolve().parent / "fixtures" / "catalogue.yaml"
SHIPPED_CATALOGUE = ROOT / "products.yaml"
WEBHOOK_SECRET = "whsec_test_current"
OLD_WEBHOOK_SECRET = "whsec_test_previous"
PASSWORD = "correct horse battery"


def database_url(tmp_path: Path) -> str:
    """PostgreSQL when TEST_DATABASE_URL is set (CI), else a SQLite file per test."""
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'quire.sqlite3'}"


def build_app(tmp_path: Path, **overrides: Any) -> Flask:
    """The shop configured for tests (fake Stripe keys, the test catalogue), plus `overrides`."""
    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url(tmp_path),
        "STRIPE_SECRET_KEY": "sk_test_unit",
        "STRIPE_API_BASE": None,
        "STRIPE_USES_SANDBOX": False,
        "STRIPE_MAX_NETWORK_RETRIES": 0,
        "STRIPE_WEBHOOK_SECRETS": (WEBHOOK_SECRET, OLD_WEBHOOK_SECRET),
        "SITE_URL": "http://shop.test",
        "CATALOGUE_PATH": str(TEST_CATALOGUE),
        "WTF_CSRF_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        # Events applied before the webhook answers; tests/test_queue.py runs the queue.
        "QUEUE_MODE": "inline",
        # One round of PBKDF2 instead of scrypt: the tests sign in thousands of times.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1",
    }
    config.update(overrides)
    return create_app(config)


def close_database(app: Flask) -> None:
    """Close `app`'s connection pool, so none leaks into the next test."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def empty_database(app: Flask) -> None:
    """No tables at all, as on a fresh Heroku Postgres (the queue's tables gone too), so
    `flask db upgrade` builds everything."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("DROP SCHEMA public CASCADE"))
            db.session.execute(text("CREATE SCHEMA public"))
        else:
            db.drop_all()
            db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()


def add_user(app: Flask, email: str = "reader@example.com", *, admin: bool = False) -> int:
    """An account (a shopper, or the shop's owner if `admin`); returns its id."""
    with app.app_context():
        user = User(email=email, is_admin=admin)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        return user.id


def sign_in(client: FlaskClient, email: str = "reader@example.com") -> None:
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.text


def refund_form(
    client: FlaskClient, order_id: int, amount: str = "", *, everything: bool = False
) -> dict[str, str]:
    """The admin's refund form for an order as its page renders it, with the page's
    one-time token, filled with `amount`, or sent with "Refund everything left"."""
    page = client.get(f"/admin/orders/{order_id}")
    assert page.status_code == 200, page.status_code
    match = re.search(r'name="token" type="hidden" value="([^"]+)"', page.text)
    assert match, "the order page has a refund form with its one-time token"
    return {
        "amount": amount,
        "token": match.group(1),
        **({"everything": "y"} if everything else {}),
    }


def link_in(mail: Mail, path_prefix: str) -> str:
    """The path of the first link in `mail` to this shop that begins with `path_prefix`."""
    match = re.search(
        r"https?://[^/\s]+(" + re.escape(path_prefix) + r"[^\s<>\"']*)", mail.text_body
    )
    assert match is not None, mail.text_body
    return match.group(1)


def sign_up(
    app: Flask,
    client: FlaskClient,
    email: str = "reader@example.com",
    password: str = PASSWORD,
    *,
    next_path: str | None = None,
) -> Any:
    """Sign up as a shopper does: the form, then the link in the mail, then its button."""
    query = f"?next={next_path}" if next_path else ""
    answer = client.post(
        "/register" + query, data={"email": email, "password": password, "confirm": password}
    )
    assert answer.status_code == 200 and "Check your inbox" in answer.text, answer.text
    confirm = mails_to(app, email, "confirm_signup")[-1]
    link = link_in(confirm, "/register/confirm/")
    shown = client.get(link)
    assert "Finish creating your account for" in shown.text, shown.text
    return client.post(link, data=form_token(shown.text), follow_redirects=True)


def form_token(page: str) -> dict[str, str]:
    """The CSRF field of the first form on `page` (empty when CSRF is off in tests)."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]*)"', page)
    return {"csrf_token": match.group(1)} if match else {}


def post_event(
    client: FlaskClient,
    body: dict[str, Any],
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
) -> Any:
    """Deliver `body` to the shop's webhook, signed with `secret` as Stripe signs it."""
    payload = json.dumps(body).encode()
    return client.post(
        "/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": stripe_fakes.signature(payload, secret, timestamp)},
        content_type="application/json",
    )


def run_flask(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`flask --app wsgi ARGS` as an admin would run it, on the test catalogue unless `env`
    names another."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "QUIRE_ENV": "development",
            "CATALOGUE_PATH": str(TEST_CATALOGUE),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def basket_of(app: Flask, email: str = "reader@example.com") -> dict[str, int]:
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
        return cart.UserBasket(user).lines()


def level(app: Flask, key: str = "letters-from-the-lighthouse") -> tuple[int, int]:
    """(held, sold) copies of a book."""
    with app.app_context():
        row = db.session.get(StockLevel, key)
        return (row.held, row.sold) if row else (0, 0)


def only_order(app: Flask) -> Order:
    with app.app_context():
        return db.session.execute(db.select(Order).options(selectinload(Order.items))).scalar_one()


def catalogue_with_discounts(reader: int = 10, patron: int = 20) -> str:
    """The test catalogue with print discounts on its plans (it has none of its own)."""
    raw = yaml.safe_load(TEST_CATALOGUE.read_text())
    for plan, percent in zip(raw["plans"], (reader, patron), strict=True):
        plan["benefits"]["print_discount"] = percent
    return yaml.safe_dump(raw, sort_keys=False)


def mails_to(app: Flask, address: str, kind: str | None = None) -> list[Mail]:
    """The mails the shop wrote to `address` (of one `kind`), oldest first."""
    with app.app_context():
        query = db.select(Mail).filter_by(to_address=address).order_by(Mail.id)
        if kind is not None:
            query = query.filter_by(kind=kind)
        return list(db.session.execute(query).scalars())


class StatementCounter:
    """Counts the SQL statements the app's engine runs (the `statements` fixture)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: Any) -> None:
        self.count += 1


def statements_of(client: FlaskClient, counter: StatementCounter, path: str) -> int:
    """The statements one GET of `path` runs (it must answer 200)."""
    counter.count = 0
    assert client.get(path).status_code == 200
    return counter.count
