"""Make Stripe's Products and Prices match the catalogue.

`read_stripe` lists what Stripe has (paginated lists of 100, never one GET per item:
an unchanged catalogue of N items costs about one list call per 100), `plan_sync`
compares it with the catalogue and returns the steps, and `apply_sync` runs them,
several at once within Stripe's rate limits (`SYNC_CONCURRENCY`, `Pace`). Products are
found by a caller-chosen id (`quire_book_<key>`), prices by their `lookup_key`. A price's amount never changes in Stripe: a new amount is a new Price that
takes over the lookup key (`transfer_lookup_key`), and the old one is archived. Nothing
is ever deleted, so past orders keep pointing at real objects.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import stripe
from stripe.params import CouponCreateParams

from shop import stripe_api
from shop.catalogue import (
    PRODUCT_ID_PREFIX,
    QUIRE_KEY_METADATA,
    QUIRE_KIND_METADATA,
    Book,
    Catalogue,
    Item,
    LookupKey,
    Plan,
    PrintCoupon,
    SellingPrice,
)
from shop.money import format_money
from shop.stripe_api import StripeFailure
from shop.stripe_client import metadata_of

Progress = Callable[[str], None]
PAGE = stripe_api.PAGE

#: Writes a sync keeps in flight at once. Each write waits for Stripe's answer (about
#: 150 ms from a server far away), so one at a time 1,000 new books (2,000 writes) take
#: minutes. `Pace` holds a live sync to 80 writes/s; keeping that rate needs 12 writes
#: in flight at 150 ms an answer and 24 at 300 ms, so latency never sets the speed
#: where Stripe's limits can. Stripe also limits requests in flight (its concurrency
#: limiter); a 429 from it is retried like any other (`LoggedHTTPClient`).
SYNC_CONCURRENCY = 24

#: Stripe's documented rate limits (requests per second, per account): 100 in live
#: mode, 25 in test mode, and 25 per endpoint (`POST /v1/products` is one). A sync
#: paces itself to 80% of them, so other traffic of the shop keeps room; the SDK
#: retries a 429 anyway (`LoggedHTTPClient`), with the same idempotency key.
STRIPE_RATE_LIVE = 100
STRIPE_RATE_TEST = 25
STRIPE_RATE_PER_ENDPOINT = 25
PACE_SHARE = 0.8


def _quiet(message: str) -> None:
    """A progress callback that says nothing."""


@dataclass(frozen=True)
class StripeCatalogue:
    """What Stripe holds of Quire's products and prices, active and archived."""

    products: Mapping[str, stripe.Product]
    prices: tuple[stripe.Price, ...]

    def price_by_lookup_key(self) -> dict[str, stripe.Price]:
        """Each lookup key's holder (an active price holds a key before an archived one)."""
        found: dict[str, stripe.Price] = {}
        for price in sorted(self.prices, key=lambda p: bool(p.active)):
            if price.lookup_key:
                found[price.lookup_key] = price
        return found


@dataclass(frozen=True)
class SyncStep:
    """One write the sync will make, described for people before it is made."""

    verb: Literal["create", "update", "archive", "reactivate", "replace"]
    kind: Literal["product", "price"]
    key: str
    detail: str
    params: Mapping[str, Any] = field(default_factory=dict)
    target_id: str | None = None
    #: The create's idempotency key: the same step, repeated after a failure or a
    #: retry, returns what Stripe made the first time instead of making it twice.
    idempotency_key: str | None = None

    def __str__(self) -> str:
        return f"  {self.verb:<10} {self.kind:<7} {self.key:<36} {self.detail}"


@dataclass(frozen=True)
class SyncPlan:
    """The ordered steps that make Stripe match the catalogue (empty: nothing to do)."""

    steps: tuple[SyncStep, ...]

    def summary(self) -> str:
        if not self.steps:
            return "Stripe already matches the catalogue: no changes."
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.verb] = counts.get(step.verb, 0) + 1
        parts = ", ".join(f"{n} to {verb}" for verb, n in counts.items())
        return f"{len(self.steps)} change(s): {parts}"


