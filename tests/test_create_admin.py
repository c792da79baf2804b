"""`users create-admin` refuses what sign-up refuses: a non-email, a short password."""

from __future__ import annotations

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from shop.accounts import MIN_PASSWORD_LENGTH
from shop.extensions import db
from shop.models import User


def admins(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.execute(db.select(User.email).filter_by(is_admin=True)).scalars())


def create_admin(runner: FlaskCliRunner, email: str, password: str) -> Result:
    return runner.invoke(args=["users", "create-admin", email, "--password", password])


@pytest.mark.parametrize("email", ["not an email", "owner@", "@example.com", "owner@@example.com"])
def test_an_invalid_email_is_refused(app: Flask, runner: FlaskCliRunner, email: str) -> None:
    result = create_admin(runner, email, "a long enough password")
    assert result.exit_code == 2
    assert f"{email!r} is not an email address" in result.output
    assert admins(app) == []


@pytest.mark.parametrize("password", ["x", "123456789", ""])
def test_a_password_shorter_than_sign_up_allows_is_refused(
    app: Flask, runner: FlaskCliRunner, password: str
) -> None:
    result = create_admin(runner, "owner@example.com", password)
    assert result.exit_code == 2
    assert "a password needs 10 to 128 characters" in result.output
    assert admins(app) == []


def test_a_valid_admin_is_created_and_can_sign_in(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient
) -> None:
    result = create_admin(runner, "  Owner@Example.com ", "ten chars!")
    assert result.exit_code == 0, result.output
    assert "owner@example.com is an admin." in result.output
    assert admins(app) == ["owner@example.com"]
    signed_in = client.post("/login", data={"email": "owner@example.com", "password": "ten chars!"})
    assert signed_in.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_sign_up_needs_the_same_ten_characters(app: Flask, client: FlaskClient) -> None:
    assert MIN_PASSWORD_LENGTH == 10
    short = "nine char"
    page = client.post(
        "/register", data={"email": "new@example.com", "password": short, "confirm": short}
    )
    assert page.status_code == 200
    assert "Field must be between 10 and 128 characters long." in page.text
    with app.app_context():
        assert db.session.execute(db.select(User)).first() is None
