"""Entitlements: one place answering "may this user read X / does this user get Y".

A user owns a book bought in an order that is paid (or only partly refunded): a full
refund or a dispute takes it back. A membership gives its plan's benefits while it is
live — trialing, active, or past due for no longer than the grace period
(`MEMBER_GRACE_DAYS`, counted from when it fell past due). Everything is read from the
database and the catalogue at the moment of asking, so a refund, a dispute or a
cancelled membership takes effect on the next question. No Flask request needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from shop.catalogue import Book, Catalogue, Plan, PrintCoupon, ProductKind
from shop.catalogue_source import catalogue_of
from shop.extensions import db
from shop.models import Order, OrderItem, OrderStatus, Subscription, User, utcnow

#: Order statuses in which the buyer keeps what they bought.
OWNING_STATUSES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)
#: Membership statuses that give benefits outright; past_due gives them for a grace period.
MEMBER_STATUSES = ("trialing", "active")


@dataclass(frozen=True)
class MemberBenefits:
    """What a user's live memberships give them now."""

    #: The best discount on printed books, as the coupon giving it (None: no discount).
    print_coupon: PrintCoupon | None
    #: Each included ebook's key → the names of the plans that include it.
    ebooks: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class LibraryBook:
    """An ebook the user may read, and why: bought, and/or included by membership(s)."""

    book: Book
    owned: bool
    included_by: tuple[str, ...]


def catalogue_or_app(catalogue: Catalogue | None) -> Catalogue:
    """The catalogue asked about: the one given, else the running app's."""
    if catalogue is not None:
        return catalogue
    loaded = catalogue_of(current_app._get_current_object())  # type: ignore[attr-defined]
    if loaded is None:
        raise RuntimeError("the catalogue is broken: no entitlements can be read")
    return loaded


def owned_book_keys(user: User) -> set[str]:
    """Keys of the books `user` has bought and still owns (paid, not fully refunded,
    not disputed)."""
    keys = db.session.execute(
        db.select(OrderItem.item_key)
        .join(Order)
        .where(Order.user_id == user.id, Order.kind == ProductKind.BOOK)
        .where(Order.status.in_(OWNING_STATUSES))
    ).scalars()
    return set(keys)


def grace_period() -> timedelta:
    """How long a past-due membership keeps its benefits (`MEMBER_GRACE_DAYS`)."""
    return timedelta(days=int(current_app.config.get("MEMBER_GRACE_DAYS", 7)))


def is_live(membership: Subscription, now: datetime, grace: timedelta) -> bool:
    """Whether a membership gives its benefits at `now`."""
    if membership.status in MEMBER_STATUSES:
        return True
    if membership.status != "past_due":
        return False
    # Not yet stamped (a row from before the stamp existed): its grace starts at next sync.
    since = membership.past_due_since
    return since is None or now - since <= grace


def live_memberships(user: User, now: datetime | None = None) -> list[Subscription]:
    """The user's memberships that give benefits now, newest first."""
    now = now or utcnow()
    grace = grace_period()
    memberships = db.session.execute(
        db.select(Subscription)
        .filter_by(user_id=user.id)
        .where(Subscription.status.in_((*MEMBER_STATUSES, "past_due")))
        .order_by(Subscription.id.desc())
    ).scalars()
    return [m for m in memberships if is_live(m, now, grace)]


def live_plans(
    user: User, catalogue: Catalogue | None = None, now: datetime | None = None
) -> list[Plan]:
    """The catalogue plans of the user's live memberships (each plan once)."""
    catalogue = catalogue_or_app(catalogue)
    plans: dict[str, Plan] = {}
    for membership in live_memberships(user, now):
        plan = catalogue.plan(membership.plan_key or "")
        if plan is not None:
            plans.setdefault(plan.key, plan)
    return list(plans.values())


def member_benefits(
    user: User, catalogue: Catalogue | None = None, now: datetime | None = None
) -> MemberBenefits:
    """What the user's live memberships give now: the best print discount, included ebooks."""
    catalogue = catalogue_or_app(catalogue)
    best: PrintCoupon | None = None
    ebooks: dict[str, tuple[str, ...]] = {}
    for plan in live_plans(user, catalogue, now):
        coupon = catalogue.print_coupon(plan)
        if coupon is not None and (best is None or coupon.percent_off > best.percent_off):
            best = coupon
        for key in plan.benefits.ebooks:
            ebooks[key] = (*ebooks.get(key, ()), plan.name)
    return MemberBenefits(print_coupon=best, ebooks=ebooks)


@dataclass(frozen=True)
class MemberPrice:
    """What members of a plan pay for a printed book, from the catalogue."""

    plan: Plan
    amount: int
    #: True: the shopper is a live member of `plan`, so this is their own price.
    mine: bool


def member_price(
    book: Book, user: User | None, catalogue: Catalogue | None = None, now: datetime | None = None
) -> MemberPrice | None:
    """The member price to show on a printed book's page: a live member's own (their
    best plan's discount), else the lowest any plan gives (None: an ebook, or no plan
    discounts printed books). Worked out from the catalogue, as Checkout's coupon is."""
    catalogue = catalogue_or_app(catalogue)
    if book.format != "print":
        return None
    mine = member_benefits(user, catalogue, now).print_coupon if user is not None else None
    coupons = [mine] if mine is not None else []
    if not coupons:
        coupons = [c for plan in catalogue.plans if (c := catalogue.print_coupon(plan))]
    if not coupons:
        return None
    best = max(coupons, key=lambda coupon: coupon.discount_on(book.price))
    plan = catalogue.plan(best.plan_key)
    if plan is None:
        return None
    return MemberPrice(plan, book.price - best.discount_on(book.price), mine is not None)


def library(
    user: User, catalogue: Catalogue | None = None, now: datetime | None = None
) -> list[LibraryBook]:
    """Every ebook the user may read now, in catalogue order, with why."""
    catalogue = catalogue_or_app(catalogue)
    owned = owned_book_keys(user)
    included = member_benefits(user, catalogue, now).ebooks
    return [
        LibraryBook(book, book.key in owned, included.get(book.key, ()))
        for book in catalogue.books
        if book.format == "ebook" and (book.key in owned or book.key in included)
    ]


def may_read(
    user: User, book_key: str, catalogue: Catalogue | None = None, now: datetime | None = None
) -> bool:
    """Whether `user` may download the ebook `book_key` now (owns it, or a live
    membership includes it)."""
    catalogue = catalogue_or_app(catalogue)
    book = catalogue.book(book_key)
    if book is None or book.format != "ebook":
        return False
    if book_key in owned_book_keys(user):
        return True
    return book_key in member_benefits(user, catalogue, now).ebooks
