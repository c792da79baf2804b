"""The four attacks of `make stress`, each counting the cases it tried and its failures.

1. `double_delivery`: every paid order's `checkout.session.completed` delivered 3 times
   at once → one paid order, one ledger row, one receipt each; every event processed.
2. `lifecycles`: memberships lived on test clocks and Stripe's API while their events are
   delivered shuffled and duplicated, the shop's retrieves slowed and overlapping → each
   membership, its invoices and its order equal to the sandbox's.
3. `kill_workers`: deliveries while queue workers and gunicorn workers are SIGKILLed →
   every event processed, its effects once.
4. `database_outage`: deliveries while PostgreSQL is stopped for a while → every event
   processed once it is back, its effects once.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import stripe
from flask import Flask
from sqlalchemy import text

from shop.events import DONE
from shop.extensions import db

from . import shoppers
from .delivery import Deliverer, handled_events
from .servers import WEBHOOK_SECRET, Stack


@dataclass
class Result:
    """What one case tried and what failed (each failure says what and why)."""

    name: str
    tried: int = 0
    failures: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    began: float = field(default_factory=time.monotonic)

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def report(self) -> str:
        lines = [
            f"{self.name}: cases tried {self.tried}, failures {len(self.failures)} "
            f"({self.seconds:.0f} s)"
        ]
        lines += [f"    {figure}" for figure in self.figures]
        lines += [f"    FAILED {failure}" for failure in self.failures[:20]]
        if len(self.failures) > 20:
            lines.append(f"    … and {len(self.failures) - 20} more")
        return "\n".join(lines)


def query(app: Flask, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of `sql`, retried while the database is away (an outage case)."""
    for attempt in range(60):
        try:
            with app.app_context():
                try:
                    rows = db.session.execute(text(sql), params).mappings().all()
                    return [dict(row) for row in rows]
                finally:
                    db.session.remove()
        except Exception:
            if attempt == 59:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


def events_for_sessions(
    client: stripe.StripeClient, since: int, session_ids: Iterable[str]
) -> list[dict[str, Any]]:
    wanted = set(session_ids)
    return [
        event
        for event in handled_events(client, since)
        if event["type"] == "checkout.session.completed" and event["data"]["object"]["id"] in wanted
    ]


def wait_until_applied(
    app: Flask, event_ids: list[str], timeout: float
) -> dict[str, dict[str, Any]]:
    """Wait until every event is processed (or ignored) and no job is waiting or running;
    the events' rows, as they are then."""
    deadline = time.monotonic() + timeout
    while True:
        rows = query(
            app,
            "SELECT id, outcome, attempts, processed_at, received_at FROM processed_events "
            "WHERE id = ANY(:ids)",
            ids=event_ids,
        )
        busy = query(
            app,
            "SELECT count(*) AS n FROM procrastinate_jobs WHERE status IN ('todo', 'doing')",
        )[0]["n"]
        done = sum(1 for row in rows if row["outcome"] in DONE)
        if (done == len(event_ids) and not busy) or time.monotonic() > deadline:
            return {row["id"]: row for row in rows}
        time.sleep(0.5)


def check_events(result: Result, rows: dict[str, dict[str, Any]], event_ids: list[str]) -> None:
    """Every event kept and applied once; the attempts it took, as a figure."""
    attempts: Counter[int] = Counter()
    for event_id in event_ids:
        row = rows.get(event_id)
        if row is None:
            result.fail(f"event {event_id} was never kept")
        elif row["outcome"] not in DONE or row["processed_at"] is None:
            result.fail(f"event {event_id} is {row['outcome']}, not applied")
        else:
            attempts[row["attempts"]] += 1
    lags = sorted(
        (row["processed_at"] - row["received_at"]).total_seconds()
        for row in rows.values()
        if row["processed_at"] is not None
    )
    if lags:
        result.figures.append(
            "events applied: "
            + ", ".join(f"{n} after {a} attempt(s)" for a, n in sorted(attempts.items()))
            + f"; received → applied p50 {lags[len(lags) // 2]:.2f} s, max {lags[-1]:.2f} s"
        )


