"""The ``/v1`` API: importing this package registers every resource's routes."""

from . import (
    billing,
    catalog,
    checkout,
    coupons,
    customers,
    payments,
    search,
    shipping,
    test_helpers,
    webhooks,
)
from .base import bp

__all__ = [
    "billing",
    "bp",
    "catalog",
    "checkout",
    "coupons",
    "customers",
    "payments",
    "search",
    "shipping",
    "test_helpers",
    "webhooks",
]
