"""Checkout Sessions: validation like Stripe's, line items, expiry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.errors import StripeError, exclusive, invalid, missing_param, no_such
from ..core.ids import new_id, random_token
from ..core.params import get_bool, get_dict, get_int, get_list, get_str
from ..core.shapes import blank
from ..resources.catalog import create_price, get_price
from ..resources.coupons import applies_to_product, redeemable, split_discount
from ..resources.events import emit
from ..resources.objects import load
from ..resources.shipping_rates import create_shipping_rate

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

MIN_EXPIRY = 30 * 60
MAX_EXPIRY = 24 * 60 * 60
MODES = ("payment", "subscription", "setup")
MAX_SHIPPING_OPTIONS = 5
REDISPLAY = ("always", "limited", "unspecified")


def _line_items(sandbox: Sandbox, params: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    raw = get_list(params, "line_items")
    if not raw and mode != "setup":
        raise missing_param("line_items")
    limit = 100 if mode == "payment" else 40
    if len(raw) > limit:
        raise invalid(f"You may only specify up to {limit} line items.", param="line_items")
    items = []
    for index, entry in enumerate(raw):
        prefix = f"line_items[{index}]"
        if not isinstance(entry, dict):
            raise invalid("Invalid object", param=prefix)
        price_id = get_str(entry, "price")
        if price_id:
            price = get_price(sandbox, price_id, f"{prefix}[price]")
            if not price["active"]:
                raise invalid(
                    "The price specified is inactive. This field only accepts active prices.",
                    param=f"{prefix}[price]",
                )
        elif isinstance(entry.get("price_data"), dict):
            price = create_price(
                sandbox,
                {**entry["price_data"], "active": "false"},
                param_prefix=f"{prefix}[price_data]",
            )
        else:
            raise missing_param(f"{prefix}[price]")
        quantity = get_int(entry, "quantity", param=f"{prefix}[quantity]")
        quantity = 1 if quantity is None else quantity
        if quantity < 1:
            raise invalid(
                "Quantity must be at least 1.",
                param=f"{prefix}[quantity]",
                code="parameter_invalid_integer",
            )
        if price["recurring"] and mode == "payment":
            raise invalid(
                "You must be in `subscription` mode to use recurring prices.",
                param=f"{prefix}[price]",
            )
        product = sandbox.store.get(price["product"]) or {}
        amount = int(price["unit_amount"]) * quantity
        items.append(
            blank(
                "item",
                id=new_id("li_"),
                adjustable_quantity=None,
                amount_discount=0,
                amount_subtotal=amount,
                amount_tax=0,
                amount_total=amount,
                currency=price["currency"],
                description=product.get("name"),
                metadata=get_dict(entry, "metadata"),
                price=price,
                quantity=quantity,
            )
        )
    if mode == "subscription" and not any(i["price"]["recurring"] for i in items):
        raise invalid(
            "You must specify at least one recurring price in `subscription` mode when using prices.",
            param="line_items",
        )
    currencies = {i["currency"] for i in items}
    if len(currencies) > 1:
        raise invalid("All prices must use the same currency.", param="line_items")
    return items


def _trial_days(params: dict[str, Any], mode: str) -> int | None:
    data = get_dict(params, "subscription_data")
    if not data:
        return None
    if mode != "subscription":
        raise invalid(
            "`subscription_data` can only be used in `subscription` mode.",
            param="subscription_data",
        )
    days = get_int(data, "trial_period_days", param="subscription_data[trial_period_days]")
    if days is not None and not 1 <= days <= 730:
        raise invalid(
            "The trial period must be between 1 and 730 days.",
            param="subscription_data[trial_period_days]",
            code="parameter_invalid_integer",
        )
    return days


def _mode_and_success_url(params: dict[str, Any]) -> tuple[str, str | None]:
    mode = get_str(params, "mode", required=True) or ""
    if mode not in MODES:
        raise invalid(f"Invalid mode: must be one of {', '.join(MODES)}", param="mode")
    success_url = get_str(params, "success_url")
    if success_url is None and get_str(params, "ui_mode") not in ("embedded", "custom"):
        raise missing_param("success_url")
    return mode, success_url


def _customer_params(
    sandbox: Sandbox, params: dict[str, Any], mode: str
) -> tuple[str | None, str | None, str | None]:
    """``(customer, customer_email, customer_creation)``, checked against each other."""
    customer_id = get_str(params, "customer")
    customer_email = get_str(params, "customer_email")
    if customer_id and customer_email:
        raise exclusive("customer", "customer_email")
    if customer_id:
        load(sandbox, "customer", customer_id, param="customer", status=400)
    customer_creation = get_str(params, "customer_creation")
    if customer_creation is not None:
        if mode == "subscription":
            raise invalid(
                "`customer_creation` can only be used in `payment` and `setup` mode.",
                param="customer_creation",
            )
        if customer_creation not in ("always", "if_required"):
            raise invalid("Invalid customer_creation", param="customer_creation")
        if customer_id:
            raise exclusive("customer", "customer_creation")
    elif mode != "subscription" and not customer_id:
        customer_creation = "if_required"
    return customer_id, customer_email, customer_creation


def _expires_at(params: dict[str, Any], now: int) -> int:
    expires_at = get_int(params, "expires_at")
    if expires_at is None:
        return now + MAX_EXPIRY
    if expires_at - now < MIN_EXPIRY:
        raise invalid(
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
            param="expires_at",
        )
    if expires_at - now > MAX_EXPIRY:
        raise invalid(
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            param="expires_at",
        )
    return expires_at


def _options(params: dict[str, Any], mode: str) -> dict[str, Any]:
    """Checked optional settings: reference, shipping countries, PaymentIntent data, saving."""
    client_reference_id = get_str(params, "client_reference_id")
    if client_reference_id and len(client_reference_id) > 200:
        raise invalid(
            "client_reference_id must be at most 200 characters.", param="client_reference_id"
        )
    shipping = get_dict(params, "shipping_address_collection")
    countries = [str(c).upper() for c in get_list(shipping, "allowed_countries")]
    if shipping and not countries:
        raise missing_param("shipping_address_collection[allowed_countries]")
    payment_intent_data = get_dict(params, "payment_intent_data")
    if payment_intent_data and mode != "payment":
        raise invalid(
            "`payment_intent_data` can only be used in `payment` mode.", param="payment_intent_data"
        )
    return {
        "client_reference_id": client_reference_id,
        "shipping_address_collection": {"allowed_countries": countries} if countries else None,
        "_payment_intent_data": payment_intent_data,
    }


def _saved_payment_methods(params: dict[str, Any], customer_id: str | None) -> dict[str, Any]:
    """``saved_payment_method_options``, and whether the page offers the customer's saved
    cards (``_show_saved``: a customer, and saving or redisplay filters asked for)."""
    saved = get_dict(params, "saved_payment_method_options")
    prefix = "saved_payment_method_options"
    filters = [str(f) for f in get_list(saved, "allow_redisplay_filters")]
    for index, value in enumerate(filters):
        if value not in REDISPLAY:
            raise invalid(
                f"Invalid {prefix}[allow_redisplay_filters][{index}]: must be one of "
                + ", ".join(REDISPLAY),
                param=f"{prefix}[allow_redisplay_filters][{index}]",
            )
    choices = {}
    for key in ("payment_method_save", "payment_method_remove"):
        value = get_str(saved, key) or "disabled"
        if value not in ("enabled", "disabled"):
            raise invalid(
                f"Invalid {prefix}[{key}]: must be one of enabled, disabled",
                param=f"{prefix}[{key}]",
            )
        choices[key] = value
    return {
        "saved_payment_method_options": {
            "allow_redisplay_filters": filters or ["always"],
            **choices,
        },
        "_show_saved": bool(customer_id)
        and (choices["payment_method_save"] == "enabled" or bool(filters)),
    }


def _coupon(
    sandbox: Sandbox, params: dict[str, Any], currency: str | None
) -> dict[str, Any] | None:
    """The coupon named by ``discounts`` (one at most), checked like Stripe."""
    raw = get_list(params, "discounts")
    if not raw:
        return None
    if get_bool(params, "allow_promotion_codes"):
        raise exclusive("allow_promotion_codes", "discounts")
    if len(raw) > 1:
        raise invalid("You may only specify one discount.", param="discounts")
    entry = raw[0]
    if not isinstance(entry, dict):
        raise invalid("Invalid object", param="discounts[0]")
    coupon_id = get_str(entry, "coupon")
    promotion_code = get_str(entry, "promotion_code")
    if coupon_id and promotion_code:
        raise exclusive("discounts[0][coupon]", "discounts[0][promotion_code]")
    if promotion_code:
        raise no_such(
            "promotion code", promotion_code, param="discounts[0][promotion_code]", status=400
        )
    if not coupon_id:
        raise missing_param("discounts[0][coupon]")
    return redeemable(sandbox, coupon_id, "discounts[0][coupon]", currency)


def _apply_coupon(items: list[dict[str, Any]], coupon: dict[str, Any], trial: bool) -> None:
    """Take the coupon off the items whose product it covers (``amount_discount``);
    recurring items in a free trial are not due now, so get nothing off."""
    eligible = [
        item
        for item in items
        if applies_to_product(coupon, str(item["price"]["product"]))
        and not (trial and item["price"]["recurring"])
    ]
    shares = split_discount(coupon, [int(item["amount_subtotal"]) for item in eligible])
    for item, off in zip(eligible, shares, strict=True):
        item["amount_discount"] = off
        item["amount_total"] = int(item["amount_subtotal"]) - off


def _shipping_options(
    sandbox: Sandbox, params: dict[str, Any], mode: str, currency: str | None
) -> list[dict[str, Any]]:
    """The shipping rates ``shipping_options`` names or describes (payment mode only)."""
    raw = get_list(params, "shipping_options")
    if not raw:
        return []
    if mode != "payment":
        raise invalid(
            "`shipping_options` can only be used in `payment` mode.", param="shipping_options"
        )
    if len(raw) > MAX_SHIPPING_OPTIONS:
        raise invalid(
            f"You may only specify up to {MAX_SHIPPING_OPTIONS} shipping options.",
            param="shipping_options",
        )
    rates = []
    for index, entry in enumerate(raw):
        prefix = f"shipping_options[{index}]"
        if not isinstance(entry, dict):
            raise invalid("Invalid object", param=prefix)
        rate_id = get_str(entry, "shipping_rate")
        data = entry.get("shipping_rate_data")
        if rate_id and data:
            raise exclusive(f"{prefix}[shipping_rate]", f"{prefix}[shipping_rate_data]")
        if rate_id:
            rate = load(
                sandbox, "shipping_rate", rate_id, param=f"{prefix}[shipping_rate]", status=400
            )
            if not rate["active"]:
                raise invalid(
                    "The shipping rate specified is inactive.", param=f"{prefix}[shipping_rate]"
                )
        elif isinstance(data, dict):
            rate = create_shipping_rate(sandbox, data, param_prefix=f"{prefix}[shipping_rate_data]")
        else:
            raise missing_param(f"{prefix}[shipping_rate]")
        if currency and rate["fixed_amount"]["currency"] != currency:
            raise invalid(
                "The shipping rate's currency must match the currency of the line items.",
                param=f"{prefix}[shipping_rate]",
            )
        rates.append(rate)
    return rates


def _due_now(session: dict[str, Any]) -> list[dict[str, Any]]:
    """The line items paid today (recurring ones wait for the end of a free trial)."""
    trial = (session.get("_subscription_data") or {}).get("trial_period_days")
    return [i for i in session["_line_items"] if not (trial and i["price"]["recurring"])]


def set_totals(session: dict[str, Any]) -> None:
    """``amount_subtotal``, ``amount_total`` and ``total_details`` from the items due
    now, their discounts and the chosen shipping."""
    due = _due_now(session)
    subtotal = sum(int(i["amount_subtotal"]) for i in due)
    discount = sum(int(i["amount_discount"]) for i in due)
    shipping = int((session.get("shipping_cost") or {}).get("amount_total") or 0)
    session.update(
        amount_subtotal=subtotal,
        amount_total=subtotal - discount + shipping,
        total_details={
            "amount_discount": discount,
            "amount_shipping": shipping,
            "amount_tax": 0,
        },
    )


def choose_shipping_rate(sandbox: Sandbox, session: dict[str, Any], rate_id: str | None) -> None:
    """Make one of the session's shipping options its ``shipping_cost`` (None keeps the
    current one) and update the totals; 400 for a rate the session does not offer."""
    if rate_id is None:
        return
    offered = [str(option["shipping_rate"]) for option in session.get("shipping_options") or []]
    if rate_id not in offered:
        raise invalid("Choose one of the shipping options offered.", param="shipping_rate")
    rate = sandbox.store.get(rate_id) or {}
    amount = int((rate.get("fixed_amount") or {}).get("amount") or 0)
    session["shipping_cost"] = {
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "shipping_rate": rate_id,
    }
    set_totals(session)


def _session_defaults() -> dict[str, Any]:
    """The fields of a new session that no create parameter sets."""
    return {
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer_details": None,
        "discounts": [],
        "invoice": None,
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "setup_intent": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "subscription": None,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "wallet_options": None,
    }


def create_session(sandbox: Sandbox, params: dict[str, Any]) -> dict[str, Any]:
    """Validate and create an open Checkout Session."""
    mode, success_url = _mode_and_success_url(params)
    customer_id, customer_email, customer_creation = _customer_params(sandbox, params, mode)
    items = _line_items(sandbox, params, mode)
    trial_days = _trial_days(params, mode)
    now = sandbox.clock.for_customer(customer_id)
    expires_at = _expires_at(params, now)
    options = _options(params, mode)
    currency = items[0]["currency"] if items else get_str(params, "currency")
    coupon = _coupon(sandbox, params, currency)
    if coupon is not None:
        _apply_coupon(items, coupon, bool(trial_days))
    rates = _shipping_options(sandbox, params, mode, currency)
    session_id = "cs_test_" + random_token(58)
    session = blank(
        "checkout.session",
        id=session_id,
        **_session_defaults(),
        **options,
        **_saved_payment_methods(params, customer_id),
        allow_promotion_codes=get_bool(params, "allow_promotion_codes"),
        billing_address_collection=get_str(params, "billing_address_collection"),
        cancel_url=get_str(params, "cancel_url"),
        created=now,
        currency=currency,
        customer=customer_id,
        customer_creation=customer_creation,
        customer_email=customer_email,
        expires_at=expires_at,
        invoice_creation=({"enabled": False, "invoice_data": None} if mode == "payment" else None),
        locale=get_str(params, "locale"),
        metadata=get_dict(params, "metadata"),
        mode=mode,
        payment_method_collection="always" if mode != "payment" else None,
        payment_method_types=["card", "bank_debit"] if mode == "payment" else ["card"],
        payment_status="no_payment_required" if mode == "setup" else "unpaid",
        submit_type=get_str(params, "submit_type"),
        success_url=success_url,
        ui_mode=get_str(params, "ui_mode") or "hosted",
        url=f"{sandbox.settings.base_url}/checkout/{session_id}",
        _line_items=items,
        _subscription_data={
            "trial_period_days": trial_days,
            "metadata": get_dict(get_dict(params, "subscription_data"), "metadata"),
        },
    )
    if coupon is not None:
        session["discounts"] = [{"coupon": coupon["id"], "promotion_code": None}]
    session["shipping_options"] = [
        {"shipping_amount": rate["fixed_amount"]["amount"], "shipping_rate": rate["id"]}
        for rate in rates
    ]
    set_totals(session)
    # As on Stripe, the first shipping option is selected until the shopper picks another.
    choose_shipping_rate(sandbox, session, rates[0]["id"] if rates else None)
    sandbox.store.put(session)
    return session


def expire_session(
    sandbox: Sandbox, session: dict[str, Any], *, created: int | None = None
) -> dict[str, Any]:
    """Expire an open session (``checkout.session.expired``); 400 if it is not open."""
    if session["status"] != "open":
        raise StripeError(
            f'Only Checkout Sessions with a status in ["open"] can be expired. This '
            f'Checkout Session has a status of "{session["status"]}".',
            param="session",
        )
    session.update(status="expired", url=None)
    session.pop("_pending", None)
    sandbox.store.put(session)
    pi_id = session.get("payment_intent")
    if isinstance(pi_id, str):
        pi = sandbox.store.get(pi_id)
        if pi is not None and pi["status"] in ("requires_payment_method", "requires_action"):
            pi.update(status="canceled", canceled_at=created, cancellation_reason="abandoned")
            sandbox.store.put(pi)
            emit(sandbox, "payment_intent.canceled", pi, created=created)
    emit(sandbox, "checkout.session.expired", session, created=created)
    return session


def expire_if_due(sandbox: Sandbox, session: dict[str, Any]) -> dict[str, Any]:
    """Expire ``session`` if its ``expires_at`` has passed on its clock."""
    if session["status"] == "open":
        now = sandbox.clock.for_customer(session.get("customer"))
        if now >= session["expires_at"]:
            return expire_session(sandbox, session, created=session["expires_at"])
    return session


def load_session(sandbox: Sandbox, session_id: str, *, param: str = "session") -> dict[str, Any]:
    """A session, expired first if it is due."""
    session = sandbox.store.get_typed("checkout.session", session_id)
    if session is None:
        raise no_such("checkout.session", session_id, param=param)
    return expire_if_due(sandbox, session)


def expire_due_sessions(sandbox: Sandbox, clock_id: str | None = None) -> None:
    """Expire every open session that is due (those on ``clock_id``, or off any clock)."""
    for session in sandbox.store.list("checkout.session", status="open"):
        if sandbox.clock.clock_of_customer(session.get("customer")) == clock_id:
            expire_if_due(sandbox, session)


def saved_cards(sandbox: Sandbox, session: dict[str, Any]) -> list[dict[str, Any]]:
    """The customer's saved cards the session's page offers: those whose
    ``allow_redisplay`` is among its ``allow_redisplay_filters`` (newest first)."""
    customer = session.get("customer")
    if not session.get("_show_saved") or not isinstance(customer, str):
        return []
    filters = (session.get("saved_payment_method_options") or {}).get(
        "allow_redisplay_filters"
    ) or ["always"]
    return [
        pm
        for pm in sandbox.store.list("payment_method", customer=customer)
        if pm.get("type") == "card" and pm.get("allow_redisplay") in filters
    ]
