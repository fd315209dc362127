"""`ladder customers export|forget EMAIL`: a customer's data requests from the command line."""

from __future__ import annotations

import typer
from sqlmodel import Session

from models import Customer
from models.db import session
from worker import current_time
from worker.cli.output import console, err
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
def customers_forget(email: str) -> None:
    """Erase a customer's personal data everywhere; anonymous order totals are kept."""
    settings = get_settings()
    with session(settings.database_url) as db:
        customer = _customer_or_exit(db, email)
        forget(
            db, customer, source="cli", reference=None, now=current_time.now(), settings=settings
        )
        db.commit()
    console.print(f"customer {customer.id} forgotten")


def _customer_or_exit(db: Session, email: str) -> Customer:
    customer = find_customer(db, "cli", None, email)
    if customer is None:
        err.print("[red]No customer with that email address.[/red]")
        raise typer.Exit(1)
    return customer
