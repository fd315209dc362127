"""The webhook group's INSERT into PostgreSQL, from the event loop: no thread, one round trip.

Through SQLAlchemy in a worker thread a flush paid a thread hop and four round trips (pool
pre-ping, BEGIN, INSERT, COMMIT), each back through the GIL of a busy event loop. Here one
async psycopg connection per event loop sends the whole group as one multi-row INSERT in
autocommit: PostgreSQL commits it (WAL flushed, durably) before it answers. (VALUES rather than
`unnest` of arrays: psycopg dumps arrays in Python, at 5 times the CPU per row.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
import sqlalchemy.exc
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

# The inbox columns `inbox.row_for` fills, with the type each value is sent as.
COLUMNS = (
    ("source", "text"),
    ("topic", "text"),
    ("dedupe_key", "text"),
    ("headers", "json"),
    ("body", "bytea"),
    ("received_at", "timestamp"),
    ("status", "text"),
    ("enqueued_at", "timestamp"),
    ("events", "int"),
    ("attempts", "int"),
)
INSERT = (
    f"INSERT INTO inbox ({', '.join(name for name, _ in COLUMNS)}) VALUES {{values}} "
    "ON CONFLICT (source, dedupe_key) DO NOTHING RETURNING id, source, dedupe_key"
)
# A statement takes at most 65,535 parameters: a larger group goes in several, each committed.
MAX_ROWS = 1000
ROW = "(" + ", ".join(f"%s::{kind}" for _, kind in COLUMNS) + ")"
# How its connection shows in pg_stat_activity.
APPLICATION_NAME = "ladder-webhooks"
# A database that does not answer counts as away. The requests do not wait for these (each
# spools its delivery at its own deadline, `GroupCommit.submit`); they bound how long a flush
# holds the group before the next one tries a fresh connection. libpq's least: 2 s.
CONNECT_TIMEOUT_S = 2
FLUSH_TIMEOUT_S = 1.5
# A connection whose server vanished without a word (a failover, a dropped NAT entry) is found
# dead by TCP keepalives rather than at the next INSERT's timeout.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
# What a database away raises; the caller spools the deliveries.
UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError)
# The same through SQLAlchemy (SQLite, or PostgreSQL from a worker thread) too.
DATABASE_AWAY: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    *UNAVAILABLE,
)
# What one row's own values make the database refuse: that delivery cannot be stored.
ROW_REFUSED: tuple[type[Exception], ...] = (
    psycopg.DataError,
    psycopg.IntegrityError,
    sqlalchemy.exc.DataError,
    sqlalchemy.exc.IntegrityError,
    UnicodeEncodeError,
)
# Any other database error (read-only after a failover, …): the delivery is spooled.
DATABASE_ERROR: tuple[type[Exception], ...] = (psycopg.Error, sqlalchemy.exc.DBAPIError)


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


class PostgresInbox:
    """Stores inbox rows through one connection, opened on first use and again after it broke.

    Belongs to one event loop; the group commit calls `store_rows` one batch at a time.
    """

    def __init__(self, database_url: str, *, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        # The URL's own settings win (a test's shorter connect_timeout).
        defaults = {"connect_timeout": CONNECT_TIMEOUT_S, **KEEPALIVES}
        self.conninfo = make_conninfo(
            url.render_as_string(hide_password=False),
            **{key: value for key, value in defaults.items() if key not in url.query},
        )
        self.timeout_s = timeout_s
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def store_rows(self, rows: Sequence[dict[str, Any]]) -> list[int | None]:
        """Inserts the rows new on (source, dedupe_key), committed when this returns. Returns,
        per row, its new id, or None for a delivery already stored (also earlier in `rows`).

        Raises one of UNAVAILABLE when the database cannot be reached or does not answer within
        `timeout_s`.
        """
        if not rows:
            return []
        inserted: list[tuple[int, str, str]] = []
        try:
            async with asyncio.timeout(self.timeout_s):
                # In key order: two processes inserting overlapping groups take the rows' locks
                # in the same order, so neither waits on the other in a deadlock.
                ordered = sorted(rows, key=lambda row: (row["source"], row["dedupe_key"]))
                for start in range(0, len(ordered), MAX_ROWS):
                    inserted += await self._insert(ordered[start : start + MAX_ROWS])
        except TimeoutError as exc:  # a database hung, or too slow to answer in time
            await self.close()
            raise psycopg.OperationalError(f"no answer in {self.timeout_s} s") from exc
        new = {(source, key): int(row_id) for row_id, source, key in inserted}
        return [new.pop((row["source"], row["dedupe_key"]), None) for row in rows]

    async def _insert(self, chunk: Sequence[dict[str, Any]]) -> list[tuple[int, str, str]]:
        """One committed INSERT. A connection open from before that fails (the server
        restarted, failed over or ended it idle) is replaced and the INSERT sent once more:
        safe, as a row already stored is skipped."""
        was_open = self._connection is not None and not self._connection.closed
        try:
            return await self._execute(chunk)
        except UNAVAILABLE:
            await self.close()
            if not was_open:
                raise
        try:
            return await self._execute(chunk)
        except UNAVAILABLE:
            await self.close()
            raise

    async def _execute(self, chunk: Sequence[dict[str, Any]]) -> list[tuple[int, str, str]]:
        connection = await self._connect()
        cursor = await connection.execute(_insert(len(chunk)), _params(chunk))
        return await cursor.fetchall()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, application_name=APPLICATION_NAME
            )
        return self._connection


def _insert(count: int) -> str:
    return INSERT.format(values=", ".join([ROW] * count))


def _params(rows: Sequence[dict[str, Any]]) -> list[Any]:
    """The rows' values in column order; times as naive UTC, as UTCDateTime stores them."""
    return [_value(kind, row[name]) for row in rows for name, kind in COLUMNS]


def _value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "json":
        return json.dumps(value)
    if kind == "timestamp":
        assert isinstance(value, datetime) and value.tzinfo is not None, "aware times only"
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
