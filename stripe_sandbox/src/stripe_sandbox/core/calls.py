"""Counting the API requests a sandbox answers, per route, so a benchmark can say how
many Stripe calls an operation cost."""

from __future__ import annotations

import re
import threading
from collections import Counter

_URL_VARIABLE = re.compile(r"<(?:[^<>:]+:)?[^<>]+>")


def route_name(method: str, rule: str) -> str:
    """``GET /v1/customers/{id}`` for ``GET`` on the rule ``/v1/customers/<customer_id>``:
    ids collapsed so the requests of one route count together."""
    return f"{method} {_URL_VARIABLE.sub('{id}', rule)}"


class ApiCallCounter:
    """Requests answered per route; safe to use from the server's threads at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_route: Counter[str] = Counter()

    def count(self, method: str, rule: str) -> None:
        """Count one request of ``method`` on the URL rule ``rule``."""
        name = route_name(method, rule)
        with self._lock:
            self._by_route[name] += 1

    def snapshot(self) -> dict[str, object]:
        """``{"total": N, "by_route": {"POST /v1/products": n, ...}}``."""
        with self._lock:
            by_route = dict(sorted(self._by_route.items()))
        return {"total": sum(by_route.values()), "by_route": by_route}

    def reset(self) -> dict[str, object]:
        """Start counting from zero; returns the count cleared."""
        with self._lock:
            by_route = dict(sorted(self._by_route.items()))
            self._by_route.clear()
        return {"total": sum(by_route.values()), "by_route": by_route}
