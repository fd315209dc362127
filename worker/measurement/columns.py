"""Columns of numbers between the database and numpy, for the few computations over every
customer (the CLV fit, the ABC classes): a million rows without a Python object per value.

On PostgreSQL a query is read by a binary `COPY (…) TO STDOUT` straight into numpy arrays, and
new values are written by a binary `COPY` into a temporary table and one `UPDATE … FROM` that
sets only the rows whose values differ. SQLite runs in-process, where fetching rows and an
executemany are as fast as anything: the same statements, without the COPY.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, Column, ColumnElement, Double, MetaData, Table, cast, func, or_
from sqlalchemy import update as update_
from sqlalchemy.sql import Select
from sqlmodel import Session

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Array = npt.NDArray[Any]

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER = len(_SIGNATURE) + 8  # flags and the header extension's length, both int32
_TRAILER = 2  # the int16 -1 that ends the data
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def integer(expression: Any, name: str) -> ColumnElement[Any]:
    """A column `read` returns as int64 (never NULL: coalesce first)."""
    return cast(expression, BigInteger).label(name)


def real(expression: Any, name: str) -> ColumnElement[Any]:
    """A column `read` returns as float64 (never NULL: coalesce first)."""
    return cast(expression, Double).label(name)


def microseconds(db: Session, moment: Any) -> ColumnElement[Any]:
    """A UTC time column as whole microseconds since 1970 (SQLite: to the millisecond, as far
    as its julianday goes)."""
    if db.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", moment) * 1_000_000, BigInteger)
    return cast(func.round((func.julianday(moment) - 2440587.5) * 86_400_000_000), BigInteger)


def microseconds_of(moment: datetime) -> int:
    """`moment` as `microseconds` counts it."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def aligned(ids: Ints, keys: Ints, values: Floats, *, missing: float = np.nan) -> Floats:
    """`values` (one per key) at the positions of their keys in the sorted `ids`; `missing`
    where an id has no key. Keys not among the ids are dropped."""
    out = np.full(len(ids), missing)
    if not len(ids) or not len(keys):
        return out
    at = np.searchsorted(ids, keys)
    found = (at < len(ids)) & (ids[np.minimum(at, len(ids) - 1)] == keys)
    out[at[found]] = values[found]
    return out


def _kinds(query: Select[Any]) -> list[np.dtype[Any]]:
    kinds: list[np.dtype[Any]] = []
    for selected in query.selected_columns:
        if isinstance(selected.type, BigInteger):
            kinds.append(np.dtype(np.int64))
        elif isinstance(selected.type, Double):
            kinds.append(np.dtype(np.float64))
        else:
            raise TypeError(f"{selected.name}: select it through columns.integer or .real")
    return kinds


def read(db: Session, query: Select[Any]) -> dict[str, Array]:
    """Each selected column (each through `integer` or `real`) as an array, in the query's row
    order."""
    kinds = _kinds(query)
    names = [selected.name for selected in query.selected_columns]
    if db.get_bind().dialect.name == "postgresql":
        arrays = _copy_out(db, query, kinds)
    else:
        rows = db.execute(query).all()
        arrays = [np.array([row[i] for row in rows], dtype=kind) for i, kind in enumerate(kinds)]
    return dict(zip(names, arrays, strict=True))


def _row_type(kinds: Sequence[np.dtype[Any]]) -> np.dtype[Any]:
    """One row of a binary COPY of non-NULL 8-byte values: the field count, then per field its
    length (8) and its big-endian value."""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i, kind in enumerate(kinds):
        fields += [(f"size{i}", ">i4"), (f"v{i}", ">i8" if kind.kind == "i" else ">f8")]
    return np.dtype(fields)


def _copy_out(db: Session, query: Select[Any], kinds: list[np.dtype[Any]]) -> list[Array]:
    # The values bound are the caller's own (days, statuses), rendered into the statement:
    # COPY takes no parameters.
    sql = str(query.compile(dialect=db.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    cursor = db.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)") as copy:
        data = b"".join(bytes(block) for block in copy)
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a binary COPY")
    start = _HEADER + int.from_bytes(data[_HEADER - 4 : _HEADER], "big")
    row = _row_type(kinds)
    rows = np.frombuffer(
        data, dtype=row, offset=start, count=(len(data) - start - _TRAILER) // row.itemsize
    )
    if np.any(rows["count"] != len(kinds)) or any(
        np.any(rows[f"size{i}"] != 8) for i in range(len(kinds))
    ):
        raise ValueError("a NULL or a value of another width in a column read as numbers")
    return [rows[f"v{i}"].astype(kind) for i, kind in enumerate(kinds)]


def write_changed(
    db: Session,
    table: Table,
    *,
    ids: Ints,
    values: Mapping[str, Array],
    shown: Mapping[str, Callable[[ColumnElement[Any]], ColumnElement[Any]]] | None = None,
) -> int:
    """Sets `table`'s columns named in `values` (int64 or float64 arrays, one entry per id) on
    the rows with those ids, where any of them differs from what is stored; returns how many
    rows were written. `shown` turns a loaded number into the column's value (a class's index
    into its letter). Does not commit."""
    loaded = _load(db, ids, values)
    c = table.c
    new = {
        name: shown[name](loaded.c[name]) if shown and name in shown else loaded.c[name]
        for name in values
    }
    statement = (
        update_(table)
        .where(c.id == loaded.c.id, or_(*(c[name].is_distinct_from(new[name]) for name in new)))
        .values(new)
    )
    written = int(db.execute(statement).rowcount)  # type: ignore[attr-defined]
    loaded.drop(db.connection())
    return written


def _load(db: Session, ids: Ints, values: Mapping[str, Array]) -> Table:
    """A temporary table of the ids and values, analysed (the planner then joins it by hash)."""
    columns = [Column("id", BigInteger, primary_key=True)] + [
        Column(name, BigInteger if array.dtype.kind == "i" else Double)
        for name, array in values.items()
    ]
    loaded = Table("loaded_values", MetaData(), *columns, prefixes=["TEMPORARY"])
    connection = db.connection()
    loaded.drop(connection, checkfirst=True)  # one a failed transaction left (SQLite keeps it)
    loaded.create(connection)
    arrays = [ids.astype(np.int64), *values.values()]
    if connection.dialect.name == "postgresql":
        _copy_in(db, loaded, arrays)
        connection.exec_driver_sql(f"ANALYZE {loaded.name}")
    elif len(ids):
        names = ", ".join(column.name for column in columns)
        marks = ", ".join("?" for _ in columns)
        rows = list(zip(*(array.tolist() for array in arrays), strict=True))
        connection.exec_driver_sql(f"INSERT INTO {loaded.name} ({names}) VALUES ({marks})", rows)
    return loaded


def _copy_in(db: Session, loaded: Table, arrays: list[Array]) -> None:
    kinds = [array.dtype for array in arrays]
    rows = np.empty(len(arrays[0]), dtype=_row_type(kinds))
    rows["count"] = len(arrays)
    for i, array in enumerate(arrays):
        rows[f"size{i}"] = 8
        rows[f"v{i}"] = array
    body = _SIGNATURE + bytes(8) + rows.tobytes() + b"\xff\xff"
    names = ", ".join(column.name for column in loaded.columns)
    cursor = db.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {loaded.name} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(body)
