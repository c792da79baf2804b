"""Every webhook delivery kept, failures included; replaying events from the admin pages
and the CLI; the events list; the log lines, health check and failure banner that tell
an operator how webhooks are going."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, update

from shop import alerts, events, fulfilment
from shop.extensions import db
from shop.models import Customer, Invoice, Order, ProcessedEvent, Subscription, utcnow
from tests import builders, helpers
from tests.stripe_fakes import API, event

ADMIN = "owner@example.com"


def stored(app: Flask, event_id: str) -> ProcessedEvent:
    with app.app_context():
        row = db.session.get(ProcessedEvent, event_id)
        assert row is not None, f"{event_id} was not kept"
        db.session.expunge(row)
        return row


def order_status(app: Flask, order_id: int = 1) -> str:
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order is not None
        return str(order.status)


def add_event(
    app: Flask,
    event_id: str,
    outcome: str = "processed",
    *,
    type: str = "checkout.session.completed",
    object_id: str | None = "cs_test_1",
    received_at: datetime | None = None,
    error: str | None = None,
) -> None:
    """A kept event row, as if it had been delivered at `received_at`."""
    when = received_at or utcnow()
    with app.app_context():
        db.session.add(
            ProcessedEvent(
                id=event_id,
                type=type,
                outcome=outcome,
                stripe_created=when,
                received_at=when,
                raw_json=json.dumps({"id": event_id, "type": type, "data": {"object": {}}}),
                object_id=object_id,
                attempts=1,
                last_error=error,
                last_attempt_at=when,
                processed_at=None if outcome == "failed" else when,
            )
        )
        db.session.commit()


@pytest.fixture
def owner(add_user: Callable[..., int], sign_in: Callable[..., None]) -> None:
    add_user(ADMIN, admin=True)
    sign_in(ADMIN)


@pytest.fixture
def failing_fulfilment(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Fulfilment writes the order paid, then fails; calling the result mends it."""
    real = fulfilment.fulfil_checkout_session

    def fail_after_writing(session: Any) -> Any:
        real(session)
        db.session.flush()
        raise RuntimeError("the printer caught fire")

    monkeypatch.setattr(fulfilment, "fulfil_checkout_session", fail_after_writing)
    return lambda: monkeypatch.setattr(fulfilment, "fulfil_checkout_session", real)


# --- every delivery kept ----------------------------------------------------------------


def test_a_failing_handler_is_kept_as_failed_with_its_error_and_its_effects_rolled_back(
    app: Flask,
    paid_session: dict[str, Any],
    failing_fulfilment: Callable[[], None],
    post_event: Callable[..., Any],
) -> None:
    response = post_event(event("checkout.session.completed", paid_session, id="evt_fire"))
    assert response.status_code == 500  # Stripe will retry
    kept = stored(app, "evt_fire")
    assert (kept.outcome, kept.attempts) == ("failed", 1)
    assert kept.last_error == "RuntimeError: the printer caught fire"
    assert kept.object_id == "cs_test_1"
    assert kept.processed_at is None and kept.last_attempt_at is not None
    assert order_status(app) == "pending"  # the order written paid was rolled back


def test_stripes_retry_after_a_failure_applies_it_and_marks_it_processed(
    app: Flask,
    paid_session: dict[str, Any],
    failing_fulfilment: Callable[[], None],
    post_event: Callable[..., Any],
    fake_stripe: responses.RequestsMock,
) -> None:
    body = event("checkout.session.completed", paid_session, id="evt_again")
    assert post_event(body).status_code == 500
    failing_fulfilment()  # mended
    answer = post_event(body)
    assert (answer.status_code, answer.json["outcome"]) == (200, "processed")
    kept = stored(app, "evt_again")
    assert (kept.outcome, kept.attempts) == ("processed", 2)
    assert kept.processed_at is not None
    assert kept.last_attempt_at == kept.processed_at  # the retry is the last attempt
    assert order_status(app) == "paid"
    calls = len(fake_stripe.calls)
    assert post_event(body).json["outcome"] == "duplicate"  # now it is done
    assert stored(app, "evt_again").attempts == 2
    assert len(fake_stripe.calls) == calls


