"""The webhook inbox: keep each verified event, answer Stripe, apply the event on the queue.

`deliver` is what the webhook calls. In one short transaction, with no Stripe call, it
stores the event as a `received` row (its id is the primary key, so a copy of an event
already kept is recognised) and defers an `apply_event` job for it (`shop.queue`); the
webhook then answers 200. A worker's job applies it through `shop.events.apply_event`,
which turns the row `processed` or `ignored` with the event's effects, once.

Order: jobs of events about one Stripe object carry the same procrastinate `lock`
(`ordering_key`: the subscription or payment an event changes), so they run one at a
time, oldest first; events of different objects run in parallel. Overlapping writes that
still meet (an order and its membership) are settled by the version guard of
`shop.mirror`.

Failures: each is kept on the event's row (`failed`, attempts, error) for the admin's
events list, where it can also be replayed, and the event is tried again after 2, 4, 8 …
seconds (`MAX_ATTEMPTS` in all, about 4½ hours). A retry is a new job *without* the
object's lock: procrastinate runs a lock's jobs strictly in order, so a retry waiting
with the lock would hold up every later event of that object (a cancellation behind a
failing renewal) for hours. Handlers re-retrieve the object and `shop.mirror` refuses
stale writes, so a retry needs no place in the order. A worker killed mid-job leaves the
job `doing`; `shop.queue.requeue_stalled_jobs` runs it again once its heartbeats stop.

With `QUEUE_MODE=inline` the same row is stored, then the event is applied at once in the
web process, and a failure answers 500 so Stripe retries (its own backoff).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

import procrastinate
import stripe
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shop import events
from shop.extensions import db
from shop.models import ProcessedEvent
from shop.queue import EVENTS_QUEUE, flask_app_of, queue
from shop.stripe_client import stripe_client

log = logging.getLogger(__name__)

#: Attempts at a failing event, the n-th retry 2^n seconds after the attempt before it.
MAX_ATTEMPTS = 14
#: When the job itself cannot finish (the database is away, so not even the retry can be
#: queued), procrastinate runs it again: 2, 4, 8 … seconds, for about half a minute.
JOB_RETRY = procrastinate.RetryStrategy(max_attempts=5, exponential_wait=2)

#: What storing an event found: new (or failed before, and queued again), waiting for a
#: worker already, or applied already.
Stored = Literal["stored", "waiting", "duplicate"]


def ordering_key(event: dict[str, Any]) -> str:
    """The Stripe object whose events must be applied one at a time, in order.

    A subscription's events, its invoices' and the checkout that started it share the
    subscription's id; a payment's checkout, charge, refund and dispute share the
    PaymentIntent's id; anything else is keyed by its own object's id.
    """
    obj = event["data"]["object"]
    parent = obj.get("parent") if isinstance(obj.get("parent"), dict) else {}
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    candidates = (
        obj["id"] if obj.get("object") == "subscription" else None,
        details.get("subscription") if isinstance(details, dict) else None,
        obj.get("subscription"),
        obj.get("payment_intent"),
        obj.get("charge"),
        obj.get("id"),
    )
    for candidate in candidates:
        if isinstance(candidate, dict):
            candidate = candidate.get("id")
        if isinstance(candidate, str) and candidate:
            return f"stripe:{candidate}"
    return f"stripe:{event['id']}"


def uses_queue() -> bool:
    return bool(current_app.config.get("QUEUE_MODE") == "procrastinate")


def _defer(event: dict[str, Any]) -> None:
    """Queue the event's job, in the caller's transaction."""
    queue.configure_task("apply_event", lock=ordering_key(event), queue=EVENTS_QUEUE).defer(
        event_id=str(event["id"])
    )


def _stored_outcome(event_id: str) -> str | None:
    found = db.session.execute(
        select(ProcessedEvent.outcome).where(ProcessedEvent.id == event_id)
    ).scalar_one_or_none()
    return None if found is None else str(found)


def store(event: dict[str, Any], raw: str) -> Stored:
    """Keep the event and (with the queue) its job, in one transaction; no Stripe call."""
    db.session.add(events.new_row(event, raw, "received", attempted=False))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return _stored_again(event)
    if uses_queue():
        _defer(event)
    db.session.commit()
    return "stored"


def _stored_again(event: dict[str, Any]) -> Stored:
    """Another delivery of an event already kept: a duplicate once applied; waiting while
    a job is pending; queued again when it failed (Stripe's redelivery is a retry)."""
    event_id = str(event["id"])
    outcome = _stored_outcome(event_id)
    if outcome is None or outcome in events.DONE:
        db.session.commit()
        return "duplicate"
    if outcome == "received" or not uses_queue():
        db.session.commit()
        return "waiting"
    moved = db.session.execute(
        update(ProcessedEvent)
        .where(ProcessedEvent.id == event_id, ProcessedEvent.outcome == "failed")
        .values(outcome="received")
        .execution_options(synchronize_session=False)
    )
    if getattr(moved, "rowcount", 0) == 1:
        _defer(event)
    db.session.commit()
    return "stored"


def deliver(client: stripe.StripeClient, event: dict[str, Any], raw: str) -> events.Outcome:
    """The webhook's work: `queued` once kept (a worker applies it), `duplicate` when it
    was applied before; inline, the event's outcome (an error propagates: answer 500)."""
    stored = store(event, raw)
    if stored == "duplicate":
        return "duplicate"
    if uses_queue():
        return "queued"
    return events.apply_event(client, event, raw)


def apply_stored(client: stripe.StripeClient, event_id: str) -> events.Outcome | None:
    """Apply a kept event (a worker's job); None when no such event is kept."""
    found = db.session.execute(
        select(ProcessedEvent.outcome, ProcessedEvent.raw_json).where(ProcessedEvent.id == event_id)
    ).one_or_none()
    db.session.commit()  # no transaction stays open while Stripe is called
    if found is None:
        log.error("queue: event %s has a job but is not kept; nothing to apply", event_id)
        return None
    if found.outcome in events.DONE:
        return "duplicate"
    event: dict[str, Any] = json.loads(found.raw_json)
    return events.apply_event(client, event, found.raw_json)


def retry_later(event_id: str, attempt: int) -> int:
    """Queue attempt `attempt + 1` of a failed event, 2^attempt seconds from now, without
    the object's lock (see above); returns the delay in seconds."""
    delay: int = 2**attempt
    queue.configure_task("apply_event", queue=EVENTS_QUEUE, schedule_in={"seconds": delay}).defer(
        event_id=event_id, attempt=attempt + 1
    )
    db.session.commit()
    return delay


@queue.task(name="apply_event", queue=EVENTS_QUEUE, retry=JOB_RETRY, pass_context=True)
def apply_event_job(
    context: procrastinate.JobContext, event_id: str, attempt: int = 1
) -> str | None:
    """The queue's job for one event: apply it in the worker's Flask app; when it fails
    (kept on its row), queue the next attempt."""
    with flask_app_of(context).app_context():
        try:
            outcome = apply_stored(stripe_client(), event_id)
        except Exception as error:
            reason = events.describe_error(error)
            if attempt >= MAX_ATTEMPTS:
                log.error(
                    "queue: event %s failed %d times, left failed: %s", event_id, attempt, reason
                )
                return "failed"
            delay = retry_later(event_id, attempt)
            log.warning(
                "queue: event %s failed (%s); attempt %d in %d s",
                event_id,
                reason,
                attempt + 1,
                delay,
            )
            return "retrying"
        log.info("queue: event %s %s", event_id, outcome)
        return outcome
