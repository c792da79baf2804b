"""Shared fixtures: an app on a fresh database, a client, a signed-in shopper, fake Stripe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from shop import create_app
from shop.extensions import db
from shop.models import User
from tests import stripe_fakes

pytest_plugins = ["tests.browsing"]

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "whsec_test_current"
OLD_WEBHOOK_SECRET = "whsec_test_previous"
#: The tests' own catalogue; the shipped products.yaml is read only to check it is valid.
TEST_CATALOGUE = Path(__file__).resolve().parent / "fixtures" / "catalogue.yaml"
SHIPPED_CATALOGUE = ROOT / "products.yaml"


def run_flask(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`flask --app wsgi ARGS` as an admin would run it, with `env` added to the environment."""
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


def database_url(tmp_path: Path) -> str:
    """PostgreSQL when TEST_DATABASE_URL is set (CI), else a SQLite file per test."""
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'quire.sqlite3'}"


def make_app(tmp_path: Path, **overrides: Any) -> Flask:
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
    }
    config.update(overrides)
    app = create_app(config)
    _built.append(app)
    return app


_built: list[Flask] = []


@pytest.fixture(autouse=True)
def _close_databases() -> Iterator[None]:
    """Close every app's connection pool after each test, so none leaks into the next."""
    yield
    while _built:
        with _built.pop().app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = make_app(tmp_path)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def fake_stripe() -> Iterator[responses.RequestsMock]:
    """Stripe over HTTP; any request a test did not expect fails it."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def add_user(app: Flask, email: str = "reader@example.com", *, admin: bool = False) -> int:
    with app.app_context():
        user = User(email=email, is_admin=admin)
        user.set_password("correct horse battery")
        db.session.add(user)
        db.session.commit()
        return user.id


def sign_in(client: FlaskClient, email: str = "reader@example.com") -> None:
    response = client.post("/login", data={"email": email, "password": "correct horse battery"})
    assert response.status_code == 302, response.text


@pytest.fixture
def shopper(app: Flask, client: FlaskClient) -> int:
    """A signed-in shopper's user id."""
    user_id = add_user(app)
    sign_in(client)
    return user_id


def post_event(
    client: FlaskClient, body: dict[str, Any], secret: str = WEBHOOK_SECRET, **kwargs: Any
) -> Any:
    payload = json.dumps(body).encode()
    return client.post(
        "/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": stripe_fakes.signature(payload, secret, **kwargs)},
        content_type="application/json",
    )
