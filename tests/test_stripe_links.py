"""Admin pages link each Stripe id to the object in the dashboard the shop really uses."""

from __future__ import annotations

import pytest
from flask import Flask

from shop.stripe_links import stripe_dashboard_url


def _app(**config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    return app


@pytest.mark.parametrize(
    ("object_id", "path"),
    [
        ("cus_A1", "customers/cus_A1"),
        ("sub_A1", "subscriptions/sub_A1"),
        ("in_A1", "invoices/in_A1"),
        ("pi_A1", "payments/pi_A1"),
        ("evt_A1", "events/evt_A1"),
    ],
)
def test_a_test_key_links_to_the_test_mode_dashboard(object_id: str, path: str) -> None:
    app = _app(STRIPE_SECRET_KEY="sk_test_x", STRIPE_USES_SANDBOX=False)
    assert stripe_dashboard_url(object_id, app) == f"https://dashboard.stripe.com/test/{path}"


def test_a_live_key_links_to_the_live_dashboard() -> None:
    app = _app(STRIPE_SECRET_KEY="sk_live_x", STRIPE_USES_SANDBOX=False)
    assert stripe_dashboard_url("cus_A1", app) == "https://dashboard.stripe.com/customers/cus_A1"


def test_the_sandbox_links_to_its_own_dashboard() -> None:
    app = _app(STRIPE_USES_SANDBOX=True, STRIPE_API_BASE="http://127.0.0.1:12111/")
    assert stripe_dashboard_url("sub_A1", app) == "http://127.0.0.1:12111/dashboard/objects/sub_A1"


@pytest.mark.parametrize("object_id", [None, "", "order-12", "xyz_1"])
def test_no_link_for_what_is_not_a_stripe_id(object_id: str | None) -> None:
    app = _app(STRIPE_SECRET_KEY="sk_test_x", STRIPE_USES_SANDBOX=False)
    assert stripe_dashboard_url(object_id, app) is None
