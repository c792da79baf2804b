"""`flask --app wsgi users …`: shop accounts."""

from __future__ import annotations

import os

import click
from email_validator import EmailNotValidError, validate_email
from flask.cli import AppGroup

from config import first_admin
from shop.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from shop.extensions import db
from shop.models import User

users = AppGroup("users", help="Manage shop accounts.")


def _checked_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise click.BadParameter(f"{email!r} is not an email address: {error}") from error


def _checked_password(password: str) -> str:
    """Sign-up's rule: `MIN_PASSWORD_LENGTH` to `MAX_PASSWORD_LENGTH` characters."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise click.BadParameter(
            f"a password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters "
            f"(this one has {len(password)})",
            param_hint="'password'",
        )
    return password


def _asked_password() -> str:
    try:
        answer: str = click.prompt(
            "Password for the new admin", hide_input=True, confirmation_prompt=True
        )
    except click.Abort as stopped:
        raise click.ClickException(
            "no password given: run this in a terminal to be asked for one, or set "
            "ADMIN_PASSWORD in the environment"
        ) from stopped
    return answer


@users.command("create-admin")
@click.argument("email", required=False)
@click.option(
    "--from-env",
    is_flag=True,
    help="Take the email and password from ADMIN_EMAIL and ADMIN_PASSWORD (a deploy "
    "with no hand steps); nothing to do when ADMIN_EMAIL is not set.",
)
def create_admin(email: str | None, from_env: bool) -> None:
    """Create an admin account, or make an existing account an admin.

    A new account's password is asked for (hidden, twice) or read from ADMIN_PASSWORD;
    never from the command line, where it would land in shell history and `heroku run`
    logs. The email must be an email address, and the password must follow the sign-up
    form's rule (at least `MIN_PASSWORD_LENGTH` characters).
    """
    env_email, env_password = first_admin(os.environ)
    if from_env:
        if env_email is None:
            click.echo("No ADMIN_EMAIL set: no admin to create.")
            return
        email = env_email
    if not email:
        raise click.UsageError("give the admin's email: users create-admin EMAIL")
    email = _checked_email(email)
    user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()
    if user is None:
        password = _checked_password(env_password or _asked_password())
        user = User(email=email)
        user.set_password(password)
        db.session.add(user)
    elif user.is_admin:
        click.echo(f"{email} is an admin already.")
        return
    user.is_admin = True
    db.session.commit()
    click.echo(f"{email} is an admin.")
