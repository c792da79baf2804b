"""What the webhook takes in: no oversize body is read, and the signature covers the
exact bytes received (no lossy decode can make a changed body pass)."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import responses
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder, run_wsgi_app

from shop.extensions import db
from shop.models import Order, ProcessedEvent
from shop.views.webhooks import MAX_EVENT_BYTES
from tests import builders
from tests.helpers import WEBHOOK_SECRET
from tests.stripe_fakes import event, signature

FIVE_MIB = 5 * 1024 * 1024


class CountingStream(io.RawIOBase):
    """A request body of `size` bytes that counts how many of them were read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = b"{" * count
        self.left -= count
        self.read_bytes += count
        return count


def post_stream(
    app: Flask,
    path: str,
    body: CountingStream,
    content_length: int | None,
    content_type: str = "application/json",
) -> int:
    """POST `body` as a server would hand it over: with a Content-Length, or chunked
    (none, and `wsgi.input_terminated`, as gunicorn sets); the response's status."""
    environ = EnvironBuilder(
        path=path,
        method="POST",
        headers={"Stripe-Signature": "t=1,v1=00"},
        content_type=content_type,
    ).get_environ()
    environ["wsgi.input"] = body
    if content_length is None:
        environ.pop("CONTENT_LENGTH", None)
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(content_length)
    _body, status, _headers = run_wsgi_app(app, environ, buffered=True)
    return int(status.split()[0])


def nothing_written(app: Flask) -> bool:
    with app.app_context():
        return db.session.execute(db.select(ProcessedEvent)).first() is None


def test_a_5_mib_webhook_body_is_refused_with_413_before_it_is_read(
    app: Flask, client: FlaskClient
) -> None:
    body = CountingStream(FIVE_MIB)
    started = time.monotonic()
    assert post_stream(app, "/webhooks/stripe", body, FIVE_MIB) == 413
    assert time.monotonic() - started < 1.0
    assert body.read_bytes == 0  # refused by its Content-Length alone
    assert nothing_written(app)


def test_a_chunked_oversize_webhook_body_is_cut_off_at_the_limit_with_413(
    app: Flask, client: FlaskClient
) -> None:
    """No Content-Length (chunked): the read stops just past the limit, not at 5 MiB."""
    body = CountingStream(FIVE_MIB)
    assert post_stream(app, "/webhooks/stripe", body, None) == 413
    assert body.read_bytes <= MAX_EVENT_BYTES + 64 * 1024
    assert nothing_written(app)


def test_no_form_of_the_shop_reads_a_body_over_1_mib(app: Flask, client: FlaskClient) -> None:
    body = CountingStream(2 * 1024 * 1024)
    form = "application/x-www-form-urlencoded"
    assert post_stream(app, "/login", body, 2 * 1024 * 1024, form) == 413
    assert body.read_bytes == 0


REPLACEMENT = "\ufffd".encode()  # what a lossy decode turns an invalid byte into


def _signed(payload: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"Stripe-Signature": signature(payload, secret)}


def test_a_signed_body_with_one_byte_changed_to_invalid_utf8_is_refused_and_nothing_written(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
) -> None:
    """The probe's case: the signed body holds U+FFFD; swapping its three bytes for one
    invalid byte left the lossy decode (and so the signature check) unchanged."""
    builders.add_order(app)
    session = builders.session()
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", session)
    body = event("checkout.session.completed", session, description="Caf\ufffd")
    payload = json.dumps(body, ensure_ascii=False).encode()
    headers = _signed(payload)
    tampered = payload.replace(REPLACEMENT, b"\xff", 1)
    assert tampered != payload

    response = client.post(
        "/webhooks/stripe", data=tampered, headers=headers, content_type="application/json"
    )
    assert response.status_code == 400
    assert nothing_written(app)
    with app.app_context():
        assert db.session.get(Order, 1).status == "pending"  # type: ignore[union-attr]

    # The body as signed is still accepted, and stored byte for byte.
    response = client.post(
        "/webhooks/stripe", data=payload, headers=headers, content_type="application/json"
    )
    assert response.status_code == 200
    with app.app_context():
        stored = db.session.execute(db.select(ProcessedEvent.raw_json)).scalar_one()
        assert stored.encode() == payload


def test_a_correctly_signed_body_that_is_not_utf8_is_refused_with_400_not_500(
    app: Flask, client: FlaskClient
) -> None:
    payload = json.dumps(event("customer.created", {"id": "cus_1"})).encode()
    payload = payload.replace(b"cus_1", b"cus_\xff", 1)
    response = client.post(
        "/webhooks/stripe", data=payload, headers=_signed(payload), content_type="application/json"
    )
    assert response.status_code == 400
    assert nothing_written(app)


def test_a_signature_older_than_the_tolerance_is_refused(app: Flask, client: FlaskClient) -> None:
    payload = json.dumps(event("customer.created", {"id": "cus_1"})).encode()
    stale = {"Stripe-Signature": signature(payload, WEBHOOK_SECRET, int(time.time()) - 301)}
    response = client.post(
        "/webhooks/stripe", data=payload, headers=stale, content_type="application/json"
    )
    assert response.status_code == 400
    assert nothing_written(app)
