"""An older, slower retrieve never overwrites what a newer one wrote (`shop.mirror`).

Retrieves are slowed and overlapped, not only reordered: each webhook runs on a thread
with its own app context and database connection (PostgreSQL when TEST_DATABASE_URL is
set, as CI runs), and the fake Stripe answers each GET with the object as it was when the
request arrived, holding the answer back while Stripe changes the object and newer
events are applied.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
import responses
from flask import Flask

from shop.extensions import db
from shop.models import Invoice, Order, Subscription
from tests import builders, helpers
from tests.stripe_fakes import SlowStripe, event

SUB = "/v1/subscriptions/sub_1"
INVOICE = "/v1/invoices/in_1"
SESSION = "/v1/checkout/sessions/cs_test_1"
CHARGE = "/v1/charges/ch_1"


class Delivery:
    """One webhook delivery on a thread of its own (its own app context and connection)."""

    def __init__(self, app: Flask, body: dict[str, Any]) -> None:
        self.body = body
        self.status: int | None = None
        self.thread = threading.Thread(target=self._post, args=(app,))
        self.thread.start()

    def _post(self, app: Flask) -> None:
        with app.app_context():
            self.status = helpers.post_event(app.test_client(), self.body).status_code
            db.session.remove()

    def join(self) -> int | None:
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "a webhook never finished"
        return self.status


def membership(app: Flask) -> tuple[Any, ...]:
    with app.app_context():
        sub = db.session.execute(db.select(Subscription)).scalar_one()
        return (sub.status, sub.cancel_at_period_end, sub.canceled_at is not None)


@pytest.fixture
def stripe_objects(fake_stripe: responses.RequestsMock) -> SlowStripe:
    return SlowStripe(fake_stripe)


def test_a_slow_invoice_paid_cannot_revive_a_membership_deleted_meanwhile(
    app: Flask, stripe_objects: SlowStripe
) -> None:
    """The probe's case: invoice.paid's subscription retrieve takes long; meanwhile the
    subscription is cancelled and customer.subscription.deleted is applied. The slow one
    used to land last and leave the membership active while Stripe said canceled."""
    stripe_objects.serve(INVOICE, builders.invoice())
    stripe_objects.serve(SUB, builders.subscription(status="active"))
    slow = stripe_objects.hold(SUB)
    paid = Delivery(app, event("invoice.paid", builders.invoice()))
    assert slow.arrived.wait(10)  # invoice.paid has read "active" and is on its way back

    canceled = builders.subscription(status="canceled", canceled_at=builders.NOW)
    stripe_objects.serve(SUB, canceled)
    deleted = Delivery(app, event("customer.subscription.deleted", canceled))
    assert deleted.join() == 200
    assert membership(app) == ("canceled", False, True)

    slow.release.set()
    assert paid.join() == 200
    assert membership(app) == ("canceled", False, True)
    with app.app_context():  # the invoice itself was still recorded
        assert db.session.execute(db.select(Invoice.status)).scalar_one() == "paid"


#: A membership's life at Stripe: each step is one change and the event it sends.
SUBSCRIPTION_LIFE: list[tuple[str, dict[str, Any]]] = [
    ("customer.subscription.created", {"status": "incomplete"}),
    ("customer.subscription.updated", {"status": "active"}),
    ("invoice.paid", {"status": "active"}),
    ("customer.subscription.updated", {"status": "active", "cancel_at_period_end": True}),
    ("customer.subscription.updated", {"status": "active", "cancel_at_period_end": False}),
    ("invoice.payment_failed", {"status": "past_due"}),
    ("invoice.paid", {"status": "active"}),
    ("customer.subscription.deleted", {"status": "canceled", "canceled_at": builders.NOW}),
]


def _run_overlapped(
    app: Flask,
    stripe_objects: SlowStripe,
    steps: list[tuple[Callable[[], None], dict[str, Any]]],
    seed: int,
    held: tuple[str, ...],
) -> None:
    """Apply `steps` (each: change Stripe, then send its event), every event's retrieve
    of a `held` path held with the answer it read, then let the answers go back in a
    random order (fixed by `seed`), a few milliseconds apart so writes overlap. Events
    answered 500 are delivered again afterwards, as Stripe retries."""
    rng = random.Random(seed)
    stripe_objects.hold_every(*held)
    deliveries = []
    for change, body in steps:
        change()
        count = len(stripe_objects.held)
        deliveries.append(Delivery(app, body))
        assert stripe_objects.wait_for_held(count + 1)  # it has read Stripe's state
    stripe_objects.stop_holding()  # retrieves made from now on answer at once
    gates = list(stripe_objects.held)
    rng.shuffle(gates)
    for gate in gates:
        gate.release.set()
        threading.Event().wait(rng.uniform(0, 0.02))
    retries = [d.body for d in deliveries if d.join() != 200]
    for body in retries:
        assert Delivery(app, body).join() == 200


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_a_membership_ends_as_stripe_has_it_however_slowed_and_overlapped_its_events_are(
    app: Flask, stripe_objects: SlowStripe, seed: int
) -> None:
    """Up to eight changes to one subscription, each event's retrieve held with what it
    read while the later changes happen, the answers let go in a random order (fixed
    seeds): the membership ends as Stripe has it, whatever the interleaving."""
    life = SUBSCRIPTION_LIFE[: 4 + seed % 5] if seed % 2 else SUBSCRIPTION_LIFE
    stripe_objects.serve(INVOICE, builders.invoice())
    steps = []
    for kind, fields in life:
        sub = builders.subscription(**fields)

        def change(sub: dict[str, Any] = sub) -> None:
            stripe_objects.serve(SUB, sub)

        obj = builders.invoice() if kind.startswith("invoice.") else sub
        steps.append((change, event(kind, obj)))
    _run_overlapped(app, stripe_objects, steps, seed, held=(SUB,))
    final = life[-1][1]
    assert membership(app) == (
        final["status"],
        final.get("cancel_at_period_end", False),
        "canceled_at" in final,
    )


def test_an_invoice_ends_as_stripe_has_it_when_a_slow_failure_overlaps_its_payment(
    app: Flask, stripe_objects: SlowStripe
) -> None:
    """invoice.payment_failed's retrieve read the invoice open; the retry paid it and
    invoice.paid was applied first. The invoice must say paid, not failed."""
    failed = builders.invoice(status="open", amount_paid=0, attempt_count=1)
    stripe_objects.serve(SUB, builders.subscription(status="past_due"))
    stripe_objects.serve(INVOICE, failed)
    slow = stripe_objects.hold(INVOICE)
    failure = Delivery(app, event("invoice.payment_failed", failed))
    assert slow.arrived.wait(10)

    paid = builders.invoice(status="paid", amount_paid=900, attempt_count=2)
    stripe_objects.serve(INVOICE, paid)
    stripe_objects.serve(SUB, builders.subscription(status="active"))
    assert Delivery(app, event("invoice.paid", paid)).join() == 200
    slow.release.set()
    assert failure.join() == 200
    with app.app_context():
        invoice = db.session.execute(db.select(Invoice)).scalar_one()
        assert (invoice.status, invoice.amount_paid, invoice.attempt_count) == ("paid", 900, 2)
    assert membership(app)[0] == "active"


def _order(app: Flask) -> tuple[Any, ...]:
    with app.app_context():
        order = db.session.get(Order, 1)
        assert order is not None
        return (
            order.status,
            order.payment_status,
            order.amount_paid,
            order.amount_refunded,
            order.paid_at is not None,
        )


def _async_session(payment_status: str) -> dict[str, Any]:
    """The order's session paid by a method that settles later (a bank debit)."""
    intent = builders.example(
        "payment_intent",
        id="pi_1",
        status="processing" if payment_status == "unpaid" else "succeeded",
        metadata={"order_id": "1"},
    )
    return builders.session(payment_status=payment_status, payment_intent=intent)


