"""Quire's webhook endpoint at Stripe: subscribed to exactly the events it handles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

from shop import stripe_api
from shop.events import HANDLERS


@dataclass(frozen=True)
class EndpointSetup:
    """The endpoint Stripe delivers to, and its signing secret when it was just made."""

    endpoint_id: str
    url: str
    created: bool
    secret: str | None


def ensure_webhook_endpoint(
    client: stripe.StripeClient, url: str, *, replace: bool = False
) -> EndpointSetup:
    """Make sure Stripe delivers Quire's events to `url` at the SDK's pinned API version.

    Stripe reveals an endpoint's secret only when it is created, so `replace=True` deletes
    an existing endpoint for `url` and makes a new one (used when the secret was lost).
    """
    events: Any = sorted(HANDLERS)  # the SDK types these as a Literal of every event name
    for endpoint in stripe_api.webhook_endpoints(client):
        if endpoint.url != url:
            continue
        if replace:
            stripe_api.delete_webhook_endpoint(client, endpoint.id)
            break
        if sorted(endpoint.enabled_events) != events or endpoint.status != "enabled":
            stripe_api.enable_webhook_endpoint(client, endpoint.id, events)
        return EndpointSetup(endpoint.id, url, created=False, secret=None)
    created = stripe_api.create_webhook_endpoint(client, url, events)
    return EndpointSetup(created.id, url, created=True, secret=created.secret)
