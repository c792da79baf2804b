"""Admin event pages: every Stripe event received, one event, and replaying it."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import (
    Response,
    abort,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from shop import alerts, event_log, events
from shop.extensions import db
from shop.forms import ActionForm
from shop.models import ProcessedEvent
from shop.stripe_client import stripe_client
from shop.views.admin import admin_required, bp


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def _wanted() -> event_log.EventFilter:
    """The list's search and filters, from the query string."""
    return event_log.EventFilter(
        search=request.args.get("q", "")[:255],
        outcomes=tuple(request.args.getlist("outcome")),
        type=request.args.get("type", "")[:100],
        since=_day("since"),
        until=_day("until"),
    )


@bp.app_context_processor
def event_alerts() -> dict[str, object]:
    """The failure banner's figures, on admin pages only (shoppers' pages query nothing)."""
    if not has_request_context() or request.blueprint != "admin":
        return {}
    return {
        "event_alert": alerts.event_alert(),
        "waiting_minutes": alerts.WAITING_ALERT_SECONDS // 60,
    }


@bp.get("/events", endpoint="events")
@admin_required
def events_list() -> str:
    """Events received, newest first: search, filters, one keyset page at a time."""
    wanted = _wanted()
    found = event_log.page(wanted, request.args.get("after"))
    query: dict[str, Any] = {
        k: v for k, v in request.args.to_dict(flat=False).items() if k != "after"
    }
    return render_template(
        "admin/events.html",
        page=found,
        older_url=url_for("admin.events", **query, after=found.after) if found.after else None,
        csv_url=url_for("admin.events_csv", **query),
        wanted=wanted,
        outcomes=event_log.OUTCOMES,
        types=event_log.event_types(),
        form=ActionForm(),
    )


@bp.get("/events.csv")
@admin_required
def events_csv() -> BaseResponse:
    """The events matching the list's search and filters, as CSV."""
    lines = event_log.csv_lines(_wanted())
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=stripe-events.csv"},
    )


@bp.get("/events/<event_id>")
@admin_required
def event(event_id: str) -> str:
    """One event: what it is, what became of it, its body, and where it leads."""
    found = db.session.get(ProcessedEvent, event_id) or abort(404)
    return render_template(
        "admin/event.html",
        event=found,
        body=event_log.pretty_json(found.raw_json),
        order=event_log.order_of(found),
        membership=event_log.membership_of(found),
        customer=event_log.customer_of(found),
        form=ActionForm(),
    )


@bp.post("/events/<event_id>/replay")
@admin_required
def replay_event(event_id: str) -> BaseResponse:
    """Fetch the event from Stripe again and apply it; the outcome in a flash."""
    if not ActionForm().validate_on_submit():
        abort(400)
    done = events.replay(stripe_client(), event_id)
    if done.ok:
        flash(f"Replayed {event_id}: {done.outcome}.", "success")
    else:
        flash(f"Replay of {event_id} {done.outcome}: {done.error}", "error")
    if db.session.get(ProcessedEvent, event_id) is None:
        return redirect(url_for("admin.events"))
    return redirect(url_for("admin.event", event_id=event_id))
