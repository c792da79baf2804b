"""Close the gap left by missed webhooks: re-list recent Stripe objects and record them.

Stripe keeps events for 30 days and an endpoint can be down longer than its retries;
this walks Checkout Sessions, subscriptions, invoices and charges with paginated list
calls (100 a page, never one GET per object) and runs each through the same fulfilment
as the webhook (`stripe_api.sync_*`, handed the listed objects), so it is safe to run at
any time, as often as wanted. Each list is preceded by a read of the mirrored versions
(`shop.mirror`), so a webhook that wrote newer data while the list was fetched is never
overwritten: that object is retrieved afresh instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import stripe

from shop import fulfilment, mirror, stripe_api
from shop.checkout import stock
from shop.extensions import db
from shop.models import Customer, Invoice, Order, Subscription

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    """What a reconcile run looked at and what it changed."""

    sessions: int = 0
    subscriptions: int = 0
    invoices: int = 0
    charges: int = 0
    changed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"Checked {self.sessions} checkout session(s), {self.subscriptions} subscription(s), "
            f"{self.invoices} invoice(s) and {self.charges} refunded charge(s): "
            f"{len(self.changed)} record(s) changed."
        ]
        lines += [f"  {change}" for change in self.changed]
        return "\n".join(lines)


def _order_state(order: Order | None) -> tuple[object, ...]:
    return (None,) if order is None else (order.status, order.amount_paid, order.amount_refunded)


def reconcile(client: stripe.StripeClient, since: datetime) -> ReconcileReport:
    """Record every Checkout Session, subscription, invoice and refund Stripe has since
    `since`."""
    report = ReconcileReport()
    expired = stock.expire_lapsed()  # pending orders whose payment page has lapsed
    db.session.commit()
    if expired:
        report.changed.append(f"{expired} lapsed pending order(s) marked expired")
    seen = mirror.read(None)  # before each list call: see shop.mirror
    for session in stripe_api.recent_checkout_sessions(client, since):
        report.sessions += 1
        before = _order_state(fulfilment.order_for_session(session))
        db.session.rollback()  # a read only: let go of the order's lock before the write
        order = stripe_api.sync_checkout_session(client, session.id, session, seen=seen)
        if order is not None and _order_state(order) != before:
            report.changed.append(f"order #{order.id}: {before[0]} → {order.status}")
        db.session.commit()

    ours = set(db.session.execute(db.select(Customer.stripe_customer_id)).scalars())
    known = set(db.session.execute(db.select(Subscription.stripe_subscription_id)).scalars())
    db.session.commit()
    seen = mirror.read(None)
    for sub in stripe_api.all_subscriptions(client):
        customer = sub.customer if isinstance(sub.customer, str) else sub.customer.id
        if customer not in ours and sub.id not in known:
            continue
        report.subscriptions += 1
        before_sub = db.session.execute(
            db.select(Subscription.status, Subscription.cancel_at_period_end).filter_by(
                stripe_subscription_id=sub.id
            )
        ).one_or_none()
        row = stripe_api.sync_subscription(client, sub.id, sub, seen=seen)
        if before_sub is None or tuple(before_sub) != (row.status, row.cancel_at_period_end):
            report.changed.append(f"membership {sub.id}: {row.status}")
        db.session.commit()

    _reconcile_invoices(client, since, report)

    seen = mirror.read(None)
    for charge in stripe_api.recent_charges(client, since):
        if not charge.amount_refunded:
            continue
        report.charges += 1
        before = _order_state(fulfilment.order_for_payment(charge.payment_intent))
        db.session.rollback()  # a read only: let go of the order's lock before the write
        order = stripe_api.sync_charge(client, charge.id, charge, seen=seen)
        if order is not None and _order_state(order) != before:
            report.changed.append(f"order #{order.id}: {before[0]} → {order.status}")
        db.session.commit()
    log.info("reconcile: %s", report)
    return report


def _reconcile_invoices(
    client: stripe.StripeClient, since: datetime, report: ReconcileReport
) -> None:
    """Record the invoices of Quire's memberships created since `since` (renewals paid or
    failed whose `invoice.paid` / `invoice.payment_failed` never arrived)."""
    ours = set(db.session.execute(db.select(Customer.stripe_customer_id)).scalars())
    subscriptions = set(
        db.session.execute(db.select(Subscription.stripe_subscription_id)).scalars()
    )
    seen = mirror.read(None)
    for invoice in stripe_api.recent_invoices(client, since):
        customer = invoice.customer
        customer = customer if isinstance(customer, str) or customer is None else customer.id
        if (
            customer not in ours
            and fulfilment.invoice_subscription_id(invoice) not in subscriptions
        ):
            continue
        report.invoices += 1
        before = db.session.execute(
            db.select(Invoice.status, Invoice.amount_paid, Invoice.attempt_count).filter_by(
                stripe_invoice_id=invoice.id
            )
        ).one_or_none()
        db.session.commit()
        row = stripe_api.sync_invoice(client, invoice.id or "", invoice, seen=seen)
        if before is None or tuple(before) != (row.status, row.amount_paid, row.attempt_count):
            report.changed.append(f"invoice {row.stripe_invoice_id}: {row.status}")
        db.session.commit()
