"""The billing portal: its configurations (what a portal offers), and what a customer
does in it: cancel at period end, resume, switch price and update the card. Each action
runs in one store transaction and emits Stripe's events; the portal pages call them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.errors import invalid, missing_param
from ..core.ids import new_id
from ..core.params import get_bool, get_dict, get_int, get_list, get_str, merge_metadata
from ..core.shapes import blank
from ..resources.events import emit
from ..resources.objects import changed, load, save_updated
from . import billing, payments
from .engine import CardDetails, PaymentOutcome, _card_behaviour, _declined, _make_card
from .subscriptions import update_subscription

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox


def _portal_update(
    sandbox: Sandbox, subscription_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Apply ``change(subscription)`` (the fields to set), reading and writing in one
    transaction so a concurrent change is never overwritten from a stale read."""
    with sandbox.store.transaction():
        before = load(sandbox, "subscription", subscription_id)
        if before["status"] in ("canceled", "incomplete_expired"):
            raise invalid("This subscription has ended.", param="subscription")
        after = copy.deepcopy(before)
        after.update(change(before))
        return save_updated(
            sandbox,
            before,
            after,
            "customer.subscription.updated",
            created=sandbox.clock.for_customer(before["customer"]),
        )


def portal_cancel_at_period_end(sandbox: Sandbox, subscription_id: str) -> dict[str, Any]:
    """Cancel at the end of the current period (the subscription stays active until then)."""
    return _portal_update(
        sandbox,
        subscription_id,
        lambda subscription: {
            "cancel_at_period_end": True,
            "cancel_at": billing.current_period(subscription)[1],
            "cancellation_details": dict(
                subscription["cancellation_details"], reason="cancellation_requested"
            ),
        },
    )


def portal_resume(sandbox: Sandbox, subscription_id: str) -> dict[str, Any]:
    """Undo a pending cancellation."""
    return _portal_update(
        sandbox,
        subscription_id,
        lambda subscription: {
            "cancel_at_period_end": False,
            "cancel_at": None,
            "cancellation_details": dict(subscription["cancellation_details"], reason=None),
        },
    )


def portal_switch_price(sandbox: Sandbox, subscription_id: str, price_id: str) -> dict[str, Any]:
    """Move the subscription to another price, prorating the rest of the period."""
    with sandbox.store.transaction():
        subscription = load(sandbox, "subscription", subscription_id)
        item = subscription["items"]["data"][0]
        return update_subscription(
            sandbox,
            subscription_id,
            {
                "items": [{"id": item["id"], "price": price_id}],
                "proration_behavior": "create_prorations",
            },
        )


def portal_update_card(
    sandbox: Sandbox, customer_id: str, details: CardDetails, *, pay_open_invoices: bool = True
) -> PaymentOutcome:
    """Save a new card as the customer's default for invoices and subscriptions, and
    (as the portal does, unless `pay_open_invoices` is false: a card saved some other
    way, say, leaving the open invoice to its retry schedule or to `/pay`) charge it for
    the open invoice of each past-due subscription.

    Decline cards cannot be attached: the outcome is ``declined`` with Stripe's message.
    """
    with sandbox.store.transaction():
        customer = load(sandbox, "customer", customer_id)
        now = sandbox.clock.for_customer(customer_id)
        found = _card_behaviour(details, now)
        if found.now is not None:
            return _declined(found.now)
        pm = _make_card(
            sandbox,
            details,
            found,
            payments.billing_details(details.name, customer.get("email")),
            now,
        )
        payments.attach(sandbox, pm, customer_id, now)
        after = copy.deepcopy(customer)
        after["invoice_settings"] = dict(
            customer.get("invoice_settings") or {}, default_payment_method=pm["id"]
        )
        save_updated(sandbox, customer, after, "customer.updated", created=now)
        for subscription in sandbox.store.list("subscription", customer=customer_id):
            if subscription["status"] in billing.LIVE_STATUSES:
                updated = dict(subscription, default_payment_method=pm["id"])
                save_updated(
                    sandbox, subscription, updated, "customer.subscription.updated", created=now
                )
        # As Stripe's portal does, a new card pays what a refused renewal left open at
        # once, rather than at the next scheduled retry.
        for past_due in sandbox.store.list("subscription", customer=customer_id, status="past_due"):
            if pay_open_invoices and past_due.get("_retry_invoice"):
                billing.retry(sandbox, load(sandbox, "subscription", past_due["id"]), now)
        return PaymentOutcome("succeeded")


