"""What the webhook takes in: no oversize body is read."""

from __future__ import annotations

import io
import time
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder, run_wsgi_app

from shop.extensions import db
from shop.models import ProcessedEvent
from shop.views.webhooks import MAX_EVENT_BYTES

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
