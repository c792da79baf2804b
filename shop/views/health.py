"""`GET /healthz` for the platform's health checks and monitors."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from shop import alerts
from shop.catalogue_source import CatalogueSource
from shop.extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


def catalogue_health() -> tuple[str, int]:
    """`ok`; `stale` (the file has problems, the shop sells the last good catalogue); or
    `broken` (no good catalogue was ever read: every shop page answers 503). And how many
    problems the file has now."""
    source = CatalogueSource.of(current_app._get_current_object())  # type: ignore[attr-defined]
    catalogue, error = source.catalogue(), source.error()
    problems = len(error.problems) if error is not None else 0
    if catalogue is None:
        return "broken", problems
    return ("stale" if error is not None else "ok"), problems


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database answers and the shop has a catalogue to sell; 503 when
    either fails, saying which. Stripe is not called.

    `last_event_age_seconds`: how long ago the newest applied (or ignored) Stripe event
    arrived, null before the first; a monitor can alert when webhooks stop coming.
    """
    catalogue, problems = catalogue_health()
    answer: dict[str, object] = {"catalogue": catalogue}
    if problems:
        answer["catalogue_problems"] = problems
    try:
        age = alerts.last_event_age_seconds()  # one indexed query: the database answers
        db.session.commit()
    except SQLAlchemyError as error:
        log.error("health check: database unavailable: %s", type(error).__name__)
        db.session.rollback()
        return jsonify(status="error", database="unavailable", **answer), 503
    answer.update(database="ok", last_event_age_seconds=age)
    if catalogue == "broken":
        log.error("health check: the catalogue is broken (`flask --app wsgi catalog check`)")
        return jsonify(status="error", **answer), 503
    return jsonify(status="ok", **answer), 200
