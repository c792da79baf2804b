"""The sandbox's time-driven work: what falls due, in time order.

``run_due`` performs everything due up to a moment for the objects on one test clock
(or on none): trial-ending notices, trial ends, renewals (draft invoices finalized),
payment retries, cancellations at period end or ``cancel_at``, expiry of incomplete
subscriptions and of open Checkout Sessions. ``run_due_work`` is the worker's tick by
the wall clock, which also settles delayed bank debits; there each task is its own
transaction, and a failing one is logged and backed off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..resources.events import emit
from ..resources.objects import load
from . import billing
from .checkout import expire_if_due
from .engine import settle_async_payment

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

log = logging.getLogger(__name__)


# Subscriptions -------------------------------------------------------------------


def _next_task(sandbox: Sandbox, subscription: dict[str, Any]) -> tuple[int, str] | None:
    status = subscription["status"]
    if status not in billing.LIVE_STATUSES:
        return None
    end = billing.current_period(subscription)[1]
    tasks: list[tuple[int, str]] = []
    if status == "incomplete":
        tasks.append((int(subscription["created"]) + billing.INCOMPLETE_EXPIRY, "expire"))
        return min(tasks)
    if status == "trialing" and not subscription.get("_trial_notice_sent"):
        tasks.append(
            (
                max(
                    int(subscription["trial_end"]) - billing.TRIAL_NOTICE,
                    int(subscription["created"]),
                ),
                "trial_notice",
            )
        )
    if subscription.get("cancel_at"):
        tasks.append((int(subscription["cancel_at"]), "cancel"))
    tasks.append((end, "renew"))
    draft_id = subscription.get("_draft_invoice")
    if draft_id:
        draft = sandbox.store.get(draft_id) or {}
        tasks.append((int(draft.get("automatically_finalizes_at") or 0), "finalize"))
    retry_id = subscription.get("_retry_invoice")
    if retry_id:
        invoice = sandbox.store.get(retry_id) or {}
        if invoice.get("next_payment_attempt"):
            tasks.append((int(invoice["next_payment_attempt"]), "retry"))
    order = {"trial_notice": 0, "finalize": 1, "retry": 2, "cancel": 3, "renew": 4, "expire": 5}
    return min(tasks, key=lambda t: (t[0], order[t[1]]))


def run_subscription_task(
    sandbox: Sandbox, subscription: dict[str, Any], task: str, at: int
) -> None:
    """Perform one due task of a subscription at time ``at``."""
    if task == "trial_notice":
        subscription["_trial_notice_sent"] = True
        sandbox.store.put(subscription)
        emit(sandbox, "customer.subscription.trial_will_end", subscription, created=at)
    elif task == "cancel":
        billing.cancel_subscription(sandbox, subscription["id"], at=at)
    elif task == "renew":
        billing.renew(sandbox, subscription, at)
    elif task == "retry":
        billing.retry(sandbox, subscription, at)
    elif task == "finalize":
        billing.finalize_draft(sandbox, subscription, at)
    elif task == "expire":
        billing._set_status(sandbox, subscription, "incomplete_expired", at, ended_at=at)


def due_subscription_tasks(sandbox: Sandbox, clock_id: str | None) -> list[tuple[int, str, str]]:
    """``(at, task, subscription id)`` of the next task of every live subscription on a clock."""
    found = []
    for subscription in sandbox.store.list("subscription"):
        if subscription.get("test_clock") != clock_id:
            continue
        task = _next_task(sandbox, subscription)
        if task is not None:
            found.append((task[0], task[1], subscription["id"]))
    return found


# Running what is due ----------------------------------------------------------


#: Waits (seconds) before a failing wall-clock task is tried again; the last repeats.
TASK_BACKOFF = (30.0, 120.0, 600.0)


def _backing_off(sandbox: Sandbox, key: str) -> bool:
    failure = sandbox.task_failures.get(key)
    return failure is not None and failure[1] > time.time()


def _guarded(sandbox: Sandbox, key: str, action: Callable[[], object]) -> bool:
    """Run one wall-clock task in its own transaction.

    A task that raises is rolled back, logged and not tried again until its backoff
    has passed, so one broken object never stops the rest of the due work or the
    webhook deliveries. Returns whether the task ran.
    """
    if _backing_off(sandbox, key):
        return False
    try:
        with sandbox.store.transaction():
            action()
    except Exception:
        failures = sandbox.task_failures.get(key, (0, 0.0))[0] + 1
        wait = TASK_BACKOFF[min(failures, len(TASK_BACKOFF)) - 1]
        sandbox.task_failures[key] = (failures, time.time() + wait)
        log.exception("sandbox task %s failed (%d times); next try in %ss", key, failures, wait)
        return False
    sandbox.task_failures.pop(key, None)
    return True


def _run_task(sandbox: Sandbox, clock_id: str | None, at: int, task: str, object_id: str) -> None:
    if clock_id:
        clock = load(sandbox, "test_helpers.test_clock", clock_id)
        clock["frozen_time"] = max(int(clock["frozen_time"]), at)
        sandbox.store.put(clock)
    if task == "expire_session":
        session = load(sandbox, "checkout.session", object_id)
        expire_if_due(sandbox, session)
    else:
        subscription = load(sandbox, "subscription", object_id)
        run_subscription_task(sandbox, subscription, task, at)


def run_due(sandbox: Sandbox, clock_id: str | None, until: int) -> int:
    """Run, in time order, everything due up to ``until`` for objects on ``clock_id``
    (or on no clock); returns how many tasks ran.

    On a test clock a failing task raises (the advance request fails). By the wall
    clock (``clock_id`` None) each task is its own transaction and a failing one is
    logged and skipped for a while (``TASK_BACKOFF``).
    """
    ran = 0
    for _ in range(10_000):
        tasks = due_subscription_tasks(sandbox, clock_id)
        for session in sandbox.store.list("checkout.session", status="open"):
            if sandbox.clock.clock_of_customer(session.get("customer")) == clock_id:
                tasks.append((int(session["expires_at"]), "expire_session", session["id"]))
        due = [t for t in tasks if t[0] <= until]
        if clock_id is None:
            due = [t for t in due if not _backing_off(sandbox, f"{t[1]}:{t[2]}")]
        if not due:
            break
        at, task, object_id = min(due)
        if clock_id:
            _run_task(sandbox, clock_id, at, task, object_id)
        elif not _guarded(
            sandbox,
            f"{task}:{object_id}",
            lambda: _run_task(sandbox, None, at, task, object_id),  # noqa: B023 - called now
        ):
            continue
        ran += 1
    return ran


def settle_due_async_payments(sandbox: Sandbox) -> None:
    """Settle delayed bank debits whose delay has passed (each in its own transaction)."""
    now = sandbox.clock.wall()
    for session in sandbox.store.list("checkout.session", status="complete"):
        pending = session.get("_async")
        if pending and pending["settle_at"] <= now:
            session_id = session["id"]
            _guarded(
                sandbox,
                f"settle:{session_id}",
                lambda: settle_async_payment(sandbox, session_id),  # noqa: B023 - called now
            )


def run_due_work(sandbox: Sandbox) -> None:
    """Everything due by the wall clock: session expiry, settlements, renewals.

    Each task runs in its own transaction; one that fails is logged and skipped.
    """
    settle_due_async_payments(sandbox)
    run_due(sandbox, None, sandbox.clock.wall())