def check_paid_orders(app: Flask, result: Result, orders: list[shoppers.Opened]) -> None:
    """Each order paid, with exactly one ledger row and one receipt."""
    ids = [order.order_id for order in orders]
    statuses = {
        row["id"]: row["status"]
        for row in query(app, "SELECT id, status FROM orders WHERE id = ANY(:ids)", ids=ids)
    }
    ledger = Counter(
        row["order_id"]
        for row in query(
            app,
            "SELECT order_id FROM money_movements WHERE kind = 'payment' AND order_id = ANY(:ids)",
            ids=ids,
        )
    )
    keys = [f"receipt:order:{order_id}" for order_id in ids]
    receipts = Counter(
        row["key"] for row in query(app, "SELECT key FROM mails WHERE key = ANY(:k)", k=keys)
    )
    for order_id in ids:
        if statuses.get(order_id) != "paid":
            result.fail(f"order {order_id} is {statuses.get(order_id)}, not paid")
        if ledger[order_id] != 1:
            result.fail(f"order {order_id} has {ledger[order_id]} payment rows in the ledger")
        if receipts[f"receipt:order:{order_id}"] != 1:
            result.fail(f"order {order_id} has {receipts[f'receipt:order:{order_id}']} receipts")


@dataclass(frozen=True)
class Before:
    """What the processes had done when a case began."""

    exits: int
    lock_races: int

    @classmethod
    def of(cls, stack: Stack) -> Before:
        return cls(len(stack.exits), stack.lock_races())


def check_processes(stack: Stack, result: Result, before: Before, *, may_exit: bool) -> None:
    """The web server still up; a queue worker that stopped by itself is a failure, or,
    where the case makes that acceptable (`may_exit`: the database went away), a figure.
    The case ends here: its time is taken."""
    result.seconds = time.monotonic() - result.began
    if not stack.web.running():
        result.fail(f"gunicorn stopped: {stack.web.tail(3)}")
    races = stack.lock_races() - before.lock_races
    if races:
        result.figures.append(f"a worker lost the race for an object's next job {races} times")
    for ended in stack.exits[before.exits :]:
        if may_exit:
            result.figures.append(f"restarted: {ended}")
        else:
            result.fail(ended)


def _made(
    result: Result, stack: Stack, app: Flask, count: int
) -> tuple[int, list[shoppers.Opened]]:
    since = int(time.time()) - 1
    started = time.monotonic()
    orders = shoppers.paid_book_orders(app, count)
    result.figures.append(
        f"{len(orders)} ebook orders made and paid on the sandbox's page in "
        f"{time.monotonic() - started:.0f} s"
    )
    return since, orders


# --- 1 -----------------------------------------------------------------------------------


def double_delivery(stack: Stack, app: Flask, events: int, copies: int = 3) -> Result:
    result = Result(f"1. {events} events × {copies} at once")
    before = Before.of(stack)
    since, orders = _made(result, stack, app, events)
    found = events_for_sessions(shoppers.sdk(stack), since, [o.session_id for o in orders])
    result.tried = len(found)
    if len(found) != len(orders):
        result.fail(f"{len(orders)} orders paid but the sandbox has {len(found)} completions")
    deliverer = Deliverer(stack.shop_url, WEBHOOK_SECRET, give_up_after=120)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=6) as pool:
        delivered = list(pool.map(lambda e: deliverer.deliver_at_once(e, copies), found))
    sent = time.monotonic() - started
    undelivered = [e["id"] for e, ok in zip(found, delivered, strict=True) if not all(ok)]
    for event_id in undelivered:
        result.fail(f"event {event_id}: a copy never got a 2xx")
    ids = [event["id"] for event in found]
    rows = wait_until_applied(app, ids, timeout=300)
    result.figures.append(
        f"{deliverer.tally.summary()} in {sent:.1f} s; answers: "
        + ", ".join(f"{n} {o}" for o, n in sorted(deliverer.tally.outcomes.items()))
    )
    check_events(result, rows, ids)
    check_paid_orders(app, result, orders)
    deliverer.close()
    check_processes(stack, result, before, may_exit=False)
    return result


