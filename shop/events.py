"""Stripe events: verify the signature, apply each event once, look handlers up by type.

Why handlers re-retrieve: Stripe may deliver events late, twice or out of order, and an
event's `created` has one-second resolution, so it cannot order two changes to one
object. Each handler therefore treats its event as a trigger, retrieves the object as
Stripe has it now, and writes that.

Why retrieving is not enough, and what is done: two handlers of one object can overlap
(an `invoice.paid` whose subscription retrieve is slow, a `customer.subscription.deleted`
that retrieves later and writes first). Every write from a retrieve goes through
`shop.mirror`: the object's version is read before the retrieve and bumped by a guarded
UPDATE in the write; if another write landed in between, the handler rolls back and
retrieves again. So no older retrieve ever overwrites a newer one, and the records end
equal to Stripe's state whatever the order and overlap of deliveries. (Order statuses
also only move forward, see `models.RANK`.)

Handlers are one `stripe_api.sync_*` call each (the same ones the confirmation page,
refunds and reconcile use); they call Stripe first and write afterwards, so the database
is locked only for the writes, never across a network call.

Where events wait: the webhook stores each event as a `received` row and a queue job
(`shop.inbox`); a worker applies it here. (With `QUEUE_MODE=inline` the web process
applies it before answering.)

Why one transaction: the event's row is committed as `processed` together with the
event's effects (and their version bumps). If a handler fails, the effects roll back,
so a retry (the queue's, or Stripe's in inline mode) redoes the work instead of finding
it wrongly marked done; the failure itself (error, attempts) is then kept on the row as
`failed` in a short transaction of its own, so an admin can see it and replay it. A
later attempt or replay turns `received` or `failed` into `processed` with its effects,
by an UPDATE guarded on that outcome, so of two attempts at once only one applies. A
duplicate of a processed event — even one arriving at the same moment — fails on the
event row's primary key and changes nothing.

Verification is on the exact bytes received: the HMAC of `t.` + body is compared for
each secret, the timestamp must be within `TOLERANCE_SECONDS`, and only then is the
body decoded, strictly (a signed body that is not UTF-8 JSON is refused, never guessed at).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import stripe
from sqlalchemy import case, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from shop import notices, stripe_api
from shop.extensions import db
from shop.models import EVENT_ERROR_LENGTH, ProcessedEvent, from_timestamp, utcnow

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300
#: The signature scheme Stripe signs events with (an HMAC-SHA256, hex).
SCHEME = "v1"
Outcome = Literal["processed", "ignored", "duplicate", "queued"]
Handler = Callable[[stripe.StripeClient, dict[str, Any]], None]


class BadSignature(ValueError):
    """The request is not a Stripe event signed with one of our secrets."""


def _signed_parts(header: str) -> tuple[int, list[bytes]]:
    """The timestamp and `v1` signatures of a `Stripe-Signature` header."""
    timestamp: int | None = None
    signatures: list[bytes] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == SCHEME:
            signatures.append(value.encode("ascii", errors="replace"))
    if timestamp is None or not signatures:
        raise BadSignature("Stripe-Signature has no timestamp or no v1 signature")
    return timestamp, signatures


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send for `payload` signed with `secret`
    (what `stripe test-webhook` sends, to check a shop's secret end to end)."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{signed_at}.".encode() + payload, hashlib.sha256)
    return f"t={signed_at},v1={mac.hexdigest()}"


def verify_event(
    payload: bytes, header: str | None, secrets: Sequence[str], now: float | None = None
) -> dict[str, Any]:
    """Check `Stripe-Signature` on the raw bytes against every current secret, then parse.

    More than one secret is accepted so a secret can be rolled without losing events.
    The HMAC covers the bytes exactly as received; decoding comes after, and strictly.
    """
    if not header:
        raise BadSignature("missing Stripe-Signature header")
    if not secrets:
        raise BadSignature("no webhook signing secret is configured")
    timestamp, signatures = _signed_parts(header)
    signed = f"{timestamp}.".encode() + payload
    expected = [
        hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest().encode() for secret in secrets
    ]
    if not any(hmac.compare_digest(mac, given) for mac in expected for given in signatures):
        raise BadSignature("signature does not match any configured secret")
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        raise BadSignature("signature is too old")
    try:
        event: dict[str, Any] = json.loads(payload.decode("utf-8"))
    except ValueError as error:  # UnicodeDecodeError included
        raise BadSignature("signed body is not a Stripe event: not UTF-8 JSON") from error
    if not isinstance(event, dict) or not {"id", "type", "data"} <= event.keys():
        raise BadSignature("signed body is not a Stripe event")
    return event


# --- handlers: one per event type --------------------------------------------------


def _checkout_session(client: stripe.StripeClient, obj: dict[str, Any]) -> None:
    """checkout.session.completed / async_payment_succeeded / async_payment_failed / expired.

    https://docs.stripe.com/api/events/types#event_types-checkout.session.completed
    """
    stripe_api.sync_checkout_session(client, obj["id"], hint=obj)


def _subscription(client: stripe.StripeClient, obj: dict[str, Any]) -> None:
    """customer.subscription.created / updated / deleted.

    https://docs.stripe.com/api/events/types#event_types-customer.subscription.updated
    """
    stripe_api.sync_subscription(client, obj["id"])


def _trial_will_end(client: stripe.StripeClient, obj: dict[str, Any]) -> None:
    """customer.subscription.trial_will_end: three days before a free trial ends (at once
    when the trial is shorter); the member is told what will be charged, and when.

    https://docs.stripe.com/api/events/types#event_types-customer.subscription.trial_will_end
    """
    notices.trial_ending(stripe_api.sync_subscription(client, obj["id"]))


def _invoice(client: stripe.StripeClient, obj: dict[str, Any]) -> None:
    """invoice.paid / invoice.payment_failed: the invoice, and its subscription's new status.

    https://docs.stripe.com/api/events/types#event_types-invoice.payment_failed
    """
    stripe_api.sync_invoice(client, obj["id"], hint=obj)


def _charge_refunded(client: stripe.StripeClient, obj: dict[str, Any]) -> None:
    """charge.refunded: full or partial refund of an order's payment.

    https://docs.stripe.com/api/events/types#event_types-charge.refunded
    """
    stripe_api.sync_charge(client, obj["id"], hint=obj)


def _dispute_created(client: stripe.StripeClient, obj: dict[str, Any]) -> None:
    """charge.dispute.created: the payment is contested; the order is marked disputed.

    https://docs.stripe.com/api/events/types#event_types-charge.dispute.created
    """
    stripe_api.sync_dispute(client, obj["id"], hint=obj)


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _checkout_session,
    "checkout.session.async_payment_succeeded": _checkout_session,
    "checkout.session.async_payment_failed": _checkout_session,
    "checkout.session.expired": _checkout_session,
    "customer.subscription.created": _subscription,
    "customer.subscription.updated": _subscription,
    "customer.subscription.deleted": _subscription,
    "customer.subscription.trial_will_end": _trial_will_end,
    "invoice.paid": _invoice,
    "invoice.payment_failed": _invoice,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
}


#: Outcomes after which a delivery of the same event is a duplicate.
DONE = ("processed", "ignored")
#: Outcomes of an event kept but not applied: waiting for a worker, or failed before.
PENDING = ("received", "failed")
#: What a secret looks like in an error message, so none is ever stored or shown.
_SECRET = re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_\w+|\bwhsec_\w+")


def _stored_outcome(event_id: str) -> str | None:
    found = db.session.execute(
        select(ProcessedEvent.outcome).where(ProcessedEvent.id == event_id)
    ).scalar_one_or_none()
    return None if found is None else str(found)


def _already_processed(event_id: str) -> bool:
    return _stored_outcome(event_id) in DONE


def object_id_of(event: dict[str, Any]) -> str | None:
    """The id of the object an event is about (`data.object.id`), when it has one."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    found = obj.get("id") if isinstance(obj, dict) else None
    return found[:255] if isinstance(found, str) and found else None


