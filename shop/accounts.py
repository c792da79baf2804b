"""Accounts people can trust and recover: sign-in, sign-up by emailed link, sign-ins
that end, password reset, and changing the email or password.

Nothing here needs a request; the views translate HTTP and commit.

- **No enumeration.** Signing in checks the password against a real hash or, for an
  unknown email, a dummy made the same way, so both take the same time. Signing up and
  asking for a reset always answer the same; what differs goes by mail only.
- **Sign-up** (`PendingSignUp` rows): the form stores the email and the password's hash
  under the digest of a random token; the mailed link carries only the token, lasts
  `SIGN_UP_LINK_AGE` and works once. Opening it only shows a button: the account is
  created, and the browser signed in, by the button's POST (no login CSRF by link).
- **Signed links** (itsdangerous, the app's `SECRET_KEY`, one salt per purpose): a reset
  link carries the user and a digest of their current password hash and email and lasts
  `RESET_LINK_AGE`, so it dies once either changes; an email-change link carries the
  user, the old and the new email and lasts `EMAIL_CHANGE_LINK_AGE`, so it dies once the
  email changes.
- **Mail per recipient** is limited (`throttling.may_mail`); over the limit the answer
  is the same and no mail is written.
- **Sign-ins** (`SignIn` rows): the session holds a random token whose digest is stored;
  ending the row ends the session, wherever its cookie was copied to, and none outlives
  `SIGN_IN_LIFETIME`.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from shop import mail, throttling
from shop.extensions import db
from shop.models import Order, PendingSignUp, SignIn, User, utcnow
from shop.passwords import check_password_hash, dummy_password_hash, hash_password
from shop.wording import is_free_trial

#: The shortest password Quire accepts (sign-up, reset and change alike).
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128
SIGN_UP_LINK_AGE = timedelta(hours=24)
RESET_LINK_AGE = timedelta(hours=1)
EMAIL_CHANGE_LINK_AGE = timedelta(hours=24)
#: However active, a sign-in ends this long after it began.
SIGN_IN_LIFETIME = timedelta(days=30)
_RESET_SALT = "quire.password-reset"
_EMAIL_CHANGE_SALT = "quire.email-change"


class LinkRefused(Exception):
    """A sign-up or reset link that can't be used; `reason` says why, for the page."""

    class Reason(enum.StrEnum):
        INVALID = "invalid"
        EXPIRED = "expired"
        USED = "used"

    def __init__(self, reason: LinkRefused.Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def normal_email(raw: str | None) -> str:
    return (raw or "").strip().lower()


def local_path(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None.

    Browsers drop tabs and line breaks from addresses and read `\\` as `/`, so
    `/\\t/evil.example` would leave the site: any control character or backslash refuses
    the target outright, then it must have no scheme, no host and begin with one `/`.
    """
    if not target or "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def find_user(email: str) -> User | None:
    return db.session.execute(
        db.select(User).filter_by(email=normal_email(email))
    ).scalar_one_or_none()


def authenticate(email: str, password: str) -> User | None:
    """The account `email` names if `password` is its password; the same work either way."""
    user = find_user(email)
    matched = check_password_hash(user.password_hash if user else dummy_password_hash(), password)
    return user if user is not None and matched else None


# --- sign-ins ----------------------------------------------------------------------------


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def start_sign_in(user: User, user_agent: str | None = None) -> str:
    """Record a new sign-in for `user` and return its token (for the session)."""
    token = secrets.token_urlsafe(32)
    _prune_sign_ins()
    db.session.add(
        SignIn(
            token_digest=_digest(token),
            user_id=user.id,
            user_agent=(user_agent or "")[:255] or None,
            created_at=utcnow(),
        )
    )
    user.sign_in_token = token
    return token


def live_user(token: str) -> User | None:
    """The user of a sign-in that has not ended, or None."""
    sign_in = db.session.execute(
        db.select(SignIn).where(
            SignIn.token_digest == _digest(token),
            SignIn.ended_at.is_(None),
            SignIn.created_at > utcnow() - SIGN_IN_LIFETIME,
        )
    ).scalar_one_or_none()
    if sign_in is None:
        return None
    user: User = sign_in.user
    user.sign_in_token = token
    return user


def _prune_sign_ins() -> None:
    """Forget sign-ins that have ended or outlived `SIGN_IN_LIFETIME`."""
    db.session.execute(
        delete(SignIn).where(
            or_(SignIn.ended_at.is_not(None), SignIn.created_at <= utcnow() - SIGN_IN_LIFETIME)
        )
    )


def end_sign_in(token: str) -> None:
    db.session.execute(
        update(SignIn)
        .where(SignIn.token_digest == _digest(token), SignIn.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


def end_sign_ins(user: User, *, keep: str | None = None) -> int:
    """End every live sign-in of `user`, except the one whose token is `keep`."""
    query = update(SignIn).where(SignIn.user_id == user.id, SignIn.ended_at.is_(None))
    if keep is not None:
        query = query.where(SignIn.token_digest != _digest(keep))
    result = db.session.execute(query.values(ended_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


# --- signed links ------------------------------------------------------------------------


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _load(salt: str, token: str, max_age: timedelta) -> Any:
    try:
        return _serializer(salt).loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired as expired:
        raise LinkRefused(LinkRefused.Reason.EXPIRED) from expired
    except BadSignature as bad:
        raise LinkRefused(LinkRefused.Reason.INVALID) from bad


# --- sign-up -----------------------------------------------------------------------------


def _prune_pending_sign_ups() -> None:
    db.session.execute(
        delete(PendingSignUp).where(PendingSignUp.created_at <= utcnow() - SIGN_UP_LINK_AGE)
    )


def request_sign_up(email: str, password: str, next_path: str | None = None) -> None:
    """Mail `email` what happens next: a link that creates the account, or, if an account
    has that email, a note saying so. The password is hashed either way; only a new
    email gets a pending sign-up (its link carries a random token, nothing else)."""
    email = normal_email(email)
    password_hash = hash_password(password)
    token = secrets.token_urlsafe(32)
    _prune_pending_sign_ups()
    if not throttling.may_mail(email):
        return
    if find_user(email) is not None:
        mail.queue(
            "account_exists",
            email,
            key=f"account_exists:{_digest(token)[:32]}",
            email=email,
        )
        return
    db.session.add(
        PendingSignUp(
            token_digest=_digest(token),
            email=email,
            password_hash=password_hash,
            next_path=local_path(next_path),
            created_at=utcnow(),
        )
    )
    mail.queue(
        "confirm_signup",
        email,
        key=f"confirm_signup:{_digest(token)[:32]}",
        email=email,
        url=mail.link("accounts.confirm_sign_up", token=token),
        hours=int(SIGN_UP_LINK_AGE.total_seconds() // 3600),
    )


def pending_sign_up(token: str) -> PendingSignUp:
    """The sign-up a link names, while it may still be used.

    :raise LinkRefused: unknown, older than `SIGN_UP_LINK_AGE`, or used.
    """
    pending: PendingSignUp | None = db.session.execute(
        db.select(PendingSignUp).filter_by(token_digest=_digest(token))
    ).scalar_one_or_none()
    if pending is None:
        raise LinkRefused(LinkRefused.Reason.INVALID)
    if pending.used_at is not None:
        raise LinkRefused(LinkRefused.Reason.USED)
    if pending.created_at <= utcnow() - SIGN_UP_LINK_AGE:
        raise LinkRefused(LinkRefused.Reason.EXPIRED)
    return pending


def confirm_sign_up(token: str) -> tuple[User, str | None]:
    """Create the account a sign-up link names (once); returns it and where to go next.

    :raise LinkRefused: an unknown or expired link, or one already used.
    """
    pending = pending_sign_up(token)
    claimed = db.session.execute(
        update(PendingSignUp)
        .where(PendingSignUp.id == pending.id, PendingSignUp.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if not getattr(claimed, "rowcount", 0):
        raise LinkRefused(LinkRefused.Reason.USED)
    user = User(email=pending.email, password_hash=pending.password_hash)
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError as taken:
        raise LinkRefused(LinkRefused.Reason.USED) from taken
    return user, local_path(pending.next_path)


# --- passwords ---------------------------------------------------------------------------


def _fingerprint(password_hash: str, email: str = "") -> str:
    return _digest(f"{password_hash}\n{email}")[:24]


def request_password_reset(email: str) -> None:
    """Mail a reset link if an account has `email`; the same work (a link signed and a
    mail written) if none has, minus the sending."""
    user = find_user(email)
    token = _serializer(_RESET_SALT).dumps(
        {
            "user": user.id if user else 0,
            "password": _fingerprint(
                user.password_hash if user else dummy_password_hash(), user.email if user else ""
            ),
        }
    )
    context: dict[str, Any] = {
        "url": mail.link("accounts.reset_password", token=token),
        "minutes": int(RESET_LINK_AGE.total_seconds() // 60),
    }
    if not throttling.may_mail(normal_email(email)) or user is None:
        mail.render("password_reset", **context)
        return
    mail.queue("password_reset", user.email, key=f"password_reset:{_digest(token)[:32]}", **context)


def user_for_reset(token: str) -> User:
    """The account a reset link is for, while the link is valid.

    :raise LinkRefused: forged, older than `RESET_LINK_AGE`, or used (the password it
    was made for, or the email it was sent to, has changed since).
    """
    data = _load(_RESET_SALT, token, RESET_LINK_AGE)
    user = db.session.get(User, data.get("user")) if isinstance(data, dict) else None
    if user is None:
        raise LinkRefused(LinkRefused.Reason.INVALID)
    fingerprint = _fingerprint(user.password_hash, user.email)
    if not secrets.compare_digest(fingerprint, str(data.get("password"))):
        raise LinkRefused(LinkRefused.Reason.USED)
    return user


def _password_set(user: User, password: str) -> None:
    user.set_password(password)
    mail.queue(
        "password_changed",
        user.email,
        key=f"password_changed:{user.id}:{_fingerprint(user.password_hash)}",
        email=user.email,
        reset_url=mail.link("accounts.forgot_password"),
    )


def reset_password(token: str, password: str) -> User:
    """Set a new password through a reset link; every sign-in of the account ends.

    :raise LinkRefused: see `user_for_reset`.
    """
    user = user_for_reset(token)
    _password_set(user, password)
    end_sign_ins(user)
    return user


def change_password(user: User, current: str, new: str) -> bool:
    """Change `user`'s password if `current` is right; their other sign-ins end."""
    if not user.check_password(current):
        return False
    _password_set(user, new)
    end_sign_ins(user, keep=user.sign_in_token)
    return True


# --- changing the email ------------------------------------------------------------------


def request_email_change(user: User, current_password: str, new_email: str) -> bool:
    """Mail `new_email` a link that moves the account there, or, if another account has
    it, a note that someone tried; False (nothing mailed) if the password is wrong.

    The caller answers the same either way, so the form says nothing about which emails
    have accounts.
    """
    if not user.check_password(current_password):
        return False
    new_email = normal_email(new_email)
    if new_email == user.email or not throttling.may_mail(new_email):
        return True
    if find_user(new_email) is not None:
        mail.queue(
            "email_taken",
            new_email,
            key=f"email_taken:{secrets.token_hex(16)}",
            email=new_email,
        )
        return True
    token = _serializer(_EMAIL_CHANGE_SALT).dumps(
        {"user": user.id, "old": user.email, "new": new_email}
    )
    mail.queue(
        "confirm_email_change",
        new_email,
        key=f"confirm_email_change:{_digest(token)[:32]}",
        new_email=new_email,
        url=mail.link("accounts.confirm_email_change", token=token),
        hours=int(EMAIL_CHANGE_LINK_AGE.total_seconds() // 3600),
    )
    return True


class NotYours(Exception):
    """An email-change link made for another account."""


def email_change_for(user: User, token: str) -> str:
    """The new email an email-change link moves `user` to, while it may be used.

    :raise LinkRefused: forged, older than `EMAIL_CHANGE_LINK_AGE`, or used (the email
        has changed since it was made).
    :raise NotYours: the link is another account's.
    """
    data = _load(_EMAIL_CHANGE_SALT, token, EMAIL_CHANGE_LINK_AGE)
    if not isinstance(data, dict) or not isinstance(data.get("new"), str):
        raise LinkRefused(LinkRefused.Reason.INVALID)
    if data.get("user") != user.id:
        raise NotYours
    if data.get("old") != user.email:
        raise LinkRefused(LinkRefused.Reason.USED)
    return str(data["new"])


def confirm_email_change(user: User, token: str) -> str:
    """Move `user` to the email the link names and tell the old address; the new email.

    :raise LinkRefused: see `email_change_for`; also USED if another account took the
        address meanwhile.
    :raise NotYours: see `email_change_for`.
    """
    new_email = email_change_for(user, token)
    old_email = user.email
    try:
        with db.session.begin_nested():
            user.email = new_email
            db.session.flush()
    except IntegrityError as taken:
        user.email = old_email
        raise LinkRefused(LinkRefused.Reason.USED) from taken
    mail.queue(
        "email_changed",
        old_email,
        key=f"email_changed:{user.id}:{_digest(token)[:32]}",
        old_email=old_email,
        new_email=new_email,
        reset_url=mail.link("accounts.forgot_password"),
    )
    return new_email


# --- The account page: the shopper's orders, a page at a time ---------------------------

#: Orders per page of the account page's order list.
ORDERS_PER_PAGE = 20
#: A page number past this is read as this one (an offset the database can always take).
MAX_ORDER_PAGE = 100_000


@dataclass(frozen=True)
class OrderHistory:
    """One page of a shopper's orders, newest first, their lines loaded."""

    number: int
    orders: Sequence[Order]
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def free_trials(self) -> set[int]:
        """Ids of the page's membership sign-ups that began with a free trial (charged
        nothing today)."""
        return {order.id for order in self.orders if is_free_trial(order)}


def order_history(user_id: int, page: int = 1, per_page: int = ORDERS_PER_PAGE) -> OrderHistory:
    """Page `page` (from 1) of the user's orders, newest first, in two statements however
    many orders they have: the page (one row more than it shows, to know whether another
    follows, along the `(user_id, created_at, id)` index) and the page's order lines."""
    page = min(max(page, 1), MAX_ORDER_PAGE)
    rows = list(
        db.session.execute(
            db.select(Order)
            .where(Order.user_id == user_id)
            .options(selectinload(Order.items))
            .order_by(Order.created_at.desc(), Order.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        ).scalars()
    )
    return OrderHistory(page, rows[:per_page], has_next=len(rows) > per_page)