def _is_quire_product(product: stripe.Product) -> bool:
    return product.id.startswith(PRODUCT_ID_PREFIX) or QUIRE_KEY_METADATA in metadata_of(product)


def read_stripe(
    client: stripe.StripeClient,
    progress: Progress = _quiet,
    *,
    catalogue: Catalogue | None = None,
) -> StripeCatalogue:
    """Quire's products and prices as Stripe has them, from paginated lists of 100.

    One list of prices, active and archived together, each with its product expanded:
    every product that has a price comes with it, so an unchanged catalogue of N items
    costs about N/100 list calls. Products are listed as well only when that cannot be
    enough: without `catalogue`, or when one of its products was not among the prices'
    (a first sync, a new item, a product whose prices were never made).
    """
    products: dict[str, stripe.Product] = {}
    prices: list[stripe.Price] = []
    for price in stripe_api.all_prices(client, with_product=True):
        product = price.product
        if isinstance(product, str) or not _is_quire_product(product):
            continue
        products[product.id] = product
        prices.append(price)
        if len(prices) % PAGE == 0:
            progress(f"read {len(prices)} prices…")
    wanted = {item.product_id for item in catalogue.items()} if catalogue is not None else None
    if wanted is None or not wanted <= products.keys():
        for product in stripe_api.all_products(client):
            if _is_quire_product(product):
                products[product.id] = product
    progress(f"Stripe has {len(products)} Quire product(s) and {len(prices)} price(s).")
    return StripeCatalogue(products=products, prices=tuple(prices))


def _product_fields(item: Item) -> dict[str, Any]:
    kind = item.kind.prefix
    fields: dict[str, Any] = {
        "name": item.name,
        "metadata": {QUIRE_KEY_METADATA: f"{kind}:{item.key}", QUIRE_KIND_METADATA: kind},
    }
    if item.description:
        fields["description"] = item.description
    if isinstance(item, Book):
        fields["shippable"] = item.format == "print"
        fields["metadata"]["format"] = item.format
    return fields


def _product_differs(product: stripe.Product, wanted: Mapping[str, Any]) -> bool:
    metadata = metadata_of(product)
    return (
        product.name != wanted["name"]
        or (product.description or None) != wanted.get("description")
        or any(metadata.get(k) != v for k, v in wanted["metadata"].items())
        or ("shippable" in wanted and bool(product.shippable) != wanted["shippable"])
    )


def _price_matches(price: stripe.Price, wanted: SellingPrice, product_id: str) -> bool:
    recurring = price.recurring.interval if price.recurring else None
    current_product = price.product if isinstance(price.product, str) else price.product.id
    return (
        price.unit_amount == wanted.amount
        and price.currency == wanted.currency
        and recurring == wanted.interval
        and current_product == product_id
    )


def _price_params(wanted: SellingPrice, product_id: str, *, transfer: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "product": product_id,
        "currency": wanted.currency,
        "unit_amount": wanted.amount,
        "lookup_key": wanted.lookup_key,
        "metadata": {QUIRE_KEY_METADATA: wanted.lookup_key},
    }
    if wanted.interval:
        params["recurring"] = {"interval": wanted.interval}
    if transfer:
        params["transfer_lookup_key"] = True
    return params


def _describe(wanted: SellingPrice) -> str:
    amount = format_money(wanted.amount, wanted.currency)
    return f"{amount}/{wanted.interval}" if wanted.interval else amount


