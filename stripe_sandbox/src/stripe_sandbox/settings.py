"""Settings of a sandbox server, from arguments or the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

DEFAULT_API_KEY = "sk_test_sandbox"
DEFAULT_DB_PATH = os.path.join("instance", "stripe-sandbox.sqlite3")


@dataclass(frozen=True)
class SandboxSettings:
    """How a sandbox listens, where it keeps state and how it delivers webhooks.

    ``retry_backoff`` lists the waits (seconds) before each webhook retry; its length
    is the number of retries. ``invoice_retry_days`` lists the days between failed
    renewal attempts before the subscription is canceled. ``invoice_finalize_delay``
    (seconds; Stripe's is about 3600) keeps renewal invoices in draft before charging.
    With ``shuffle_deliveries`` each delivery is held a random 0–``shuffle_window``
    seconds, so events reach an endpoint out of order; ``random_seed`` makes that
    order reproducible.
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
    retry_backoff: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0)
    delivery_timeout: float = 10.0
    worker_interval: float = 0.2
    bank_debit_delay: float = 5.0
    invoice_retry_days: tuple[int, ...] = (3, 5, 7)
    invoice_finalize_delay: int = 0

    @property
    def base_url(self) -> str:
        """The public base URL for hosted pages (defaults to the listening address)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    def with_overrides(self, **overrides: Any) -> SandboxSettings:
        """Return a copy with the given non-None fields replaced."""
        values = {k: v for k, v in overrides.items() if v is not None}
        if isinstance(values.get("api_keys"), str):
            values["api_keys"] = (values["api_keys"],)
        return replace(self, **values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxSettings:
        """Read ``SANDBOX_HOST/PORT/DB/API_KEY/PUBLIC_URL`` over the defaults."""
        env = os.environ if environ is None else environ
        api_key = env.get("SANDBOX_API_KEY")
        port = env.get("SANDBOX_PORT")
        return cls().with_overrides(
            host=env.get("SANDBOX_HOST"),
            port=int(port) if port else None,
            db_path=env.get("SANDBOX_DB"),
            api_keys=tuple(k.strip() for k in api_key.split(",") if k.strip()) if api_key else None,
            public_url=env.get("SANDBOX_PUBLIC_URL"),
        )
