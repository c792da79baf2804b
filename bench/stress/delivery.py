"""Delivering the sandbox's events to the shop as Stripe does: signed, retried until a 2xx.

The sandbox has no endpoint registered during a stress run; the driver lists its events
with the SDK and POSTs each to `/webhooks/stripe`, signed with the shop's secret
(`shop.events.sign_payload`), as often and in whatever order a case wants. Anything but
a 2xx answer (a 5xx, a reset connection, a timeout) is tried again with backoff, as
Stripe retries, until `give_up_after` seconds have passed.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
import stripe

from shop.events import HANDLERS, sign_payload


def handled_events(client: stripe.StripeClient, since: int) -> list[dict[str, Any]]:
    """Every event of a type Quire handles created at or after `since` (unix time; test
    clock events carry their clock's time, which is later), oldest first."""
    found = client.v1.events.list(
        params={"types": sorted(HANDLERS), "created": {"gte": since}, "limit": 100}
    )
    events = [event.to_dict(for_json=True) for event in found.auto_paging_iter()]
    return list(reversed(events))


@dataclass
class Tally:
    """What the deliveries met: answers by status (0: no answer), and give-ups."""

    answers: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    given_up: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def posts(self) -> int:
        return sum(self.answers.values())

    @property
    def refused(self) -> int:
        """Attempts without a 2xx (retried)."""
        return sum(n for status, n in self.answers.items() if not 200 <= status < 300)

    def summary(self) -> str:
        answers = ", ".join(
            f"{n} × {status or 'no answer'}" for status, n in sorted(self.answers.items())
        )
        return f"{self.posts} POSTs ({answers})"


class Deliverer:
    """POSTs events to the shop's webhook from a pool of threads."""

    def __init__(
        self, shop_url: str, secret: str, *, threads: int = 16, give_up_after: float = 180
    ) -> None:
        self.url = f"{shop_url}/webhooks/stripe"
        self.secret = secret
        self.give_up_after = give_up_after
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="stress-post")
        self.tally = Tally()

    def _note(self, status: int, outcome: str | None = None) -> None:
        with self.tally.lock:
            self.tally.answers[status] += 1
            if outcome:
                self.tally.outcomes[outcome] += 1

    def deliver(self, event: dict[str, Any]) -> bool:
        """Deliver once, retrying until a 2xx (True) or `give_up_after` (False)."""
        body = json.dumps(event).encode()
        deadline = time.monotonic() + self.give_up_after
        wait = 0.25
        while True:
            headers = {
                "Content-Type": "application/json",
                "Stripe-Signature": sign_payload(body, self.secret),
                # As through Heroku's router: Stripe posts over https, the router says so
                # (the shop in production sends plain http to https).
                "X-Forwarded-Proto": "https",
            }
            try:
                answer = requests.post(
                    self.url, data=body, headers=headers, timeout=15, allow_redirects=False
                )
            except requests.RequestException:
                self._note(0)
            else:
                outcome = None
                if answer.ok:
                    try:
                        outcome = str(answer.json().get("outcome"))
                    except ValueError:
                        outcome = "?"
                self._note(answer.status_code, outcome)
                if answer.ok:
                    return True
            if time.monotonic() + wait > deadline:
                with self.tally.lock:
                    self.tally.given_up.append(str(event["id"]))
                return False
            time.sleep(wait)
            wait = min(wait * 2, 4.0)

    def deliver_all(self, deliveries: Iterable[dict[str, Any]]) -> list[bool]:
        """Deliver each (an event may appear several times), from the pool, in order of
        submission; wait for all."""
        futures = [self.pool.submit(self.deliver, event) for event in deliveries]
        return [future.result() for future in futures]

    def deliver_paced(self, deliveries: list[dict[str, Any]], seconds: float) -> list[bool]:
        """Deliver each from the pool, their starts spread evenly over `seconds`; wait for all."""
        gap = seconds / max(len(deliveries), 1)
        futures = []
        for event in deliveries:
            futures.append(self.pool.submit(self.deliver, event))
            time.sleep(gap)
        return [future.result() for future in futures]

    def deliver_at_once(self, event: dict[str, Any], copies: int) -> list[bool]:
        """`copies` deliveries of one event, each on a thread of its own, released together."""
        barrier = threading.Barrier(copies)
        results: list[bool] = []

        def one() -> None:
            barrier.wait()
            delivered = self.deliver(event)
            with self.tally.lock:
                results.append(delivered)

        threads = [threading.Thread(target=one) for _ in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def close(self) -> None:
        self.pool.shutdown(wait=True)
