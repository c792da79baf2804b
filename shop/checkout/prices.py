"""Stripe Price ids by lookup key, read from the database that `catalog sync` keeps.

`catalog sync` records the active Price of every catalogue lookup key in
`stripe_prices` (`record`), from the list calls it makes anyway. Checkout reads them with
one query for all its lines and checks each against the catalogue's amount, currency
and interval, so no worker asks Stripe for a price and every worker agrees as soon as a
sync has run. Only a key missing from the table (a database older than the table) is
looked up at Stripe, with one list call, and recorded for the next checkout.

The check runs before a pending order is made: when the catalogue and the recorded
price disagree (the file changed and `catalog sync` has not run yet), the shopper is
told the price is being updated and no order is made, no copy held.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import stripe
from flask import Flask
from sqlalchemy.exc import IntegrityError

from shop import stripe_api
from shop.catalogue import Catalogue, SellingPrice
from shop.extensions import db
from shop.models import StripePrice, utcnow
from shop.money import format_money
from shop.stripe_api import StripeFailure

log = logging.getLogger(__name__)

#: The fix an admin is told when the catalogue and Stripe's prices disagree.
SYNC_COMMAND = "flask --app wsgi catalog sync"

#: Checks a checkout's prices before its order is made. :raise CatalogueNotSynced:
PriceCheck = Callable[[Sequence[SellingPrice]], None]


class CatalogueNotSynced(RuntimeError):
    """Stripe does not hold the catalogue's price: run `flask --app wsgi catalog sync`."""

    def __init__(self, lookup_key: str, reason: str) -> None:
        super().__init__(f"{lookup_key}: {reason}; run `{SYNC_COMMAND}`")
        self.lookup_key = lookup_key
        self.reason = reason


def _describe(amount: int, currency: str, interval: str | None) -> str:
    money = format_money(amount, currency)
    return f"{money}/{interval}" if interval else money


def _disagreement(row: StripePrice, wanted: SellingPrice) -> str | None:
    """Why the recorded price is not the catalogue's (None: it is)."""
    if (row.amount, row.currency, row.interval) == (
        wanted.amount,
        wanted.currency,
        wanted.interval,
    ):
        return None
    return (
        f"the catalogue says {_describe(wanted.amount, wanted.currency, wanted.interval)} "
        f"but Stripe's price {row.stripe_price_id} is "
        f"{_describe(row.amount, row.currency, row.interval)}"
    )


def record_catalogue(catalogue: Catalogue, found: Iterable[stripe.Price]) -> tuple[int, int]:
    """After a sync: record the Price of every catalogue lookup key for checkout in every
    worker, forgetting keys the catalogue no longer has; committed. Returns (recorded,
    lookup keys in the catalogue)."""
    keys = [selling.lookup_key for item in catalogue.items() for selling in item.selling_prices]
    recorded = record(found, keep_only=keys)
    db.session.commit()
    return recorded, len(keys)


def record(prices: Iterable[stripe.Price], *, keep_only: Iterable[str] | None = None) -> int:
    """Record each active Price by its lookup key (replacing what was recorded for it);
    with `keep_only`, rows for any other lookup key are removed. Not committed.
    Returns how many prices were recorded."""
    now = utcnow()
    by_key = {str(p.lookup_key): p for p in prices if p.lookup_key}
    existing = {
        row.lookup_key: row
        for row in db.session.execute(
            db.select(StripePrice).where(StripePrice.lookup_key.in_(list(by_key)))
        ).scalars()
    }
    for key, price in by_key.items():
        row = existing.get(key)
        if row is None:
            row = StripePrice(lookup_key=key)
            db.session.add(row)
        row.stripe_price_id = price.id
        row.amount = price.unit_amount or 0
        row.currency = price.currency
        row.interval = price.recurring.interval if price.recurring else None
        row.synced_at = now
    if keep_only is not None:
        db.session.execute(
            db.delete(StripePrice).where(StripePrice.lookup_key.not_in(list(set(keep_only))))
        )
    return len(by_key)


