"""One membership at a time: signing up, replacing an unpaid sign-up, and switching a live
membership to another plan or interval instead of stacking a second one.

Like the rest of `checkout`, these run without a request; the views pass the Stripe
client and the catalogue in.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import stripe

from shop import mirror, stripe_api
from shop.catalogue import PLAN_METADATA, Catalogue, Interval, Plan, SellingPrice
from shop.checkout.orders import (
    CheckoutRefused,
    SignupWaiting,
    current_membership,
    order_membership,
)
from shop.checkout.prices import PriceCheck, PriceDirectory
from shop.extensions import db
from shop.models import Order, OrderStatus, Subscription, User
from shop.stripe_api import StripeFailure


class PlanStanding(enum.StrEnum):
    """What a plan and interval are to a shopper: what the plan page offers them."""

    SUBSCRIBE = "subscribe"  # no membership yet
    YOURS = "yours"  # the live membership they have
    SWITCH = "switch"  # another plan or interval than their live membership


def standing(user: User | None, plan: Plan, interval: str) -> PlanStanding:
    """How `plan` billed every `interval` stands for `user` (None: signed out)."""
    membership = current_membership(user) if user is not None else None
    if membership is None:
        return PlanStanding.SUBSCRIBE
    same = membership.plan_key == plan.key and membership.interval == interval
    return (
        PlanStanding.YOURS
        if same and not membership.cancel_at_period_end
        else (PlanStanding.SWITCH)
    )


def give_up_signup(client: stripe.StripeClient, order: Order) -> None:
    """Close an unpaid membership sign-up: its Checkout Session expired at Stripe, the
    order recorded as expired, committed.

    :raise CheckoutRefused: the sign-up was paid meanwhile (now recorded): the shopper is
        a member and should switch instead.
    :raise StripeFailure: Stripe could not be asked, or could not close a page still open;
        the sign-up stays open.
    """
    session_id = order.checkout_session_id
    db.session.commit()  # no transaction open across the Stripe calls
    if session_id is not None:
        seen = stripe_api.session_versions(session_id)  # before Stripe: see shop.mirror
        try:
            session = stripe_api.expire_checkout_session(client, session_id)
        except StripeFailure:
            # Paid or expired meanwhile, unless Stripe's word is that it is still open.
            session = stripe_api.retrieve_checkout_session(client, session_id)
            if session.status == "open":
                raise
        stripe_api.sync_checkout_session(client, session.id, session, seen=seen)
    if order.status == OrderStatus.PENDING:  # its page can no longer be paid
        order.advance(OrderStatus.EXPIRED)
    db.session.commit()
    if order.status not in (OrderStatus.EXPIRED, OrderStatus.PAYMENT_FAILED):
        raise CheckoutRefused(
            "Your earlier membership sign-up has just been paid: you are a member now. "
            "Choose a plan again to switch to it."
        )


def start_signup(
    client: stripe.StripeClient,
    catalogue: Catalogue,
    user: User,
    plan_key: str,
    interval: str,
    prices: PriceCheck | None = None,
) -> Order:
    """The pending order for a new membership; an unpaid sign-up for another plan or
    interval gives way to it (its Checkout Session expired at Stripe), so choosing
    another plan never leaves two sign-ups to pay. `prices` checks the plan's Stripe
    price first. :raise CatalogueNotSynced: from `prices`; nothing was made or ended.
    """
    try:
        return order_membership(catalogue, user, plan_key, interval, prices)
    except SignupWaiting as waiting:
        give_up_signup(client, waiting.order)
    return order_membership(catalogue, user, plan_key, interval, prices)


@dataclass(frozen=True)
class Switch:
    """A change from the live membership to another plan or interval, before it is made."""

    membership: Subscription
    from_plan: Plan | None
    to_plan: Plan
    interval: Interval
    amount: int

    @property
    def resumes(self) -> bool:
        """The membership was set to end at the period end; switching keeps it going."""
        return self.membership.cancel_at_period_end

    @property
    def next_invoice_on(self) -> datetime | None:
        """When the next invoice (with the prorated difference) falls due."""
        if self.membership.status == "trialing" and self.membership.trial_end:
            return self.membership.trial_end
        return self.membership.current_period_end


def plan_switch(catalogue: Catalogue, user: User, plan_key: str, interval: str) -> Switch:
    """What switching the user's live membership to `plan_key` every `interval` means.

    :raise CheckoutRefused: no live membership, an unknown plan or interval, or the
        membership already is that plan and interval.
    """
    plan = catalogue.plan(plan_key)
    amount = plan.price_for(interval) if plan is not None else None
    if plan is None or amount is None:
        raise CheckoutRefused("That membership is not offered.")
    membership = current_membership(user)
    if membership is None:
        raise CheckoutRefused("You have no membership to switch: subscribe instead.")
    if standing(user, plan, interval) is PlanStanding.YOURS:
        raise CheckoutRefused(f"{plan.name}, billed every {interval}, is your plan already.")
    from_plan = catalogue.plan(membership.plan_key or "")
    return Switch(membership, from_plan, plan, cast(Interval, interval), amount)


def switch_membership(
    client: stripe.StripeClient, prices: PriceDirectory, switch: Switch
) -> Subscription:
    """Make the switch at Stripe (prorated, resumed if cancelling) and record the
    subscription as Stripe returns it; committed.

    :raise StripeFailure: Stripe could not be asked or refused; nothing changed here.
    :raise CatalogueNotSynced: Stripe has no price for the new plan.
    """
    plan = switch.to_plan
    wanted = SellingPrice(
        plan.lookup_key(switch.interval), switch.amount, plan.currency, switch.interval
    )
    subscription_id = switch.membership.stripe_subscription_id
    db.session.commit()  # no transaction open across the Stripe calls
    price_id = prices.resolve(client, wanted)
    seen = mirror.read([subscription_id])  # before Stripe answers: see shop.mirror
    updated = stripe_api.switch_subscription_price(
        client,
        subscription_id,
        price_id,
        {PLAN_METADATA: plan.key},
        state=seen.of(subscription_id),
    )
    row = stripe_api.sync_subscription(client, subscription_id, updated, seen=seen)
    db.session.commit()
    return row