def test_two_retries_of_a_failed_event_at_once_apply_it_once(
    app: Flask,
    paid_session: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    post_event: Callable[..., Any],
) -> None:
    """A handler that is not idempotent (it adds 1 to the amount paid) shows how often the
    event was applied: two retries racing past the early check, once."""
    body = event("checkout.session.completed", paid_session, id="evt_race_retry")

    def broken(client: Any, obj: dict[str, Any]) -> None:
        raise RuntimeError("not yet")

    monkeypatch.setitem(events.HANDLERS, "checkout.session.completed", broken)
    assert post_event(body).status_code == 500
    both_running = threading.Barrier(2)

    def count_once(client: Any, obj: dict[str, Any]) -> None:
        both_running.wait(timeout=10)  # both have passed the early check
        db.session.execute(
            update(Order)
            .where(Order.id == 1)
            .values(amount_paid=func.coalesce(Order.amount_paid, 0) + 1)
        )

    monkeypatch.setitem(events.HANDLERS, "checkout.session.completed", count_once)
    outcomes: list[str] = []

    def deliver() -> None:
        answer = post_event(body, client=app.test_client())
        outcomes.append(f"{answer.status_code} {answer.json.get('outcome')}")

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["200 duplicate", "200 processed"]
    with app.app_context():
        order = db.session.get(Order, 1)
        assert order is not None and order.amount_paid == 1
    kept = stored(app, "evt_race_retry")
    assert (kept.outcome, kept.attempts) == ("processed", 2)


def test_an_error_kept_never_holds_the_secret_key(
    app: Flask, paid_session: dict[str, Any], monkeypatch: pytest.MonkeyPatch, post_event: Any
) -> None:
    def leaky(client: Any, obj: dict[str, Any]) -> None:
        raise RuntimeError("auth failed for sk_test_unit and whsec_test_current")

    monkeypatch.setitem(events.HANDLERS, "checkout.session.completed", leaky)
    assert post_event(event("checkout.session.completed", paid_session, id="evt_leak")).status_code
    error = stored(app, "evt_leak").last_error or ""
    assert "sk_test_unit" not in error and "whsec_test_current" not in error
    assert error.startswith("RuntimeError: auth failed for [redacted]")


# --- replay -----------------------------------------------------------------------------


def serve_event(mock: responses.RequestsMock, body: dict[str, Any]) -> None:
    builders.stripe_serves(mock, f"/v1/events/{body['id']}", body)


def event_fetches(mock: responses.RequestsMock) -> list[str]:
    return [c.request.url for c in mock.calls if "/v1/events/" in (c.request.url or "")]


def test_an_admin_replays_a_failed_event_from_its_page_and_stripe_is_asked_again(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_session: dict[str, Any],
    failing_fulfilment: Callable[[], None],
    post_event: Callable[..., Any],
    fake_stripe: responses.RequestsMock,
) -> None:
    body = event("checkout.session.completed", paid_session, id="evt_replay")
    assert post_event(body).status_code == 500
    page = client.get("/admin/events/evt_replay")
    assert page.status_code == 200
    assert "RuntimeError: the printer caught fire" in page.text
    assert "https://dashboard.stripe.com/test/checkout/sessions/cs_test_1" in page.text
    assert "https://dashboard.stripe.com/test/events/evt_replay" in page.text
    assert "/admin/orders/1" in page.text  # the order it is about
    failing_fulfilment()
    serve_event(fake_stripe, body)
    answer = client.post("/admin/events/evt_replay/replay", follow_redirects=True)
    assert "Replayed evt_replay: processed." in answer.text
    assert event_fetches(fake_stripe) == [API + "/v1/events/evt_replay"]
    kept = stored(app, "evt_replay")
    assert (kept.outcome, kept.attempts) == ("processed", 2)
    assert order_status(app) == "paid"
    again = client.post("/admin/events/evt_replay/replay", follow_redirects=True)
    assert "Replayed evt_replay: processed." in again.text  # safe to repeat
    assert stored(app, "evt_replay").attempts == 3
    assert order_status(app) == "paid"


