"""Webhook signatures exactly as Stripe makes them."""

import hashlib
import hmac


def signature(secret: str, payload: str, timestamp: int) -> str:
    """HMAC-SHA256 of ``"{timestamp}.{payload}"`` keyed with the whole ``whsec_…`` secret."""
    signed = f"{timestamp}.{payload}".encode()
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, payload: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value: ``t=…,v1=…``."""
    return f"t={timestamp},v1={signature(secret, payload, timestamp)}"