def plan_sync(catalogue: Catalogue, stripe_side: StripeCatalogue) -> SyncPlan:
    """The steps that make Stripe match `catalogue`; none when it already does."""
    steps: list[SyncStep] = []
    by_lookup_key = stripe_side.price_by_lookup_key()

    for item in catalogue.items():
        wanted = _product_fields(item)
        # Stripe clears a field sent empty (and refuses an empty one on create), so an
        # update sends "" for a description removed from the catalogue.
        changes = {"description": "", **wanted}
        existing = stripe_side.products.get(item.product_id)
        if existing is None:
            steps.append(
                SyncStep(
                    "create",
                    "product",
                    item.product_id,
                    repr(item.name),
                    {"id": item.product_id, **wanted},
                    idempotency_key=_create_key("product", {"id": item.product_id, **wanted}),
                )
            )
        elif not existing.active:
            steps.append(
                SyncStep(
                    "reactivate",
                    "product",
                    item.product_id,
                    repr(item.name),
                    {"active": True, **changes},
                    existing.id,
                )
            )
        elif _product_differs(existing, wanted):
            steps.append(
                SyncStep(
                    "update", "product", item.product_id, repr(item.name), changes, existing.id
                )
            )

        for selling in item.selling_prices:
            price = by_lookup_key.get(selling.lookup_key)
            if price is None:
                params = _price_params(selling, item.product_id, transfer=False)
                steps.append(
                    SyncStep(
                        "create",
                        "price",
                        selling.lookup_key,
                        _describe(selling),
                        params,
                        idempotency_key=_create_key("price", params),
                    )
                )
            elif not _price_matches(price, selling, item.product_id):
                params = _price_params(selling, item.product_id, transfer=True)
                was = format_money(price.unit_amount, price.currency)
                steps.append(
                    SyncStep(
                        "replace",
                        "price",
                        selling.lookup_key,
                        f"{_describe(selling)} (was {was}; old price archived)",
                        params,
                        # The price it replaces is part of the key: going back to an
                        # earlier amount later makes a new price, not the old answer.
                        idempotency_key=_create_key("price", params, replaces=price.id),
                    )
                )
                if price.active:
                    steps.append(
                        SyncStep(
                            "archive",
                            "price",
                            price.id,
                            f"old {selling.lookup_key}",
                            {"active": False},
                            price.id,
                        )
                    )
            elif not price.active:
                steps.append(
                    SyncStep(
                        "reactivate",
                        "price",
                        selling.lookup_key,
                        _describe(selling),
                        {"active": True},
                        price.id,
                    )
                )

    catalogue_products = {item.product_id for item in catalogue.items()}
    for price in stripe_side.prices:
        if price.active and catalogue.selling_price(price.lookup_key or "") is None:
            label = price.lookup_key or price.id
            steps.append(
                SyncStep("archive", "price", label, "no longer sold", {"active": False}, price.id)
            )
    for product in stripe_side.products.values():
        if product.active and product.id not in catalogue_products:
            steps.append(
                SyncStep(
                    "archive",
                    "product",
                    product.id,
                    "no longer in the catalogue",
                    {"active": False},
                    product.id,
                )
            )
    return SyncPlan(steps=tuple(_in_write_order(steps)))


def _create_key(kind: str, params: Mapping[str, Any], *, replaces: str | None = None) -> str:
    """A create's idempotency key: what is created, with which fields."""
    fields = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return stripe_api.idempotency_key("sync", kind, fields, replaces or "")


#: Where each step falls in the write order; steps of one phase are independent.
_PHASE = {
    ("product", "create"): 0,
    ("product", "reactivate"): 0,
    ("product", "update"): 0,
    ("price", "create"): 1,
    ("price", "replace"): 1,
    ("price", "reactivate"): 1,
    ("price", "archive"): 2,
    ("product", "archive"): 3,
}


def _in_write_order(steps: Iterable[SyncStep]) -> list[SyncStep]:
    """Products before prices (a price needs its product), new prices before archiving old."""
    return sorted(steps, key=lambda s: _PHASE[(s.kind, s.verb)])


