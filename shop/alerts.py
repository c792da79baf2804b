"""When the admin pages warn: webhook failures or forged deliveries piling up, or events
that no queue worker takes.

Failed events are rows (`ProcessedEvent.outcome == "failed"`), counted by their last
attempt. Forged deliveries (a bad `Stripe-Signature`) must write nothing to the
database, so they are counted in the throttling store instead (Flask-Limiter's storage:
memory per process, or Redis with `REDIS_URL`, shared by every worker).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from limits import parse
from sqlalchemy import func, select

from shop import throttling
from shop.extensions import db
from shop.models import ProcessedEvent, utcnow
from shop.webhook_probe import TEST_EVENT_TYPE

#: Failed events within the last hour that put a warning on every admin page.
FAILED_EVENTS_ALERT = 5
#: Deliveries refused for their signature within the last hour that do the same.
BAD_SIGNATURES_ALERT = 10
#: Seconds a received event may wait for a queue worker before every admin page says so.
WAITING_ALERT_SECONDS = 120
#: The window of the signature counter; its amount is only a ceiling on what is counted.
_BAD_SIGNATURE_WINDOW = parse("10000 per hour")
_SCOPE = "webhook-bad-signature"


def count_bad_signature() -> None:
    """Count one delivery refused for its signature (no database write)."""
    running = throttling.limiter()
    if running.enabled:
        running.limiter.hit(_BAD_SIGNATURE_WINDOW, _SCOPE, "all")


def bad_signatures_last_hour() -> int:
    """Deliveries refused for their signature within the last hour (this store's count)."""
    running = throttling.limiter()
    if not running.enabled:
        return 0
    stats = running.limiter.get_window_stats(_BAD_SIGNATURE_WINDOW, _SCOPE, "all")
    return _BAD_SIGNATURE_WINDOW.amount - stats.remaining


def failed_and_waiting(since: datetime, waiting_since: datetime) -> tuple[int, int]:
    """Events whose last attempt failed at or after `since`, and events received before
    `waiting_since` still waiting for a worker (one query)."""
    failed, waiting = db.session.execute(
        select(
            func.count().filter(
                ProcessedEvent.outcome == "failed", ProcessedEvent.last_attempt_at >= since
            ),
            func.count().filter(
                ProcessedEvent.outcome == "received", ProcessedEvent.received_at < waiting_since
            ),
        ).where(ProcessedEvent.outcome.in_(("failed", "received")))
    ).one()
    return int(failed), int(waiting)


@dataclass(frozen=True)
class EventAlert:
    """What the admin banner says: failures in the last hour when they spike, and events
    no worker has taken for `WAITING_ALERT_SECONDS` (is the worker process running?)."""

    failed_events: int
    bad_signatures: int
    waiting_events: int = 0

    @property
    def failing(self) -> bool:
        return (
            self.failed_events >= FAILED_EVENTS_ALERT or self.bad_signatures >= BAD_SIGNATURES_ALERT
        )

    @property
    def raised(self) -> bool:
        return self.failing or self.waiting_events > 0


def event_alert(now: datetime | None = None) -> EventAlert:
    """The last hour's failed events and refused signatures, and events left waiting."""
    moment = now or utcnow()
    failed, waiting = failed_and_waiting(
        moment - timedelta(hours=1), moment - timedelta(seconds=WAITING_ALERT_SECONDS)
    )
    return EventAlert(failed, bad_signatures_last_hour(), waiting)


def last_event_age_seconds(now: datetime | None = None) -> int | None:
    """Seconds since the newest event from Stripe applied or ignored arrived; None when
    there is none. Quire's own test events (`stripe test-webhook`) do not count: they
    prove the endpoint answers, not that Stripe is delivering."""
    # Newest first along the index on `received_at`, stopping at the first match: the
    # same cost with 100 events kept or 100,000 (a max() would read every applied one).
    newest = db.session.execute(
        select(ProcessedEvent.received_at)
        .where(
            ProcessedEvent.outcome.in_(("processed", "ignored")),
            ProcessedEvent.type != TEST_EVENT_TYPE,
        )
        .order_by(ProcessedEvent.received_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if newest is None:
        return None
    if newest.tzinfo is None:  # SQLite's max() comes back as a plain value, naive
        newest = newest.replace(tzinfo=(now or utcnow()).tzinfo)
    return max(0, int(((now or utcnow()) - newest).total_seconds()))
