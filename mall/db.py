"""Database helpers for PostgreSQL: hot statements as server-side prepared statements, plain
inserts, rows read into model instances."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, models
from django.db.models import Field, Model

_NAMED = re.compile(r"%\((\w+)\)s")


@cache
def _numbered(sql: str) -> tuple[str, str, tuple[str, ...] | None]:
    """`sql` with its parameters as $1, $2 …, a statement name for that text, and the names of
    %(name)s parameters in $ order (None for %s parameters, which keep their order)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    if _NAMED.search(sql):
        text, order = _NAMED.sub(number, sql), tuple(names)
    else:
        parts = sql.split("%s")
        text = "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]
        order = None
    return text, "hot_" + hashlib.blake2s(text.encode(), digest_size=8).hexdigest(), order


def prepared_name(sql: str) -> str:
    """The name execute_prepared gives `sql` on the server (EXECUTE <name>(…) in query logs)."""
    return _numbered(sql)[1]


def _prepared_on(db: Any) -> dict[str, bool]:
    """{name: usable} of the statements prepared on the current connection of `db` (a thread's
    DatabaseWrapper); False: prepared, but to be replaced."""
    known = db.__dict__.get("_mall_prepared")
    if known is None or known[0] is not db.connection:  # a new one (CONN_MAX_AGE, a restart)
        known = db.__dict__["_mall_prepared"] = (db.connection, {})
    return known[1]


def execute_prepared(cursor: Any, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> None:
    """cursor.execute(sql, params) for a hot statement (%s or %(name)s parameters, each typed by
    its context or a cast). On PostgreSQL it runs as a server-side prepared statement, prepared
    once per connection (the PREPARE is not logged as a query of its own): PostgreSQL then skips
    parsing and planning (planned once: the connections' plan_cache_mode, settings.py), which
    for these small statements cost as much as running them. A PREPARE outlives a rollback.
    A statement the server forgot (DISCARD ALL) or whose result a migration changed is prepared
    again: at once in autocommit, else by the next run (the failed one's transaction is lost).
    With DB_PREPARED_STATEMENTS off (behind a transaction-pooling pgbouncer), an ordinary
    statement. The statement's text must not vary with its parameters (no
    IN list of as many %s as values: `= ANY(%s)`).
    """
    db = cursor.db  # this thread's connection (the `connection` proxy costs a lookup per use)
    if not settings.DB_PREPARED_STATEMENTS:
        cursor.execute(sql, params)
        return
    text, name, names = _numbered(sql)
    values = [params[n] for n in names] if names is not None else list(params)  # type: ignore[index]
    execute = f"EXECUTE {name}({', '.join(['%s'] * len(values))})" if values else f"EXECUTE {name}"
    prepared = _prepared_on(db)
    for attempt in (1, 2):
        state = prepared.get(name)
        if state is not True:
            raw = cursor.cursor  # the DB-API cursor: PREPARE is not logged as a query
            if state is False:  # its plan went stale (below): replace it
                raw.execute(f"DEALLOCATE {name}")
            raw.execute(f"PREPARE {name} AS {text}")
            prepared[name] = True
        try:
            cursor.execute(execute, values)
            return
        except DatabaseError as exc:
            cause = exc.__cause__  # psycopg 3 names the code sqlstate, psycopg2 pgcode
            code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
            if code == "26000":  # invalid_sql_statement_name: the server forgot (DISCARD ALL)
                prepared.clear()
            elif code == "0A000" and "must not change result type" in str(exc):
                prepared[name] = False  # a migration changed a column it returns
            else:
                raise
            if attempt == 2 or db.in_atomic_block or not db.get_autocommit():
                raise  # this transaction is aborted: the next run prepares it again


def database_ping() -> None:
    """One round trip to the database (SELECT 1), for the health check. Raises: DatabaseError."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def execute_hot(sql: str, params: Sequence[Any] | dict[str, Any]) -> tuple[Any, ...] | None:
    """execute_prepared on a new cursor; returns the first row."""
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, params)
        return cursor.fetchone()


@cache
def insert_statement(
    model: type[Model], *, ignore_conflicts: bool = False
) -> tuple[str, tuple[Field, ...]]:
    """A plain INSERT of one row of a model with an automatic primary key, RETURNING the key;
    and the fields in column order, for row_values. ignore_conflicts: ON CONFLICT DO NOTHING
    (a row breaking a unique constraint is skipped)."""
    meta = model._meta
    fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    conflicts = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608 - names from the model
        f"VALUES ({', '.join(['%s'] * len(fields))}){conflicts} "
        f"RETURNING {quote(meta.pk.column)}"
    )
    return sql, fields


def row_values(obj: Model, fields: tuple[Field, ...]) -> list[Any]:
    """obj's values for an insert_statement, as save() would write them."""
    values = [getattr(obj, name) for name in _attnames(fields)]
    for i, field in _prepared_fields(fields):
        values[i] = field.get_db_prep_save(field.pre_save(obj, True), connection)
    return values


# Fields whose value save() writes as it is (the adapter takes a str, int, bool or None): the
# rest (JSON, dates, files, decimals, auto_now …) go through the field's own preparation.
_AS_IS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveBigIntegerField,
    models.PositiveSmallIntegerField,
    models.BooleanField,
    models.ForeignKey,
)


