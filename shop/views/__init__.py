"""Blueprints: each view parses the request, calls the domain, and renders or redirects."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, render_template, url_for

from shop.catalogue import Catalogue
from shop.catalogue_source import catalogue_of
from shop.checkout.prices import PriceCheck, PriceDirectory
from shop.stripe_client import stripe_client


def catalogue() -> Catalogue:
    """The app's catalogue (reread when its file changes); 503 while it is broken."""
    loaded = catalogue_of(current_app._get_current_object())  # type: ignore[attr-defined]
    if loaded is None:
        abort(503)
    return loaded


def price_directory() -> PriceDirectory:
    """Where checkout finds Stripe Price ids (the prices `catalog sync` recorded)."""
    return PriceDirectory.of(current_app._get_current_object())  # type: ignore[attr-defined]


def price_check() -> PriceCheck:
    """Checks a checkout's prices against the recorded Stripe ones, before its order."""
    return price_directory().checker(stripe_client())


def price_updating(back: str, back_label: str) -> tuple[str, int, dict[str, str]]:
    """The friendly 503 for a price the catalogue and Stripe disagree on (a sync is due):
    nothing was ordered; try again in a minute."""
    page = render_template("checkout/price_updating.html", back=back, back_label=back_label)
    return page, 503, {"Retry-After": "60"}


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute link to one of Quire's routes, for Stripe to send shoppers back to.

    The path comes from the route (`url_for`); the origin is `SITE_URL`, the shop's
    public address, rather than whatever host and scheme this request reached the app
    by (behind a proxy or in a test client those are not the shopper's).
    """
    site_url: str = current_app.config["SITE_URL"]
    return site_url.rstrip("/") + url_for(endpoint, **values)