class Pace:
    """Keeps requests within requests-per-second limits: one for the account and one
    per endpoint (a step's method and resource), each allowing a second's worth at once
    and then one every 1/limit s (a token bucket). Thread-safe; `wait` blocks the caller until its request may go. No limit:
    no wait."""

    def __init__(self, per_second: float | None, per_endpoint: float | None) -> None:
        self.per_second = per_second
        self.per_endpoint = per_endpoint
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}

    @classmethod
    def for_stripe(cls, api_key: str | None, api_base: str | None) -> Pace:
        """Stripe's limits for this key's mode, at `PACE_SHARE` of them; none for a
        server that is not Stripe's (the sandbox, which has no limit)."""
        host = (urlsplit(api_base).hostname or "") if api_base else "api.stripe.com"
        if not (host == "stripe.com" or host.endswith(".stripe.com")):
            return cls(None, None)
        live = (api_key or "").startswith(("sk_live_", "rk_live_"))
        account = STRIPE_RATE_LIVE if live else STRIPE_RATE_TEST
        return cls(account * PACE_SHARE, STRIPE_RATE_PER_ENDPOINT * PACE_SHARE)

    def wait(self, endpoint: str) -> None:
        """Block until a request to `endpoint` may be sent."""
        buckets = [
            (name, rate)
            for name, rate in (("*", self.per_second), (endpoint, self.per_endpoint))
            if rate
        ]
        if not buckets:
            return
        with self._lock:
            now = time.monotonic()
            # Each bucket keeps the time its next token is due (`tat`): a request may go
            # once it is no more than a second's worth of tokens ahead of the clock.
            send_at = max(
                [now] + [self._tat.get(name, now) - (1.0 - 1.0 / rate) for name, rate in buckets]
            )
            for name, rate in buckets:
                self._tat[name] = max(self._tat.get(name, now), send_at) + 1.0 / rate
        if send_at > now:
            time.sleep(send_at - now)


NO_PACE = Pace(None, None)


@dataclass(frozen=True)
class StepFailure:
    """A write of the sync that Stripe refused or could not be sent (`failure`), or that
    was not attempted (`reason` says why)."""

    step: SyncStep
    reason: str
    failure: StripeFailure | None = None

    def __str__(self) -> str:
        return f"{self.step.verb} {self.step.kind} {self.step.key}: {self.reason}"


class SyncIncomplete(StripeFailure):
    """Some writes failed; the others were made (and their prices are in `written`).
    A `StripeFailure` like the first failed write's, naming every failed item."""

    def __init__(self, failures: Sequence[StepFailure], applied: int) -> None:
        self.failures = tuple(failures)
        self.applied = applied
        first = next((f.failure for f in self.failures if f.failure is not None), None)
        lines = "; ".join(str(f) for f in self.failures[:5])
        more = f" (and {len(self.failures) - 5} more)" if len(self.failures) > 5 else ""
        super().__init__(
            first.kind if first else "SyncIncomplete",
            f"{len(self.failures)} change(s) failed: {lines}{more}",
            http_status=first.http_status if first else None,
            code=first.code if first else None,
            request_id=first.request_id if first else None,
        )


def _endpoint(step: SyncStep) -> str:
    resource = "products" if step.kind == "product" else "prices"
    return f"POST /v1/{resource}" + ("/{id}" if step.target_id else "")


def _write(client: stripe.StripeClient, step: SyncStep, pace: Pace) -> stripe.Price | None:
    """Make one step's write; the price as Stripe answered (None for a product)."""
    pace.wait(_endpoint(step))
    params: Any = dict(step.params)
    if step.kind == "product":
        stripe_api.save_product(client, step.target_id, params, key=step.idempotency_key)
        return None
    return stripe_api.save_price(client, step.target_id, params, key=step.idempotency_key)


def _stages(steps: Sequence[SyncStep]) -> list[list[SyncStep]]:
    """The plan's steps in stages that run one after the other: products with their
    prices (each price waits only for its own product), then archiving old prices, then
    archiving products."""
    stage_of = {0: 0, 1: 0, 2: 1, 3: 2}
    stages: list[list[SyncStep]] = [[], [], []]
    for step in steps:
        stages[stage_of[_PHASE[(step.kind, step.verb)]]].append(step)
    return [stage for stage in stages if stage]


