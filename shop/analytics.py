"""The business over a period, from Quire's own records (no request, no Stripe call).

Each figure is one function over the database taking `start` and `end` (aware UTC,
`start` included, `end` excluded) and aggregating in SQL, so a shop with a hundred
thousand orders reads a few grouped rows rather than every order. The admin dashboard
shows them; each definition here is the one written beside its figure on the page.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, union_all

from shop.extensions import db
from shop.models import (
    WAS_PAID,
    Invoice,
    MoneyMovement,
    MoneyMovementKind,
    Order,
    OrderItem,
    OrderStatus,
    Subscription,
    UTCDateTime,
    utcnow,
)

#: The periods the dashboard offers: their key, name and length in days.
PERIODS = {
    "7d": ("7 days", 7),
    "30d": ("30 days", 30),
    "90d": ("90 days", 90),
    "12m": ("12 months", 365),
}
DEFAULT_PERIOD = "30d"


@dataclass(frozen=True)
class Period:
    """The last `days` calendar days (UTC), today included, up to `end` (now).

    Figures over time have one point per day, or per week (`step_days` 7) for 12 months.
    """

    key: str
    label: str
    start: datetime
    end: datetime
    step_days: int

    @property
    def days(self) -> list[date]:
        """Each day of the period, oldest first."""
        first = self.start.date()
        return [first + timedelta(days=n) for n in range((self.end.date() - first).days + 1)]

    @property
    def buckets(self) -> list[date]:
        """The first day of each point in time (each day, or each week for 12 months)."""
        return self.days[:: self.step_days]


def period(key: str | None, now: datetime | None = None) -> Period:
    """The period named by `key` (`7d`, `30d`, `90d`, `12m`); any other key is 30 days."""
    if key not in PERIODS:
        key = DEFAULT_PERIOD
    label, days = PERIODS[key]
    end = now or utcnow()
    start = datetime.combine(end.date() - timedelta(days=days - 1), time(), UTC)
    return Period(key, label, start, end, 7 if days > 90 else 1)


def _day(column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a time column, in SQL (PostgreSQL would use its session's
    time zone without the conversion)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _in(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


# --- Revenue --------------------------------------------------------------------------

SIGNED_AMOUNT = case(
    (MoneyMovement.kind == MoneyMovementKind.REFUND, -MoneyMovement.amount),
    else_=MoneyMovement.amount,
)


def revenue_by_day(start: datetime, end: datetime) -> dict[str, dict[date, int]]:
    """Money taken less money refunded, per currency and UTC day, from the ledger: order
    payments, membership renewals (a membership's first payment is its order's) and
    refunds, each on the day Stripe made it. Days with no movement are absent."""
    day = _day(MoneyMovement.occurred_at)
    rows = db.session.execute(
        select(MoneyMovement.currency, day, func.sum(SIGNED_AMOUNT))
        .where(_in(MoneyMovement.occurred_at, start, end))
        .group_by(MoneyMovement.currency, day)
    ).all()
    revenue: dict[str, dict[date, int]] = defaultdict(dict)
    for currency, on, amount in rows:
        revenue[currency][_as_date(on)] = int(amount or 0)
    return dict(sorted(revenue.items()))


def revenue_series(
    revenue: dict[date, int], buckets: list[date], step_days: int
) -> list[tuple[date, int]]:
    """Daily revenue gathered into the period's points (each day, or each week)."""
    return [
        (first, sum(revenue.get(first + timedelta(days=n), 0) for n in range(step_days)))
        for first in buckets
    ]


# --- Memberships ----------------------------------------------------------------------


#: Statuses of memberships that pay now: active, and past due (a renewal failed and
#: Stripe is still retrying it, so the membership still counts on being paid).
PAYING = ("active", "past_due")
#: Statuses of memberships that count as members: paying, or in a free trial.
MEMBER = (*PAYING, "trialing")
#: An ended membership (`canceled`) counted for the time it was live. Quire keeps no
#: history of statuses: one `unpaid`, `paused` or `incomplete` now counts at no point.
ENDED = "canceled"


def _live_at(at: Any) -> ColumnElement[bool]:
    """Started by `at` and not ended then."""
    return and_(
        Subscription.started_at <= at,
        or_(Subscription.ended_at.is_(None), Subscription.ended_at > at),
    )


def _counted(statuses: tuple[str, ...]) -> ColumnElement[bool]:
    """In one of `statuses` now, or ended (counted while it was live)."""
    return or_(
        Subscription.status.in_(statuses),
        and_(Subscription.status == ENDED, Subscription.ended_at.is_not(None)),
    )


