"""Database helpers: PostgreSQL-only fast paths (the embedded mode runs SQLite), hot statements."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from django.conf import settings
from django.db import DatabaseError, NotSupportedError, connection


def postgresql_required(what: str) -> None:
    """Stop a batch job that only has a PostgreSQL implementation with a clear message, instead
    of a syntax error deep in its SQL. Such jobs run from beat, which the embedded mode has not.

    Raises: NotSupportedError on any other database.
    """
    if connection.vendor != "postgresql":
        raise NotSupportedError(
            f"{what} 需要 PostgreSQL（当前数据库 {connection.vendor}）/ "
            f"{what} needs PostgreSQL (this database is {connection.vendor}): set DATABASE_URL"
        )


_PARAM = re.compile(r"%\((\w+)\)s")


@cache
def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with its %(name)s parameters as $1, $2 … and the names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _PARAM.sub(number, sql), tuple(names)


def execute_hot(name: str, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
    """Run a hot single statement (`sql`, %(name)s parameters, each typed by its context or a
    cast) and return its first row. In autocommit on PostgreSQL it runs as a server-side
    prepared statement, prepared once per connection: PostgreSQL then skips parsing and, after a
    few runs, planning, which for a small write costs as much as executing it. Inside a
    transaction, on another database, or with DB_PREPARED_STATEMENTS off (a transaction-pooling
    pgbouncer), it is an ordinary statement.
    """
    with connection.cursor() as cursor:
        if (
            connection.vendor != "postgresql"
            or not settings.DB_PREPARED_STATEMENTS
            or connection.in_atomic_block
            or not connection.get_autocommit()
        ):
            cursor.execute(sql, params)
            return cursor.fetchone()
        text, names = _positional(sql)
        execute = f"EXECUTE {name}({', '.join(['%s'] * len(names))})"
        values = [params[n] for n in names]
        try:
            cursor.execute(execute, values)
        except DatabaseError as exc:
            cause = exc.__cause__  # psycopg 3 names the code sqlstate, psycopg2 pgcode
            code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
            if code != "26000":  # invalid_sql_statement_name
                raise
            cursor.execute(f"PREPARE {name} AS {text}")  # this connection's first run
            cursor.execute(execute, values)
        return cursor.fetchone()
