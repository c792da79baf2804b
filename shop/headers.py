"""Security headers on every response Quire sends: pages, errors, static files, downloads.

Written by hand (a dozen lines) rather than with Flask-Talisman, which is barely
maintained and would bring options Quire does not use. The Content-Security-Policy
allows the shop's own files only: no inline script or style exists, and none may be
added. Forms may post to the shop itself and to the Stripe pages its forms redirect to
(hosted Checkout and the billing portal, or the sandbox standing in for them), since
Chrome applies `form-action` to the redirect after a POST too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, redirect, request
from werkzeug.wrappers import Response

#: Where Stripe's hosted pages live: Checkout and the billing portal.
STRIPE_PAGES = ("https://checkout.stripe.com", "https://billing.stripe.com")
#: HSTS for two years, subdomains included; sent in production only.
HSTS = "max-age=63072000; includeSubDomains"


def stripe_page_origins(api_base: str | None) -> tuple[str, ...]:
    """The origins of the Stripe pages shoppers are sent to: Stripe's own, or (with
    `STRIPE_API_BASE`, e.g. the sandbox) that server's, which serves its hosted pages."""
    if not api_base:
        return STRIPE_PAGES
    parts = urlsplit(api_base)
    return (f"{parts.scheme}://{parts.netloc}",)


def content_security_policy(api_base: str | None) -> str:
    """The shop's CSP: its own scripts, styles and images; forms to itself and Stripe."""
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "object-src": "'none'",
        "base-uri": "'self'",
        "frame-ancestors": "'none'",
        "form-action": " ".join(("'self'", *stripe_page_origins(api_base))),
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def security_headers(*, api_base: str | None, production: bool) -> dict[str, str]:
    """Every security header Quire sends, for these settings."""
    headers = {
        "Content-Security-Policy": content_security_policy(api_base),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    if production:
        headers["Strict-Transport-Security"] = HSTS
    return headers


#: Answered over plain http too: the platform's and monitors' health checks.
PLAIN_HTTP_PATHS = frozenset({"/healthz"})


def https_redirect() -> Response | None:
    """In production, a request that came over plain http is sent to the same address on
    https: 301 for GET and HEAD, 308 otherwise (a form is posted again, not lost).

    The scheme is the one the router saw: Heroku's router sets `X-Forwarded-Proto`, and
    gunicorn (`--forwarded-allow-ips`) turns it into the request's scheme. Without it a
    sign-in could never work (the session cookie is `Secure`, so the browser would not
    send it back over http and the form's CSRF check would fail).
    """
    if request.is_secure or request.path in PLAIN_HTTP_PATHS:
        return None
    code = 301 if request.method in ("GET", "HEAD") else 308
    return redirect(request.url.replace("http://", "https://", 1), code=code)


def init_app(app: Flask) -> None:
    """Add the headers to every response `app` sends (computed once, from its config);
    in production, send plain-http requests to https first."""
    if app.config.get("QUIRE_ENV") == "production":
        # First of all the request hooks: before the CSRF check that a form sent over
        # http would fail, so the form is posted again over https instead.
        app.before_request_funcs.setdefault(None, []).insert(0, https_redirect)

    headers = security_headers(
        api_base=app.config.get("STRIPE_API_BASE"),
        production=app.config.get("QUIRE_ENV") == "production",
    )

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
