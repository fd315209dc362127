"""The console backend: prints each email to standard output, for a first look."""

from __future__ import annotations

import sys
from typing import TextIO

from worker.providers import OutgoingEmail
from worker.settings import Settings


class ConsoleProvider:
    idempotent = False

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleProvider:  # noqa: ARG003
        return cls()

    def send(self, email: OutgoingEmail) -> str:
        stream = self.stream or sys.stdout
        stream.write(email.to_bytes().decode("ascii") + "\n" + "-" * 72 + "\n")
        stream.flush()
        return f"console:{email.delivery_id}"
