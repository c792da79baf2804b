"""Mail: written with what it reports, sent once after commit, readable in the outbox."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from config import ConfigError, Settings, mail_url
from shop import mail
from shop.extensions import db
from shop.models import MailStatus
from tests.helpers import mails_to

ADDRESS = "reader@example.com"


class Inbox:
    """A real SMTP server on localhost that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refuse = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "451 Try again later"
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _serve(host: str) -> tuple[Inbox, int, Controller]:
    """A plain SMTP server (no STARTTLS, like a development mail catcher) on `host`."""
    handler = Inbox()
    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    return handler, port, controller


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler, port, controller = _serve("127.0.0.1")
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def far_inbox() -> Iterator[tuple[Inbox, int]]:
    """The same server on 127.0.0.2: to Quire, another machine (it is not localhost)."""
    handler, port, controller = _serve("127.0.0.2")
    try:
        yield handler, port
    finally:
        controller.stop()


def _queue_check(app: Flask, key: str = "check:1", to: str = ADDRESS) -> bool:
    with app.app_context():
        added = mail.queue("mail_check", to, key=key)
        db.session.commit()
        return added


def _smtp_app(make_app: Callable[..., Flask], port: int, **overrides: Any) -> Flask:
    """A shop on a fresh database whose mail goes to the SMTP server on `port`."""
    host = overrides.pop("host", "127.0.0.1")
    app = make_app(MAIL_URL=f"smtp://{host}:{port}", **overrides)
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


def _deliver_elsewhere(app: Flask) -> int:
    """Run the sender in another thread (its own connection), as another process would."""
    sent: list[int] = []

    def deliver() -> None:
        with app.app_context():
            sent.append(mail.deliver_pending())

    thread = threading.Thread(target=deliver)
    thread.start()
    thread.join()
    return sent[0]


def test_a_happening_queues_its_mail_once(app: Flask) -> None:
    assert _queue_check(app) is True
    assert _queue_check(app) is False  # the same key: a replayed event, a double click
    assert [m.subject for m in mails_to(app, ADDRESS)] == ["Quire can send mail"]


def test_a_rolled_back_transaction_sends_no_mail(app: Flask) -> None:
    with app.app_context():
        mail.queue("mail_check", ADDRESS, key="check:rolled-back")
        db.session.rollback()
        assert mail.deliver_pending() == 0
    assert mails_to(app, ADDRESS) == []


def test_the_outbox_page_shows_every_mail_with_its_links(app: Flask, client: FlaskClient) -> None:
    _queue_check(app)
    listing = client.get("/outbox/")
    assert listing.status_code == 200
    assert "Quire can send mail" in listing.text and ADDRESS in listing.text
    (only,) = mails_to(app, ADDRESS)
    page = client.get(f"/outbox/{only.id}")
    assert "the shop&#39;s mail settings work" in page.text
    assert '<a href="http://shop.test">http://shop.test</a>' in page.text
    html = client.get(f"/outbox/{only.id}/html")
    assert html.mimetype == "text/html" and "<code>flask mail test</code>" in html.text
    assert "default-src 'none'" in html.headers["Content-Security-Policy"]


def test_the_outbox_is_absent_when_mail_goes_to_a_server(make_app: Callable[..., Flask]) -> None:
    app = make_app(MAIL_URL="smtp://127.0.0.1:2525")
    assert app.test_client().get("/outbox/").status_code == 404


