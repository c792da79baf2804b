"""Admin commands: `flask --app wsgi catalog|orders|users|stripe|mail|sandbox|events …`.

One module per command group; each command runs the same domain functions the web
pages and webhooks use, and is safe to repeat.
"""

from __future__ import annotations

from flask import Flask

from shop.commands.catalog import catalog
from shop.commands.events import events_group
from shop.commands.mail import mail_group
from shop.commands.orders import orders
from shop.commands.sandbox import sandbox
from shop.commands.stripe_account import stripe_group
from shop.commands.users import users

GROUPS = (catalog, orders, users, stripe_group, mail_group, sandbox, events_group)


def register(app: Flask) -> None:
    """Attach the command groups to the app's `flask` CLI."""
    for group in GROUPS:
        app.cli.add_command(group)
