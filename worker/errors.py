"""Errors that say whether trying again could help."""

from sqlalchemy import exc

# What says the database is away or busy (a lost connection, a lock or statement timeout, a
# deadlock, a full pool), or that the code and the schema disagree (a migration not applied):
# never the fault of the row in hand. Work meeting one is retried whole; any other error a row
# meets is that row's own, and marks it failed with the reason so it cannot hold the others.
NOT_THE_ROWS_FAULT: tuple[type[Exception], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.InternalError,
    exc.ProgrammingError,
    exc.NotSupportedError,
    exc.TimeoutError,
)


class PermanentError(Exception):
    """Retrying cannot help (a payload we cannot read, an unknown customer): record and stop."""
