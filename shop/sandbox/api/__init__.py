"""The ``/v1`` API: importing this package registers every resource's routes."""

from . import catalog, customers, webhooks
from .base import bp

__all__ = ["bp", "catalog", "customers", "webhooks"]
