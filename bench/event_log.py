"""The admin's events list (`shop.event_log`) over 100,000 kept events: keyset pages
cost the same at any depth. Called by `make bench` on its PostgreSQL, after the rest."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask

from shop import event_log
from shop.extensions import db
from shop.models import ProcessedEvent

ROWS = 100_000
CHUNK = 10_000


def _median_ms(run: Callable[[], object], count: int = 30) -> float:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return round(statistics.median(samples) * 1000, 2)


def measure(app: Flask, rows: int = ROWS) -> dict[str, Any]:
    """Keep `rows` more events, then time the list's first page, a page 10,000 rows in,
    the failed ones and a search by object id (median ms, the query function alone)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with app.app_context():
        for first in range(0, rows, CHUNK):
            db.session.execute(
                ProcessedEvent.__table__.insert(),
                [
                    {
                        "id": f"evt_log_{n:06d}",
                        "type": "invoice.paid" if n % 3 else "checkout.session.completed",
                        "outcome": "failed" if n % 1000 == 0 else "processed",
                        "stripe_created": start + timedelta(seconds=n),
                        "received_at": start + timedelta(seconds=n),
                        "processed_at": start + timedelta(seconds=n),
                        "raw_json": "{}",
                        "object_id": f"in_log_{n:06d}",
                        "attempts": 1,
                    }
                    for n in range(first, min(rows, first + CHUNK))
                ],
            )
        db.session.commit()
        everything = event_log.EventFilter()
        deep = event_log.page(everything, size=50)
        for _ in range(200):  # 10,000 rows in
            deep = event_log.page(everything, deep.after, size=50)
        cursor = deep.after
        failed = event_log.EventFilter(outcomes=("failed",))
        wanted = event_log.EventFilter(search=f"in_log_{rows // 2:06d}")
        return {
            "events_kept": rows,
            "first_page_ms": _median_ms(lambda: event_log.page(everything)),
            "page_201_ms": _median_ms(lambda: event_log.page(everything, cursor)),
            "failed_only_ms": _median_ms(lambda: event_log.page(failed)),
            "search_by_object_id_ms": _median_ms(lambda: event_log.page(wanted)),
        }
