"""Strict settings: `QUIRE_ENV` takes only its documented values, and a bad setting stops
start-up with one clear line on stderr (no traceback), from gunicorn's import and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from flask import Flask

from config import ConfigError, Settings
from shop.extensions import db
from shop.models import User
from tests.helpers import ROOT, add_user, sign_in


def start(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run `command` in the project, with `env` over an environment without Quire's settings."""
    base = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("QUIRE_", "STRIPE_", "DATABASE_", "SECRET_", "SITE_", "DYNO"))
    }
    return subprocess.run(
        command, cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def import_wsgi(**env: str) -> subprocess.CompletedProcess[str]:
    """What gunicorn does first: `import wsgi`."""
    return start([sys.executable, "-c", "import wsgi"], **env)


def flask_routes(**env: str) -> subprocess.CompletedProcess[str]:
    """An admin command: `flask --app wsgi routes`."""
    return start([sys.executable, "-m", "flask", "--app", "wsgi", "routes"], **env)


def last_line(stderr: str) -> str:
    return [line for line in stderr.splitlines() if line.strip()][-1]


@pytest.mark.parametrize("value", ["prod", "Production", "PRODUCTION", "dev", "test", "staging"])
def test_a_mistyped_quire_env_stops_start_up_naming_it(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"QUIRE_ENV": value})
    assert str(caught.value) == (
        f"QUIRE_ENV must be one of development, production (exactly, in lower case), not {value!r}"
    )


def test_the_documented_values_are_accepted() -> None:
    assert Settings.from_env({"QUIRE_ENV": "development"}).environment == "development"
    assert Settings.from_env({}).environment == "development"


@pytest.mark.parametrize("entry", [import_wsgi, flask_routes], ids=["import wsgi", "flask routes"])
@pytest.mark.parametrize("value", ["prod", "Production"])
def test_a_mistyped_quire_env_is_one_line_on_stderr_not_a_traceback(
    entry: Callable[..., subprocess.CompletedProcess[str]], value: str
) -> None:
    """The probe's `QUIRE_ENV=prod` ran as development; now it stops, and says why."""
    result = entry(QUIRE_ENV=value)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert last_line(result.stderr) == (
        f"QUIRE_ENV must be one of development, production (exactly, in lower case), not {value!r}"
    )


@pytest.mark.parametrize("entry", [import_wsgi, flask_routes], ids=["import wsgi", "flask routes"])
def test_missing_production_settings_are_one_line_on_stderr(
    entry: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = entry(QUIRE_ENV="production", SECRET_KEY="s3cret", SITE_URL="https://books.example")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    line = last_line(result.stderr)
    assert line.startswith("Quire cannot start in production without: ")
    assert "DATABASE_URL, STRIPE_SECRET_KEY, MAIL_URL" in line
    assert "SECRET_KEY," not in line.replace("STRIPE_SECRET_KEY", "")


def test_a_malformed_setting_is_one_line_on_stderr() -> None:
    result = import_wsgi(QUIRE_ENV="development", MAX_HELD_COPIES="lots")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert (
        last_line(result.stderr) == "MAX_HELD_COPIES must be a whole number, 1 or more (got 'lots')"
    )


def test_site_url_follows_port_in_development_unless_set() -> None:
    """`PORT=5001 make run`: Stripe's return links point at port 5001 too."""
    assert Settings.from_env({"PORT": "5001"}).site_url == "http://127.0.0.1:5001"
    assert Settings.from_env({}).site_url == "http://127.0.0.1:5000"
    given = Settings.from_env({"PORT": "5001", "SITE_URL": "https://books.example/"})
    assert given.site_url == "https://books.example"
    with pytest.raises(ConfigError, match="PORT must be a whole number"):
        Settings.from_env({"PORT": "five"})


def test_test_clocks_are_off_unless_asked_and_never_in_production() -> None:
    """Each customer on its own test clock is a development aid: off by default, refused
    in production and with a live key (a live account has no test clocks)."""
    assert Settings.from_env({}).stripe_test_clocks is False
    assert Settings.from_env({"STRIPE_TEST_CLOCKS": "1"}).stripe_test_clocks is True
    assert Settings.from_env({"STRIPE_TEST_CLOCKS": "0"}).stripe_test_clocks is False
    with pytest.raises(ConfigError, match="STRIPE_TEST_CLOCKS is for development"):
        Settings.from_env({"STRIPE_TEST_CLOCKS": "1", "STRIPE_SECRET_KEY": "sk_live_x"})
    production = {
        "QUIRE_ENV": "production",
        "SECRET_KEY": "s",
        "DATABASE_URL": "sqlite://",
        "STRIPE_SECRET_KEY": "sk_test_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "SITE_URL": "https://books.example",
        "MAIL_URL": "smtps://u:p@mail.example:465",
        "MAIL_FROM": "shop@books.example",
    }
    assert Settings.from_env(production).stripe_test_clocks is False
    with pytest.raises(ConfigError, match="STRIPE_TEST_CLOCKS is for development"):
        Settings.from_env({**production, "STRIPE_TEST_CLOCKS": "1"})


def test_passwords_are_hashed_with_scrypt_whatever_the_environment_says(
    make_app: Callable[..., Flask],
) -> None:
    """Only the tests lower the hashing cost: the shop's settings always say scrypt, a
    variable in the environment cannot weaken it, and an account made under them is
    stored as a scrypt hash that signs in (and a wrong password does not)."""
    config = Settings.from_env({"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1"}).as_flask_config()
    assert config["PASSWORD_HASH_METHOD"] == "scrypt"
    app = make_app(PASSWORD_HASH_METHOD=config["PASSWORD_HASH_METHOD"])
    with app.app_context():
        db.create_all()
    user_id = add_user(app, "reader@example.com")
    with app.app_context():
        stored = db.session.get(User, user_id)
        assert stored is not None
        assert stored.password_hash.startswith("scrypt:")
    client = app.test_client()
    wrong = client.post("/login", data={"email": "reader@example.com", "password": "not it"})
    assert wrong.status_code == 200
    sign_in(client, "reader@example.com")
    assert client.get("/account").status_code == 200
