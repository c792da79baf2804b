"""Time as each object sees it: the wall clock, or a test clock's frozen time.

Objects of a customer created with ``test_clock=clock_…`` live at that clock's
``frozen_time``; everything else lives at the wall clock.
"""

from __future__ import annotations

import time
from typing import Any

from .store import Store


class Clock:
    """Answers "what time is it" for the wall clock and for test clocks."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def wall() -> int:
        """Seconds since the epoch, now."""
        return int(time.time())

    def now(self, test_clock_id: str | None = None) -> int:
        """The time of ``test_clock_id`` (its ``frozen_time``), or the wall clock."""
        if test_clock_id:
            clock = self.store.get(test_clock_id)
            if clock is not None:
                return int(clock["frozen_time"])
        return self.wall()

    def clock_of_customer(self, customer_id: str | None) -> str | None:
        """The test clock a customer belongs to, if any."""
        if not customer_id:
            return None
        customer = self.store.get(customer_id)
        if customer is None:
            return None
        clock_id = customer.get("test_clock")
        return clock_id if isinstance(clock_id, str) else None

    def for_customer(self, customer_id: str | None) -> int:
        """The time an object of ``customer_id`` is created or billed at."""
        return self.now(self.clock_of_customer(customer_id))

    def for_object(self, obj: dict[str, Any]) -> int:
        """The time seen by an object that may carry a ``customer`` or ``test_clock``."""
        clock_id = obj.get("test_clock")
        if isinstance(clock_id, str):
            return self.now(clock_id)
        customer = obj.get("customer")
        return self.for_customer(customer if isinstance(customer, str) else None)
