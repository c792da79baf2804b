"""The background worker: webhook deliveries, retries and time-driven work.

Each tick it runs what is due by the wall clock (session expiry, delayed bank debit
settlements, renewals of subscriptions not on a test clock), then POSTs every due
delivery, signed like Stripe, outside the store's lock so a webhook handler may call
the API back. Every attempt is recorded; non-2xx answers and timeouts are retried
after ``settings.retry_backoff``.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from .render import public
from .signing import signature_header

if TYPE_CHECKING:
    from .core import Sandbox

log = logging.getLogger(__name__)

RESPONSE_HEAD_CHARS = 500


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Stripe counts a 3xx answer as a failed delivery: never follow it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


#: Direct connections (no proxies from the environment), no redirects.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


class DeliveryWorker:
    """A daemon thread that delivers webhooks and runs due work."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._run_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sandbox-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Have the thread look for work now."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("sandbox worker tick failed")
            self._wake.wait(self.sandbox.settings.worker_interval)
            self._wake.clear()

    def run_once(self, now: float | None = None) -> int:
        """Run due work and every delivery due by ``now`` (default: the current
        time) once; returns the number of attempts."""
        with self._run_lock:
            try:
                self.sandbox.run_due_work()
            except Exception:
                # Due work must never hold up webhook delivery.
                log.exception("sandbox due work failed")
            due = self.sandbox.store.due_deliveries(time.time() if now is None else now)
            for delivery in due:
                if self._stop.is_set():
                    break
                try:
                    self._deliver(delivery)
                except Exception:
                    # Never spin on one broken delivery: give up on it and go on.
                    log.exception("webhook delivery %s failed unexpectedly", delivery["id"])
                    self.sandbox.store.update_delivery(
                        delivery["id"],
                        state="failed",
                        attempts=delivery["attempts"] + 1,
                        due_at=time.time(),
                    )
            return len(due)

    def _deliver(self, delivery: dict[str, Any]) -> None:
        store = self.sandbox.store
        event = store.get(delivery["event_id"])
        endpoint = store.get(delivery["endpoint_id"])
        if event is None or endpoint is None or endpoint.get("status") != "enabled":
            store.update_delivery(
                delivery["id"], state="canceled", attempts=delivery["attempts"], due_at=time.time()
            )
            return
        payload = json.dumps(public(event), indent=2)
        timestamp = int(time.time())
        request = urllib.request.Request(  # noqa: S310 - endpoint URLs are set by the operator
            endpoint["url"],
            data=payload.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": signature_header(endpoint["_secret"], payload, timestamp),
            },
        )
        status: int | None = None
        head: str | None = None
        error: str | None = None
        started = time.monotonic()
        try:
            with _OPENER.open(request, timeout=self.sandbox.settings.delivery_timeout) as response:
                status = int(response.status)
                head = response.read(RESPONSE_HEAD_CHARS * 4).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status = exc.code
            head = exc.read(RESPONSE_HEAD_CHARS * 4).decode("utf-8", "replace")
        except (OSError, ValueError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        duration_ms = (time.monotonic() - started) * 1000
        succeeded = status is not None and 200 <= status < 300
        attempts = delivery["attempts"] + 1
        backoff = self.sandbox.settings.retry_backoff
        if succeeded:
            state, due_at = "succeeded", time.time()
        elif attempts > len(backoff):
            state, due_at = "failed", time.time()
        else:
            state, due_at = "pending", time.time() + backoff[attempts - 1]
        with store.transaction():
            store.record_attempt(
                {
                    "delivery_id": delivery["id"],
                    "event_id": event["id"],
                    "event_type": event["type"],
                    "endpoint_id": endpoint["id"],
                    "url": endpoint["url"],
                    "attempted_at": time.time(),
                    "status_code": status,
                    "succeeded": int(succeeded),
                    "duration_ms": round(duration_ms, 2),
                    "response_head": head[:RESPONSE_HEAD_CHARS] if head is not None else None,
                    "error": error,
                }
            )
            store.update_delivery(delivery["id"], state=state, attempts=attempts, due_at=due_at)
            current = store.get(event["id"])
            if current is not None:
                current["pending_webhooks"] = store.endpoints_pending(event["id"])
                store.put(current)
        log.info("webhook %s %s -> %s (%s)", event["type"], event["id"], status or error, state)