def _recorded(keys: Sequence[str]) -> dict[str, StripePrice]:
    return {
        row.lookup_key: row
        for row in db.session.execute(
            db.select(StripePrice).where(StripePrice.lookup_key.in_(list(keys)))
        ).scalars()
    }


def _fill_missing(client: stripe.StripeClient, missing: Sequence[str]) -> dict[str, StripePrice]:
    """Ask Stripe for keys never recorded (one list call for up to ten) and record them.

    Two workers doing this at once both record the same answer; the loser of the insert
    race reads the winner's rows instead.
    """
    db.session.commit()  # no transaction open across the Stripe call
    found = list(stripe_api.prices_by_lookup_key(client, missing))
    if not found:
        return {}
    try:
        record(found)
        db.session.commit()
    except IntegrityError:  # a concurrent worker recorded the same keys first
        db.session.rollback()
    return _recorded(missing)


class PriceDirectory:
    """Where checkout finds Stripe Price ids: the `stripe_prices` table.

    One per app, registered by `create_app` and found with `PriceDirectory.of(app)`. It
    holds nothing of its own, so every worker reads what the last `catalog sync` wrote.
    """

    @classmethod
    def init_app(cls, app: Flask) -> PriceDirectory:
        """Give `app` its directory."""
        directory = cls()
        app.extensions["quire_prices"] = directory
        return directory

    @classmethod
    def of(cls, app: Flask) -> PriceDirectory:
        """The directory `create_app` registered for `app`."""
        directory: PriceDirectory = app.extensions["quire_prices"]
        return directory

    def resolve(self, client: stripe.StripeClient, wanted: SellingPrice) -> str:
        """The Price id for `wanted`, checked against the catalogue (see `resolve_many`)."""
        return self.resolve_many(client, [wanted])[str(wanted.lookup_key)]

    def resolve_many(
        self, client: stripe.StripeClient, wanted: Sequence[SellingPrice]
    ) -> dict[str, str]:
        """Price ids by lookup key for every one of `wanted`: one query; a Stripe list
        call only for keys never recorded (which are then recorded and committed).

        :raise CatalogueNotSynced: a recorded price differs from the catalogue's (logged
            as one line naming the key and the fix), or Stripe has none.
        :raise StripeFailure: Stripe could not be asked about a key never recorded.
        """
        keys = [str(w.lookup_key) for w in wanted]
        rows = _recorded(keys)
        missing = [key for key in keys if key not in rows]
        if missing:
            rows.update(_fill_missing(client, missing))
        ids: dict[str, str] = {}
        for w in wanted:
            key = str(w.lookup_key)
            row = rows.get(key)
            reason = "Stripe has no active price" if row is None else _disagreement(row, w)
            if reason is not None:
                log.warning(
                    "checkout refused: %s: %s; run `%s` to update Stripe", key, reason, SYNC_COMMAND
                )
                raise CatalogueNotSynced(key, reason)
            assert row is not None
            ids[key] = row.stripe_price_id
        return ids

    def check(self, client: stripe.StripeClient, wanted: Sequence[SellingPrice]) -> None:
        """Before an order is made: :raise CatalogueNotSynced: when a recorded price
        differs from the catalogue's (or Stripe has none). A key never recorded that
        Stripe cannot be asked about now passes: the order is made and kept, and
        opening its payment page (which asks again) shows the outage, as without it.
        """
        try:
            self.resolve_many(client, wanted)
        except StripeFailure as failure:
            log.warning("prices not checked before the order, Stripe failed: %s", failure)

    def checker(self, client: stripe.StripeClient) -> PriceCheck:
        """`check` bound to `client`: what order-making functions call first."""

        def check(wanted: Sequence[SellingPrice]) -> None:
            self.check(client, wanted)

        return check
