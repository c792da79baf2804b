"""Stripe Price ids by lookup key: one list call, then cached per app for a while.

Checkout needs a Price id for each line; looking it up on every purchase would add a
Stripe round trip, so resolved prices are kept for `ttl` seconds. The amount is checked
against the catalogue every time, so an unsynced Stripe cannot charge a different amount.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import ClassVar
from weakref import WeakKeyDictionary

import stripe
from flask import Flask

from shop import stripe_api
from shop.catalogue import SellingPrice


class CatalogueNotSynced(RuntimeError):
    """Stripe does not hold the catalogue's price: run `flask --app wsgi catalog sync`."""

    def __init__(self, lookup_key: str, reason: str) -> None:
        super().__init__(f"{lookup_key}: {reason}; run `flask --app wsgi catalog sync`")


def _same(price: stripe.Price, wanted: SellingPrice) -> bool:
    interval = price.recurring.interval if price.recurring else None
    return (
        price.unit_amount == wanted.amount
        and price.currency == wanted.currency
        and interval == wanted.interval
    )


class PriceDirectory:
    """The app's cache of Stripe Prices by lookup key.

    One per app, registered by `create_app` and found with `PriceDirectory.of(app)`
    (keyed by the app object itself, not by a string), so `catalog sync` can clear it.
    """

    _by_app: ClassVar[WeakKeyDictionary[Flask, PriceDirectory]] = WeakKeyDictionary()

    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self._prices: dict[str, tuple[float, stripe.Price]] = {}
        self._lock = threading.Lock()

    @classmethod
    def init_app(cls, app: Flask, ttl: float = 300.0) -> PriceDirectory:
        """Give `app` an empty directory of its own."""
        directory = cls._by_app[app] = cls(ttl)
        return directory

    @classmethod
    def of(cls, app: Flask) -> PriceDirectory:
        """The directory `create_app` registered for `app`."""
        return cls._by_app[app]

    def resolve(self, client: stripe.StripeClient, wanted: SellingPrice) -> str:
        """The id of the active Price for `wanted`, checked against the catalogue amount.

        :raise CatalogueNotSynced: when Stripe has no such price, or another amount.
        :raise StripeFailure: when Stripe cannot be asked.
        """
        key = str(wanted.lookup_key)
        now = time.monotonic()
        with self._lock:
            cached = self._prices.get(key)
        if cached is None or now - cached[0] > self.ttl or not _same(cached[1], wanted):
            found = stripe_api.active_price(client, key)
            if found is None:
                raise CatalogueNotSynced(key, "no active Stripe price")
            cached = (now, found)
            with self._lock:
                self._prices[key] = cached
        price = cached[1]
        if not _same(price, wanted):
            raise CatalogueNotSynced(key, "Stripe's amount differs from the catalogue")
        return price.id

    def resolve_many(
        self, client: stripe.StripeClient, wanted: Sequence[SellingPrice]
    ) -> dict[str, str]:
        """Price ids by lookup key for every one of `wanted`, checked like `resolve`.

        Prices not cached (or stale, or changed) are fetched together: one Stripe list
        call for up to ten lookup keys, so a checkout of a basket makes one call at most.
        :raise CatalogueNotSynced: when Stripe lacks one, or holds another amount.
        :raise StripeFailure: when Stripe cannot be asked.
        """
        now = time.monotonic()
        with self._lock:
            cached = {str(w.lookup_key): self._prices.get(str(w.lookup_key)) for w in wanted}
        missing = [
            str(w.lookup_key)
            for w in wanted
            if (entry := cached[str(w.lookup_key)]) is None
            or now - entry[0] > self.ttl
            or not _same(entry[1], w)
        ]
        if missing:
            found = {
                str(price.lookup_key): price
                for price in stripe_api.prices_by_lookup_key(client, missing)
            }
            with self._lock:
                for key in missing:
                    price = found.get(key)
                    cached[key] = None if price is None else (now, price)
                    if price is not None:
                        self._prices[key] = (now, price)
        ids: dict[str, str] = {}
        for w in wanted:
            key = str(w.lookup_key)
            entry = cached.get(key)
            if entry is None:
                raise CatalogueNotSynced(key, "no active Stripe price")
            if not _same(entry[1], w):
                raise CatalogueNotSynced(key, "Stripe's amount differs from the catalogue")
            ids[key] = entry[1].id
        return ids

    def forget(self) -> None:
        """Drop every cached price (after `catalog sync` changed them)."""
        with self._lock:
            self._prices.clear()
