"""`GET /healthz` for the platform's health checks."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from shop import alerts
from shop.extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database answers, 503 when it does not. Stripe is not called.

    `last_event_age_seconds`: how long ago the newest applied (or ignored) Stripe event
    arrived, null before the first; a monitor can alert when webhooks stop coming.
    """
    try:
        db.session.execute(text("SELECT 1"))
        age = alerts.last_event_age_seconds()
        db.session.commit()
    except SQLAlchemyError as error:
        log.error("health check: database unavailable: %s", type(error).__name__)
        db.session.rollback()
        return jsonify(status="error", database="unavailable"), 503
    return jsonify(status="ok", database="ok", last_event_age_seconds=age), 200
