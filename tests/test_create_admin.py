"""`users create-admin` refuses what sign-up refuses: a non-email, a short password; the
password is asked for or read from ADMIN_PASSWORD, never taken from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from shop.accounts import MIN_PASSWORD_LENGTH
from shop.extensions import db
from shop.models import User
from tests.helpers import ROOT


def admins(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.execute(db.select(User.email).filter_by(is_admin=True)).scalars())


def create_admin(runner: FlaskCliRunner, email: str, password: str) -> Result:
    """As typed at the prompt, twice."""
    return runner.invoke(args=["users", "create-admin", email], input=f"{password}\n{password}\n")


@pytest.mark.parametrize("email", ["not an email", "owner@", "@example.com", "owner@@example.com"])
def test_an_invalid_email_is_refused(app: Flask, runner: FlaskCliRunner, email: str) -> None:
    result = create_admin(runner, email, "a long enough password")
    assert result.exit_code == 2
    assert f"{email!r} is not an email address" in result.output
    assert admins(app) == []


@pytest.mark.parametrize("password", ["x", "123456789", " " * 9])
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


def test_the_password_is_never_taken_from_the_command_line(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = runner.invoke(
        args=["users", "create-admin", "owner@example.com", "--password", "ten chars!"]
    )
    assert result.exit_code == 2 and "No such option '--password'" in result.output
    assert admins(app) == []


def test_no_password_to_read_says_how_to_give_one(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["users", "create-admin", "owner@example.com"], input="")
    assert result.exit_code == 1
    assert "no password given" in result.output and "ADMIN_PASSWORD" in result.output
    assert "Traceback" not in result.output
    assert admins(app) == []


def test_a_one_click_deploy_makes_its_admin_from_the_environment(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_EMAIL", "Owner@Books.example")
    monkeypatch.setenv("ADMIN_PASSWORD", "a long enough password")
    first = runner.invoke(args=["users", "create-admin", "--from-env"], input="")
    assert first.exit_code == 0, first.output
    assert admins(app) == ["owner@books.example"]
    again = runner.invoke(args=["users", "create-admin", "--from-env"], input="")
    assert again.exit_code == 0 and "is an admin already" in again.output
    signed_in = client.post(
        "/login", data={"email": "owner@books.example", "password": "a long enough password"}
    )
    assert signed_in.status_code == 302


def test_from_the_environment_the_same_rules_hold(
    app: Flask, runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_EMAIL", "owner@books.example")
    monkeypatch.setenv("ADMIN_PASSWORD", "short")
    result = runner.invoke(args=["users", "create-admin", "--from-env"], input="")
    assert result.exit_code == 2 and "a password needs 10 to 128 characters" in result.output
    monkeypatch.delenv("ADMIN_EMAIL")
    skipped = runner.invoke(args=["users", "create-admin", "--from-env"], input="")
    assert skipped.exit_code == 0 and "No ADMIN_EMAIL set" in skipped.output
    assert admins(app) == []


def test_an_existing_account_becomes_an_admin_without_a_new_password(
    app: Flask, runner: FlaskCliRunner, add_user: Callable[..., int]
) -> None:
    add_user("reader@example.com")
    result = runner.invoke(args=["users", "create-admin", "reader@example.com"], input="")
    assert result.exit_code == 0, result.output
    assert admins(app) == ["reader@example.com"]


def test_the_heroku_button_runs_it_after_the_first_deploy() -> None:
    app_json = json.loads((ROOT / "app.json").read_text())
    assert app_json["scripts"]["postdeploy"] == "flask --app wsgi users create-admin --from-env"
    assert app_json["env"]["ADMIN_EMAIL"]["required"] is False
    assert app_json["env"]["ADMIN_PASSWORD"]["required"] is False
