"""`ladder loyalty donate|causes|draw`: points given to a cause and the totals, and a
sweepstake's draw, made or checked again from its seed and entries."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import typer

from models.db import session
from worker import current_time
from worker.cli.loyalty import customer_or_exit, loyalty_app, programme_or_exit
from worker.cli.output import console, fail, table
from worker.loyalty import donations, ledger, sweepstakes
from worker.settings import get_settings


@loyalty_app.command("donate")
def donate(
    email: str,
    points: Annotated[int, typer.Argument(min=1, help="points to give")],
    cause: Annotated[str, typer.Option("--cause", help="the programme's [[cause]] name")],
    key: Annotated[
        str | None,
        typer.Option(help="names this donation: run again with the same key, it counts once"),
    ] = None,
) -> None:
    """Give a member's points to a cause; the ledger spends them and the cause's total grows."""
    settings = get_settings()
    programme = programme_or_exit(settings)
    now = current_time.now()
    with session(settings.database_url) as db:
        customer = customer_or_exit(db, email)
        assert customer.id is not None
        try:
            entry = donations.donate(
                db,
                programme,
                customer_id=customer.id,
                cause=cause,
                points=points,
                key=key or uuid.uuid4().hex,
                now=now,
            )
        except donations.DonationRefused as exc:
            fail(f"nothing given: {exc}", hint="See `ladder loyalty statement EMAIL`.")
        db.commit()
        balance = ledger.statement_of(db, customer.id, entries=False).member
    if entry is None:
        fail(f"the donation {key!r} was made before", hint="Nothing changed; use a new --key.")
    assert balance is not None
    console.print(
        f"customer {customer.id}: {points} points given to {cause}; {balance.points} to spend now",
        highlight=False,
    )


@loyalty_app.command("causes")
def causes(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON, for scripts")] = False,
) -> None:
    """Every cause of the programme and the points given to it so far, by how many members."""
    settings = get_settings()
    programme = programme_or_exit(settings)
    with session(settings.database_url) as db:
        totals = donations.totals(db, programme)
    if as_json:
        document = [
            {"name": name, "title": title, "points": points, "donors": donors}
            for name, title, points, donors in totals
        ]
        typer.echo(json.dumps({"causes": document}, indent=2))
        return
    shown = table("causes", ("cause", "title", "points given", "donors"), right=("points given",))
    for name, title, points, donors in totals:
        shown.add_row(name, title, str(points), str(donors))
    console.print(shown)


@loyalty_app.command("draw")
def draw(
    name: str,
    verify: Annotated[
        bool, typer.Option("--verify", help="draw again from the seed and entries, and compare")
    ] = False,
) -> None:
    """A sweepstake's draw: its seed, entries and winners (the clock draws at draw_at). With
    --verify, the draw is made again from the entries and must give the recorded winners."""
    settings = get_settings()
    programme = programme_or_exit(settings)
    sweepstake = programme.named_sweepstake(name)
    if sweepstake is None:
        have = ", ".join(s.name for s in programme.sweepstake) or "none"
        fail(f"no sweepstake is called {name!r}", hint=f"The programme has: {have}.")
    with session(settings.database_url) as db:
        recorded = sweepstakes.recorded(db, name)
        entries = sweepstakes.entries_of(db, name, before=sweepstake.draw_at)
    if recorded is None:
        fail(
            f"{name} is not drawn yet: the clock draws it at {sweepstake.draw_at:%Y-%m-%d %H:%M}"
            f" UTC plus {sweepstakes.DRAW_SETTLE.seconds // 60} minutes",
            hint=f"{len(entries)} entries so far.",
        )
    console.print(
        f"{name}: seed {recorded.seed}, {recorded.entries} entries; odds disclosed"
        f" {sweepstake.odds:.0%} ({sweepstake.winners} winners, {sweepstake.expected_entrants}"
        " expected entrants)",
        highlight=False,
        soft_wrap=True,  # the seed on one line, to copy
    )
    shown = table("winners", ("customer", "ticket"))
    for won in recorded.winners:
        shown.add_row(str(won["customer_id"]), won["ticket"])
    console.print(shown)
    if not verify:
        return
    again = sweepstakes.draw_from(sweepstake, entries)
    if again.seed != recorded.seed or again.winners != recorded.winners:
        fail(
            f"the draw does not reproduce: seed {again.seed}, winners"
            f" {[w['customer_id'] for w in again.winners]}",
            hint="The entries changed since the draw (an erasure?), or the file's draw_at did.",
        )
    console.print("verified: the seed and the entries give the same winners", highlight=False)
