"""What `make bench` does to the running shop: objects made in the sandbox, webhook
bodies, a burst of real events, a returning shopper's checkout, Stripe calls counted.

The shop's own domain functions make the orders and membership sign-ups (as its views
do), the sandbox's test helper pays them, and the events the sandbox emitted are then
delivered to the shop's webhook as Stripe would deliver them, signed.
"""

from __future__ import annotations

import json
import re
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from flask import Flask

from bench import load, servers
from bench.servers import Stack
from shop.catalogue import Catalogue
from shop.catalogue_source import catalogue_of
from shop.checkout import orders, sessions
from shop.checkout.prices import PriceDirectory
from shop.events import HANDLERS, sign_payload
from shop.extensions import db
from shop.models import ProcessedEvent, User
from shop.stripe_client import stripe_client

PASSWORD = "bench-shopper-password"  # noqa: S105 (a made-up shopper of a throwaway shop)
MEMBERSHIP = ("reader", "month")
#: Heroku's router ends TLS and says so; gunicorn (`--forwarded-allow-ips`) believes it,
#: and production sends anything else to https.
THROUGH_ROUTER = {"X-Forwarded-Proto": "https"}


def _catalogue(app: Flask) -> Catalogue:
    catalogue = catalogue_of(app)
    if catalogue is None:
        raise RuntimeError("the shop's catalogue did not load")
    return catalogue


def an_ebook(app: Flask) -> str:
    return next(b.key for b in _catalogue(app).books if b.format == "ebook")


class Seeder:
    """Pays orders and membership sign-ups in the sandbox; collects the events made."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.seen: set[str] = set()
        self.made = 0

    def make(self, count: int) -> list[dict[str, Any]]:
        """`count` shoppers, every other one a member, the rest buying an ebook, each
        paid; returns the new events in the order Stripe made them."""
        with self.app.app_context():
            client = stripe_client()
            catalogue = _catalogue(self.app)
            prices = PriceDirectory.of(self.app)
            ebook = an_ebook(self.app)
            for _ in range(count):
                self.made += 1
                user = User(email=f"shopper{self.made}@example.com", password_hash="!")  # noqa: S106 (cannot sign in)
                db.session.add(user)
                db.session.commit()
                if self.made % 2:
                    order = orders.order_membership(catalogue, user, *MEMBERSHIP)
                else:
                    order = orders.order_book(catalogue, user, ebook, 1)
                urls = sessions.ReturnUrls(
                    success=f"{self.app.config['SITE_URL']}/done?session_id="
                    + sessions.SESSION_ID_PLACEHOLDER,
                    cancel=f"{self.app.config['SITE_URL']}/",
                )
                session_id = sessions.open_checkout(
                    client, prices, order, urls
                ).order.checkout_session_id
                client.raw_request(
                    "post",
                    f"/v1/test_helpers/checkout/sessions/{session_id}/pay",
                    email=user.email,
                )
            return self.new_events()

    def new_events(self) -> list[dict[str, Any]]:
        """The sandbox's events not returned before, read as Stripe sends them (JSON)."""
        base = self.app.config["STRIPE_API_BASE"]
        key = self.app.config["STRIPE_SECRET_KEY"]
        found: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params = {"limit": "100", **({"starting_after": after} if after else {})}
            page = requests.get(
                f"{base}/v1/events",
                params=params,
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            ).json()
            fresh = [e for e in page["data"] if e["id"] not in self.seen]
            # The shop's endpoint is registered for the types it handles: Stripe sends those.
            found.extend(e for e in fresh if e["type"] in HANDLERS)
            self.seen.update(e["id"] for e in fresh)
            if not page["has_more"] or len(fresh) < len(page["data"]):
                break
            after = page["data"][-1]["id"]
        found.reverse()  # oldest first, as Stripe sends them
        return found


def signed_lines(bodies: Sequence[dict[str, Any]], secret: str) -> list[str]:
    """`signature<TAB>body` lines for wrk (signed now: valid for five minutes)."""
    lines = []
    for body in bodies:
        payload = json.dumps(body, separators=(",", ":"))
        lines.append(sign_payload(payload.encode(), secret) + "\t" + payload)
    return lines


def new_copies(templates: Sequence[dict[str, Any]], count: int, tag: str) -> list[dict[str, Any]]:
    """`count` events cycling through `templates`, each with an id of its own."""
    return [
        {**templates[n % len(templates)], "id": f"evt_bench_{tag}_{n:06d}"} for n in range(count)
    ]


