"""Stripe events at the edges: which `Stripe-Signature` headers verify, which bodies are
events, what is kept of a failure, and what an event's row says about it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.exc import OperationalError

from shop import events
from shop.models import EVENT_ERROR_LENGTH, from_timestamp
from tests.helpers import OLD_WEBHOOK_SECRET, WEBHOOK_SECRET
from tests.stripe_fakes import signature

NOW = 1_800_000_000
BODY = {"id": "evt_1", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}}
PAYLOAD = json.dumps(BODY).encode()
#: The v1 signature Stripe sends for PAYLOAD at NOW with our current secret.
GOOD = signature(PAYLOAD, WEBHOOK_SECRET, NOW).split(",v1=")[1]
OTHER = signature(PAYLOAD, "whsec_attacker", NOW).split(",v1=")[1]


def verified(header: str, secrets: tuple[str, ...] = (WEBHOOK_SECRET,)) -> dict[str, Any]:
    return events.verify_event(PAYLOAD, header, secrets, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        f"t={NOW},v1={GOOD}",
        f"t={NOW}, v1={GOOD}",  # spaces after commas
        f"v1={GOOD},t={NOW}",  # any order
        f"t={NOW},v1={OTHER},v1={GOOD}",  # Stripe signs with each active secret
        f"t={NOW},v0={OTHER},v1={GOOD}",  # other schemes are ignored
    ],
)
def test_stripe_signature_headers_as_stripe_sends_them_verify(header: str) -> None:
    assert verified(header) == BODY


def test_the_previous_secret_still_verifies_while_it_is_rolled() -> None:
    header = signature(PAYLOAD, OLD_WEBHOOK_SECRET, NOW)
    assert verified(header, (WEBHOOK_SECRET, OLD_WEBHOOK_SECRET)) == BODY
    with pytest.raises(events.BadSignature, match="does not match any configured secret"):
        verified(header, (WEBHOOK_SECRET,))


@pytest.mark.parametrize(
    ("header", "secrets", "why"),
    [
        ("", (WEBHOOK_SECRET,), "missing Stripe-Signature header"),
        (f"t={NOW},v1={GOOD}", (), "no webhook signing secret is configured"),
        (f"v1={GOOD}", (WEBHOOK_SECRET,), "Stripe-Signature has no timestamp or no v1 signature"),
        (f"t={NOW}", (WEBHOOK_SECRET,), "Stripe-Signature has no timestamp or no v1 signature"),
        (
            f"t={NOW},v0={GOOD}",
            (WEBHOOK_SECRET,),
            "Stripe-Signature has no timestamp or no v1 signature",
        ),
        (
            f"t=١٨٠٠٠٠٠٠٠٠,v1={GOOD}",
            (WEBHOOK_SECRET,),
            "Stripe-Signature has no timestamp or no v1 signature",
        ),
        (
            f"t=-{NOW},v1={GOOD}",
            (WEBHOOK_SECRET,),
            "Stripe-Signature has no timestamp or no v1 signature",
        ),
        (f"t={NOW},v1={OTHER}", (WEBHOOK_SECRET,), "does not match any configured secret"),
        (f"t={NOW + 1},v1={GOOD}", (WEBHOOK_SECRET,), "does not match any configured secret"),
        (f"t={NOW},v1={GOOD[:-1]}", (WEBHOOK_SECRET,), "does not match any configured secret"),
        (f"t={NOW},v1=é{GOOD[1:]}", (WEBHOOK_SECRET,), "does not match any configured secret"),
        (f"t={NOW},v1={GOOD}=", (WEBHOOK_SECRET,), "does not match any configured secret"),
    ],
    ids=[
        "no-header",
        "no-secret",
        "no-timestamp",
        "no-signature",
        "only-v0",
        "non-ascii-digits",
        "negative-timestamp",
        "other-secret",
        "other-timestamp",
        "cut-signature",
        "non-ascii-signature",
        "signature-with-equals",
    ],
)
def test_headers_that_do_not_prove_stripe_sent_the_body_are_refused(
    header: str, secrets: tuple[str, ...], why: str
) -> None:
    with pytest.raises(events.BadSignature) as refused:
        verified(header, secrets)
    assert str(refused.value).endswith(why)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json", "signed body is not a Stripe event: not UTF-8 JSON"),
        (b"[1, 2]", "signed body is not a Stripe event"),
        (json.dumps({"id": "evt_1", "type": "x"}).encode(), "signed body is not a Stripe event"),
        (json.dumps({"id": "evt_1", "data": {}}).encode(), "signed body is not a Stripe event"),
        (json.dumps({"type": "x", "data": {}}).encode(), "signed body is not a Stripe event"),
    ],
    ids=["not-json", "a-list", "no-data", "no-type", "no-id"],
)
def test_signed_bodies_that_are_not_events_are_refused(body: bytes, why: str) -> None:
    header = signature(body, WEBHOOK_SECRET, NOW)
    with pytest.raises(events.BadSignature) as refused:
        events.verify_event(body, header, [WEBHOOK_SECRET], now=NOW)
    assert str(refused.value) == why


# --- what an event's row keeps ---------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "object_id"),
    [
        ({"data": {"object": {"id": "in_1"}}}, "in_1"),
        ({"data": {"object": {"id": "x" * 300}}}, "x" * 255),
        ({"data": {"object": {"id": ""}}}, None),
        ({"data": {"object": {"id": 12}}}, None),
        ({"data": {"object": {}}}, None),
        ({"data": {"object": "in_1"}}, None),
        ({"data": []}, None),
        ({}, None),
    ],
)
def test_the_object_an_event_is_about_is_its_data_object_id(
    event: dict[str, Any], object_id: str | None
) -> None:
    assert events.object_id_of(event) == object_id


def test_a_new_row_keeps_the_event_as_stripe_sent_it(app: Flask) -> None:
    body = {**BODY, "created": NOW}
    with app.app_context():
        row = events.new_row(body, json.dumps(body), "processed")
        assert (row.id, row.type, row.outcome, row.object_id) == (
            "evt_1",
            "invoice.paid",
            "processed",
            "in_1",
        )
        assert row.stripe_created == from_timestamp(NOW)
        assert json.loads(row.raw_json) == body
        assert (row.attempts, row.last_attempt_at) == (1, row.received_at)
        waiting = events.new_row(BODY, json.dumps(BODY), "received", attempted=False)
        assert (waiting.attempts, waiting.last_attempt_at) == (0, None)
        assert waiting.stripe_created == waiting.received_at  # Stripe gave no `created`


# --- what is kept of a failure -----------------------------------------------------------


class Boom(Exception):
    pass


@pytest.mark.parametrize(
    ("error", "kept"),
    [
        (Boom("the printer caught fire"), "Boom: the printer caught fire"),
        (Boom("first line\nsecond line"), "Boom: first line"),
        (Boom(), "Boom"),
        (Boom("key sk_test_abc123 and whsec_xyz"), "Boom: key [redacted] and [redacted]"),
        (Boom("rk_live_Zz9 pk_test_1"), "Boom: [redacted] [redacted]"),
        (Boom("x" * 600), "Boom: " + "x" * (EVENT_ERROR_LENGTH - 6)),
        (
            OperationalError(
                "UPDATE orders SET x=?", ("sk_test_secret",), Boom("database is locked")
            ),
            "OperationalError: database is locked",
        ),
    ],
    ids=["message", "first-line", "no-message", "keys", "more-keys", "long", "database"],
)
def test_a_failure_is_kept_as_its_type_and_first_line_without_keys(
    error: BaseException, kept: str
) -> None:
    assert events.describe_error(error) == kept


def test_a_replay_s_result_reads_as_one_line() -> None:
    assert str(events.Replayed("evt_1", "processed")) == "evt_1 processed"
    assert str(events.Replayed("evt_1", "failed", "Boom: x")) == "evt_1 failed: Boom: x"
    assert [events.Replayed("e", outcome).ok for outcome in events.DONE] == [True, True]
    assert not any(events.Replayed("e", outcome).ok for outcome in (*events.PENDING, "unavailable"))
    assert events.DONE == ("processed", "ignored")
    assert events.PENDING == ("received", "failed")
