"""The engine and sessions, shared by the web process, the worker and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Engine,
    Float,
    Insert,
    Integer,
    Numeric,
    Result,
    String,
    Table,
    TypeDecorator,
    bindparam,
    column,
    event,
    literal_column,
    select,
    text,
    update,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session, SQLModel, create_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_S = 5

T = TypeVar("T", bound=SQLModel)


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per database URL per process."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # hide_parameters: an error's text (logged, or kept as a row's reason) never quotes the
        # statement's values, which are customers' addresses and names.
        # A server that accepts and never answers fails a connect after this long, instead
        # of holding its thread for libpq's two minutes (the URL's own setting wins).
        timeout = (
            {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT_S}
        )
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=10,
            hide_parameters=True,
            connect_args=timeout,
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
    )
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers; BEGIN IMMEDIATE so writers queue instead of failing.

    A deferred SQLite transaction that reads and then writes cannot wait for the write lock
    if another writer committed meanwhile ("database is locked"); taking it up front can.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def session(url: str) -> Iterator[Session]:
    """A session on the database at `url`; commits are explicit, rollback on error."""
    # One connection for the session's life: a batch commits many times, and each checkout
    # from the pool would cost a pre-ping round trip.
    with (
        get_engine(url).connect() as connection,
        Session(bind=connection, expire_on_commit=False) as db,
    ):
        yield db


def dialect_insert(dialect: str) -> Any:
    """The `insert` construct with ON CONFLICT for this dialect (PostgreSQL or SQLite)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@lru_cache(maxsize=64)
def _insert_ignoring(dialect: str, table: Table, returning: Any) -> Any:
    return dialect_insert(dialect)(table).on_conflict_do_nothing().returning(returning)


def insert_ignoring_duplicates(
    db: Session, table: Table, rows: Sequence[dict[str, Any]], returning: Any
) -> list[Any]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING, on SQLite and PostgreSQL alike.

    Returns the `returning` column of the rows actually inserted; duplicates are skipped.
    """
    if not rows:
        return []
    statement = _insert_ignoring(db.get_bind().dialect.name, table, returning)
    return list(insert_many(db, statement, rows).scalars())


def insert_many(
    db: Session, statement: Insert, rows: Sequence[dict[str, Any]]
) -> Result[*tuple[Any, ...]]:
    """Runs `statement` (an INSERT with any ON CONFLICT and RETURNING) for `rows`, which all
    name the same columns; rows come back in no particular order. Build `statement` once (a
    cached function): its JSON form is kept by the statement.

    On PostgreSQL the rows travel as one JSON document, read by `json_to_recordset`: a short
    statement that psycopg parses once and caches, and one parameter that `json.dumps` writes
    in C. Given the rows themselves, SQLAlchemy's "insertmanyvalues" writes a new statement
    with a placeholder a value for every batch, which psycopg parses again in Python: four
    times the CPU a row for a delivery's 18 columns (108 µs against 25; one array a column
    through `unnest` took 45, its elements quoted one by one in Python). Elsewhere (SQLite),
    and for a value JSON cannot carry (NaN), the rows go as they are.
    """
    dialect = db.get_bind().dialect
    if not rows or dialect.name != "postgresql":
        return db.execute(statement, list(rows))
    columns = tuple(rows[0])
    reading = _from_json(statement, columns, dialect)
    if reading is None or any(len(row) != len(columns) for row in rows):  # as SQLAlchemy says
        return db.execute(statement, list(rows))
    converts = reading.converts
    document = [{**row, **{n: f(row[n]) for n, f in converts.items()}} for row in rows]
    try:
        rows_json = json.dumps(
            document, default=_json_value, separators=(",", ":"), allow_nan=False
        )
    except (ValueError, TypeError):  # NaN or infinity (PostgreSQL's JSON has neither), …
        return db.execute(statement, list(rows))
    return db.execute(reading.statement, {"rows_json": rows_json})


# The column types whose values JSON carries as text PostgreSQL casts back (Text, Enum and
# BigInteger among them), and those it carries as they are.
_CARRIED = (String, Integer, Numeric, Float, Boolean, DateTime, Date)


def _carried(kind: Any) -> bool:
    if isinstance(kind, JSON):
        return True
    while isinstance(kind, TypeDecorator):  # UTCDateTime, SQLModel's AutoString
        kind = kind.impl_instance
    return isinstance(kind, _CARRIED)


def _json_value(value: Any) -> Any:
    """What `json.dumps` cannot write itself: times as ISO 8601, decimals as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not carried as JSON")


@dataclass(frozen=True)
class _JsonInsert:
    statement: Insert  # INSERT … SELECT … FROM json_to_recordset(:rows_json) AS u(a type, …)
    converts: dict[str, Any]  # each column's bind processor (UTCDateTime's to naive UTC, …)


