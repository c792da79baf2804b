"""Settings of a sandbox server, from arguments or the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

DEFAULT_API_KEY = "sk_test_sandbox"
DEFAULT_DB_PATH = os.path.join("instance", "stripe-sandbox.sqlite3")

HOUR = 3600.0
RETRY_WINDOW_LIVE = 72 * HOUR


def _exponential_within(first: float, window: float) -> tuple[float, ...]:
    """Waits doubling from ``first``; the last one ends exactly ``window`` after the
    first attempt."""
    waits: list[float] = []
    wait, total = first, 0.0
    while total + wait < window:
        waits.append(wait)
        total += wait
        wait *= 2
    waits.append(window - total)
    return tuple(waits)


#: Stripe's webhook retry schedules, in shape. Test mode: three retries over a few
#: hours (10 min, 40 min, 2 h 40 min: the last 3.5 h after the first attempt). Live
#: mode: exponential backoff from 5 minutes for up to 3 days (10 retries, the last
#: exactly 72 h after the first attempt).
RETRY_SCHEDULES: dict[str, tuple[float, ...]] = {
    "test": (600.0, 2400.0, 9600.0),
    "live": _exponential_within(300.0, RETRY_WINDOW_LIVE),
}


@dataclass(frozen=True)
class SandboxSettings:
    """How a sandbox listens, where it keeps state and how it delivers webhooks.

    Failed webhook deliveries are retried on Stripe's schedule for ``webhook_retries``
    (``test``: 3 retries over a few hours; ``live``: exponential backoff for up to 3
    days), every wait multiplied by ``retry_time_scale`` (below 1 compresses it, for
    tests); ``retry_backoff``, when set, replaces the schedule with its own waits
    (seconds; its length is the number of retries). ``invoice_retry_days`` lists the days between failed
    renewal attempts before the subscription is canceled. ``invoice_finalize_delay``
    (seconds; Stripe's is about 3600) keeps renewal invoices in draft before charging.
    With ``shuffle_deliveries`` each delivery is held a random 0–``shuffle_window``
    seconds, so events reach an endpoint out of order; ``random_seed`` makes that
    order reproducible. ``latency_ms`` delays every API answer (``/v1/…``) by that
    many milliseconds, as a distant Stripe would (requests still overlap: the server
    is threaded).
    """

    host: str = "127.0.0.1"
    port: int = 12111
    db_path: str = DEFAULT_DB_PATH
    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)
    public_url: str | None = None
    account_name: str | None = "Quire (sandbox)"
    shuffle_deliveries: bool = False
    shuffle_window: float = 2.0
    random_seed: int | None = None
    duplicate_deliveries: bool = False
    webhook_retries: str = "test"
    retry_time_scale: float = 1.0
    retry_backoff: tuple[float, ...] | None = None
    delivery_timeout: float = 10.0
    worker_interval: float = 0.2
    bank_debit_delay: float = 5.0
    invoice_retry_days: tuple[int, ...] = (3, 5, 7)
    invoice_finalize_delay: int = 0
    latency_ms: int = 0

    @property
    def base_url(self) -> str:
        """The public base URL for hosted pages (defaults to the listening address)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def retry_schedule(self) -> tuple[float, ...]:
        """Seconds to wait before each webhook retry (its length: the number of retries)."""
        if self.retry_backoff is not None:
            return tuple(self.retry_backoff)
        base = RETRY_SCHEDULES.get(self.webhook_retries, RETRY_SCHEDULES["test"])
        return tuple(wait * self.retry_time_scale for wait in base)

    def with_overrides(self, **overrides: Any) -> SandboxSettings:
        """Return a copy with the given non-None fields replaced."""
        values = {k: v for k, v in overrides.items() if v is not None}
        if isinstance(values.get("api_keys"), str):
            values["api_keys"] = (values["api_keys"],)
        return replace(self, **values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxSettings:
        """Read ``SANDBOX_HOST/PORT/DB/API_KEY/PUBLIC_URL/WEBHOOK_RETRIES/RETRY_TIME_SCALE``
        and ``SANDBOX_LATENCY_MS`` over the defaults."""
        env = os.environ if environ is None else environ
        api_key = env.get("SANDBOX_API_KEY")
        port = env.get("SANDBOX_PORT")
        scale = env.get("SANDBOX_RETRY_TIME_SCALE")
        latency = env.get("SANDBOX_LATENCY_MS")
        return cls().with_overrides(
            host=env.get("SANDBOX_HOST"),
            port=int(port) if port else None,
            db_path=env.get("SANDBOX_DB"),
            api_keys=tuple(k.strip() for k in api_key.split(",") if k.strip()) if api_key else None,
            public_url=env.get("SANDBOX_PUBLIC_URL"),
            webhook_retries=env.get("SANDBOX_WEBHOOK_RETRIES"),
            retry_time_scale=float(scale) if scale else None,
            latency_ms=int(latency) if latency else None,
        )
