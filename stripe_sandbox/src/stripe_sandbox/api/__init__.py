"""The ``/v1`` API: importing this package registers every resource's routes."""

from . import billing, catalog, checkout, customers, payments, search, test_helpers, webhooks
from .base import bp

__all__ = [
    "billing",
    "bp",
    "catalog",
    "checkout",
    "customers",
    "payments",
    "search",
    "test_helpers",
    "webhooks",
]
