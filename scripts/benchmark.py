"""Measure Quire's hot paths and print figures: `make bench`.

Runs in one process against a fresh SQLite file, with Stripe answered at the HTTP
layer by `responses` (so the real SDK builds and parses every call), and reports:
- webhook events per second for a new paid order, a duplicate and an ignored type,
  each as a ratio to `GET /healthz` measured in the same run;
- Stripe API calls per webhook event and per purchase (first and later purchases, and
  a first one in another worker);
- the admin's events list with `EVENT_LOG_ROWS` events kept: the first page, a page
  deep in the list, the failed ones, a search by object id.
Figures, not pass/fail: compare runs on the same machine.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import responses
import stripe

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shop.catalogue import load_catalogue  # noqa: E402
from shop.checkout import prices  # noqa: E402
from shop.extensions import db  # noqa: E402
from tests.builders import add_order, session  # noqa: E402
from tests.helpers import TEST_CATALOGUE, WEBHOOK_SECRET, build_app, sign_up  # noqa: E402
from tests.stripe_fakes import API, event, example, listing, signature  # noqa: E402

EVENTS = 400
EVENT_LOG_ROWS = 100_000


def timed(label: str, count: int, run: Callable[[int], None]) -> float:
    """Run `run(i)` for i in range(count); print and return the per-call time in ms."""
    samples = []
    for i in range(count):
        start = time.perf_counter()
        run(i)
        samples.append(time.perf_counter() - start)
    per_call = statistics.median(samples) * 1000
    print(f"  {label:<44} {per_call:7.3f} ms median   {1000 / per_call:8.0f} /s")
    return per_call


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="quire-bench-"))
    # The tests' settings (fake Stripe key, the test catalogue), on a SQLite file here.
    settings: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite3'}",
        "TESTING": False,
    }
    app = build_app(folder, **settings)
    # The tests' catalogue, not the shop's products.yaml: editing the real one changes nothing.
    ebook = next(b for b in load_catalogue(TEST_CATALOGUE).books if b.format == "ebook")
    with app.app_context():
        db.create_all()
    client = app.test_client()
    order_ids = [add_order(app, session_id=f"cs_bench_{i}") for i in range(EVENTS)]

    with responses.RequestsMock(assert_all_requests_are_fired=False) as stripe_http:

        def session_for(request: Any) -> tuple[int, dict[str, str], str]:
            number = int(re.search(r"cs_bench_(\d+)", request.url).group(1))  # type: ignore[union-attr]
            body = session(session_id=f"cs_bench_{number}", order_id=order_ids[number])
            return 200, {}, json.dumps(body)

        stripe_http.add_callback(
            "GET", re.compile(API + r"/v1/checkout/sessions/cs_bench_\d+.*"), session_for
        )

        def deliver(body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            answer = client.post(
                "/webhooks/stripe",
                data=payload,
                headers={"Stripe-Signature": signature(payload, WEBHOOK_SECRET)},
            )
            assert answer.status_code == 200, answer.text

        paid = [
            event("checkout.session.completed", session(session_id=f"cs_bench_{i}"))
            for i in range(EVENTS)
        ]
        ignored = [
            event("customer.tax_id.created", {"id": f"txi_{i}", "object": "tax_id"})
            for i in range(EVENTS)
        ]

        print(
            f"Quire benchmark: {EVENTS} events each, SQLite, Stripe answered over HTTP by `responses`"
        )
        trivial = timed("GET /healthz (trivial endpoint)", EVENTS, lambda i: client.get("/healthz"))
        calls_before = len(stripe_http.calls)
        new = timed("webhook: checkout.session.completed (new)", EVENTS, lambda i: deliver(paid[i]))
        per_event = (len(stripe_http.calls) - calls_before) / EVENTS
        calls_before = len(stripe_http.calls)
        duplicate = timed(
            "webhook: the same events again (duplicates)", EVENTS, lambda i: deliver(paid[i])
        )
        per_duplicate = (len(stripe_http.calls) - calls_before) / EVENTS
        ignored_ms = timed("webhook: unknown type (ignored)", EVENTS, lambda i: deliver(ignored[i]))
        print(
            f"  ratios to /healthz: new {new / trivial:.1f}×, duplicate {duplicate / trivial:.1f}×, "
            f"ignored {ignored_ms / trivial:.1f}×"
        )
        print(
            f"  Stripe API calls per new event: {per_event:.2f}; per duplicate: {per_duplicate:.2f}"
        )

        # Purchases: `catalog sync` recorded the price (in the database, for every
        # worker), so the first purchase creates the customer and the session, later
        # ones the session alone, in this worker or another.
        price = example(
            "price",
            id="price_bench",
            lookup_key=ebook.lookup_key,
            unit_amount=ebook.price,
            currency=ebook.currency,
            active=True,
            recurring=None,
        )
        with app.app_context():
            prices.record([stripe.Price.construct_from(price, "sk_test_bench")])
            db.session.commit()
        stripe_http.add(
            "GET", re.compile(API + r"/v1/prices\?.*"), json=listing("/v1/prices", [price])
        )
        stripe_http.add("POST", API + "/v1/customers", json=example("customer", id="cus_bench"))
        made = iter(range(10**6))
        stripe_http.add_callback(
            "POST",
            API + "/v1/checkout/sessions",
            lambda r: (
                200,
                {},
                json.dumps(
                    example(
                        "checkout.session",
                        id=f"cs_buy_{next(made)}",
                        url="https://checkout.test/x",
                        status="open",
                    )
                ),
            ),
        )
        sign_up(app, client, "bench@example.com", "benchmark1")

        def purchase(client: Any) -> int:
            before = len(stripe_http.calls)
            answer = client.post(f"/checkout/books/{ebook.key}", data={"quantity": "1"})
            assert answer.status_code == 303, answer.status_code
            return len(stripe_http.calls) - before

        counts = [purchase(client) for _ in range(3)]
        other_worker = build_app(folder, **settings)  # a second worker, the same database
        other_client = other_worker.test_client()
        assert other_client.post(
            "/login", data={"email": "bench@example.com", "password": "benchmark1"}
        ).status_code in (302, 303)
        print(
            f"  Stripe API calls per purchase: first {counts[0]}, then {counts[1]} and "
            f"{counts[2]}; in another worker: {purchase(other_client)}"
        )

    event_log_pages(app)


def event_log_pages(app: Any) -> None:
    """The events list (`shop.event_log`) over `EVENT_LOG_ROWS` kept events: keyset pages
    cost the same at any depth."""
    from datetime import UTC, datetime, timedelta

    from shop import event_log
    from shop.models import ProcessedEvent

    start = datetime(2026, 1, 1, tzinfo=UTC)
    with app.app_context():
        rows = [
            {
                "id": f"evt_log_{n:06d}",
                "type": "invoice.paid" if n % 3 else "checkout.session.completed",
                "outcome": "failed" if n % 1000 == 0 else "processed",
                "stripe_created": start + timedelta(seconds=n),
                "received_at": start + timedelta(seconds=n),
                "raw_json": "{}",
                "object_id": f"in_log_{n:06d}",
                "attempts": 1,
            }
            for n in range(EVENT_LOG_ROWS)
        ]
        db.session.execute(ProcessedEvent.__table__.insert(), rows)
        db.session.commit()
        deep = event_log.page(event_log.EventFilter(), size=50)
        for _ in range(200):  # 10,000 rows in
            deep = event_log.page(event_log.EventFilter(), deep.after, size=50)
        cursor = deep.after
        print(f"Events list, {EVENT_LOG_ROWS:,} events kept:")
        timed("first page", 50, lambda i: event_log.page(event_log.EventFilter()))
        timed(
            "page 201 (10,000 rows in)",
            50,
            lambda i: event_log.page(event_log.EventFilter(), cursor),
        )
        failed = event_log.EventFilter(outcomes=("failed",))
        timed("failed only", 50, lambda i: event_log.page(failed))
        wanted = event_log.EventFilter(search="in_log_054321")
        timed("search by object id", 50, lambda i: event_log.page(wanted))


if __name__ == "__main__":
    main()
