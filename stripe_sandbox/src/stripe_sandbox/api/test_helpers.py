"""Sandbox-only test helpers under ``/v1/test_helpers/``: act as the shopper without
the hosted pages (pay, authenticate, settle a bank debit) and run due work now.

They follow the API's conventions (Bearer key, form params, JSON answers), so the
SDK's ``client.raw_request("post", "/v1/test_helpers/…", …)`` can call them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..core.params import get_bool, get_dict, get_str
from ..flows import engine, scheduler
from ..flows.checkout import load_session
from .base import Call, route


def _outcome(call: Call, session_id: str, outcome: engine.PaymentOutcome) -> dict[str, Any]:
    return {
        "object": "test_helpers.checkout_outcome",
        "outcome": asdict(outcome),
        "session": call.render(load_session(call.sandbox, session_id)),
    }


@route("/test_helpers/checkout/sessions/<session_id>/pay", ["POST"])
def pay(call: Call, session_id: str) -> dict[str, Any]:
    """Pay a session: ``email``, ``card_number``, ``exp_month``, ``exp_year``, ``cvc``,
    ``name``, or ``method=bank_debit`` with ``bank_account_number``, or a saved card's
    ``payment_method``; optional ``shipping[name]``,
    ``shipping[address][line1|line2|city|postal_code|state|country]``, ``shipping_rate``
    (one of the session's options) and ``save_card=true``."""
    params = call.params
    shipping = get_dict(params, "shipping") or None
    details = engine.PaymentDetails(
        email=get_str(params, "email") or "",
        card_number=get_str(params, "card_number") or "4242424242424242",
        exp_month=get_str(params, "exp_month") or "12",
        exp_year=get_str(params, "exp_year") or "2099",
        cvc=get_str(params, "cvc") or "123",
        cardholder_name=get_str(params, "name"),
        shipping=shipping,
        method="bank_debit" if get_str(params, "method") == "bank_debit" else "card",
        bank_account_number=get_str(params, "bank_account_number"),
        shipping_rate=get_str(params, "shipping_rate"),
        save_card=bool(get_bool(params, "save_card")),
        payment_method=get_str(params, "payment_method"),
    )
    return _outcome(
        call, session_id, engine.pay_checkout_session(call.sandbox, session_id, details)
    )


@route("/test_helpers/checkout/sessions/<session_id>/authenticate", ["POST"])
def authenticate(call: Call, session_id: str) -> dict[str, Any]:
    """Complete (``approve=true``) or fail (``approve=false``) a 3-D Secure challenge."""
    approve = get_bool(call.params, "approve")
    outcome = engine.complete_authentication(call.sandbox, session_id, approve is not False)
    return _outcome(call, session_id, outcome)


@route("/test_helpers/checkout/sessions/<session_id>/settle", ["POST"])
def settle(call: Call, session_id: str) -> dict[str, Any]:
    """Settle a delayed bank debit now; ``succeeded=false`` forces a failure."""
    session = engine.settle_async_payment(
        call.sandbox, session_id, get_bool(call.params, "succeeded")
    )
    return call.render(session)


@route("/test_helpers/sandbox/run_due", ["POST"])
def run_due(call: Call) -> dict[str, Any]:
    """Run everything due by the wall clock now (expiries, settlements, renewals)."""
    scheduler.run_due_work(call.sandbox)
    return {"object": "test_helpers.sandbox_run", "ok": True}