# Portal configurations -----------------------------------------------------------

#: Stripe's answer to a portal session in a test account whose portal was never set up.
NOT_SET_UP = (
    "You can’t create a portal session in test mode until you save your customer portal "
    "settings in test mode at https://dashboard.stripe.com/test/settings/billing/portal."
)

#: Each feature as a new configuration has it when the create request leaves it out.
FEATURE_DEFAULTS: dict[str, dict[str, Any]] = {
    "customer_update": {"allowed_updates": [], "enabled": False},
    "invoice_history": {"enabled": False},
    "payment_method_update": {"enabled": False, "payment_method_configuration": None},
    "subscription_cancel": {
        "cancellation_reason": {"enabled": False, "options": []},
        "enabled": False,
        "mode": "at_period_end",
        "proration_behavior": "none",
    },
    "subscription_update": {
        "billing_cycle_anchor": None,
        "default_allowed_updates": [],
        "enabled": False,
        "products": [],
        "proration_behavior": "none",
        "schedule_at_period_end": {"conditions": []},
        "trial_update_behavior": "end_trial",
    },
}

_LISTS = ("allowed_updates", "default_allowed_updates", "options")


def _update_products(sandbox: Sandbox, raw: list[Any], param: str) -> list[dict[str, Any]]:
    """``subscription_update.products``: each product with the prices customers may pick."""
    products = []
    for index, entry in enumerate(raw):
        where = f"{param}[{index}]"
        if not isinstance(entry, dict):
            raise invalid("Invalid object", param=where)
        product_id = get_str(entry, "product", required=True) or ""
        load(sandbox, "product", product_id, param=f"{where}[product]", status=400)
        prices = [str(p) for p in get_list(entry, "prices")]
        if not prices:
            raise missing_param(f"{where}[prices]")
        for price_id in prices:
            price = load(sandbox, "price", price_id, param=f"{where}[prices]", status=400)
            if price["product"] != product_id or not price.get("recurring"):
                raise invalid(
                    f"The price {price_id} must be a recurring price of product {product_id}.",
                    param=f"{where}[prices]",
                )
        quantity = get_dict(entry, "adjustable_quantity")
        products.append(
            {
                "adjustable_quantity": {
                    "enabled": bool(get_bool(quantity, "enabled")),
                    "maximum": get_int(quantity, "maximum"),
                    "minimum": get_int(quantity, "minimum") or 1,
                },
                "prices": prices,
                "product": product_id,
            }
        )
    return products


def _feature(
    sandbox: Sandbox, name: str, given: dict[str, Any], current: dict[str, Any]
) -> dict[str, Any]:
    """``current`` with the fields of ``given`` (as sent) applied."""
    feature = copy.deepcopy(current)
    for key, value in given.items():
        param = f"features[{name}][{key}]"
        if key not in feature:
            raise invalid(f"Received unknown parameter: {param}", param=param)
        if key == "enabled":
            feature[key] = bool(get_bool(given, key))
        elif key == "products":
            feature[key] = _update_products(sandbox, get_list(given, key), param)
        elif key in _LISTS:
            feature[key] = [str(v) for v in get_list(given, key)]
        elif isinstance(feature[key], dict) and isinstance(value, dict):
            feature[key] = _feature(sandbox, f"{name}][{key}", value, feature[key])
        else:
            feature[key] = get_str(given, key)
    return feature


