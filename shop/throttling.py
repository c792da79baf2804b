"""Sign-in throttling (Flask-Limiter): per client address and per account.

- Per address: the POSTs of signing in, signing up and password resets share one budget,
  `ADDRESS_LIMIT`, counted by Flask-Limiter before the view runs; past it, Quire's
  "Too many attempts" page with HTTP 429.
- Per account: password guesses per email, `FAILED_SIGN_IN_LIMIT`, shared by the sign-in
  form and the account page's forms (a wrong current password counts). Each attempt is
  counted (one atomic hit) *before* the password is checked, so requests sent at once
  get no more guesses than requests sent one by one; a right password gives the count
  back, so signing in often never locks a shopper out. While it is exceeded even the
  right password is refused; unknown emails are counted the same way, so the refusal
  says nothing about whether an account exists.
- Per recipient: mails about an account (sign-up, reset, email change) to one address,
  `MAIL_RECIPIENT_LIMIT`, however many client addresses ask.

Each app has its own `Limiter` (`app.extensions["quire.limiter"]`): counts live in memory
**per process** (each gunicorn worker counts alone), or in Redis when `REDIS_URL` is set
so every worker counts together — set it in production with several workers.
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
#: Password guesses one email may have before sign-in is refused for it.
FAILED_SIGN_IN_LIMIT = parse("5 per 15 minutes")
#: Mails about an account one address may receive (sign-up, reset, email change).
MAIL_RECIPIENT_LIMIT = parse("3 per hour")
#: The endpoints whose POSTs count against `ADDRESS_LIMIT`.
THROTTLED_ENDPOINTS = (
    "accounts.login",
    "accounts.register",
    "accounts.forgot_password",
    "accounts.reset_password",
    "accounts.change_password",
    "accounts.change_email",
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


def reserve_sign_in(email: str) -> bool:
    """Count one password guess for `email` before the password is checked; False (and
    nothing counted) when its budget is spent. Atomic in the limiter's storage."""
    running = limiter()
    if not running.enabled:
        return True
    return bool(running.limiter.hit(FAILED_SIGN_IN_LIMIT, "failed-sign-in", _account_key(email)))


def give_back_sign_in(email: str) -> None:
    """The password was right: forget `email`'s guesses, so successes never lock out."""
    running = limiter()
    if running.enabled:
        running.limiter.clear(FAILED_SIGN_IN_LIMIT, "failed-sign-in", _account_key(email))


def may_mail(email: str) -> bool:
    """Count one account mail to `email`; False when it has had `MAIL_RECIPIENT_LIMIT`."""
    running = limiter()
    if not running.enabled:
        return True
    return bool(running.limiter.hit(MAIL_RECIPIENT_LIMIT, "mail-to", _account_key(email)))
