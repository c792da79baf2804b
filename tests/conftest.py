"""The shop's fixtures: an app on a fresh database and the test catalogue, its clients,
accounts, signed webhooks and fake Stripe; and, for the sandbox and integration tests, a
running Stripe sandbox and the real SDK aimed at it. Plain helpers and constants:
`tests.helpers`."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import event as sa_event
from stripe import StripeClient
from stripe_sandbox.testing import RunningSandbox, running_sandbox

from shop.extensions import db
from tests import builders, helpers, stripe_fakes

pytest_plugins = ["tests.browsing"]


@pytest.fixture
def catalogue_file() -> Path:
    """The tests' own catalogue (`tests/fixtures/catalogue.yaml`), which every test app sells."""
    return helpers.TEST_CATALOGUE


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build a test app with config `overrides` (its tables are not created)."""
    built: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app = helpers.build_app(tmp_path, **overrides)
        built.append(app)
        return app

    yield make
    for app in built:
        helpers.close_database(app)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    """The shop on a fresh database, selling the test catalogue, Stripe faked."""
    app = make_app()
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
    """Flask's test client for `app`."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """Flask's CLI runner for `app`: `runner.invoke(args=["catalog", "sync"])`."""
    return app.test_cli_runner()


@pytest.fixture
def run_flask() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`run_flask("catalog", "check", CATALOGUE_PATH=...)`: the real `flask --app wsgi`
    in a subprocess, keyword arguments added to its environment."""
    return helpers.run_flask


@pytest.fixture
def fake_stripe() -> Iterator[responses.RequestsMock]:
    """Stripe over HTTP; any request a test did not expect fails it."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def add_user(app: Flask) -> Callable[..., int]:
    """`add_user(email="reader@example.com", admin=False)`: an account in `app`; its id."""

    def add(email: str = "reader@example.com", *, admin: bool = False) -> int:
        return helpers.add_user(app, email, admin=admin)

    return add


@pytest.fixture
def sign_in(client: FlaskClient) -> Callable[..., None]:
    """`sign_in(email="reader@example.com")`: `client` signs in to that account."""

    def sign(email: str = "reader@example.com") -> None:
        helpers.sign_in(client, email)

    return sign


@pytest.fixture
def shopper(add_user: Callable[..., int], sign_in: Callable[..., None]) -> int:
    """A signed-in shopper's user id."""
    user_id = add_user()
    sign_in()
    return user_id


@pytest.fixture
def post_event(client: FlaskClient) -> Callable[..., Any]:
    """`post_event(body, secret=WEBHOOK_SECRET, timestamp=None, client=None)`: deliver a
    Stripe event to the shop's webhook, signed; through `client` unless another is given."""

    def post(
        body: dict[str, Any],
        secret: str = helpers.WEBHOOK_SECRET,
        timestamp: int | None = None,
        client: FlaskClient = client,
    ) -> Any:
        return helpers.post_event(client, body, secret, timestamp)

    return post


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    """A fresh Stripe sandbox served on 127.0.0.1, with its retry schedule compressed."""
    with running_sandbox(tmp_path / "stripe-sandbox.sqlite3") as running:
        yield running


@pytest.fixture
def stripe_client(sandbox: RunningSandbox) -> StripeClient:
    """The real SDK aimed at the sandbox."""
    return sandbox.client()


@pytest.fixture
def stripe_shop(fake_stripe: responses.RequestsMock) -> stripe_fakes.FakeStripe:
    """Stripe faked for checkouts: the test catalogue's prices, one customer, sessions."""
    return stripe_fakes.FakeStripe(fake_stripe)


@pytest.fixture
def paid_session(app: Flask, fake_stripe: responses.RequestsMock) -> dict[str, Any]:
    """A pending order of The Salt Road, and Stripe saying its session is paid."""
    order_id = builders.add_order(app)
    body = builders.session(order_id=order_id)
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", body)
    return body


@pytest.fixture
def statements(app: Flask) -> Iterator[helpers.StatementCounter]:
    """Counts the statements `app`'s engine runs: `helpers.statements_of(client, statements,
    path)` for one page."""
    counter = helpers.StatementCounter()
    with app.app_context():
        engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", counter)
    yield counter
    sa_event.remove(engine, "before_cursor_execute", counter)
