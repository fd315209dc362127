"""Three hosts (network namespaces on this machine, each with its own worker process, sharing
PostgreSQL, the broker and the provider over TCP) send one run of deliveries; one host loses its
power mid-run. Every delivery is sent once: none lost, none twice; only the requests the dead
host had on their way stay "outcome unknown", and the provider saw each of them once. On Redis
and on RabbitMQ."""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import dramatiq
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url
from sqlmodel import Session

from models import Delivery
from models.db import get_engine
from tests.scenarios.test_exactly_once import schedule_thank_yous, statuses
from tests.scenarios.test_killed_before_sending import settings_for
from tests.support.hosts import Host, Hosts, wait_for_port
from tests.support.sendgrid_standin import API_KEY, Received, Reply, accepted, running_standin
from tests.support.tcp_relay import address, on_port
from tests.support.waiting import wait_until
from worker.delivery.batches import WRITE_WITHIN_S
from worker.delivery.inflight import QUEUED_SHARE
from worker.delivery.recovery import OUTCOME_UNKNOWN
from worker.queue import clock
from worker.queue.actors import deliver_batch
from worker.runtime import Runtime

REPO_ROOT = Path(__file__).resolve().parents[2]
HOSTS = 3
DELIVERIES = 1800
BATCH = 20
IN_FLIGHT = 8  # each host's DELIVERY_IN_FLIGHT
ANSWER_S = 0.03  # the provider's time to answer: the run lasts long enough to kill a host in
STALE_S = 5  # the clock gives up a dead host's claims, and re-sends its messages, this soon


def host_urls(hosts: Hosts, database_url: str, broker_url: str, standin_url: str) -> dict[str, int]:
    """Relays on every host's link to the database, the broker and the stand-in: their ports."""
    database = make_url(database_url)
    socket_dir = database.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):  # the private server
        db_port = hosts.expose(unix=f"{socket_dir}/.s.PGSQL.{database.port or 5432}")
    else:
        db_port = hosts.expose(port=database.port or 5432)
    return {
        "database": db_port,
        "broker": hosts.expose(port=address(broker_url)[1]),
        "standin": hosts.expose(port=urlsplit(standin_url).port),
    }


def host_env(
    host: Host, ports: dict[str, int], database_url: str, broker_url: str
) -> dict[str, str]:
    """The Procfile worker's environment on `host`: every service through its gateway."""
    database = make_url(database_url)
    query = {k: v for k, v in database.query.items() if k != "host"}
    on_host = database.set(host=host.gateway, port=ports["database"], query=query)
    return {
        **os.environ,
        "DATABASE_URL": on_host.render_as_string(hide_password=False),
        "BROKER_URL": on_port(broker_url, ports["broker"], host=host.gateway),
        "EMAIL_BACKEND": "sendgrid",
        "SENDGRID_API_KEY": API_KEY,
        "SENDGRID_API_HOST": f"http://{host.gateway}:{ports['standin']}",
        "CLAIM_TIMEOUT_S": str(STALE_S),
        "REQUEUE_AFTER_S": str(STALE_S),
        "STRANDED_AFTER_S": str(STALE_S),
        "DELIVERY_IN_FLIGHT": str(IN_FLIGHT),
        "LADDER_HOST_NAME": host.name,
        "no_proxy": "*",
    }


def sessions(database_url: str) -> str:
    """The database's sessions now: what each waits for, and its statement."""
    with get_engine(database_url).connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pid, state, wait_event_type, wait_event, left(query, 90)"
                " FROM pg_stat_activity WHERE datname = current_database()"
            )
        ).all()
    return "\n".join(" | ".join(str(value) for value in row) for row in rows)