@cache
def _attnames(fields: tuple[Field, ...]) -> tuple[str, ...]:
    return tuple(f.attname for f in fields)


@cache
def _prepared_fields(fields: tuple[Field, ...]) -> tuple[tuple[int, Field], ...]:
    return tuple((i, f) for i, f in enumerate(fields) if type(f) not in _AS_IS)


def column_values(objs: list[Model], fields: tuple[Field, ...]) -> list[list[Any]]:
    """One list per column of objs' values (for an INSERT from unnest of one array per column:
    one statement text whatever the row count)."""
    rows = [row_values(obj, fields) for obj in objs]
    return [[row[i] for row in rows] for i in range(len(fields))]


def mark_saved(obj: Model, pk: int) -> None:
    """obj as save() leaves a new row: its key set, no longer adding."""
    obj.pk = pk
    obj._state.adding, obj._state.db = False, connection.alias


def insert_unless_conflict(obj: Model) -> bool:
    """INSERT obj (a new row of a model with an automatic primary key) unless that breaks a
    unique constraint: True with obj.pk set, or False with nothing written and the transaction
    still usable (no savepoint needed, unlike catching the IntegrityError of save()). One plain
    statement: save()'s query building cost more than the insert of a wide row. Signals are not
    sent (nothing listens to the models it is used for)."""
    sql, fields = insert_statement(type(obj), ignore_conflicts=True)
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, row_values(obj, fields))
        row = cursor.fetchone()
    if row is None:
        return False
    mark_saved(obj, row[0])
    return True


@cache
def select_list(model: type[Model], alias: str) -> str:
    """Every column of `model` (table alias `alias`), in the order models_from_rows reads them.
    Named, not `*`: a column added by a later migration leaves the statement's result alone."""
    return ", ".join(
        f"{alias}.{connection.ops.quote_name(f.column)}" for f in model._meta.concrete_fields
    )


@cache
def _row_converters(model: type[Model]) -> tuple[tuple[str, ...], tuple[tuple[int, Any, Any], ...]]:
    """The attribute names of select_list's columns, and (index, converter, expression) for each
    value the backend or the field converts (a JSON text)."""
    fields = model._meta.concrete_fields
    converters = []
    for i, field in enumerate(fields):
        col = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
        converters.extend((i, converter, col) for converter in found)
    return tuple(f.attname for f in fields), tuple(converters)


def models_from_rows(model: type[Model], rows: list[tuple[Any, ...]]) -> list[Any]:
    """Instances of `model` from rows that start with select_list(model, …), converted as the
    ORM converts them. For hot reads: RawQuerySet costs several times more per row."""
    names, converters = _row_converters(model)
    objs = []
    for row in rows:
        values = list(row[: len(names)])
        for i, converter, col in converters:
            values[i] = converter(values[i], col, connection)
        objs.append(model.from_db(connection.alias, names, values))
    return objs
