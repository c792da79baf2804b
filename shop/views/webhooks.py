"""`POST /webhooks/stripe`: verify, then hand the event to the inbox (`shop.inbox`), which
keeps it and queues it for a worker (or, inline, applies it before the answer).

CSRF-exempt (Stripe signs instead); the signature is checked on the raw body before
anything is parsed or stored, against the configured secrets and the one `release`
stored (`shop.webhook_secrets`). A body over `MAX_EVENT_BYTES` is refused with 413 before
it is read (by its Content-Length, or by a capped read when it comes chunked).
"""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from shop import alerts, events, inbox, webhook_secrets
from shop.stripe_client import stripe_client

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)

#: Stripe's events are a few KiB (its largest well under this); a bigger body is not one.
MAX_EVENT_BYTES = 512 * 1024


def _log_line(level: int, started: float, **fields: object) -> None:
    """One line per delivery, `key=value` pairs: `webhook type=… id=… outcome=… ms=…`."""
    fields["ms"] = round((time.perf_counter() - started) * 1000)
    log.log(level, "webhook %s", " ".join(f"{k}={_value(v)}" for k, v in fields.items()))


def _value(value: object) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c in text for c in ' "=\n') else text


@bp.post("/webhooks/stripe")
def stripe_webhook() -> tuple[Response, int]:
    """200 once the event is kept and queued (inline: applied, or ignored), or was already;
    400 forged; 413 too large; 500 retry."""
    started = time.perf_counter()
    # One byte more than allowed is read at most: a chunked body (no Content-Length) is
    # cut off there rather than refused, so its length says whether it was too large.
    request.max_content_length = MAX_EVENT_BYTES + 1
    try:
        payload = request.get_data(cache=False)
    except RequestEntityTooLarge:
        payload = None
    if payload is None or len(payload) > MAX_EVENT_BYTES:
        _log_line(
            logging.WARNING,
            started,
            outcome="rejected",
            status=413,
            reason=f"body over {MAX_EVENT_BYTES} bytes",
        )
        return jsonify(error="request body too large"), 413
    try:
        event = webhook_secrets.verify_delivery(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            payload,
            request.headers.get("Stripe-Signature"),
        )
    except events.BadSignature as error:
        alerts.count_bad_signature()
        _log_line(logging.WARNING, started, outcome="rejected", status=400, reason=error)
        return jsonify(error="invalid signature"), 400
    try:
        outcome = inbox.deliver(stripe_client(), event, payload.decode("utf-8"))
    except Exception as error:
        _log_line(
            logging.ERROR,
            started,
            type=event["type"],
            id=event["id"],
            outcome="failed",
            status=500,
            reason=events.describe_error(error),
        )
        log.debug("webhook %s failed; Stripe will retry", event["id"], exc_info=True)
        return jsonify(error="processing failed, retry later"), 500
    _log_line(
        logging.INFO, started, type=event["type"], id=event["id"], outcome=outcome, status=200
    )
    return jsonify(received=True, outcome=outcome), 200
