"""The file backend: one `.eml` per delivery under the outbox folder (the embedded default)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from worker.providers import DeliveryError, OutgoingEmail
from worker.settings import Settings


class FileProvider:
    idempotent = True

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    @classmethod
    def from_settings(cls, settings: Settings) -> FileProvider:
        return cls(settings.outbox_dir)

    def path_for(self, delivery_id: int) -> Path:
        return self.outbox / f"{delivery_id:09d}.eml"

    def send(self, email: OutgoingEmail) -> str:
        """Writes the message atomically, once: a second send of the same delivery is a no-op."""
        target = self.path_for(email.delivery_id)
        message_id = f"file:{target.name}"
        if target.exists():
            return message_id
        try:
            self.outbox.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "wb", dir=self.outbox, suffix=".tmp", delete=False
            ) as tmp:
                tmp.write(email.to_mime().as_bytes())
                tmp.flush()
                os.fsync(tmp.fileno())
            try:
                # link() fails if the target exists: of two racing senders exactly one wins.
                os.link(tmp.name, target)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp.name)
        except OSError as exc:
            raise DeliveryError(f"cannot write {target}: {exc.strerror}", permanent=False) from exc
        return message_id
