"""Stripe events: verify the signature, apply each event once, look handlers up by type.

Why handlers re-retrieve: Stripe may deliver events late, twice or out of order, and an
event's `created` has one-second resolution, so it cannot order two changes to one
object. Each handler therefore treats its event as a trigger, retrieves the object as
Stripe has it now, and writes that.

Why retrieving is not enough, and what is done: two handlers of one object can overlap
(an `invoice.paid` whose subscription retrieve is slow, a `customer.subscription.deleted`
that retrieves later and writes first). Every write from a retrieve goes through
`shop.mirror`: the object's version is read before the retrieve and bumped by a guarded
UPDATE in the write; if another write landed in between, the handler rolls back and
retrieves again. So no older retrieve ever overwrites a newer one, and the records end
equal to Stripe's state whatever the order and overlap of deliveries. (Order statuses
also only move forward, see `models.RANK`.)

Handlers are one `stripe_api.sync_*` call each (the same ones the confirmation page,
refunds and reconcile use); they call Stripe first and write afterwards, so the database
is locked only for the writes, never across a network call.

Why one transaction: the processed-event row is committed together with the event's
effects (and their version bumps). If a handler fails, both roll back and the webhook
answers 500, so Stripe's retry redoes the work instead of finding it wrongly marked
done. A duplicate — even one arriving at the same moment — fails on the event row's
primary key and changes nothing.

Verification is on the exact bytes received: the HMAC of `t.` + body is compared for
each secret, the timestamp must be within `TOLERANCE_SECONDS`, and only then is the
body decoded, strictly (a signed body that is not UTF-8 JSON is refused, never guessed at).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import stripe
from sqlalchemy.exc import IntegrityError

from shop import notices, stripe_api
from shop.extensions import db
from shop.models import ProcessedEvent, from_timestamp, utcnow

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300
#: The signature scheme Stripe signs events with (an HMAC-SHA256, hex).
SCHEME = "v1"
Outcome = Literal["processed", "ignored", "duplicate"]
Handler = Callable[[stripe.StripeClient, dict[str, Any]], None]


class BadSignature(ValueError):
    """The request is not a Stripe event signed with one of our secrets."""


def _signed_parts(header: str) -> tuple[int, list[bytes]]:
    """The timestamp and `v1` signatures of a `Stripe-Signature` header."""
    timestamp: int | None = None
    signatures: list[bytes] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == SCHEME:
            signatures.append(value.encode("ascii", errors="replace"))
    if timestamp is None or not signatures:
        raise BadSignature("Stripe-Signature has no timestamp or no v1 signature")
    return timestamp, signatures


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send for `payload` signed with `secret`
    (what `stripe test-webhook` sends, to check a shop's secret end to end)."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{signed_at}.".encode() + payload, hashlib.sha256)
    return f"t={signed_at},v1={mac.hexdigest()}"


def verify_event(
    payload: bytes, header: str | None, secrets: Sequence[str], now: float | None = None
) -> dict[str, Any]:
    """Check `Stripe-Signature` on the raw bytes against every current secret, then parse.

    More than one secret is accepted so a secret can be rolled without losing events.
    The HMAC covers the bytes exactly as received; decoding comes after, and strictly.
    """
    if not header:
        raise BadSignature("missing Stripe-Signature header")
    if not secrets:
        raise BadSignature("no webhook signing secret is configured")
    timestamp, signatures = _signed_parts(header)
    signed = f"{timestamp}.".encode() + payload
    expected = [
        hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest().encode() for secret in secrets
    ]
    if not any(hmac.compare_digest(mac, given) for mac in expected for given in signatures):
        raise BadSignature("signature does not match any configured secret")
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        raise BadSignature("signature is too old")
    try:
        event: dict[str, Any] = json.loads(payload.decode("utf-8"))
    except ValueError as error:  # UnicodeDecodeError included
        raise BadSignature("signed body is not a Stripe event: not UTF-8 JSON") from error
    if not isinstance(event, dict) or not {"id", "type", "data"} <= event.keys():
        raise BadSignature("signed body is not a Stripe event")
    return event


# --- handlers: one per event type --------------------------------------------------


def _checkout_session(client: stripe.StripeClient, obj: dict[str, Any]) -> None:
    """checkout.session.completed / async_payment_succeeded / async_payment_failed / expired.

    https://docs.stripe.com/api/events/types#event_types-checkout.session.completed
    """
    stripe_api.sync_checkout_session(client, obj["id"], hint=obj)


def _subscription(client: stripe.StripeClient, obj: dict[str, Any]) -> None:
    """customer.subscription.created / updated / deleted.

    https://docs.stripe.com/api/events/types#event_types-customer.subscription.updated
    """
    stripe_api.sync_subscription(client, obj["id"])


def _trial_will_end(client: stripe.StripeClient, obj: dict[str, Any]) -> None:
    """customer.subscription.trial_will_end: three days before a free trial ends (at once
    when the trial is shorter); the member is told what will be charged, and when.

    https://docs.stripe.com/api/events/types#event_types-customer.subscription.trial_will_end
    """
    notices.trial_ending(stripe_api.sync_subscription(client, obj["id"]))


def _invoice(client: stripe.StripeClient, obj: dict[str, Any]) -> None:
    """invoice.paid / invoice.payment_failed: the invoice, and its subscription's new status.

    https://docs.stripe.com/api/events/types#event_types-invoice.payment_failed
    """
    stripe_api.sync_invoice(client, obj["id"], hint=obj)


def _charge_refunded(client: stripe.StripeClient, obj: dict[str, Any]) -> None:
    """charge.refunded: full or partial refund of an order's payment.

    https://docs.stripe.com/api/events/types#event_types-charge.refunded
    """
    stripe_api.sync_charge(client, obj["id"], hint=obj)


def _dispute_created(client: stripe.StripeClient, obj: dict[str, Any]) -> None:
    """charge.dispute.created: the payment is contested; the order is marked disputed.

    https://docs.stripe.com/api/events/types#event_types-charge.dispute.created
    """
    stripe_api.sync_dispute(client, obj["id"], hint=obj)


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _checkout_session,
    "checkout.session.async_payment_succeeded": _checkout_session,
    "checkout.session.async_payment_failed": _checkout_session,
    "checkout.session.expired": _checkout_session,
    "customer.subscription.created": _subscription,
    "customer.subscription.updated": _subscription,
    "customer.subscription.deleted": _subscription,
    "customer.subscription.trial_will_end": _trial_will_end,
    "invoice.paid": _invoice,
    "invoice.payment_failed": _invoice,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
}


def _already_processed(event_id: str) -> bool:
    return db.session.get(ProcessedEvent, event_id) is not None


def process_event(client: stripe.StripeClient, event: dict[str, Any], raw: str) -> Outcome:
    """Apply a verified event exactly once, in one transaction with its event row."""
    event_id = str(event["id"])
    if _already_processed(event_id):
        return "duplicate"
    db.session.commit()  # end the read, so no transaction is open while Stripe is called
    handler = HANDLERS.get(event["type"])
    outcome: Outcome = "processed" if handler else "ignored"
    try:
        if handler is not None:
            handler(client, event["data"]["object"])
        db.session.add(
            ProcessedEvent(
                id=event_id,
                type=event["type"],
                outcome=outcome,
                stripe_created=from_timestamp(event.get("created")) or utcnow(),
                raw_json=raw,
            )
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if _already_processed(event_id):
            log.info("event %s was processed by a concurrent delivery", event_id)
            return "duplicate"
        raise
    except BaseException:
        db.session.rollback()
        raise
    return outcome