def _features(sandbox: Sandbox, given: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    features = copy.deepcopy(current)
    for name in given:
        if name not in FEATURE_DEFAULTS:
            raise invalid(
                f"Received unknown parameter: features[{name}]", param=f"features[{name}]"
            )
        features[name] = _feature(sandbox, name, get_dict(given, name), features[name])
    return features


def _settings(sandbox: Sandbox, params: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The fields a create or update request sets, applied to ``config``."""
    fields: dict[str, Any] = {}
    if "features" in params:
        fields["features"] = _features(sandbox, get_dict(params, "features"), config["features"])
    if "business_profile" in params:
        profile = get_dict(params, "business_profile")
        fields["business_profile"] = dict(
            config["business_profile"], **{k: get_str(profile, k) for k in profile}
        )
    if "default_return_url" in params:
        fields["default_return_url"] = get_str(params, "default_return_url")
    if "login_page" in params:
        enabled = bool(get_bool(get_dict(params, "login_page"), "enabled"))
        fields["login_page"] = {"enabled": enabled, "url": None}
    if "metadata" in params:
        fields["metadata"] = merge_metadata(config.get("metadata") or {}, params["metadata"])
    if "name" in params:
        fields["name"] = get_str(params, "name")
    if "active" in params:
        fields["active"] = bool(get_bool(params, "active"))
    return fields


def create_configuration(sandbox: Sandbox, params: dict[str, Any]) -> dict[str, Any]:
    """A portal configuration (``billing_portal.configuration.created``).

    The first one of the account becomes its default, as saving the portal settings
    in a fresh test account does; later ones are used only when a session names them.
    """
    if not get_dict(params, "features"):
        raise missing_param("features")
    now = sandbox.clock.wall()
    config = blank(
        "billing_portal.configuration",
        id=new_id("bpc_"),
        active=True,
        application=None,
        business_profile={
            "headline": None,
            "privacy_policy_url": None,
            "terms_of_service_url": None,
        },
        created=now,
        default_return_url=None,
        features=copy.deepcopy(FEATURE_DEFAULTS),
        is_default=not sandbox.store.list("billing_portal.configuration", is_default=True),
        login_page={"enabled": False, "url": None},
        metadata={},
        name=None,
        updated=now,
    )
    config.update(_settings(sandbox, params, config))
    sandbox.store.put(config)
    emit(sandbox, "billing_portal.configuration.created", config, created=now)
    return config


def update_configuration(
    sandbox: Sandbox, config_id: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Change a configuration (``billing_portal.configuration.updated`` when anything changed)."""
    before = load(sandbox, "billing_portal.configuration", config_id)
    after = copy.deepcopy(before)
    after.update(_settings(sandbox, params, before))
    if changed(before, after):
        after["updated"] = sandbox.clock.wall()
    return save_updated(sandbox, before, after, "billing_portal.configuration.updated")


def session_configuration(sandbox: Sandbox, config_id: str | None) -> str:
    """The configuration a new portal session uses: the named one, else the default."""
    if config_id:
        config = load(sandbox, "billing_portal.configuration", config_id, param="configuration")
        if not config["active"]:
            raise invalid(
                "You can't create a portal session with an inactive configuration.",
                param="configuration",
            )
        return config_id
    defaults = sandbox.store.list("billing_portal.configuration", is_default=True, active=True)
    if not defaults:
        raise invalid(NOT_SET_UP)
    return str(defaults[0]["id"])


def configuration_of(sandbox: Sandbox, portal: dict[str, Any]) -> dict[str, Any]:
    """The features a portal session offers (from its configuration)."""
    config = sandbox.store.get_typed(
        "billing_portal.configuration", str(portal.get("configuration"))
    )
    return (config or {}).get("features") or copy.deepcopy(FEATURE_DEFAULTS)
