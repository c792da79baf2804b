"""What a shopper does on a hosted Checkout page: pay, authenticate, settle.

The hosted pages call these functions; each runs in one store transaction and
emits the events Stripe would. They never raise for a declined card: the outcome
says what happened, with Stripe's message. The portal actions are in ``portal`` and
the time-driven work in ``scheduler``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..core.errors import StripeError, invalid
from ..resources.cards import AUTHENTICATION_FAILED, CardBehaviour, Decline, behaviour
from ..resources.coupons import redeem
from ..resources.customers import address, create_customer
from ..resources.events import emit
from ..resources.objects import load
from ..resources.periods import year_month
from . import billing, payments
from .checkout import choose_shipping_rate, load_session, saved_cards

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

#: A bank debit with this account number (or an email containing ``+fail``) fails
#: when it settles, like Stripe's failing test accounts.
FAILING_BANK_ACCOUNTS = ("000111111116", "00012345", "AT861904300235473202")


@dataclass(frozen=True)
class CardDetails:
    """A card typed on a hosted page."""

    number: str
    exp_month: int | str
    exp_year: int | str
    cvc: str = ""
    name: str | None = None


@dataclass(frozen=True)
class PaymentDetails:
    """What a shopper submits on the hosted Checkout page.

    Either the flat card fields (``card_number``, ``exp_month``, ``exp_year``,
    ``cvc``, ``cardholder_name``) or ``card=CardDetails(...)``; ``method`` is
    ``"card"`` or ``"bank_debit"`` (``bank_account_number`` implies bank_debit).
    ``shipping`` is ``{"name", "address": {line1, line2, city, postal_code, state, country}}``;
    ``shipping_rate`` the chosen shipping option (None keeps the first one).
    ``save_card``: the shopper ticked "Save my card" (when the session offers it).
    ``payment_method``: pay with this saved card of the session's customer instead.
    """

    email: str
    card_number: str = ""
    exp_month: int | str = 0
    exp_year: int | str = 0
    cvc: str = ""
    cardholder_name: str | None = None
    shipping: dict[str, Any] | None = None
    method: Literal["card", "bank_debit"] = "card"
    name: str | None = None
    card: CardDetails | None = None
    bank_account_number: str | None = None
    shipping_rate: str | None = None
    save_card: bool = False
    payment_method: str | None = None

    @property
    def payment_method_type(self) -> str:
        """``card`` or ``bank_debit``."""
        return "bank_debit" if self.bank_account_number or self.method == "bank_debit" else "card"

    def card_details(self) -> CardDetails:
        """The card, whichever way it was given."""
        if self.card is not None:
            return self.card
        return CardDetails(
            self.card_number, self.exp_month, self.exp_year, self.cvc, self.cardholder_name
        )

    @property
    def holder(self) -> str | None:
        """The name on the card or account."""
        return self.cardholder_name or (self.card.name if self.card else None) or self.name


@dataclass(frozen=True)
class PaymentOutcome:
    """What happened: ``succeeded``, ``processing``, ``requires_action`` or ``declined``.

    ``redirect_url`` is the session's success URL (with ``{CHECKOUT_SESSION_ID}``
    filled in) when the shopper should go back to the shop.
    """

    status: Literal["succeeded", "processing", "requires_action", "declined"]
    message: str | None = None
    redirect_url: str | None = None
    code: str | None = None
    decline_code: str | None = None


def _declined(decline: Decline) -> PaymentOutcome:
    return PaymentOutcome("declined", decline.message, None, decline.code, decline.decline_code)


def _success_url(session: dict[str, Any]) -> str | None:
    url = session.get("success_url")
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"]) if isinstance(url, str) else None


def _as_int(value: int | str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _card_behaviour(card: CardDetails, now: int) -> CardBehaviour:
    return behaviour(card.number, _as_int(card.exp_month), _as_int(card.exp_year), year_month(now))


def _make_card(
    sandbox: Sandbox, card: CardDetails, found: CardBehaviour, details: dict[str, Any], now: int
) -> dict[str, Any]:
    pm = payments.card_payment_method(
        sandbox,
        number=card.number,
        exp_month=_as_int(card.exp_month),
        exp_year=_as_int(card.exp_year),
        details=details,
        created=now,
        off_session_decline=found.off_session,
        three_d_secure=found.authenticate,
        dispute=found.dispute,
    )
    after = found.after_authentication
    if after is not None:
        pm["_after_authentication"] = [after.code, after.decline_code, after.message]
        sandbox.store.put(pm)
    return pm


# Checkout --------------------------------------------------------------------------


def _open_session(sandbox: Sandbox, session_id: str) -> dict[str, Any]:
    session = load_session(sandbox, session_id)
    if session["status"] != "open":
        raise StripeError(
            "This Checkout Session is no longer active.",
            param="session",
        )
    return session


def _customer_for(sandbox: Sandbox, session: dict[str, Any], details: PaymentDetails) -> str | None:
    """The session's customer, creating one when Stripe would."""
    if session.get("customer"):
        return str(session["customer"])
    wants = session["mode"] == "subscription" or session.get("customer_creation") == "always"
    wants = (
        wants or (session.get("_payment_intent_data") or {}).get("setup_future_usage") is not None
    )
    if not wants:
        return None
    customer = create_customer(
        sandbox,
        {
            "email": details.email or session.get("customer_email"),
            "name": details.holder,
            "address": (details.shipping or {}).get("address"),
        },
    )
    return str(customer["id"])