def write_bodies(
    path: Path, templates: Sequence[dict[str, Any]], count: int, tag: str, secret: str
) -> Path:
    path.write_text("\n".join(signed_lines(new_copies(templates, count, tag), secret)) + "\n")
    return path


class StripeCalls:
    """Stripe API calls the sandbox answered: its counter (`/dashboard/api-calls`), or,
    on a sandbox without one, the `/v1/` lines of its request log."""

    COUNTERS = ("/dashboard/api-calls", "/sandbox/api-calls")

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.counter: str | None = None
        self.offset = 0

    def _log_lines(self) -> list[str]:
        assert self.stack.sandbox is not None
        return self.stack.sandbox.log.read_text(errors="replace").splitlines()

    def reset(self) -> None:
        for path in self.COUNTERS:
            answer = requests.delete(self.stack.sandbox_url + path, timeout=5)
            if answer.status_code in (200, 204):
                self.counter = path
                return
        time.sleep(0.3)  # the log line of a call follows its answer
        self.offset = len(self._log_lines())

    def count(self) -> int:
        if self.counter is not None:
            answer = requests.get(self.stack.sandbox_url + self.counter, timeout=5)
            return int(answer.json()["total"])
        time.sleep(0.3)
        return sum(
            1
            for line in self._log_lines()[self.offset :]
            if re.search(r'"[A-Z]+ /v1/(?!test_helpers)', line)
        )


@dataclass
class Shopper:
    """A signed-in shopper's HTTP session. Production cookies are `Secure`, and the
    benchmark talks plain HTTP to the server as Heroku's router does, so the cookies are
    carried by hand."""

    base: str
    cookies: dict[str, str]

    def _send(
        self, method: str, path: str, fresh: bool = False, **kwargs: Any
    ) -> requests.Response:
        headers = {
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            **THROUGH_ROUTER,
            **kwargs.pop("headers", {}),
        }
        if fresh:
            headers["Connection"] = "close"  # a new connection: the next worker may take it
        answer = requests.request(
            method, self.base + path, headers=headers, allow_redirects=False, timeout=30, **kwargs
        )
        for cookie in answer.cookies:
            if cookie.value is not None:
                self.cookies[cookie.name] = cookie.value
        return answer

    def token(self, path: str) -> str:
        page = self._send("GET", path)
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]*)"', page.text)
        if not match:
            raise RuntimeError(f"no form with a CSRF token on {path} ({page.status_code})")
        return match.group(1)

    def post(self, path: str, data: dict[str, str], fresh: bool = False) -> requests.Response:
        # Over https, Flask-WTF wants the form's page as the Referer (what a browser sends).
        referer = self.base.replace("http://", "https://", 1) + path
        return self._send("POST", path, fresh=fresh, data=data, headers={"Referer": referer})


def signed_in_shopper(stack: Stack, app: Flask, email: str) -> Shopper:
    with app.app_context():
        user = User(email=email)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    shopper = Shopper(stack.web_url, {})
    answer = shopper.post(
        "/login", {"csrf_token": shopper.token("/login"), "email": email, "password": PASSWORD}
    )
    if answer.status_code != 302:
        raise RuntimeError(f"sign-in answered {answer.status_code}")
    return shopper


def checkout_calls(stack: Stack, app: Flask, purchases: int) -> dict[str, Any]:
    """Stripe calls per checkout of a returning shopper (one with a Stripe customer),
    each purchase on a new connection, so both web workers serve some."""
    shopper = signed_in_shopper(stack, app, "returning@example.com")
    book = an_ebook(app)

    def buy() -> None:
        answer = shopper.post(
            f"/checkout/books/{book}",
            {"csrf_token": shopper.token(f"/books/{book}"), "quantity": "1"},
            fresh=True,
        )
        if answer.status_code != 303:
            raise RuntimeError(f"checkout answered {answer.status_code}: {answer.text[:300]}")

    calls = StripeCalls(stack)
    calls.reset()
    buy()  # the first purchase makes the Stripe customer
    first = calls.count()
    calls.reset()
    for _ in range(purchases):
        buy()
    return {"first": first, "returning": calls.count() / purchases, "purchases": purchases}


@dataclass
class Burst:
    """A burst of real events delivered at once, and how the shop took it."""

    events: int
    ack_p50_ms: float
    ack_p99_ms: float
    failed_acks: int
    applied: int
    applied_per_s: float | None
    lag_p50_s: float | None
    lag_p99_s: float | None
    outcomes: dict[str, int]
    stripe_calls: int
    stripe_calls_per_event: float | None
    #: CPU milliseconds each role spent per applied event, from the first delivery until
    #: the last event was applied (what limits the apply rate on a machine of few cores).
    cpu_ms_per_event: dict[str, float] = field(default_factory=dict)


