"""`POST /webhooks/stripe`: signed events only, each applied exactly once, in one transaction."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import responses
import stripe
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from shop import endpoints, entitlements, events, fulfilment
from shop.extensions import db
from shop.models import Invoice, Order, ProcessedEvent, Subscription, User
from tests import builders
from tests.helpers import OLD_WEBHOOK_SECRET, WEBHOOK_SECRET
from tests.stripe_fakes import API, event, signature


def rows(app: Flask, model: Any) -> list[Any]:
    with app.app_context():
        return list(db.session.execute(db.select(model)).scalars())


def order_of(app: Flask, order_id: int) -> Order:
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order is not None
        db.session.expunge(order)
        return order


# --- signatures ----------------------------------------------------------------------


def test_a_correctly_signed_event_is_applied(
    app: Flask, client: FlaskClient, paid_session: dict[str, Any], post_event: Callable[..., Any]
) -> None:
    response = post_event(event("checkout.session.completed", paid_session, id="evt_ok"))
    assert response.status_code == 200
    assert response.json == {"received": True, "outcome": "processed"}
    assert order_of(app, 1).status == "paid"


def test_a_secret_being_rotated_out_still_verifies(
    app: Flask, client: FlaskClient, paid_session: dict[str, Any], post_event: Callable[..., Any]
) -> None:
    response = post_event(
        event("checkout.session.completed", paid_session), secret=OLD_WEBHOOK_SECRET
    )
    assert response.status_code == 200
    assert order_of(app, 1).status == "paid"


@pytest.mark.parametrize(
    "headers",
    [
        {},  # missing
        {"Stripe-Signature": "t=1,v1=deadbeef"},  # garbage
        {"Stripe-Signature": "<wrong secret>"},
        {"Stripe-Signature": "<stale>"},
        {"Stripe-Signature": "<other body>"},
    ],
    ids=["missing", "garbage", "wrong-secret", "stale", "other-body"],
)
def test_a_forged_event_gets_400_and_writes_nothing(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    headers: dict[str, str],
) -> None:
    payload = json.dumps(event("checkout.session.completed", paid_session)).encode()
    forged = {
        "<wrong secret>": signature(payload, "whsec_attacker"),
        "<stale>": signature(payload, WEBHOOK_SECRET, timestamp=int(time.time()) - 301),
        "<other body>": signature(b'{"id": "evt_other"}', WEBHOOK_SECRET),
    }
    headers = {k: forged.get(v, v) for k, v in headers.items()}
    response = client.post("/webhooks/stripe", data=payload, headers=headers)
    assert response.status_code == 400
    assert rows(app, ProcessedEvent) == []
    assert order_of(app, 1).status == "pending"
    assert len(fake_stripe.calls) == 0  # nothing was even fetched


# --- exactly once ---------------------------------------------------------------------


def test_the_same_event_twice_has_one_effect(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    body = event("checkout.session.completed", paid_session, id="evt_twice")
    assert post_event(body).json["outcome"] == "processed"
    second = post_event(body)
    assert second.status_code == 200
    assert second.json["outcome"] == "duplicate"
    assert [e.id for e in rows(app, ProcessedEvent)] == ["evt_twice"]
    assert len(fake_stripe.calls) == 1  # the duplicate did no work


def test_two_copies_arriving_at_once_apply_once(
    app: Flask,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    body = event("checkout.session.completed", paid_session, id="evt_race")
    barrier = threading.Barrier(2)
    answers: list[int] = []

    def deliver() -> None:
        client = app.test_client()
        barrier.wait()
        answers.append(post_event(body, client=client).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 200]
    assert len(rows(app, ProcessedEvent)) == 1
    assert order_of(app, 1).status == "paid"


def test_a_duplicate_that_slips_past_the_early_check_is_stopped_by_the_event_key(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    post_event: Callable[..., Any],
) -> None:
    """Two deliveries racing both pass the cheap SELECT; the primary key stops the second."""
    body = event("checkout.session.completed", paid_session, id="evt_slipped")
    assert post_event(body).json["outcome"] == "processed"
    with app.app_context():
        order = db.session.get(Order, 1)
        order.amount_paid = 1  # any second application would overwrite this
        db.session.commit()
    checks = iter([False])  # the racing copy's early check saw nothing yet
    monkeypatch.setattr(events, "_already_processed", lambda _id: next(checks, True))
    second = post_event(body)
    assert second.status_code == 200
    assert second.json["outcome"] == "duplicate"
    assert order_of(app, 1).amount_paid == 1  # its effects were rolled back
    assert len(rows(app, ProcessedEvent)) == 1


def test_a_failing_handler_rolls_back_and_asks_stripe_to_retry(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    body = event("checkout.session.completed", paid_session, id="evt_retry")
    builders.stripe_serves(
        fake_stripe,
        "/v1/checkout/sessions/cs_test_1",
        {"error": {"type": "api_error", "message": "boom"}},
        status=500,
    )
    assert post_event(body).status_code == 500
    assert [e.outcome for e in rows(app, ProcessedEvent)] == ["failed"]  # kept, not done
    assert order_of(app, 1).status == "pending"

    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", paid_session)
    assert post_event(body).status_code == 200  # Stripe's retry does the work
    assert order_of(app, 1).status == "paid"
    assert [e.outcome for e in rows(app, ProcessedEvent)] == ["processed"]


def test_a_database_error_rolls_back_every_write_and_answers_500(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    post_event: Callable[..., Any],
) -> None:
    real = fulfilment.fulfil_checkout_session

    def fail_after_writing(session: Any) -> Any:
        real(session)  # the order is marked paid in the session...
        db.session.flush()
        raise OperationalError(
            "UPDATE orders", {}, Exception("disk I/O error")
        )  # ...then the DB fails

    monkeypatch.setattr(fulfilment, "fulfil_checkout_session", fail_after_writing)
    response = post_event(event("checkout.session.completed", paid_session))
    assert response.status_code == 500
    assert order_of(app, 1).status == "pending"
    (kept,) = rows(app, ProcessedEvent)  # only the failure, in a transaction of its own
    assert (kept.outcome, kept.last_error) == ("failed", "OperationalError: disk I/O error")


def test_unknown_event_types_get_200_and_are_kept_as_ignored(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    body = event("customer.tax_id.created", {"id": "txi_1", "object": "tax_id"}, id="evt_unknown")
    response = post_event(body)
    assert response.status_code == 200
    assert response.json["outcome"] == "ignored"
    (kept,) = rows(app, ProcessedEvent)
    assert (kept.id, kept.type, kept.outcome) == (
        "evt_unknown",
        "customer.tax_id.created",
        "ignored",
    )
    assert json.loads(kept.raw_json) == body
    assert len(fake_stripe.calls) == 0

    again = post_event(body)  # Stripe delivers it again: a duplicate, the row untouched
    assert (again.status_code, again.json["outcome"]) == (200, "duplicate")
    (kept,) = rows(app, ProcessedEvent)
    assert (kept.outcome, kept.attempts, kept.last_error) == ("ignored", 1, None)


# --- what each event type does ----------------------------------------------------------


def test_unpaid_completion_awaits_payment_then_async_success_pays(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    order_id = builders.add_order(app)
    processing = builders.session(
        order_id=order_id,
        payment_status="unpaid",
        payment_intent={"id": "pi_1", "object": "payment_intent", "status": "processing"},
    )
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", processing)
    post_event(event("checkout.session.completed", processing))
    assert order_of(app, order_id).status == "awaiting_payment"

    builders.stripe_serves(
        fake_stripe, "/v1/checkout/sessions/cs_test_1", builders.session(order_id=order_id)
    )
    post_event(event("checkout.session.async_payment_succeeded", processing))
    paid = order_of(app, order_id)
    assert (paid.status, paid.amount_paid, paid.payment_intent_id) == ("paid", 1299, "pi_1")


def test_async_failure_marks_the_payment_failed(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    order_id = builders.add_order(app)
    failed = builders.session(
        order_id=order_id,
        payment_status="unpaid",
        payment_intent={
            "id": "pi_1",
            "object": "payment_intent",
            "status": "requires_payment_method",
        },
    )
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", failed)
    post_event(event("checkout.session.async_payment_failed", failed))
    assert order_of(app, order_id).status == "payment_failed"


def test_an_expired_session_expires_its_order(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    order_id = builders.add_order(app)
    expired = builders.session(
        order_id=order_id, status="expired", payment_status="unpaid", payment_intent=None
    )
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", expired)
    post_event(event("checkout.session.expired", expired))
    assert order_of(app, order_id).status == "expired"


def test_a_session_that_is_not_ours_is_acknowledged_and_ignored(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    foreign = builders.session(session_id="cs_elsewhere", client_reference_id=None)
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_elsewhere", foreign)
    assert post_event(event("checkout.session.completed", foreign)).status_code == 200
    assert rows(app, Order) == []


@pytest.mark.parametrize(("refunded", "status"), [(500, "partially_refunded"), (1299, "refunded")])
def test_refunds_are_recorded_on_the_order(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    refunded: int,
    status: str,
    post_event: Callable[..., Any],
) -> None:
    post_event(event("checkout.session.completed", paid_session))
    refunded_charge = builders.charge(amount_refunded=refunded, refunded=refunded == 1299)
    builders.stripe_serves(fake_stripe, "/v1/charges/ch_1", refunded_charge)
    post_event(event("charge.refunded", refunded_charge))
    order = order_of(app, 1)
    assert (order.status, order.amount_refunded) == (status, refunded)
    # The event's charge names its payment, so one retrieve of the charge is enough.
    assert sum("/v1/charges/ch_1" in c.request.url for c in fake_stripe.calls) == 1


def test_a_dispute_marks_the_order_disputed(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    post_event(event("checkout.session.completed", paid_session))
    dispute = builders.example("dispute", id="dp_1", payment_intent="pi_1", charge="ch_1")
    builders.stripe_serves(fake_stripe, "/v1/disputes/dp_1", dispute)
    post_event(event("charge.dispute.created", dispute))
    assert order_of(app, 1).status == "disputed"
    # The event's dispute names its payment, so one retrieve of the dispute is enough.
    assert sum("/v1/disputes/" in c.request.url for c in fake_stripe.calls) == 1


def test_a_refund_that_arrives_before_the_payment_is_confirmed_is_not_lost(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    """The charge's PaymentIntent carries the order id Quire gave it, so the refund finds it."""
    refunded = builders.charge(
        amount_refunded=1299,
        refunded=True,
        payment_intent=builders.example("payment_intent", id="pi_1", metadata={"order_id": "1"}),
    )
    builders.stripe_serves(fake_stripe, "/v1/charges/ch_1", refunded)
    post_event(event("charge.refunded", refunded))
    post_event(event("checkout.session.completed", paid_session))  # arrives late
    order = order_of(app, 1)
    assert (order.status, order.amount_refunded, order.amount_paid) == ("refunded", 1299, 1299)


