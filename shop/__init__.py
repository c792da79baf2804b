"""Quire: a Stripe-hosted Checkout shop for books and memberships."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, g, render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from config import Settings
from shop import headers, mail, receipts, stripe_client, stripe_links, throttling, wording
from shop.catalogue_source import CatalogueSource
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
    register_security_headers(app)
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
    # procrastinate logs each job's start and end; the worker logs one line per event.
    logging.getLogger("procrastinate").setLevel(logging.WARNING)


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
    """Where the catalogue comes from; it is read on first use, not now.

    So a broken catalogue never stops the app from being built or a command that does
    not sell (`db upgrade`, `users create-admin`) from running: the first page that
    needs it logs its problems once and the shop's pages answer 503 until it is fixed;
    `flask catalog check` lists them. The release phase (`catalog sync`) fails first,
    so a deploy never goes live with a broken catalogue.
    """
    CatalogueSource.init_app(app)


def register_stripe(app: Flask) -> None:
    """The app's one Stripe client, and where checkout finds Price ids (the ones
    `catalog sync` recorded in the database); nothing calls Stripe yet."""
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


#: The database cannot be reached (down, restarting, out of connections): 503, not 500.
DATABASE_DOWN = (OperationalError, InterfaceError)


def register_errorhandlers(app: Flask) -> None:
    """Friendly pages for errors; never a traceback for shoppers.

    With the database unreachable the page is a 503 that asks to try again in a minute,
    rendered without the database: its header leaves out the account links, since
    reading the signed-in user would need the database again.
    """

    def database_down(error: Exception) -> tuple[str, int, dict[str, str]]:
        app.logger.error("database unavailable: %s", error, exc_info=error)
        try:
            db.session.rollback()
        except SQLAlchemyError:  # the connection is gone; the pool will replace it
            app.logger.warning("rollback after a database error failed too")
        # Flask-Login would load the signed-in user for the template: not from a database
        # that is down. The page is rendered as for a guest.
        g._login_user = login_manager.anonymous_user()
        page = render_template("errors/error.html", code=503, database_down=True)
        return page, 503, {"Retry-After": "60"}

    def render_error(error: Any) -> tuple[str, int] | tuple[str, int, dict[str, str]]:
        if isinstance(getattr(error, "original_exception", None), DATABASE_DOWN):
            return database_down(error.original_exception)
        code = getattr(error, "code", 500) or 500
        return render_template("errors/error.html", code=code), code

    def form_expired(error: CSRFError) -> tuple[str, int]:
        """A form without its session (too old, cookies blocked): say so, not a bare 400."""
        app.logger.info("form refused: %s", error.description)
        return render_template("errors/error.html", code=400, form_expired=True), 400

    for code in (400, 403, 404, 405, 500, 503):
        app.register_error_handler(code, render_error)
    app.register_error_handler(CSRFError, form_expired)
    for kind in DATABASE_DOWN:
        app.register_error_handler(kind, database_down)


def register_security_headers(app: Flask) -> None:
    """CSP, no framing, nosniff, a referrer policy and (in production) HSTS on every
    response (`shop/headers.py`)."""
    headers.init_app(app)


def register_template_helpers(app: Flask) -> None:
    """Money and date formatting, links to Stripe's dashboard, and shoppers' wording."""
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["country"] = country_name
    app.jinja_env.filters["datetime"] = lambda value: (
        value.strftime("%-d %b %Y, %H:%M UTC") if value else "—"
    )
    app.jinja_env.filters["date"] = lambda value: value.strftime("%-d %b %Y") if value else "—"
    stripe_links.init_app(app)
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
