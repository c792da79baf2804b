"""Checkout Sessions: validation like Stripe's, line items, expiry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.errors import StripeError, exclusive, invalid, missing_param, no_such
from ..core.ids import new_id, random_token
from ..core.params import get_bool, get_dict, get_int, get_list, get_str
from ..core.shapes import blank
from ..resources.catalog import create_price, get_price
from ..resources.events import emit
from ..resources.objects import load

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

MIN_EXPIRY = 30 * 60
MAX_EXPIRY = 24 * 60 * 60
MODES = ("payment", "subscription", "setup")


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
    saved = get_dict(params, "saved_payment_method_options")
    return {
        "client_reference_id": client_reference_id,
        "shipping_address_collection": {"allowed_countries": countries} if countries else None,
        "saved_payment_method_options": {
            "allow_redisplay_filters": ["always"],
            "payment_method_remove": saved.get("payment_method_remove") or "disabled",
            "payment_method_save": saved.get("payment_method_save") or "disabled",
        },
        "_payment_intent_data": payment_intent_data,
    }


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
    due_now = sum(i["amount_total"] for i in items if not (trial_days and i["price"]["recurring"]))
    session_id = "cs_test_" + random_token(58)
    session = blank(
        "checkout.session",
        id=session_id,
        **_session_defaults(),
        **options,
        allow_promotion_codes=get_bool(params, "allow_promotion_codes"),
        amount_subtotal=due_now,
        amount_total=due_now,
        billing_address_collection=get_str(params, "billing_address_collection"),
        cancel_url=get_str(params, "cancel_url"),
        created=now,
        currency=items[0]["currency"] if items else get_str(params, "currency"),
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
