"""Deploying with no hand steps: app.json matches the settings, SITE_URL from Heroku's own
address, the webhook takes a secret release stored, and commands say when the sandbox is
not running."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from config import ConfigError, Settings
from shop import webhook_secrets
from shop.events import HANDLERS, sign_payload
from shop.extensions import db
from shop.webhook_probe import TEST_EVENT_TYPE

ROOT = Path(__file__).resolve().parent.parent
APP_JSON = json.loads((ROOT / "app.json").read_text())
#: What the heroku-postgresql add-on sets.
ADDON_SETTINGS = {"heroku-postgresql": {"DATABASE_URL": "postgres://u:p@db.example:5432/quire"}}
EXAMPLE_VALUES = {
    "STRIPE_SECRET_KEY": "sk_test_123",
    "SITE_URL": "https://my-bookshop-1a2b.herokuapp.com",
    "MAIL_URL": "smtp://shop:secret@mail.example:587",
    "MAIL_FROM": "Quire <orders@books.example>",
}


def settings_config_reads() -> set[str]:
    source = (ROOT / "config.py").read_text()
    return set(re.findall(r"env(?:\.get\(|\[)\"([A-Z_]+)\"", source))


def heroku_button_env(**more: str) -> dict[str, str]:
    """What Heroku sets from app.json when only its required settings are filled in."""
    env: dict[str, str] = {}
    for name, spec in APP_JSON["env"].items():
        if "generator" in spec:
            env[name] = "generated-secret"
        elif "value" in spec:
            env[name] = spec["value"]
        elif spec.get("required", True):
            env[name] = EXAMPLE_VALUES[name]
    for addon in APP_JSON["addons"]:
        env.update(ADDON_SETTINGS[addon.split(":")[0]])
    return {**env, **more}


def test_app_json_declares_only_settings_quire_reads() -> None:
    assert APP_JSON["name"] == "Quire" and APP_JSON["description"]
    assert set(APP_JSON["env"]) <= settings_config_reads()
    assert APP_JSON["env"]["SECRET_KEY"] == {
        "description": APP_JSON["env"]["SECRET_KEY"]["description"],
        "generator": "secret",
    }
    assert APP_JSON["env"]["QUIRE_ENV"]["value"] == "production"
    assert "heroku-postgresql" in APP_JSON["addons"]
    assert APP_JSON["buildpacks"] == [{"url": "heroku/python"}]
    assert "web" in APP_JSON["formation"]


def test_app_json_declares_every_setting_production_requires() -> None:
    """The button asks for SITE_URL (a first release cannot read the app's address);
    without a required setting, each gap is named."""
    env = heroku_button_env()
    settings = Settings.from_env(env)
    assert settings.environment == "production"
    assert settings.site_url == "https://my-bookshop-1a2b.herokuapp.com"
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.stripe_webhook_secrets == ()  # release stores the endpoint's secret
    for name in ("STRIPE_SECRET_KEY", "MAIL_URL", "MAIL_FROM", "SITE_URL"):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({k: v for k, v in env.items() if k != name})


def test_site_url_wins_over_the_heroku_address() -> None:
    env = heroku_button_env(
        SITE_URL="https://books.example/", HEROKU_APP_DEFAULT_DOMAIN_NAME="x.herokuapp.com"
    )
    assert Settings.from_env(env).site_url == "https://books.example"


def test_the_release_phase_runs_release(app: Flask) -> None:
    procfile = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert procfile["release"] == "flask --app wsgi release"
    assert "release" in app.cli.list_commands(app.app_context())  # type: ignore[arg-type]


def signed_post(client: FlaskClient, secret: str, event_id: str = "evt_1") -> Any:
    body = json.dumps(
        {"id": event_id, "object": "event", "type": TEST_EVENT_TYPE, "data": {"object": {}}}
    ).encode()
    return client.post(
        "/webhooks/stripe",
        data=body,
        headers={
            "Stripe-Signature": sign_payload(body, secret),
            "Content-Type": "application/json",
        },
    )


def test_the_webhook_takes_a_secret_release_stored_after_it_started(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_secrets, "REREAD_SECONDS", 0.0)  # no waiting between reads
    app = make_app(STRIPE_WEBHOOK_SECRETS=())
    with app.app_context():
        db.drop_all()
        db.create_all()
    client = app.test_client()
    assert signed_post(client, "whsec_from_release").status_code == 400  # nothing known yet
    with app.app_context():  # a release on another dyno makes the endpoint meanwhile
        webhook_secrets.store_secret(
            "we_1", "https://shop.test/webhooks/stripe", "whsec_from_release"
        )
    answer = signed_post(client, "whsec_from_release")
    assert answer.status_code == 200
    assert answer.json["outcome"] == "ignored"
    assert signed_post(client, "whsec_someone_elses", "evt_2").status_code == 400


def test_forged_deliveries_read_the_stored_secrets_at_most_once_an_interval(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[tuple[str, ...]] = []
    read_stored = webhook_secrets._read_stored

    def counted() -> tuple[str, ...]:
        reads.append(read_stored())
        return reads[-1]

    monkeypatch.setattr(webhook_secrets, "_read_stored", counted)
    monkeypatch.setattr(webhook_secrets, "REREAD_SECONDS", 3600.0)
    app = make_app(STRIPE_WEBHOOK_SECRETS=())
    with app.app_context():
        db.drop_all()
        db.create_all()
    client = app.test_client()
    for n in range(50):
        assert signed_post(client, "whsec_forged", f"evt_forged_{n}").status_code == 400
    assert 1 <= len(reads) <= 2  # the first use, then no re-read within the interval

    with app.app_context():  # a release stores a new endpoint's secret meanwhile
        webhook_secrets.store_secret("we_2", "https://shop.test/webhooks/stripe", "whsec_new")
    assert signed_post(client, "whsec_new", "evt_early").status_code == 400  # not yet re-read
    monkeypatch.setattr(webhook_secrets, "REREAD_SECONDS", 0.0)  # the interval has passed
    before = len(reads)
    assert signed_post(client, "whsec_new", "evt_after").status_code == 200
    assert len(reads) == before + 1 and reads[-1] == ("whsec_new",)
    assert signed_post(client, "whsec_new", "evt_again").status_code == 200
    assert len(reads) == before + 1  # a matching signature costs no query


def test_the_test_event_is_one_quire_ignores() -> None:
    assert TEST_EVENT_TYPE not in HANDLERS


def test_a_sandbox_that_is_not_running_is_named(make_app: Callable[..., Flask]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_app(STRIPE_API_BASE=f"http://127.0.0.1:{port}", STRIPE_USES_SANDBOX=True)
    result = app.test_cli_runner().invoke(
        args=["stripe", "webhook-endpoint", "http://127.0.0.1:5000/webhooks/stripe"]
    )
    assert result.exit_code == 2
    assert f"the Stripe sandbox is not running at http://127.0.0.1:{port}" in result.output
    assert "`make run` or `flask --app wsgi sandbox run`" in result.output
    check = app.test_cli_runner().invoke(args=["stripe", "check"])
    assert check.exit_code == 1
    assert "FIX  the Stripe sandbox is not running" in check.output


def test_the_setup_script_refuses_a_public_url_in_the_sandbox() -> None:
    url = "https://my-bookshop.herokuapp.com/webhooks/stripe"
    env = {k: v for k, v in os.environ.items() if k != "STRIPE_SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "scripts/setup_stripe.py", "--webhook-url", url],
        cwd=ROOT,
        env={**env, "QUIRE_ENV": "development", "STRIPE_SECRET_KEY": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""  # refused before checking or syncing anything
    assert result.stderr.strip() == (
        f"no STRIPE_SECRET_KEY: this would register {url} in the local sandbox, not your "
        "Stripe account; set STRIPE_SECRET_KEY=sk_… (or run `release` on the platform)"
    )


def test_production_has_no_sandbox_commands(make_app: Callable[..., Flask]) -> None:
    production = make_app(QUIRE_ENV="production")
    commands = production.cli.list_commands(production.app_context())  # type: ignore[arg-type]
    assert "sandbox" not in commands and "release" in commands and "worker" in commands
    development = make_app()
    assert "sandbox" in development.cli.list_commands(development.app_context())  # type: ignore[arg-type]


def test_the_slug_runs_without_what_slugignore_leaves_out(tmp_path: Path) -> None:
    """A copy of the repository as Heroku builds it: the app starts in production and
    lists its commands, importing nothing from the sandbox, the tests or dev tools."""
    left_out = [
        line.strip().rstrip("/")
        for line in (ROOT / ".slugignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {"tests", "stripe_sandbox", "bench"} <= set(left_out)
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    slug = tmp_path / "slug"
    for name in tracked:
        if any(name == gone or name.startswith(gone + "/") for gone in left_out):
            continue
        if not (ROOT / name).is_file():
            continue
        (slug / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, slug / name)
    blocked = "import sys; sys.modules.update(stripe_sandbox=None, tests=None, bench=None); "
    run = "from flask.cli import main; sys.argv = ['flask', '--app', 'wsgi', '--help']; main()"
    env = {
        "PATH": os.environ["PATH"],
        "QUIRE_ENV": "production",
        "SECRET_KEY": "x",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'slug.sqlite3'}",
        "STRIPE_SECRET_KEY": "sk_test_x",
        "SITE_URL": "https://books.example",
        "MAIL_URL": "smtp://mail.example:587",
        "MAIL_FROM": "Quire <orders@books.example>",
    }
    result = subprocess.run(
        [sys.executable, "-c", blocked + run], cwd=slug, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "release" in result.stdout and "worker" in result.stdout
    assert "sandbox" not in result.stdout
