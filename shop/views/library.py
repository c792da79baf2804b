"""The shopper's library: the ebooks they may read, and their downloads.

A download link is signed and short-lived (`shop.downloads`); the download checks the
link, that it was made for the signed-in shopper, and that they may read the book *now*
(`entitlements.may_read`), so a refund, a dispute or an ended membership closes it.
Anyone else gets 404, never the file.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, send_file, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from shop import downloads, entitlements
from shop.views import catalogue

bp = Blueprint("library", __name__)


@bp.get("/library")
@login_required
def library() -> str:
    """Owned ebooks and those a live membership includes, each with fresh download links."""
    books = entitlements.library(current_user, catalogue())
    secret = current_app.config["SECRET_KEY"]
    links = {
        (entry.book.key, file.format): url_for(
            "library.download",
            token=downloads.make_link_token(
                secret, downloads.DownloadGrant(current_user.id, entry.book.key, file.format)
            ),
        )
        for entry in books
        for file in entry.book.files
    }
    return render_template("library/library.html", books=books, links=links)


@bp.get("/library/download/<token>")
@login_required
def download(token: str) -> Response | tuple[str, int]:
    """Send an ebook file. :raise 404: a forged link, another shopper's, or a book the
    shopper may no longer read; an expired link of theirs shows a page saying so."""
    try:
        grant = downloads.read_link_token(current_app.config["SECRET_KEY"], token)
    except downloads.LinkInvalid:
        abort(404)
    except downloads.LinkExpired as expired:
        if expired.grant.user_id != current_user.id:
            abort(404)
        return render_template("library/expired.html"), 404
    if grant.user_id != current_user.id:
        abort(404)
    book = catalogue().book(grant.book_key)
    file = book.file(grant.format) if book is not None else None
    if file is None or not entitlements.may_read(current_user, grant.book_key, catalogue()):
        abort(404)
    path = Path(current_app.config["EBOOK_DIR"]) / file.path
    response = send_file(
        path,
        mimetype=file.media_type,
        as_attachment=True,
        download_name=f"{grant.book_key}.{file.format}",
        conditional=False,
    )
    # Private to this shopper, and revocable: no shared or stored copies.
    response.headers["Cache-Control"] = "private, no-store"
    return response