@lru_cache(maxsize=64)
def _from_json(statement: Insert, columns: tuple[str, ...], dialect: Any) -> _JsonInsert | None:
    """`statement` reading its rows from one JSON document; None where a column's type is not
    one JSON can carry as text PostgreSQL reads back (bytes, arrays, intervals)."""
    table = statement.table
    types = [table.c[name].type for name in columns]
    if not all(_carried(kind) for kind in types):
        return None
    converts = {
        name: process
        for name, kind in zip(columns, types, strict=True)
        if not isinstance(kind, JSON) and (process := kind._cached_bind_processor(dialect))
    }
    quoted = [dialect.identifier_preparer.quote(name) for name in columns]
    spec = ", ".join(
        f"{name} {kind.compile(dialect=dialect)}" for name, kind in zip(quoted, types, strict=True)
    )
    source = text(f"json_to_recordset(CAST(:rows_json AS json)) AS u({spec})")
    fields: list[Any] = [literal_column(f"u.{name}") for name in quoted]
    read = select(*fields)
    return _JsonInsert(statement.from_select(columns, read.select_from(source)), converts)


def insert_new(db: Session, model: type[T], row: dict[str, Any]) -> T | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the ORM object; None if the row existed.

    For rows that two workers may create at once (a new customer, a new order): the unique
    constraint decides, and the loser reads the winner's row.
    """
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).on_conflict_do_nothing().returning(model)
    return db.scalars(statement, [row]).one_or_none()


def roomy_sorts(db: Session, megabytes: int = 256) -> None:
    """On PostgreSQL, lets this transaction's sorts and hashes take `megabytes` of memory each
    (the default 4 MB sorts a million rows on disk, several times slower); nothing elsewhere.
    For the few set-based statements over every customer: the daily refresh, weekly fits, the
    report."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text(f"SET LOCAL work_mem = '{int(megabytes)}MB'"))


def sequential_scans(db: Session) -> AbstractContextManager[None]:
    """On PostgreSQL, the statements inside read whole tables by a sequential scan, never an
    index scan in the index's order; nothing elsewhere. For a statement grouping every row of
    a large table by an indexed key: the planner takes the index's order for the grouping and
    then reads the heap at random (the CLV summary at ten million orders: 60 s, where a scan
    and a sort take 14 s)."""
    return _planning_without(db, "indexscan", "bitmapscan")


def index_lookups(db: Session) -> AbstractContextManager[None]:
    """On PostgreSQL, the statements inside join by looking each row up in the other table's
    index (a nested loop), never by hashing or merging a whole table; nothing elsewhere. For a
    statement that starts from a few hundred thousand rows and fetches one row each from
    tables of millions: the planner hashes the whole larger table (the report's attributed
    revenue at ten million orders: 4.0-5.6 s, where 773,655 look-ups take 1.5-2.7 s)."""
    return _planning_without(db, "hashjoin", "mergejoin")


@contextmanager
def _planning_without(db: Session, *methods: str) -> Iterator[None]:
    """The planner's `enable_<method>` off for the statements inside, on PostgreSQL."""
    on_postgresql = db.get_bind().dialect.name == "postgresql"
    if on_postgresql:
        for method in methods:
            db.execute(text(f"SET LOCAL enable_{method} = off"))
    try:
        yield
    finally:
        if on_postgresql:  # the rest of the transaction plans as before
            for method in methods:
                db.execute(text(f"SET LOCAL enable_{method} TO DEFAULT"))


def update_by_key(
    db: Session, table: Table, rows: Sequence[dict[str, Any]], *, key: str = "id"
) -> None:
    """For each row (a dict of column names, `key` among them), sets its other columns where
    `key` matches. On PostgreSQL one `UPDATE … FROM (VALUES …)` per few thousand rows: an
    executemany sends a statement a row, and a million took minutes. SQLite runs in-process,
    where executemany is as fast."""
    if not rows:
        return
    names = list(rows[0])
    others = [name for name in names if name != key]
    if db.get_bind().dialect.name == "postgresql":
        given = values(*(column(name, table.c[name].type) for name in names), name="given")
        chunk = max(1, 30_000 // len(names))  # PostgreSQL takes 65,535 parameters a statement
        for start in range(0, len(rows), chunk):
            batch = rows[start : start + chunk]
            part = given.data([tuple(row[name] for name in names) for row in batch])
            db.execute(
                update(table)
                .where(table.c[key] == part.c[key])
                .values({name: part.c[name] for name in others})
            )
        return
    statement = (
        update(table)
        .where(table.c[key] == bindparam(f"_{key}"))
        .values({name: bindparam(f"_{name}") for name in others})
    )
    bound = [{f"_{name}": value for name, value in row.items()} for row in rows]
    for start in range(0, len(bound), 5_000):
        db.execute(statement, bound[start : start + 5_000])
