"""A first sync makes its creates several at once, each with its idempotency key, within
Stripe's rate limits; a 429 is retried with the same key; one refused item is named and
does not cost the others' records."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import responses
from flask import Flask
from flask.testing import FlaskCliRunner

from shop import sync
from shop.catalogue import parse_catalogue
from shop.extensions import db
from shop.models import StripePrice
from shop.stripe_client import LoggedHTTPClient, build_client
from tests.stripe_fakes import FakePortalConfigurations, FakeProductsAndPrices

Answer = tuple[int, dict[str, str], str]


def books_yaml(count: int) -> str:
    return "books:\n" + "".join(
        f"  - key: book-{n}\n    title: Book {n}\n    author: A\n    price: {100 + n}\n"
        f"    currency: gbp\n    format: ebook\n    files: [{{format: epub, path: x.epub}}]\n"
        for n in range(count)
    )


def refusal(status: int, message: str, code: str = "") -> Answer:
    body = {"error": {"type": "invalid_request_error", "message": message, "code": code}}
    return status, {"Request-Id": "req_refused"}, json.dumps(body)


@pytest.fixture
def stripe_catalogue(fake_stripe: responses.RequestsMock) -> FakeProductsAndPrices:
    FakePortalConfigurations(fake_stripe)
    return FakeProductsAndPrices(fake_stripe)


def first_sync(count: int, retries: int = 0) -> tuple[sync.SyncPlan, int]:
    catalogue = parse_catalogue(books_yaml(count), Path("products.yaml"))
    client = build_client("sk_test_unit", max_network_retries=retries)
    plan = sync.plan_sync(catalogue, sync.read_stripe(client))
    return plan, sync.apply_sync(client, plan)


def test_a_first_sync_creates_everything_several_at_once_each_with_its_own_key(
    stripe_catalogue: FakeProductsAndPrices,
) -> None:
    """The first creates are in flight together (each waits at a barrier for the
    others: made one at a time, the first would wait alone and fail); every create
    carries an idempotency key of its own, and a second plan of the same catalogue
    would send the same keys."""
    together = threading.Barrier(4, timeout=10)
    waited: list[str] = []

    def wait_for_company(method: str, path: str, params: dict[str, str]) -> Answer | None:
        if method == "POST" and len(waited) < 4:
            waited.append(path)
            together.wait()
        return None

    stripe_catalogue.before = wait_for_company
    plan, applied = first_sync(40)

    assert applied == 80 == len(plan.steps)
    assert len(stripe_catalogue.products) == 40 and len(stripe_catalogue.prices) == 40
    assert {p["lookup_key"] for p in stripe_catalogue.prices.values()} == {
        f"book:book-{n}" for n in range(40)
    }
    keys = [key for _, key in stripe_catalogue.idempotency_keys]
    assert all(key and key.startswith("quire-") for key in keys)
    assert len(set(keys)) == 80
    again = sync.plan_sync(
        parse_catalogue(books_yaml(40), Path("products.yaml")), sync.StripeCatalogue({}, ())
    )
    assert {s.idempotency_key for s in again.steps} == set(keys)


def test_each_price_is_made_after_its_product(stripe_catalogue: FakeProductsAndPrices) -> None:
    """A price needs its product: with writes running at once, each price is sent only
    once its own product was made (not after every product)."""
    sent: list[str] = []
    lock = threading.Lock()

    def note(method: str, path: str, params: dict[str, str]) -> Answer | None:
        if method == "POST":
            with lock:
                sent.append(
                    params["id"] if path == "/v1/products" else "price:" + params["product"]
                )
        return None

    stripe_catalogue.before = note
    first_sync(30)
    assert len(sent) == 60
    for n in range(30):
        product = f"quire_book_book-{n}"
        assert sent.index(product) < sent.index("price:" + product)


def test_a_rate_limited_create_is_retried_with_the_same_key(
    stripe_catalogue: FakeProductsAndPrices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stripe's 429 is retried by the SDK (which alone would not: only with
    `Stripe-Should-Retry`), with the same idempotency key, and made once."""
    monkeypatch.setattr(LoggedHTTPClient, "_sleep_time_seconds", lambda self, n: 0.0)
    limited: list[str] = []

    def limit_once(method: str, path: str, params: dict[str, str]) -> Answer | None:
        if method == "POST" and params.get("id") == "quire_book_book-3" and not limited:
            limited.append(path)
            return refusal(429, "Too many requests", "rate_limit")
        return None

    stripe_catalogue.before = limit_once
    _, applied = first_sync(5, retries=2)

    assert applied == 10 and limited == ["/v1/products"]
    assert "quire_book_book-3" in stripe_catalogue.products
    keys = [key for path, key in stripe_catalogue.idempotency_keys if path == "/v1/products"]
    assert len(keys) == 6 and len(set(keys)) == 5  # the retry repeated its key