def mrr_at(points: list[datetime]) -> dict[str, list[int]]:
    """Monthly recurring revenue per currency at each instant in `points`: memberships
    live then (started ≤ it < ended) and not in a free trial then, that pay now (active
    or past due; an ended one for the time it was live), each at its current amount
    after discounts, monthly plans as they are and yearly plans ÷ 12 (rounded once per
    currency). `unpaid`, `paused` and `incomplete` ones count nowhere. One query for
    all the points."""
    if not points:
        return {}
    at_table = union_all(
        *(
            select(literal(index).label("i"), literal(at, UTCDateTime).label("at"))
            for index, at in enumerate(points)
        )
    ).subquery("points")
    rows = db.session.execute(
        select(
            at_table.c.i,
            Subscription.currency,
            Subscription.interval,
            func.sum(Subscription.amount),
        )
        .join(
            Subscription,
            and_(
                _live_at(at_table.c.at),
                _counted(PAYING),
                or_(Subscription.trial_end.is_(None), Subscription.trial_end <= at_table.c.at),
                Subscription.amount.is_not(None),
                Subscription.currency.is_not(None),
            ),
        )
        .group_by(at_table.c.i, Subscription.currency, Subscription.interval)
    ).all()
    monthly: dict[str, list[int]] = defaultdict(lambda: [0] * len(points))
    yearly: dict[str, list[int]] = defaultdict(lambda: [0] * len(points))
    for index, currency, interval, amount in rows:
        target = yearly if interval == "year" else monthly
        target[currency][int(index)] += int(amount or 0)
    return {
        currency: [
            monthly[currency][n] + round(yearly[currency][n] / 12) for n in range(len(points))
        ]
        for currency in sorted({*monthly, *yearly})
    }


def mrr_points(p: Period) -> list[datetime]:
    """The instants the MRR trend is read at: the end of each point's day (or week),
    and now for the last."""
    ends = [
        datetime.combine(first + timedelta(days=p.step_days), time(), UTC) for first in p.buckets
    ]
    return [min(at, p.end) for at in ends]


@dataclass(frozen=True)
class MemberCounts:
    active: int
    trialing: int
    past_due: int
    cancelling: int


def members_by_status() -> MemberCounts:
    """Memberships now: active (not cancelling), trialing, past due, and cancelling
    (active, set to end at the period's end)."""
    cancelling = and_(Subscription.status == "active", Subscription.cancel_at_period_end)
    state = case((cancelling, "cancelling"), else_=Subscription.status)
    rows = db.session.execute(
        select(state, func.count())
        .where(Subscription.status.in_(["active", "trialing", "past_due"]))
        .group_by(state)
    ).all()
    counts: dict[str, int] = {str(status): int(count) for status, count in rows}
    return MemberCounts(
        counts.get("active", 0),
        counts.get("trialing", 0),
        counts.get("past_due", 0),
        counts.get("cancelling", 0),
    )


@dataclass(frozen=True)
class Share:
    """`part` of `whole`, and the rate (None when the whole is nothing)."""

    part: int
    whole: int

    @property
    def rate(self) -> float | None:
        return self.part / self.whole if self.whole else None


def churn(start: datetime, end: datetime) -> Share:
    """Memberships that ended in the period ÷ memberships live at its start (trials
    included): paying or in a trial now, or ended since. One never paid for
    (`incomplete`, `incomplete_expired`), `unpaid` or `paused` counts in neither."""
    ended = db.session.execute(
        select(func.count())
        .select_from(Subscription)
        .where(_in(Subscription.ended_at, start, end), _counted(MEMBER))
    ).scalar_one()
    live = db.session.execute(
        select(func.count()).select_from(Subscription).where(_live_at(start), _counted(MEMBER))
    ).scalar_one()
    return Share(int(ended), int(live))


def trial_conversion(start: datetime, end: datetime) -> Share:
    """Of the free trials that ended in the period, those followed by a paid invoice
    for more than nothing."""
    paid = (
        select(Invoice.id)
        .where(
            Invoice.stripe_subscription_id == Subscription.stripe_subscription_id,
            Invoice.status == "paid",
            Invoice.amount_paid > 0,
        )
        .exists()
    )
    whole, part = db.session.execute(
        select(func.count(), func.count(case((paid, 1)))).where(
            _in(Subscription.trial_end, start, end)
        )
    ).one()
    return Share(int(part or 0), int(whole or 0))