def apply_sync(
    client: stripe.StripeClient,
    plan: SyncPlan,
    progress: Progress = _quiet,
    *,
    written: list[stripe.Price] | None = None,
    pace: Pace = NO_PACE,
    concurrency: int = SYNC_CONCURRENCY,
) -> int:
    """Make the writes of `plan`, `concurrency` at once, paced by `pace`; returns how
    many were made. A price is made once its product is (so the products' and the
    prices' endpoints are busy together), old prices are archived once every new one
    is made, products last. Each price as Stripe answered its write is appended to
    `written` (for `prices_after`), in the plan's order.

    A write Stripe refuses does not stop the others: the sync goes on (a price whose
    product could not be made is not attempted) and then raises `SyncIncomplete`
    naming each failed item, with every price made so far already in `written`.
    """
    failures: list[StepFailure] = []
    done = 0
    total = len(plan.steps)
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="sync") as pool:
        for stage in _stages(plan.steps):
            order = {id(step): n for n, step in enumerate(stage)}
            products_made_here = {step.key for step in stage if step.kind == "product"}
            waiting: dict[str, list[SyncStep]] = {}
            running: dict[Future[stripe.Price | None], SyncStep] = {}
            answers: dict[int, stripe.Price] = {}

            for step in stage:
                product = step.params.get("product") if step.kind == "price" else None
                if product in products_made_here:
                    waiting.setdefault(str(product), []).append(step)
                else:
                    running[pool.submit(_write, client, step, pace)] = step
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    step = running.pop(future)
                    followers = waiting.pop(step.key, []) if step.kind == "product" else []
                    try:
                        price = future.result()
                    except StripeFailure as failure:
                        failures.append(StepFailure(step, str(failure), failure))
                        failures.extend(
                            StepFailure(f, "its product could not be made") for f in followers
                        )
                        continue
                    for follower in followers:
                        running[pool.submit(_write, client, follower, pace)] = follower
                    if price is not None:
                        answers[order[id(step)]] = price
                    done += 1
                    if done % 25 == 0 and done < total:
                        progress(f"applied {done}/{total}…")
            if written is not None:
                written.extend(answers[n] for n in sorted(answers))
    if failures:
        raise SyncIncomplete(failures, done)
    return done


def prices_after(
    catalogue: Catalogue, stripe_side: StripeCatalogue, written: Iterable[stripe.Price] = ()
) -> list[stripe.Price]:
    """The active Price of each of the catalogue's lookup keys once the sync's writes
    are made: what `read_stripe` listed, overlaid with what each write answered (no
    further call). A key whose Price does not match the catalogue is left out."""
    by_key: dict[str, stripe.Price] = {}
    for price in (*stripe_side.prices, *written):
        if price.lookup_key:
            by_key[price.lookup_key] = price
        else:  # lost its key to a replacement (`transfer_lookup_key`)
            by_key = {k: p for k, p in by_key.items() if p.id != price.id}
    found = []
    for item in catalogue.items():
        for selling in item.selling_prices:
            now = by_key.get(selling.lookup_key)
            if now is not None and now.active and _price_matches(now, selling, item.product_id):
                found.append(now)
    return found


# Billing portal ------------------------------------------------------------------
# A fresh Stripe account refuses portal sessions until a portal configuration exists,
# so the sync keeps Quire's own: the account's default configuration, with the features
# below. Kept apart from the catalogue steps: it only reads the plans' price ids.


#: What `ensure_portal_configuration` says when the portal is already as Quire wants it.
PORTAL_UNCHANGED = "Billing portal configuration: no changes."


