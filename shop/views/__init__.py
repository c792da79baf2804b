"""Blueprints: each view parses the request, calls the domain, and renders or redirects."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, url_for

from shop.catalogue import Catalogue
from shop.catalogue_source import catalogue_of
from shop.checkout.prices import PriceDirectory


def catalogue() -> Catalogue:
    """The app's catalogue (read on first use); 503 while it is broken."""
    loaded = catalogue_of(current_app._get_current_object())  # type: ignore[attr-defined]
    if loaded is None:
        abort(503)
    return loaded


def price_directory() -> PriceDirectory:
    """The app's cache of Stripe Price ids."""
    return PriceDirectory.of(current_app._get_current_object())  # type: ignore[attr-defined]


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute link to one of Quire's routes, for Stripe to send shoppers back to.

    The path comes from the route (`url_for`); the origin is `SITE_URL`, the shop's
    public address, rather than whatever host and scheme this request reached the app
    by (behind a proxy or in a test client those are not the shopper's).
    """
    site_url: str = current_app.config["SITE_URL"]
    return site_url.rstrip("/") + url_for(endpoint, **values)
