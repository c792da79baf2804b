"""Mail the shop sends: written with what it reports, sent once that has committed.

`queue(kind, to, key=…, **context)` renders `templates/mail/<kind>.txt` and `.html` and
adds a `Mail` row in the caller's transaction. Its `key` names the happening the mail
reports ("receipt:order:12") and is unique, so a replayed webhook, a concurrent duplicate
or a double click queues it once; a transaction that rolls back takes its mail with it.

`deliver_pending()` hands committed mails to the transport. Each mail is first claimed
(`pending` → `sending`, a guarded UPDATE), so two processes never send the same one. A
process killed between the mail server's answer and the `sent` mark leaves the mail
`sending`; it is retried after `STUCK_AFTER`, the one case in which a mail could arrive
twice rather than never. Failed attempts are retried up to `MAX_ATTEMPTS`.

Transports: `SMTP` in production (`MAIL_URL`, or `SMTP_HOST` and friends; encrypted
whenever the server is another machine: `smtps://`, or `smtp://` whose server must offer
STARTTLS), and the
**outbox** in development and tests: nothing leaves the machine, and every mail the shop
wrote can be read at `/outbox` (see `shop.views.outbox`).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from flask import Flask, current_app
from flask.wrappers import Response
from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shop.extensions import db
from shop.models import Mail, MailStatus, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
#: A mail still `sending` after this was claimed by a process that died; send it again.
STUCK_AFTER = timedelta(minutes=15)
_QUEUED = "quire.mail_queued"


class Transport(Protocol):
    """Something that delivers one message (raises on failure)."""

    def send(self, message: EmailMessage) -> None: ...


class Outbox:
    """Development and tests: keep every mail in the database, readable at `/outbox`."""

    def send(self, message: EmailMessage) -> None:
        log.info("mail kept in the outbox: %s → %s", message["Subject"], message["To"])


@dataclass(frozen=True)
class Smtp:
    """A mail server: `smtp://` (STARTTLS when offered) or `smtps://` (TLS from the start)."""

    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    timeout: float = 10.0

    @classmethod
    def from_url(cls, url: str) -> Smtp:
        """`smtp://user:password@host:587` or `smtps://user:password@host:465`."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("MAIL_URL must look like smtp://user:password@host:587")
        implicit_tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit_tls else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit_tls,
        )

    @property
    def on_this_machine(self) -> bool:
        """A mail server on localhost (a development catcher) may talk in the clear."""
        return self.host in ("localhost", "127.0.0.1", "::1")

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        server: smtplib.SMTP
        if self.implicit_tls:
            server = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with server:
            if not self.implicit_tls:
                server.ehlo()
                if server.has_extn("starttls"):
                    server.starttls(context=context)
                    server.ehlo()
                elif not self.on_this_machine:
                    # Someone between here and there may have struck the offer out: never
                    # send a password, a reset link or a receipt in the clear.
                    raise smtplib.SMTPNotSupportedError(
                        f"{self.host} offers no STARTTLS; Quire sends mail to another "
                        "machine only encrypted (use smtps:// or a server with STARTTLS)"
                    )
            if self.username:
                server.login(self.username, self.password or "")
            server.send_message(message)


def transport_for(config: dict[str, Any] | Any) -> Transport:
    """The app's transport: SMTP when `MAIL_URL` is set, else the outbox."""
    url = config.get("MAIL_URL")
    return Smtp.from_url(url) if url else Outbox()


def init_app(app: Flask) -> None:
    """Pick the transport, and send what a request queued once its response is out."""
    app.extensions["quire.mail"] = transport_for(app.config)

    @app.after_request
    def send_after_response(response: Response) -> Response:
        queued: list[int] = db.session.info.pop(_QUEUED, [])
        if queued and not app.config.get("MAIL_SEND_LATER"):
            real_app = app

            def deliver() -> None:
                with real_app.app_context():
                    deliver_pending(only=queued)

            response.call_on_close(deliver)
        return response


def transport() -> Transport:
    transport: Transport = current_app.extensions["quire.mail"]
    return transport


def uses_outbox_for(app: Flask) -> bool:
    """Whether mail stays on this machine (development and tests, never production)."""
    kept = isinstance(app.extensions.get("quire.mail"), Outbox)
    return kept and app.config.get("QUIRE_ENV") != "production"


# --- writing ---------------------------------------------------------------------------


def link(endpoint: str, **values: Any) -> str:
    """An absolute link to a Quire page, built without a request (mails leave the shop)."""
    adapter = current_app.url_map.bind("quire.invalid", url_scheme="https")
    path = adapter.build(endpoint, values)
    site_url: str = current_app.config["SITE_URL"]
    return site_url.rstrip("/") + path