def describe_error(error: BaseException) -> str:
    """What is kept of a failure: its type and message, without SQL parameters or keys."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    text = (
        f"{type(error).__name__}: {cause}".splitlines()[0] if str(cause) else type(error).__name__
    )
    return _SECRET.sub("[redacted]", text)[:EVENT_ERROR_LENGTH]


def new_row(
    event: dict[str, Any], raw: str, outcome: str, *, attempted: bool = True, **fields: Any
) -> ProcessedEvent:
    """The row of an event seen for the first time (`attempted`: its handler ran once)."""
    now = utcnow()
    return ProcessedEvent(
        id=str(event["id"]),
        type=str(event["type"]),
        outcome=outcome,
        stripe_created=from_timestamp(event.get("created")) or now,
        received_at=now,
        raw_json=raw,
        object_id=object_id_of(event),
        attempts=1 if attempted else 0,
        last_attempt_at=now if attempted else None,
        **fields,
    )


def _mark_done(event: dict[str, Any], raw: str, outcome: Outcome, *, replay: bool) -> None:
    """Record the event as applied, in the transaction of its effects.

    A row waiting for a worker (`received`) or failed before turns processed by an UPDATE
    guarded on that outcome, so of two deliveries or retries at once only one matches (the other waits on the row, then finds it done). A
    replay may apply an event again, so it updates the row whatever its outcome. An event
    never seen is inserted: the primary key stops a racing copy.
    """
    event_id = str(event["id"])
    now = utcnow()
    guard = ProcessedEvent.id == event_id
    if not replay:
        guard = guard & ProcessedEvent.outcome.in_(PENDING)
    moved = db.session.execute(
        update(ProcessedEvent)
        .where(guard)
        .values(
            outcome=outcome,
            attempts=ProcessedEvent.attempts + 1,
            last_attempt_at=now,
            processed_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(moved, "rowcount", 0) != 1:
        # Never seen, or applied by another delivery since (its row makes this insert
        # fail on the primary key: a duplicate).
        db.session.add(new_row(event, raw, outcome, processed_at=now))
        db.session.flush()


def _mark_failed(event: dict[str, Any], raw: str, error: BaseException) -> None:
    """Keep the failure, in a transaction of its own after the effects rolled back.

    Counts the attempt and keeps the error on the event's row (inserted as `failed` the
    first time; a row another delivery applied meanwhile keeps its outcome). If even this
    cannot be written (the database is down), it is logged and Stripe's retry remains.
    """
    event_id = str(event["id"])
    error_text = describe_error(error)
    for _try in range(2):
        try:
            moved = db.session.execute(
                update(ProcessedEvent)
                .where(ProcessedEvent.id == event_id)
                .values(
                    # waiting for a worker → failed; applied meanwhile → stays applied
                    outcome=case(
                        (ProcessedEvent.outcome == "received", "failed"),
                        else_=ProcessedEvent.outcome,
                    ),
                    attempts=ProcessedEvent.attempts + 1,
                    last_error=error_text,
                    last_attempt_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(moved, "rowcount", 0) != 1:
                db.session.add(new_row(event, raw, "failed", last_error=error_text))
            db.session.commit()
            return
        except IntegrityError:
            db.session.rollback()  # a concurrent delivery inserted it: update that row
        except Exception:
            db.session.rollback()
            log.exception("could not record the failure of event %s", event_id)
            return


def process_event(
    client: stripe.StripeClient, event: dict[str, Any], raw: str, *, replay: bool = False
) -> Outcome:
    """Apply a verified event exactly once, in one transaction with its event row.

    A delivery of an event already processed or ignored is a duplicate and changes
    nothing; one that failed before is applied again. `replay` applies it whatever its
    row says (handlers re-retrieve and are idempotent). On failure the effects roll
    back, the failure is kept on the row, and the error is raised again.
    """
    if not replay and _already_processed(str(event["id"])):
        return "duplicate"
    db.session.commit()  # end the read, so no transaction is open while Stripe is called
    return apply_event(client, event, raw, replay=replay)


def apply_event(
    client: stripe.StripeClient, event: dict[str, Any], raw: str, *, replay: bool = False
) -> Outcome:
    """Run the event's handler and mark its row done, in one transaction (the caller has
    checked it is not done already, and holds no transaction open)."""
    event_id = str(event["id"])
    handler = HANDLERS.get(event["type"])
    outcome: Outcome = "processed" if handler else "ignored"
    try:
        if handler is not None:
            handler(client, event["data"]["object"])
        _mark_done(event, raw, outcome, replay=replay)
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        if _already_processed(event_id):
            log.info("event %s was processed by a concurrent delivery", event_id)
            return "duplicate"
        _mark_failed(event, raw, error)
        raise
    except BaseException as error:
        db.session.rollback()
        _mark_failed(event, raw, error)
        raise
    return outcome


@dataclass(frozen=True)
class Replayed:
    """What replaying one event did: its outcome (`processed`, `ignored`, `failed`, or
    `unavailable` when Stripe would not give the event) and the error, if any."""

    event_id: str
    outcome: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in DONE

    def __str__(self) -> str:
        return f"{self.event_id} {self.outcome}" + (f": {self.error}" if self.error else "")


def replay(client: stripe.StripeClient, event_id: str) -> Replayed:
    """Fetch `event_id` from Stripe again (never the stored body) and apply it through the
    webhook's own path, updating its row. Safe to repeat."""
    try:
        event, raw = stripe_api.retrieve_event(client, event_id)
    except stripe_api.StripeFailure as failure:
        log.warning("replay of %s: Stripe did not give the event: %s", event_id, failure)
        return Replayed(event_id, "unavailable", failure.user_message or str(failure))
    try:
        outcome = process_event(client, event, raw, replay=True)
    except Exception as error:
        log.warning("replay of %s failed: %s", event_id, describe_error(error))
        return Replayed(event_id, "failed", describe_error(error))
    log.info("replay of %s: %s", event_id, outcome)
    return Replayed(event_id, outcome)


def failed_event_ids(since: datetime | None = None) -> list[str]:
    """The events whose last outcome is `failed`, oldest first (received since `since`)."""
    statement = select(ProcessedEvent.id).where(ProcessedEvent.outcome == "failed")
    if since is not None:
        statement = statement.where(ProcessedEvent.received_at >= since)
    found = db.session.execute(statement.order_by(ProcessedEvent.received_at, ProcessedEvent.id))
    ids = [str(event_id) for event_id in found.scalars()]
    db.session.commit()  # no transaction stays open across the replays' Stripe calls
    return ids
