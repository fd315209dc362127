"""The engine and sessions, shared by the web process, the worker and the CLI."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, bindparam, column, event, text, update, values
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
    # Built once per table and parameters passed apart from the statement: it compiles once and
    # is cached, and many rows go out in SQLAlchemy's batched "insertmanyvalues" form.
    statement = _insert_ignoring(db.get_bind().dialect.name, table, returning)
    return list(db.execute(statement, list(rows)).scalars())


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


@contextmanager
def sequential_scans(db: Session) -> Iterator[None]:
    """On PostgreSQL, the statements inside read whole tables by a sequential scan, never an
    index scan in the index's order; nothing elsewhere. For a statement grouping every row of
    a large table by an indexed key: the planner takes the index's order for the grouping and
    then reads the heap at random (the CLV summary at ten million orders: 60 s, where a scan
    and a sort take 14 s)."""
    on_postgresql = db.get_bind().dialect.name == "postgresql"
    if on_postgresql:
        db.execute(text("SET LOCAL enable_indexscan = off"))
        db.execute(text("SET LOCAL enable_bitmapscan = off"))
    try:
        yield
    finally:
        if on_postgresql:  # the rest of the transaction plans as before
            db.execute(text("SET LOCAL enable_indexscan TO DEFAULT"))
            db.execute(text("SET LOCAL enable_bitmapscan TO DEFAULT"))


@contextmanager
def index_lookups(db: Session) -> Iterator[None]:
    """On PostgreSQL, the statements inside join by looking each row up in the other table's
    index (a nested loop), never by hashing or merging a whole table; nothing elsewhere. For a
    statement that starts from a few hundred thousand rows and fetches one row each from
    tables of millions: the planner hashes the whole larger table (the report's attributed
    revenue at ten million orders: 4.0-5.6 s, where 773,655 look-ups take 1.5-2.7 s)."""
    on_postgresql = db.get_bind().dialect.name == "postgresql"
    if on_postgresql:
        db.execute(text("SET LOCAL enable_hashjoin = off"))
        db.execute(text("SET LOCAL enable_mergejoin = off"))
    try:
        yield
    finally:
        if on_postgresql:  # the rest of the transaction plans as before
            db.execute(text("SET LOCAL enable_hashjoin TO DEFAULT"))
            db.execute(text("SET LOCAL enable_mergejoin TO DEFAULT"))


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