# --- 2 -----------------------------------------------------------------------------------


class Feeder:
    """Delivers the lifecycles' events as they happen: each new one 1–3 times, every
    batch shuffled, from the deliverer's pool, until stopped."""

    def __init__(
        self, stack: Stack, customers: Callable[[], set[str]], since: int, seed: int
    ) -> None:
        self.client = shoppers.sdk(stack)
        self.customers = customers
        self.since = since
        self.rng = random.Random(seed)
        self.deliverer = Deliverer(stack.shop_url, WEBHOOK_SECRET, threads=16, give_up_after=120)
        self.seen: dict[str, dict[str, Any]] = {}
        self.futures: list[Any] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="stress-feeder")

    def _customer_of(self, event: dict[str, Any]) -> str | None:
        customer = event["data"]["object"].get("customer")
        return customer.get("id") if isinstance(customer, dict) else customer

    def poll(self) -> None:
        mine = self.customers()
        fresh = [
            event
            for event in handled_events(self.client, self.since)
            if event["id"] not in self.seen and self._customer_of(event) in mine
        ]
        batch = []
        for event in fresh:
            self.seen[event["id"]] = event
            batch += [event] * self.rng.choice((1, 2, 2, 3))
        self.rng.shuffle(batch)
        self.futures += [self.deliverer.pool.submit(self.deliverer.deliver, e) for e in batch]

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll()
            except Exception as error:  # the sandbox busy: look again
                print(f"    (listing events failed: {error}; trying again)", flush=True)
            self.stopping.wait(0.3)

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> list[bool]:
        self.stopping.set()
        self.thread.join()
        self.poll()
        return [future.result() for future in self.futures]


def _sandbox_matches(
    app: Flask, client: stripe.StripeClient, life: shoppers.Lifecycle, result: Result
) -> None:
    """The membership, its invoices and its order as the sandbox has them."""
    sub = client.v1.subscriptions.retrieve(life.subscription_id)
    rows = query(
        app,
        "SELECT status, cancel_at_period_end, current_period_end, trial_end, canceled_at, "
        "ended_at, amount, currency FROM subscriptions WHERE stripe_subscription_id = :id",
        id=life.subscription_id,
    )
    where = f"membership {life.number} ({life.plan}/{life.interval}, {' → '.join(life.steps)})"
    if not rows:
        result.fail(f"{where}: {life.subscription_id} is not recorded")
        return

    def when(stamp: int | None) -> datetime | None:
        return None if stamp is None else datetime.fromtimestamp(stamp, UTC)

    item = sub["items"].data[0]
    stripe_side = {
        "status": sub.status,
        "cancel_at_period_end": bool(sub.cancel_at_period_end),
        "current_period_end": when(item.current_period_end),
        "trial_end": when(sub.trial_end),
        "canceled_at": when(sub.canceled_at),
        "ended_at": when(sub.ended_at),
        "amount": (item.price.unit_amount or 0) * (item.quantity or 1),
        "currency": item.price.currency,
    }
    ours = rows[0]
    for name, value in stripe_side.items():
        if ours[name] != value:
            result.fail(f"{where}: {name} is {ours[name]!r}, Stripe has {value!r}")
    invoices = {
        row["stripe_invoice_id"]: row
        for row in query(
            app,
            "SELECT stripe_invoice_id, status, amount_due, amount_paid, attempt_count "
            "FROM invoices WHERE stripe_subscription_id = :id",
            id=life.subscription_id,
        )
    }
    ledger = Counter(
        (row["stripe_id"], row["amount"])
        for row in query(
            app,
            "SELECT stripe_id, amount FROM money_movements WHERE stripe_id = ANY(:ids)",
            ids=list(invoices),
        )
    )
    for invoice in client.v1.invoices.list(
        params={"subscription": life.subscription_id, "limit": 100}
    ).auto_paging_iter():
        if invoice.status == "draft":
            continue
        mine = invoices.get(str(invoice.id))
        theirs = (invoice.status, invoice.amount_due, invoice.amount_paid, invoice.attempt_count)
        if mine is None:
            result.fail(f"{where}: invoice {invoice.id} ({invoice.status}) is not recorded")
            continue
        recorded = (mine["status"], mine["amount_due"], mine["amount_paid"], mine["attempt_count"])
        if recorded != theirs:
            result.fail(
                f"{where}: invoice {invoice.id} is (status, due, paid, attempts) {recorded}, "
                f"Stripe has {theirs}"
            )
        # A renewal's payment is in the ledger once (a sign-up's is its order's).
        renewal = invoice.billing_reason != "subscription_create"
        wanted = 1 if renewal and invoice.status == "paid" and invoice.amount_paid > 0 else 0
        if ledger[(invoice.id, invoice.amount_paid)] != wanted:
            result.fail(
                f"{where}: invoice {invoice.id} has {ledger[(invoice.id, invoice.amount_paid)]} "
                f"ledger rows, not {wanted}"
            )
    order = query(app, "SELECT status FROM orders WHERE id = :id", id=life.order_id)
    if not order or order[0]["status"] != "paid":
        result.fail(f"{where}: its sign-up order is {order[0]['status'] if order else None}")


