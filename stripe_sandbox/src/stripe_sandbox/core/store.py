"""The sandbox's state: one SQLite file holding Stripe objects as JSON documents.

Every object lives in ``objects`` keyed by its Stripe id, with its type, its
``created`` time and a monotonically increasing ``seq`` that gives newest-first
order even when two objects share a second; events are objects of type ``event``
there too (indexed by type). Idempotency records (under a hash of the API key), queued
webhook deliveries and delivery attempts have their own tables. One re-entrant lock serialises all
access, and ``transaction()`` makes a group of writes atomic.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    created INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_type_seq ON objects (type, seq);
CREATE TABLE IF NOT EXISTS idempotency (
    api_key TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (api_key, key)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    due_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending'
);
CREATE INDEX IF NOT EXISTS deliveries_state_due ON deliveries (state, due_at);
CREATE TABLE IF NOT EXISTS delivery_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    url TEXT NOT NULL,
    attempted_at REAL NOT NULL,
    status_code INTEGER,
    succeeded INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    response_head TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS delivery_attempts_event ON delivery_attempts (event_id);
"""

Rows = list[dict[str, Any]]

_TABLES = ("objects", "idempotency", "deliveries", "delivery_attempts")


class Store:
    """Thread-safe access to the sandbox's SQLite file."""

    def __init__(self, path: str) -> None:
        directory = os.path.dirname(path)
        if directory and path != ":memory:":
            os.makedirs(directory, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(_SCHEMA)
            # Files from before API keys were hashed: forget their raw keys.
            self._conn.execute("DELETE FROM idempotency WHERE api_key NOT LIKE 'sha256:%'")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Hold the lock and group writes atomically; nested calls use savepoints.

        An exception rolls back only the innermost block it escapes.
        """
        with self._lock:
            self._depth += 1
            savepoint = f"sp{self._depth}"
            outermost = self._depth == 1
            self._conn.execute("BEGIN IMMEDIATE" if outermost else f"SAVEPOINT {savepoint}")
            try:
                yield self
            except BaseException:
                if outermost:
                    self._conn.execute("ROLLBACK")
                else:
                    self._conn.execute(f"ROLLBACK TO {savepoint}")
                    self._conn.execute(f"RELEASE {savepoint}")
                raise
            else:
                self._conn.execute("COMMIT" if outermost else f"RELEASE {savepoint}")
            finally:
                self._depth -= 1

    def reset(self) -> None:
        """Delete every object, record and delivery."""
        with self.transaction():
            for table in _TABLES:
                self._conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names

    # Objects -------------------------------------------------------------------

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace ``obj`` (keeps its place in the order on update)."""
        obj.pop("_seq", None)
        created = obj.get("created")
        with self._lock:
            self._conn.execute(
                "INSERT INTO objects (id, type, created, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET data = excluded.data",
                (
                    obj["id"],
                    obj["object"],
                    int(created) if isinstance(created, int) else int(time.time()),
                    json.dumps(obj),
                ),
            )
        return obj

    def get(self, object_id: str) -> dict[str, Any] | None:
        """Return the object with ``object_id``, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM objects WHERE id = ?", (object_id,)
            ).fetchone()
        return None if row is None else dict(json.loads(row["data"]))

    def get_typed(self, object_type: str, object_id: str) -> dict[str, Any] | None:
        """Return the object with ``object_id`` if it is an ``object_type``."""
        obj = self.get(object_id)
        if obj is None or obj.get("object") != object_type:
            return None
        return obj

    def delete(self, object_id: str) -> None:
        """Remove the object with ``object_id``."""
        with self._lock:
            self._conn.execute("DELETE FROM objects WHERE id = ?", (object_id,))

    def list(self, object_type: str, **filters: Any) -> Rows:
        """Objects of ``object_type`` whose top-level keys equal ``filters``, newest first.

        Each carries its creation position as ``_seq`` (internal, never rendered).
        """
        query = "SELECT seq, data FROM objects WHERE type = ?"
        args: list[Any] = [object_type]
        for key, value in filters.items():
            # Text filters narrow the scan in SQL; every filter is re-checked below.
            if isinstance(value, str) and key.isidentifier():
                query += f" AND json_extract(data, '$.{key}') = ?"
                args.append(value)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY seq DESC", args).fetchall()
        found = []
        for row in rows:
            obj = json.loads(row["data"])
            if all(obj.get(key) == value for key, value in filters.items()):
                obj["_seq"] = row["seq"]
                found.append(obj)
        return found

    def seq_of(self, object_id: str) -> int | None:
        """The position of an object in creation order (None if unknown)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT seq FROM objects WHERE id = ?", (object_id,)
            ).fetchone()
        return None if row is None else int(row["seq"])

    def count(self, object_type: str) -> int:
        """Number of stored objects of ``object_type``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM objects WHERE type = ?", (object_type,)
            ).fetchone()
        return int(row[0])

    # Idempotency ---------------------------------------------------------------
    # Records are kept per API key, but only a hash of the key is stored. The stored
    # body is the whole first response, so that of a webhook endpoint's creation holds
    # its ``whsec_`` secret (a replay must return it, as on Stripe).

    @staticmethod
    def _key_hash(api_key: str) -> str:
        return "sha256:" + hashlib.sha256(api_key.encode()).hexdigest()

    def idempotency_record(self, api_key: str, key: str) -> tuple[str, int, str] | None:
        """Return ``(fingerprint, status, body)`` stored for an idempotency key."""
        with self._lock:
            row = self._conn.execute(
                "SELECT fingerprint, status, body FROM idempotency WHERE api_key = ? AND key = ?",
                (self._key_hash(api_key), key),
            ).fetchone()
        if row is None:
            return None
        return str(row["fingerprint"]), int(row["status"]), str(row["body"])

    def save_idempotency(
        self, api_key: str, key: str, fingerprint: str, status: int, body: str
    ) -> None:
        """Remember the first response to an idempotency key."""
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
                (self._key_hash(api_key), key, fingerprint, status, body, time.time()),
            )

    # Webhook deliveries --------------------------------------------------------

    def enqueue_delivery(self, event_id: str, endpoint_id: str, due_at: float) -> None:
        """Queue one delivery of an event to an endpoint."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO deliveries (event_id, endpoint_id, due_at) VALUES (?, ?, ?)",
                (event_id, endpoint_id, due_at),
            )

    def due_deliveries(self, now: float) -> Rows:
        """Pending deliveries due at ``now``, in queue order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM deliveries WHERE state = 'pending' AND due_at <= ? "
                "ORDER BY due_at, id",
                (now,),
            ).fetchall()
        return [dict(row) for row in rows]

    def pending_delivery_count(self) -> int:
        """Number of deliveries not yet succeeded or given up."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'"
            ).fetchone()
        return int(row[0])

    def pending_deliveries(self, limit: int = 100) -> Rows:
        """Deliveries still to be made, soonest first: ``id, event_id, endpoint_id,
        attempts`` (made so far), ``due_at`` (unix float: the next attempt)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM deliveries WHERE state = 'pending' ORDER BY due_at, id LIMIT ?",
                (limit,),
            ).fetchall()
        return [dict(row) for row in rows]

    def update_delivery(
        self, delivery_id: int, *, state: str, attempts: int, due_at: float
    ) -> None:
        """Record a delivery's new state after an attempt."""
        with self._lock:
            self._conn.execute(
                "UPDATE deliveries SET state = ?, attempts = ?, due_at = ? WHERE id = ?",
                (state, attempts, due_at, delivery_id),
            )

    def cancel_deliveries(self, endpoint_id: str) -> builtins.list[str]:
        """Cancel an endpoint's pending deliveries; returns the ids of their events."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT event_id FROM deliveries WHERE endpoint_id = ? "
                "AND state = 'pending'",
                (endpoint_id,),
            ).fetchall()
            self._conn.execute(
                "UPDATE deliveries SET state = 'canceled' WHERE endpoint_id = ? "
                "AND state = 'pending'",
                (endpoint_id,),
            )
        return [str(row["event_id"]) for row in rows]

    def endpoints_pending(self, event_id: str) -> int:
        """Endpoints still waiting for a successful delivery of ``event_id`` (those
        whose deliveries were canceled, being disabled or deleted, are not)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(DISTINCT endpoint_id) FROM deliveries d WHERE event_id = ? "
                "AND state != 'canceled' AND NOT EXISTS (SELECT 1 FROM deliveries s WHERE s.event_id = d.event_id "
                "AND s.endpoint_id = d.endpoint_id AND s.state = 'succeeded')",
                (event_id,),
            ).fetchone()
        return int(row[0])

    def record_attempt(self, attempt: dict[str, Any]) -> None:
        """Store one delivery attempt (see ``deliveries()`` for the fields)."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO delivery_attempts (delivery_id, event_id, event_type, endpoint_id, "
                "url, attempted_at, status_code, succeeded, duration_ms, response_head, error) "
                "VALUES (:delivery_id, :event_id, :event_type, :endpoint_id, :url, "
                ":attempted_at, :status_code, :succeeded, :duration_ms, :response_head, :error)",
                attempt,
            )

    def deliveries(self, event_id: str | None = None, limit: int = 100) -> Rows:
        """Webhook delivery attempts, newest first, optionally for one event.

        Each is a dict with ``delivery_id, event_id, event_type, endpoint_id, url,
        attempted_at`` (unix float), ``status_code`` (None on a network error or
        timeout), ``succeeded`` (bool), ``duration_ms``, ``response_head`` (the first
        500 characters of the body) and ``error``.
        """
        query = "SELECT * FROM delivery_attempts"
        args: list[Any] = []
        if event_id is not None:
            query += " WHERE event_id = ?"
            args.append(event_id)
        query += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._conn.execute(query, args).fetchall()
        result = []
        for row in rows:
            item = dict(row)
            item["succeeded"] = bool(item["succeeded"])
            result.append(item)
        return result
