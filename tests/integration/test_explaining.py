"""`ladder explain`: a customer's timeline, what matched, what did not and why, every fate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from tests.support.factories import shipped_message
from worker.authoring.explaining import explain
from worker.cli.authoring import print_explanation
from worker.demo.time_machine import time_machine
from worker.runtime import Runtime

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def test_explain_shows_what_matched_what_did_not_and_what_became_of_each_email(
    runtime: Runtime,  # noqa: ARG001
) -> None:
    with time_machine(T0) as machine:
        machine.happen(machine.order_placed("ana@example.com", first_name="Ana"))
        machine.advance(timedelta(hours=3))
        machine.happen(machine.order_placed("ana@example.com", total="12.00"))
        found = explain(
            machine.db,
            "ANA@example.com ",
            triggers=machine.runtime.triggers,
            env=machine.runtime.renderer.env,
            settings=machine.runtime.settings,
            now=machine.now,
        )
        assert (
            explain(
                machine.db,
                "nobody@example.com",
                triggers=machine.runtime.triggers,
                env=machine.runtime.renderer.env,
                settings=machine.runtime.settings,
                now=machine.now,
            )
            is None
        )

    assert found is not None
    first, second, moved = found.steps
    # The second order moved Ana up the ladder: Ladder's own event, a step of her story too.
    assert (moved.event.type, moved.event.payload["data"]["to"]) == ("rung.up", "repeat")
    outcomes = {m.trigger: (m.outcome, m.detail) for m in first.matches}
    # The thank-you tests its subject: the detail says which variant Ana got, and why.
    thanked = shipped_message("thank-you", found.customer.id or 0) == "thank_you"
    variant = "thanks" if thanked else "what-next"
    assert outcomes["thank-you"][0] == "matched"
    assert outcomes["thank-you"][1].startswith(f"A/B variant {variant}: hash 0.")
    assert outcomes["upsell"] == ("did not match", "before.orders_count >= 1 is false")
    assert {m.trigger: m.outcome for m in second.matches}["thank-you"] == "did not match"
    # The nudge and the win-back waiting since the first order.
    assert sorted(second.cancels) == ["second-order", "win-back"]
    fates = {(d.trigger, str(d.status)) for d in found.deliveries}
    assert ("thank-you", "sent") in fates

    console = Console(record=True, width=200)
    print_explanation(found, console)
    text = console.export_text()
    assert "upsell: did not match" in text
    assert "before.orders_count >= 1 is false" in text
    assert "thank-you: matched" in text
    assert "cancelled the waiting second-order" in text


def test_explain_says_when_a_dedupe_key_stopped_a_second_start(
    runtime: Runtime,  # noqa: ARG001
    tmp_path: Path,
) -> None:
    folder = tmp_path / "triggers"
    folder.mkdir()
    (folder / "receipt.toml").write_text(
        'name = "receipt"\nmessage = "thank_you"\non = "order.placed"\ndedupe = "order.id"\n'
        'class = "transactional"\n',
        encoding="utf-8",
    )
    with time_machine(T0, settings={"TRIGGERS_DIR": str(folder)}) as machine:
        placed = machine.order_placed("ana@example.com")
        again = placed.model_copy(update={"id": "the-same-order-from-another-feed"})
        machine.happen(placed)
        machine.happen(again)
        found = explain(
            machine.db,
            "ana@example.com",
            triggers=machine.runtime.triggers,
            env=machine.runtime.renderer.env,
            settings=machine.runtime.settings,
            now=machine.now,
        )

    assert found is not None
    assert len(found.deliveries) == 1
    first, second = found.steps
    assert first.matches[0].outcome == "matched"
    assert second.matches[0].outcome == "deduplicated"
    assert second.matches[0].detail == (
        f"dedupe: order.id was already started by event {first.event.id}"
    )
