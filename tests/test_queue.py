"""The webhook inbox on a real queue (procrastinate on PostgreSQL): the webhook keeps the
event and answers without calling Stripe; a worker applies it once; failures are retried
later and shown; a killed worker's job runs again; one object's events queue in order.

These need PostgreSQL (the queue lives there); CI runs them with TEST_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from procrastinate import exceptions
from procrastinate.manager import JobManager
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from config import ConfigError, Settings
from shop import inbox, queue
from shop.extensions import db
from shop.models import Mail, Order, ProcessedEvent, Subscription, utcnow
from tests import builders
from tests.helpers import ROOT
from tests.stripe_fakes import event

QUEUE_TABLES = (
    "procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, procrastinate_workers"
)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    """The shop with QUEUE_MODE=procrastinate, on fresh tables and an empty queue."""
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("the job queue lives in PostgreSQL (TEST_DATABASE_URL)")
    app = make_app(QUEUE_MODE="procrastinate")
    with app.app_context():
        db.drop_all()
        db.create_all()
        if db.session.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
            db.session.commit()
            queue.apply_schema(app.config["SQLALCHEMY_DATABASE_URI"])
        db.session.execute(text(f"TRUNCATE {QUEUE_TABLES} RESTART IDENTITY CASCADE"))
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def app_json() -> dict[str, Any]:
    found: dict[str, Any] = json.loads((ROOT / "app.json").read_text())
    return found


def jobs(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        found = db.session.execute(
            text(
                "SELECT id, task_name, lock, status::text AS status, attempts, scheduled_at, "
                "args FROM procrastinate_jobs ORDER BY id"
            )
        )
        rows = [dict(row._mapping) for row in found]
        db.session.commit()
        return rows


def event_row(app: Flask, event_id: str) -> ProcessedEvent:
    with app.app_context():
        row = db.session.get(ProcessedEvent, event_id)
        assert row is not None
        db.session.expunge(row)
        return row


def order_status(app: Flask, order_id: int = 1) -> str:
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order is not None
        return order.status


def ready_jobs(app: Flask) -> int:
    with app.app_context():
        count = db.session.execute(
            text(
                "SELECT count(*) FROM procrastinate_jobs "
                "WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())"
            )
        ).scalar_one()
        db.session.commit()
        return int(count)


def work(app: Flask) -> None:
    """Workers that apply every job ready now, then stop (a worker run with `wait=False`
    stops at the first moment it finds nothing to take, e.g. while a lock is held)."""
    for _round in range(5):
        run_apart(lambda: queue.run_worker(app, concurrency=4, wait=False))
        if not ready_jobs(app):
            return


def run_apart(work: Callable[[], None]) -> None:
    """Run `work` in a thread of its own, as a worker process runs it: an event loop of
    its own (the browser tests' loop may be running in this one)."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # re-raised in the test's thread
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the worker did not stop"
    if failures:
        raise failures[0]


def test_the_webhook_keeps_the_event_and_answers_without_calling_stripe(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    response = post_event(event("checkout.session.completed", paid_session, id="evt_kept"))

    assert response.status_code == 200
    assert response.json == {"received": True, "outcome": "queued"}
    assert len(fake_stripe.calls) == 0  # Stripe is called by the worker, not the webhook
    assert event_row(app, "evt_kept").outcome == "received"
    assert order_status(app) == "pending"  # nothing applied yet
    (job,) = jobs(app)
    assert (job["task_name"], job["status"], job["args"]) == (
        "apply_event",
        "todo",
        {"event_id": "evt_kept"},
    )
    assert job["lock"] == "stripe:pi_1"  # its payment: refunds and disputes queue behind it


def test_an_event_and_its_job_are_kept_together_or_not_at_all(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    post_event: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = event("checkout.session.completed", paid_session, id="evt_atomic")
    real_commit = db.session.commit

    def database_gone() -> None:  # the commit after the job was deferred never happens
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(db.session, "commit", database_gone)
    assert post_event(body).status_code >= 500  # Stripe will deliver it again
    monkeypatch.setattr(db.session, "commit", real_commit)
    with app.app_context():
        db.session.rollback()
        assert db.session.get(ProcessedEvent, "evt_atomic") is None
    assert jobs(app) == []  # neither the event nor its job

    assert post_event(body).json["outcome"] == "queued"  # Stripe's retry
    assert len(jobs(app)) == 1 and event_row(app, "evt_atomic").outcome == "received"


def test_acknowledging_an_event_is_one_short_transaction(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    post_event: Callable[..., Any],
) -> None:
    post_event(event("checkout.session.completed", paid_session, id="evt_warm"))
    seen: list[str] = []
    with app.app_context():
        engine = db.engine
    listeners = {
        "begin": lambda *_: seen.append("BEGIN"),
        "commit": lambda *_: seen.append("COMMIT"),
        "rollback": lambda *_: seen.append("ROLLBACK"),
        "before_cursor_execute": lambda _c, _cur, statement, *_: seen.append(
            statement.split("(")[0].strip()
        ),
    }
    for name, listener in listeners.items():
        sa_event.listen(engine, name, listener)
    try:
        paid_session["id"] = "cs_test_2"
        answer = post_event(event("checkout.session.completed", paid_session, id="evt_counted"))
    finally:
        for name, listener in listeners.items():
            sa_event.remove(engine, name, listener)

    assert answer.json["outcome"] == "queued"
    # The job is deferred on the same connection, inside this transaction (not counted
    # here: procrastinate runs its SQL on the driver's cursor).
    assert seen == ["BEGIN", "INSERT INTO processed_events", "COMMIT"]
    assert len(jobs(app)) == 2


def test_a_worker_applies_the_queued_event_once(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    body = event("checkout.session.completed", paid_session, id="evt_work")
    answers = [post_event(body).json["outcome"] for _ in range(3)]  # Stripe sent it 3 times
    assert answers == ["queued", "queued", "queued"]
    assert len(jobs(app)) == 1  # copies of a waiting event add no job

    work(app)

    assert order_status(app) == "paid"
    row = event_row(app, "evt_work")
    assert (row.outcome, row.attempts) == ("processed", 1)
    assert row.processed_at is not None and row.processed_at >= row.received_at
    assert jobs(app) == []  # done jobs are deleted
    assert post_event(body).json["outcome"] == "duplicate"
    assert jobs(app) == []
    with app.app_context():
        receipts = db.session.execute(db.select(Mail).where(Mail.kind == "receipt")).all()
        assert len(receipts) == 1


def test_a_failure_is_kept_retried_later_and_then_applied(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    builders.stripe_serves(
        fake_stripe,
        "/v1/checkout/sessions/cs_test_1",
        {"error": {"type": "api_error", "message": "Stripe is having a moment"}},
        status=500,
    )
    post_event(event("checkout.session.completed", paid_session, id="evt_later"))
    work(app)

    row = event_row(app, "evt_later")
    assert row.outcome == "failed"  # shown in the admin's events list
    assert row.attempts == 1 and "Stripe is having a moment" in (row.last_error or "")
    (job,) = jobs(app)  # the next attempt, queued
    assert job["status"] == "todo" and job["args"] == {"event_id": "evt_later", "attempt": 2}
    assert job["lock"] is None  # a retry holds up no later event of the payment
    wait = job["scheduled_at"] - utcnow()
    assert timedelta(seconds=1) < wait <= timedelta(seconds=2)  # backoff: not at once
    assert order_status(app) == "pending"

    work(app)  # before its time the retry does not run
    assert event_row(app, "evt_later").attempts == 1

    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", paid_session)
    with app.app_context():
        db.session.execute(text("UPDATE procrastinate_jobs SET scheduled_at = now()"))
        db.session.commit()
    work(app)

    assert order_status(app) == "paid"
    row = event_row(app, "evt_later")
    assert (row.outcome, row.attempts) == ("processed", 2)
    assert jobs(app) == []


def test_a_failing_event_does_not_hold_up_later_events_of_its_object(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    """A renewal that fails must not keep a cancellation behind it for hours."""
    builders.add_order(app, kind="membership", session_id="cs_sub")
    invoice = builders.invoice()
    builders.stripe_serves(
        fake_stripe, "/v1/invoices/in_1", {"error": {"type": "api_error", "message": "x"}}, 500
    )
    builders.stripe_serves(
        fake_stripe, "/v1/subscriptions/sub_1", builders.subscription(status="canceled")
    )
    post_event(event("invoice.paid", invoice, id="evt_renewal"))
    post_event(event("customer.subscription.deleted", builders.subscription(), id="evt_end"))
    work(app)

    assert event_row(app, "evt_renewal").outcome == "failed"  # retried later
    assert event_row(app, "evt_end").outcome == "processed"  # not held up behind it
    with app.app_context():
        membership = db.session.execute(db.select(Subscription)).scalar_one()
        assert membership.status == "canceled"


def test_an_event_that_keeps_failing_stops_after_its_last_attempt(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    builders.stripe_serves(
        fake_stripe, "/v1/checkout/sessions/cs_test_1", {"error": {"type": "api_error"}}, 500
    )
    post_event(event("checkout.session.completed", paid_session, id="evt_never"))
    for _ in range(inbox.MAX_ATTEMPTS):
        with app.app_context():  # the backoff passes
            db.session.execute(text("UPDATE procrastinate_jobs SET scheduled_at = now()"))
            db.session.commit()
        work(app)
    row = event_row(app, "evt_never")
    assert (row.outcome, row.attempts) == ("failed", inbox.MAX_ATTEMPTS)
    assert jobs(app) == []  # left for the admin to see and replay
    assert order_status(app) == "pending"


def test_stripe_redelivering_a_failed_event_queues_it_again(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    body = event("checkout.session.completed", paid_session, id="evt_again")
    post_event(body)
    with app.app_context():  # as if every retry had run out
        db.session.execute(text("DELETE FROM procrastinate_jobs"))
        db.session.execute(
            text("UPDATE processed_events SET outcome = 'failed' WHERE id = 'evt_again'")
        )
        db.session.commit()

    assert post_event(body).json["outcome"] == "queued"
    assert event_row(app, "evt_again").outcome == "received"
    work(app)
    assert order_status(app) == "paid"


def test_the_job_of_a_killed_worker_runs_again(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    post_event(event("checkout.session.completed", paid_session, id="evt_orphan"))
    with app.app_context():  # a worker took the job, then died: its heartbeat stopped
        worker_id = db.session.execute(
            text(
                "INSERT INTO procrastinate_workers (last_heartbeat) "
                "VALUES (now() - interval '5 minutes') RETURNING id"
            )
        ).scalar_one()
        db.session.execute(
            text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :worker"),
            {"worker": worker_id},
        )
        db.session.commit()

    work(app)  # a new worker starts: it finds the dead worker's job and runs it

    assert order_status(app) == "paid"
    assert event_row(app, "evt_orphan").outcome == "processed"


def test_a_shorter_stall_setting_reruns_a_silent_workers_job_sooner(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    post_event(event("checkout.session.completed", paid_session, id="evt_silent"))
    with app.app_context():  # a worker took the job; its last heartbeat was 20 s ago
        worker_id = db.session.execute(
            text(
                "INSERT INTO procrastinate_workers (last_heartbeat) "
                "VALUES (now() - interval '20 seconds') RETURNING id"
            )
        ).scalar_one()
        db.session.execute(
            text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :worker"),
            {"worker": worker_id},
        )
        db.session.commit()

    work(app)  # by default (30 s) that worker may still be alive: its job is left to it
    assert event_row(app, "evt_silent").outcome == "received"
    assert [job["status"] for job in jobs(app)] == ["doing"]

    app.config["QUEUE_STALLED_AFTER_SECONDS"] = 10
    work(app)  # with 10 s it is taken for dead: its job runs again, once
    assert order_status(app) == "paid"
    assert event_row(app, "evt_silent").outcome == "processed"


@pytest.mark.parametrize(("raw", "seconds"), [(None, 30), ("12", 12)])
def test_the_stall_setting_is_read_from_the_environment(raw: str | None, seconds: int) -> None:
    env = {"QUEUE_STALLED_AFTER_SECONDS": raw} if raw else {}
    assert Settings.from_env(env).as_flask_config()["QUEUE_STALLED_AFTER_SECONDS"] == seconds


def test_a_stall_setting_under_ten_seconds_stops_start_up() -> None:
    # Heartbeats come every 5 s: a live but busy worker must not be taken for dead.
    with pytest.raises(ConfigError, match="QUEUE_STALLED_AFTER_SECONDS must be a whole number"):
        Settings.from_env({"QUEUE_STALLED_AFTER_SECONDS": "5"})


@pytest.mark.parametrize(
    "failure",
    [
        # Two workers fetching the next job of one object at once: procrastinate lets one
        # take it and raises in the other (its one-running-job-per-lock index).
        exceptions.UniqueViolation(
            "duplicate key value", constraint_name=queue.LOCK_INDEX, queueing_lock=None
        ),
        # PostgreSQL stopped (or failed over) while the worker asked it for a job.
        exceptions.ConnectorException("terminating connection"),
    ],
    ids=["loses the race for an object's next job", "loses the database mid-fetch"],
)
def test_a_worker_whose_fetch_fails_works_on(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
) -> None:
    """Both were seen by `make stress`, each stopping a worker process before the fix."""
    post_event(event("checkout.session.completed", paid_session, id="evt_fetch"))
    fetch = JobManager.fetch_job
    raised: list[Exception] = []

    async def failing_once(self: JobManager, *args: Any, **kwargs: Any) -> Any:
        if not raised:
            raised.append(failure)
            raise failure
        return await fetch(self, *args, **kwargs)

    monkeypatch.setattr(JobManager, "fetch_job", failing_once)
    monkeypatch.setattr(queue, "RECONNECT_SECONDS", 0.01)
    work(app)

    assert raised == [failure]
    assert order_status(app) == "paid"
    assert event_row(app, "evt_fetch").outcome == "processed"


def test_the_events_of_one_object_share_a_lock_and_others_do_not(
    app: Flask, client: FlaskClient, post_event: Callable[..., Any]
) -> None:
    subscription = builders.subscription()
    invoice = builders.invoice()
    post_event(event("customer.subscription.updated", subscription, id="evt_s1"))
    post_event(event("invoice.paid", invoice, id="evt_i1"))
    post_event(event("customer.subscription.updated", builders.subscription(id="sub_2")))

    locks = [job["lock"] for job in jobs(app)]
    assert locks == ["stripe:sub_1", "stripe:sub_1", "stripe:sub_2"]


def applied_count(app: Flask, ids: list[str]) -> int:
    """How many of these events are applied."""
    with app.app_context():
        count = db.session.execute(
            db.select(db.func.count())
            .select_from(ProcessedEvent)
            .where(ProcessedEvent.id.in_(ids), ProcessedEvent.processed_at.is_not(None))
        ).scalar_one()
        db.session.commit()
        return int(count)


async def applied_within(app: Flask, ids: list[str], seconds: float) -> bool:
    """Whether every one of these events is applied within `seconds`."""
    deadline = time.monotonic() + seconds
    while applied_count(app, ids) < len(ids) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return applied_count(app, ids) == len(ids)


@contextlib.asynccontextmanager
async def waiting_worker(app: Flask, concurrency: int) -> AsyncIterator[None]:
    """A worker that waits for jobs (as `flask worker` does) on this event loop, stopped
    on leaving."""
    worker = asyncio.create_task(queue.work(app, concurrency=concurrency))
    try:
        yield
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


def test_an_objects_next_event_runs_as_soon_as_the_one_before_it_ends(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sign-up's events share one lock and arrive together; each waits for the one
    before it. A waiting worker (no poll for a minute here) takes each next one as soon
    as the one before it ends, not at its next poll."""
    monkeypatch.setattr(queue, "POLL_SECONDS", 60.0)
    builders.add_order(app, kind="membership", session_id="cs_sub")
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    ids = [f"evt_update_{n}" for n in range(4)]
    for event_id in ids:
        post_event(event("customer.subscription.updated", builders.subscription(), id=event_id))

    async def worker_until_applied() -> float:
        started = time.monotonic()
        async with waiting_worker(app, concurrency=4):
            await applied_within(app, ids, 20)
        return time.monotonic() - started

    took: list[float] = []
    run_apart(lambda: took.append(asyncio.run(worker_until_applied())))

    assert applied_count(app, ids) == len(ids)
    assert took[0] < 10, f"{len(ids)} events of one object took {took[0]:.1f} s"


def test_a_waiting_worker_whose_connections_the_database_dropped_works_on(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    """After the database ends a worker's connections (a restart, a failover, an idle
    timeout), the next event is still applied."""
    builders.add_order(app, kind="membership", session_id="cs_sub")
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())

    async def scenario() -> tuple[bool, bool]:
        async with waiting_worker(app, concurrency=2):
            post_event(event("customer.subscription.updated", builders.subscription(), id="evt_a"))
            before = await applied_within(app, ["evt_a"], 10)
            with app.app_context():
                ended = db.session.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = :worker"
                    ),
                    {"worker": queue.WORKER_CONNECTION_NAME},
                ).all()
                db.session.commit()
            assert len(ended) >= 2  # the pooled connection and the listening one
            post_event(event("customer.subscription.updated", builders.subscription(), id="evt_b"))
            return before, await applied_within(app, ["evt_b"], 20)

    outcome: list[tuple[bool, bool]] = []
    run_apart(lambda: outcome.append(asyncio.run(scenario())))

    assert outcome == [(True, True)]


def test_the_confirmation_page_is_true_before_the_worker_runs(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
    sign_in: Callable[..., None],
) -> None:
    post_event(event("checkout.session.completed", paid_session, id="evt_slow"))
    assert jobs(app)  # the worker has not run yet

    sign_in()  # the order's shopper, back from Stripe
    page = client.get(f"/orders/1/confirmation?session_id={paid_session['id']}")

    assert page.status_code == 200
    assert "Paid" in page.text and "Not paid yet" not in page.text
    assert order_status(app) == "paid"  # the page asked Stripe itself
    work(app)  # the worker catches up: nothing more happens
    assert event_row(app, "evt_slow").outcome == "processed"
    with app.app_context():
        receipts = db.session.execute(db.select(Mail).where(Mail.kind == "receipt")).all()
        assert len(receipts) == 1


def test_the_worker_command_refuses_when_there_is_no_queue(
    make_app: Callable[..., Flask],
) -> None:
    inline = make_app(QUEUE_MODE="inline")
    result = inline.test_cli_runner().invoke(args=["worker"])
    assert result.exit_code != 0
    assert "no worker is needed" in result.output


def test_ordering_keys_follow_the_object_an_event_changes() -> None:
    def key(obj: dict[str, Any]) -> str:
        return inbox.ordering_key({"id": "evt_1", "data": {"object": obj}})

    assert key({"id": "sub_9", "object": "subscription", "customer": "cus_1"}) == "stripe:sub_9"
    new_invoice = {
        "id": "in_1",
        "object": "invoice",
        "parent": {"subscription_details": {"subscription": "sub_9"}},
    }
    assert key(new_invoice) == "stripe:sub_9"
    assert key({"id": "in_2", "object": "invoice", "subscription": "sub_9"}) == "stripe:sub_9"
    assert key({"id": "cs_1", "object": "checkout.session", "subscription": "sub_9"}) == (
        "stripe:sub_9"
    )
    paid = {"id": "cs_2", "object": "checkout.session", "payment_intent": "pi_7"}
    assert key(paid) == "stripe:pi_7"
    assert key({"id": "ch_1", "object": "charge", "payment_intent": "pi_7"}) == "stripe:pi_7"
    assert key({"id": "dp_1", "object": "dispute", "charge": "ch_1"}) == "stripe:ch_1"
    assert key({"id": "cs_3", "object": "checkout.session", "payment_intent": None}) == (
        "stripe:cs_3"
    )


def test_heroku_runs_a_worker_beside_the_web_process(app_json: dict[str, Any]) -> None:
    procfile = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    # At a lower CPU priority: where web and worker share a machine, shoppers come first
    # and the queue absorbs the burst (on Heroku each has its own dyno).
    assert procfile["worker"] == "nice -n 10 flask --app wsgi worker"
    assert app_json["formation"]["worker"]["quantity"] >= 1


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({"DATABASE_URL": "postgres://u:p@db.example:5432/shop"}, "procrastinate"),
        ({}, "inline"),  # the embedded default: SQLite, no worker to run
        ({"DATABASE_URL": "postgres://db.example/shop", "QUEUE_MODE": "inline"}, "inline"),
    ],
)
def test_the_queue_is_used_where_postgresql_is(env: dict[str, str], mode: str) -> None:
    assert Settings.from_env(env).queue_mode == mode


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"QUEUE_MODE": "celery"}, "QUEUE_MODE must be procrastinate or inline"),
        ({"QUEUE_MODE": "procrastinate"}, "needs a PostgreSQL DATABASE_URL"),
    ],
)
def test_a_queue_that_cannot_work_stops_start_up(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
