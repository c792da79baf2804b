"""What happened → which mail to whom.

Each function here is called where Quire *records* a happening (an order first paid, a
parcel marked shipped, a refund, a membership that ended, a failed renewal, a trial about
to end), so the webhook, the confirmation page, `orders reconcile` and the admin pages
all tell the shopper the same way. Each mail is queued with a key that names the
happening (`receipt:order:12`), in the caller's transaction: a replayed or concurrent
duplicate queues nothing more, a rollback takes the mail with it, and it is sent only
once the transaction has committed (see `shop.mail`).

Amounts come from Quire's records and the catalogue, never from what a browser sent.
A happening with no known shopper is logged and skipped.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec

from flask import current_app
from sqlalchemy import inspect
from sqlalchemy.orm.attributes import History
from sqlalchemy.orm.state import InstanceState

from shop import mail
from shop.catalogue import Catalogue, LookupKey, Plan
from shop.catalogue_source import catalogue_of
from shop.entitlements import grace_period
from shop.extensions import db
from shop.models import Customer, Invoice, Mail, Order, OrderItem, Subscription, User
from shop.receipts import first_payment, membership_of

log = logging.getLogger(__name__)
P = ParamSpec("P")

#: Subscription statuses in which a membership is over (or never began).
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired", "unpaid"})


@dataclass(frozen=True)
class NextPayment:
    """What a membership charges next, and when (None: not known yet)."""

    amount: int
    currency: str
    due: datetime | None
    interval: str | None


# --- who, and once -------------------------------------------------------------------


def _quietly(notice: Callable[P, bool]) -> Callable[P, bool]:
    """Run a notice without flushing the caller's pending changes: its reads must not
    turn what the caller is still recording into flushed state (`reconcile` asks
    `session.is_modified` afterwards to report what changed).
    """

    @functools.wraps(notice)
    def quiet(*args: P.args, **kwargs: P.kwargs) -> bool:
        with db.session.no_autoflush:
            return notice(*args, **kwargs)

    return quiet


def _queue(kind: str, user: User | None, key: str, **context: Any) -> bool:
    """Queue mail `kind` to `user` once per `key`; False when skipped or queued before."""
    if user is None:
        log.warning("no shopper known for %s; mail %s not written", key, kind)
        return False
    already = db.session.execute(db.select(Mail.id).filter_by(key=key)).first()
    if already is not None:  # the cheap answer for a replay: nothing is rendered
        return False
    return mail.queue(kind, user.email, key=key, user=user, **context)


def _user_of_customer(customer_id: str | None) -> User | None:
    if not customer_id:
        return None
    user: User | None = db.session.execute(
        db.select(User).join(Customer).where(Customer.stripe_customer_id == customer_id)
    ).scalar_one_or_none()
    return user


def _member(membership: Subscription) -> User | None:
    """The membership's shopper: its own user, else the one its Stripe customer stands for."""
    if membership.user_id is not None:
        return db.session.get(User, membership.user_id)
    return _user_of_customer(membership.stripe_customer_id)


def _catalogue() -> Catalogue | None:
    loaded = catalogue_of(current_app._get_current_object())  # type: ignore[attr-defined]
    return loaded


def _plan(key: str | None) -> Plan | None:
    catalogue = _catalogue()
    return catalogue.plan(key) if catalogue is not None and key else None


def _plan_name(key: str | None) -> str | None:
    """The plan's name for people (None when the membership's plan is not known)."""
    plan = _plan(key)
    if plan is not None:
        return plan.name
    return key.replace("-", " ").title() if key else None


def _plan_price(key: str | None, interval: str | None) -> tuple[int, str] | None:
    """The catalogue's price of a plan per interval, with its currency."""
    plan = _plan(key)
    amount = plan.price_for(interval) if plan is not None and interval else None
    return (amount, plan.currency) if plan is not None and amount is not None else None


# --- orders --------------------------------------------------------------------------


def _is_ebook(item: OrderItem) -> bool:
    catalogue = _catalogue()
    book = catalogue.book(item.item_key) if catalogue is not None else None
    return book is not None and book.format == "ebook"


def ebooks_in(order: Order) -> list[str]:
    """The descriptions of an order's ebooks (read from the library, not posted)."""
    return [item.description for item in order.items if _is_ebook(item)]


