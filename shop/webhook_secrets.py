"""The secrets webhooks are verified with: configured ones plus those `release` stored.

Stripe shows an endpoint's signing secret only when the endpoint is created. `release`
creates it on the platform, where it cannot write the platform's settings, so it keeps
the secret in the `webhook_endpoints` table instead. The webhook reads the stored
secrets once per process and again when a signature matches none of them (the release
may have made a new endpoint meanwhile), but at most once every `REREAD_SECONDS` per
process: a normal delivery costs no query, and a flood of forged ones costs few.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask

from shop import events
from shop.extensions import db
from shop.models import WebhookEndpoint

EXTENSION_KEY = "quire.stored_webhook_secrets"
READ_AT_KEY = "quire.stored_webhook_secrets_read_at"
#: The least time (monotonic seconds) between two reads of the stored secrets.
REREAD_SECONDS = 5.0
_lock = threading.Lock()


def stored_secret(url: str) -> WebhookEndpoint | None:
    """The newest stored endpoint for `url`, if release made one."""
    return db.session.execute(
        db.select(WebhookEndpoint)
        .where(WebhookEndpoint.url == url)
        .order_by(WebhookEndpoint.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def store_secret(endpoint_id: str, url: str, secret: str) -> None:
    """Keep a new endpoint's secret, forgetting those of older endpoints for `url`."""
    db.session.execute(db.delete(WebhookEndpoint).where(WebhookEndpoint.url == url))
    db.session.add(WebhookEndpoint(stripe_endpoint_id=endpoint_id, url=url, secret=secret))
    db.session.commit()


def _read_stored() -> tuple[str, ...]:
    secrets = db.session.execute(
        db.select(WebhookEndpoint.secret).order_by(WebhookEndpoint.id.desc())
    ).scalars()
    return tuple(secrets)


def signing_secrets(app: Flask, *, reread: bool = False) -> tuple[str, ...]:
    """Configured secrets (`STRIPE_WEBHOOK_SECRET`) then stored ones; the stored ones are
    read from the database on first use and when `reread` (unless they were read less
    than `REREAD_SECONDS` ago), otherwise from memory."""
    configured: tuple[str, ...] = tuple(app.config.get("STRIPE_WEBHOOK_SECRETS") or ())
    now = time.monotonic()
    with _lock:
        stored: tuple[str, ...] | None = app.extensions.get(EXTENSION_KEY)
        read_at: float | None = app.extensions.get(READ_AT_KEY)
        due = stored is None or (reread and (read_at is None or now - read_at >= REREAD_SECONDS))
        if due:
            app.extensions[READ_AT_KEY] = now  # other threads wait for the next interval
    if stored is None or due:
        stored = _read_stored()
        with _lock:
            app.extensions[EXTENSION_KEY] = stored
    return configured + tuple(s for s in stored if s not in configured)


def verify_delivery(app: Flask, payload: bytes, header: str | None) -> dict[str, Any]:
    """A delivery's event once its signature matches a known secret (`events.verify_event`);
    on a mismatch the stored secrets are read again (at most every `REREAD_SECONDS`)
    before it is refused."""
    known = signing_secrets(app)
    try:
        return events.verify_event(payload, header, known)
    except events.BadSignature:
        if not header:
            raise
        fresh = signing_secrets(app, reread=True)
        if fresh == known:
            raise
        return events.verify_event(payload, header, fresh)
