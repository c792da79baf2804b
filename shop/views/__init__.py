"""Blueprints: each view parses the request, calls the domain, and renders or redirects."""

from __future__ import annotations

from typing import cast

from flask import abort, current_app

from shop.catalogue import Catalogue
from shop.checkout import PriceDirectory


def catalogue() -> Catalogue:
    """The catalogue loaded at start-up; 503 while it is broken."""
    loaded = current_app.extensions.get("quire.catalogue")
    if loaded is None:
        abort(503)
    return cast(Catalogue, loaded)


def price_directory() -> PriceDirectory:
    """The app's cache of Stripe Price ids."""
    return cast(PriceDirectory, current_app.extensions["quire.prices"])
