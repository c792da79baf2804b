"""`flask --app wsgi stripe test-webhook`: send the shop a signed event of a type it
ignores, over HTTP, to prove its address and signing secret work end to end."""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import stripe

from shop.events import sign_payload

#: A type Quire has no handler for, so the shop records the event as ignored.
TEST_EVENT_TYPE = "quire.webhook_test"


@dataclass(frozen=True)
class Delivery:
    """What the shop answered: its HTTP status (None: not reached), outcome and time."""

    event_id: str
    status: int | None
    outcome: str | None
    milliseconds: int
    error: str | None = None


def test_event() -> bytes:
    """A Stripe-shaped event with an id unique to this run (`evt_test_…`)."""
    event = {
        "id": f"evt_test_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": stripe.api_version,
        "created": int(time.time()),
        "data": {"object": {"id": "quire_webhook_test", "object": "test"}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": TEST_EVENT_TYPE,
    }
    return json.dumps(event).encode()


def send_test_event(url: str, secret: str, *, timeout: float = 30.0) -> Delivery:
    """POST a signed test event to `url` and report the answer."""
    if not url.startswith(("http://", "https://")):
        return Delivery("", None, None, 0, error="not an http(s) address")
    payload = test_event()
    event_id = json.loads(payload)["id"]
    request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
        url,
        data=payload,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": sign_payload(payload, secret),
        },
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only)
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        elapsed = round((time.monotonic() - started) * 1000)
        return Delivery(event_id, None, None, elapsed, error=str(reason))
    elapsed = round((time.monotonic() - started) * 1000)
    try:
        outcome = json.loads(body).get("outcome")
    except (ValueError, AttributeError):
        outcome = None
    return Delivery(event_id, status, outcome, elapsed)