def next_payment(order: Order) -> NextPayment | None:
    """What a membership sign-up charges next: a trial's first payment, else the renewal."""
    trial = first_payment(order)
    if trial is not None:
        return NextPayment(trial.amount, trial.currency, trial.due, trial.interval)
    if not order.items:
        return None
    interval = LookupKey(order.items[0].lookup_key).interval
    membership = membership_of(order)
    price = _plan_price(order.plan_key or order.items[0].item_key, interval)
    amount, currency = price or (order.items[0].unit_amount, order.currency)
    due = membership.current_period_end if membership is not None else None
    return NextPayment(amount, currency, due, interval)


@_quietly
def order_paid(order: Order) -> bool:
    """The receipt, when an order is first recorded paid (books or a membership sign-up)."""
    key = f"receipt:order:{order.id}"
    if order.kind == "membership":
        plan_key = order.plan_key or (order.items[0].item_key if order.items else None)
        return _queue(
            "receipt",
            order.user,
            key,
            order=order,
            plan_name=_plan_name(plan_key) or "Quire",
            trial=first_payment(order),
            next_payment=next_payment(order),
            ebooks=[],
        )
    return _queue("receipt", order.user, key, order=order, ebooks=ebooks_in(order))


@_quietly
def order_shipped(order: Order) -> bool:
    """The shipped notice, once the admin has marked the order's parcel posted."""
    posted = [item for item in order.items if not _is_ebook(item)]
    return _queue("shipped", order.user, f"shipped:order:{order.id}", order=order, posted=posted)


@_quietly
def refund_recorded(order: Order, charge_id: str, refunded_before: int) -> bool:
    """A refund notice for each new refunded total of a charge (a replay finds its key)."""
    refunded = order.amount_refunded
    if refunded <= refunded_before:
        return False
    paid = order.amount_paid or 0
    return _queue(
        "refund_issued",
        order.user,
        f"refund:{charge_id}:{refunded}",
        order=order,
        amount=refunded - refunded_before,
        refunded=refunded,
        left=max(paid - refunded, 0),
        fully=refunded >= paid,
    )


# --- memberships ---------------------------------------------------------------------


def _status_before(membership: Subscription) -> str | None:
    """The status the row had before this transaction's write (None: a new row)."""
    state: InstanceState[Subscription] = inspect(membership)
    history: History = state.attrs.status.history
    if history.deleted:
        return str(history.deleted[0])
    if state.pending:
        return None
    return str(history.unchanged[0]) if history.unchanged else None


@_quietly
def membership_recorded(membership: Subscription) -> bool:
    """The "membership ended" mail when a membership Quire knew as open becomes ended.

    Call it after the new values are set on the row and before anything flushes, so the
    status it had before can still be seen. A membership first seen already ended (an
    old one listed by reconcile) sends nothing.
    """
    before = _status_before(membership)
    if membership.status not in ENDED_STATUSES or before is None or before in ENDED_STATUSES:
        return False
    return _queue(
        "membership_ended",
        _member(membership),
        f"membership-ended:{membership.stripe_subscription_id}",
        membership=membership,
        plan_name=_plan_name(membership.plan_key),
        never_started=membership.status == "incomplete_expired",
    )


@_quietly
def trial_ending(membership: Subscription) -> bool:
    """The "trial ends in 3 days" mail, while the membership is still on its free trial."""
    if membership.status != "trialing" or membership.trial_end is None:
        return False
    price = _plan_price(membership.plan_key, membership.interval)
    return _queue(
        "trial_ending",
        _member(membership),
        f"trial-ending:{membership.stripe_subscription_id}:{int(membership.trial_end.timestamp())}",
        membership=membership,
        plan_name=_plan_name(membership.plan_key),
        price=price,
    )


@_quietly
def invoice_recorded(invoice: Invoice) -> bool:
    """The "payment failed" mail for each failed attempt at a membership's invoice.

    An invoice that is still open after an attempt was refused; one paid meanwhile (a
    late `invoice.payment_failed`) sends nothing.
    """
    if invoice.status != "open" or invoice.attempt_count < 1 or invoice.amount_paid > 0:
        return False
    membership = None
    if invoice.stripe_subscription_id:
        membership = db.session.execute(
            db.select(Subscription).filter_by(stripe_subscription_id=invoice.stripe_subscription_id)
        ).scalar_one_or_none()
    user = _user_of_customer(invoice.stripe_customer_id)
    if user is None and membership is not None:
        user = _member(membership)
    return _queue(
        "payment_failed",
        user,
        f"payment-failed:{invoice.stripe_invoice_id}:{invoice.attempt_count}",
        invoice=invoice,
        plan_name=_plan_name(membership.plan_key if membership else None),
        grace_days=grace_period().days,
    )
