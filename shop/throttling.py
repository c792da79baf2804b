"""Sign-in throttling (Flask-Limiter): per client address and per account.

- Per address: the POSTs of signing in, signing up and password resets share one budget,
  `ADDRESS_LIMIT`, counted by Flask-Limiter before the view runs; past it, Quire's
  "Too many attempts" page with HTTP 429.
- Per account: failed sign-ins per email, `FAILED_SIGN_IN_LIMIT`, counted on failure
  only. While it is exceeded even the right password is refused, so guessing from many
  addresses gets nowhere; unknown emails are counted the same way, so the refusal says
  nothing about whether an account exists.

Each app has its own `Limiter` (`app.extensions["quire.limiter"]`): counts live in memory
per process, or in Redis when `REDIS_URL` is set so every worker counts together.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any, cast

from flask import Flask, current_app, render_template, request
from flask_limiter import Limiter
from limits import parse
from werkzeug.exceptions import TooManyRequests

#: Attempts one client address may make at the account forms (POST), all forms together.
ADDRESS_LIMIT = "20 per minute;200 per hour"
#: Failed sign-ins one email may have before sign-in is refused for it.
FAILED_SIGN_IN_LIMIT = parse("5 per 15 minutes")
#: The endpoints whose POSTs count against `ADDRESS_LIMIT`.
THROTTLED_ENDPOINTS = (
    "accounts.login",
    "accounts.register",
    "accounts.forgot_password",
    "accounts.reset_password",
)
_EXTENSION = "quire.limiter"


def client_address() -> str:
    """The client's address: the socket's peer, or, behind `FORWARDED_HOPS` proxies that
    each append to X-Forwarded-For (Heroku's router: 1), the address the outermost of them
    saw. Entries further left are the client's own say and are never trusted."""
    hops = int(current_app.config.get("FORWARDED_HOPS") or 0)
    if hops:
        forwarded = [
            part.strip()
            for header in request.headers.getlist("X-Forwarded-For")
            for part in header.split(",")
            if part.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.remote_addr or "unknown"


def init_app(app: Flask) -> None:
    """Give `app` its limiter, the address limit on the account forms and the 429 page.

    Call after the blueprints are registered (the limits wrap their views).
    """
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter = Limiter(key_func=client_address)
    limiter.init_app(app)
    app.extensions[_EXTENSION] = limiter
    per_address = limiter.shared_limit(ADDRESS_LIMIT, scope="accounts", methods=["POST"])
    for endpoint in THROTTLED_ENDPOINTS:
        app.view_functions[endpoint] = cast(Any, per_address(app.view_functions[endpoint]))

    @app.errorhandler(429)
    def too_many(error: TooManyRequests) -> tuple[str, int]:
        return render_template("errors/error.html", code=429), 429


def limiter() -> Limiter:
    """The running app's limiter."""
    found: Limiter = current_app.extensions[_EXTENSION]
    return found


def _account_key(email: str) -> str:
    """The counter's name for an email (a digest: the store never holds addresses)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def sign_in_wait(email: str) -> int | None:
    """Minutes until `email` may try to sign in again, or None if it may now."""
    running = limiter()
    if not running.enabled:
        return None
    key = _account_key(email)
    if running.limiter.test(FAILED_SIGN_IN_LIMIT, "failed-sign-in", key):
        return None
    stats = running.limiter.get_window_stats(FAILED_SIGN_IN_LIMIT, "failed-sign-in", key)
    return max(1, math.ceil((stats.reset_time - time.time()) / 60))


def count_failed_sign_in(email: str) -> None:
    """Record one failed sign-in for `email`."""
    running = limiter()
    if running.enabled:
        running.limiter.hit(FAILED_SIGN_IN_LIMIT, "failed-sign-in", _account_key(email))
