"""Running a sandbox inside a test process.

``running_sandbox`` serves a fresh sandbox on 127.0.0.1 (a free port) in a thread,
with its delivery worker running, and stops it on exit::

    with running_sandbox(tmp_path / "stripe.sqlite3") as sb:
        client = sb.client()
        client.v1.products.create(params={"name": "Dune"})
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from stripe import HTTPClient, StripeClient, new_default_http_client

from .app import create_app, listening_on
from .core.sandbox import Sandbox
from .serving import make_threaded_server
from .settings import DEFAULT_API_KEY, SandboxSettings

#: Settings that keep tests fast: quick worker ticks and webhook retries.
FAST = {"retry_time_scale": 0.0001, "worker_interval": 0.05, "bank_debit_delay": 0.5}


@dataclass
class RunningSandbox:
    """A sandbox served in this process."""

    base_url: str
    api_key: str
    #: The served sandbox's state and background work (store, clock, settings, worker).
    state: Sandbox
    _http_clients: list[HTTPClient] = field(default_factory=list, repr=False)

    def client(self, api_key: str | None = None, **options: Any) -> StripeClient:
        """A ``StripeClient`` aimed at this sandbox, without network retries.

        Its HTTP connections are closed when the sandbox stops.
        """
        options.setdefault("max_network_retries", 0)
        if "http_client" not in options:
            options["http_client"] = new_default_http_client()
            self._http_clients.append(options["http_client"])
        return StripeClient(
            api_key or self.api_key, base_addresses={"api": self.base_url}, **options
        )

    def close_clients(self) -> None:
        """Close the HTTP connections of every client made by ``client()``."""
        for http_client in self._http_clients:
            http_client.close()  # type: ignore[no-untyped-call]
        self._http_clients.clear()

    def run_worker_once(self, until: float | None = None) -> int:
        """Run due work and deliver due webhooks now; returns the attempts made.

        ``until`` (a unix time) also delivers what is held or waiting for a retry
        until then, without waiting for it.
        """
        return self.state.worker.run_once(until)

    def wait_for_deliveries(self, timeout: float = 5.0) -> bool:
        """Wait until no webhook delivery is pending; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state.store.pending_delivery_count() == 0:
                return True
            self.state.wake_worker()
            time.sleep(0.02)
        return self.state.store.pending_delivery_count() == 0


@contextmanager
def running_sandbox(db_path: str | os.PathLike[str], **settings: Any) -> Iterator[RunningSandbox]:
    """Serve a sandbox on 127.0.0.1:<free port> for the duration of the block.

    ``settings`` override ``SandboxSettings`` fields (``api_keys``, ``public_url``,
    ``shuffle_deliveries``, ``duplicate_deliveries``, ``retry_backoff`` …); by
    default webhook retries and worker ticks are fast. The database is wiped first.
    """
    values: dict[str, Any] = {**FAST, **settings}
    values.setdefault("api_keys", (DEFAULT_API_KEY,))
    if isinstance(values["api_keys"], str):
        values["api_keys"] = (values["api_keys"],)
    base = SandboxSettings(host="127.0.0.1", port=0, db_path=os.fspath(db_path), **values)
    app = create_app(base)
    server = make_threaded_server(app, "127.0.0.1", 0)
    port = server.port
    listening_on(app, port)
    sandbox: Sandbox = app.extensions["sandbox"]
    sandbox.reset()
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="sandbox-http",
        daemon=True,
    )
    thread.start()
    sandbox.start()
    running = RunningSandbox(
        base_url=f"http://127.0.0.1:{port}", api_key=values["api_keys"][0], state=sandbox
    )
    try:
        yield running
    finally:
        running.close_clients()
        sandbox.worker.stop()
        server.shutdown()
        server.server_close()
        thread.join(5)
        sandbox.store.close()
