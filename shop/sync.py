"""Make Stripe's Products and Prices match the catalogue.

`read_stripe` lists what Stripe has (paginated lists of 100, never one GET per item),
`plan_sync` compares it with the catalogue and returns the steps, and `apply_sync` runs
them. Products are found by a caller-chosen id (`quire_book_<key>`), prices by their
`lookup_key`. A price's amount never changes in Stripe: a new amount is a new Price that
takes over the lookup key (`transfer_lookup_key`), and the old one is archived. Nothing
is ever deleted, so past orders keep pointing at real objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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
from shop.stripe_client import metadata_of

Progress = Callable[[str], None]
PAGE = stripe_api.PAGE


def _quiet(message: str) -> None:
    """A progress callback that says nothing."""


@dataclass(frozen=True)
class StripeCatalogue:
    """What Stripe holds of Quire's products and prices, active and archived."""

    products: Mapping[str, stripe.Product]
    prices: tuple[stripe.Price, ...]

    def price_by_lookup_key(self) -> dict[str, stripe.Price]:
        return {p.lookup_key: p for p in self.prices if p.lookup_key}


@dataclass(frozen=True)
class SyncStep:
    """One write the sync will make, described for people before it is made."""

    verb: Literal["create", "update", "archive", "reactivate", "replace"]
    kind: Literal["product", "price"]
    key: str
    detail: str
    params: Mapping[str, Any] = field(default_factory=dict)
    target_id: str | None = None

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


def read_stripe(client: stripe.StripeClient, progress: Progress = _quiet) -> StripeCatalogue:
    """List Quire's products and prices from Stripe with paginated list calls."""
    products: dict[str, stripe.Product] = {}
    for product in stripe_api.all_products(client):
        if _is_quire_product(product):
            products[product.id] = product
        if len(products) and len(products) % PAGE == 0:
            progress(f"read {len(products)} products…")
    prices: list[stripe.Price] = []
    for active in (True, False):
        for price in stripe_api.all_prices(client, active=active):
            product_id = price.product if isinstance(price.product, str) else price.product.id
            if product_id in products:
                prices.append(price)
                if len(prices) % PAGE == 0:
                    progress(f"read {len(prices)} prices…")
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
                    SyncStep("create", "price", selling.lookup_key, _describe(selling), params)
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


def _in_write_order(steps: Iterable[SyncStep]) -> list[SyncStep]:
    """Products before prices (a price needs its product), new prices before archiving old."""
    order = {
        ("product", "create"): 0,
        ("product", "reactivate"): 0,
        ("product", "update"): 0,
        ("price", "create"): 1,
        ("price", "replace"): 1,
        ("price", "reactivate"): 1,
        ("price", "archive"): 2,
        ("product", "archive"): 3,
    }
    return sorted(steps, key=lambda s: order[(s.kind, s.verb)])


def apply_sync(
    client: stripe.StripeClient,
    plan: SyncPlan,
    progress: Progress = _quiet,
    *,
    written: list[stripe.Price] | None = None,
) -> int:
    """Make each write of `plan` in order; returns how many were made. Each price as
    Stripe answered the write is appended to `written` (for `prices_after`)."""
    for done, step in enumerate(plan.steps, start=1):
        params: Any = dict(step.params)
        if step.kind == "product":
            stripe_api.save_product(client, step.target_id, params)
        else:
            price = stripe_api.save_price(client, step.target_id, params)
            if written is not None:
                written.append(price)
        if done % 25 == 0 and done < len(plan.steps):
            progress(f"applied {done}/{len(plan.steps)}…")
    return len(plan.steps)


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
    client: stripe.StripeClient, catalogue: Catalogue, *, dry_run: bool = False
) -> str:
    """Create the default billing portal configuration, or update it if its features
    differ from Quire's; returns what was (or, with `dry_run`, would be) done.

    Quire's portal: invoice history, card update, cancellation at period end, and
    switching between the catalogue's plan prices (each plan's monthly and yearly price).
    """
    product_of = {
        plan.lookup_key(p.interval): plan.product_id  # type: ignore[arg-type]
        for plan in catalogue.plans
        for p in plan.selling_prices
    }
    plan_prices: dict[str, list[str]] = {}
    for price in stripe_api.prices_by_lookup_key(client, product_of):
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
