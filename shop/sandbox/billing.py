"""Subscriptions and invoices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Sandbox


def cancel_subscription(sandbox: Sandbox, subscription_id: str) -> dict[str, Any]:
    """Cancel a subscription now."""
    raise NotImplementedError
