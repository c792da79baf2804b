"""Deploying: settings from the environment, health check, migrations, no Stripe at boot."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from config import ConfigError, Settings, database_url
from shop.extensions import db
from tests import helpers
from tests.helpers import TEST_CATALOGUE

PRODUCTION = {
    "QUIRE_ENV": "production",
    "SECRET_KEY": "s3cret",
    "DATABASE_URL": "postgres://u:p@db.example:5432/quire",
    "STRIPE_SECRET_KEY": "sk_test_123",
    "STRIPE_WEBHOOK_SECRET": "whsec_new,whsec_old",
    "SITE_URL": "https://books.example/",
    "MAIL_URL": "smtp://shop:secret@mail.example:587",
    "MAIL_FROM": "Quire <orders@books.example>",
}


def test_production_names_every_missing_secret() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k not in ("SECRET_KEY", "SITE_URL")}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert "SECRET_KEY" in str(caught.value)
    assert "SITE_URL" in str(caught.value)
    assert "STRIPE_SECRET_KEY" not in str(caught.value)


def test_production_needs_no_webhook_secret_setting() -> None:
    """`release` stores the endpoint's secret in the database instead."""
    env = {k: v for k, v in PRODUCTION.items() if k != "STRIPE_WEBHOOK_SECRET"}
    assert Settings.from_env(env).stripe_webhook_secrets == ()


def test_heroku_dyno_means_production() -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({"DYNO": "web.1"})


def test_production_settings_are_read_as_given() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert settings.database_url == "postgresql+psycopg://u:p@db.example:5432/quire"
    assert settings.stripe_webhook_secrets == ("whsec_new", "whsec_old")
    assert settings.site_url == "https://books.example"
    assert settings.uses_sandbox is False
    assert settings.stripe_api_base is None
    assert settings.as_flask_config()["SESSION_COOKIE_SECURE"] is True


def test_development_without_a_key_uses_the_sandbox() -> None:
    settings = Settings.from_env({"SECRET_KEY": "dev"})
    assert settings.uses_sandbox is True
    assert settings.stripe_api_base == "http://127.0.0.1:12111"
    assert settings.database_url.startswith("sqlite:///")


def test_postgres_scheme_is_accepted() -> None:
    assert database_url("postgres://a@b/c") == "postgresql+psycopg://a@b/c"
    assert database_url("postgresql://a@b/c") == "postgresql+psycopg://a@b/c"


def test_health_check_answers_when_the_database_does(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": "ok",
        "catalogue": "ok",
        "last_event_age_seconds": None,
    }


def test_health_check_fails_when_the_database_does_not(
    tmp_path: Path, make_app: Callable[..., Flask]
) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/missing/dir/db.sqlite3")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unavailable"


def test_building_the_app_and_serving_pages_calls_stripe_not_once(
    make_app: Callable[..., Flask],
) -> None:
    with responses.RequestsMock() as stripe_http:
        app = make_app()
        with app.app_context():
            db.create_all()
        for url in ("/", "/books/the-salt-road", "/memberships/reader", "/healthz"):
            assert app.test_client().get(url).status_code == 200
        assert len(stripe_http.calls) == 0


def test_a_broken_catalogue_closes_the_shop_with_503(
    tmp_path: Path, make_app: Callable[..., Flask]
) -> None:
    broken = tmp_path / "products.yaml"
    broken.write_text("books:\n  - key: x\n    price: -1\n")
    app = make_app(CATALOGUE_PATH=str(broken))
    assert app.test_client().get("/").status_code == 503
    health = app.test_client().get("/healthz")  # the platform's check sees it too
    assert health.status_code == 503
    assert health.json["status"] == "error" and health.json["catalogue"] == "broken"
    assert health.json["catalogue_problems"] >= 1


def test_a_catalogue_broken_after_a_good_read_keeps_the_shop_open(
    tmp_path: Path, make_app: Callable[..., Flask]
) -> None:
    """The shop sells the catalogue it read before: healthy, but the check says so."""
    catalogue = tmp_path / "products.yaml"
    catalogue.write_text(TEST_CATALOGUE.read_text())
    app = make_app(CATALOGUE_PATH=str(catalogue))
    with app.app_context():
        db.create_all()
    client = app.test_client()
    assert client.get("/healthz").json["catalogue"] == "ok"
    catalogue.write_text("books:\n  - key: x\n    price: -1\n")
    os.utime(catalogue, (time.time() + 5, time.time() + 5))  # a later change, whatever the clock
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json["catalogue"] == "stale" and health.json["catalogue_problems"] >= 1
    assert client.get("/").status_code == 200


