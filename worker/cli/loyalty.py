"""`ladder loyalty statement|adjust EMAIL`: a member's ledger and rewards, and a person's
correction of the balance."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import typer
from sqlmodel import Session

from models import Customer
from models.db import session
from triggers.programme import Programme, ProgrammeError, load_programme
from worker import current_time
from worker.cli import reward_rows
from worker.cli.output import console, fail, table, when
from worker.loyalty import codes, ledger, rewards
from worker.loyalty.views import loyalty_view
from worker.privacy.holdings import find_customer
from worker.settings import Settings, get_settings

loyalty_app = typer.Typer(help="The loyalty programme's members.", no_args_is_help=True)


@loyalty_app.command("statement")
def statement(
    email: str,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON, for scripts")] = False,
) -> None:
    """A member's balances, tier, the way to the next tier and every entry of their ledger."""
    settings = get_settings()
    programme = programme_or_exit(settings)
    now = current_time.now()
    with session(settings.database_url) as db:
        customer = customer_or_exit(db, email)
        assert customer.id is not None
        view = loyalty_view(db, programme, customer.id, currency=settings.default_currency, now=now)
        entries = ledger.statement_of(db, customer.id).entries
        given = rewards.rewards_of(db, customer.id)
    if as_json:
        document = {
            "customer_id": customer.id,
            **view,
            "entries": [_entry(e) for e in entries],
            "rewards": [reward_rows.reward_document(row) for row in reversed(given)],
        }
        typer.echo(json.dumps(document, indent=2, default=str))
        return
    console.print(_summary(customer.id, view, settings.default_currency), highlight=False)
    shown = table(
        f"ledger of customer {customer.id}",
        ("when", "kind", "points", "pending", "cause"),
        right=("points", "pending"),
    )
    for entry in entries:
        cause = entry.cause if entry.reason is None else f"{entry.cause}: {entry.reason}"
        shown.add_row(
            when(entry.created_at), entry.kind, str(entry.points), str(entry.pending), cause
        )
    console.print(shown)
    if given:
        listed = table(f"rewards of customer {customer.id}", ("reward", "code", "state"))
        for row in reversed(given):
            listed.add_row(row.reward, row.code or "-", reward_rows.state(row))
        console.print(listed)


def _summary(customer_id: int, view: dict[str, Any], currency: str) -> str:
    line = (
        f"customer {customer_id}: {view['points']} points to spend, {view['pending']} pending;"
        f" tier {view['tier'] or '-'}"
    )
    if view["next_tier"] is not None:
        unit = currency if view["tiers_by"] == "spend" else "points"
        line += f"; {view['to_next_tier']} {unit} to {view['next_tier']} ({view['progress']} %)"
    if view["membership"] is not None:
        line += "; " + _membership(view["membership"])
    return line


def _membership(membership: dict[str, Any]) -> str:
    """`member (price_x) renews 2027-01-10 09:00: earns 2x, free shipping`, or its state."""
    until = membership["active_until"]
    state = "member" if membership["active"] else f"membership {membership['status']}"
    line = f"{state} ({membership['plan'] or 'any plan'})"
    if until is not None:
        line += f" {'renews' if membership['renews'] else 'until'} {when(until)}"
    if membership["active"]:
        shipping = ", free shipping" if membership["free_shipping"] else ""
        line += f": earns {membership['multiplier']}x{shipping}"
    return line


def _entry(entry: Any) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.created_at.isoformat(),
        "kind": entry.kind,
        "points": entry.points,
        "pending": entry.pending,
        "cause": entry.cause,
        "reason": entry.reason,
        "available_at": entry.available_at.isoformat() if entry.available_at else None,
    }


@loyalty_app.command("adjust")
def adjust(
    email: str,
    points: Annotated[int, typer.Argument(help="points to add; to take away: `-- -10`")],
    reason: Annotated[str, typer.Option("--reason", help="why, kept in the ledger")],
    key: Annotated[
        str | None,
        typer.Option(help="names this adjustment: run again with the same key, it counts once"),
    ] = None,
) -> None:
    """Add or take away points by hand, with the reason; the ledger keeps both."""
    if not reason.strip():
        fail("the reason is empty", hint="Say why in --reason, e.g. --reason 'late parcel'.")
    if points == 0:
        fail("an adjustment of 0 points changes nothing", hint="Give the points to add or take.")
    settings = get_settings()
    programme = programme_or_exit(settings)
    now = current_time.now()
    with session(settings.database_url) as db:
        customer = customer_or_exit(db, email)
        assert customer.id is not None
        entry = ledger.adjust(
            db,
            customer_id=customer.id,
            points=points,
            reason=reason.strip()[:500],
            key=key or uuid.uuid4().hex,
            now=now,
        )
        # Points enough for a reward unlock it now, as the clock's sweep would.
        unlocked = rewards.unlock_for_points(db, programme, customer.id, now=now) if entry else 0
        codes.give_pool_codes(db, programme, now=now, customer_ids=[customer.id])
        db.commit()
        balance = ledger.statement_of(db, customer.id, entries=False).member
    if entry is None:
        fail(f"the adjustment {key!r} was made before", hint="Nothing changed; use a new --key.")
    assert balance is not None
    line = f"customer {customer.id}: {points:+d} points; {balance.points} to spend now"
    if unlocked:
        line += (
            f"; {unlocked} reward{'s' if unlocked > 1 else ''} unlocked (ladder loyalty rewards)"
        )
    console.print(line, highlight=False)


def programme_or_exit(settings: Settings) -> Programme:
    try:
        programme = load_programme(settings.triggers_dir, settings.loyalty_programme)
    except ProgrammeError as exc:
        fail(str(exc), hint="Run `ladder check` and fix the programme file.", code=2)
    if programme is None:
        fail(
            "no loyalty programme runs",
            hint="Set LOYALTY_PROGRAMME to the name of one in triggers/programmes/"
            " (see triggers/README.md).",
            code=2,
        )
    return programme


def customer_or_exit(db: Session, email: str) -> Customer:
    customer = find_customer(db, "cli", None, email)
    if customer is None:
        fail(f"no customer with the address {email!r}")
    return customer
