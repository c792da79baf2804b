"""`POST /webhooks/stripe`: verify, then hand the event to `shop.events`.

CSRF-exempt (Stripe signs instead); the signature is checked on the raw body before
anything is parsed or stored, against the configured secrets and the one `release`
stored (`shop.webhook_secrets`). A body over `MAX_EVENT_BYTES` is refused with 413 before
it is read (by its Content-Length, or by a capped read when it comes chunked).
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from shop import events, webhook_secrets
from shop.stripe_client import stripe_client

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)

#: Stripe's events are a few KiB (its largest well under this); a bigger body is not one.
MAX_EVENT_BYTES = 512 * 1024


@bp.post("/webhooks/stripe")
def stripe_webhook() -> tuple[Response, int]:
    """200 once the event is applied (or was already, or is ignored); 400 forged; 413 too
    large; 500 retry."""
    # One byte more than allowed is read at most: a chunked body (no Content-Length) is
    # cut off there rather than refused, so its length says whether it was too large.
    request.max_content_length = MAX_EVENT_BYTES + 1
    try:
        payload = request.get_data(cache=False)
    except RequestEntityTooLarge:
        payload = None
    if payload is None or len(payload) > MAX_EVENT_BYTES:
        log.warning("webhook rejected: body over %s bytes", MAX_EVENT_BYTES)
        return jsonify(error="request body too large"), 413
    try:
        event = webhook_secrets.verify_delivery(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            payload,
            request.headers.get("Stripe-Signature"),
        )
    except events.BadSignature as error:
        log.warning("webhook rejected: %s", error)
        return jsonify(error="invalid signature"), 400
    try:
        outcome = events.process_event(stripe_client(), event, payload.decode("utf-8"))
    except Exception:
        log.exception("webhook %s (%s) failed; Stripe will retry", event["id"], event["type"])
        return jsonify(error="processing failed, retry later"), 500
    log.info("webhook %s %s: %s", event["id"], event["type"], outcome)
    return jsonify(received=True, outcome=outcome), 200
