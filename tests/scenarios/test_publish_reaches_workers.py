"""A version published in the studio reaches running workers without a restart: two worker
processes, as the Procfile starts them, send a stream of emails while a new subject is
published; every email a worker starts a second or more after the publish has the new subject.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dramatiq
import pytest
from sqlmodel import Session, col, select

from models import Delivery, DeliveryStatus
from models.studio import FileKind
from tests.support.deliveries import eml_name, seed_due_deliveries, write_hello_message
from tests.support.waiting import wait_until
from worker.queue import relays
from worker.runtime import FOLLOW_EVERY_S
from worker.settings import EmailBackend, Settings
from worker.studio import drafts, versions

REPO_ROOT = Path(__file__).resolve().parents[2]
HELLO = "hello/default.html.j2"
NEW = """{% extends "layouts/base.html.j2" %}
{% block subject %}Welcome aboard, {{ customer.first_name or "friend" }}{% endblock %}
{% block body %}<p>{{ greeting }}, welcome to {{ shop.name }}.</p>{% endblock %}
"""


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "BROKER_URL": str(settings.broker_url),
        "EMAIL_BACKEND": "file",
        "OUTBOX_DIR": str(settings.outbox_dir),
        "TEMPLATES_DIR": str(settings.templates_dir),
        "TRIGGERS_DIR": str(settings.triggers_dir),
    }
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "worker.queue.broker", "worker.queue.actors",
             "--processes", "1", "--threads", "4", "--queues", "deliveries"],
            cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def subject(outbox: Path, db: Session, delivery_id: int) -> str:
    raw = (outbox / eml_name(db, delivery_id)).read_bytes()
    return str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_publish_reaches_running_workers_within_a_second(
    database_url: str,
    broker_url: str,
    server_broker: dramatiq.Broker,  # noqa: ARG001  (the relay below enqueues on this broker)
    db: Session,
    tmp_path: Path,
) -> None:
    triggers_dir, templates_dir = write_hello_message(tmp_path / "shop")
    outbox = tmp_path / "outbox"
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        broker_url=broker_url,
        email_backend=EmailBackend.FILE,
        outbox_dir=outbox,
        templates_dir=templates_dir,
        triggers_dir=triggers_dir,
    )
    log = tmp_path / "workers.log"
    workers = [start_worker(settings, log) for _ in range(2)]
    published_at: datetime | None = None
    try:

        def feed(batch: int) -> None:
            seed_due_deliveries(db, 2, now=datetime.now(UTC), prefix=f"b{batch}-")
            relays.relay_deliveries(db, now=datetime.now(UTC), requeue_after=timedelta(0))

        feed(0)
        wait_until(
            lambda: any(outbox.glob("*.eml")),
            timeout_s=60,
            what="the workers to send their first email",
            on_timeout=lambda: log.read_text(errors="replace")[-3000:],
        )
        for batch in range(1, 60):
            if batch == 10:
                problems = drafts.check(db, settings, FileKind.TEMPLATE, HELLO, NEW)
                number = versions.save(
                    db, settings, FileKind.TEMPLATE, HELLO, NEW,
                    author="maria@shop.example", now=datetime.now(UTC), problems=problems,
                )  # fmt: skip
                versions.publish(
                    db, FileKind.TEMPLATE, HELLO, number, by="maria@shop.example",
                    now=datetime.now(UTC),
                )  # fmt: skip
                db.commit()
                published_at = datetime.now(UTC)
            feed(batch)
            time.sleep(0.1)

        def all_sent() -> bool:
            db.expire_all()
            statuses = db.exec(select(Delivery.status)).all()
            return all(status == DeliveryStatus.SENT for status in statuses)

        wait_until(all_sent, timeout_s=120, what="every delivery to be sent")
    finally:
        for worker in workers:
            stop(worker)
    assert published_at is not None
    db.expire_all()
    sent = db.exec(select(Delivery).order_by(col(Delivery.sent_at))).all()
    assert len(sent) == 120
    settled = published_at + timedelta(seconds=FOLLOW_EVERY_S + 0.05)
    late = [d for d in sent if d.sent_at is not None and d.sent_at >= settled]
    early = [d for d in sent if d.sent_at is not None and d.sent_at < published_at]
    assert late and early, "the stream did not run on both sides of the publish"
    assert {d.template_version for d in early} == {1}
    assert {d.template_version for d in late} == {2}
    assert subject(outbox, db, late[0].id or 0).startswith("Welcome aboard, Ana")
    assert subject(outbox, db, early[0].id or 0).startswith("Hello Ana")
    first_new = min(d.sent_at for d in sent if d.template_version == 2 and d.sent_at)
    lag = (first_new - published_at).total_seconds()
    logging.getLogger(__name__).info("publish → first email with it: %.2f s", lag)
