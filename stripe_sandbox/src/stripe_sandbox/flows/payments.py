"""Payment methods, payment intents, charges and refunds.

Card payment methods never store the card number: only what the test card will do
later (``_off_session_decline``) is kept, so renewals can fail as Stripe's would.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
import string
from typing import TYPE_CHECKING, Any

from ..core.errors import StripeError, invalid, missing_param
from ..core.ids import new_id, random_token
from ..core.money import money
from ..core.params import get_bool, get_dict, get_int, get_str, merge_metadata
from ..core.render import list_object
from ..core.shapes import blank
from ..resources.cards import Decline, brand
from ..resources.customers import address
from ..resources.events import emit
from ..resources.objects import changed, load, require_not_both

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

EMPTY_ADDRESS = address({})


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def billing_details(
    name: str | None, email: str | None, addr: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Stripe's ``billing_details`` hash."""
    return {
        "address": address(addr) or EMPTY_ADDRESS,
        "email": email,
        "name": name,
        "phone": None,
        "tax_id": None,
    }


def card_payment_method(
    sandbox: Sandbox,
    *,
    number: str,
    exp_month: int,
    exp_year: int,
    details: dict[str, Any],
    created: int,
    off_session_decline: Decline | None = None,
    three_d_secure: bool = False,
    dispute: str | None = None,
) -> dict[str, Any]:
    """A ``card`` payment method (not attached to anyone yet); ``dispute`` (a reason)
    makes every successful charge of it disputed, like Stripe's 0259 test card."""
    digits = "".join(ch for ch in number if ch.isdigit())
    network = brand(digits)
    pm = blank(
        "payment_method",
        id=new_id("pm_"),
        allow_redisplay="unspecified",
        billing_details=details,
        card={
            "brand": network,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": "US",
            "display_brand": network,
            "exp_month": exp_month,
            "exp_year": exp_year if exp_year >= 100 else exp_year + 2000,
            "fingerprint": _fingerprint(digits),
            "funding": "credit",
            "generated_from": None,
            "last4": digits[-4:],
            "networks": {"available": [network], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        created=created,
        customer=None,
        type="card",
        _off_session_decline=(
            [
                off_session_decline.code,
                off_session_decline.decline_code,
                off_session_decline.message,
            ]
            if off_session_decline
            else None
        ),
        _three_d_secure=three_d_secure,
        _dispute=dispute,
    )
    sandbox.store.put(pm)
    return pm


def bank_debit_type(currency: str) -> str:
    """The delayed bank debit Stripe offers for a currency."""
    return {"gbp": "bacs_debit", "eur": "sepa_debit"}.get(currency, "us_bank_account")


def bank_payment_method(
    sandbox: Sandbox, *, account_number: str, currency: str, details: dict[str, Any], created: int
) -> dict[str, Any]:
    """A delayed-notification bank debit payment method."""
    kind = bank_debit_type(currency)
    bank: dict[str, Any] = {
        "fingerprint": _fingerprint(account_number),
        "last4": account_number[-4:],
    }
    if kind == "bacs_debit":
        bank["sort_code"] = "108800"
    elif kind == "sepa_debit":
        bank.update(bank_code="37040044", branch_code=None, country="DE", generated_from=None)
    else:
        bank.update(
            account_holder_type="individual",
            account_type="checking",
            bank_name="STRIPE TEST BANK",
            routing_number="110000000",
        )
    pm = blank(
        "payment_method",
        id=new_id("pm_"),
        allow_redisplay="unspecified",
        billing_details=details,
        created=created,
        customer=None,
        type=kind,
        **{kind: bank},
    )
    sandbox.store.put(pm)
    return pm


def attach(sandbox: Sandbox, pm: dict[str, Any], customer_id: str, created: int) -> dict[str, Any]:
    """Attach a payment method to a customer (``payment_method.attached``)."""
    if pm.get("customer") == customer_id:
        return pm
    if pm.get("customer"):
        raise invalid(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
        )
    pm["customer"] = customer_id
    sandbox.store.put(pm)
    emit(sandbox, "payment_method.attached", pm, created=created)
    return pm


def detach(sandbox: Sandbox, pm: dict[str, Any], created: int) -> dict[str, Any]:
    """Detach a payment method from its customer (``payment_method.detached``)."""
    previous = pm.get("customer")
    if not previous:
        raise invalid("The payment method you provided is not attached to a customer.")
    pm["customer"] = None
    sandbox.store.put(pm)
    emit(
        sandbox,
        "payment_method.detached",
        pm,
        previous_attributes={"customer": previous},
        created=created,
    )
    return pm


def create_payment_intent(
    sandbox: Sandbox,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    created: int,
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
    setup_future_usage: str | None = None,
    payment_method_types: list[str] | None = None,
    receipt_email: str | None = None,
) -> dict[str, Any]:
    """A payment intent awaiting a payment method (``payment_intent.created``)."""
    pi_id = new_id("pi_")
    pi = blank(
        "payment_intent",
        id=pi_id,
        amount=amount,
        amount_capturable=0,
        amount_details={"tip": {}},
        amount_received=0,
        automatic_payment_methods=None,
        capture_method="automatic",
        client_secret=f"{pi_id}_secret_{random_token(25)}",
        confirmation_method="automatic",
        created=created,
        currency=currency,
        customer=customer,
        description=description,
        excluded_payment_method_types=None,
        metadata=metadata or {},
        payment_method_configuration_details=None,
        payment_method_options={"card": {"request_three_d_secure": "automatic"}},
        payment_method_types=payment_method_types or ["card"],
        receipt_email=receipt_email,
        setup_future_usage=setup_future_usage,
        status="requires_payment_method",
    )
    sandbox.store.put(pi)
    emit(sandbox, "payment_intent.created", pi, created=created)
    return pi


def _charge(
    sandbox: Sandbox, pi: dict[str, Any], pm: dict[str, Any], created: int, status: str
) -> dict[str, Any]:
    charge_id = new_id("ch_")
    kind = pm["type"]
    method_details: dict[str, Any] = {"type": kind}
    if kind == "card":
        card = pm["card"]
        method_details["card"] = {
            "amount_authorized": pi["amount"] if status == "succeeded" else None,
            "brand": card["brand"],
            "checks": card["checks"],
            "country": card["country"],
            "exp_month": card["exp_month"],
            "exp_year": card["exp_year"],
            "fingerprint": card["fingerprint"],
            "funding": card["funding"],
            "last4": card["last4"],
            "network": card["brand"],
            "three_d_secure": {"result": "authenticated"} if pm.get("_three_d_secure") else None,
            "wallet": None,
        }
    else:
        method_details[kind] = pm.get(kind)
    return blank(
        "charge",
        id=charge_id,
        amount=pi["amount"],
        amount_captured=pi["amount"] if status == "succeeded" else 0,
        amount_refunded=0,
        balance_transaction=new_id("txn_") if status == "succeeded" else None,
        billing_details=pm["billing_details"],
        calculated_statement_descriptor="QUIRE",
        captured=status == "succeeded",
        created=created,
        currency=pi["currency"],
        customer=pi["customer"],
        description=pi["description"],
        disputed=False,
        fraud_details={},
        metadata=dict(pi.get("metadata") or {}),
        outcome={
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        paid=status == "succeeded",
        payment_intent=pi["id"],
        payment_method=pm["id"],
        payment_method_details=method_details,
        receipt_email=pi.get("receipt_email"),
        receipt_url=f"{sandbox.settings.base_url}/receipts/{charge_id}",
        refunded=False,
        refunds=list_object(f"/v1/charges/{charge_id}/refunds", []),
        shipping=pi.get("shipping"),
        status=status,
    )


def succeed(
    sandbox: Sandbox, pi: dict[str, Any], pm: dict[str, Any], created: int
) -> dict[str, Any]:
    """Charge ``pm`` in full: PI succeeded, charge succeeded; returns the charge."""
    charge = _charge(sandbox, pi, pm, created, "succeeded")
    sandbox.store.put(charge)
    pi.update(
        status="succeeded",
        amount_received=pi["amount"],
        latest_charge=charge["id"],
        payment_method=pm["id"],
        last_payment_error=None,
        next_action=None,
    )
    sandbox.store.put(pi)
    emit(sandbox, "payment_intent.succeeded", pi, created=created)
    emit(sandbox, "charge.succeeded", charge, created=created)
    if pm.get("_dispute"):
        open_dispute(sandbox, charge, str(pm["_dispute"]), created)
    return charge


def fail(
    sandbox: Sandbox, pi: dict[str, Any], pm: dict[str, Any], decline: Decline, created: int
) -> dict[str, Any]:
    """A declined attempt: failed charge, PI back to requires_payment_method."""
    charge = _charge(sandbox, pi, pm, created, "failed")
    charge.update(
        failure_code=decline.code,
        failure_message=decline.message,
        outcome={
            **charge["outcome"],
            "network_status": "declined_by_network",
            "reason": decline.decline_code,
            "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined",
        },
    )
    sandbox.store.put(charge)
    pi.update(
        status="requires_payment_method",
        latest_charge=charge["id"],
        payment_method=None,
        next_action=None,
        last_payment_error={
            "charge": charge["id"],
            "code": decline.code,
            "decline_code": decline.decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
            "message": decline.message,
            "param": None,
            "payment_method": pm,
            "type": "card_error",
        },
    )
    sandbox.store.put(pi)
    emit(sandbox, "charge.failed", charge, created=created)
    emit(sandbox, "payment_intent.payment_failed", pi, created=created)
    return charge


def fail_authentication(
    sandbox: Sandbox, pi: dict[str, Any], decline: Decline, created: int
) -> None:
    """3-D Secure was refused: the PI needs a new payment method; no charge is made."""
    pm = sandbox.store.get(str(pi.get("payment_method"))) or {}
    pi.update(
        status="requires_payment_method",
        next_action=None,
        payment_method=None,
        last_payment_error={
            "code": decline.code,
            "decline_code": None,
            "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
            "message": decline.message,
            "param": None,
            "payment_method": pm,
            "type": "invalid_request_error",
        },
    )
    sandbox.store.put(pi)
    emit(sandbox, "payment_intent.payment_failed", pi, created=created)


def require_action(
    sandbox: Sandbox, pi: dict[str, Any], pm: dict[str, Any], return_url: str, created: int
) -> None:
    """The payment waits for 3-D Secure (``payment_intent.requires_action``)."""
    pi.update(
        status="requires_action",
        payment_method=pm["id"],
        next_action={
            "type": "redirect_to_url",
            "redirect_to_url": {"return_url": return_url, "url": return_url},
        },
    )
    sandbox.store.put(pi)
    emit(sandbox, "payment_intent.requires_action", pi, created=created)


def start_processing(
    sandbox: Sandbox, pi: dict[str, Any], pm: dict[str, Any], created: int
) -> dict[str, Any]:
    """A delayed bank debit: PI processing, charge pending."""
    charge = _charge(sandbox, pi, pm, created, "pending")
    charge["outcome"]["seller_message"] = "Payment is pending."
    charge["outcome"]["network_status"] = "approved_by_network"
    sandbox.store.put(charge)
    pi.update(
        status="processing",
        latest_charge=charge["id"],
        payment_method=pm["id"],
        processing={"type": pm["type"]},
    )
    sandbox.store.put(pi)
    emit(sandbox, "payment_intent.processing", pi, created=created)
    emit(sandbox, "charge.pending", charge, created=created)
    return charge


def settle_processing(sandbox: Sandbox, pi: dict[str, Any], succeeded: bool, created: int) -> None:
    """Finish a delayed bank debit as paid or failed."""
    charge = load(sandbox, "charge", str(pi["latest_charge"]))
    if succeeded:
        charge.update(
            status="succeeded", paid=True, captured=True, amount_captured=charge["amount"]
        )
        charge["balance_transaction"] = new_id("txn_")
        charge["outcome"]["seller_message"] = "Payment complete."
        pi.update(status="succeeded", amount_received=pi["amount"], processing=None)
        sandbox.store.put(charge)
        sandbox.store.put(pi)
        emit(sandbox, "charge.succeeded", charge, created=created)
        emit(sandbox, "payment_intent.succeeded", pi, created=created)
        return
    decline = Decline("account_closed", None, "The customer's bank account has been closed.")
    charge.update(status="failed", failure_code=decline.code, failure_message=decline.message)
    pm = sandbox.store.get(str(pi["payment_method"])) or {}
    pi.update(
        status="requires_payment_method",
        processing=None,
        payment_method=None,
        last_payment_error={
            "charge": charge["id"],
            "code": decline.code,
            "decline_code": None,
            "doc_url": None,
            "message": decline.message,
            "param": None,
            "payment_method": pm,
            "type": "card_error",
        },
    )
    sandbox.store.put(charge)
    sandbox.store.put(pi)
    emit(sandbox, "charge.failed", charge, created=created)
    emit(sandbox, "payment_intent.payment_failed", pi, created=created)


def create_refund(sandbox: Sandbox, params: dict[str, Any]) -> dict[str, Any]:
    """Refund a charge (by ``charge`` or ``payment_intent``), in full or in part."""
    require_not_both(params, "charge", "payment_intent")
    charge_id = get_str(params, "charge")
    pi_id = get_str(params, "payment_intent")
    if pi_id:
        pi = load(sandbox, "payment_intent", pi_id, param="payment_intent", status=400)
        if pi["status"] != "succeeded" or not pi.get("latest_charge"):
            raise invalid(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                param="payment_intent",
                code="charge_not_refundable",
            )
        charge_id = str(pi["latest_charge"])
    if not charge_id:
        raise missing_param("charge")
    charge = load(sandbox, "charge", charge_id, param="charge", status=400)
    if charge["status"] != "succeeded":
        raise invalid(
            f"Charge {charge_id} has not succeeded and cannot be refunded.", param="charge"
        )
    remaining = charge["amount_captured"] - charge["amount_refunded"]
    if remaining <= 0:
        raise StripeError(
            f"Charge {charge_id} has already been refunded.", code="charge_already_refunded"
        )
    amount = get_int(params, "amount")
    if amount is None:
        amount = remaining
    if amount <= 0:
        raise invalid("Invalid positive integer", param="amount", code="parameter_invalid_integer")
    if amount > remaining:
        currency = str(charge["currency"])
        limit = (
            f"charge amount ({money(remaining, currency)})"
            if charge["amount_refunded"] == 0
            else f"unrefunded amount on charge ({money(remaining, currency)})"
        )
        raise invalid(
            f"Refund amount ({money(amount, currency)}) is greater than {limit}",
            param="amount",
            code="amount_too_large",
        )
    created = sandbox.clock.for_customer(charge.get("customer"))
    refund = blank(
        "refund",
        id=new_id("re_"),
        amount=amount,
        balance_transaction=new_id("txn_"),
        charge=charge_id,
        created=created,
        currency=charge["currency"],
        destination_details={
            "type": "card",
            "card": {
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
        },
        metadata=get_dict(params, "metadata"),
        payment_intent=charge.get("payment_intent"),
        reason=get_str(params, "reason"),
        status="succeeded",
    )
    sandbox.store.put(refund)
    before = {
        "amount_refunded": charge["amount_refunded"],
        "refunded": charge["refunded"],
        "refunds": charge["refunds"],
    }
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
    charge["refunds"] = dict(charge["refunds"], data=[refund, *charge["refunds"]["data"]])
    sandbox.store.put(charge)
    emit(sandbox, "refund.created", refund, created=created)
    emit(sandbox, "charge.refunded", charge, previous_attributes=before, created=created)
    _refund_reference_available(sandbox, refund, charge, created)
    return refund


def _refund_reference_available(
    sandbox: Sandbox, refund: dict[str, Any], charge: dict[str, Any], at: int
) -> None:
    """The card network's reference for the refund arrives (``refund.updated``), as on
    Stripe, where a card refund is updated once its acquirer reference number is known."""
    card = refund["destination_details"]["card"]
    previous = {"destination_details": copy.deepcopy(refund["destination_details"])}
    card.update(
        reference="".join(secrets.choice(string.digits) for _ in range(23)),
        reference_status="available",
    )
    sandbox.store.put(refund)
    charge["refunds"]["data"] = [
        refund if r["id"] == refund["id"] else r for r in charge["refunds"]["data"]
    ]
    sandbox.store.put(charge)
    emit(sandbox, "refund.updated", refund, previous_attributes=previous, created=at)


# Disputes ------------------------------------------------------------------------

#: Evidence texts that decide a test-mode dispute, as on Stripe.
WINNING_EVIDENCE, LOSING_EVIDENCE = "winning_evidence", "losing_evidence"
EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)
EVIDENCE_DAYS = 7


def open_dispute(sandbox: Sandbox, charge: dict[str, Any], reason: str, at: int) -> dict[str, Any]:
    """The cardholder disputes ``charge`` (``charge.dispute.created``, then
    ``charge.dispute.funds_withdrawn`` as the amount is taken back)."""
    card = (charge.get("payment_method_details") or {}).get("card") or {}
    evidence = dict.fromkeys(EVIDENCE_FIELDS)
    dispute = blank(
        "dispute",
        id=new_id("dp_"),
        amount=charge["amount"],
        balance_transactions=[],
        charge=charge["id"],
        created=at,
        currency=charge["currency"],
        enhanced_eligibility_types=[],
        evidence={**evidence, "enhanced_evidence": {}},
        evidence_details={
            "due_by": at + EVIDENCE_DAYS * 86_400,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        is_charge_refundable=False,
        livemode=False,
        metadata={},
        payment_intent=charge.get("payment_intent"),
        payment_method_details={
            "card": {
                "brand": card.get("brand"),
                "case_type": "chargeback",
                "network": card.get("network"),
                "network_reason_code": "10.4" if reason == "fraudulent" else None,
            },
            "type": "card",
        },
        reason=reason,
        status="needs_response",
    )
    sandbox.store.put(dispute)
    charge["disputed"] = True
    sandbox.store.put(charge)
    emit(sandbox, "charge.dispute.created", dispute, created=at)
    dispute["balance_transactions"] = [new_id("txn_")]
    sandbox.store.put(dispute)
    emit(sandbox, "charge.dispute.funds_withdrawn", dispute, created=at)
    return dispute


def _settle_dispute(sandbox: Sandbox, dispute: dict[str, Any], status: str, at: int) -> None:
    """The dispute is decided: ``charge.dispute.closed`` (and funds reinstated when won)."""
    dispute["status"] = status
    if status == "won":
        dispute["balance_transactions"] = [*dispute["balance_transactions"], new_id("txn_")]
    sandbox.store.put(dispute)
    emit(sandbox, "charge.dispute.closed", dispute, created=at)
    if status == "won":
        emit(sandbox, "charge.dispute.funds_reinstated", dispute, created=at)


def _open_dispute_or_400(sandbox: Sandbox, dispute_id: str) -> dict[str, Any]:
    dispute = load(sandbox, "dispute", dispute_id)
    if dispute["status"] in ("won", "lost", "warning_closed"):
        raise invalid(f"This dispute is already closed ({dispute_id}).", param="dispute")
    return dispute


def close_dispute(sandbox: Sandbox, dispute_id: str) -> dict[str, Any]:
    """Accept the dispute: it is lost (``charge.dispute.closed``)."""
    dispute = _open_dispute_or_400(sandbox, dispute_id)
    _settle_dispute(sandbox, dispute, "lost", sandbox.clock.wall())
    return dispute


def update_dispute(sandbox: Sandbox, dispute_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Add evidence or metadata (``charge.dispute.updated``). Submitted evidence (the
    default) puts the dispute under review; ``uncategorized_text`` of
    ``winning_evidence`` or ``losing_evidence`` decides it at once, as in Stripe's test
    mode."""
    dispute = _open_dispute_or_400(sandbox, dispute_id)
    before = copy.deepcopy(dispute)
    evidence = get_dict(params, "evidence")
    for key in evidence:
        if key not in EVIDENCE_FIELDS:
            raise invalid(f"Received unknown parameter: evidence[{key}]", param=f"evidence[{key}]")
        dispute["evidence"][key] = get_str(evidence, key)
    if "metadata" in params:
        dispute["metadata"] = merge_metadata(dispute["metadata"], params["metadata"])
    submit = get_bool(params, "submit")
    at = sandbox.clock.wall()
    if evidence:
        details = dispute["evidence_details"]
        details["has_evidence"] = True
        if submit is not False:
            details["submission_count"] += 1
            dispute["status"] = "under_review"
    sandbox.store.put(dispute)
    previous = changed(before, dispute)
    if previous:
        emit(sandbox, "charge.dispute.updated", dispute, previous_attributes=previous, created=at)
    text = dispute["evidence"].get("uncategorized_text")
    if dispute["status"] == "under_review" and text in (WINNING_EVIDENCE, LOSING_EVIDENCE):
        _settle_dispute(sandbox, dispute, "won" if text == WINNING_EVIDENCE else "lost", at)
    return dispute