def deliver(
    url: str, events: Sequence[dict[str, Any]], secret: str, connections: int
) -> tuple[list[float], int]:
    """POST each event once, signed, from `connections` threads; (ack times in ms, failures)."""
    lines = signed_lines(events, secret)
    local = threading.local()

    def send(line: str) -> float | None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        signature, payload = line.split("\t", 1)
        started = time.perf_counter()
        answer = local.session.post(
            url,
            data=payload,
            headers={
                "Stripe-Signature": signature,
                "Content-Type": "application/json",
                **THROUGH_ROUTER,
            },
            timeout=60,
        )
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed if answer.status_code == 200 else None

    with ThreadPoolExecutor(connections) as pool:
        results = list(pool.map(send, lines))
    return [r for r in results if r is not None], sum(r is None for r in results)


def wait_applied(app: Flask, ids: Sequence[str], timeout: float) -> list[ProcessedEvent]:
    """The events' rows once none is waiting (or at `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            rows = list(
                db.session.execute(
                    db.select(ProcessedEvent).where(ProcessedEvent.id.in_(ids))
                ).scalars()
            )
            db.session.expunge_all()
        waiting = [r for r in rows if r.processed_at is None and r.outcome not in ("failed",)]
        if (len(rows) == len(ids) and not waiting) or time.monotonic() > deadline:
            return rows
        time.sleep(0.25)


def waiting(app: Flask, ids: Sequence[str]) -> int:
    """How many of these events are received and not yet applied."""
    with app.app_context():
        count = db.session.execute(
            db.select(db.func.count())
            .select_from(ProcessedEvent)
            .where(ProcessedEvent.id.in_(ids), ProcessedEvent.processed_at.is_(None))
        ).scalar_one()
        db.session.commit()
    return int(count)


def burst(
    stack: Stack,
    app: Flask,
    events: Sequence[dict[str, Any]],
    secret: str,
    connections: int = 16,
    while_delivering: Callable[[], None] | None = None,
    while_applying: Callable[[int], None] | None = None,
    timeout: float = 240,
) -> Burst:
    """Deliver `events` at once; measure acknowledgements and received → applied.

    `while_delivering` runs beside the deliveries; `while_applying` once the last one is
    acknowledged, with the number of events then waiting for a worker (with a queue)."""
    calls = StripeCalls(stack)
    calls.reset()
    groups = stack.cpu_groups()
    cpu_before = {role: servers.cpu_seconds(pids) for role, pids in groups.items()}
    ids = [e["id"] for e in events]
    beside = threading.Thread(target=while_delivering) if while_delivering else None
    if beside:
        beside.start()
    acks, failed = deliver(stack.web_url + "/webhooks/stripe", events, secret, connections)
    after = None
    if while_applying:
        after = threading.Thread(target=while_applying, args=(waiting(app, ids),))
        after.start()
    rows = wait_applied(app, ids, timeout)
    cpu_used = {role: servers.cpu_seconds(pids) - cpu_before[role] for role, pids in groups.items()}
    for side in (beside, after):
        if side:
            side.join()
    stripe_calls = calls.count()
    applied = [(r.received_at, r.processed_at) for r in rows if r.processed_at is not None]
    # Inline (no queue), both are stamped in the same transaction: the lag is nil.
    lags = [max(0.0, (done - received).total_seconds()) for received, done in applied]
    outcomes: dict[str, int] = {}
    for row in rows:
        outcomes[row.outcome] = outcomes.get(row.outcome, 0) + 1
    span: float | None = None
    if applied:
        first = min(received for received, _ in applied)
        last = max(done for _, done in applied)
        span = (last - first).total_seconds()
    return Burst(
        events=len(events),
        ack_p50_ms=statistics.median(acks) if acks else 0.0,
        ack_p99_ms=load.percentile(acks, 99) if acks else 0.0,
        failed_acks=failed,
        applied=len(applied),
        applied_per_s=len(applied) / span if span else None,
        lag_p50_s=statistics.median(lags) if lags else None,
        lag_p99_s=load.percentile(lags, 99) if lags else None,
        outcomes=outcomes,
        stripe_calls=stripe_calls,
        stripe_calls_per_event=stripe_calls / len(applied) if applied else None,
        cpu_ms_per_event={
            role: round(seconds * 1000 / len(applied), 1) for role, seconds in cpu_used.items()
        }
        if applied
        else {},
    )
