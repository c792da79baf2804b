"""Admin commands: `flask --app wsgi release`, `worker` and the groups
`catalog|orders|subscriptions|invoices|events|users|stripe|mail|sandbox …`.

One module per command group; each command runs the same domain functions the web
pages and webhooks use, and is safe to repeat.
"""

from __future__ import annotations

import importlib.util

from flask import Flask

from shop.commands.catalog import catalog
from shop.commands.events import events_group
from shop.commands.invoices import invoices
from shop.commands.mail import mail_group
from shop.commands.orders import orders
from shop.commands.release import release
from shop.commands.sandbox import sandbox
from shop.commands.stripe_account import stripe_group
from shop.commands.subscriptions import subscriptions
from shop.commands.users import users
from shop.commands.worker import worker

GROUPS = (
    catalog,
    orders,
    subscriptions,
    invoices,
    events_group,
    users,
    stripe_group,
    mail_group,
    sandbox,
    release,
    worker,
)


def register(app: Flask) -> None:
    """Attach the command groups to the app's `flask` CLI; `sandbox` only in development,
    where the sandbox is installed (production's slug leaves it out)."""
    for group in GROUPS:
        if group is sandbox and not sandbox_available(app):
            continue
        app.cli.add_command(group)


def sandbox_available(app: Flask) -> bool:
    if app.config.get("QUIRE_ENV") == "production":
        return False
    return importlib.util.find_spec("stripe_sandbox") is not None
