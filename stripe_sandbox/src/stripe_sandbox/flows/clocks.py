"""Test clocks: frozen time for a group of customers, advanced on request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.errors import invalid
from ..core.ids import new_id
from ..core.params import get_int, get_str
from ..core.shapes import blank
from ..resources.events import emit
from ..resources.objects import load
from ..resources.periods import DAY
from .billing import delete_customer
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
