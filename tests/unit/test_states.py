"""The state machines: every status is reachable, every move a stage makes is in the table,
and a move that is not is refused by name before any SQL runs."""

from __future__ import annotations

import pytest

from models import DeliveryStatus, EventStatus, InboxStatus
from models.states import DELIVERY, DELIVERY_BORN, EVENT, INBOX_ROW, IllegalMove, Machine
from worker.delivery.feedback import TRANSITIONS

S = DeliveryStatus


def reachable(machine: Machine, born: frozenset[str]) -> set[str]:
    found = set(born)
    for targets in machine.moves.values():
        found |= set(targets)
    return found


@pytest.mark.parametrize(
    ("machine", "statuses", "born"),
    [
        (DELIVERY, DeliveryStatus, DELIVERY_BORN),
        (EVENT, EventStatus, frozenset({EventStatus.PENDING})),
        (INBOX_ROW, InboxStatus, frozenset({InboxStatus.PENDING})),
    ],
)
def test_every_status_can_be_reached(
    machine: Machine, statuses: type[DeliveryStatus], born: frozenset[str]
) -> None:
    assert reachable(machine, born) == set(statuses)


def test_a_move_that_is_not_in_the_table_is_refused_by_name() -> None:
    with pytest.raises(IllegalMove, match="deliveries: sent → scheduled is not a move"):
        DELIVERY.update(S.SENT, S.SCHEDULED)
    with pytest.raises(IllegalMove, match="events: processed → pending"):
        EVENT.update(EventStatus.PROCESSED, EventStatus.PENDING)


def test_every_provider_event_moves_a_delivery_only_where_the_table_allows() -> None:
    for kind, (target, sources) in TRANSITIONS.items():
        for source in (*sources, S.FAILED):  # failed: "outcome unknown", settled by the event
            assert DELIVERY.allows(source, target), (kind, source, target)


def test_a_move_compares_the_current_status_and_sets_the_new_one() -> None:
    statement = DELIVERY.update(S.SCHEDULED, S.SENDING, reason="claimed")
    sql = str(statement.compile(compile_kwargs={"literal_binds": True}))
    assert "WHERE deliveries.status = 'scheduled'" in sql
    assert "SET status='sending', reason='claimed'" in sql