def test_one_refused_item_is_named_and_the_others_are_made_and_recorded(
    app: Flask, runner: FlaskCliRunner, stripe_catalogue: FakeProductsAndPrices
) -> None:
    """`catalog sync` goes on past a price Stripe refuses, names it, exits 2, and the
    prices it did make are recorded for checkout; the next sync makes only the rest."""

    def refuse_dune(method: str, path: str, params: dict[str, str]) -> Answer | None:
        if path == "/v1/prices" and params.get("lookup_key") == "book:salt-road-ebook":
            return refusal(400, "Currency gbp is not supported here.")
        return None

    stripe_catalogue.before = refuse_dune
    result = runner.invoke(args=["catalog", "sync"])

    assert result.exit_code == 2, result.output
    assert "1 failed" in result.output
    assert "create price book:salt-road-ebook" in result.output
    assert "Currency gbp is not supported here." in result.output
    with app.app_context():
        recorded = set(db.session.execute(db.select(StripePrice.lookup_key)).scalars())
    assert len(recorded) == 10  # 11 lookup keys in the test catalogue, one refused
    assert "book:salt-road-ebook" not in recorded

    stripe_catalogue.before = None
    writes = len(stripe_catalogue.writes)
    again = runner.invoke(args=["catalog", "sync"])
    assert again.exit_code == 0, again.output
    assert "1 change(s): 1 to create" in again.output
    assert len(stripe_catalogue.writes) == writes + 1


def test_a_product_refused_leaves_its_prices_unattempted_and_named(
    stripe_catalogue: FakeProductsAndPrices,
) -> None:
    def refuse_book_2(method: str, path: str, params: dict[str, str]) -> Answer | None:
        if path == "/v1/products" and params.get("id") == "quire_book_book-2":
            return refusal(400, "Invalid product.")
        return None

    stripe_catalogue.before = refuse_book_2
    with pytest.raises(sync.SyncIncomplete) as caught:
        first_sync(4)
    failed = [(f.step.kind, f.step.key) for f in caught.value.failures]
    assert failed == [("product", "quire_book_book-2"), ("price", "book:book-2")]
    assert "its product could not be made" in str(caught.value)
    assert caught.value.applied == 6
    assert sorted(stripe_catalogue.products) == [f"quire_book_book-{n}" for n in (0, 1, 3)]


@pytest.mark.parametrize(
    ("key", "base", "limits"),
    [
        ("sk_live_x", None, (80.0, 20.0)),
        ("sk_test_x", None, (20.0, 20.0)),
        ("rk_live_x", "https://api.stripe.com", (80.0, 20.0)),
        ("sk_test_sandbox", "http://127.0.0.1:12111", (None, None)),
    ],
)
def test_the_pace_follows_stripes_limits_for_the_key(
    key: str, base: str | None, limits: tuple[float | None, float | None]
) -> None:
    """80% of Stripe's documented limits (live 100/s, test 25/s, 25/s per endpoint);
    none against a server that is not Stripe's."""
    pace = sync.Pace.for_stripe(key, base)
    assert (pace.per_second, pace.per_endpoint) == limits


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The sync's clock, moved only by its sleeps."""
    now = [1000.0]
    monkeypatch.setattr(sync.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(sync.time, "sleep", lambda s: now.__setitem__(0, now[0] + s))
    return now


def send_times(pace: sync.Pace, clock: list[float], endpoints: list[str]) -> list[float]:
    sent = []
    for endpoint in endpoints:
        pace.wait(endpoint)
        sent.append(round(clock[0] - 1000.0, 3))
    return sent


def test_the_pace_lets_a_seconds_worth_go_at_once_then_spaces_the_rest(
    clock: list[float],
) -> None:
    pace = sync.Pace(per_second=10, per_endpoint=None)
    sent = send_times(pace, clock, ["POST /v1/products"] * 6 + ["POST /v1/prices"] * 6)
    assert sent == [0.0] * 10 + [0.1, 0.2]


def test_each_endpoint_has_its_own_limit_within_the_accounts(clock: list[float]) -> None:
    pace = sync.Pace(per_second=100, per_endpoint=5)
    products = send_times(pace, clock, ["POST /v1/products"] * 7)
    assert products == [0.0] * 5 + [0.2, 0.4]
    prices = send_times(pace, clock, ["POST /v1/prices"] * 6)
    assert prices == [0.4] * 5 + [0.6]  # not held back by the products' endpoint
