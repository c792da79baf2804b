"""``/v1/checkout/sessions``."""

from __future__ import annotations

from typing import Any

from ..core.params import get_str, merge_metadata
from ..core.render import checkout_line_items
from ..flows import checkout
from .base import Call, route


@route("/checkout/sessions", ["POST"], strict="checkout.session.create")
def create_session(call: Call) -> dict[str, Any]:
    """Create a Checkout Session."""
    return call.render(checkout.create_session(call.sandbox, call.params))


@route("/checkout/sessions/<session_id>", ["GET"], strict="checkout.session.retrieve")
def retrieve_session(call: Call, session_id: str) -> dict[str, Any]:
    """Retrieve a session (expiring it first if it is past ``expires_at``)."""
    return call.render(checkout.load_session(call.sandbox, session_id, param="id"))


@route("/checkout/sessions/<session_id>", ["POST"], strict="checkout.session.update")
def update_session(call: Call, session_id: str) -> dict[str, Any]:
    """Update a session's metadata."""
    session = checkout.load_session(call.sandbox, session_id, param="id")
    if "metadata" in call.params:
        session["metadata"] = merge_metadata(session.get("metadata") or {}, call.params["metadata"])
        call.store.put(session)
    return call.render(session)


@route("/checkout/sessions/<session_id>/expire", ["POST"], strict="checkout.session.expire")
def expire_session(call: Call, session_id: str) -> dict[str, Any]:
    """Expire an open session."""
    session = checkout.load_session(call.sandbox, session_id)
    return call.render(
        checkout.expire_session(
            call.sandbox, session, created=call.sandbox.clock.for_customer(session.get("customer"))
        )
    )


@route(
    "/checkout/sessions/<session_id>/line_items", ["GET"], strict="checkout.session.list_line_items"
)
def list_line_items(call: Call, session_id: str) -> dict[str, Any]:
    """The session's line items (``item`` objects with their full price)."""
    session = checkout.load_session(call.sandbox, session_id)
    items = checkout_line_items(session)
    return call.page(items["url"], list(items["data"]))


@route("/checkout/sessions", ["GET"], strict="checkout.session.list")
def list_sessions(call: Call) -> dict[str, Any]:
    """List sessions, filtered by ``payment_intent``, ``subscription``, ``customer``,
    ``customer_details[email]`` and ``status``."""
    checkout.expire_due_sessions(call.sandbox, None)
    sessions = call.store.list("checkout.session")
    for key in ("payment_intent", "subscription", "customer", "status", "payment_link"):
        value = get_str(call.params, key)
        if value is not None:
            sessions = [s for s in sessions if s.get(key) == value]
    details = call.params.get("customer_details")
    if isinstance(details, dict) and details.get("email"):
        sessions = [
            s
            for s in sessions
            if (s.get("customer_details") or {}).get("email") == details["email"]
        ]
    return call.page("/v1/checkout/sessions", sessions)
