"""``/v1/webhook_endpoints`` and ``/v1/events``."""

from __future__ import annotations

from typing import Any

from ..core.params import get_list, get_str
from ..resources import webhooks
from ..resources.objects import load
from .base import Call, route


@route("/webhook_endpoints", ["POST"], strict="webhook_endpoint.create")
def create_endpoint(call: Call) -> dict[str, Any]:
    """Create an endpoint (the answer includes its ``secret``)."""
    return call.render(webhooks.create_endpoint(call.sandbox, call.params))


@route("/webhook_endpoints/<endpoint_id>", ["GET"], strict="webhook_endpoint.retrieve")
def retrieve_endpoint(call: Call, endpoint_id: str) -> dict[str, Any]:
    """Retrieve an endpoint (without its secret)."""
    return call.render(load(call.sandbox, "webhook_endpoint", endpoint_id))


@route("/webhook_endpoints/<endpoint_id>", ["POST"], strict="webhook_endpoint.update")
def update_endpoint(call: Call, endpoint_id: str) -> dict[str, Any]:
    """Update an endpoint."""
    return call.render(webhooks.update_endpoint(call.sandbox, endpoint_id, call.params))


@route("/webhook_endpoints/<endpoint_id>", ["DELETE"], strict="webhook_endpoint.delete")
def delete_endpoint(call: Call, endpoint_id: str) -> dict[str, Any]:
    """Delete an endpoint."""
    return webhooks.delete_endpoint(call.sandbox, endpoint_id)


@route("/webhook_endpoints", ["GET"], strict="webhook_endpoint.list")
def list_endpoints(call: Call) -> dict[str, Any]:
    """List endpoints."""
    return call.page("/v1/webhook_endpoints", call.store.list("webhook_endpoint"))


@route("/events/<event_id>", ["GET"], strict="event.retrieve")
def retrieve_event(call: Call, event_id: str) -> dict[str, Any]:
    """Retrieve an event."""
    return call.render(load(call.sandbox, "event", event_id))


@route("/events", ["GET"], strict="event.list")
def list_events(call: Call) -> dict[str, Any]:
    """List events, newest first, filtered by ``type`` (``*`` wildcards), ``types[]``
    and ``created[gte|gt|lte|lt]``."""
    wanted = get_str(call.params, "type")
    if wanted is not None and not wanted.endswith("*"):
        events = call.store.list("event", type=wanted)
    else:
        events = call.store.list("event")
        if wanted is not None:
            events = [e for e in events if e["type"].startswith(wanted[:-1])]
    types = [str(t) for t in get_list(call.params, "types")]
    if types:
        events = [e for e in events if e["type"] in types]
    return call.page("/v1/events", events)
