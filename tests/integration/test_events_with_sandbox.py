"""Replaying an event from the CLI fetches it from the sandbox again, as from Stripe.

A card payment's `checkout.session.completed` is delivered by the sandbox and applied.
Its row is then made to look failed, its stored body blanked and the order put back to
pending: `flask events replay --failed` re-fetches the real event from the sandbox
(the stored body is never trusted) and the order is paid again.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from stripe_sandbox.flows import engine

from shop.extensions import db
from shop.models import Order, OrderStatus, ProcessedEvent
from tests.integration.live_shop import LiveShop, paying_card

pytestmark = pytest.mark.sandbox


def completed_event(live_shop: LiveShop) -> ProcessedEvent | None:
    """The purchase's completion event, once applied (it is kept as `received` first)."""
    return db.session.execute(
        select(ProcessedEvent).where(
            ProcessedEvent.type == "checkout.session.completed",
            ProcessedEvent.outcome != "received",
        )
    ).scalar_one_or_none()


def test_the_cli_replays_a_failed_event_fetched_again_from_the_sandbox(
    live_shop: LiveShop,
) -> None:
    client = live_shop.signed_in_shopper()
    start = client.post("/checkout/books/salt-road-ebook", data={"quantity": "1"})
    session_id = start.location.rstrip("/").rsplit("/", 1)[-1]
    paid = engine.pay_checkout_session(live_shop.sandbox.state, session_id, paying_card())
    assert paid.status == "succeeded"
    assert live_shop.wait_for(lambda: completed_event(live_shop) is not None)
    with live_shop.app.app_context():
        event = completed_event(live_shop)
        assert event is not None and event.outcome == "processed"
        event_id = event.id
        event.outcome, event.last_error, event.raw_json = "failed", "RuntimeError: lost", "{}"
        order = db.session.get(Order, 1)
        assert order is not None and order.status == OrderStatus.PAID
        order.status = OrderStatus.PENDING
        db.session.commit()

    result = live_shop.app.test_cli_runner().invoke(args=["events", "replay", "--failed"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"{event_id} processed"
    with live_shop.app.app_context():
        kept = db.session.get(ProcessedEvent, event_id)
        assert kept is not None
        assert (kept.outcome, kept.attempts) == ("processed", 2)
        assert kept.raw_json == "{}"  # what Quire stored is kept; the replay used Stripe's
        assert kept.object_id == session_id
        order = db.session.get(Order, 1)
        assert order is not None and order.status == OrderStatus.PAID
