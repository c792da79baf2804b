"""The one place that builds Quire's `StripeClient`.

One client per app, built from config in `create_app` and kept in `app.extensions`;
domain code receives it as an argument and hands it to `shop.stripe_api`, the only
module that calls Stripe with it. No global `stripe.api_key`, and no call to
Stripe happens here: building the client is free.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe
from flask import Flask, current_app
from stripe._base_address import BaseAddresses

log = logging.getLogger(__name__)

EXTENSION_KEY = "quire.stripe"


def build_client(
    api_key: str, api_base: str | None = None, *, max_network_retries: int = 2
) -> stripe.StripeClient:
    """A client pinned to the SDK's API version, optionally aimed at another server."""
    base_addresses: BaseAddresses = {"api": api_base} if api_base else {}
    return stripe.StripeClient(
        api_key,
        base_addresses=base_addresses,
        max_network_retries=max_network_retries,
    )


def init_app(app: Flask) -> None:
    """Build the app's client from `STRIPE_SECRET_KEY` and `STRIPE_API_BASE`."""
    app.extensions[EXTENSION_KEY] = build_client(
        app.config["STRIPE_SECRET_KEY"],
        app.config.get("STRIPE_API_BASE"),
        max_network_retries=app.config.get("STRIPE_MAX_NETWORK_RETRIES", 2),
    )


def stripe_client() -> stripe.StripeClient:
    """The current app's Stripe client."""
    client: stripe.StripeClient = current_app.extensions[EXTENSION_KEY]
    return client


def field_of(obj: stripe.StripeObject | None, name: str) -> Any:
    """A field this API version may or may not send (so old and new shapes both read)."""
    return obj[name] if obj is not None and name in obj else None


def metadata_of(obj: stripe.StripeObject) -> dict[str, str]:
    """An object's metadata as a plain dict (empty when it has none)."""
    metadata = field_of(obj, "metadata")
    return {str(k): str(v) for k, v in metadata.to_dict().items()} if metadata else {}