def test_an_order_ends_as_stripe_has_it_when_a_slow_completion_overlaps_its_payment_and_refund(
    app: Flask, stripe_objects: SlowStripe
) -> None:
    """checkout.session.completed read the session still unpaid (the debit processing)
    and is slow; meanwhile the payment succeeds and is refunded, and those events are
    applied. The order must end refunded and paid as Stripe says, not 'unpaid'."""
    builders.add_order(app)
    unpaid = _async_session("unpaid")
    stripe_objects.serve(SESSION, unpaid)
    slow = stripe_objects.hold(SESSION)
    completed = Delivery(app, event("checkout.session.completed", unpaid))
    assert slow.arrived.wait(10)

    paid = _async_session("paid")
    stripe_objects.serve(SESSION, paid)
    succeeded = Delivery(app, event("checkout.session.async_payment_succeeded", paid))
    assert succeeded.join() == 200
    refunded = builders.charge(
        amount_refunded=1299, refunded=True, payment_intent=paid["payment_intent"]
    )
    stripe_objects.serve(CHARGE, refunded)
    assert Delivery(app, event("charge.refunded", refunded)).join() == 200
    slow.release.set()
    assert completed.join() == 200
    assert _order(app) == ("refunded", "paid", 1299, 1299, True)


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_an_order_ends_as_stripe_has_it_however_slowed_and_overlapped_its_events_are(
    app: Flask, stripe_objects: SlowStripe, seed: int
) -> None:
    """Completion (unpaid), payment succeeded, partial then full refund: each event's
    retrieve held with what it read, the answers let go in a random order."""
    builders.add_order(app)
    unpaid, paid = _async_session("unpaid"), _async_session("paid")
    intent = paid["payment_intent"]
    part = builders.charge(amount_refunded=500, refunded=False, payment_intent=intent)
    full = builders.charge(amount_refunded=1299, refunded=True, payment_intent=intent)
    stripe_objects.serve(CHARGE, builders.charge(payment_intent=intent))
    steps = [
        (
            lambda: stripe_objects.serve(SESSION, unpaid),
            event("checkout.session.completed", unpaid),
        ),
        (
            lambda: stripe_objects.serve(SESSION, paid),
            event("checkout.session.async_payment_succeeded", paid),
        ),
        (lambda: stripe_objects.serve(CHARGE, part), event("charge.refunded", part)),
        (lambda: stripe_objects.serve(CHARGE, full), event("charge.refunded", full)),
    ]
    _run_overlapped(app, stripe_objects, steps, seed, held=(SESSION, CHARGE))
    assert _order(app) == ("refunded", "paid", 1299, 1299, True)
