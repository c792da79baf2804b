"""`POST /webhooks/stripe`: verify, then hand the event to `shop.events`.

CSRF-exempt (Stripe signs instead); the signature is checked on the raw body before
anything is parsed or stored.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request
from werkzeug.wrappers import Response

from shop import events
from shop.stripe_client import stripe_client

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)


@bp.post("/webhooks/stripe")
def stripe_webhook() -> tuple[Response, int]:
    """200 once the event is applied (or was already, or is ignored); 400 forged; 500 retry."""
    payload = request.get_data(cache=False)
    try:
        event = events.verify_event(
            payload,
            request.headers.get("Stripe-Signature"),
            current_app.config["STRIPE_WEBHOOK_SECRETS"],
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
