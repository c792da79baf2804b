"""A Stripe-compatible server for the official ``stripe`` SDK: the API, hosted Checkout and
billing-portal pages, signed webhooks and test clocks, with no Stripe account.

``create_app(settings)`` serves it; ``build_sandbox(settings)`` gives the state and its
background work without HTTP. See README.md beside this package for what it implements.
"""

from .api.base import current_sandbox
from .app import build_sandbox, create_app
from .core.sandbox import Sandbox
from .settings import SandboxSettings

__all__ = ["Sandbox", "SandboxSettings", "build_sandbox", "create_app", "current_sandbox"]
