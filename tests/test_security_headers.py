"""Security headers on every response: pages, errors, static files; HSTS in production only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from shop.extensions import db

EXPECTED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def fetch(client: FlaskClient, path: str, base_url: str = "http://localhost") -> TestResponse:
    """GET `path`, its body read and the response closed (static files are streamed)."""
    response = client.get(path, base_url=base_url)
    response.get_data()
    response.close()
    return response


def csp(response: TestResponse) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/books/the-salt-road", 200),
        ("/no-such-page", 404),
        ("/static/quire.css", 200),
        ("/static/forms.js", 200),
        ("/account", 302),
        ("/healthz", 200),
    ],
)
def test_every_response_carries_the_security_headers(
    client: FlaskClient, path: str, status: int
) -> None:
    response = fetch(client, path)
    assert response.status_code == status
    for name, value in EXPECTED.items():
        assert response.headers[name] == value
    assert "camera=()" in response.headers["Permissions-Policy"]
    policy = csp(response)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["img-src"] == "'self' data:"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'self'"
    assert "Strict-Transport-Security" not in response.headers


def test_forms_may_post_to_the_shop_and_stripe_s_hosted_pages(client: FlaskClient) -> None:
    assert csp(client.get("/"))["form-action"] == (
        "'self' https://checkout.stripe.com https://billing.stripe.com"
    )


def test_with_the_sandbox_forms_may_post_to_its_hosted_pages(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(STRIPE_API_BASE="http://127.0.0.1:12111/", STRIPE_USES_SANDBOX=True)
    response = fetch(app.test_client(), "/static/quire.css")
    assert csp(response)["form-action"] == "'self' http://127.0.0.1:12111"


def test_hsts_is_sent_in_production_only(make_app: Callable[..., Flask]) -> None:
    app = make_app(QUIRE_ENV="production")
    with app.app_context():
        db.create_all()
    client = app.test_client()
    for path in ("/", "/no-such-page", "/static/quire.css"):
        response = fetch(client, path, base_url="https://books.example")
        assert response.headers["Strict-Transport-Security"] == (
            "max-age=63072000; includeSubDomains"
        )
        assert response.headers["X-Frame-Options"] == "DENY"


def test_a_server_error_page_carries_the_headers_too(app: Flask, client: FlaskClient) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    response = client.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors" in response.headers["Content-Security-Policy"]


@pytest.fixture
def production(make_app: Callable[..., Flask]) -> FlaskClient:
    app = make_app(QUIRE_ENV="production", WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
    return app.test_client()


def test_production_sends_plain_http_visitors_to_https(production: FlaskClient) -> None:
    page = production.get("/books/the-salt-road?from=mail", base_url="http://books.example")
    assert page.status_code == 301
    assert page.headers["Location"] == "https://books.example/books/the-salt-road?from=mail"
    form = production.post("/login", data={"email": "x"}, base_url="http://books.example")
    assert form.status_code == 308  # posted again to https, not dropped
    assert form.headers["Location"] == "https://books.example/login"
    # The platform's health check answers over plain http.
    assert production.get("/healthz", base_url="http://books.example").status_code == 200
    secure = production.get("/", base_url="https://books.example")
    assert secure.status_code == 200 and "Strict-Transport-Security" in secure.headers


def test_development_serves_plain_http(client: FlaskClient) -> None:
    assert client.get("/", base_url="http://127.0.0.1:5000").status_code == 200


def test_a_form_without_its_session_gets_a_page_that_says_why(production: FlaskClient) -> None:
    answer = production.post(
        "/login",
        data={"email": "reader@example.com", "password": "correct horse battery"},
        base_url="https://books.example",
    )
    assert answer.status_code == 400
    assert "That form had expired" in answer.text
    assert "reload the page and send the form again" in answer.text
