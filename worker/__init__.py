"""Ladder's deployable, one package per stage of the data's path (see ARCHITECTURE.md)."""

from worker import logs

# Every process that runs Ladder's code (web, worker, clock, CLI) logs ids, never personal data.
logs.install()
# Dramatiq and Uvicorn configure their handlers before they import Ladder: LOG_FORMAT=json
# gives those handlers the JSON formatter (the CLI's get it in `setup_logging`).
logs.apply_format()
