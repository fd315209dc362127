"""`ladder loyalty rewards [EMAIL]` and `ladder loyalty codes import FILE --reward NAME`: the
rewards given and refused (with the reason), and code pools from the platforms' exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from models import RewardState
from models.db import session
from worker import current_time
from worker.cli.loyalty import customer_or_exit, loyalty_app, programme_or_exit
from worker.cli.output import console, fail, table
from worker.cli.reward_rows import reward_document, state
from worker.loyalty import code_files, codes, rewards
from worker.settings import get_settings

codes_app = typer.Typer(help="The reward codes' pools.", no_args_is_help=True)
loyalty_app.add_typer(codes_app, name="codes")


@loyalty_app.command("rewards")
def list_rewards(
    email: Annotated[str | None, typer.Argument(help="one customer's; unset: everyone's")] = None,
    only: Annotated[
        RewardState | None,
        typer.Option("--state", help="only these: unlocked, redeemed, expired, refused"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="the newest this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON, for scripts")] = False,
) -> None:
    """Rewards unlocked, redeemed, expired and refused (with why), newest first, and the pools."""
    settings = get_settings()
    programme_or_exit(settings)
    with session(settings.database_url) as db:
        customer_id = customer_or_exit(db, email).id if email else None
        found = [
            row
            for row in rewards.rewards_of(db, customer_id, limit=limit if only is None else 10_000)
            if only is None or row.state == only.value
        ][:limit]
        pools = codes.pool_sizes(db)
    if as_json:
        document = {"rewards": [reward_document(row) for row in found], "pools": pools}
        typer.echo(json.dumps(document, indent=2, default=str))
        return
    shown = table("rewards", ("customer", "reward", "code", "state"))
    shown.columns[2].min_width = len("LDR-XXXXXXXXXXXX")  # an API code on one line
    for row in found:
        shown.add_row(row.email, row.reward, row.code or "-", state(row))
    console.print(shown)
    if pools:
        sizes = ", ".join(
            f"{name} {free} free, {given} given" for name, (free, given) in sorted(pools.items())
        )
        console.print(f"code pools: {sizes}", highlight=False)


@codes_app.command("import")
def import_codes(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    reward: Annotated[str, typer.Option("--reward", help="the programme's reward they are for")],
) -> None:
    """Adds the codes of a Shopify discount export or a WooCommerce coupon CSV (or a partner's
    catalogue, a CSV with a `code` column) to a reward's pool; rewards waiting for a code get
    one at once."""
    settings = get_settings()
    programme = programme_or_exit(settings)
    found = programme.named_reward(reward)
    if found is None:
        names = ", ".join(item.name for item in programme.reward) or "none"
        fail(f"the programme has no reward {reward!r}", hint=f"Its rewards: {names}.")
    if found.codes != "pool":
        fail(
            f"the reward {reward!r} takes its codes from {found.codes}, not from a pool",
            hint='Set `codes = "pool"` in the programme file to use imported codes.',
        )
    try:
        source, read = code_files.read_code_file(file.read_text(encoding="utf-8-sig"))
    except (code_files.CodeFileError, UnicodeDecodeError) as exc:
        fail(f"{file}: {exc}", hint="Export the codes from the shop's admin as CSV.")
    if found.kind == "partner_offer":
        source = "partner"  # the partner's catalogue, whatever its column is called
    now = current_time.now()
    with session(settings.database_url) as db:
        added = codes.import_pool(db, reward, read, source=source, now=now)
        given = codes.give_pool_codes(db, programme, now=now)
        db.commit()
        free, _ = codes.pool_sizes(db).get(reward, (0, 0))
    known = len(read) - added
    console.print(
        f"{added} codes added to the {reward} pool from a {source} export"
        + (f" ({known} known already)" if known else "")
        + f"; {given} waiting rewards got one; {free} free now",
        highlight=False,
    )
