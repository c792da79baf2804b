"""Quire's webhook endpoint at Stripe: subscribed to exactly the events it handles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import stripe

from shop import stripe_api
from shop.events import HANDLERS

#: Where Quire receives Stripe's events, below `SITE_URL`.
WEBHOOK_PATH = "/webhooks/stripe"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def webhook_url(site_url: str) -> str:
    """The webhook's address for a shop at `site_url`."""
    return site_url.rstrip("/") + WEBHOOK_PATH


def is_local(url: str) -> bool:
    """Whether `url` names this machine (only such an address belongs in the sandbox)."""
    host = urlsplit(url).hostname or ""
    return host in LOCAL_HOSTS or host.endswith(".localhost")


def sandbox_refusal(url: str, *, uses_sandbox: bool) -> str | None:
    """Why `url` must not be registered here: with no Stripe key the endpoint would land in
    the local sandbox, not the deployer's Stripe account. None when it may be."""
    if not uses_sandbox or is_local(url):
        return None
    return (
        f"no STRIPE_SECRET_KEY: this would register {url} in the local sandbox, not your "
        "Stripe account; set STRIPE_SECRET_KEY=sk_… (or run `release` on the platform)"
    )


def wanted_events() -> list[str]:
    """The events Quire handles, which its endpoint is subscribed to (exactly these)."""
    return sorted(HANDLERS)


@dataclass(frozen=True)
class EndpointSetup:
    """The endpoint Stripe delivers to, and its signing secret when it was just made."""

    endpoint_id: str
    url: str
    created: bool
    secret: str | None
    updated: bool = False


def find_endpoint(client: stripe.StripeClient, url: str) -> stripe.WebhookEndpoint | None:
    """The account's endpoint for `url` (listed, not retrieved one by one), if any."""
    for endpoint in stripe_api.webhook_endpoints(client):
        if endpoint.url == url:
            return endpoint
    return None


def ensure_webhook_endpoint(
    client: stripe.StripeClient, url: str, *, replace: bool = False
) -> EndpointSetup:
    """Make sure Stripe delivers Quire's events to `url` at the SDK's pinned API version.

    Stripe reveals an endpoint's secret only when it is created, so `replace=True` deletes
    an existing endpoint for `url` and makes a new one (used when the secret was lost). An
    endpoint at another API version is replaced too: Stripe cannot change that in place.
    """
    events: Any = wanted_events()  # the SDK types these as a Literal of every event name
    endpoint = find_endpoint(client, url)
    if endpoint is not None:
        if replace or endpoint.api_version != stripe.api_version:
            stripe_api.delete_webhook_endpoint(client, endpoint.id)
        elif sorted(endpoint.enabled_events) != events or endpoint.status != "enabled":
            stripe_api.enable_webhook_endpoint(client, endpoint.id, events)
            return EndpointSetup(endpoint.id, url, created=False, secret=None, updated=True)
        else:
            return EndpointSetup(endpoint.id, url, created=False, secret=None)
    created = stripe_api.create_webhook_endpoint(client, url, events)
    return EndpointSetup(created.id, url, created=True, secret=created.secret)