def _complete(
    sandbox: Sandbox, session: dict[str, Any], pending: dict[str, Any], now: int, *, paid: bool
) -> None:
    shipping = pending.get("shipping")
    customer_details: dict[str, Any] = {
        "address": address((shipping or {}).get("address")) or payments.EMPTY_ADDRESS,
        "business_name": None,
        "email": pending.get("email"),
        "individual_name": None,
        "name": pending.get("name"),
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
    session.update(
        status="complete",
        url=None,
        customer=pending.get("customer") or session.get("customer"),
        customer_details=customer_details,
        payment_status=(
            "no_payment_required"
            if session.get("amount_total") == 0
            else ("paid" if paid else "unpaid")
        ),
    )
    if shipping:
        session["collected_information"] = {
            "business_name": None,
            "individual_name": None,
            "shipping_details": {
                "address": address(shipping.get("address")),
                "name": shipping.get("name"),
            },
        }
    session.pop("_pending", None)
    sandbox.store.put(session)
    for discount in session.get("discounts") or []:
        redeem(sandbox, str(discount["coupon"]))
    emit(sandbox, "checkout.session.completed", session, created=now)


def _session_payment_intent(
    sandbox: Sandbox,
    session: dict[str, Any],
    key: str,
    customer: str | None,
    now: int,
    *,
    reuse_settled: bool,
    **intent: Any,
) -> dict[str, Any]:
    """The session's PaymentIntent, kept under ``key``: created on the first payment
    attempt (with ``intent``'s description, metadata…) and reused by later ones; one that
    has succeeded or been canceled is replaced unless ``reuse_settled``."""
    pi_id = session.get(key)
    pi = sandbox.store.get(pi_id) if isinstance(pi_id, str) else None
    if pi is not None and (reuse_settled or pi["status"] not in ("succeeded", "canceled")):
        if customer and not pi.get("customer"):
            pi["customer"] = customer
        if pi["status"] == "requires_payment_method":
            # Another shipping option chosen since the last attempt changes the amount.
            pi["amount"] = int(session["amount_total"])
            sandbox.store.put(pi)
        return pi
    pi = payments.create_payment_intent(
        sandbox,
        amount=int(session["amount_total"]),
        currency=str(session["currency"]),
        customer=customer,
        created=now,
        **intent,
    )
    session[key] = pi["id"]
    sandbox.store.put(session)
    return pi


def _payment_intent_for(
    sandbox: Sandbox, session: dict[str, Any], customer: str | None, now: int
) -> dict[str, Any]:
    """A payment-mode session's PaymentIntent (its ``payment_intent``), made from its
    ``payment_intent_data``."""
    data = session.get("_payment_intent_data") or {}
    return _session_payment_intent(
        sandbox,
        session,
        "payment_intent",
        customer,
        now,
        reuse_settled=True,
        description=data.get("description"),
        metadata=data.get("metadata") or {},
        setup_future_usage=data.get("setup_future_usage"),
        payment_method_types=["card"],
        receipt_email=data.get("receipt_email"),
    )


def _finish_payment_mode(
    sandbox: Sandbox,
    session: dict[str, Any],
    pi: dict[str, Any],
    pm: dict[str, Any],
    pending: dict[str, Any],
    now: int,
) -> PaymentOutcome:
    customer = pending.get("customer")
    if customer and (pi.get("setup_future_usage") or pending.get("save_card")):
        _save_for_customer(sandbox, pm, customer, pending, now)
    pi["customer"] = customer
    shipping = pending.get("shipping")
    if shipping:
        pi["shipping"] = {
            "address": address(shipping.get("address")),
            "carrier": None,
            "name": shipping.get("name"),
            "phone": None,
            "tracking_number": None,
        }
    charge = payments.succeed(sandbox, pi, pm, now)
    emit(
        sandbox,
        "charge.updated",
        charge,
        previous_attributes={"balance_transaction": None},
        created=now,
    )
    _complete(sandbox, session, pending, now, paid=True)
    return PaymentOutcome("succeeded", redirect_url=_success_url(session))


def _finish_subscription_mode(
    sandbox: Sandbox,
    session: dict[str, Any],
    pm: dict[str, Any],
    pending: dict[str, Any],
    now: int,
    *,
    authenticate: bool,
) -> PaymentOutcome:
    """Subscription mode, as Stripe does since basil: charge first, subscribe after.

    The subscription and its first invoice are created only once the payment has
    succeeded (or when nothing is due, for a trial), so a declined or unauthenticated
    attempt leaves neither behind; the session stays open for another try.
    """
    customer = str(pending["customer"])
    _save_for_customer(sandbox, pm, customer, pending, now)
    # Later attempts on this session reuse the customer made by the first one.
    session["customer"] = customer
    sandbox.store.put(session)
    if int(session["amount_total"] or 0) == 0:
        return _start_subscription(sandbox, session, pm, pending, now, None)
    pi = _session_payment_intent(
        sandbox,
        session,
        "_first_payment_intent",
        customer,
        now,
        reuse_settled=False,
        description="Subscription creation",
        setup_future_usage="off_session",
    )
    if authenticate:
        return _await_authentication(sandbox, session, pi, pm, pending, now)
    return _start_subscription(sandbox, session, pm, pending, now, pi)


def _save_for_customer(
    sandbox: Sandbox, pm: dict[str, Any], customer: str, pending: dict[str, Any], now: int
) -> None:
    """Attach the card to the customer; one the shopper chose to save is shown again
    (``allow_redisplay: always``) on their later Checkout pages."""
    payments.attach(sandbox, pm, customer, now)
    if pending.get("save_card") and pm.get("allow_redisplay") != "always":
        pm["allow_redisplay"] = "always"
        sandbox.store.put(pm)


def _await_authentication(
    sandbox: Sandbox,
    session: dict[str, Any],
    pi: dict[str, Any],
    pm: dict[str, Any],
    pending: dict[str, Any],
    now: int,
) -> PaymentOutcome:
    """Ask for 3-D Secure and park the attempt on the session until the shopper answers."""
    payments.require_action(sandbox, pi, pm, _return_url(sandbox, session), now)
    session["_pending"] = dict(pending, payment_method=pm["id"], payment_intent=pi["id"])
    sandbox.store.put(session)
    return PaymentOutcome("requires_action")


def _start_subscription(
    sandbox: Sandbox,
    session: dict[str, Any],
    pm: dict[str, Any],
    pending: dict[str, Any],
    now: int,
    pi: dict[str, Any] | None,
) -> PaymentOutcome:
    """The payment went through: create the subscription, pay its first invoice, complete."""
    data = session.get("_subscription_data") or {}
    subscription, invoice = billing.create_subscription(
        sandbox,
        customer_id=str(pending["customer"]),
        line_items=session["_line_items"],
        pm=pm,
        trial_days=data.get("trial_period_days"),
        metadata=data.get("metadata") or {},
        at=now,
        coupon=_session_coupon(sandbox, session),
        checkout_session=str(session["id"]),
    )
    if pi is not None:
        invoice["_payment_intent"] = pi["id"]
        billing.open_payment(invoice, pi["id"], now)
    billing.attempt_invoice(sandbox, invoice, subscription, now, pm=pm, on_session=True)
    billing.activate(sandbox, subscription, now)
    session.update(subscription=subscription["id"], invoice=invoice["id"])
    session.pop("_first_payment_intent", None)
    _complete(sandbox, session, pending, now, paid=True)
    return PaymentOutcome("succeeded", redirect_url=_success_url(session))


def _session_coupon(sandbox: Sandbox, session: dict[str, Any]) -> dict[str, Any] | None:
    """The coupon the session's ``discounts`` applies, if any (and still there)."""
    for discount in session.get("discounts") or []:
        return sandbox.store.get_typed("coupon", str(discount["coupon"]))
    return None


def _saved_card(sandbox: Sandbox, session: dict[str, Any], pm_id: str) -> dict[str, Any]:
    """A saved card the session's page offers, or 400 naming ``payment_method``."""
    for pm in saved_cards(sandbox, session):
        if pm["id"] == pm_id:
            return pm
    raise invalid("Choose one of your saved cards, or enter a card.", param="payment_method")


def _return_url(sandbox: Sandbox, session: dict[str, Any]) -> str:
    return f"{sandbox.settings.base_url}/checkout/{session['id']}/authenticate"


def pay_checkout_session(
    sandbox: Sandbox, session_id: str, details: PaymentDetails
) -> PaymentOutcome:
    """Pay an open session as a shopper would on the hosted page.

    A decline leaves the session open for another try. Success completes it;
    a bank debit completes it unpaid and settles later; a 3-D Secure card waits
    for ``complete_authentication``.
    """
    with sandbox.store.transaction():
        session = _open_session(sandbox, session_id)
        if details.shipping_rate is not None:
            choose_shipping_rate(sandbox, session, details.shipping_rate)
            sandbox.store.put(session)
        now = sandbox.clock.for_customer(session.get("customer"))
        email = details.email or session.get("customer_email") or ""
        if not email and session.get("customer"):
            email = (sandbox.store.get(session["customer"]) or {}).get("email") or ""
        if not email:
            raise invalid("Enter your email address.", param="email")
        billing_info = payments.billing_details(
            details.holder, email, (details.shipping or {}).get("address")
        )
        if details.payment_method_type == "bank_debit":
            return _pay_by_bank(sandbox, session, details, email, billing_info, now)
        saving = (session.get("saved_payment_method_options") or {}).get("payment_method_save")
        pending: dict[str, Any] = {
            "email": email,
            "name": details.holder,
            "shipping": details.shipping,
            "save_card": bool(details.save_card and saving == "enabled"),
        }
        if details.payment_method:
            return _pay_with_saved_card(sandbox, session, details.payment_method, pending, now)
        card = details.card_details()
        found = _card_behaviour(card, now)
        if session["mode"] == "setup":
            return _save_card(sandbox, session, details, card, found, pending, billing_info, now)
        if session["mode"] == "subscription":
            if found.now is not None:
                return _declined(found.now)
            pending["customer"] = _customer_for(sandbox, session, details)
            pm = _make_card(sandbox, card, found, billing_info, now)
            return _finish_subscription_mode(
                sandbox, session, pm, pending, now, authenticate=found.authenticate
            )
        customer = (
            _customer_for(sandbox, session, details)
            if found.now is None
            else session.get("customer")
        )
        pending["customer"] = customer
        pi = _payment_intent_for(sandbox, session, customer, now)
        pm = _make_card(sandbox, card, found, billing_info, now)
        if found.now is not None:
            payments.fail(sandbox, pi, pm, found.now, now)
            return _declined(found.now)
        if found.authenticate:
            return _await_authentication(sandbox, session, pi, pm, pending, now)
        return _finish_payment_mode(sandbox, session, pi, pm, pending, now)


def _pay_with_saved_card(
    sandbox: Sandbox, session: dict[str, Any], pm_id: str, pending: dict[str, Any], now: int
) -> PaymentOutcome:
    """Pay with one of the customer's saved cards: as with a new card, without typing it.

    The card keeps what its number does (3-D Secure, later declines, disputes)."""
    if session["mode"] == "setup":
        raise invalid("This card is already saved.", param="payment_method")
    pm = _saved_card(sandbox, session, pm_id)
    pending["customer"] = str(session["customer"])
    pending["name"] = pending.get("name") or (pm.get("billing_details") or {}).get("name")
    authenticate = bool(pm.get("_three_d_secure"))
    if session["mode"] == "subscription":
        return _finish_subscription_mode(
            sandbox, session, pm, pending, now, authenticate=authenticate
        )
    pi = _payment_intent_for(sandbox, session, pending["customer"], now)
    if authenticate:
        return _await_authentication(sandbox, session, pi, pm, pending, now)
    return _finish_payment_mode(sandbox, session, pi, pm, pending, now)


def _save_card(
    sandbox: Sandbox,
    session: dict[str, Any],
    details: PaymentDetails,
    card: CardDetails,
    found: CardBehaviour,
    pending: dict[str, Any],
    billing_info: dict[str, Any],
    now: int,
) -> PaymentOutcome:
    """Setup mode: save the card for later (attached when there is a customer)."""
    if found.now is not None:
        return _declined(found.now)
    pending["customer"] = _customer_for(sandbox, session, details)
    pm = _make_card(sandbox, card, found, billing_info, now)
    if pending["customer"]:
        payments.attach(sandbox, pm, pending["customer"], now)
    _complete(sandbox, session, pending, now, paid=False)
    return PaymentOutcome("succeeded", redirect_url=_success_url(session))


def _pay_by_bank(
    sandbox: Sandbox,
    session: dict[str, Any],
    details: PaymentDetails,
    email: str,
    billing_info: dict[str, Any],
    now: int,
) -> PaymentOutcome:
    account = "".join(
        ch for ch in (details.bank_account_number or details.card_number) if ch.isalnum()
    )
    if len(account) < 4:
        raise invalid("Enter the account number.", param="account_number")
    if session["mode"] != "payment":
        raise invalid(
            "Bank debits are only offered for one-off payments in the sandbox.",
            param="payment_method",
        )
    pending: dict[str, Any] = {"email": email, "name": details.holder, "shipping": details.shipping}
    pending["customer"] = _customer_for(sandbox, session, details)
    pi = _payment_intent_for(sandbox, session, pending["customer"], now)
    pi["customer"] = pending["customer"]
    pi["payment_method_types"] = [payments.bank_debit_type(str(session["currency"]))]
    pm = payments.bank_payment_method(
        sandbox,
        account_number=account,
        currency=str(session["currency"]),
        details=billing_info,
        created=now,
    )
    payments.start_processing(sandbox, pi, pm, now)
    fails = account in FAILING_BANK_ACCOUNTS or "+fail" in email
    session["_async"] = {
        "settle_at": sandbox.clock.wall() + sandbox.settings.bank_debit_delay,
        "fails": fails,
    }
    _complete(sandbox, session, pending, now, paid=False)
    return PaymentOutcome("processing", redirect_url=_success_url(session))


def settle_async_payment(
    sandbox: Sandbox, session_id: str, succeeded: bool | None = None
) -> dict[str, Any]:
    """Settle a session's delayed bank debit now (``async_payment_succeeded``/``_failed``).

    ``succeeded=None`` uses the outcome decided at payment (failing test accounts fail).
    """
    with sandbox.store.transaction():
        session = load(sandbox, "checkout.session", session_id)
        pending = session.get("_async")
        if not pending:
            raise invalid(
                "This Checkout Session has no payment awaiting settlement.", param="session"
            )
        ok = (not pending["fails"]) if succeeded is None else succeeded
        now = sandbox.clock.for_customer(session.get("customer"))
        pi = load(sandbox, "payment_intent", str(session["payment_intent"]))
        payments.settle_processing(sandbox, pi, ok, now)
        session.pop("_async", None)
        if ok:
            session["payment_status"] = "paid"
        sandbox.store.put(session)
        kind = "succeeded" if ok else "failed"
        emit(sandbox, f"checkout.session.async_payment_{kind}", session, created=now)
        return session


def complete_authentication(sandbox: Sandbox, session_id: str, approve: bool) -> PaymentOutcome:
    """Finish a 3-D Secure challenge: approve charges (or declines 3178), reject fails."""
    with sandbox.store.transaction():
        session = _open_session(sandbox, session_id)
        pending = session.get("_pending")
        if not pending:
            raise invalid(
                "This Checkout Session is not waiting for authentication.", param="session"
            )
        now = sandbox.clock.for_customer(session.get("customer"))
        pi = load(sandbox, "payment_intent", pending["payment_intent"])
        pm = load(sandbox, "payment_method", pending["payment_method"])
        session.pop("_pending", None)
        sandbox.store.put(session)
        decline = None if approve else AUTHENTICATION_FAILED
        if approve and pm.get("_three_d_secure"):
            # 4000008260003178 authenticates, then the issuer declines.
            stored = pm.get("_after_authentication")
            decline = Decline(*stored) if stored else None
        if decline is AUTHENTICATION_FAILED:
            payments.fail_authentication(sandbox, pi, decline, now)
            return _declined(decline)
        if decline is not None:
            payments.fail(sandbox, pi, pm, decline, now)
            return _declined(decline)
        if session["mode"] == "subscription":
            return _start_subscription(sandbox, session, pm, pending, now, pi)
        return _finish_payment_mode(sandbox, session, pi, pm, pending, now)


__all__ = [
    "CardDetails",
    "PaymentDetails",
    "PaymentOutcome",
    "complete_authentication",
    "pay_checkout_session",
    "settle_async_payment",
]