# --- Checkout, failed payments --------------------------------------------------------


@dataclass(frozen=True)
class CheckoutConversion:
    kind: str  # "book" or "membership"
    key: str  # the book's or the plan's key
    opened: int
    paid: int

    @property
    def share(self) -> Share:
        return Share(self.paid, self.opened)


def checkout_conversion(start: datetime, end: datetime) -> list[CheckoutConversion]:
    """Per book and plan: orders made in the period that opened a Checkout Session, and
    those of them paid (whatever happened to the money since). An order of several
    books counts once for each."""
    was_paid = case((Order.status.in_([str(s) for s in WAS_PAID]), Order.id))
    rows = db.session.execute(
        select(
            Order.kind,
            OrderItem.item_key,
            func.count(func.distinct(Order.id)),
            func.count(func.distinct(was_paid)),
        )
        .join(OrderItem, OrderItem.order_id == Order.id)
        .where(Order.checkout_session_id.is_not(None), _in(Order.created_at, start, end))
        .group_by(Order.kind, OrderItem.item_key)
        .order_by(Order.kind, OrderItem.item_key)
    ).all()
    return [
        CheckoutConversion(kind, key, int(opened), int(paid)) for kind, key, opened, paid in rows
    ]


@dataclass(frozen=True)
class FailedPayments:
    orders: int  # checkouts made in the period whose payment failed
    invoices: int  # membership invoices made in the period with a failed attempt
    recovered: int  # of those paid in the period after a failed attempt
    recovered_revenue: dict[str, int]


#: An invoice that failed at least once: retried, or tried and still unpaid.
FAILED_ATTEMPT = or_(
    Invoice.attempt_count > 1,
    and_(Invoice.attempt_count >= 1, func.coalesce(Invoice.status, "") != "paid"),
)


def failed_payments(start: datetime, end: datetime) -> FailedPayments:
    """Failed payments in the period and the revenue won back: membership invoices paid
    in the period after at least one failed attempt, on the day they were paid."""
    orders = db.session.execute(
        select(func.count())
        .select_from(Order)
        .where(Order.status == OrderStatus.PAYMENT_FAILED, _in(Order.created_at, start, end))
    ).scalar_one()
    invoices = db.session.execute(
        select(func.count())
        .select_from(Invoice)
        .where(FAILED_ATTEMPT, _in(Invoice.created_at, start, end))
    ).scalar_one()
    rows = db.session.execute(
        select(MoneyMovement.currency, func.count(), func.sum(MoneyMovement.amount))
        .join(Invoice, Invoice.stripe_invoice_id == MoneyMovement.stripe_invoice_id)
        .where(
            MoneyMovement.kind == MoneyMovementKind.PAYMENT,
            Invoice.attempt_count > 1,
            _in(MoneyMovement.occurred_at, start, end),
        )
        .group_by(MoneyMovement.currency)
        .order_by(MoneyMovement.currency)
    ).all()
    return FailedPayments(
        int(orders),
        int(invoices),
        sum(int(count) for _, count, _ in rows),
        {currency: int(amount or 0) for currency, _, amount in rows},
    )


# --- Everything the dashboard shows ----------------------------------------------------


@dataclass(frozen=True)
class Overview:
    period: Period
    revenue: dict[str, list[tuple[date, int]]]  # per currency, per point
    revenue_total: dict[str, int]
    mrr: dict[str, list[tuple[date, int]]]  # per currency, per point (the last is now)
    mrr_now: dict[str, int]
    members: MemberCounts
    churn: Share
    trials: Share
    checkouts: list[CheckoutConversion]
    failed: FailedPayments


def overview(p: Period) -> Overview:
    """Every figure of the dashboard for period `p` (about ten grouped queries)."""
    daily = revenue_by_day(p.start, p.end)
    revenue = {
        currency: revenue_series(days, p.buckets, p.step_days) for currency, days in daily.items()
    }
    mrr = {
        currency: list(zip(p.buckets, values, strict=True))
        for currency, values in mrr_at(mrr_points(p)).items()
    }
    return Overview(
        period=p,
        revenue=revenue,
        revenue_total={currency: sum(days.values()) for currency, days in daily.items()},
        mrr=mrr,
        mrr_now={currency: series[-1][1] for currency, series in mrr.items()},
        members=members_by_status(),
        churn=churn(p.start, p.end),
        trials=trial_conversion(p.start, p.end),
        checkouts=checkout_conversion(p.start, p.end),
        failed=failed_payments(p.start, p.end),
    )
