"""Writing what Stripe says without ever overwriting newer data with older.

Every sync retrieves Stripe objects and then writes them, with no lock held across the
call. Two syncs of one object can therefore overlap: an `invoice.paid` whose retrieve of
the subscription is slow can land after a `customer.subscription.deleted` that
retrieved later. Retrieving "now" is not enough; the write must also not be older than
what is already there.

The rule, one helper for every mirrored record (memberships, invoices, and orders, which
their Checkout Sessions, charges and disputes write): each mirrored object has a
version in `stripe_object_versions` (`ObjectVersion`), keyed by its Stripe id or, for an
order, by the reference Stripe knows it by (`order-12`). A sync

1. reads the versions of what it will write, and ends that transaction;
2. retrieves from Stripe;
3. in the write transaction, bumps each version with a guarded
   `UPDATE … SET version = v + 1 WHERE stripe_id = :id AND version = :v` (an INSERT at
   first sight, where a duplicate key counts as a conflict), then writes the records;
4. if any guard fails, rolls back and starts again from 1 — at most `RETRIES` times,
   then `StaleWrite`, so a webhook answers 500 and Stripe retries.

Why that is enough: a write that landed before step 1 had retrieved before it landed,
so before our retrieve began: our data is at least as new, and may replace it. A write
that lands after step 1 bumps a version we read, so our guard fails and we retrieve
again. Nothing is locked while Stripe is called; the guarded UPDATE (held until commit)
orders the writers, on SQLite and PostgreSQL alike. Keys are claimed in sorted order,
so two writers never wait on each other in a circle.

Objects fetched by a list call (reconcile) or returned by a write (expire, switch)
come with the versions read before that call (`read` first, then the call); if their
guard fails they are retrieved afresh like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from shop.extensions import db
from shop.models import ObjectVersion

log = logging.getLogger(__name__)

#: How many times a sync retrieves again after a newer write overtook it.
RETRIES = 5

Fetched = TypeVar("Fetched")
Recorded = TypeVar("Recorded")


class StaleWrite(RuntimeError):
    """Newer writes kept overtaking this sync's retrieves; nothing of it was written."""


class Versions:
    """The versions of some mirrored objects (or of all, `keys` None) at one moment."""

    def __init__(self, found: dict[str, int], keys: frozenset[str] | None) -> None:
        self.found = found
        self.keys = keys

    def covers(self, keys: Iterable[str]) -> bool:
        """Whether these keys were read (a key read and absent had no version yet)."""
        return self.keys is None or set(keys) <= self.keys

    def of(self, key: str) -> int | None:
        return self.found.get(key)


def read(keys: Iterable[str] | None) -> Versions:
    """The versions of `keys` (None: of every mirrored object) now.

    Called right before a Stripe call, so it ends the transaction: nothing stays open
    across the call.
    """
    statement = select(ObjectVersion.stripe_id, ObjectVersion.version)
    wanted = None if keys is None else frozenset(keys)
    if wanted is not None:
        statement = statement.where(ObjectVersion.stripe_id.in_(sorted(wanted)))
    found = {str(key): int(version) for key, version in db.session.execute(statement).all()}
    db.session.commit()
    return Versions(found, wanted)


def claim(seen: Versions, keys: Iterable[str]) -> bool:
    """Bump each key's version from what `seen` read, in the current transaction.

    False when another write moved any of them since (the caller must roll back).
    """
    ordered = sorted(set(keys))
    for key in ordered:
        version = seen.of(key)
        if version is None:
            try:
                db.session.execute(insert(ObjectVersion).values(stripe_id=key, version=1))
            except IntegrityError:
                return False
            continue
        moved = db.session.execute(
            update(ObjectVersion)
            .where(ObjectVersion.stripe_id == key, ObjectVersion.version == version)
            .values(version=version + 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(moved, "rowcount", 0) != 1:
            return False
    for key in ordered:  # our own write: a later object of the same listing follows it
        seen.found[key] = (seen.of(key) or 0) + 1
    return True


def sync(
    fetch: Callable[[], Fetched],
    record: Callable[[Fetched], Recorded],
    keys_of: Callable[[Fetched], Iterable[str]],
    expected: Iterable[str] = (),
    *,
    fetched: Fetched | None = None,
    seen: Versions | None = None,
) -> Recorded:
    """Retrieve (`fetch`) and write (`record`), never over a newer write.

    `keys_of(obj)` names what recording `obj` writes; `expected` is the best guess of
    it before the retrieve (a key only learnt from the retrieve costs one more). A
    `fetched` object is used first when `seen` holds the versions read before it was
    fetched. The write is left in the session, uncommitted: the caller owns the
    transaction. :raise StaleWrite: after `RETRIES` overtaken attempts.
    """
    keys = set(expected)
    candidate = fetched if seen is not None else None
    for _attempt in range(RETRIES):
        if candidate is None or seen is None:
            seen = read(keys)
            candidate = fetch()
        needed = set(keys_of(candidate))
        if seen.covers(needed) and claim(seen, needed):
            return record(candidate)
        db.session.rollback()
        log.info("mirror: %s changed while it was retrieved; retrieving again", sorted(needed))
        keys |= needed
        candidate = None
    raise StaleWrite(f"{sorted(keys)} kept changing while they were retrieved")
