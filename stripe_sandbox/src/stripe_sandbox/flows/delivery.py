"""The background worker: webhook deliveries, retries and time-driven work.

Each tick it runs what is due by the wall clock (session expiry, delayed bank debit
settlements, renewals of subscriptions not on a test clock), then hands every due
delivery to a small thread pool: one job per endpoint, which POSTs that endpoint's
due deliveries in queue order, signed like Stripe, outside the store's lock so a
webhook handler may call the API back. Endpoints are served concurrently, so a slow
or hanging one holds up neither the others nor the due work. Every attempt is
recorded; non-2xx answers and timeouts are retried on ``settings.retry_schedule``.

``stop`` aborts requests still in flight (their deliveries stay pending, to be
sent on the next start) and waits for every delivery thread before it returns, so
the store can then be closed safely.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..core.render import public
from ..core.signing import signature_header
from ..resources.events import refresh_pending_webhooks

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

log = logging.getLogger(__name__)

RESPONSE_HEAD_CHARS = 500

#: Endpoints delivered to at the same time.
MAX_PARALLEL_ENDPOINTS = 8


class _Aborted(Exception):
    """The worker is stopping: the request in flight was cut off."""


class DeliveryWorker:
    """A daemon thread that runs due work and dispatches webhook deliveries."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._run_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: dict[str, Future[None]] = {}
        self._inflight_lock = threading.Lock()
        self._connections: set[http.client.HTTPConnection] = set()

    def start(self) -> None:
        """Start the thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sandbox-delivery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop: abort requests in flight and wait for every delivery thread.

        Aborted deliveries are not counted as attempts; they stay pending.
        """
        self._stop.set()
        self._wake.set()
        with self._inflight_lock:
            for connection in self._connections:
                if connection.sock is not None:
                    with contextlib.suppress(OSError):
                        connection.sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._inflight_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def wake(self) -> None:
        """Have the thread look for work now."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self._run_lock:
                    self._run_due_work()
                    self._dispatch(time.time())
            except Exception:
                log.exception("sandbox worker tick failed")
            self._wake.wait(self.sandbox.settings.worker_interval)
            self._wake.clear()

    def run_once(self, now: float | None = None) -> int:
        """Run due work and every delivery due by ``now`` (default: the current
        time), waiting for them; returns the number of deliveries attempted."""
        with self._run_lock:
            self._wait(self._pending_jobs())
            self._run_due_work()
            jobs, count = self._dispatch(time.time() if now is None else now)
            self._wait(jobs)
            return count

    def _run_due_work(self) -> None:
        try:
            self.sandbox.run_due_work()
        except Exception:
            # Due work must never hold up webhook delivery.
            log.exception("sandbox due work failed")

    def _pending_jobs(self) -> list[Future[None]]:
        with self._inflight_lock:
            return list(self._inflight.values())

    @staticmethod
    def _wait(jobs: Iterable[Future[None]]) -> None:
        for job in jobs:
            job.exception()

    def _dispatch(self, now: float) -> tuple[list[Future[None]], int]:
        """Start one job per endpoint with due deliveries and none already in flight."""
        by_endpoint: dict[str, list[dict[str, Any]]] = {}
        for delivery in self.sandbox.store.due_deliveries(now):
            by_endpoint.setdefault(delivery["endpoint_id"], []).append(delivery)
        jobs: list[Future[None]] = []
        count = 0
        with self._inflight_lock:
            if self._stop.is_set():
                return jobs, count
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    MAX_PARALLEL_ENDPOINTS, thread_name_prefix="sandbox-webhook"
                )
            for endpoint_id, batch in by_endpoint.items():
                if endpoint_id in self._inflight:
                    continue
                job = self._pool.submit(self._deliver_batch, endpoint_id, batch)
                self._inflight[endpoint_id] = job
                jobs.append(job)
                count += len(batch)
        return jobs, count

    def _deliver_batch(self, endpoint_id: str, batch: list[dict[str, Any]]) -> None:
        try:
            for delivery in batch:
                if self._stop.is_set():
                    break
                try:
                    self._deliver(delivery)
                except _Aborted:
                    break
                except Exception:
                    # Never spin on one broken delivery: give up on it and go on.
                    log.exception("webhook delivery %s failed unexpectedly", delivery["id"])
                    self.sandbox.store.update_delivery(
                        delivery["id"],
                        state="failed",
                        attempts=delivery["attempts"] + 1,
                        due_at=time.time(),
                    )
        finally:
            with self._inflight_lock:
                self._inflight.pop(endpoint_id, None)
            self._wake.set()

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST without following redirects or using proxies; aborted by ``stop``."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unsupported URL {url!r}")
        timeout = self.sandbox.settings.delivery_timeout
        connection: http.client.HTTPConnection = (
            http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout)
            if parts.scheme == "https"
            else http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        )
        with self._inflight_lock:
            self._connections.add(connection)
        try:
            connection.connect()
            with self._inflight_lock:
                if self._stop.is_set():
                    raise _Aborted
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                head = response.read(RESPONSE_HEAD_CHARS * 4).decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                if self._stop.is_set():
                    raise _Aborted from None
                raise
            return int(response.status), head
        finally:
            with self._inflight_lock:
                self._connections.discard(connection)
            connection.close()

    def _deliver(self, delivery: dict[str, Any]) -> None:
        store = self.sandbox.store
        event = store.get(delivery["event_id"])
        endpoint = store.get(delivery["endpoint_id"])
        if event is None or endpoint is None or endpoint.get("status") != "enabled":
            with store.transaction():
                store.update_delivery(
                    delivery["id"],
                    state="canceled",
                    attempts=delivery["attempts"],
                    due_at=time.time(),
                )
                refresh_pending_webhooks(self.sandbox, delivery["event_id"])
            return
        payload = json.dumps(public(event), indent=2)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": signature_header(endpoint["_secret"], payload, timestamp),
        }
        status: int | None = None
        head: str | None = None
        error: str | None = None
        started = time.monotonic()
        try:
            status, head = self._post(endpoint["url"], payload.encode(), headers)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        duration_ms = (time.monotonic() - started) * 1000
        succeeded = status is not None and 200 <= status < 300
        attempts = delivery["attempts"] + 1
        backoff = self.sandbox.settings.retry_schedule
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
            refresh_pending_webhooks(self.sandbox, event["id"])
        log.info("webhook %s %s -> %s (%s)", event["type"], event["id"], status or error, state)