def ensure_portal_configuration(
    client: stripe.StripeClient,
    catalogue: Catalogue,
    *,
    dry_run: bool = False,
    prices: Iterable[stripe.Price] | None = None,
) -> str:
    """Create the default billing portal configuration, or update it if its features
    differ from Quire's; returns what was (or, with `dry_run`, would be) done.

    Quire's portal: invoice history, card update, cancellation at period end, and
    switching between the catalogue's plan prices (each plan's monthly and yearly price).
    `prices`, the active prices the sync already knows (`prices_after`), saves asking
    Stripe for the plans' prices again.
    """
    product_of = {
        plan.lookup_key(p.interval): plan.product_id  # type: ignore[arg-type]
        for plan in catalogue.plans
        for p in plan.selling_prices
    }
    if prices is None:
        prices = stripe_api.prices_by_lookup_key(client, product_of)
    plan_prices: dict[str, list[str]] = {}
    for price in prices:
        key = LookupKey.parse(price.lookup_key)
        if key is not None and key in product_of:
            plan_prices.setdefault(product_of[key], []).append(price.id)
    switching = [
        {"product": product, "prices": sorted(prices)}
        for product, prices in sorted(plan_prices.items())
        if len(prices) > 1
    ]
    wanted: dict[str, Any] = {
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
        "subscription_update": {
            "enabled": bool(switching),
            "default_allowed_updates": ["price"] if switching else [],
            "proration_behavior": "create_prorations",
            "products": switching or "",  # "" clears the list
        },
    }
    existing = stripe_api.default_portal_configuration(client)
    if existing is None:
        if not dry_run:
            stripe_api.save_portal_configuration(client, None, wanted)
        return "create   billing portal configuration"
    if _portal_features_match(existing.features.to_dict(), wanted):
        return PORTAL_UNCHANGED
    if not dry_run:
        stripe_api.save_portal_configuration(client, existing.id, wanted)
    return f"update   billing portal configuration {existing.id}"


def _portal_features_match(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether every feature setting Quire asks for is already so (products as sets)."""
    for name, settings in wanted.items():
        have = current.get(name) or {}
        for key, value in settings.items():
            if key == "products":
                got = {(p["product"], frozenset(p["prices"])) for p in have.get("products") or []}
                if got != {(p["product"], frozenset(p["prices"])) for p in value or []}:
                    return False
            elif have.get(key) != value:
                return False
    return True


# Member discounts -----------------------------------------------------------------
# One coupon per plan that gives a discount on printed books. Coupons cannot change, so
# the id names the percentage and the set of printed books (`PrintCoupon.id`): when
# either changes a new coupon is made, and the old one is left for the sessions that
# used it. An unchanged catalogue makes one read per plan and no write.


def coupon_params(coupon: PrintCoupon, plan: Plan) -> CouponCreateParams:
    """What the coupon for `plan`'s print discount is created with."""
    return {
        "id": coupon.id,
        "name": f"{plan.name} members: {coupon.percent_off}% off print"[:40],
        "percent_off": float(coupon.percent_off),
        "duration": "forever",
        "applies_to": {"products": list(coupon.product_ids)},
        "metadata": {QUIRE_KEY_METADATA: f"{plan.kind.prefix}:{plan.key}"},
    }


def ensure_plan_coupons(
    client: stripe.StripeClient, catalogue: Catalogue, *, dry_run: bool = False
) -> list[str]:
    """Create the coupon of each plan's print discount that Stripe lacks; one line per
    plan saying what was (or, with `dry_run`, would be) done."""
    lines = []
    for plan in catalogue.plans:
        wanted = catalogue.print_coupon(plan)
        if wanted is None:
            continue
        if stripe_api.coupon(client, wanted.id) is not None:
            lines.append(f"Coupon {wanted.id}: no changes.")
            continue
        if not dry_run:
            stripe_api.create_coupon(client, coupon_params(wanted, plan))
        lines.append(
            f"create   coupon {wanted.id} ({wanted.percent_off}% off "
            f"{len(wanted.product_ids)} printed book(s) for {plan.name} members)"
        )
    return lines