def lifecycles(stack: Stack, app: Flask, count: int, seed: int = 10) -> Result:
    result = Result(f"2. {count} shuffled membership lifecycles, retrieves slowed 0–300 ms")
    before = Before.of(stack)
    rng = random.Random(seed)
    client = shoppers.sdk(stack)
    lives = [
        shoppers.Lifecycle(
            number=n,
            plan=(plan := rng.choice(shoppers.PLANS))[0],
            interval=plan[1],
            card=shoppers.CARD_FAILS_LATER if rng.random() < 0.3 else shoppers.CARD_OK,
        )
        for n in range(count)
    ]
    seeds = {life.number: rng.randrange(2**32) for life in lives}
    since = int(time.time()) - 1
    feeder = Feeder(
        stack, lambda: {life.customer_id for life in lives if life.customer_id}, since, seed
    )
    feeder.start()
    started = time.monotonic()

    def live(life: shoppers.Lifecycle) -> None:
        try:
            shoppers.live_lifecycle(app, client, life, random.Random(seeds[life.number]))
        except Exception as error:
            life.error = f"{type(error).__name__}: {error}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(live, lives))
    lived = time.monotonic() - started
    delivered = feeder.finish()
    ids = list(feeder.seen)
    rows = wait_until_applied(app, ids, timeout=300)
    result.figures.append(
        f"lived in {lived:.0f} s; steps: "
        + ", ".join(
            f"{n} {s}"
            for s, n in Counter(step for life in lives for step in life.steps).most_common()
        )
    )
    result.figures.append(
        f"{len(ids)} events delivered shuffled, 1–3 times each: {feeder.deliverer.tally.summary()}"
    )
    if not all(delivered):
        result.fail(f"{delivered.count(False)} deliveries never got a 2xx")
    check_events(result, rows, ids)
    for life in lives:
        if life.error or not life.subscription_id:
            result.fail(f"membership {life.number}: its life could not be lived: {life.error}")
            continue
        result.tried += 1
        _sandbox_matches(app, client, life, result)
    feeder.deliverer.close()
    check_processes(stack, result, before, may_exit=False)
    return result


# --- 3 -----------------------------------------------------------------------------------