def render(kind: str, **context: Any) -> tuple[str, str, str]:
    """Subject, plain text and HTML of a mail from `mail/<kind>.txt` and `mail/<kind>.html`.

    The text template sets the subject: `{% set subject = "Your receipt" %}`.
    """
    env = current_app.jinja_env
    context = {"link": link, "site_url": current_app.config["SITE_URL"], **context}
    text_module = env.get_template(f"mail/{kind}.txt").make_module(context)
    subject = str(getattr(text_module, "subject", "")).strip()
    if not subject:
        raise ValueError(f"mail/{kind}.txt sets no subject")
    html = env.get_template(f"mail/{kind}.html").render(subject=subject, **context)
    return subject, str(text_module).strip() + "\n", html


def queue(kind: str, to: str, *, key: str, **context: Any) -> bool:
    """Add a mail to the caller's transaction; False when `key` was queued before.

    Sent once the transaction commits (after the response, or by `flask mail send`).
    """
    subject, text, html = render(kind, **context)
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(Mail)
        .values(
            key=key,
            kind=kind,
            to_address=to,
            subject=subject,
            text_body=text,
            html_body=html,
            status=MailStatus.PENDING,
            attempts=0,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Mail.id)
    )
    mail_id = db.session.execute(statement).scalar_one_or_none()
    if mail_id is not None:
        db.session.info.setdefault(_QUEUED, []).append(mail_id)
    return mail_id is not None


# --- sending ---------------------------------------------------------------------------


def message_of(mail: Mail, sender: str) -> EmailMessage:
    """The mail as an RFC 5322 message: plain text with an HTML alternative."""
    message = EmailMessage()
    message["Subject"] = mail.subject
    message["From"] = sender
    message["To"] = mail.to_address
    message["Date"] = formatdate(mail.created_at.timestamp(), usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    message.set_content(mail.text_body)
    message.add_alternative(mail.html_body, subtype="html")
    return message


def _waiting(now: datetime) -> ColumnElement[bool]:
    """Mails to send: waiting, or claimed by a process that died, and not given up."""
    return and_(
        Mail.attempts < MAX_ATTEMPTS,
        or_(
            Mail.status == MailStatus.PENDING,
            (Mail.status == MailStatus.SENDING) & (Mail.claimed_at < now - STUCK_AFTER),
        ),
    )


def _claim(mail_id: int) -> bool:
    """Take a mail for sending; False when another process took it first."""
    now = utcnow()
    result = db.session.execute(
        update(Mail)
        .where(
            Mail.id == mail_id,
            Mail.attempts < MAX_ATTEMPTS,
            or_(
                Mail.status == MailStatus.PENDING,
                (Mail.status == MailStatus.SENDING) & (Mail.claimed_at < now - STUCK_AFTER),
            ),
        )
        .values(status=MailStatus.SENDING, claimed_at=now, attempts=Mail.attempts + 1)
    )
    db.session.commit()
    return bool(getattr(result, "rowcount", 0) == 1)


def deliver_queued() -> int:
    """Send the mails this session queued and has committed (what one command wrote, as
    a request's are sent after its response); returns how many were sent."""
    queued: list[int] = db.session.info.pop(_QUEUED, [])
    return deliver_pending(only=queued) if queued else 0


def deliver_pending(limit: int = 100, *, only: Sequence[int] | None = None) -> int:
    """Send committed mails that are waiting (`only` those ids: what one request wrote, so
    a web worker never works through a backlog); returns how many were sent."""
    query = db.select(Mail.id).where(_waiting(utcnow())).order_by(Mail.id).limit(limit)
    if only is not None:
        query = query.where(Mail.id.in_(only))
    waiting = db.session.execute(query).scalars()
    ids = list(waiting)
    db.session.commit()
    sent = 0
    sender = current_app.config["MAIL_FROM"]
    for mail_id in ids:
        if not _claim(mail_id):
            continue
        mail = db.session.get(Mail, mail_id)
        if mail is None:  # pragma: no cover - deleted under us
            continue
        db.session.commit()  # no transaction open while the mail server is talked to
        try:
            transport().send(message_of(mail, sender))
        except Exception as error:
            mail.status = MailStatus.FAILED if mail.attempts >= MAX_ATTEMPTS else MailStatus.PENDING
            mail.last_error = f"{type(error).__name__}: {error}"[:500]
            log.error("mail %s (%s) not sent: %s", mail.id, mail.kind, mail.last_error)
        else:
            mail.status = MailStatus.SENT
            mail.sent_at = utcnow()
            mail.last_error = None
            sent += 1
        db.session.commit()
    return sent
