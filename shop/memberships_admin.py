"""What the shop owner does to a member's membership and invoices: cancel it (at the
period end or now), move it to another plan, pay an open invoice now.

Each runs without a request (the `subscriptions` and `invoices` commands call them, and
an admin page could) and is safe to repeat: it first records the object as Stripe has
it now, decides from that, and says so when there is nothing left to do. Whatever Stripe
answers is recorded through the same `stripe_api.sync_*` mirror as the webhooks, so the
member's pages follow at once, before any event arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import stripe

from shop import mirror, stripe_api
from shop.catalogue import Catalogue
from shop.checkout import memberships
from shop.checkout.orders import CheckoutRefused, current_membership
from shop.checkout.prices import CatalogueNotSynced, PriceDirectory
from shop.extensions import db
from shop.models import Invoice, Subscription, User
from shop.money import format_money
from shop.notices import ENDED_STATUSES
from shop.stripe_api import StripeFailure


class Refused(RuntimeError):
    """The request cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Done:
    """What a command did: `changed` is False when there was nothing left to do."""

    changed: bool
    message: str


def day(value: datetime | None) -> str:
    """A date as the shop's pages write it (`12 Dec 2026`)."""
    return value.strftime("%-d %b %Y") if value else "an unknown date"


def account(email: str) -> User:
    """The account with this email. :raise Refused: none has it."""
    user: User | None = db.session.execute(
        db.select(User).filter_by(email=email.strip().lower())
    ).scalar_one_or_none()
    if user is None:
        raise Refused(
            f"No account has the email {email!r}: check the address "
            "(`flask --app wsgi subscriptions list` shows every member's)."
        )
    return user


def newest_membership(user: User) -> Subscription:
    """The user's live membership, else their newest one whatever its status.

    :raise Refused: they never had one.
    """
    found = (
        current_membership(user)
        or db.session.execute(
            db.select(Subscription)
            .filter_by(user_id=user.id)
            .order_by(Subscription.id.desc())
            .limit(1)
        ).scalar_one_or_none()
    )
    if found is None:
        raise Refused(f"{user.email} has no membership: nothing to cancel or change.")
    return found


def _refreshed(client: stripe.StripeClient, membership: Subscription) -> Subscription:
    """The membership as Stripe has it now, recorded and committed."""
    row = stripe_api.sync_subscription(client, membership.stripe_subscription_id)
    db.session.commit()
    return row


def _refusal(failure: StripeFailure, doing: str) -> Refused:
    said = failure.user_message or str(failure)
    return Refused(f"Stripe refused to {doing}: {said}. Nothing changed; try again later.")


def _plan_name(catalogue: Catalogue | None, membership: Subscription) -> str:
    plan = catalogue.plan(membership.plan_key or "") if catalogue is not None else None
    return plan.name if plan is not None else (membership.plan_key or "unknown plan")


def cancel_membership(
    client: stripe.StripeClient,
    email: str,
    *,
    now: bool,
    catalogue: Catalogue | None = None,
) -> Done:
    """Cancel the member's membership at the end of what they paid for, or `now`.

    At the period end the member keeps it until then (`cancel_at_period_end`); now ends
    it at once, with no credit and no final invoice (see
    `stripe_api.cancel_subscription_now`). Committed.
    :raise Refused: unknown email, no membership, or Stripe refused.
    """
    user = account(email)
    try:
        membership = _refreshed(client, newest_membership(user))
        name = _plan_name(catalogue, membership)
        if membership.status in ENDED_STATUSES:
            ended = membership.canceled_at or membership.current_period_end
            return Done(
                False,
                f"{user.email}'s {name} membership is already cancelled (ended {day(ended)}).",
            )
        subscription_id = membership.stripe_subscription_id
        if not now and membership.cancel_at_period_end:
            return Done(
                False,
                f"{user.email}'s {name} membership is already cancelling: it ends on "
                f"{day(membership.current_period_end)}.",
            )
        seen = mirror.read([subscription_id])  # before Stripe answers: see shop.mirror
        if now:
            answer = stripe_api.cancel_subscription_now(client, subscription_id)
        else:
            key = stripe_api.idempotency_key(
                "cancel-at-period-end", subscription_id, seen.of(subscription_id)
            )
            answer = stripe_api.cancel_subscription_at_period_end(client, subscription_id, key)
        row = stripe_api.sync_subscription(client, subscription_id, answer, seen=seen)
        db.session.commit()
    except StripeFailure as failure:
        db.session.rollback()
        raise _refusal(failure, "cancel the membership") from failure
    if now:
        return Done(
            True,
            f"{user.email}'s {name} membership is cancelled: it ended now "
            "(no refund or credit; refund an order from /admin/ if you owe one).",
        )
    return Done(
        True,
        f"{user.email}'s {name} membership will end on {day(row.current_period_end)}; "
        "they keep it until then and are not charged again.",
    )


