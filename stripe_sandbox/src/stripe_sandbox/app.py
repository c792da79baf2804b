"""The sandbox's Flask application factory."""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from .api import bp as api_bp
from .api.base import error_response
from .core.errors import StripeError
from .core.sandbox import Sandbox
from .flows.delivery import DeliveryWorker
from .flows.scheduler import run_due_work
from .pages import bp as pages_bp
from .settings import SandboxSettings


def create_app(settings: SandboxSettings | None = None) -> Flask:
    """Build the sandbox server: state, the ``/v1`` API, hosted pages, error handlers.

    Background work does not start here; ``python -m stripe_sandbox run`` and
    ``running_sandbox`` call ``sandbox.start()``.
    """
    settings = settings or SandboxSettings.from_env()
    app = Flask(__name__)
    app.config["SANDBOX_SETTINGS"] = settings
    app.extensions["sandbox"] = build_sandbox(settings)
    register_blueprints(app)
    register_errorhandlers(app)
    return app


def build_sandbox(settings: SandboxSettings) -> Sandbox:
    """A ``Sandbox`` with its webhook delivery worker and wall-clock due work (not started)."""
    return Sandbox(settings, worker=DeliveryWorker, due_work=run_due_work)


def listening_on(app: Flask, port: int) -> SandboxSettings:
    """Record the port the server really listens on (after ``--port 0``) in the
    settings, so hosted-page URLs point at it; returns the new settings."""
    sandbox: Sandbox = app.extensions["sandbox"]
    settings = sandbox.settings.with_overrides(port=port)
    sandbox.settings = settings
    app.config["SANDBOX_SETTINGS"] = settings
    return settings


def register_blueprints(app: Flask) -> None:
    """The API and the hosted pages."""
    app.register_blueprint(api_bp)
    app.register_blueprint(pages_bp)


def register_errorhandlers(app: Flask) -> None:
    """Unknown ``/v1`` URLs and methods answer like Stripe."""

    @app.errorhandler(HTTPException)
    def stripe_http_error(exc: HTTPException) -> Response | HTTPException:
        if not request.path.startswith("/v1"):
            return exc
        message = f"Unrecognized request URL ({request.method}: {request.path})."
        return error_response(StripeError(message, status=404))
