"""Forgetting in Ladder's folders: a customer's export files, their emails in the file outbox,
and the spooled deliveries that name them."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

from sqlmodel import Session, col, select

from models import Customer, PrivacyRecord
from worker.privacy.holdings import mentions, parsed, scrubbed
from worker.providers.files import FileProvider

# A spool file still `.partial` after this long was left by a crash, not being written.
PARTIAL_AGE_S = 60.0


def remove_exports(db: Session, customer: Customer, exports_dir: Path) -> None:
    paths = db.exec(
        select(PrivacyRecord.path).where(
            col(PrivacyRecord.customer_id) == customer.id, col(PrivacyRecord.kind) == "export"
        )
    )
    for path in paths:
        if path:
            Path(path).unlink(missing_ok=True)
    # An export whose record was rolled back (its file written first) has the same name.
    for stray in exports_dir.glob(f"customer-{customer.id}-*.json"):
        stray.unlink(missing_ok=True)


def remove_outbox_files(outbox: FileProvider, keys: list[str], address: str) -> None:
    """Their `.eml` files, the temporary files of a send cut short, and any other file in the
    outbox that names their address (the file backend only; a small folder on a laptop)."""
    if not outbox.outbox.is_dir():
        return
    for key in keys:
        target = outbox.path_for(key)
        target.unlink(missing_ok=True)
        for partial in outbox.outbox.glob(f".{target.name}.*"):
            partial.unlink(missing_ok=True)
    needle = address.encode()
    for path in outbox.outbox.iterdir():
        if path.is_file() and needle in path.read_bytes().lower():
            path.unlink(missing_ok=True)


def scrub_spool(spool_dir: Path, names: dict[str, set[str]]) -> None:
    """Spooled deliveries (the records `intake.spool.append` writes) that name the customer:
    their body is rewritten with the personal fields set to null, the same as a stored inbox
    row, so the delivery still reaches the inbox; an unreadable one is deleted."""
    if not spool_dir.is_dir():
        return
    for path in sorted(spool_dir.iterdir()):
        if not path.is_file():
            continue
        if path.suffix == ".partial":
            # Being written now (the web process renames it when whole), or left by a crash
            # mid-write, which the drain never reads: an old one goes if it names them.
            if time.time() - path.stat().st_mtime > PARTIAL_AGE_S and _names(path, names):
                path.unlink(missing_ok=True)
            continue
        try:
            spooled = json.loads(path.read_bytes())
            body = base64.b64decode(spooled["body"], validate=True)
        except (ValueError, KeyError, TypeError):  # damaged (.bad): never drained; it goes
            if _names(path, names):
                path.unlink(missing_ok=True)
            continue
        document = parsed(body)
        if not mentions(body, document, names):
            continue
        if document is None:
            path.unlink(missing_ok=True)
            continue
        spooled["body"] = base64.b64encode(json.dumps(scrubbed(document)).encode()).decode()
        _replace(path, json.dumps(spooled).encode())


def _names(path: Path, names: dict[str, set[str]]) -> bool:
    content = path.read_bytes().lower()
    return any(email.encode() in content for email in names["emails"])


def _replace(path: Path, content: bytes) -> None:
    """Writes `content` over `path` whole (aside, fsync'd, renamed): a spool file is a
    delivery, never half-written."""
    aside = path.with_name(f".{path.name}.forget")
    descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())
    os.replace(aside, path)
