"""`/outbox`: every mail the shop wrote, for development (registered only with the outbox
transport and never in production), so a newcomer can read what shoppers would get.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, render_template
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from shop.extensions import db
from shop.models import Mail

bp = Blueprint("outbox", __name__, url_prefix="/outbox")

_URL = re.compile(r"https?://[^\s<>\"']+")


def linked(text: str) -> Markup:
    """Plain text, escaped, with its web addresses made into links."""
    escaped = str(escape(text))
    anchored = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    # The text was escaped first; only the anchors around its addresses are markup.
    return Markup(anchored)  # noqa: S704


@bp.get("/")
def mails() -> str:
    """The newest mails first (the latest 200)."""
    latest = db.session.execute(db.select(Mail).order_by(Mail.id.desc()).limit(200)).scalars()
    return render_template("outbox/mails.html", mails=list(latest))


@bp.get("/<int:mail_id>")
def mail(mail_id: int) -> str:
    """One mail: its headers and plain text, with its links clickable."""
    found = db.session.get(Mail, mail_id) or abort(404)
    return render_template("outbox/mail.html", mail=found, text=linked(found.text_body))


@bp.get("/<int:mail_id>/html")
def mail_html(mail_id: int) -> Response:
    """The HTML part, as a mail reader would show it (no scripts, no outside requests)."""
    found = db.session.get(Mail, mail_id) or abort(404)
    response = Response(found.html_body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
    )
    return response
