"""A Stripe that accepts connections and never answers: the shopper gets the friendly
page (order kept, Try again) long before gunicorn's worker timeout, never a bare error."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from config import Settings
from shop import stripe_client
from shop.extensions import db
from shop.models import Order, StripePrice
from tests import helpers

#: gunicorn's default worker timeout: a request still running then is killed.
GUNICORN_TIMEOUT_SECONDS = 30


@pytest.fixture
def silent_stripe() -> Iterator[tuple[str, list[socket.socket]]]:
    """A server that accepts every connection, reads nothing and answers nothing."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _address = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", held
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_a_checkout_against_a_stripe_that_never_answers_gets_the_friendly_page(
    make_app: Callable[..., Flask], silent_stripe: tuple[str, list[socket.socket]]
) -> None:
    address, connections = silent_stripe
    app = make_app(STRIPE_API_BASE=address, STRIPE_TIMEOUT_SECONDS=1, STRIPE_MAX_NETWORK_RETRIES=1)
    with app.app_context():
        db.create_all()
        # As `catalog sync` left them: checkout asks Stripe for no price.
        db.session.add(
            StripePrice(
                lookup_key="book:the-salt-road",
                stripe_price_id="price_salt",
                amount=1299,
                currency="gbp",
                interval=None,
            )
        )
        db.session.commit()
    helpers.add_user(app)
    client = app.test_client()
    helpers.sign_in(client)

    page = client.post("/checkout/books/the-salt-road", data={"quantity": "1", "ship_to": "GB"})

    assert page.status_code == 503
    assert "your order is saved" in page.text and "Try again" in page.text
    assert len(connections) == 2  # the first attempt and one retry, each given up on
    with app.app_context():
        order = db.session.execute(db.select(Order)).scalar_one()
        assert order.status == "pending"
        assert "APIConnectionError" in (order.last_error or "")


def test_the_shop_gives_up_on_stripe_well_before_gunicorn_gives_up_on_the_shop() -> None:
    settings = Settings.from_env({"STRIPE_SECRET_KEY": "sk_test_x"})
    longest = stripe_client.longest_wait_seconds(
        settings.stripe_timeout_seconds, stripe_client.MAX_NETWORK_RETRIES
    )
    assert longest < stripe_client.SHOPPER_WAIT_LIMIT_SECONDS < GUNICORN_TIMEOUT_SECONDS
    built = stripe_client.build_client("sk_test_x", read_timeout=settings.stripe_timeout_seconds)
    assert built._requestor._client._timeout == (  # type: ignore[attr-defined]
        stripe_client.CONNECT_TIMEOUT_SECONDS,
        settings.stripe_timeout_seconds,
    )


def test_a_timeout_that_could_outlast_a_worker_stops_start_up() -> None:
    with pytest.raises(Exception, match="STRIPE_TIMEOUT_SECONDS"):
        Settings.from_env({"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_TIMEOUT_SECONDS": "0"})
