"""`flask --app wsgi sandbox run|reset`: the embedded Stripe sandbox (development only)."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

sandbox = AppGroup("sandbox", help="Run the embedded Stripe sandbox (no account needed).")


@sandbox.command("run", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def sandbox_run(context: click.Context) -> None:
    """Serve the sandbox (options as for `python -m stripe_sandbox run`)."""
    sys.exit(_run_sandbox(["run", *context.args]))


@sandbox.command(
    "reset", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.pass_context
def sandbox_reset(context: click.Context) -> None:
    """Wipe the sandbox's objects, events and deliveries."""
    sys.exit(_run_sandbox(["reset", *context.args]))


def _run_sandbox(argv: list[str]) -> int:
    """The sandbox's own command line; it is a development tool, absent in production."""
    try:
        from stripe_sandbox.__main__ import main
    except ImportError:
        click.echo(
            "The Stripe sandbox is not installed (it is for development and tests): "
            "`pip install -e stripe_sandbox`, or use `make run`.",
            err=True,
        )
        return 2
    return main(argv)