def test_invoice_events_record_the_invoice_and_the_subscription_status(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    failed = builders.invoice(
        status="open", amount_paid=0, attempt_count=2, billing_reason="subscription_cycle"
    )
    builders.stripe_serves(fake_stripe, "/v1/invoices/in_1", failed)
    builders.stripe_serves(
        fake_stripe, "/v1/subscriptions/sub_1", builders.subscription(status="past_due")
    )
    assert post_event(event("invoice.payment_failed", failed)).status_code == 200

    (invoice,) = rows(app, Invoice)
    assert (invoice.stripe_subscription_id, invoice.status, invoice.attempt_count) == (
        "sub_1",
        "open",
        2,
    )
    (membership,) = rows(app, Subscription)
    assert (membership.status, membership.user_id, membership.plan_key) == ("past_due", 1, "reader")
    # The event's invoice names its subscription: one retrieve of each is enough.
    assert sum("/v1/invoices/in_1" in c.request.url for c in fake_stripe.calls) == 1


def test_invoices_in_the_old_shape_still_find_their_subscription(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    old = builders.invoice(parent=None, subscription="sub_1")
    builders.stripe_serves(fake_stripe, "/v1/invoices/in_1", old)
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    post_event(event("invoice.paid", old))
    assert rows(app, Invoice)[0].stripe_subscription_id == "sub_1"


def test_subscription_periods_are_read_from_the_item(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    sub = builders.subscription(
        period_end=1_900_000_000, interval="year", cancel_at_period_end=True
    )
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", sub)
    post_event(event("customer.subscription.updated", sub))
    (membership,) = rows(app, Subscription)
    assert membership.current_period_end is not None
    assert int(membership.current_period_end.timestamp()) == 1_900_000_000
    assert membership.current_period_end.utcoffset() is not None  # aware UTC
    assert (membership.interval, membership.cancel_at_period_end) == ("year", True)


def test_the_webhook_and_the_success_page_recording_one_subscription_at_once_both_succeed(
    app: Flask,
) -> None:
    """The second writer waits for the first and then finds its row, instead of failing."""
    builders.add_order(app, kind="membership", session_id="cs_sub")
    sub = stripe.Subscription.construct_from(builders.subscription(status="active"), None)
    first_flushed, finish_first = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first_writer() -> None:
        with app.app_context():
            try:
                fulfilment.record_subscription(sub)
                db.session.flush()  # the row is written but not committed...
                first_flushed.set()
                finish_first.wait(5)  # ...while the second writer arrives
                db.session.commit()
            except BaseException as error:
                errors.append(error)
                first_flushed.set()

    def second_writer() -> None:
        with app.app_context():
            try:
                fulfilment.record_subscription(sub)
                db.session.commit()
            except BaseException as error:
                errors.append(error)

    first = threading.Thread(target=first_writer)
    first.start()
    assert first_flushed.wait(5)
    second = threading.Thread(target=second_writer)
    second.start()
    time.sleep(0.3)
    finish_first.set()
    first.join(10)
    second.join(10)
    assert errors == []
    assert [s.status for s in rows(app, Subscription)] == ["active"]


# --- what Quire subscribes to ------------------------------------------------------------

#: Every event type Quire asks Stripe for; each is applied (none merely kept as ignored).
SUBSCRIBED = [
    "charge.dispute.created",
    "charge.refunded",
    "checkout.session.async_payment_failed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.completed",
    "checkout.session.expired",
    "customer.subscription.created",
    "customer.subscription.deleted",
    "customer.subscription.trial_will_end",
    "customer.subscription.updated",
    "invoice.paid",
    "invoice.payment_failed",
]


def test_the_endpoint_asks_stripe_for_exactly_the_events_quire_applies() -> None:
    assert endpoints.wanted_events() == SUBSCRIBED


def reader_plans(app: Flask, user_id: int = 1) -> list[str]:
    """The plans whose benefits the user has now."""
    with app.app_context():
        user = db.session.get(User, user_id)
        return [plan.key for plan in entitlements.live_plans(user)]


def test_a_membership_created_then_deleted_gives_then_takes_the_member_s_benefits(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    """`customer.subscription.created` starts a membership, `.deleted` ends it: a member
    who cancelled keeps nothing."""
    builders.add_order(app, kind="membership", session_id="cs_sub")
    started = builders.subscription(status="active")
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", started)
    created = post_event(event("customer.subscription.created", started))
    assert created.json["outcome"] == "processed"
    assert [s.status for s in rows(app, Subscription)] == ["active"]
    assert reader_plans(app) == ["reader"]

    ended = builders.subscription(
        status="canceled", canceled_at=builders.NOW, ended_at=builders.NOW
    )
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", ended)
    deleted = post_event(event("customer.subscription.deleted", ended))
    assert deleted.json["outcome"] == "processed"
    assert [s.status for s in rows(app, Subscription)] == ["canceled"]
    assert reader_plans(app) == []


@pytest.mark.parametrize(
    ("age", "accepted"), [(0, True), (300, True), (-300, True), (301, False), (-301, False)]
)
def test_a_signature_is_accepted_for_five_minutes_either_way(age: int, accepted: bool) -> None:
    payload = json.dumps(event("checkout.session.completed", {"id": "cs_1"})).encode()
    header = signature(payload, WEBHOOK_SECRET, timestamp=1_800_000_000)
    now = 1_800_000_000 + age
    if accepted:
        assert events.verify_event(payload, header, [WEBHOOK_SECRET], now=now)["id"]
    else:
        with pytest.raises(events.BadSignature, match="too old"):
            events.verify_event(payload, header, [WEBHOOK_SECRET], now=now)


def test_a_payload_signed_at_a_given_moment_carries_that_moment() -> None:
    """`stripe test-webhook` signs as Stripe would at the time given, which verifies then."""
    payload = json.dumps(event("checkout.session.completed", {"id": "cs_1"})).encode()
    header = events.sign_payload(payload, WEBHOOK_SECRET, timestamp=1_800_000_000)
    assert header == signature(payload, WEBHOOK_SECRET, timestamp=1_800_000_000)
    assert events.verify_event(payload, header, [WEBHOOK_SECRET], now=1_800_000_000)["id"]


def test_a_completed_membership_checkout_is_retrieved_once(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    """The event's session names its order and its subscription, everything recording it
    writes: one retrieve of the session is enough."""
    builders.add_order(app, kind="membership", session_id="cs_sub")
    session = builders.session(
        session_id="cs_sub", mode="subscription", subscription="sub_1", amount_total=900
    )
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_sub", session)
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    assert post_event(event("checkout.session.completed", session)).json["outcome"] == "processed"
    assert order_of(app, 1).status == "paid"
    assert sum("/v1/checkout/sessions/cs_sub" in c.request.url for c in fake_stripe.calls) == 1


def _stripe_object(event_type: str) -> tuple[str, dict[str, Any]]:
    """Where Stripe keeps the object an event of `event_type` is about, and the object."""
    if event_type.startswith("checkout.session."):
        return "/v1/checkout/sessions/cs_test_1", builders.session()
    if event_type.startswith("customer.subscription."):
        return "/v1/subscriptions/sub_1", builders.subscription()
    if event_type.startswith("invoice."):
        return "/v1/invoices/in_1", builders.invoice()
    if event_type == "charge.refunded":
        return "/v1/charges/ch_1", builders.charge(amount_refunded=1299, refunded=True)
    dispute = builders.example("dispute", id="dp_1", payment_intent="pi_1", charge="ch_1")
    return "/v1/disputes/dp_1", dispute


@pytest.mark.parametrize("event_type", SUBSCRIBED)
def test_every_event_type_quire_subscribes_to_is_applied_not_ignored(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
    event_type: str,
) -> None:
    builders.add_order(app)
    path, obj = _stripe_object(event_type)
    builders.stripe_serves(fake_stripe, path, obj)
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    answer = post_event(event(event_type, obj, id="evt_subscribed"))
    assert (answer.status_code, answer.json["outcome"]) == (200, "processed")
    (kept,) = rows(app, ProcessedEvent)
    assert (kept.type, kept.outcome) == (event_type, "processed")
    assert any(c.request.url.startswith(API + path) for c in fake_stripe.calls)  # re-retrieved