def test_mail_goes_to_the_smtp_server_once_committed(
    make_app: Callable[..., Flask], inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    app = _smtp_app(make_app, port, MAIL_FROM="Quire <orders@shop.test>")
    with app.app_context():
        mail.queue("mail_check", ADDRESS, key="check:smtp")
        assert _deliver_elsewhere(app) == 0  # not committed yet: nothing leaves
        db.session.commit()
        assert mail.deliver_pending() == 1
        assert mail.deliver_pending() == 0  # sent is sent
    (received,) = server.messages
    assert received["To"] == ADDRESS and received["From"] == "Quire <orders@shop.test>"
    assert received["Subject"] == "Quire can send mail"
    kinds = sorted(part.get_content_type() for part in received.walk() if not part.is_multipart())
    assert kinds == ["text/html", "text/plain"]
    (row,) = mails_to(app, ADDRESS)
    assert row.status == MailStatus.SENT and row.sent_at is not None


def test_a_mail_server_outage_keeps_the_mail_and_retries(
    make_app: Callable[..., Flask], inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    app = _smtp_app(make_app, port)
    _queue_check(app)
    server.refuse = True
    with app.app_context():
        assert mail.deliver_pending() == 0
    (row,) = mails_to(app, ADDRESS)
    assert row.status == MailStatus.PENDING and "451" in (row.last_error or "")
    server.refuse = False
    with app.app_context():
        assert mail.deliver_pending() == 1
    assert len(server.messages) == 1
    assert mails_to(app, ADDRESS)[0].status == MailStatus.SENT


def test_a_mail_that_keeps_failing_is_given_up_and_shown(
    make_app: Callable[..., Flask], inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    server.refuse = True
    app = _smtp_app(make_app, port)
    _queue_check(app)
    with app.app_context():
        for _ in range(mail.MAX_ATTEMPTS + 2):
            mail.deliver_pending()
    (row,) = mails_to(app, ADDRESS)
    assert row.status == MailStatus.FAILED and row.attempts == mail.MAX_ATTEMPTS


def test_two_senders_at_once_send_each_mail_once(
    make_app: Callable[..., Flask], inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    app = _smtp_app(make_app, port)
    for n in range(20):
        _queue_check(app, key=f"check:{n}")
    start = threading.Barrier(4)

    def send() -> None:
        with app.app_context():
            start.wait()
            mail.deliver_pending()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.messages) == 20
    assert {m.status for m in mails_to(app, ADDRESS)} == {MailStatus.SENT}


def test_mail_test_command_reports_where_the_mail_went(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["mail", "test", "owner@example.com"])
    assert result.exit_code == 0, result.output
    assert "kept in the outbox" in result.output
    assert [m.status for m in mails_to(app, "owner@example.com")] == [MailStatus.SENT]


def test_mail_send_command_catches_up(app: Flask, runner: FlaskCliRunner) -> None:
    _queue_check(app)
    result = runner.invoke(args=["mail", "send"])
    assert "Sent 1 mail(s); 0 not sent" in result.output


def test_smtp_settings_become_one_mail_url() -> None:
    assert mail_url(
        {"SMTP_HOST": "mail.example", "SMTP_USERNAME": "shop@x", "SMTP_PASSWORD": "p@ss"}
    ) == ("smtp://shop%40x:p%40ss@mail.example:587")
    assert mail_url({"SMTP_HOST": "mail.example", "SMTP_PORT": "465"}) == "smtps://mail.example:465"
    assert mail_url({"MAIL_URL": "smtp://a:b@c:25", "SMTP_HOST": "ignored"}) == "smtp://a:b@c:25"
    assert mail_url({}) is None
    smtp = mail.Smtp.from_url("smtps://shop%40x:p%40ss@mail.example")
    assert (smtp.username, smtp.password, smtp.port, smtp.implicit_tls) == (
        "shop@x",
        "p@ss",
        465,
        True,
    )


def test_production_refuses_to_start_without_a_mail_server(tmp_path: Path) -> None:
    env = {
        "QUIRE_ENV": "production",
        "SECRET_KEY": "s",
        "DATABASE_URL": "postgres://u@h/d",
        "STRIPE_SECRET_KEY": "sk_test_1",
        "STRIPE_WEBHOOK_SECRET": "whsec_1",
        "SITE_URL": "https://books.example",
    }
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert "MAIL_URL (or SMTP_HOST)" in str(caught.value) and "MAIL_FROM" in str(caught.value)
    with pytest.raises(ConfigError, match="MAIL_URL must look like"):
        Settings.from_env({**env, "MAIL_URL": "mail.example", "MAIL_FROM": "x@y"})


def test_no_mail_goes_in_the_clear_to_another_machine(
    make_app: Callable[..., Flask], far_inbox: tuple[Inbox, int]
) -> None:
    """A mail server elsewhere that offers no STARTTLS (or whose offer was struck out on
    the way) gets nothing: no password, reset link or receipt travels unencrypted."""
    server, port = far_inbox
    app = _smtp_app(make_app, port, host="127.0.0.2")
    _queue_check(app)
    with app.app_context():
        assert mail.deliver_pending() == 0
    assert server.messages == []
    (row,) = mails_to(app, ADDRESS)
    assert row.status == MailStatus.PENDING and "offers no STARTTLS" in (row.last_error or "")


class _Choosy:
    """A transport that fails on one subject in a way no mail library expects."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message: Any) -> None:
        if "broken" in message["To"]:
            raise UnicodeEncodeError("ascii", "é", 0, 1, "not ascii")
        self.sent.append(message["To"])


def test_a_mail_that_breaks_the_sender_does_not_stop_the_others(app: Flask) -> None:
    _queue_check(app, key="a", to="broken@example.com")
    _queue_check(app, key="b", to=ADDRESS)
    choosy = _Choosy()
    app.extensions["quire.mail"] = choosy
    with app.app_context():
        assert mail.deliver_pending() == 1
        for _ in range(mail.MAX_ATTEMPTS + 2):
            mail.deliver_pending()
    assert choosy.sent == [ADDRESS]
    (broken,) = mails_to(app, "broken@example.com")
    assert broken.status == MailStatus.FAILED and broken.attempts == mail.MAX_ATTEMPTS
    assert "UnicodeEncodeError" in (broken.last_error or "")


def test_a_request_sends_only_its_own_mail_not_the_backlog(
    app: Flask, client: FlaskClient, add_user: Callable[..., int]
) -> None:
    """After a mail server outage the backlog waits for `flask mail send`; a web worker
    sends only what its own request wrote, so one shopper's request never works through
    a hundred mails."""
    add_user()
    for n in range(3):
        _queue_check(app, key=f"backlog:{n}", to="owner@example.com")
    choosy = _Choosy()
    app.extensions["quire.mail"] = choosy
    response = client.post("/password/forgot", data={"email": ADDRESS})
    assert response.status_code == 200
    response.close()  # what the server does once the response is out
    assert choosy.sent == [ADDRESS]
    assert {m.status for m in mails_to(app, "owner@example.com")} == {MailStatus.PENDING}