def test_a_replay_that_fails_again_says_why(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_session: dict[str, Any],
    failing_fulfilment: Callable[[], None],
    post_event: Callable[..., Any],
    fake_stripe: responses.RequestsMock,
) -> None:
    body = event("checkout.session.completed", paid_session, id="evt_stubborn")
    assert post_event(body).status_code == 500
    first = stored(app, "evt_stubborn")
    serve_event(fake_stripe, body)
    answer = client.post("/admin/events/evt_stubborn/replay", follow_redirects=True)
    assert "Replay of evt_stubborn failed: RuntimeError: the printer caught fire" in answer.text
    kept = stored(app, "evt_stubborn")
    assert (kept.outcome, kept.attempts) == ("failed", 2)
    assert kept.last_attempt_at is not None and kept.last_attempt_at > first.last_attempt_at


def test_replay_needs_an_admin_and_a_csrf_token(
    make_app: Callable[..., Flask], fake_stripe: responses.RequestsMock
) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
    add_event(app, "evt_guarded", "failed", error="RuntimeError: no")
    helpers.add_user(app, "reader@example.com")
    helpers.add_user(app, ADMIN, admin=True)
    client = app.test_client()
    token = helpers.form_token(client.get("/login").text)
    assert token  # CSRF is on: the forms carry a token
    replay = "/admin/events/evt_guarded/replay"
    assert client.post(replay, data=token).status_code == 302  # to the sign-in page
    client.post(
        "/login", data={"email": "reader@example.com", "password": helpers.PASSWORD} | token
    )
    assert client.get("/admin/events").status_code == 403
    assert (
        client.post(replay, data=helpers.form_token(client.get("/account").text)).status_code == 403
    )
    client = app.test_client()
    login = client.get("/login")
    client.post(
        "/login",
        data={"email": ADMIN, "password": helpers.PASSWORD} | helpers.form_token(login.text),
    )
    assert client.get("/admin/events/evt_guarded").status_code == 200
    assert client.post("/admin/events/evt_guarded/replay").status_code == 400  # no token
    assert len(fake_stripe.calls) == 0
    assert stored(app, "evt_guarded").attempts == 1
    with app.app_context():
        db.drop_all()


