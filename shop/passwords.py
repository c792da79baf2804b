"""Password hashes: made by the app's method, checked by the method each hash names."""

from __future__ import annotations

import secrets
from functools import cache

from flask import current_app, has_app_context
from werkzeug.security import check_password_hash, generate_password_hash

from config import PASSWORD_HASH_METHOD

__all__ = ["check_password_hash", "dummy_password_hash", "hash_password"]


def hash_password(password: str) -> str:
    """A hash of `password` by the app's method (`PASSWORD_HASH_METHOD`)."""
    return generate_password_hash(password, method=_method())


def dummy_password_hash() -> str:
    """Checked instead of a real hash when no account has the email, so an unknown email
    costs the same as a known one. Made once per method, by the method real hashes use."""
    return _dummy_hash(_method())


def _method() -> str:
    if not has_app_context():
        return PASSWORD_HASH_METHOD
    return str(current_app.config.get("PASSWORD_HASH_METHOD", PASSWORD_HASH_METHOD))


@cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_urlsafe(24), method=method)
