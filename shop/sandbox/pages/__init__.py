"""Hosted pages of the sandbox: Checkout, billing portal and dashboard.

They are the sandbox's stand-ins for the pages Stripe hosts. They read the store and
act only through ``engine``, the domain interface shared with the API.
"""

from pathlib import Path

from flask import Blueprint

from . import checkout, dashboard, portal
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
