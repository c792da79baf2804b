"""A price changed in the catalogue file and synced is sold by the running shop at once:
no restart, through the shop's own port, paid at the sandbox."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from flask import Flask
from stripe_sandbox.flows import engine
from stripe_sandbox.testing import RunningSandbox

from shop.extensions import db
from shop.models import Order
from tests import helpers
from tests.integration.live_shop import LiveShop, paying_card

pytestmark = pytest.mark.sandbox

EBOOK = "salt-road-ebook"  # 699 in the test catalogue


def buy(live: LiveShop, shopper: requests.Session) -> str:
    """Buy the ebook through the served shop; the Checkout Session's id."""
    answer = shopper.post(
        f"{live.url}/checkout/books/{EBOOK}", data={"quantity": "1"}, allow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


def test_a_synced_price_change_is_sold_by_the_running_shop_without_a_restart(
    sandbox: RunningSandbox,
    serve_shop: Callable[..., LiveShop],
    make_app: Callable[..., Flask],
    tmp_path: Path,
) -> None:
    catalogue = tmp_path / "products.yaml"
    shutil.copy(helpers.TEST_CATALOGUE, catalogue)
    live = serve_shop(sandbox, CATALOGUE_PATH=str(catalogue))
    helpers.add_user(live.app)
    shopper = requests.Session()
    signed_in = shopper.post(
        f"{live.url}/login",
        data={"email": "reader@example.com", "password": helpers.PASSWORD},
        allow_redirects=False,
    )
    assert signed_in.status_code == 302
    first = live.stripe_client.v1.checkout.sessions.retrieve(buy(live, shopper))
    assert first.amount_total == 699

    catalogue.write_text(catalogue.read_text().replace("    price: 699\n", "    price: 749\n", 1))
    # The admin's release step, in a process of its own on the same database and Stripe.
    admin = make_app(
        STRIPE_API_BASE=sandbox.base_url,
        STRIPE_SECRET_KEY=sandbox.api_key,
        STRIPE_USES_SANDBOX=True,
        CATALOGUE_PATH=str(catalogue),
    )
    synced = admin.test_cli_runner().invoke(args=["catalog", "sync"])
    assert synced.exit_code == 0, synced.output
    assert "replace" in synced.output

    assert "£7.49" in shopper.get(f"{live.url}/books/{EBOOK}").text
    session_id = buy(live, shopper)
    session = live.stripe_client.v1.checkout.sessions.retrieve(
        session_id, params={"expand": ["line_items"]}
    )
    assert session.amount_total == 749
    assert session.line_items is not None
    price = session.line_items.data[0].price
    assert price is not None and (price.lookup_key, price.unit_amount) == (f"book:{EBOOK}", 749)

    paid = engine.pay_checkout_session(live.sandbox.state, session_id, paying_card())
    assert paid.status == "succeeded"
    order = live.wait_for(
        lambda: db.session.execute(
            db.select(Order).filter_by(checkout_session_id=session_id, status="paid")
        ).scalar_one_or_none()
    )
    assert order is not None and order.amount_paid == 749
