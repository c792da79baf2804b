"""Webhook signatures exactly as Stripe makes them."""

import hashlib
import hmac

#: Stripe's test mode adds a ``v0`` signature made with a secret nobody holds, so a
#: verifier that accepts any scheme is caught out; the SDK checks ``v1`` only.
TEST_MODE_V0_SECRET = "whsec_test_mode_v0_is_not_your_secret"  # noqa: S105 - public, fake


def signature(secret: str, payload: str, timestamp: int) -> str:
    """HMAC-SHA256 of ``"{timestamp}.{payload}"`` keyed with the whole ``whsec_…`` secret."""
    signed = f"{timestamp}.{payload}".encode()
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, payload: str, timestamp: int) -> str:
    """The test-mode ``Stripe-Signature`` header value: ``t=…,v1=…,v0=…``."""
    return (
        f"t={timestamp},v1={signature(secret, payload, timestamp)},"
        f"v0={signature(TEST_MODE_V0_SECRET, payload, timestamp)}"
    )