def test_migrations_build_the_schema_the_models_describe(
    tmp_path: Path,
    make_app: Callable[..., Flask],
    run_flask: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """`flask db upgrade` on an empty database, then Alembic finds nothing left to migrate."""
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    if os.environ.get("TEST_DATABASE_URL"):
        helpers.empty_database(make_app())
    for command in (["db", "upgrade"], ["db", "check"]):
        result = run_flask(*command, DATABASE_URL=url, SECRET_KEY="x")
        assert result.returncode == 0, result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr


def test_an_admin_page_needs_an_admin(
    app: Flask, client: FlaskClient, add_user: Callable[..., int], sign_in: Callable[..., None]
) -> None:
    assert client.get("/admin/").status_code == 302  # signed out: to the sign-in page
    add_user()
    sign_in()
    assert client.get("/admin/").status_code == 403
    add_user("owner@example.com", admin=True)
    sign_in("owner@example.com")
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "Shop overview" in page.text
    assert "No sales yet." in page.text


def test_upgrading_puts_past_payments_and_refunds_in_the_ledger(
    tmp_path: Path,
    make_app: Callable[..., Flask],
    run_flask: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """A shop with sales before the ledger keeps its revenue: payments at their dates,
    refunds so far at the order's last change, renewals (not first invoices) counted,
    and each membership's amount and start taken from its sign-up order."""
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'upgraded.sqlite3'}"
    if os.environ.get("TEST_DATABASE_URL"):
        helpers.empty_database(make_app())
    result = run_flask("db", "upgrade", "d3e8a1f5c7b2", DATABASE_URL=url, SECRET_KEY="x")
    assert result.returncode == 0, result.stderr
    engine = create_engine(database_url(url))
    paid, changed = "2026-03-01 10:00:00+00:00", "2026-03-05 09:00:00+00:00"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, email, password_hash, is_admin, created_at) "
                "VALUES (1, 'r@example.com', 'x', false, :at)"
            ),
            {"at": paid},
        )
        for order_id, kind, amount, refunded, session, sub in (
            (1, "book", 1299, 299, "cs_1", None),
            (2, "membership", 900, 0, "cs_2", "sub_1"),
            (3, "book", 1299, 0, "cs_3", None),  # never paid
        ):
            connection.execute(
                text(
                    "INSERT INTO orders (id, user_id, kind, status, currency, amount_total, "
                    "amount_discount, amount_paid, amount_refunded, amount_refund_reserved, "
                    "checkout_session_id, stripe_subscription_id, ships, holds_stock, "
                    "stock_state, checkout_attempts, created_at, updated_at, paid_at) VALUES "
                    "(:id, 1, :kind, 'paid', 'gbp', :amount, 0, :paid, :refunded, 0, :session, "
                    ":sub, false, false, 'none', 1, :at, :changed, :paid_at)"
                ),
                {
                    "id": order_id,
                    "kind": kind,
                    "amount": amount,
                    "paid": amount if order_id != 3 else None,
                    "refunded": refunded,
                    "session": session,
                    "sub": sub,
                    "at": paid,
                    "changed": changed,
                    "paid_at": paid if order_id != 3 else None,
                },
            )
        for invoice_id, reason in (("in_1", "subscription_create"), ("in_2", "subscription_cycle")):
            connection.execute(
                text(
                    "INSERT INTO invoices (stripe_invoice_id, stripe_subscription_id, status, "
                    "billing_reason, currency, amount_due, amount_paid, attempt_count, "
                    "created_at, updated_at) VALUES (:id, 'sub_1', 'paid', :reason, 'gbp', "
                    "900, 900, 1, :at, :at)"
                ),
                {"id": invoice_id, "reason": reason, "at": changed},
            )
        connection.execute(
            text(
                "INSERT INTO subscriptions (stripe_subscription_id, user_id, stripe_customer_id, "
                "plan_key, interval, status, cancel_at_period_end, updated_at) VALUES "
                "('sub_1', 1, 'cus_1', 'reader', 'month', 'active', false, :at)"
            ),
            {"at": changed},
        )
    result = run_flask("db", "upgrade", DATABASE_URL=url, SECRET_KEY="x")
    assert result.returncode == 0, result.stderr
    with engine.connect() as connection:
        ledger = connection.execute(
            text("SELECT kind, stripe_id, amount FROM money_movements ORDER BY stripe_id")
        ).all()
        membership = connection.execute(
            text("SELECT amount, currency, started_at IS NOT NULL FROM subscriptions")
        ).one()
    engine.dispose()
    assert [tuple(row) for row in ledger] == [
        ("refund", "backfill-refunds-order-1", 299),
        ("payment", "cs_1", 1299),
        ("payment", "cs_2", 900),
        ("payment", "in_2", 900),
    ]
    assert tuple(membership) == (900, "gbp", True)
