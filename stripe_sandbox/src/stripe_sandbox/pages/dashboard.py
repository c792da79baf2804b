"""The sandbox dashboard: recent objects of every kind, events and their deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ..api.base import current_sandbox
from ..core.render import public
from ..core.sandbox import Sandbox
from ..settings import SandboxSettings
from .clocks import clock_panels, period_end

#: Rows shown per table.
RECENT = 25


@dataclass(frozen=True)
class Column:
    """One dashboard column: a header, a dotted path into the object, and how to show it.

    ``kind`` is ``text``, ``id`` (links to the object), ``time``, ``money`` (with the
    object's ``currency``), ``bool`` or ``status``.
    """

    header: str
    path: str
    kind: str = "text"


@dataclass(frozen=True)
class Section:
    """A table of the newest objects of one type."""

    title: str
    object_type: str
    columns: tuple[Column, ...]

    @property
    def anchor(self) -> str:
        """The section's fragment id."""
        return self.object_type.replace(".", "-").replace("_", "-")


#: Columns most tables share.
ID, CREATED = Column("ID", "id", "id"), Column("Created", "created", "time")
STATUS, CUSTOMER = Column("Status", "status", "status"), Column("Customer", "customer", "id")
ACTIVE = Column("Active", "active", "bool")

SECTIONS = (
    Section(
        "Products",
        "product",
        (ID, Column("Name", "name"), ACTIVE, CREATED),
    ),
    Section(
        "Prices",
        "price",
        (
            ID,
            Column("Product", "product", "id"),
            Column("Amount", "unit_amount", "money"),
            Column("Interval", "recurring.interval"),
            Column("Lookup key", "lookup_key"),
            ACTIVE,
        ),
    ),
    Section(
        "Coupons",
        "coupon",
        (
            ID,
            Column("Name", "name"),
            Column("Percent off", "percent_off"),
            Column("Amount off", "amount_off", "money"),
            Column("Duration", "duration"),
            Column("Redeemed", "times_redeemed"),
        ),
    ),
    Section(
        "Shipping rates",
        "shipping_rate",
        (ID, Column("Name", "display_name"), ACTIVE, CREATED),
    ),
    Section(
        "Customers",
        "customer",
        (
            ID,
            Column("Email", "email"),
            Column("Name", "name"),
            Column("Test clock", "test_clock", "id"),
            CREATED,
        ),
    ),
    Section(
        "Checkout sessions",
        "checkout.session",
        (
            ID,
            Column("Mode", "mode"),
            STATUS,
            Column("Payment", "payment_status", "status"),
            Column("Total", "amount_total", "money"),
            CUSTOMER,
            CREATED,
        ),
    ),
    Section(
        "Payment intents",
        "payment_intent",
        (
            ID,
            Column("Amount", "amount", "money"),
            STATUS,
            CUSTOMER,
            CREATED,
        ),
    ),
    Section(
        "Subscriptions",
        "subscription",
        (
            ID,
            CUSTOMER,
            STATUS,
            Column("Cancels at period end", "cancel_at_period_end", "bool"),
            CREATED,
        ),
    ),
    Section(
        "Invoices",
        "invoice",
        (
            ID,
            Column("Number", "number"),
            CUSTOMER,
            Column("Total", "total", "money"),
            STATUS,
            Column("Reason", "billing_reason"),
            CREATED,
        ),
    ),
    Section(
        "Refunds",
        "refund",
        (
            ID,
            Column("Payment intent", "payment_intent", "id"),
            Column("Amount", "amount", "money"),
            STATUS,
            CREATED,
        ),
    ),
    Section(
        "Webhook endpoints",
        "webhook_endpoint",
        (
            ID,
            Column("URL", "url"),
            STATUS,
            Column("API version", "api_version"),
            CREATED,
        ),
    ),
    Section(
        "Events",
        "event",
        (ID, Column("Type", "type"), Column("Pending webhooks", "pending_webhooks"), CREATED),
    ),
)


def register(bp: Blueprint) -> None:
    """Add the dashboard routes to the pages blueprint."""
    bp.add_url_rule("/", "home", home, methods=["GET"])
    bp.add_url_rule("/dashboard", "dashboard", dashboard_page, methods=["GET"])
    bp.add_url_rule("/dashboard/events/<event_id>", "event", event_page, methods=["GET"])
    bp.add_url_rule("/dashboard/objects/<object_id>", "object", object_page, methods=["GET"])
    bp.add_url_rule("/dashboard/api-calls", "api_calls", api_calls, methods=["GET", "DELETE"])


def value_at(obj: dict[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of ``obj`` (None if any step is missing)."""
    value: Any = obj
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def api_calls() -> BaseResponse:
    """The API requests answered so far, as JSON: ``{"total": N, "by_route":
    {"GET /v1/customers/{id}": n, ...}}``; ``DELETE`` starts the count again (and
    answers the count it cleared)."""
    counter = current_sandbox().api_calls
    return jsonify(counter.reset() if request.method == "DELETE" else counter.snapshot())


def home() -> BaseResponse:
    """The sandbox's front door is its dashboard."""
    return redirect(url_for("pages.dashboard"))


def duration(seconds: float) -> str:
    """A wait for people: ``45 s``, ``10 min``, ``2 h 40 min``, ``0.06 s``."""
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@dataclass(frozen=True)
class RetrySchedule:
    """The webhook retry schedule as the dashboard shows it."""

    mode: str
    waits: tuple[str, ...]
    last_after: str


def retry_schedule(settings: SandboxSettings) -> RetrySchedule:
    """Which schedule failed deliveries follow, each wait, and when the last retry comes."""
    waits = settings.retry_schedule
    mode = "custom" if settings.retry_backoff is not None else settings.webhook_retries
    if settings.retry_backoff is None and settings.retry_time_scale != 1:
        mode = f"{mode} mode, compressed ×{settings.retry_time_scale:g}"
    elif settings.retry_backoff is None:
        mode = f"{mode} mode"
    return RetrySchedule(mode, tuple(duration(w) for w in waits), duration(sum(waits)))


def pending_deliveries(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Deliveries still to be made, soonest first, with their event type, endpoint URL
    and when the next attempt is due."""
    rows = []
    for delivery in sandbox.store.pending_deliveries(limit=RECENT):
        event = sandbox.store.get(delivery["event_id"]) or {}
        endpoint = sandbox.store.get(delivery["endpoint_id"]) or {}
        rows.append(dict(delivery, event_type=event.get("type"), url=endpoint.get("url")))
    return rows


def dashboard_page() -> str:
    """The test clocks with their advance buttons, tables of the newest objects of each
    kind, the latest webhook deliveries, those waiting for a retry and the retry schedule."""
    sandbox = current_sandbox()
    store = sandbox.store
    tables = [
        (section, store.list(section.object_type)[:RECENT], store.count(section.object_type))
        for section in SECTIONS
    ]
    return render_template(
        "sandbox/dashboard.html",
        tables=tables,
        clocks=clock_panels(sandbox),
        period_end=period_end,
        deliveries=store.deliveries(limit=RECENT),
        pending=pending_deliveries(sandbox),
        schedule=retry_schedule(sandbox.settings),
        value_at=value_at,
        recent=RECENT,
    )


def event_page(event_id: str) -> str:
    """One event's JSON and every attempt to deliver it."""
    store = current_sandbox().store
    found = store.get_typed("event", event_id)
    if found is None:
        abort(404)
    return render_template(
        "sandbox/event.html", event=public(found), attempts=store.deliveries(event_id=event_id)
    )


def object_page(object_id: str) -> BaseResponse | str:
    """Any stored object as JSON (events have their own page)."""
    found = current_sandbox().store.get(object_id)
    if found is None:
        abort(404)
    if found.get("object") == "event":
        return redirect(url_for("pages.event", event_id=object_id))
    return render_template("sandbox/object.html", obj=public(found))
