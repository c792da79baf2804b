"""Quire served on a real port against a running Stripe sandbox (fixtures: its conftest)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Flask
from flask.testing import FlaskClient
from stripe import StripeClient
from stripe_sandbox.flows import engine
from stripe_sandbox.testing import RunningSandbox
from werkzeug.serving import make_server
from werkzeug.wsgi import ClosingIterator

from shop.endpoints import ensure_webhook_endpoint
from shop.extensions import db
from shop.models import Customer, User
from tests import helpers

T = TypeVar("T")


@dataclass
class LiveShop:
    """Quire served on a real port, its Stripe being a sandbox that delivers webhooks to it."""

    app: Flask
    url: str
    sandbox: RunningSandbox
    stripe_client: StripeClient

    def signed_in_shopper(self, email: str = "reader@example.com") -> FlaskClient:
        """A new account, and a Flask test client signed in to it."""
        helpers.add_user(self.app, email)
        client = self.app.test_client()
        helpers.sign_in(client, email)
        return client

    def wait_for(self, read: Callable[[], T], timeout: float = 15.0) -> T:
        """Poll `read` (inside the app) until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            with self.app.app_context():
                value = read()
                db.session.remove()
            if value or time.monotonic() > deadline:
                return value
            self.sandbox.state.wake_worker()
            time.sleep(0.05)

    def customer_on_a_clock(self) -> str:
        """Give the (only) shopper a Stripe customer on a new test clock; returns the clock."""
        clock = self.stripe_client.v1.test_helpers.test_clocks.create(
            params={"frozen_time": int(time.time()), "name": "membership"}
        )

        def link() -> None:
            user = db.session.execute(db.select(User)).scalar_one()
            customer = self.stripe_client.v1.customers.create(
                params={
                    "email": user.email,
                    "test_clock": clock.id,
                    "metadata": {"user_id": str(user.id)},
                }
            )
            db.session.add(Customer(user_id=user.id, stripe_customer_id=customer.id))
            db.session.commit()

        self.read(link)
        return clock.id

    def advance_clock(self, clock_id: str, days: int) -> None:
        """Move a test clock `days` forward; the sandbox runs what falls due meanwhile."""
        clock = self.stripe_client.v1.test_helpers.test_clocks.retrieve(clock_id)
        self.stripe_client.v1.test_helpers.test_clocks.advance(
            clock_id, params={"frozen_time": clock.frozen_time + days * 86_400}
        )

    def read(self, query: Callable[[], T]) -> T:
        with self.app.app_context():
            try:
                return query()
            finally:
                db.session.remove()


class InFlight:
    """WSGI middleware counting requests not yet finished, including the work a response
    does once it is closed (the mail it sends), so the server can be stopped only after
    them: a request thread still holding a database connection when the test's engine
    is disposed would leave that connection open."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.count = 0
        self.idle = threading.Condition()

    def _done(self) -> None:
        with self.idle:
            self.count -= 1
            self.idle.notify_all()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        with self.idle:
            self.count += 1
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self._done()
            raise
        return ClosingIterator(result, self._done)

    def wait(self, timeout: float = 10.0) -> None:
        with self.idle:
            self.idle.wait_for(lambda: self.count == 0, timeout)


@contextmanager
def serve(
    make_app: Callable[..., Flask], sandbox: RunningSandbox, **overrides: Any
) -> Iterator[LiveShop]:
    """Build the shop for `sandbox`, sync the catalogue, register its webhook, serve it."""
    app = make_app(
        STRIPE_API_BASE=sandbox.base_url,
        STRIPE_SECRET_KEY=sandbox.api_key,
        STRIPE_USES_SANDBOX=True,
        **overrides,
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
    in_flight = InFlight(app)
    server = make_server("127.0.0.1", 0, in_flight, threaded=True)
    url = f"http://127.0.0.1:{server.port}"
    app.config["SITE_URL"] = url
    sync = app.test_cli_runner().invoke(args=["catalog", "sync"])
    assert sync.exit_code == 0, sync.output
    stripe_client = sandbox.client()
    setup = ensure_webhook_endpoint(stripe_client, f"{url}/webhooks/stripe")
    assert setup.secret
    app.config["STRIPE_WEBHOOK_SECRETS"] = (setup.secret,)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield LiveShop(app=app, url=url, sandbox=sandbox, stripe_client=stripe_client)
    finally:
        server.shutdown()
        in_flight.wait()
        server.server_close()
        with app.app_context():
            db.session.remove()
            db.drop_all()


def paying_card(
    number: str = "4242424242424242", email: str = "reader@example.com", **more: Any
) -> engine.PaymentDetails:
    """What the shopper types on the sandbox's hosted page: a card valid three more years."""
    return engine.PaymentDetails(
        email=email,
        card_number=number,
        exp_month=12,
        exp_year=datetime.now(UTC).year + 3,
        cvc="123",
        cardholder_name="Ada Reader",
        **more,
    )
