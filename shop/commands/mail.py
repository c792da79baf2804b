"""`flask --app wsgi mail send|test`: the mail the shop has written."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from shop import mail
from shop.extensions import db
from shop.models import Mail, MailStatus, utcnow

mail_group = AppGroup("mail", help="Send the mail the shop has written.")


@mail_group.command("send")
def mail_send() -> None:
    """Send mails still waiting (each is sent after its transaction commits; this catches
    up after a mail server outage)."""
    sent = mail.deliver_pending(limit=10_000)
    waiting = db.session.execute(
        db.select(db.func.count()).select_from(Mail).where(Mail.status != MailStatus.SENT)
    ).scalar_one()
    click.echo(f"Sent {sent} mail(s); {waiting} not sent (see their last_error).")


@mail_group.command("test")
@click.argument("address")
def mail_test(address: str) -> None:
    """Send a test mail to ADDRESS, to check the mail settings."""
    mail.queue("mail_check", address, key=f"mail-check:{address}:{utcnow().isoformat()}")
    db.session.commit()
    mail.deliver_pending()
    sent = (
        db.session.execute(
            db.select(Mail)
            .filter_by(kind="mail_check", to_address=address)
            .order_by(Mail.id.desc())
        )
        .scalars()
        .first()
    )
    if sent is None or sent.status != MailStatus.SENT:
        error = sent.last_error if sent is not None else "not written"
        click.echo(f"The test mail to {address} was not sent: {error}", err=True)
        sys.exit(1)
    where = "kept in the outbox (/outbox)" if mail.uses_outbox_for(current_app) else "sent"
    click.echo(f"Test mail to {address} {where}.")
