"""`flask --app wsgi users …`: shop accounts."""

from __future__ import annotations

import click
from email_validator import EmailNotValidError, validate_email
from flask.cli import AppGroup

from shop.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from shop.extensions import db
from shop.models import User

users = AppGroup("users", help="Manage shop accounts.")


@users.command("create-admin")
@click.argument("email")
@click.password_option()
def create_admin(email: str, password: str) -> None:
    """Create an admin account, or make an existing account an admin.

    The email must be an email address, and a new account's password must follow the
    sign-up form's rule (at least `MIN_PASSWORD_LENGTH` characters).
    """
    try:
        email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise click.BadParameter(f"{email!r} is not an email address: {error}") from error
    user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()
    if user is None:
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise click.BadParameter(
                f"a password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters "
                f"(this one has {len(password)})",
                param_hint="'--password'",
            )
        user = User(email=email)
        user.set_password(password)
        db.session.add(user)
    user.is_admin = True
    db.session.commit()
    click.echo(f"{email} is an admin.")
