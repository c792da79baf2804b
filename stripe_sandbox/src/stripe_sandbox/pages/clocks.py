"""The dashboard's test clocks: each clock with its customers and subscriptions, and
buttons that advance it to what falls due next (trial end, renewal) or by a day or a
month, running invoices, payment attempts, retries and their webhooks on the way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ..api.base import current_sandbox
from ..core.sandbox import Sandbox
from ..flows import clocks
from ..flows.billing import current_period
from .forms import check_post, form_token


@dataclass(frozen=True)
class Step:
    """One advance button: its step, label, and the time it moves to (None: disabled)."""

    name: str
    label: str
    target: int | None


@dataclass(frozen=True)
class ClockPanel:
    """A test clock as the dashboard shows it."""

    clock: dict[str, Any]
    customers: list[dict[str, Any]]
    subscriptions: list[dict[str, Any]]
    steps: list[Step]
    token: str

    @property
    def anchor(self) -> str:
        """The panel's fragment id."""
        return f"clock-{self.clock['id']}"


def _subject(clock_id: str) -> str:
    return f"clock:{clock_id}"


def period_end(subscription: dict[str, Any]) -> int:
    """When the subscription's current period (or trial) ends."""
    return current_period(subscription)[1]


def clock_panels(sandbox: Sandbox) -> list[ClockPanel]:
    """Every test clock, newest first, with what is on it and where each button goes."""
    panels = []
    for clock in sandbox.store.list("test_helpers.test_clock"):
        customers = [
            c
            for c in sandbox.store.list("customer", test_clock=clock["id"])
            if not c.get("deleted")
        ]
        steps = [
            Step(name, label, clocks.step_target(sandbox, clock, name))
            for name, label in clocks.STEPS.items()
        ]
        panels.append(
            ClockPanel(
                clock=clock,
                customers=customers,
                subscriptions=clocks.subscriptions_on(sandbox, clock["id"]),
                steps=steps,
                token=form_token(_subject(clock["id"])),
            )
        )
    return panels


def advance(clock_id: str) -> BaseResponse:
    """Advance a clock by the step its button names, then back to its panel.

    The webhooks of what ran are delivered by the worker, as after an API advance.
    """
    sandbox = current_sandbox()
    check_post(_subject(clock_id))
    if sandbox.store.get_typed("test_helpers.test_clock", clock_id) is None:
        abort(404)
    step = request.form.get("step", "")
    if step not in clocks.STEPS:
        abort(400, "Choose how far to advance the clock.")
    with sandbox.store.transaction():
        advanced = clocks.advance_by_step(sandbox, clock_id, step)
    if advanced is None:
        abort(409, "Nothing on this clock falls due that way: no trial or membership is running.")
    sandbox.wake_worker()
    return redirect(url_for("pages.dashboard", _anchor=f"clock-{clock_id}"), 303)


def register(bp: Blueprint) -> None:
    """Add the clock routes to the pages blueprint."""
    bp.add_url_rule(
        "/dashboard/clocks/<clock_id>/advance", "advance_clock", advance, methods=["POST"]
    )
