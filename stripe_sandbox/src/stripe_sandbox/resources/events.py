"""Creating events and queueing their webhook deliveries.

``emit`` snapshots an object into an ``event``, stores it and queues one delivery
(two with ``duplicate_deliveries``) to each enabled endpoint subscribed to its type;
with ``shuffle_deliveries`` each delivery is held a random time first.
The request that caused it is read from ``current_request`` (set by the API layer);
automatic actions have ``request.id`` null.
"""

from __future__ import annotations

import contextvars
import time
from typing import TYPE_CHECKING, Any

from ..core.ids import new_id
from ..core.render import public
from ..core.shapes import ONLY_WHEN_EXPANDED, blank

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

API_VERSION = "2026-10-28.endive"

current_request: contextvars.ContextVar[tuple[str | None, str | None]] = contextvars.ContextVar(
    "current_request", default=(None, None)
)


def endpoint_wants(endpoint: dict[str, Any], event_type: str) -> bool:
    """Whether an enabled endpoint is subscribed to ``event_type`` (``*`` = all)."""
    if endpoint.get("status") != "enabled":
        return False
    enabled = endpoint.get("enabled_events") or []
    return "*" in enabled or event_type in enabled


def refresh_pending_webhooks(sandbox: Sandbox, event_id: str) -> None:
    """Recount an event's ``pending_webhooks`` from its deliveries."""
    event = sandbox.store.get(event_id)
    if event is not None:
        event["pending_webhooks"] = sandbox.store.endpoints_pending(event_id)
        sandbox.store.put(event)


def cancel_endpoint_deliveries(sandbox: Sandbox, endpoint_id: str) -> None:
    """Drop an endpoint's queued deliveries (it was disabled or deleted): its events
    no longer count it in ``pending_webhooks``."""
    with sandbox.store.transaction():
        for event_id in sandbox.store.cancel_deliveries(endpoint_id):
            refresh_pending_webhooks(sandbox, event_id)


def emit(
    sandbox: Sandbox,
    event_type: str,
    obj: dict[str, Any],
    *,
    previous_attributes: dict[str, Any] | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """Record an event about ``obj`` and queue its deliveries; returns the event."""
    store = sandbox.store
    request_id, idempotency_key = current_request.get()
    data: dict[str, Any] = {"object": public(obj)}
    if previous_attributes is not None:
        hidden = ONLY_WHEN_EXPANDED.get(str(obj.get("object")), ())
        data["previous_attributes"] = public(
            {k: v for k, v in previous_attributes.items() if k not in hidden}
        )
    endpoints = [e for e in store.list("webhook_endpoint") if endpoint_wants(e, event_type)]
    event = blank(
        "event",
        id=new_id("evt_"),
        api_version=API_VERSION,
        created=created if created is not None else sandbox.clock.wall(),
        data=data,
        pending_webhooks=len(endpoints),
        request={"id": request_id, "idempotency_key": idempotency_key},
        type=event_type,
    )
    store.put(event)
    settings = sandbox.settings
    now = time.time()
    copies = 2 if settings.duplicate_deliveries else 1
    for endpoint in reversed(endpoints):
        for _ in range(copies):
            hold = (
                sandbox.random.uniform(0, settings.shuffle_window)
                if settings.shuffle_deliveries
                else 0.0
            )
            store.enqueue_delivery(event["id"], endpoint["id"], now + hold)
    if endpoints:
        sandbox.wake_worker()
    return event
