"""Short-lived signed download links for ebooks.

A link names the user, the book and the format, signed with the app's secret (its own
salt, so no other signed value of Quire's can pass for one) and stamped with when it
was made; it is good for `LINK_LIFETIME`. Reading a link only proves Quire made it for
that user recently: the download still asks `entitlements.may_read` at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

from shop.models import utcnow

SALT = "quire.ebook-download"
#: How long a download link works after the library page made it.
LINK_LIFETIME = timedelta(minutes=10)


class LinkInvalid(ValueError):
    """Not a link Quire made: tampered with, or signed with another secret or salt."""


class LinkExpired(ValueError):
    """A genuine link, too old to use; `grant` says whom and what it was for."""

    def __init__(self, grant: DownloadGrant) -> None:
        super().__init__("download link expired")
        self.grant = grant


@dataclass(frozen=True)
class DownloadGrant:
    """What a download link names."""

    user_id: int
    book_key: str
    format: str


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def make_link_token(secret_key: str, grant: DownloadGrant) -> str:
    """The signed, timestamped token for a download link."""
    return _serializer(secret_key).dumps([grant.user_id, grant.book_key, grant.format])


def read_link_token(
    secret_key: str,
    token: str,
    now: datetime | None = None,
    lifetime: timedelta = LINK_LIFETIME,
) -> DownloadGrant:
    """What a token names. :raise LinkInvalid: forged or malformed.
    :raise LinkExpired: genuine but older than `lifetime`."""
    try:
        payload, signed_at = _serializer(secret_key).loads(token, return_timestamp=True)
    except BadSignature as error:
        raise LinkInvalid(str(error)) from error
    if not (
        isinstance(payload, list)
        and len(payload) == 3
        and isinstance(payload[0], int)
        and all(isinstance(part, str) for part in payload[1:])
    ):
        raise LinkInvalid("malformed download link")
    grant = DownloadGrant(payload[0], payload[1], payload[2])
    age = (now or utcnow()) - signed_at
    if age > lifetime or age < -timedelta(minutes=1):
        raise LinkExpired(grant)
    return grant