def kill_workers(stack: Stack, app: Flask, events: int, kills: int) -> Result:
    result = Result(
        f"3. {events} events while {kills} queue workers and {kills} web workers are killed"
    )
    before = Before.of(stack)
    since, orders = _made(result, stack, app, events)
    found = events_for_sessions(shoppers.sdk(stack), since, [o.session_id for o in orders])
    result.tried = len(found)
    deliverer = Deliverer(stack.shop_url, WEBHOOK_SECRET, threads=8, give_up_after=120)
    killed: list[str] = []
    jobs_cut: list[int] = []
    restarts_before = stack.restarts

    def killer() -> None:
        rng = random.Random(3)
        for _ in range(kills):
            # A queue worker in the middle of applying events: its jobs are cut off.
            deadline = time.monotonic() + 10
            held = stack.holding_jobs()
            while not held and time.monotonic() < deadline:
                time.sleep(0.05)
                held = stack.holding_jobs()
            index = max(held, key=lambda i: held[i]) if held else rng.randrange(len(stack.workers))
            worker = stack.workers[index]
            worker.kill()  # the supervisor starts another, as a platform would
            jobs_cut.append(held.get(index, 0))
            killed.append(f"queue worker pid {worker.pid} running {held.get(index, 0)} job(s)")
            time.sleep(0.3)
            web = stack.gunicorn_workers()
            if web:
                pid = rng.choice(web)
                os.kill(pid, signal.SIGKILL)  # gunicorn's master replaces it
                killed.append(f"web worker pid {pid}")
            time.sleep(1.0)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    started = time.monotonic()
    delivered = deliverer.deliver_paced(found, kills * 2.0 + 3)
    thread.join()
    sent = time.monotonic() - started
    ids = [event["id"] for event in found]
    rows = wait_until_applied(app, ids, timeout=300)
    result.figures.append(
        f"killed with SIGKILL: {'; '.join(killed)}; queue workers restarted: "
        f"{stack.restarts - restarts_before}"
    )
    if not sum(jobs_cut):
        result.fail("no queue worker was killed while running a job: the attack missed")
    result.figures.append(f"{deliverer.tally.summary()} in {sent:.1f} s")
    if not all(delivered):
        result.fail(f"{delivered.count(False)} events never got a 2xx")
    check_events(result, rows, ids)
    check_paid_orders(app, result, orders)
    deliverer.close()
    check_processes(stack, result, before, may_exit=False)
    return result


# --- 4 -----------------------------------------------------------------------------------


def database_outage(stack: Stack, app: Flask, events: int, outage: float) -> Result:
    result = Result(f"4. {events} events while the database is stopped for {outage:.0f} s")
    before = Before.of(stack)
    since, orders = _made(result, stack, app, events)
    found = events_for_sessions(shoppers.sdk(stack), since, [o.session_id for o in orders])
    result.tried = len(found)
    deliverer = Deliverer(stack.shop_url, WEBHOOK_SECRET, threads=8, give_up_after=outage + 120)
    restarts_before = stack.restarts
    timeline: list[str] = []

    def outage_now() -> None:
        time.sleep(1.0)
        stack.postgres.stop()
        timeline.append(f"stopped at {time.monotonic() - started:.1f} s")
        time.sleep(outage)
        stack.postgres.start()
        timeline.append(f"started again at {time.monotonic() - started:.1f} s")

    started = time.monotonic()
    thread = threading.Thread(target=outage_now, daemon=True)
    thread.start()
    delivered = deliverer.deliver_paced(found, outage + 4)
    thread.join()
    sent = time.monotonic() - started
    ids = [event["id"] for event in found]
    rows = wait_until_applied(app, ids, timeout=300)
    result.figures.append(
        f"PostgreSQL {', '.join(timeline)}; queue workers restarted: "
        f"{stack.restarts - restarts_before}"
    )
    result.figures.append(f"{deliverer.tally.summary()} in {sent:.1f} s")
    if not all(delivered):
        result.fail(f"{delivered.count(False)} events never got a 2xx")
    check_events(result, rows, ids)
    check_paid_orders(app, result, orders)
    deliverer.close()
    check_processes(stack, result, before, may_exit=True)
    return result
