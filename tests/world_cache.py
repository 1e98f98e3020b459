"""Build a test world once per process and engine; later tests get its rows back.

A world fixture (``booking_world``, ``feed_rota``, the authorisation matrix's two
territories) writes the same rows for every test that asks for it: territories, GPs,
accounts, a rota opened or published through the engine. Built afresh, it costs 0.3–0.7 s
a test, a quarter of the suite. The first build in a process is kept as rows (every table,
read back after its commit) and as the fixture's value with each mapped object replaced by
its class and primary key; the next test on the same engine gets the rows inserted into its
empty database, ids and sequences included, and the value with fresh objects loaded from
them. The rows are what the build wrote, so the test sees the same world either way.

Used only on an empty database: a test that wrote rows of its own before asking for the
world gets it built as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import inspect as sa_inspect

from app.extensions import db
from app.timeutil import now_utc

T = TypeVar("T")

_saved: dict[tuple[str, str, date], tuple[list[tuple[sa.Table, list[dict]]], Any]] = {}


@dataclasses.dataclass(frozen=True)
class _Ref:
    """A mapped object, by class and primary key."""

    cls: type
    key: tuple[Any, ...]


def reuse(name: str, build: Callable[[], T]) -> T:
    """The world ``build`` makes, built once per process, engine and day.

    Every read and write goes through the test's own session (its transaction), so an
    SQLite write lock the test holds never blocks the cache.
    """
    key = (name, db.engine.url.render_as_string(), now_utc().date())  # worlds start "tomorrow"
    if not _empty():
        return build()
    if key in _saved:
        rows, packed = _saved[key]
        _restore(rows)
        db.session.commit()
        return _unpack(packed)
    world = build()
    db.session.commit()
    _saved[key] = (_dump(), _pack(world))
    db.session.commit()
    return world


def _empty() -> bool:
    probe = " OR ".join(f'EXISTS (SELECT 1 FROM "{t.name}")' for t in db.metadata.sorted_tables)
    return not db.session.connection().scalar(sa.text(f"SELECT {probe}"))


def _dump() -> list[tuple[sa.Table, list[dict]]]:
    conn = db.session.connection()
    return [
        (table, [dict(row) for row in conn.execute(table.select()).mappings()])
        for table in db.metadata.sorted_tables
    ]


def _restore(saved: list[tuple[sa.Table, list[dict]]]) -> None:
    conn = db.session.connection()
    for table, rows in saved:
        if rows:
            conn.execute(table.insert(), rows)
    if conn.dialect.name == "postgresql":
        for table, rows in saved:
            if rows and "id" in table.c and isinstance(table.c.id.type, sa.Integer):
                conn.execute(
                    sa.text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :n)"),
                    {"t": f'"{table.name}"', "n": max(r["id"] for r in rows)},
                )


def _pack(value: Any) -> Any:
    if hasattr(type(value), "__mapper__"):
        return _Ref(type(value), sa_inspect(value).identity)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value),
            {f.name: _pack(getattr(value, f.name)) for f in dataclasses.fields(value)},
        )
    if isinstance(value, list):
        return [_pack(v) for v in value]
    if isinstance(value, tuple):
        return ("tuple", [_pack(v) for v in value])
    if isinstance(value, dict):
        return {k: _pack(v) for k, v in value.items()}
    return value


def _unpack(value: Any) -> Any:
    if isinstance(value, _Ref):
        return db.session.get(value.cls, value.key)
    if isinstance(value, tuple) and value and value[0] == "tuple":
        return tuple(_unpack(v) for v in value[1])
    if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
        cls, fields = value
        return cls(**{k: _unpack(v) for k, v in fields.items()})
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    if isinstance(value, dict):
        return {k: _unpack(v) for k, v in value.items()}
    return value