def test_the_cli_replays_only_failed_events_oldest_first_and_reports_each(
    app: Flask,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
) -> None:
    now = utcnow()
    add_event(app, "evt_done", "processed", received_at=now - timedelta(hours=3))
    add_event(app, "evt_old", "failed", received_at=now - timedelta(hours=2), error="E: x")
    add_event(app, "evt_new", "failed", received_at=now - timedelta(hours=1), error="E: y")
    for event_id in ("evt_old", "evt_new"):
        serve_event(fake_stripe, event("checkout.session.completed", paid_session, id=event_id))
    result = app.test_cli_runner().invoke(args=["events", "replay", "--failed"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "evt_old processed",
        "evt_new processed",
        "2 applied, 0 still failing.",
    ]
    assert event_fetches(fake_stripe) == [API + "/v1/events/evt_old", API + "/v1/events/evt_new"]
    assert stored(app, "evt_done").attempts == 1  # not replayed
    assert order_status(app) == "paid"
    again = app.test_cli_runner().invoke(args=["events", "replay", "--failed"])
    assert (again.exit_code, again.output.strip()) == (0, "No failed events.")


def test_the_cli_replays_failed_events_received_since_a_moment_including_it(
    app: Flask,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
) -> None:
    """`--since` keeps events received at that very moment; two received together go in
    the order of their ids."""
    noon = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    add_event(app, "evt_before", "failed", received_at=noon - timedelta(seconds=1))
    add_event(app, "evt_b", "failed", received_at=noon)
    add_event(app, "evt_a", "failed", received_at=noon)
    for event_id in ("evt_a", "evt_b"):
        serve_event(fake_stripe, event("checkout.session.completed", paid_session, id=event_id))
    result = app.test_cli_runner().invoke(
        args=["events", "replay", "--failed", "--since", "2026-11-29T12:00"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "evt_a processed",
        "evt_b processed",
        "2 applied, 0 still failing.",
    ]
    assert event_fetches(fake_stripe) == [API + "/v1/events/evt_a", API + "/v1/events/evt_b"]
    assert stored(app, "evt_before").outcome == "failed"  # received before: not replayed


def test_replaying_an_event_quire_never_received_keeps_it_failed_then_processed(
    app: Flask,
    paid_session: dict[str, Any],
    failing_fulfilment: Callable[[], None],
    fake_stripe: responses.RequestsMock,
) -> None:
    """An event fetched by id (lost on the way, say) gets its row on its first replay:
    failed with the error, then processed on the next, each attempt counted."""
    serve_event(fake_stripe, event("checkout.session.completed", paid_session, id="evt_lost"))
    first = app.test_cli_runner().invoke(args=["events", "replay", "evt_lost"])
    assert first.exit_code == 1
    kept = stored(app, "evt_lost")
    assert (kept.outcome, kept.attempts, kept.last_error) == (
        "failed",
        1,
        "RuntimeError: the printer caught fire",
    )
    assert (kept.type, kept.object_id, kept.processed_at) == (
        "checkout.session.completed",
        "cs_test_1",
        None,
    )
    failing_fulfilment()  # mended
    again = app.test_cli_runner().invoke(args=["events", "replay", "evt_lost"])
    assert again.output.splitlines() == ["evt_lost processed", "1 applied, 0 still failing."]
    kept = stored(app, "evt_lost")
    assert (kept.outcome, kept.attempts) == ("processed", 2)
    assert kept.processed_at is not None
    assert order_status(app) == "paid"


def test_replaying_an_event_quire_never_received_applies_it_and_keeps_it(
    app: Flask, paid_session: dict[str, Any], fake_stripe: responses.RequestsMock
) -> None:
    serve_event(fake_stripe, event("checkout.session.completed", paid_session, id="evt_new"))
    result = app.test_cli_runner().invoke(args=["events", "replay", "evt_new"])
    assert result.output.splitlines() == ["evt_new processed", "1 applied, 0 still failing."]
    kept = stored(app, "evt_new")
    assert (kept.outcome, kept.attempts, kept.last_error) == ("processed", 1, None)
    assert kept.processed_at is not None and kept.last_attempt_at is not None
    assert order_status(app) == "paid"


def test_the_cli_exits_non_zero_while_an_event_still_fails(
    app: Flask,
    paid_session: dict[str, Any],
    failing_fulfilment: Callable[[], None],
    fake_stripe: responses.RequestsMock,
) -> None:
    add_event(app, "evt_cli_fail", "failed", error="E: x")
    serve_event(fake_stripe, event("checkout.session.completed", paid_session, id="evt_cli_fail"))
    fake_stripe.upsert(
        "GET",
        API + "/v1/events/evt_gone",
        status=404,
        json={"error": {"type": "invalid_request_error", "message": "No such event"}},
    )
    result = app.test_cli_runner().invoke(args=["events", "replay", "evt_cli_fail", "evt_gone"])
    assert result.exit_code == 1
    assert "evt_cli_fail failed: RuntimeError: the printer caught fire" in result.output
    assert "evt_gone unavailable: No such event" in result.output  # Stripe's words
    assert "0 applied, 2 still failing." in result.output


def test_the_cli_lists_failed_events_with_their_error(app: Flask) -> None:
    add_event(app, "evt_listed_ok", "processed")
    add_event(app, "evt_listed_bad", "failed", error="RuntimeError: no stock table")
    result = app.test_cli_runner().invoke(args=["events", "list", "--failed"])
    assert result.exit_code == 0
    assert "evt_listed_bad" in result.output and "RuntimeError: no stock table" in result.output
    assert "evt_listed_ok" not in result.output


# --- the events list ----------------------------------------------------------------------


def listed(page: str) -> list[str]:
    return re.findall(r'data-event="([^"]+)"', page)


def test_the_events_list_searches_filters_and_presets(
    app: Flask, client: FlaskClient, owner: None
) -> None:
    day = datetime(2026, 3, 10, 12, tzinfo=UTC)
    add_event(app, "evt_a", "processed", object_id="cs_a", received_at=day)
    add_event(
        app,
        "evt_b",
        "failed",
        type="invoice.paid",
        object_id="in_b",
        received_at=day + timedelta(days=1),
        error="RuntimeError: boom",
    )
    add_event(
        app,
        "evt_c",
        "ignored",
        type="customer.created",
        object_id="cus_c",
        received_at=day + timedelta(days=2),
    )
    assert listed(client.get("/admin/events").text) == ["evt_c", "evt_b", "evt_a"]
    assert listed(client.get("/admin/events?q=evt_b").text) == ["evt_b"]
    assert listed(client.get("/admin/events?q=cs_a").text) == ["evt_a"]
    assert listed(client.get("/admin/events?q=invoice.").text) == ["evt_b"]
    assert listed(client.get("/admin/events?type=customer.created").text) == ["evt_c"]
    failed = client.get("/admin/events?outcome=failed").text
    assert listed(failed) == ["evt_b"] and "RuntimeError: boom" in failed
    assert 'action="/admin/events/evt_b/replay"' in failed
    assert listed(client.get("/admin/events?outcome=failed&outcome=ignored").text) == [
        "evt_c",
        "evt_b",
    ]
    assert listed(client.get("/admin/events?since=2026-03-11&until=2026-03-11").text) == ["evt_b"]
    presets = client.get("/admin/events").text
    assert 'href="/admin/events?outcome=failed"' in presets
    assert 'href="/admin/events?outcome=ignored"' in presets


def test_the_events_list_pages_through_every_event_once(
    app: Flask, client: FlaskClient, owner: None
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    same_moment = start + timedelta(minutes=70)
    with app.app_context():
        for n in range(120):  # twenty share one moment, across a page's end: ids order them
            when = same_moment if 60 <= n < 80 else start + timedelta(minutes=n)
            db.session.add(
                ProcessedEvent(
                    id=f"evt_{n:04d}",
                    type="invoice.paid",
                    outcome="processed",
                    stripe_created=when,
                    received_at=when,
                    raw_json="{}",
                    attempts=1,
                )
            )
        db.session.commit()
    seen: list[str] = []
    url: str | None = "/admin/events"
    while url:
        page = client.get(url).text
        seen += listed(page)
        older = re.search(r'class="older" href="([^"]+)"', page)
        url = older.group(1).replace("&amp;", "&") if older else None
    assert len(seen) == 120 and len(set(seen)) == 120
    assert seen[0] == "evt_0119" and seen[-1] == "evt_0000"


def test_the_events_csv_has_the_filtered_events(
    app: Flask, client: FlaskClient, owner: None
) -> None:
    add_event(app, "evt_csv_ok", "processed")
    add_event(app, "evt_csv_bad", "failed", error='=HYPERLINK("http://evil")')
    answer = client.get("/admin/events.csv?outcome=failed")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [row["id"] for row in rows] == ["evt_csv_bad"]
    assert rows[0]["outcome"] == "failed"
    assert rows[0]["last_error"].startswith("'=")  # never a formula in a spreadsheet


def test_only_admins_see_the_events(
    app: Flask, client: FlaskClient, add_user: Callable[..., int], sign_in: Callable[..., None]
) -> None:
    add_event(app, "evt_private")
    assert client.get("/admin/events").status_code == 302
    add_user()
    sign_in()
    for path in ("/admin/events", "/admin/events/evt_private", "/admin/events.csv"):
        assert client.get(path).status_code == 403


# --- what an operator sees ----------------------------------------------------------------


def webhook_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("webhook ")]


def test_each_delivery_logs_one_line_with_its_fields(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    post_event: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="shop")
    post_event(event("checkout.session.completed", paid_session, id="evt_logged"))
    post_event(event("checkout.session.completed", paid_session, id="evt_forged"), secret="whsec_x")
    (applied, forged) = webhook_lines(caplog)
    assert applied.startswith(
        "webhook type=checkout.session.completed id=evt_logged outcome=processed status=200 ms="
    )
    assert forged.startswith("webhook outcome=rejected status=400 reason=")
    assert "ms=" in forged


def test_each_stripe_request_logs_method_path_status_and_request_id_but_never_the_key(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_stripe.upsert(
        "GET",
        re.compile(re.escape(API + "/v1/checkout/sessions/cs_test_1") + r"(\?.*)?$"),
        json=paid_session,
        headers={"Request-Id": "req_seen"},
    )
    caplog.set_level(logging.DEBUG)
    post_event(event("checkout.session.completed", paid_session))
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stripe ")]
    assert line.startswith(
        "stripe method=GET path=/v1/checkout/sessions/cs_test_1 status=200 request_id=req_seen ms="
    )
    assert "sk_test_unit" not in caplog.text
    assert helpers.WEBHOOK_SECRET not in caplog.text


def test_health_check_tells_how_old_the_newest_event_is(app: Flask, client: FlaskClient) -> None:
    assert client.get("/healthz").json["last_event_age_seconds"] is None
    add_event(app, "evt_failed_recently", "failed", received_at=utcnow())
    add_event(app, "evt_hour_old", "processed", received_at=utcnow() - timedelta(hours=1))
    answer = client.get("/healthz")
    assert answer.status_code == 200
    age = answer.json["last_event_age_seconds"]
    assert 3600 <= age < 3600 + 600  # a failed delivery does not count as webhooks working
    # Nor does Quire's own `stripe test-webhook`: it proves the endpoint, not Stripe.
    add_event(app, "evt_test_probe", "ignored", type="quire.webhook_test", received_at=utcnow())
    assert client.get("/healthz").json["last_event_age_seconds"] >= 3600


def test_the_banner_appears_once_failures_spike_and_not_before(
    app: Flask, client: FlaskClient, owner: None
) -> None:
    for n in range(alerts.FAILED_EVENTS_ALERT - 1):
        add_event(app, f"evt_fail_{n}", "failed", error="E: x")
    add_event(app, "evt_fail_old", "failed", received_at=utcnow() - timedelta(hours=2))
    assert "event-alert" not in client.get("/admin/").text
    add_event(app, "evt_fail_last", "failed", error="E: x")
    page = client.get("/admin/").text
    assert "event-alert" in page
    assert f"{alerts.FAILED_EVENTS_ALERT} failed Stripe events" in page
    assert 'href="/admin/events?outcome=failed"' in page


def test_events_no_worker_takes_raise_the_banner(
    app: Flask, client: FlaskClient, owner: None
) -> None:
    """A deploy whose worker process is not running: events pile up `received`."""
    add_event(app, "evt_just_in", "received", received_at=utcnow())
    assert "waiting-alert" not in client.get("/admin/").text  # a worker takes it soon
    waited = utcnow() - timedelta(seconds=alerts.WAITING_ALERT_SECONDS + 5)
    add_event(app, "evt_stuck_1", "received", received_at=waited)
    add_event(app, "evt_stuck_2", "received", received_at=waited)
    page = client.get("/admin/orders").text
    assert "2 Stripe events have waited over 2 minutes for a queue worker" in page
    assert 'href="/admin/events?outcome=received"' in page
    assert "failed Stripe" not in page  # no failures to speak of


def test_forged_deliveries_raise_the_banner_without_writing_to_the_database(
    app: Flask,
    client: FlaskClient,
    owner: None,
    paid_session: dict[str, Any],
    post_event: Callable[..., Any],
) -> None:
    body = event("checkout.session.completed", paid_session)
    for _ in range(alerts.BAD_SIGNATURES_ALERT - 1):
        assert post_event(body, secret="whsec_attacker").status_code == 400
    assert "event-alert" not in client.get("/admin/events").text
    assert post_event(body, secret="whsec_attacker").status_code == 400
    page = client.get("/admin/events").text
    assert "event-alert" in page
    assert f"{alerts.BAD_SIGNATURES_ALERT} deliveries refused for a bad signature" in page
    with app.app_context():
        assert db.session.execute(db.select(ProcessedEvent)).first() is None


def test_shoppers_never_see_the_banner(app: Flask, client: FlaskClient, shopper: int) -> None:
    for n in range(alerts.FAILED_EVENTS_ALERT):
        add_event(app, f"evt_quiet_{n}", "failed", error="E: x")
    assert "event-alert" not in client.get("/").text


def test_an_invoice_events_page_leads_to_its_membership_and_its_customer(
    app: Flask, client: FlaskClient, owner: None, add_user: Callable[..., int]
) -> None:
    member = add_user("member@example.com")
    with app.app_context():
        db.session.add(Customer(user_id=member, stripe_customer_id="cus_M1"))
        db.session.add(
            Subscription(
                stripe_subscription_id="sub_M1",
                user_id=member,
                stripe_customer_id="cus_M1",
                plan_key="reader",
                status="past_due",
            )
        )
        db.session.add(
            Invoice(
                stripe_invoice_id="in_M1",
                stripe_subscription_id="sub_M1",
                stripe_customer_id="cus_M1",
                currency="gbp",
                amount_due=500,
                amount_paid=0,
            )
        )
        db.session.commit()
        membership_id = db.session.execute(db.select(Subscription.id)).scalar_one()
    add_event(app, "evt_in_M1", "failed", type="invoice.payment_failed", object_id="in_M1")
    with app.app_context():
        row = db.session.get(ProcessedEvent, "evt_in_M1")
        assert row is not None
        row.raw_json = json.dumps(
            {"id": "evt_in_M1", "data": {"object": {"id": "in_M1", "customer": "cus_M1"}}}
        )
        db.session.commit()
    page = client.get("/admin/events/evt_in_M1").text
    assert f'href="/admin/members/{membership_id}"' in page
    assert f'href="/admin/customers/{member}"' in page
    assert "member@example.com" in page
    # An event about nothing Quire knows links to no record.
    add_event(app, "evt_other", type="invoice.paid", object_id="in_unknown")
    other = client.get("/admin/events/evt_other").text
    assert "/admin/members/" not in other and "/admin/customers/" not in other


def test_a_charge_events_page_leads_to_the_order_it_paid(
    app: Flask, client: FlaskClient, owner: None
) -> None:
    order_id = builders.add_order(app, session_id="cs_paid_by_charge")
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order is not None
        order.payment_intent_id = "pi_paid_by_charge"
        db.session.commit()
    add_event(app, "evt_refund", type="charge.refunded", object_id="ch_refunded")
    with app.app_context():
        row = db.session.get(ProcessedEvent, "evt_refund")
        assert row is not None
        row.raw_json = json.dumps(
            {"data": {"object": {"id": "ch_refunded", "payment_intent": "pi_paid_by_charge"}}}
        )
        db.session.commit()
    page = client.get("/admin/events/evt_refund").text
    assert f'href="/admin/orders/{order_id}"' in page
