"""Quire's settings, read from the environment (and `.env` in development).

Every setting the shop reads is here; nothing else in Quire calls `os.getenv`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from dotenv import load_dotenv

if TYPE_CHECKING:
    from stripe_sandbox.settings import SandboxSettings

ROOT = Path(__file__).resolve().parent
INSTANCE = ROOT / "instance"

#: Where `make run` leaves the signing secret of the webhook endpoint it registered.


#: The values `QUIRE_ENV` accepts; anything else stops start-up rather than guess.
ENVIRONMENTS = ("development", "production")


class ConfigError(RuntimeError):
    """A required setting is missing or malformed; the message names it."""


def database_url(raw: str | None) -> str:
    """Normalise `DATABASE_URL`: Heroku's `postgres://` becomes SQLAlchemy's psycopg URL."""
    if not raw:
        INSTANCE.mkdir(exist_ok=True)
        return f"sqlite:///{INSTANCE / 'quire.sqlite3'}"
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def _development_secret_key() -> str:
    """A random key kept in `instance/`, so development sessions survive restarts."""
    path = INSTANCE / "secret_key"
    if not path.exists():
        INSTANCE.mkdir(exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def sandbox_settings(env: Mapping[str, str]) -> SandboxSettings:
    """The embedded Stripe sandbox's own settings (its address and key live there alone).

    The sandbox is a development and test dependency: a production install has a
    Stripe key and never gets here.
    """
    try:
        from stripe_sandbox.settings import SandboxSettings
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ConfigError(
            "No STRIPE_SECRET_KEY, and the embedded Stripe sandbox is not installed: "
            "set STRIPE_SECRET_KEY, or install it with `pip install -e stripe_sandbox` "
            "(`make run` does)"
        ) from error
    return SandboxSettings.from_env(env)


def _split(raw: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


def mail_url(env: Mapping[str, str]) -> str | None:
    """Where mail goes: `MAIL_URL`, else one built from `SMTP_HOST`, `SMTP_PORT`,
    `SMTP_USERNAME` and `SMTP_PASSWORD` (port 465 means TLS from the start). None: the
    development outbox, where nothing leaves the machine.
    """
    if env.get("MAIL_URL"):
        return env["MAIL_URL"]
    host = env.get("SMTP_HOST")
    if not host:
        return None
    port = env.get("SMTP_PORT") or "587"
    if not port.isdigit():
        raise ConfigError(f"SMTP_PORT must be a port number (got {port!r})")
    scheme = "smtps" if port == "465" else "smtp"
    user = env.get("SMTP_USERNAME")
    credentials = ""
    if user:
        credentials = (
            quote(user, safe="") + ":" + quote(env.get("SMTP_PASSWORD", ""), safe="") + "@"
        )
    return f"{scheme}://{credentials}{host}:{port}"


def _whole_number(env: Mapping[str, str], name: str, default: int, least: int = 0) -> int:
    """A setting that is a whole number, `least` or more; a malformed one stops start-up."""
    raw = env.get(name)
    if not raw:
        return default
    if not raw.strip().isdigit() or int(raw) < least:
        raise ConfigError(f"{name} must be a whole number, {least} or more (got {raw!r})")
    return int(raw)


def shop_port(env: Mapping[str, str]) -> int:
    """The port the shop listens on in development (`PORT`, default 5000)."""
    port = _whole_number(env, "PORT", 5000, least=1)
    if port > 65535:
        raise ConfigError(f"PORT must be a port number, 1 to 65535 (got {port})")
    return port


def _test_clocks(env: Mapping[str, str], production: bool, stripe_key: str) -> bool:
    """`STRIPE_TEST_CLOCKS`: each new Stripe customer on its own test clock (development,
    test keys only: a live account has no test clocks)."""
    raw = (env.get("STRIPE_TEST_CLOCKS") or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw not in ("1", "true", "yes", "on"):
        raise ConfigError(f"STRIPE_TEST_CLOCKS must be 1 or 0 (got {raw!r})")
    if production or stripe_key.startswith(("sk_live_", "rk_live_")):
        raise ConfigError("STRIPE_TEST_CLOCKS is for development with test keys only")
    return True


def _checked_mail_url(env: Mapping[str, str]) -> str | None:
    url = mail_url(env)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("MAIL_URL must look like smtp://user:password@host:587")
    return url


def site_url(env: Mapping[str, str]) -> str | None:
    """`SITE_URL`, else the app's own Heroku address (`HEROKU_APP_DEFAULT_DOMAIN_NAME`,
    set when runtime dyno metadata is on), so a Heroku button deploy needs neither."""
    if env.get("SITE_URL"):
        return env["SITE_URL"]
    domain = env.get("HEROKU_APP_DEFAULT_DOMAIN_NAME")
    return f"https://{domain}" if domain else None


#: How webhook events are applied: by queue workers, or in the web process that received them.
QUEUE_MODES = ("procrastinate", "inline")


def queue_mode(env: Mapping[str, str], url: str) -> str:
    """`QUEUE_MODE`: `procrastinate` (events applied by `flask worker` processes, through a
    queue in the shop's PostgreSQL) or `inline` (applied before the webhook answers).
    Unset, PostgreSQL means the queue and SQLite inline, so `make run` needs no worker."""
    raw = (env.get("QUEUE_MODE") or "").strip().lower()
    if not raw:
        return "procrastinate" if url.startswith("postgresql") else "inline"
    if raw not in QUEUE_MODES:
        raise ConfigError(f"QUEUE_MODE must be procrastinate or inline (got {raw!r})")
    if raw == "procrastinate" and not url.startswith("postgresql"):
        raise ConfigError("QUEUE_MODE=procrastinate needs a PostgreSQL DATABASE_URL")
    return raw


def first_admin(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """`ADMIN_EMAIL` and `ADMIN_PASSWORD`: the first admin `users create-admin --from-env`
    makes, so a one-click deploy needs no `heroku run` (read by that command only)."""
    return env.get("ADMIN_EMAIL") or None, env.get("ADMIN_PASSWORD") or None


#: The database connection pool. No ping on each checkout of a connection (a round trip
#: per request): a connection is replaced after `pool_recycle` seconds instead, before a
#: server or proxy closes it as idle. One dropped anyway (the server restarted) fails the
#: request that meets it with the shop's 503 page, and SQLAlchemy then replaces every
#: connection of the pool, so the next request works.
ENGINE_OPTIONS: dict[str, object] = {"pool_recycle": 300}

#: The largest request body the shop reads (1 MiB).
MAX_REQUEST_BYTES = 1024 * 1024
#: How new passwords are hashed (Werkzeug's memory-hard default).
PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105 (a method name, not a password)


@dataclass(frozen=True)
class Settings:
    """The shop's configuration; `as_flask_config` turns it into Flask's mapping."""

    environment: str
    secret_key: str
    database_url: str
    stripe_secret_key: str
    stripe_webhook_secrets: tuple[str, ...]
    stripe_api_base: str | None
    site_url: str
    catalogue_path: Path
    uses_sandbox: bool
    ebook_dir: Path = ROOT / "shop" / "ebooks"
    member_grace_days: int = 7
    max_held_copies: int = 5
    mail_url: str | None = None
    mail_from: str = "Quire <shop@quire.invalid>"
    redis_url: str | None = None
    forwarded_hops: int = 0
    stripe_test_clocks: bool = False
    stripe_timeout_seconds: float = 4.0
    queue_mode: str = "inline"
    worker_concurrency: int = 16
    queue_stalled_after: int = 30

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read settings; in production a missing secret stops start-up naming it."""
        if env is None:
            load_dotenv(ROOT / ".env")
            env = dict(os.environ)
        environment = env.get("QUIRE_ENV") or ("production" if env.get("DYNO") else "development")
        if environment not in ENVIRONMENTS:
            raise ConfigError(
                f"QUIRE_ENV must be one of {', '.join(ENVIRONMENTS)} (exactly, in lower case), "
                f"not {environment!r}"
            )
        production = environment == "production"

        missing = [
            name
            for name in ("SECRET_KEY", "DATABASE_URL", "STRIPE_SECRET_KEY")
            if production and not env.get(name)
        ]
        # No STRIPE_WEBHOOK_SECRET needed: `release` stores the endpoint's secret.
        if production and not site_url(env):
            missing.append("SITE_URL")
        if production and not (env.get("MAIL_URL") or env.get("SMTP_HOST")):
            missing.append("MAIL_URL (or SMTP_HOST)")
        if production and not env.get("MAIL_FROM"):
            missing.append("MAIL_FROM")
        if missing:
            raise ConfigError(
                "Quire cannot start in production without: "
                + ", ".join(missing)
                + " (see .env.example)"
            )

        stripe_key = env.get("STRIPE_SECRET_KEY", "")
        uses_sandbox = not stripe_key
        webhook_secrets = _split(env.get("STRIPE_WEBHOOK_SECRET"))
        api_base = env.get("STRIPE_API_BASE")
        if uses_sandbox:
            sandbox = sandbox_settings(env)
            stripe_key = sandbox.api_keys[0]
            api_base = api_base or sandbox.base_url
        return cls(
            environment=environment,
            secret_key=env.get("SECRET_KEY") or _development_secret_key(),
            database_url=database_url(env.get("DATABASE_URL")),
            stripe_secret_key=stripe_key,
            stripe_webhook_secrets=webhook_secrets,
            stripe_api_base=api_base,
            site_url=(site_url(env) or f"http://127.0.0.1:{shop_port(env)}").rstrip("/"),
            catalogue_path=Path(env.get("CATALOGUE_PATH") or ROOT / "products.yaml"),
            uses_sandbox=uses_sandbox,
            ebook_dir=Path(env.get("EBOOK_DIR") or ROOT / "shop" / "ebooks"),
            member_grace_days=_whole_number(env, "MEMBER_GRACE_DAYS", 7),
            max_held_copies=_whole_number(env, "MAX_HELD_COPIES", 5, least=1),
            mail_url=_checked_mail_url(env),
            mail_from=env.get("MAIL_FROM") or "Quire <shop@quire.invalid>",
            redis_url=env.get("REDIS_URL") or None,
            forwarded_hops=_whole_number(env, "FORWARDED_HOPS", 1 if env.get("DYNO") else 0),
            stripe_test_clocks=_test_clocks(env, production, stripe_key),
            stripe_timeout_seconds=_whole_number(env, "STRIPE_TIMEOUT_SECONDS", 4, least=1),
            queue_mode=queue_mode(env, database_url(env.get("DATABASE_URL"))),
            worker_concurrency=_whole_number(env, "WORKER_CONCURRENCY", 16, least=1),
            queue_stalled_after=_whole_number(env, "QUEUE_STALLED_AFTER_SECONDS", 30, least=10),
        )

    def as_flask_config(self) -> dict[str, object]:
        """The mapping `create_app` loads into `app.config`."""
        return {
            "QUIRE_ENV": self.environment,
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": dict(ENGINE_OPTIONS),
            "STRIPE_SECRET_KEY": self.stripe_secret_key,
            "STRIPE_WEBHOOK_SECRETS": self.stripe_webhook_secrets,
            "STRIPE_API_BASE": self.stripe_api_base,
            "STRIPE_USES_SANDBOX": self.uses_sandbox,
            "SITE_URL": self.site_url,
            "CATALOGUE_PATH": str(self.catalogue_path),
            "EBOOK_DIR": str(self.ebook_dir),
            "MEMBER_GRACE_DAYS": self.member_grace_days,
            "MAX_HELD_COPIES": self.max_held_copies,
            "MAIL_URL": self.mail_url,
            "MAIL_FROM": self.mail_from,
            # No form or upload of the shop comes near this; a bigger body is refused (413)
            # before it is read. The webhook sets its own, smaller limit.
            "MAX_CONTENT_LENGTH": MAX_REQUEST_BYTES,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.environment == "production",
            "REMEMBER_COOKIE_SECURE": self.environment == "production",
            # Sign-in throttling (Flask-Limiter): Redis when REDIS_URL is set, so every
            # worker counts together; otherwise each process counts in memory.
            "REDIS_URL": self.redis_url,
            "RATELIMIT_STORAGE_URI": self.redis_url or "memory://",
            "FORWARDED_HOPS": self.forwarded_hops,
            "STRIPE_TEST_CLOCKS": self.stripe_test_clocks,
            "STRIPE_TIMEOUT_SECONDS": self.stripe_timeout_seconds,
            "QUEUE_MODE": self.queue_mode,
            "WORKER_CONCURRENCY": self.worker_concurrency,
            "QUEUE_STALLED_AFTER_SECONDS": self.queue_stalled_after,
            # Werkzeug's method for new password hashes. Not read from the environment:
            # only the tests lower it (the check reads the method from each stored hash).
            "PASSWORD_HASH_METHOD": PASSWORD_HASH_METHOD,
        }
