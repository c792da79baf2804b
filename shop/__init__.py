"""Quire: a Stripe-hosted Checkout shop for books and memberships."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, render_template
from sqlalchemy import event

from config import Settings
from shop import mail, receipts, stripe_client, throttling, wording
from shop.catalogue import CatalogueError, load_catalogue
from shop.checkout.prices import PriceDirectory
from shop.countries import country_name
from shop.extensions import csrf, db, login_manager, migrate
from shop.money import format_money


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build Quire: config → extensions → catalogue → Stripe → blueprints → CLI.

    `overrides` replaces settings (tests pass a database URL, secrets and the like).
    Nothing here calls Stripe: building the client is free.
    """
    app = Flask(__name__)
    configure(app, overrides)
    register_extensions(app)
    register_catalogue(app)
    register_stripe(app)
    register_mail(app)
    register_blueprints(app)
    register_throttling(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def configure(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    """Settings from the environment, then any overrides; logging at INFO."""
    app.config.from_mapping(Settings.from_env().as_flask_config())
    if overrides:
        app.config.from_mapping(overrides)
    logging.basicConfig(
        level=app.config.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The SDK logs every request at INFO; Quire logs what matters (with request ids) itself.
    logging.getLogger("stripe").setLevel(logging.WARNING)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the shop read while a webhook writes; wait instead of failing when busy."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def register_extensions(app: Flask) -> None:
    """Database, migrations, sign-in and CSRF protection."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please sign in to continue."
    csrf.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)


def register_catalogue(app: Flask) -> None:
    """Read and validate the catalogue once, at start-up.

    A broken catalogue does not stop the app from being built, so `flask catalog check`
    can still report on it; instead every problem is logged now and the shop's pages
    answer 503 until it is fixed. The release phase (`catalog sync`) fails first, so a
    deploy never goes live with a broken catalogue.
    """
    try:
        app.extensions["quire.catalogue"] = load_catalogue(
            Path(app.config["CATALOGUE_PATH"]), Path(app.config["EBOOK_DIR"])
        )
        app.extensions["quire.catalogue_error"] = None
    except CatalogueError as error:
        app.extensions["quire.catalogue"] = None
        app.extensions["quire.catalogue_error"] = error
        app.logger.error(
            "%s has %d problem(s); the shop answers 503 until they are fixed "
            "(see `flask --app wsgi catalog check`)",
            error.path.name,
            len(error.problems),
        )


def register_stripe(app: Flask) -> None:
    """The app's one Stripe client, and its cache of Price ids (nothing calls Stripe yet)."""
    stripe_client.init_app(app)
    PriceDirectory.init_app(app)


def register_mail(app: Flask) -> None:
    """Mail goes to the SMTP server of `MAIL_URL`, or stays in the development outbox."""
    mail.init_app(app)


def register_blueprints(app: Flask) -> None:
    """Shop pages, the basket, checkout, accounts, the library, admin, the Stripe webhook
    and the health check; the outbox page too while mail stays on this machine."""
    from shop.views import accounts, admin, cart, checkout, health, library, outbox, shop, webhooks

    for module in (shop, cart, checkout, accounts, library, admin, webhooks, health):
        app.register_blueprint(module.bp)
    csrf.exempt(webhooks.bp)
    app.jinja_env.globals["outbox_open"] = mail.uses_outbox_for(app)
    if mail.uses_outbox_for(app):
        app.register_blueprint(outbox.bp)


def register_throttling(app: Flask) -> None:
    """Sign-in throttling per client address and per account (`shop/throttling.py`)."""
    throttling.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    """Friendly pages for errors; never a traceback for shoppers."""

    def render_error(error: Any) -> tuple[str, int]:
        code = getattr(error, "code", 500) or 500
        return render_template("errors/error.html", code=code), code

    for code in (400, 403, 404, 405, 500):
        app.register_error_handler(code, render_error)


def register_template_helpers(app: Flask) -> None:
    """Money formatting and the catalogue for every template."""
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["country"] = country_name
    app.jinja_env.filters["datetime"] = lambda value: (
        value.strftime("%-d %b %Y, %H:%M UTC") if value else "—"
    )
    app.jinja_env.filters["date"] = lambda value: value.strftime("%-d %b %Y") if value else "—"
    register_shopper_wording(app)


def register_shopper_wording(app: Flask) -> None:
    """Plain words for shoppers: `{{ order_status(order).text }}`, `{{ 2|counted("copy",
    "copies") }}`, why a payment failed and a free trial's first payment.
    """
    app.jinja_env.filters["counted"] = wording.counted
    app.jinja_env.globals.update(
        order_status=wording.order_status,
        membership_status=wording.membership_status,
        failure_reason=wording.failure_reason,
        first_payment=receipts.first_payment,
    )


def register_commands(app: Flask) -> None:
    """`flask --app wsgi catalog|orders|users|stripe|sandbox …`."""
    from shop.commands import register

    register(app)
