"""Database helpers for code with a PostgreSQL-only fast path (the embedded mode runs SQLite)."""

from __future__ import annotations

from django.db import NotSupportedError, connection


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
