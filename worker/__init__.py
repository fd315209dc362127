"""Ladder's deployable, one package per stage of the data's path (see ARCHITECTURE.md)."""

from worker import logs

# Every process that runs Ladder's code (web, worker, clock, CLI) logs ids, never personal data.
logs.install()
