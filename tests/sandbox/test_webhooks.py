"""Webhook endpoints and signed deliveries, verified with the SDK."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe
from stripe import StripeClient
from stripe_sandbox.core.store import Store
from stripe_sandbox.settings import HOUR, SandboxSettings
from stripe_sandbox.testing import RunningSandbox, running_sandbox

from .helpers import HangingEndpoint, Receiver, book_price, payment_session
from .pages_support import Visitor, text_of


def test_endpoint_secret_only_on_create(stripe_client: StripeClient, receiver: Receiver) -> None:
    """`secret` is returned once; later reads omit it."""
    endpoint = stripe_client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["*"]}
    )
    assert endpoint.secret is not None and endpoint.secret.startswith("whsec_")
    assert "secret" not in stripe_client.v1.webhook_endpoints.retrieve(endpoint.id)
    updated = stripe_client.v1.webhook_endpoints.update(
        endpoint.id, params={"disabled": True, "enabled_events": ["customer.created"]}
    )
    assert (updated.status, updated.enabled_events) == ("disabled", ["customer.created"])
    assert [e.id for e in stripe_client.v1.webhook_endpoints.list().data] == [endpoint.id]
    assert stripe_client.v1.webhook_endpoints.delete(endpoint.id).deleted is True


def test_deliveries_are_signed_like_stripe(
    sandbox: RunningSandbox, stripe_client: StripeClient, receiver: Receiver
) -> None:
    """construct_event accepts the body and Stripe-Signature the sandbox sends."""
    endpoint = stripe_client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["customer.created"]}
    )
    customer = stripe_client.v1.customers.create(params={"email": "a@example.com"})
    stripe_client.v1.products.create(params={"name": "not subscribed"})
    receiver.wait_for(lambda events: len(events) == 1)
    request = receiver.requests[0]
    assert endpoint.secret is not None
    stripe.WebhookSignature.verify_header(
        request["body"], request["headers"]["Stripe-Signature"], endpoint.secret
    )
    header = request["headers"]["Stripe-Signature"]
    parts = dict(part.split("=", 1) for part in header.split(","))
    assert list(parts) == ["t", "v1", "v0"]  # test mode adds v0, as on Stripe
    assert len(parts["v0"]) == 64 and parts["v0"] != parts["v1"]
    event = stripe_client.construct_event(
        request["body"], request["headers"]["Stripe-Signature"], endpoint.secret
    )
    assert event.type == "customer.created"
    assert event.data.object["id"] == customer.id
    assert sandbox.wait_for_deliveries()
    assert stripe_client.v1.events.retrieve(event.id).pending_webhooks == 0


def test_failed_deliveries_are_retried_and_recorded(
    sandbox: RunningSandbox, stripe_client: StripeClient, receiver: Receiver
) -> None:
    """A 500 is retried after the backoff; every attempt is recorded."""
    receiver.statuses = [500]
    stripe_client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
    customer = stripe_client.v1.customers.create(params={"email": "a@example.com"})
    receiver.wait_for(lambda events: len(events) == 2)
    assert sandbox.wait_for_deliveries()
    event = stripe_client.v1.events.list().data[0]
    attempts = sandbox.state.store.deliveries(event_id=event.id)
    assert [a["status_code"] for a in attempts] == [200, 500]
    assert [a["succeeded"] for a in attempts] == [True, False]
    assert attempts[1]["response_head"] == '{"received": true}'
    assert event.data.object["id"] == customer.id


def test_disabled_endpoint_gets_nothing(
    sandbox: RunningSandbox, stripe_client: StripeClient, receiver: Receiver
) -> None:
    """Disabled endpoints are skipped and the event has no pending webhooks."""
    endpoint = stripe_client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["*"]}
    )
    stripe_client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})
    stripe_client.v1.customers.create(params={"email": "a@example.com"})
    sandbox.run_worker_once()
    assert receiver.requests == []
    assert stripe_client.v1.events.list().data[0].pending_webhooks == 0


def test_duplicate_deliveries(tmp_path: object, receiver: Receiver) -> None:
    """With duplicate_deliveries each event arrives twice."""
    with running_sandbox(f"{tmp_path}/dup.sqlite3", duplicate_deliveries=True) as sb:
        stripe_client = sb.client()
        stripe_client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        ids = [
            stripe_client.v1.customers.create(params={"email": f"{i}@example.com"}).id
            for i in range(3)
        ]
        events = receiver.wait_for(lambda events: len(events) == 6)
        assert sorted(e["data"]["object"]["id"] for e in events) == sorted(ids * 2)


def test_shuffled_deliveries_arrive_out_of_order(tmp_path: object, receiver: Receiver) -> None:
    """With shuffle_deliveries, events made by separate requests reach the endpoint
    in another order than they were created (reproducibly, with a seed)."""
    with running_sandbox(
        f"{tmp_path}/shuffle.sqlite3",
        shuffle_deliveries=True,
        shuffle_window=3600,
        random_seed=7,
    ) as sb:
        stripe_client = sb.client()
        stripe_client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        ids = [
            stripe_client.v1.customers.create(params={"email": f"{i}@example.com"}).id
            for i in range(8)
        ]
        sb.run_worker_once(until=time.time() + 3600)
        events = receiver.wait_for(lambda events: len(events) == 8)
        received = [e["data"]["object"]["id"] for e in events]
        assert sorted(received) == sorted(ids)
        assert received != ids


def test_redirects_count_as_failures(
    sandbox: RunningSandbox, stripe_client: StripeClient, receiver: Receiver
) -> None:
    """A 3xx answer is a failed delivery (Stripe does not follow redirects) and is retried."""
    receiver.statuses = [302]
    stripe_client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["customer.created"]}
    )
    stripe_client.v1.customers.create(params={"email": "a@example.com"})
    receiver.wait_for(lambda events: len(events) == 2)
    assert sandbox.wait_for_deliveries()
    attempts = sandbox.state.store.deliveries()
    assert [(a["status_code"], a["succeeded"]) for a in attempts] == [(200, True), (302, False)]


def test_pending_webhooks_counts_endpoints_not_yet_reached(
    sandbox: RunningSandbox, stripe_client: StripeClient, receiver: Receiver
) -> None:
    """An endpoint that never answers 2xx keeps the event's pending_webhooks at 1."""
    stripe_client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
    stripe_client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/unreachable", "enabled_events": ["*"]}
    )
    stripe_client.v1.customers.create(params={"email": "a@example.com"})
    assert sandbox.wait_for_deliveries(timeout=5)
    event = stripe_client.v1.events.list().data[0]
    assert event.pending_webhooks == 1
    failures = [a for a in sandbox.state.store.deliveries(event_id=event.id) if not a["succeeded"]]
    assert len(failures) == 4  # the first try and test mode's three retries (compressed)
    assert all(a["status_code"] is None and a["error"] for a in failures)