@pytest.mark.timeout(360)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_three_hosts_one_killed_send_every_delivery_once(
    database_url: str,
    broker_url: str,
    server_broker: dramatiq.Broker,  # noqa: ARG001  (the sends below go to this broker)
    db: Session,
    tmp_path: Path,
) -> None:
    def answer(_request: Received) -> Reply:
        time.sleep(ANSWER_S)
        return accepted()

    with running_standin() as standin, Hosts(HOSTS) as hosts:
        standin.answer = answer
        ports = host_urls(hosts, database_url, broker_url, standin.url)
        for host in hosts.hosts:
            for port in ports.values():
                wait_for_port(host, port)
        settings = settings_for(database_url, broker_url, standin).model_copy(
            update={"stranded_after_s": STALE_S, "claim_timeout_s": STALE_S}
        )
        runtime = Runtime(settings)
        delivery_ids = schedule_thank_yous(db, DELIVERIES)

        logs = [tmp_path / f"{host.name}.log" for host in hosts.hosts]
        command = [sys.executable, "-m", "dramatiq", "worker.queue.broker", "worker.queue.actors"]
        for host, log in zip(hosts.hosts, logs, strict=True):
            env = host_env(host, ports, database_url, broker_url)
            host.start([*command, "--processes", "1", "--threads", "8"], env=env, log=log)
        # Every host's worker listening before the run is handed over: the first ready would
        # otherwise prefetch it all (twice its threads in messages).
        wait_until(
            lambda: all("ready for action" in log.read_text(errors="replace") for log in logs),
            timeout_s=60,
            what="every host's worker to start",
            on_timeout=lambda: "\n".join(log.read_text(errors="replace")[-2000:] for log in logs),
        )
        # Handed over in messages of BATCH, as the relay does in hundreds: more messages than
        # the hosts prefetch (twice their threads each), so every host takes some.
        db.execute(update(Delivery).values(enqueued_at=datetime.now(UTC)))
        db.commit()
        for start in range(0, DELIVERIES, BATCH):
            deliver_batch.send(delivery_ids[start : start + BATCH])

        wait_until(
            lambda: len(standin.accepted_delivery_ids()) >= DELIVERIES // 4,
            timeout_s=60,
            what="a quarter of the deliveries sent",
            on_timeout=lambda: "\n".join(log.read_text(errors="replace")[-2000:] for log in logs),
        )
        victim = hosts.hosts[1]
        victim.kill()
        at_kill = statuses(db)
        assert at_kill["sent"] < DELIVERIES, at_kill  # killed mid-run

        # Should the settling hang, say what the database's sessions wait for.
        watchdog = threading.Timer(90, lambda: sys.stderr.write(sessions(database_url) + "\n"))
        watchdog.daemon = True
        watchdog.start()

        def settled() -> bool:
            clock.tick(db, now=datetime.now(UTC), runtime=runtime)
            counts = statuses(db)
            return counts["sent"] + counts["failed"] == DELIVERIES

        wait_until(
            settled,
            timeout_s=120,
            interval_s=0.2,
            what="every delivery sent or given up",
            on_timeout=lambda: f"{statuses(db)}\n{sessions(database_url)}",
        )
        watchdog.cancel()

    # A request the dead host was writing when it died reached the provider cut short, as
    # over any network; every other request was whole and valid.
    cut_short = [
        request
        for request, _ in standin.invalid
        if len(request.body) < int(request.headers.get("content-length", "0"))
        and request.headers.get("host", "").startswith(f"{victim.gateway}:")
    ]
    assert len(standin.invalid) == len(cut_short), standin.invalid
    db.expire_all()
    final = {row.id: row for row in db.scalars(select(Delivery))}
    provider_saw = Counter(int(i) for i in standin.accepted_delivery_ids())
    assert [d for d, n in provider_saw.items() if n != 1] == []  # none twice
    unknown = {d for d in delivery_ids if final[d].status == "failed"}
    assert all((final[d].reason or "").startswith(OUTCOME_UNKNOWN) for d in unknown)
    # Only the dead host's: its requests on their way, those stamped and queued for its
    # threads (which never left), and those answered in the moment before their answers'
    # write (`WRITE_WITHIN_S`), each thread answered at most once per ANSWER_S. Of those the
    # provider never took, a request on its way may have arrived cut short or not at all (a
    # thread killed before its first byte, or between its bytes): a thread's each, and the
    # queued ones.
    queued = int(IN_FLIGHT * QUEUED_SHARE)
    answered = math.ceil(WRITE_WITHIN_S / ANSWER_S) * IN_FLIGHT
    assert len(unknown - set(provider_saw)) <= IN_FLIGHT + queued
    assert 0 < len(unknown) <= IN_FLIGHT + queued + answered
    sent = {d for d in delivery_ids if final[d].status == "sent"}
    assert sent | unknown == set(delivery_ids)  # none lost
    assert sent <= set(provider_saw)  # each sent one was accepted once
    # Every host sent some, the one killed too; the two that lived sent the rest.
    to_provider = [hosts.sent[(host.name, ports["standin"])] for host in hosts.hosts]
    assert all(sent > 0 for sent in to_provider), to_provider
