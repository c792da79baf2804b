"""The sandbox dashboard: what the sandbox holds, events and their deliveries."""

from __future__ import annotations

import pytest
from stripe import StripeClient
from stripe_sandbox.testing import RunningSandbox

from .helpers import Receiver
from .pages_support import BANNER, Visitor, text_of

pytestmark = pytest.mark.sandbox


def test_root_redirects_to_dashboard(sandbox: RunningSandbox) -> None:
    """`/` is the dashboard's front door."""
    response = Visitor(sandbox).get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/dashboard")


def test_dashboard_lists_objects_made_through_the_api(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Products, prices (with formatted amounts) and customers appear, newest first."""
    product = stripe_client.v1.products.create(params={"name": "Dune"})
    stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "unit_amount": 1299,
            "currency": "gbp",
            "lookup_key": "book:dune",
        }
    )
    stripe_client.v1.customers.create(params={"email": "older@example.com"})
    stripe_client.v1.customers.create(params={"email": "newer@example.com"})

    response = Visitor(sandbox).get("/dashboard")

    assert response.status_code == 200
    text = text_of(response.text)
    assert BANNER in text
    assert "Dune" in text
    assert "£12.99" in text
    assert "book:dune" in text
    assert text.index("newer@example.com") < text.index("older@example.com")
    assert "Customers (2)" in text


def test_dashboard_lists_coupons_and_shipping_rates(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Coupons (with what they take off) and shipping rates have their own tables."""
    stripe_client.v1.coupons.create(
        params={"id": "SIX", "name": "Six off", "amount_off": 600, "currency": "gbp"}
    )
    stripe_client.v1.shipping_rates.create(
        params={
            "display_name": "Royal Mail 2nd class",
            "type": "fixed_amount",
            "fixed_amount": {"amount": 295, "currency": "gbp"},
        }
    )

    text = text_of(Visitor(sandbox).get("/dashboard").text)

    assert "Coupons (1)" in text and "Six off" in text and "£6.00" in text
    assert "Shipping rates (1)" in text and "Royal Mail 2nd class" in text


def test_event_page_shows_json_and_delivery_attempts(
    sandbox: RunningSandbox, stripe_client: StripeClient, receiver: Receiver
) -> None:
    """An event's page shows its JSON and each attempt: URL, status code, response head."""
    receiver.statuses = [500]  # first attempt fails, the retry succeeds
    stripe_client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["customer.created"]}
    )
    customer = stripe_client.v1.customers.create(params={"email": "reader@example.com"})
    receiver.wait_for(lambda events: len(events) == 2)
    event = stripe_client.v1.events.list(params={"type": "customer.created"}).data[0]
    visitor = Visitor(sandbox)

    dashboard = text_of(visitor.get("/dashboard").text)
    assert event.id in dashboard
    page = visitor.get(f"/dashboard/events/{event.id}")

    assert page.status_code == 200
    text = text_of(page.text)
    assert BANNER in text
    assert "customer.created" in text
    assert customer.id in text
    assert text.count(receiver.url) == 2
    assert "500" in text and "200" in text
    assert '"received": true' in text


def test_object_page_shows_stored_json(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Ids in the tables lead to the object's JSON."""
    product = stripe_client.v1.products.create(params={"name": "The Left Hand of Darkness"})
    page = Visitor(sandbox).get(f"/dashboard/objects/{product.id}")
    assert page.status_code == 200
    assert '"name": "The Left Hand of Darkness"' in text_of(page.text)


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/events/evt_missing",
        "/dashboard/objects/prod_missing",
        "/checkout/cs_test_missing",
        "/portal/bps_missing",
    ],
)
def test_unknown_ids_are_404(sandbox: RunningSandbox, path: str) -> None:
    """A page for an id the sandbox does not hold is a 404, not a crash."""
    assert Visitor(sandbox).get(path).status_code == 404
