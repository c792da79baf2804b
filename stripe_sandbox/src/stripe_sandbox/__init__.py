"""A Stripe-compatible sandbox server for running and testing the shop offline.

See README.md in this package for the contract shared with the hosted pages.
"""

from .api.base import current_sandbox
from .app import create_app
from .core.sandbox import Sandbox
from .settings import SandboxSettings

__all__ = ["Sandbox", "SandboxSettings", "create_app", "current_sandbox"]
