"""Finding Stripe events Quire has received: search, filters, pages, CSV, and the Quire
record an event is about. Shared by the admin's events pages and `flask events list`.

Pages are keyset pages (newest first, by `received_at` then id): the next page starts
after the last row shown, so page 2,000 costs what page 1 does, on the indexes
`(outcome, received_at)` and `received_at`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, or_, select, tuple_

from shop.extensions import db
from shop.models import (
    ORDER_ID_METADATA,
    Customer,
    Invoice,
    Order,
    ProcessedEvent,
    Subscription,
)

OUTCOMES = ("failed", "ignored", "processed", "received")
PAGE_SIZE = 50
CSV_COLUMNS = (
    "id",
    "type",
    "outcome",
    "object_id",
    "attempts",
    "received_at",
    "last_attempt_at",
    "processed_at",
    "stripe_created",
    "last_error",
)


@dataclass(frozen=True)
class EventFilter:
    """What the admin asked for: a search term (an event id, an object id, or a type or
    its start, dot included: `invoice.`), outcomes, an exact type, and the days received
    (inclusive, UTC)."""

    search: str = ""
    outcomes: tuple[str, ...] = ()
    type: str = ""
    since: date | None = None
    until: date | None = None

    def statement(self) -> Select[Any]:
        statement = select(ProcessedEvent)
        term = self.search.strip()
        if "." in term:  # types have dots (`invoice.paid`), Stripe ids never do
            statement = statement.where(ProcessedEvent.type.startswith(term, autoescape=True))
        elif term:  # each side of the OR on its own index
            statement = statement.where(
                or_(ProcessedEvent.id == term, ProcessedEvent.object_id == term)
            )
        wanted = [outcome for outcome in self.outcomes if outcome in OUTCOMES]
        if wanted:
            statement = statement.where(ProcessedEvent.outcome.in_(wanted))
        if self.type:
            statement = statement.where(ProcessedEvent.type == self.type)
        if self.since is not None:
            statement = statement.where(
                ProcessedEvent.received_at >= datetime.combine(self.since, time(), UTC)
            )
        if self.until is not None:
            end = datetime.combine(self.until + timedelta(days=1), time(), UTC)
            statement = statement.where(ProcessedEvent.received_at < end)
        return statement


@dataclass(frozen=True)
class Page:
    """One page of events, and the cursor of the next (None on the last page)."""

    events: list[ProcessedEvent]
    after: str | None


def _cursor(event: ProcessedEvent) -> str:
    return f"{event.received_at.isoformat()}~{event.id}"


def _parse_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor or "~" not in cursor:
        return None
    moment, _, event_id = cursor.partition("~")
    try:
        when = datetime.fromisoformat(moment)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)), event_id


def page(wanted: EventFilter, after: str | None = None, size: int = PAGE_SIZE) -> Page:
    """Events matching `wanted`, newest first, starting after the cursor `after`."""
    statement = wanted.statement()
    position = _parse_cursor(after)
    if position is not None:
        when, event_id = position
        statement = statement.where(
            ProcessedEvent.received_at <= when,  # lets the index seek; the tuple decides
            tuple_(ProcessedEvent.received_at, ProcessedEvent.id) < tuple_(when, event_id),
        )
    rows: list[ProcessedEvent] = list(
        db.session.execute(
            statement.order_by(ProcessedEvent.received_at.desc(), ProcessedEvent.id.desc()).limit(
                size + 1
            )
        ).scalars()
    )
    more = len(rows) > size
    shown = rows[:size]
    return Page(shown, _cursor(shown[-1]) if more and shown else None)


def event_types() -> list[str]:
    """Every event type received, for the type filter."""
    return [str(t) for t in db.session.execute(select(ProcessedEvent.type).distinct()).scalars()]


def _cell(value: Any) -> str:
    """A CSV cell; one starting like a formula is quoted so spreadsheets do not run it."""
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(wanted: EventFilter) -> Iterator[str]:
    """The events matching `wanted` as CSV, newest first, a header line then one per event."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: list[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(cell) for cell in cells])
        return buffer.getvalue()

    yield line(list(CSV_COLUMNS))
    after: str | None = None
    while True:  # keyset pages: the whole export never holds more than one page
        found = page(wanted, after, size=1000)
        for event in found.events:
            yield line([getattr(event, column) for column in CSV_COLUMNS])
        if found.after is None:
            return
        after = found.after


def pretty_json(raw: str) -> str:
    """The stored body indented for reading (as stored if it is not JSON)."""
    try:
        return json.dumps(json.loads(raw), indent=2, sort_keys=True)
    except ValueError:
        return raw


def _object_of(event: ProcessedEvent) -> dict[str, Any]:
    """The stored event's `data.object` (empty when the body is not what Stripe sends)."""
    try:
        obj = json.loads(event.raw_json).get("data", {}).get("object", {})
    except (ValueError, AttributeError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _id_in(obj: dict[str, Any], field: str) -> str | None:
    """An id field of a Stripe object, whether Stripe sent it as an id or expanded."""
    value = obj.get(field)
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def order_of(event: ProcessedEvent) -> Order | None:
    """The Quire order an event is about, when its object names one: a Checkout Session's
    `client_reference_id` (`order-12`) or `metadata.order_id`, or the order holding the
    session or payment the event is about."""
    obj = _object_of(event)
    reference = obj.get("client_reference_id")
    metadata = obj.get("metadata")
    named = metadata.get(ORDER_ID_METADATA) if isinstance(metadata, dict) else None
    order_id = Order.id_from_reference(reference if isinstance(reference, str) else None)
    if order_id is None and isinstance(named, str) and named.isdigit():
        order_id = int(named)
    if order_id is not None:
        return db.session.get(Order, order_id)
    # A session or payment is the order's own; a charge, refund or dispute names its payment.
    ids = [i for i in (event.object_id, _id_in(obj, "payment_intent")) if i]
    if ids:
        return db.session.execute(
            select(Order)
            .where(or_(Order.checkout_session_id.in_(ids), Order.payment_intent_id.in_(ids)))
            .order_by(Order.id)
            .limit(1)
        ).scalar_one_or_none()
    return None


def membership_of(event: ProcessedEvent) -> Subscription | None:
    """The membership an event is about: the subscription itself, or the one an invoice
    or Checkout Session belongs to (as Quire recorded it)."""
    obj = _object_of(event)
    object_id = event.object_id or ""
    subscription_id = object_id if object_id.startswith("sub_") else _id_in(obj, "subscription")
    if subscription_id is None and object_id.startswith("in_"):
        subscription_id = db.session.execute(
            select(Invoice.stripe_subscription_id).where(Invoice.stripe_invoice_id == object_id)
        ).scalar_one_or_none()
    if subscription_id is None:
        return None
    return db.session.execute(
        select(Subscription).where(Subscription.stripe_subscription_id == subscription_id)
    ).scalar_one_or_none()


def customer_of(event: ProcessedEvent) -> Customer | None:
    """The shop account an event is about, by its Stripe customer."""
    object_id = event.object_id or ""
    customer_id = (
        object_id if object_id.startswith("cus_") else _id_in(_object_of(event), "customer")
    )
    if customer_id is None:
        return None
    return db.session.execute(
        select(Customer).where(Customer.stripe_customer_id == customer_id)
    ).scalar_one_or_none()