def change_plan(
    client: stripe.StripeClient,
    catalogue: Catalogue,
    prices: PriceDirectory,
    email: str,
    plan_key: str,
    interval: str | None = None,
) -> Done:
    """Move the member's live membership to the catalogue's `plan_key` billed every
    `interval` (their current interval when None), prorated, as the account page's
    switch does (`checkout.memberships`); a membership set to end is resumed. Committed.

    :raise Refused: unknown email or plan, an interval the plan is not sold by, no live
        membership, the catalogue not synced to Stripe, or Stripe refused.
    """
    plan = catalogue.plan(plan_key)
    if plan is None:
        offered = ", ".join(f"{p.key} ({p.name})" for p in catalogue.plans) or "none"
        raise Refused(f"The catalogue has no plan {plan_key!r}. Its plans: {offered}.")
    user = account(email)
    try:
        membership = current_membership(user)
        if membership is not None:
            membership = _refreshed(client, membership)
        if membership is None or not membership.is_live:
            raise Refused(
                f"{user.email} has no live membership to change: they subscribe on the "
                "shop's plan page."
            )
        wanted = interval or membership.interval or ""
        if plan.price_for(wanted) is None:
            sold = ", ".join(i for i, _ in plan.prices)
            raise Refused(f"{plan.name} is not sold every {wanted!r}: choose --interval {sold}.")
        if (
            membership.plan_key == plan.key
            and membership.interval == wanted
            and not membership.cancel_at_period_end
        ):
            return Done(False, f"{user.email} is already on {plan.name}, billed every {wanted}.")
        resumes = membership.cancel_at_period_end
        switch = memberships.plan_switch(catalogue, user, plan.key, wanted)
        row = memberships.switch_membership(client, prices, switch)
    except CheckoutRefused as refusal:
        raise Refused(str(refusal)) from refusal
    except CatalogueNotSynced as missing:
        raise Refused(f"Stripe has no price for it: {missing}.") from missing
    except StripeFailure as failure:
        db.session.rollback()
        raise _refusal(failure, "change the plan") from failure
    then = " (no longer ending at the period end)" if resumes else ""
    return Done(
        True,
        f"{user.email} is now on {plan.name}, billed every {row.interval}{then}: "
        f"{format_money(switch.amount, plan.currency)} a {wanted}, the difference "
        "prorated on the next invoice.",
    )


def _invoice_id(reference: str) -> str:
    """Stripe's invoice id for `reference`: an `in_…` id, or Quire's invoice number."""
    reference = reference.strip()
    if reference.startswith("in_"):
        return reference
    if reference.isdigit():
        row = db.session.get(Invoice, int(reference))
        if row is None:
            raise Refused(f"Quire has no invoice number {reference}.")
        return row.stripe_invoice_id
    raise Refused(
        f"{reference!r} is not an invoice: give Stripe's id (in_…) or Quire's invoice number."
    )


def retry_invoice(client: stripe.StripeClient, reference: str) -> Done:
    """Pay an open invoice now with the member's card on file; recorded, committed.

    :raise Refused: no such invoice, one that is not open, or the card was declined
        (Stripe's message; the attempt is recorded all the same).
    """
    invoice_id = _invoice_id(reference)
    try:
        row = stripe_api.sync_invoice(client, invoice_id)
        db.session.commit()
    except StripeFailure as failure:
        db.session.rollback()
        if failure.code == "resource_missing":
            raise Refused(f"Stripe has no invoice {invoice_id}.") from failure
        raise _refusal(failure, "read the invoice") from failure
    amount = format_money(row.amount_due, row.currency)
    if row.status == "paid":
        return Done(False, f"Invoice {invoice_id} is already paid ({amount}).")
    if row.status != "open":
        raise Refused(f"Invoice {invoice_id} is {row.status}: only an open invoice can be paid.")
    key = stripe_api.idempotency_key("pay", invoice_id, row.attempt_count)
    try:
        stripe_api.pay_invoice(client, invoice_id, key)
    except StripeFailure as failure:
        if failure.kind == "CardError":
            try:
                _record_invoice(client, invoice_id)  # the attempt counts: the pages say so
            except StripeFailure:
                db.session.rollback()  # the webhook records it instead
            raise Refused(
                f"The card was declined for invoice {invoice_id} ({amount}): "
                f"{failure.user_message or failure.code}. The member must update their card "
                "(account page, Manage billing); then run this again."
            ) from failure
        raise _refusal(failure, "pay the invoice") from failure
    try:
        row = _record_invoice(client, invoice_id)
    except StripeFailure:
        db.session.rollback()
        return Done(
            True,
            f"Invoice {invoice_id} was sent for payment ({amount}), but Stripe could not be "
            "read back: its webhook records the outcome (or run `orders reconcile`).",
        )
    if row.status != "paid":  # a bank debit, say, still clearing
        return Done(
            True,
            f"Invoice {invoice_id}: payment of {amount} started, Stripe has the invoice "
            f"{row.status} until it clears; Quire records the outcome when Stripe sends it.",
        )
    return Done(True, f"Invoice {invoice_id} is paid: {amount}.")


def _record_invoice(client: stripe.StripeClient, invoice_id: str) -> Invoice:
    """The invoice and its membership as Stripe has them now, recorded and committed."""
    row = stripe_api.sync_invoice(client, invoice_id)
    db.session.commit()
    return row


def members(status: str | None = None) -> list[tuple[Subscription, str]]:
    """Every membership Quire knows (those in `status` only, when given), newest first,
    with its account's email."""
    query = (
        db.select(Subscription, User.email)
        .join(User, User.id == Subscription.user_id, isouter=True)
        .order_by(Subscription.id.desc())
    )
    if status is not None:
        query = query.where(Subscription.status == status)
    return [(row, email or "(no account)") for row, email in db.session.execute(query)]