def test_a_failing_due_task_does_not_stop_other_work_or_deliveries(
    sandbox: RunningSandbox,
    stripe_client: StripeClient,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One broken due task is skipped (and backed off): others run, webhooks still go out."""
    from stripe_sandbox.flows import checkout

    price = book_price(stripe_client)
    broken, fine = payment_session(stripe_client, price), payment_session(stripe_client, price)
    calls: list[str] = []
    real_expire = checkout.expire_session

    def expire(sb: Any, session: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        calls.append(session["id"])
        if session["id"] == broken.id:
            raise RuntimeError("broken task")
        return real_expire(sb, session, **kwargs)

    monkeypatch.setattr(checkout, "expire_session", expire)
    # The endpoint first: the background worker may expire the sessions as soon as they are due.
    stripe_client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
    store = sandbox.state.store
    for session_id in (broken.id, fine.id):
        stored = store.get(session_id)
        assert stored is not None
        stored["expires_at"] = int(time.time()) - 60
        store.put(stored)
    customer = stripe_client.v1.customers.create(params={"email": "a@example.com"})
    for _ in range(3):
        sandbox.run_worker_once()
    events = receiver.wait_for(lambda events: len(events) >= 2)
    assert {(e["type"], e["data"]["object"]["id"]) for e in events} >= {
        ("customer.created", customer.id),
        ("checkout.session.expired", fine.id),
    }
    assert stripe_client.v1.checkout.sessions.retrieve(fine.id).status == "expired"
    assert store.get(broken.id)["status"] == "open"  # type: ignore[index]
    assert calls.count(broken.id) == 1  # backed off, not retried every tick


def test_a_hanging_endpoint_holds_up_neither_other_endpoints_nor_due_work(
    tmp_path: object, receiver: Receiver, hanging: HangingEndpoint
) -> None:
    """While one endpoint never answers, another still gets its events and sessions
    still expire."""
    with running_sandbox(f"{tmp_path}/hang.sqlite3", delivery_timeout=60) as sb:
        stripe_client = sb.client()
        stripe_client.v1.webhook_endpoints.create(
            params={"url": hanging.url, "enabled_events": ["*"]}
        )
        stripe_client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        customer = stripe_client.v1.customers.create(params={"email": "a@example.com"})
        assert hanging.arrived.wait(10)
        receiver.wait_for(lambda events: len(events) == 1, timeout=10)
        session = payment_session(stripe_client, book_price(stripe_client))
        stored = sb.state.store.get(session.id)
        assert stored is not None
        stored["expires_at"] = int(time.time()) - 60
        sb.state.store.put(stored)
        events = receiver.wait_for(
            lambda events: any(e["type"] == "checkout.session.expired" for e in events),
            timeout=10,
        )
        assert events[0]["data"]["object"]["id"] == customer.id
        hanging.released.set()


def test_stopping_aborts_a_delivery_in_flight_and_keeps_it_pending(
    tmp_path: object, hanging: HangingEndpoint
) -> None:
    """Leaving running_sandbox cuts off a request to a hanging endpoint: no delivery
    thread outlives the store, and the delivery is still queued for the next start."""
    db_path = f"{tmp_path}/stop.sqlite3"
    before = set(threading.enumerate())
    with running_sandbox(db_path, delivery_timeout=60) as sb:
        stripe_client = sb.client()
        stripe_client.v1.webhook_endpoints.create(
            params={"url": hanging.url, "enabled_events": ["*"]}
        )
        stripe_client.v1.customers.create(params={"email": "a@example.com"})
        assert hanging.arrived.wait(10)
    assert not hanging.released.is_set()
    workers = [
        t
        for t in threading.enumerate()
        if t not in before and t.name.startswith(("sandbox-delivery", "sandbox-webhook"))
    ]
    assert workers == []
    store = Store(db_path)
    try:
        assert store.pending_delivery_count() == 1
        assert store.deliveries() == []
    finally:
        store.close()


def test_disabling_or_deleting_an_endpoint_stops_counting_it(
    tmp_path: object, receiver: Receiver
) -> None:
    """An event waiting on an endpoint that is then disabled or deleted no longer counts
    it in pending_webhooks."""
    with running_sandbox(f"{tmp_path}/cancel.sqlite3", retry_backoff=(3600,)) as sb:
        stripe_client = sb.client()
        failing = [
            stripe_client.v1.webhook_endpoints.create(
                params={"url": "http://127.0.0.1:9/unreachable", "enabled_events": ["*"]}
            )
            for _ in range(2)
        ]
        stripe_client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        customer = stripe_client.v1.customers.create(params={"email": "a@example.com"})
        receiver.wait_for(lambda events: len(events) == 1)
        sb.run_worker_once()
        event = stripe_client.v1.events.list().data[0]
        assert event.data.object["id"] == customer.id
        assert stripe_client.v1.events.retrieve(event.id).pending_webhooks == 2
        stripe_client.v1.webhook_endpoints.update(failing[0].id, params={"disabled": True})
        assert stripe_client.v1.events.retrieve(event.id).pending_webhooks == 1
        stripe_client.v1.webhook_endpoints.delete(failing[1].id)
        assert stripe_client.v1.events.retrieve(event.id).pending_webhooks == 0
        assert sb.state.store.pending_delivery_count() == 0


def test_retry_schedules_have_stripes_shape() -> None:
    """Test mode: 3 retries over a few hours; live mode: exponential backoff for 3 days;
    retry_time_scale compresses either, keeping its shape."""
    test_mode = SandboxSettings().retry_schedule
    assert len(test_mode) == 3 and 1 * HOUR <= sum(test_mode) <= 6 * HOUR
    assert all(later > earlier for earlier, later in itertools.pairwise(test_mode))
    live = SandboxSettings(webhook_retries="live").retry_schedule
    assert sum(live) == 72 * HOUR and len(live) > len(test_mode)
    assert live[0] <= 10 * 60
    assert all(later == 2 * earlier for earlier, later in itertools.pairwise(live[:-1]))
    fast = SandboxSettings(webhook_retries="live", retry_time_scale=0.001).retry_schedule
    assert fast == tuple(wait * 0.001 for wait in live)
    assert SandboxSettings(retry_backoff=(1.0, 2.0)).retry_schedule == (1.0, 2.0)


def test_a_failing_endpoint_is_retried_on_the_schedule_then_given_up(
    sandbox: RunningSandbox, stripe_client: StripeClient, receiver: Receiver
) -> None:
    """The compressed test-mode schedule: the first attempt and 3 retries, each wait longer
    than the one before, then no more."""
    receiver.statuses = [500] * 10
    stripe_client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["customer.created"]}
    )
    stripe_client.v1.customers.create(params={"email": "a@example.com"})
    receiver.wait_for(lambda events: len(events) == 4)
    assert sandbox.wait_for_deliveries()
    time.sleep(0.3)
    sandbox.run_worker_once()
    attempts = sorted(a["attempted_at"] for a in sandbox.state.store.deliveries())
    assert len(attempts) == 4 and len(receiver.requests) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] < gaps[1] < gaps[2]
    assert sandbox.state.store.pending_delivery_count() == 0


@pytest.mark.parametrize(
    ("mode", "schedule_text"),
    [
        (
            "test",
            "retried 3 times, after waiting 10 min, 40 min, 2 h 40 min; the last retry comes 3 h 30 min",
        ),
        ("live", "retried 10 times, after waiting 5 min, 10 min, 20 min, 40 min, 1 h 20 min"),
    ],
)
def test_dashboard_shows_the_retry_schedule_and_each_next_attempt(
    tmp_path: object, receiver: Receiver, mode: str, schedule_text: str
) -> None:
    """At full scale, a failed delivery waits for its first retry (shown with its time),
    and the dashboard states the schedule of the mode."""
    receiver.statuses = [500]
    with running_sandbox(
        f"{tmp_path}/retries.sqlite3", webhook_retries=mode, retry_time_scale=1.0
    ) as sb:
        stripe_client = sb.client()
        stripe_client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["customer.created"]}
        )
        stripe_client.v1.customers.create(params={"email": "a@example.com"})
        receiver.wait_for(lambda events: len(events) == 1)
        sb.run_worker_once()
        (attempt,) = sb.state.store.deliveries()
        (pending,) = sb.state.store.pending_deliveries()
        first_wait = sb.state.settings.retry_schedule[0]
        assert pending["attempts"] == 1
        assert pending["due_at"] == pytest.approx(attempt["attempted_at"] + first_wait, abs=2)
        page = Visitor(sb).get("/dashboard").text
        text = text_of(page)
        assert f"Schedule ({mode} mode)" in text and schedule_text in text
        if mode == "live":
            assert "72 h after the first attempt" in text
        next_attempt = datetime.fromtimestamp(pending["due_at"], tz=UTC)
        row = text[text.index("Webhook retries") :]
        assert "customer.created" in row and receiver.url in row
        assert next_attempt.strftime("%d %b %Y, %H:%M:%S UTC") in row
