"""The file backend: one `.eml` per delivery under the outbox folder (the embedded default),
named by `delivery_key` so that a folder shared by two databases (the demo's and a real run's)
never takes one's email for the other's."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from worker.providers import DeliveryError, OutgoingEmail
from worker.settings import Settings


class FileProvider:
    idempotent = True

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self._folder = os.fspath(outbox)

    @classmethod
    def from_settings(cls, settings: Settings) -> FileProvider:
        return cls(settings.outbox_dir)

    def path_for(self, key: str) -> Path:
        """The file of the delivery whose `delivery_key` is `key`."""
        return self.outbox / _name(key)

    def path_of(self, provider_message_id: str | None) -> Path | None:
        """The file a sent delivery's `provider_message_id` names (None: not this backend's)."""
        if not provider_message_id or not provider_message_id.startswith("file:"):
            return None
        name = Path(provider_message_id.removeprefix("file:")).name  # never outside the outbox
        return self.outbox / name

    def send(self, email: OutgoingEmail) -> str:
        """Writes the message once: a second send of the same delivery is a no-op.

        The file appears whole or not at all (written aside, then linked into place), and
        link() fails if the target exists, so of two racing senders exactly one wins. No
        fsync: this backend is for laptops and tests, where a power cut is not the risk.
        """
        name = _name(email.key)
        message_id = f"file:{name}"
        # Plain strings and os calls, no exists() first (link() tells): this runs per email.
        target = os.path.join(self._folder, name)
        aside = os.path.join(self._folder, f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            content = email.to_bytes()
            try:
                _write(aside, content)
            except FileNotFoundError:  # the first email: make the outbox folder
                self.outbox.mkdir(parents=True, exist_ok=True)
                _write(aside, content)
            try:
                os.link(aside, target)
            except FileExistsError:  # sent before: that file is this delivery's email
                pass
            finally:
                os.unlink(aside)
        except OSError as exc:
            raise DeliveryError(f"cannot write {target}: {exc.strerror}", permanent=False) from exc
        return message_id


def _name(key: str) -> str:
    return f"{key}.eml"


def _write(path: str, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        written = memoryview(content)
        while written:  # a regular file takes it all at once, but write() may say otherwise
            written = written[os.write(descriptor, written) :]
    finally:
        os.close(descriptor)
