"""`ladder users add|list|role|disable`: the studio's accounts from the command line.

The first admin is made here (the studio is off until an account exists); the audit log
names the CLI as the actor of what is done here.
"""

from __future__ import annotations

from typing import Annotated

import typer

from models.db import session
from worker import current_time
from worker.cli.output import console, fail, table, when
from worker.settings import get_settings
from worker.studio import people
from worker.studio.people import PeopleError, Role

users_app = typer.Typer(help="The studio's people and their roles.", no_args_is_help=True)
ROLES = ", ".join(role.value for role in Role)
ACTOR = "cli"


def _role(name: str) -> Role:
    try:
        return people.parse_role(name)
    except PeopleError as exc:
        fail(str(exc))


@users_app.command("add")
def users_add(
    email: str,
    role: Annotated[str, typer.Option(help=f"one of {ROLES}")],
    password: Annotated[
        str | None, typer.Option(help="asked for, hidden and twice, when not given")
    ] = None,
) -> None:
    """Give someone a studio account: they log in at /studio/login."""
    chosen = _role(role)
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        people.check_password(password)
        with session(get_settings().database_url) as db:
            account = people.add(
                db, email, role=chosen, password=password, actor=ACTOR, now=current_time.now()
            )
            db.commit()
    except PeopleError as exc:
        fail(str(exc))
    console.print(f"{account.email} can now log in to the studio as {account.role}.")


@users_app.command("list")
def users_list() -> None:
    """Every account: its role, last login, and whether it may still log in."""
    with session(get_settings().database_url) as db:
        everyone = people.accounts(db)
    if not everyone:
        console.print("No studio accounts yet: `ladder users add EMAIL --role admin` makes one.")
        return
    shown = table("Studio accounts", ["e-mail", "role", "last", "state"])
    for account in everyone:
        state = "active" if account.is_active else "disabled"
        shown.add_row(account.email, account.role.value, when(account.last_login_at), state)
    console.print(shown)
    console.print("last: the last login to the studio")


@users_app.command("role")
def users_role(email: str, role: str) -> None:
    """Change someone's role (the last admin stays an admin)."""
    chosen = _role(role)
    try:
        with session(get_settings().database_url) as db:
            account = people.set_role(db, email, chosen, actor=ACTOR, now=current_time.now())
            db.commit()
    except PeopleError as exc:
        fail(str(exc))
    console.print(f"{account.email} is now {account.role}.")


@users_app.command("disable")
def users_disable(email: str) -> None:
    """End someone's access: they can no longer log in and their sessions stop."""
    try:
        with session(get_settings().database_url) as db:
            account = people.disable(db, email, actor=ACTOR, now=current_time.now())
            db.commit()
    except PeopleError as exc:
        fail(str(exc))
    console.print(f"{account.email} can no longer log in to the studio.")
