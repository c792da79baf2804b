"""Hosted pages of the sandbox: Checkout, billing portal and dashboard.

They are the sandbox's stand-ins for the pages Stripe hosts. They read the store and
act only through ``flows.engine`` (Checkout) and ``flows.portal`` (billing portal),
the domain interface shared with the API.
"""

from pathlib import Path

from flask import Blueprint, render_template
from werkzeug.exceptions import HTTPException

from . import checkout, clocks, dashboard, portal
from .display import register_filters

_PACKAGE = Path(__file__).resolve().parent.parent

bp = Blueprint(
    "pages",
    __name__,
    template_folder=str(_PACKAGE / "templates"),
    static_folder=str(_PACKAGE / "static"),
    static_url_path="/sandbox-static",
)
register_filters(bp)
checkout.register(bp)
portal.register(bp)
dashboard.register(bp)
clocks.register(bp)


@bp.errorhandler(HTTPException)
def page_error(error: HTTPException) -> tuple[str, int]:
    """Errors on the hosted pages look like the pages, test-mode banner included."""
    messages = {404: "There is nothing here: the link may be mistyped, or the sandbox was reset."}
    message = messages.get(error.code or 500, error.description or "")
    return render_template("sandbox/error.html", error=error, message=message), error.code or 500
