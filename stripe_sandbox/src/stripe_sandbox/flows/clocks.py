"""Test clocks: frozen time for a group of customers, advanced on request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.errors import invalid
from ..core.ids import new_id
from ..core.params import get_int, get_str
from ..core.shapes import blank
from ..resources.events import emit
from ..resources.objects import load
from ..resources.periods import DAY, add_interval
from .billing import LIVE_STATUSES, current_period, delete_customer
from .scheduler import run_due

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox


def create_clock(sandbox: Sandbox, params: dict[str, Any]) -> dict[str, Any]:
    """A ready clock at ``frozen_time``."""
    frozen = get_int(params, "frozen_time", required=True)
    assert frozen is not None
    now = sandbox.clock.wall()
    clock = blank(
        "test_helpers.test_clock",
        id=new_id("clock_"),
        created=now,
        deletes_after=now + 30 * DAY,
        frozen_time=frozen,
        name=get_str(params, "name"),
        status="ready",
        status_details={},
    )
    sandbox.store.put(clock)
    emit(sandbox, "test_helpers.test_clock.created", clock)
    return clock


def advance_clock(sandbox: Sandbox, clock_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Move the clock forward, running everything due on its customers in time order.

    The work runs before the response; the clock is ``ready`` again when it returns
    (both ``advancing`` and ``ready`` events are emitted).
    """
    clock = load(sandbox, "test_helpers.test_clock", clock_id)
    target = get_int(params, "frozen_time", required=True)
    assert target is not None
    if target <= int(clock["frozen_time"]):
        raise invalid(
            "The frozen_time must be after the test clock's current frozen_time.",
            param="frozen_time",
        )
    clock.update(status="advancing", status_details={"advancing": {"target_frozen_time": target}})
    sandbox.store.put(clock)
    emit(sandbox, "test_helpers.test_clock.advancing", clock)
    run_due(sandbox, clock_id, target)
    clock = load(sandbox, "test_helpers.test_clock", clock_id)
    clock.update(frozen_time=target, status="ready", status_details={})
    sandbox.store.put(clock)
    emit(sandbox, "test_helpers.test_clock.ready", clock)
    return clock


def delete_clock(sandbox: Sandbox, clock_id: str) -> dict[str, Any]:
    """Delete a clock; its customers are deleted with it, as on Stripe."""
    clock = load(sandbox, "test_helpers.test_clock", clock_id)
    for customer in sandbox.store.list("customer", test_clock=clock_id):
        if not customer.get("deleted"):
            delete_customer(sandbox, customer["id"])
    sandbox.store.delete(clock_id)
    emit(sandbox, "test_helpers.test_clock.deleted", clock)
    return {"id": clock_id, "object": "test_helpers.test_clock", "deleted": True}


# Advancing by what falls due (the dashboard's buttons) ---------------------------

#: The dashboard's ways to advance a clock, and how each is labelled.
STEPS = {
    "trial_end": "Advance to trial end",
    "renewal": "Advance to next renewal",
    "day": "+1 day",
    "month": "+1 month",
}


def subscriptions_on(sandbox: Sandbox, clock_id: str) -> list[dict[str, Any]]:
    """The subscriptions of a clock's customers, newest first."""
    return [s for s in sandbox.store.list("subscription") if s.get("test_clock") == clock_id]


def step_target(sandbox: Sandbox, clock: dict[str, Any], step: str) -> int | None:
    """The frozen time ``step`` advances ``clock`` to; None when nothing is due for it
    (no trial running, no live subscription to renew).

    A trial end or renewal is reached together with its invoice's charge: renewal
    invoices that stay in draft first (``invoice_finalize_delay``) are finalized and
    charged within the same advance.
    """
    frozen = int(clock["frozen_time"])
    live = [s for s in subscriptions_on(sandbox, clock["id"]) if s["status"] in LIVE_STATUSES]
    charge_delay = max(sandbox.settings.invoice_finalize_delay, 0)
    if step == "trial_end":
        ends = [
            int(s["trial_end"])
            for s in live
            if s["status"] == "trialing" and s.get("trial_end") and int(s["trial_end"]) > frozen
        ]
        return min(ends) + charge_delay if ends else None
    if step == "renewal":
        ends = [current_period(s)[1] for s in live if current_period(s)[1] > frozen]
        return min(ends) + charge_delay if ends else None
    if step == "day":
        return frozen + DAY
    if step == "month":
        return add_interval(frozen, "month")
    raise invalid(f"Unknown step: {step}", param="step")


def advance_by_step(sandbox: Sandbox, clock_id: str, step: str) -> dict[str, Any] | None:
    """Advance a clock by one of ``STEPS``, running what falls due meanwhile exactly as
    ``advance_clock`` does (invoices, payment attempts with each customer's card,
    retries, status changes and their events); None when the step has nothing to reach."""
    clock = load(sandbox, "test_helpers.test_clock", clock_id)
    target = step_target(sandbox, clock, step)
    if target is None:
        return None
    return advance_clock(sandbox, clock_id, {"frozen_time": str(target)})
