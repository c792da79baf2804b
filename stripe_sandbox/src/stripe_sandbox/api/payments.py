"""``/v1/payment_intents``, ``/v1/charges``, ``/v1/refunds``, ``/v1/disputes`` and
``/v1/payment_methods``."""

from __future__ import annotations

from typing import Any

from ..core.errors import invalid
from ..core.params import get_str
from ..flows import payments
from ..resources.cards import SHORTCUTS, behaviour
from ..resources.objects import load
from ..resources.periods import year_month
from .base import Call, route


def _filtered(call: Call, object_type: str, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    found = call.store.list(object_type)
    for key in keys:
        value = get_str(call.params, key)
        if value is not None:
            found = [o for o in found if o.get(key) == value]
    return found


@route("/payment_intents/<pi_id>", ["GET"], strict="payment_intent.retrieve")
def retrieve_payment_intent(call: Call, pi_id: str) -> dict[str, Any]:
    """Retrieve a payment intent."""
    return call.render(load(call.sandbox, "payment_intent", pi_id))


@route("/payment_intents", ["GET"], strict="payment_intent.list")
def list_payment_intents(call: Call) -> dict[str, Any]:
    """List payment intents, filtered by ``customer``."""
    return call.page("/v1/payment_intents", _filtered(call, "payment_intent", ("customer",)))


@route("/charges/<charge_id>", ["GET"], strict="charge.retrieve")
def retrieve_charge(call: Call, charge_id: str) -> dict[str, Any]:
    """Retrieve a charge."""
    return call.render(load(call.sandbox, "charge", charge_id))


@route("/charges", ["GET"], strict="charge.list")
def list_charges(call: Call) -> dict[str, Any]:
    """List charges, filtered by ``customer`` and ``payment_intent``."""
    return call.page("/v1/charges", _filtered(call, "charge", ("customer", "payment_intent")))


@route("/charges/<charge_id>/refunds", ["GET"], strict="charge.list_refunds")
def list_charge_refunds(call: Call, charge_id: str) -> dict[str, Any]:
    """A charge's refunds (the ``url`` of ``charge.refunds``)."""
    load(call.sandbox, "charge", charge_id)
    return call.page(
        f"/v1/charges/{charge_id}/refunds", call.store.list("refund", charge=charge_id)
    )


@route("/refunds", ["POST"], strict="refund.create")
def create_refund(call: Call) -> dict[str, Any]:
    """Refund a charge or payment intent, fully or partly."""
    return call.render(payments.create_refund(call.sandbox, call.params))


@route("/refunds/<refund_id>", ["GET"], strict="refund.retrieve")
def retrieve_refund(call: Call, refund_id: str) -> dict[str, Any]:
    """Retrieve a refund."""
    return call.render(load(call.sandbox, "refund", refund_id))


@route("/refunds", ["GET"], strict="refund.list")
def list_refunds(call: Call) -> dict[str, Any]:
    """List refunds, filtered by ``charge`` and ``payment_intent``."""
    return call.page("/v1/refunds", _filtered(call, "refund", ("charge", "payment_intent")))


@route("/disputes/<dispute_id>", ["GET"], strict="dispute.retrieve")
def retrieve_dispute(call: Call, dispute_id: str) -> dict[str, Any]:
    """Retrieve a dispute."""
    return call.render(load(call.sandbox, "dispute", dispute_id))


@route("/disputes", ["GET"], strict="dispute.list")
def list_disputes(call: Call) -> dict[str, Any]:
    """List disputes, filtered by ``charge`` and ``payment_intent``."""
    return call.page("/v1/disputes", _filtered(call, "dispute", ("charge", "payment_intent")))


@route("/disputes/<dispute_id>", ["POST"], strict="dispute.update")
def update_dispute(call: Call, dispute_id: str) -> dict[str, Any]:
    """Add evidence (``winning_evidence``/``losing_evidence`` decide it) or metadata."""
    return call.render(payments.update_dispute(call.sandbox, dispute_id, call.params))


@route("/disputes/<dispute_id>/close", ["POST"], strict="dispute.close")
def close_dispute(call: Call, dispute_id: str) -> dict[str, Any]:
    """Accept (lose) a dispute."""
    return call.render(payments.close_dispute(call.sandbox, dispute_id))


@route("/payment_methods/<pm_id>", ["GET"], strict="payment_method.retrieve")
def retrieve_payment_method(call: Call, pm_id: str) -> dict[str, Any]:
    """Retrieve a payment method."""
    return call.render(load(call.sandbox, "payment_method", pm_id))


@route("/payment_methods", ["GET"], strict="payment_method.list")
def list_payment_methods(call: Call) -> dict[str, Any]:
    """List payment methods, filtered by ``customer`` and ``type``."""
    return call.page("/v1/payment_methods", _filtered(call, "payment_method", ("customer", "type")))


@route("/customers/<customer_id>/payment_methods", ["GET"], strict="customer.list_payment_methods")
def list_customer_payment_methods(call: Call, customer_id: str) -> dict[str, Any]:
    """A customer's payment methods, filtered by ``type`` and ``allow_redisplay``."""
    load(call.sandbox, "customer", customer_id)
    found = [
        p
        for p in _filtered(call, "payment_method", ("type", "allow_redisplay"))
        if p.get("customer") == customer_id
    ]
    return call.page(f"/v1/customers/{customer_id}/payment_methods", found)


@route("/payment_methods/<pm_id>/attach", ["POST"], strict="payment_method.attach")
def attach_payment_method(call: Call, pm_id: str) -> dict[str, Any]:
    """Attach a payment method (or a ``pm_card_*`` shortcut) to a customer."""
    customer_id = get_str(call.params, "customer", required=True) or ""
    load(call.sandbox, "customer", customer_id, param="customer", status=400)
    now = call.sandbox.clock.for_customer(customer_id)
    if pm_id in SHORTCUTS:
        found = behaviour(SHORTCUTS[pm_id], 12, 2099, year_month(now))
        if found.now is not None:
            raise invalid(found.now.message, code=found.now.code)
        pm = payments.card_payment_method(
            call.sandbox,
            number=SHORTCUTS[pm_id],
            exp_month=12,
            exp_year=2099,
            details=payments.billing_details(None, None),
            created=now,
            off_session_decline=found.off_session,
            three_d_secure=found.authenticate,
        )
    else:
        pm = load(call.sandbox, "payment_method", pm_id)
    return call.render(payments.attach(call.sandbox, pm, customer_id, now))


@route("/payment_methods/<pm_id>/detach", ["POST"], strict="payment_method.detach")
def detach_payment_method(call: Call, pm_id: str) -> dict[str, Any]:
    """Detach a payment method from its customer."""
    pm = load(call.sandbox, "payment_method", pm_id)
    now = call.sandbox.clock.for_customer(pm.get("customer"))
    return call.render(payments.detach(call.sandbox, pm, now))
