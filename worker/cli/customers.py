"""`ladder customers export|forget EMAIL`: a customer's data requests from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import Session

from models import Customer
from models.db import session
from worker import current_time
from worker.cli.output import console, fail
from worker.privacy.erasure import forget
from worker.privacy.exports import export
from worker.privacy.holdings import find_customer
from worker.settings import get_settings

customers_app = typer.Typer(help="Customers' personal data.", no_args_is_help=True)


@customers_app.command("export")
def customers_export(email: str) -> None:
    """Write everything held on a customer to a JSON file (a data request), and record it."""
    settings = get_settings()
    with session(settings.database_url) as db:
        customer = _customer_or_exit(db, email)
        path = export(
            db,
            customer,
            source="cli",
            reference=None,
            now=current_time.now(),
            into=settings.exports_dir,
        )
        db.commit()
    console.print(f"customer {customer.id} exported to {path}")


@customers_app.command("forget")
def customers_forget(
    email: str,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="erase without asking (for scripts)")
    ] = False,
) -> None:
    """Erase a customer's personal data everywhere; anonymous order totals are kept.

    Erasure cannot be undone, so it asks first unless --yes is given; without a terminal to
    ask on, it refuses rather than erase unasked."""
    settings = get_settings()
    with session(settings.database_url) as db:
        customer = _customer_or_exit(db, email)
        if not yes and not _confirmed(f"Erase customer {customer.id} ({email}) everywhere?"):
            fail("nothing erased", hint="Pass --yes to erase without being asked.")
        forget(
            db, customer, source="cli", reference=None, now=current_time.now(), settings=settings
        )
        db.commit()
    console.print(f"customer {customer.id} forgotten")


def _confirmed(question: str) -> bool:
    """The operator's yes; no answer at all (no terminal, end of input) is a no."""
    try:
        return typer.confirm(f"{question} This cannot be undone", default=False)
    except typer.Abort:
        return False


def _customer_or_exit(db: Session, email: str) -> Customer:
    customer = find_customer(db, "cli", None, email)
    if customer is None:
        fail(f"no customer with the address {email!r}")
    return customer
