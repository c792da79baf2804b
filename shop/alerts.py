"""When the admin pages warn: webhook failures or forged deliveries piling up.

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


def failed_events_since(since: datetime) -> int:
    """Events whose last attempt failed at or after `since`."""
    found = db.session.execute(
        select(func.count())
        .select_from(ProcessedEvent)
        .where(ProcessedEvent.outcome == "failed", ProcessedEvent.last_attempt_at >= since)
    ).scalar_one()
    return int(found)


@dataclass(frozen=True)
class EventAlert:
    """What the admin banner says: failures in the last hour, when either spikes."""

    failed_events: int
    bad_signatures: int

    @property
    def raised(self) -> bool:
        return (
            self.failed_events >= FAILED_EVENTS_ALERT or self.bad_signatures >= BAD_SIGNATURES_ALERT
        )


def event_alert(now: datetime | None = None) -> EventAlert:
    """The last hour's failed events and refused signatures."""
    since = (now or utcnow()) - timedelta(hours=1)
    return EventAlert(failed_events_since(since), bad_signatures_last_hour())


def last_event_age_seconds(now: datetime | None = None) -> int | None:
    """Seconds since the newest event from Stripe applied or ignored arrived; None when
    there is none. Quire's own test events (`stripe test-webhook`) do not count: they
    prove the endpoint answers, not that Stripe is delivering."""
    newest = db.session.execute(
        select(func.max(ProcessedEvent.received_at)).where(
            ProcessedEvent.outcome.in_(("processed", "ignored")),
            ProcessedEvent.type != TEST_EVENT_TYPE,
        )
    ).scalar_one_or_none()
    if newest is None:
        return None
    if newest.tzinfo is None:  # SQLite's max() comes back as a plain value, naive
        newest = newest.replace(tzinfo=(now or utcnow()).tzinfo)
    return max(0, int(((now or utcnow()) - newest).total_seconds()))
