"""Stripe-like identifiers: a type prefix and a random suffix."""

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int = 24) -> str:
    """Return ``length`` random letters and digits."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str, length: int = 24) -> str:
    """Return a new id such as ``prod_…``; ``prefix`` includes its trailing underscore."""
    return prefix + random_token(length)


def new_request_id() -> str:
    """Return a new ``req_…`` id, as sent in ``Request-Id``."""
    return new_id("req_", 14)
